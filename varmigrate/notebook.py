"""Jupyter notebooks: code cells in, fixed code cells out, every other byte of the file untouched.

The code cells of a notebook run in one namespace, so they are analysed as ONE module: an import in
cell 1 serves a call in cell 7, and once the last use is rewritten the import goes. The cells are
joined with a marker statement between them (a statement, not a comment, so that removing an import
cannot take it away), IPython syntax is masked line by line with placeholder statements, and positions
are mapped back to the cell they came from.

Cells are numbered by their position in the notebook, counting every cell (markdown and raw cells
too), from 1: the number a user finds by counting cells from the top. Rows and columns of a finding
are relative to its cell.

What is analysed: the code cells of a notebook whose kernel is Python (nbformat 4, and nbformat 3
with its worksheets). A cell whose first line is a cell magic other than those in
``PYTHON_CELL_MAGICS`` is skipped. IPython lines (``%magic``, ``!shell``, ``x = !cmd``, ``obj?``)
are not analysed, and a cell that does not parse (Python 2) is reported and left alone; the names
both mention stay in use, so their imports are kept. As for ``.py`` files, cells are parsed only
when the notebook's text can hold a finding of the selected rules.

Writing never re-serialises the JSON: the new ``source`` values are spliced into the original text,
so indentation, key order, escapes, line breaks and outputs stay byte-identical by construction;
unchanged lines of an edited list-form ``source`` keep their original spelling, new ones are
written the way the file writes strings (``ensure_ascii`` or raw UTF-8, raw control characters).
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import json
import keyword
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from varmigrate.diagnostics import Diagnostic, Edit, Location
from varmigrate.engine import Settings, SourceParseError, could_match, fix_source, parse
from varmigrate.engine import check_source as _check_source

# Cell magics whose body is Python run in the kernel's namespace. Every other cell magic
# (%%bash, %%html, %%writefile, %%javascript, %%script, %%latex, %%markdown, %%python — a
# subprocess with its own namespace — and unknown ones) makes the cell something we leave alone.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


_LOST_CELLS = "cannot map the fixed code back to its cells; notebook left unchanged"


class NotebookError(Exception):
    """The data is not a notebook varmigrate can read, or could not be fixed without risk."""


@dataclass(frozen=True)
class CellDiagnostic:
    """A finding in one cell; the diagnostic's rows, columns and fix edits are relative to the cell."""

    cell: int  # 1-based position of the cell among all cells of the notebook
    diagnostic: Diagnostic
    # The cell's line the finding starts on (without its line break), for display.
    line: str = ""

    def location(self, path: str) -> str:
        """``path:cell N:row:col``, the prefix of a rendered finding."""
        return f"{path}:cell {self.cell}:{self.diagnostic.start}"


@dataclass(frozen=True)
class CellError:
    """A code cell that is not valid Python 3 (e.g. Python 2 ``print x``); it is left alone."""

    cell: int
    message: str
    row: int  # relative to the cell
    column: int

    def location(self, path: str) -> str:
        """``path:cell N:row:col``."""
        return f"{path}:cell {self.cell}:{self.row}:{self.column}"


@dataclass
class NotebookResult:
    """Findings of a notebook, and the cells that could not be parsed."""

    diagnostics: list[CellDiagnostic] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)
    # Why nothing was analysed (a notebook whose kernel is not Python), else None.
    skipped: str | None = None


@dataclass
class NotebookFixResult(NotebookResult):
    """A fixed notebook: the new file bytes (None when nothing changed) and what is left."""

    data: bytes | None = None
    applied: int = 0

    @property
    def changed(self) -> bool:
        """Whether the notebook must be written."""
        return self.data is not None


def check_notebook(data: bytes, settings: Settings | None = None) -> NotebookResult:
    """Findings in the code cells of the notebook file ``data``. Raises :class:`NotebookError`."""
    settings = settings or Settings()
    notebook = _Notebook(data)
    if notebook.skipped is not None:
        return NotebookResult(skipped=notebook.skipped)
    program = _Program.build(notebook, settings)
    if program is None:
        return NotebookResult()
    with _joined():
        found = _check_source(program.source, settings)
    return NotebookResult(program.map_diagnostics(program.source, found), program.errors)


def fix_notebook(data: bytes, settings: Settings | None = None) -> NotebookFixResult:
    """Fix the code cells of the notebook file ``data``. Raises :class:`NotebookError`."""
    settings = settings or Settings()
    notebook = _Notebook(data)
    if notebook.skipped is not None:
        return NotebookFixResult(skipped=notebook.skipped)
    program = _Program.build(notebook, settings)
    if program is None:
        return NotebookFixResult()
    with _joined():
        result = fix_source(program.source, settings)
    diagnostics = program.map_diagnostics(result.source, result.diagnostics)
    if not result.changed:
        return NotebookFixResult(diagnostics, program.errors)
    sources = program.restore(result.source)
    changed = {cell: text for cell, text in sources.items() if text != notebook.cells[cell].source}
    if not changed:
        return NotebookFixResult(diagnostics, program.errors)
    new_data = notebook.with_sources(changed)
    return NotebookFixResult(diagnostics, program.errors, data=new_data, applied=result.applied)


@contextlib.contextmanager
def _joined() -> Iterator[None]:
    """Report a parse error of the joined cells (each of which parsed alone) as a notebook error."""
    try:
        yield
    except SourceParseError as error:
        raise NotebookError(f"the code cells do not parse as one module ({error})") from None


# --- Reading the file: JSON values with their exact spans in the text ---------------------------------

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR = re.compile(r'[^ \t\n\r{}\[\]:,"]+')
_CONTROL = re.compile(r"[\x00-\x1f]")
# One decoded character of a JSON string: a surrogate pair, an escape, or a raw character.
_UNIT = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\.|.", re.DOTALL
)
_NON_ASCII_ESCAPE = re.compile(
    r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})"
)


@dataclass
class _Node:
    """A JSON value's span ``text[start:end]``; members of an object or elements of an array."""

    start: int
    end: int
    members: dict[str, _Node] | None = None
    elements: list[_Node] | None = None


class _Spans:
    """A JSON reader that keeps positions (what ``json.loads`` throws away); also notes string styles."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.raw_controls: set[str] = set()

    def read(self) -> _Node:
        """The top-level value."""
        try:
            node, end = self._value(0)
        except RecursionError:
            raise NotebookError("not a notebook: JSON nested too deeply") from None
        if _WHITESPACE.match(self.text, end).end() != len(self.text):  # type: ignore[union-attr]
            raise NotebookError("not a notebook: trailing data after the JSON value")
        return node

    def _skip(self, pos: int) -> int:
        return _WHITESPACE.match(self.text, pos).end()  # type: ignore[union-attr]

    def _expect(self, pos: int, char: str) -> int:
        pos = self._skip(pos)
        if not self.text.startswith(char, pos):
            raise NotebookError(f"not a notebook: expected {char!r} at offset {pos}")
        return pos + 1

    def _value(self, pos: int) -> tuple[_Node, int]:
        pos = self._skip(pos)
        char = self.text[pos : pos + 1]
        if char == "{":
            return self._object(pos)
        if char == "[":
            return self._array(pos)
        match = (_STRING if char == '"' else _SCALAR).match(self.text, pos)
        if match is None:
            raise NotebookError(f"not a notebook: no JSON value at offset {pos}")
        if char == '"':
            self.raw_controls.update(_CONTROL.findall(match.group()))
        return _Node(pos, match.end()), match.end()

    def _object(self, start: int) -> tuple[_Node, int]:
        members: dict[str, _Node] = {}
        pos = self._skip(start + 1)
        if self.text.startswith("}", pos):
            return _Node(start, pos + 1, members=members), pos + 1
        while True:
            key, pos = self._value(pos)
            name = json.loads(self.text[key.start : key.end], strict=False)
            value, pos = self._value(self._expect(pos, ":"))
            members[name] = value  # a repeated key: the last one wins, as in json.loads
            pos = self._skip(pos)
            if self.text.startswith("}", pos):
                return _Node(start, pos + 1, members=members), pos + 1
            pos = self._expect(pos, ",")

    def _array(self, start: int) -> tuple[_Node, int]:
        elements: list[_Node] = []
        pos = self._skip(start + 1)
        if self.text.startswith("]", pos):
            return _Node(start, pos + 1, elements=elements), pos + 1
        while True:
            value, pos = self._value(pos)
            elements.append(value)
            pos = self._skip(pos)
            if self.text.startswith("]", pos):
                return _Node(start, pos + 1, elements=elements), pos + 1
            pos = self._expect(pos, ",")


@dataclass
class _Cell:
    """A code cell: its position among all cells, its source text and the span of its JSON value."""

    index: int
    source: str
    node: _Node


class _Notebook:
    """A notebook file's text, its cells, and how it writes strings."""

    def __init__(self, data: bytes) -> None:
        self.bom = data.startswith(codecs.BOM_UTF8)
        try:
            self.text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise NotebookError(f"not a notebook: not UTF-8 ({error.reason} at byte {error.start})") from None
        try:
            # Some tools write raw control characters (tabs) into strings: read them, write them back.
            content = json.loads(self.text, strict=False)
        except (ValueError, RecursionError) as error:
            raise NotebookError(f"not a notebook: invalid JSON ({error})") from None
        if not isinstance(content, dict):
            raise NotebookError("not a notebook: the top-level JSON value is not an object")
        spans = _Spans(self.text)
        self.root = spans.read()
        self.raw_controls = frozenset(spans.raw_controls)
        # Raw UTF-8 anywhere means the writer did not escape non-ASCII (nbformat's default).
        self.ascii_only = self.text.isascii() and _NON_ASCII_ESCAPE.search(self.text) is not None
        self.skipped = _foreign_language(content)
        self.cells = {cell.index: cell for cell in self._code_cells(content)}

    def _code_cells(self, content: dict[str, Any]) -> list[_Cell]:
        version = content.get("nbformat")
        if "cells" in content or (isinstance(version, int) and version >= 4):
            return self._read_cells(content.get("cells"), _member(self.root, "cells"), "source", start=1)
        if version == 3 and "worksheets" in content:
            # nbformat 3: cells live in worksheets, and a code cell keeps its code under "input".
            found: list[_Cell] = []
            worksheets = _member(self.root, "worksheets")
            if not isinstance(content["worksheets"], list) or worksheets.elements is None:
                raise NotebookError("not a notebook: `worksheets` is not a list")
            start = 1  # cells are numbered on through the worksheets
            for sheet, node in zip(content["worksheets"], worksheets.elements, strict=True):
                if not isinstance(sheet, dict):
                    raise NotebookError("not a notebook: a worksheet is not an object")
                found += self._read_cells(sheet.get("cells"), _member(node, "cells"), "input", start)
                start += len(sheet["cells"])
            return found
        raise NotebookError(f"unsupported notebook format (nbformat {version!r}): expected 3 or 4")

    def _read_cells(self, cells: object, node: _Node, code_key: str, start: int) -> list[_Cell]:
        if not isinstance(cells, list) or node.elements is None or len(node.elements) != len(cells):
            raise NotebookError("not a notebook: `cells` is not a list")
        found = []
        for index, (cell, cell_node) in enumerate(zip(cells, node.elements, strict=True), start):
            if not isinstance(cell, dict):
                raise NotebookError(f"not a notebook: cell {index} is not an object")
            language = str(cell.get("language", "python")).lower()  # nbformat 3 names it per cell
            if cell.get("cell_type") != "code" or language != "python" or code_key not in cell:
                continue
            value = cell[code_key]
            lines = value if isinstance(value, list) else [value]
            if not all(isinstance(line, str) for line in lines):
                raise NotebookError(f"not a notebook: the source of cell {index} is not text")
            found.append(_Cell(index, "".join(lines), _member(cell_node, code_key)))
        return found

    def with_sources(self, sources: dict[int, str]) -> bytes:
        """The file with the sources of some cells replaced; every other byte as it was."""
        parts: list[str] = []
        position = 0
        for index in sorted(sources, key=lambda i: self.cells[i].node.start):
            node = self.cells[index].node
            parts += [self.text[position : node.start], self._render(node, sources[index])]
            position = node.end
        parts.append(self.text[position:])
        text = "".join(parts)
        return (codecs.BOM_UTF8 if self.bom else b"") + text.encode("utf-8")

    def _render(self, node: _Node, source: str) -> str:
        """The JSON text of ``source`` in the form the original value had (a string or a list of lines)."""
        if node.elements is None:
            return self._render_string(self.text[node.start : node.end], source)
        old = [self.text[e.start : e.end] for e in node.elements]
        old_values = [json.loads(raw, strict=False) for raw in old]
        new_values = source.splitlines(keepends=True)  # how nbformat splits a source into lines
        raws: list[str] = []
        matcher = difflib.SequenceMatcher(None, old_values, new_values, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                raws += old[i1:i2]
            else:
                raws += [self._encode(value) for value in new_values[j1:j2]]
        if not raws:
            return "[]"
        opener, separator, closer = self._list_layout(node)
        return "[" + opener + separator.join(raws) + closer + "]"

    def _list_layout(self, node: _Node) -> tuple[str, str, str]:
        """Whitespace after ``[``, between elements (with the comma) and before ``]`` in ``node``."""
        elements = node.elements or []
        if not elements:
            return "", ", ", ""
        opener = self.text[node.start + 1 : elements[0].start]
        closer = self.text[elements[-1].end : node.end - 1]
        separator = self.text[elements[0].end : elements[1].start] if len(elements) > 1 else "," + opener
        return opener, separator, closer

    def _render_string(self, raw: str, value: str) -> str:
        """``value`` as a JSON string that keeps ``raw``'s spelling of the unchanged start and end."""
        units = _UNIT.findall(raw[1:-1])
        old = json.loads(raw, strict=False)
        if len(units) != len(old):  # pragma: no cover - every JSON string decodes unit by unit
            return self._encode(value)
        prefix = 0
        while prefix < min(len(old), len(value)) and old[prefix] == value[prefix]:
            prefix += 1
        suffix = 0
        while suffix < min(len(old), len(value)) - prefix and old[-1 - suffix] == value[-1 - suffix]:
            suffix += 1
        middle = self._encode(value[prefix : len(value) - suffix])[1:-1]
        return '"' + "".join(units[:prefix]) + middle + "".join(units[len(units) - suffix :]) + '"'

    def _encode(self, value: str) -> str:
        """``value`` as a JSON string written the way this file writes strings."""
        if not self.raw_controls:
            return json.dumps(value, ensure_ascii=self.ascii_only)
        return (
            '"'
            + "".join(
                char if char in self.raw_controls else json.dumps(char, ensure_ascii=self.ascii_only)[1:-1]
                for char in value
            )
            + '"'
        )


def _member(node: _Node, key: str) -> _Node:
    if node.members is None or key not in node.members:
        raise NotebookError(f"not a notebook: missing `{key}`")
    return node.members[key]


def _foreign_language(content: dict[str, Any]) -> str | None:
    """Why the notebook is not Python (its kernel's language), or None."""
    metadata = content.get("metadata")
    for section, key in (("kernelspec", "language"), ("language_info", "name")):
        info = metadata.get(section) if isinstance(metadata, dict) else None
        value = info.get(key) if isinstance(info, dict) else None
        if isinstance(value, str) and value and not value.lower().startswith("python"):
            return f"the notebook's kernel language is {value!r}, not Python"
    return None


# --- IPython syntax: masked with placeholder statements, restored byte for byte ------------------------

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
# `files = !ls`, `a, b = %sx cmd`: IPython assigns the output of a shell command or magic.
_ASSIGNED = re.compile(r"(?P<target>[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*)[!%]")
_CELL_MAGIC = re.compile(r"%%(\w*)")
# Line starts that are IPython's: magics, shell, help, and the autocall escapes `/f x`, `,f x`, `;f x`.
_ESCAPES = frozenset("%!?/,;")


@dataclass
class _LineState:
    """Where a line starts: inside brackets, inside a string spanning lines, or after a backslash."""

    depth: int = 0
    quote: str | None = None
    continued: bool = False

    @property
    def at_statement_start(self) -> bool:
        """Whether the next line starts a logical line (where IPython looks for its syntax)."""
        return self.depth == 0 and self.quote is None and not self.continued

    def scan(self, line: str) -> bool:
        """Advance past ``line``; return whether it has a ``?`` outside strings and comments."""
        content = line.rstrip("\r\n")
        question = False
        self.continued = False
        i = 0
        while i < len(content):
            char = content[i]
            if self.quote is not None:
                if char == "\\":
                    i += 2
                elif content.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                else:
                    i += 1
                continue
            if char == "#":
                break
            if char in "\"'":
                self.quote = content[i : i + 3] if content[i : i + 3] in ('"""', "'''") else char
                i += len(self.quote)
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(0, self.depth - 1)
            elif char == "?":
                question = True
            elif char == "\\" and i == len(content) - 1:
                self.continued = True
            i += 1
        return question


def _ends_with_escape(content: str) -> bool:
    return (len(content) - len(content.rstrip("\\"))) % 2 == 1


@dataclass
class _Unit:
    """A piece of the joined module: one code cell's masked source, or the names an unparsed cell uses."""

    cell: int
    source: str  # the cell's source as the notebook has it
    text: str = ""  # what the module holds
    originals: dict[int, str] = field(default_factory=dict)  # placeholder number -> original line
    cell_magic: int | None = None  # placeholder of a `%%time`-like first line
    analysed: bool = True


class _Masker:
    """Replaces IPython syntax with placeholder statements named ``<prefix><n>__``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0

    def mask(self, cell: int, source: str) -> _Unit | None:
        """The cell as parseable text, or None when it is empty or a cell magic makes it non-Python."""
        lines = _LINE.findall(source)
        unit = _Unit(cell, source)
        first = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
        if first < len(lines) and (magic := _CELL_MAGIC.match(lines[first])) is not None:
            if magic.group(1) not in PYTHON_CELL_MAGICS:
                return None
            unit.cell_magic = self.count
            lines[first] = self._placeholder(unit, lines[first], "", "")
            first += 1
        state = _LineState()
        continued_magic: str | None = None  # the indentation of a magic going on after a backslash
        for i in range(first, len(lines)):
            line = lines[i]
            stripped = line.lstrip(" \t")
            indent = line[: len(line) - len(stripped)]
            if continued_magic is not None:
                lines[i] = self._placeholder(unit, line, continued_magic, "")
                continued_magic = continued_magic if _ends_with_escape(line.rstrip("\r\n")) else None
                continue
            if not state.at_statement_start:
                state.scan(line)
                continue
            assigned = _ASSIGNED.match(stripped)
            if stripped[:1] in _ESCAPES or assigned is not None:
                target = assigned.group("target") if assigned is not None else ""
                lines[i] = self._placeholder(unit, line, indent, target)
                continued_magic = indent if _ends_with_escape(line.rstrip("\r\n")) else None
            elif state.scan(line) and state.at_statement_start:
                # `torch.ones?`, `obj??`: help; a `?` outside strings and comments is never Python.
                lines[i] = self._placeholder(unit, line, indent, "")
        text = "".join(lines)
        if not text.strip():
            return None
        if not text.endswith(("\n", "\r")):
            text += "\n"
        unit.text = text
        return unit

    def _placeholder(self, unit: _Unit, line: str, indent: str, target: str) -> str:
        """``<indent><target><prefix><n>__(names...)``; the names the line mentions stay in use."""
        content = line.rstrip("\r\n")
        number = self.count
        self.count += 1
        unit.originals[number] = content
        names = self.names(content.lstrip(" \t")[len(target) :])
        return f"{indent}{target}{self.prefix}{number}__({', '.join(names)}){line[len(content) :]}"

    def names(self, text: str) -> list[str]:
        """Identifiers in ``text`` (keywords and our own names excepted), once each, in order."""
        found = dict.fromkeys(_IDENTIFIER.findall(text))
        return [
            n
            for n in found
            if n.isidentifier() and not keyword.iskeyword(n) and not n.startswith(self.prefix)
        ]


def _unique_prefix(sources: Sequence[str]) -> str:
    """A name prefix that occurs in no cell, so placeholders and markers cannot collide with code."""
    prefix = "__vm_"
    while any(prefix in source for source in sources):
        prefix += "_"
    return prefix


# --- The joined module ---------------------------------------------------------------------------------


@dataclass
class _Piece:
    """A unit's text inside a joined module, where it starts, and its lines with IPython syntax put back."""

    unit: _Unit
    first_row: int
    first_offset: int
    text: str
    lines: list[str] = field(default_factory=list)
    masked: set[int] = field(default_factory=set)  # 0-based indices of the lines that held placeholders
    placeholders: list[int] = field(default_factory=list)  # the placeholder numbers found, in order

    def cell_location(self, location: Location) -> Location:
        """A location in the joined module as a location in the cell."""
        return Location(location.row - self.first_row + 1, location.column)

    def cell_offset(self, location: Location) -> int:
        """The character offset in the cell's text (as the user has it) of a location in the module."""
        row = location.row - self.first_row
        return sum(len(line) for line in self.lines[:row]) + location.column - 1

    def shift(self, diagnostic: Diagnostic) -> Diagnostic:
        """``diagnostic`` with rows, columns and edits relative to the cell; fixes that reach outside it or
        into IPython syntax are not described (the joined module still applies them)."""
        rows = range(self.first_row, self.first_row + len(self.lines))
        fixes = tuple(
            replace(fix, edits=tuple(self._shift_edit(edit) for edit in fix.edits))
            for fix in diagnostic.fixes
            if all(
                e.start.row in rows
                and e.end.row in rows
                and not self.masked & set(range(e.start.row - self.first_row, e.end.row - self.first_row + 1))
                for e in fix.edits
            )
        )
        start, end = self.cell_location(diagnostic.start), self.cell_location(diagnostic.end)
        return replace(diagnostic, start=start, end=end, fixes=fixes)

    def _shift_edit(self, edit: Edit) -> Edit:
        return replace(
            edit,
            start=self.cell_location(edit.start),
            end=self.cell_location(edit.end),
            start_offset=self.cell_offset(edit.start),
            end_offset=self.cell_offset(edit.end),
        )


@dataclass
class _Program:
    """The code cells of a notebook joined into one module, with what is needed to take it apart."""

    units: list[_Unit]
    prefix: str
    errors: list[CellError]
    source: str = ""  # the joined module: the units with a marker statement between each two

    @classmethod
    def build(cls, notebook: _Notebook, settings: Settings) -> _Program | None:
        """Mask and parse every code cell; None when no cell can hold a finding of the selected rules."""
        cells = list(notebook.cells.values())
        masker = _Masker(_unique_prefix([cell.source for cell in cells]))
        units = [unit for cell in cells if (unit := masker.mask(cell.index, cell.source)) is not None]
        if not could_match("".join(unit.text for unit in units), settings.rules):
            return None
        program = cls([], masker.prefix, [])
        unparsed: list[_Unit] = []
        for unit in units:
            try:
                parse(unit.text)
            except SourceParseError as error:
                program.errors.append(CellError(unit.cell, error.message, error.row, error.column))
                # The cell is left alone, but the names it mentions must keep their imports.
                names = masker.names(notebook.cells[unit.cell].source)
                if names:
                    text = f"{masker.prefix}uses__({', '.join(names)})\n"
                    unparsed.append(_Unit(unit.cell, unit.source, text, analysed=False))
                continue
            program.units.append(unit)
        # After the cells: new imports go to the top of the module, which must be a real cell.
        program.units += unparsed
        program.source = "".join(
            (f"{program.prefix}cell{i}__()\n" if i else "") + unit.text
            for i, unit in enumerate(program.units)
        )
        return program

    def pieces(self, source: str) -> list[_Piece]:
        """Split a joined module (as built, or after fixing) back into its units at the markers."""
        marker = re.compile(rf"{re.escape(self.prefix)}cell(\d+)__\(\)")
        pieces: list[_Piece] = []
        start_row, start_offset, row, offset = 1, 0, 1, 0
        for line in _LINE.findall(source):
            found = marker.fullmatch(line.rstrip("\r\n"))
            if found is not None:
                if int(found.group(1)) != len(pieces) + 1:
                    raise NotebookError(_LOST_CELLS)
                pieces.append(self._piece(len(pieces), start_row, start_offset, source[start_offset:offset]))
                start_row, start_offset = row + 1, offset + len(line)
            row += 1
            offset += len(line)
        if len(pieces) != len(self.units) - 1:
            raise NotebookError(_LOST_CELLS)
        pieces.append(self._piece(len(pieces), start_row, start_offset, source[start_offset:]))
        return pieces

    def _piece(self, index: int, first_row: int, first_offset: int, text: str) -> _Piece:
        piece = _Piece(self.units[index], first_row, first_offset, text)
        placeholder = re.compile(rf"{re.escape(self.prefix)}(\d+)__")
        for i, line in enumerate(_LINE.findall(text)):
            found = placeholder.search(line)
            if found is not None:
                number = int(found.group(1))
                content = line.rstrip("\r\n")
                line = piece.unit.originals.get(number, content) + line[len(content) :]
                piece.placeholders.append(number)
                piece.masked.add(i)
            piece.lines.append(line)
        return piece

    def restore(self, source: str) -> dict[int, str]:
        """Each analysed cell's text in the fixed module ``source``, with its IPython syntax put back."""
        restored: dict[int, str] = {}
        for piece in self.pieces(source):
            unit = piece.unit
            if not unit.analysed:
                continue
            if sorted(piece.placeholders) != sorted(unit.originals):
                raise NotebookError(
                    f"cell {unit.cell}: IPython syntax was lost in fixing; notebook left unchanged"
                )
            lines = piece.lines
            if unit.cell_magic is not None:
                lines = _cell_magic_first(lines, unit.originals[unit.cell_magic])
            restored[unit.cell] = _with_tail(unit.source, "".join(lines))
        return restored

    def map_diagnostics(self, source: str, diagnostics: Sequence[Diagnostic]) -> list[CellDiagnostic]:
        """Findings in the joined module ``source`` as findings in cells; none on masked lines."""
        pieces = self.pieces(source)
        mapped: list[CellDiagnostic] = []
        for diagnostic in diagnostics:
            piece = next(p for p in reversed(pieces) if p.first_row <= diagnostic.start.row)
            row = diagnostic.start.row - piece.first_row
            if piece.unit.analysed and row < len(piece.lines) and row not in piece.masked:
                line = piece.lines[row].rstrip("\r\n")
                mapped.append(CellDiagnostic(piece.unit.cell, piece.shift(diagnostic), line))
        return sorted(mapped, key=lambda d: (d.cell, d.diagnostic.start, d.diagnostic.code))


def _with_tail(original: str, text: str) -> str:
    """``text`` without blank lines at its end that ``original`` did not have.

    A cell's last line usually has no newline, but a module's does; and an import added at the top
    of a module is followed by a blank line, which at the end of a cell is noise.
    """
    tail = original[len(original.rstrip()) :]
    new_tail = text[len(text.rstrip()) :]
    return text.rstrip() + tail if len(_NEWLINE.findall(new_tail)) > len(_NEWLINE.findall(tail)) else text


def _cell_magic_first(lines: list[str], magic: str) -> list[str]:
    """Move the cell magic line back to the top if an inserted import went above it."""
    position = next(i for i, line in enumerate(lines) if line.rstrip("\r\n") == magic)
    if all(not line.strip() for line in lines[:position]):
        return lines
    line = lines.pop(position)
    return [line, *lines]


__all__ = [
    "PYTHON_CELL_MAGICS",
    "CellDiagnostic",
    "CellError",
    "NotebookError",
    "NotebookFixResult",
    "NotebookResult",
    "check_notebook",
    "fix_notebook",
]
