"""Python in documents: the code blocks of Markdown and reStructuredText pages, checked and fixed in place.

Tutorials are where Variable-era code lives longest. A page defines names in one block and uses them in
the next, so its blocks are analysed together as one module, as a notebook's cells are (and by the same
machinery, :mod:`varmigrate.notebook.cells`). Console sessions (``pycon``, doctest blocks) are analysed
statement by statement; their expected output is left alone.

Findings point at the document's own line and column. Writing changes only the code inside the blocks:
indentation, prompts, fences, line breaks and every byte outside the blocks stay as they were. A block
that does not parse is reported with its document line and left alone; the others go on.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from varmigrate.documents.blocks import Block, Line, markdown_blocks, rst_blocks, split_lines
from varmigrate.engine import Settings
from varmigrate.model import Diagnostic, Edit, Location
from varmigrate.notebook import CellDiagnostic, CellError, check_cells, fix_cells
from varmigrate.sources.discovery import DOCUMENT_SUFFIXES, MARKDOWN_SUFFIXES, RST_SUFFIXES


@dataclass(frozen=True)
class DocumentError:
    """A block that does not parse: CPython's message, at the document's row and column."""

    message: str
    row: int
    column: int


@dataclass
class DocumentResult:
    """What checking (or fixing) a document found: findings at document positions, blocks that do not
    parse, the document lines the findings start on, and (when fixing) the new text."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[DocumentError] = field(default_factory=list)
    lines: dict[int, str] = field(default_factory=dict)
    text: str | None = None
    applied: int = 0
    # The applied fixes by rule code (see :class:`varmigrate.engine.FixResult`).
    applied_codes: dict[str, int] = field(default_factory=dict)
    # The rows of doctest examples in a `.py` file: whether a comment may end the row (a noqa directive
    # there is the example's: its code line, not on a docstring's quotes and spelled as doctest reads it).
    commentable: dict[int, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """A piece of code analysed as a notebook cell: its number and its text."""

    index: int
    source: str


class Document:
    """A document's lines and code units (a plain block, or one console statement, each a cell).

    A unit's lines stand on consecutive document lines, one code line each.
    """

    def __init__(self, lines: list[str], units: list[list[Line]], console: set[int]) -> None:
        self.lines = lines
        self.units = units
        self.console = console
        self.cells = {
            number: Cell(number, "".join(line.code for line in unit)) for number, unit in enumerate(units, 1)
        }
        self._starts = [0]
        for line in lines:
            self._starts.append(self._starts[-1] + len(line))

    @classmethod
    def read(cls, text: str, suffix: str) -> Document:
        """The code units of ``text``, a Markdown or (by ``suffix``) reStructuredText document."""
        blocks: list[Block] = (rst_blocks if suffix in RST_SUFFIXES else markdown_blocks)(text)
        units: list[list[Line]] = []
        console: set[int] = set()
        for block in blocks:
            for unit in block.units():
                units.append(unit)
                if block.console:
                    console.add(len(units))
        return cls(split_lines(text), units, console)

    def location(self, cell: int, location: Location) -> Location:
        """A location relative to a cell as a location in the document."""
        unit = self.units[cell - 1]
        line = unit[min(max(location.row, 1), len(unit)) - 1]
        return Location(line.row, location.column + len(line.prefix))

    def diagnostic(self, cell: int, diagnostic: Diagnostic) -> Diagnostic:
        """``diagnostic`` (relative to ``cell``) at document positions, its fixes' edits included."""
        fixes = tuple(
            replace(fix, edits=tuple(self._edit(cell, edit) for edit in fix.edits))
            for fix in diagnostic.fixes
        )
        return replace(
            diagnostic,
            start=self.location(cell, diagnostic.start),
            end=self.location(cell, diagnostic.end),
            fixes=fixes,
            cell=None,
        )

    def _edit(self, cell: int, edit: Edit) -> Edit:
        start, end = self.location(cell, edit.start), self.location(cell, edit.end)
        unit, console = self.units[cell - 1], cell in self.console
        lines = split_lines(edit.content)
        content = "".join([*lines[:1], *(_prefixed(unit, line, console, first=False) for line in lines[1:])])
        return replace(
            edit,
            content=content,
            start=start,
            end=end,
            start_offset=self._starts[start.row - 1] + start.column - 1,
            end_offset=self._starts[end.row - 1] + end.column - 1,
        )

    def rewritten(self, changed: dict[int, str]) -> Document:
        """The document with the code of ``changed`` cells replaced, every other byte as it was; its units
        are those of this document (a unit emptied by the fix stays, without lines)."""
        lines: list[str] = []
        units: list[list[Line]] = []
        written = {self.units[cell - 1][0].row: cell for cell in changed}
        by_row = {unit[0].row: number for number, unit in enumerate(self.units, 1)}
        row = 1
        while row <= len(self.lines):
            number = by_row.get(row)
            if number is None:
                lines.append(self.lines[row - 1])
                row += 1
                continue
            unit = self.units[number - 1]
            if row in written:
                new = self._written(unit, changed[written[row]], number in self.console)
            else:
                new = [(self.lines[line.row - 1], line) for line in unit]
            units.append([replace(line, row=len(lines) + 1 + i) for i, (_, line) in enumerate(new)])
            lines += [text for text, _ in new]
            row += len(unit)
        return Document(lines, units, self.console)

    def _written(self, unit: list[Line], text: str, console: bool) -> list[tuple[str, Line]]:
        """The document lines of ``unit`` with ``text`` as its code (unchanged lines as they were), each
        with its code line."""
        old = [line.code for line in unit]
        new = split_lines(text)
        out: list[tuple[str, Line]] = []
        matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
        for tag, a0, a1, b0, b1 in matcher.get_opcodes():
            if tag == "equal":
                out += [(self.lines[line.row - 1], line) for line in unit[a0:a1]]
                continue
            for index in range(b0, b1):
                written = _prefixed(unit, new[index], console, first=index == 0)
                prefix = written[: len(written) - len(new[index])] if new[index].strip() else ""
                out.append((written, Line(0, prefix, new[index])))
        return out


def _prefixed(unit: list[Line], code: str, console: bool, *, first: bool) -> str:
    """A new code line as the document writes it: the block's indentation (and prompt)."""
    if not console:
        indent = unit[0].prefix
        return indent + code if code.strip() else code
    prefix = unit[0].prefix
    base = prefix[: len(prefix) - len(prefix.lstrip(" \t"))]
    prompt = ">>>" if first else "..."
    return f"{base}{prompt} {code}" if code.strip() else f"{base}{prompt}{code}"


def check_document(text: str, suffix: str, settings: Settings | None = None) -> DocumentResult:
    """Findings in the code blocks of the document ``text`` (a ``.md``, ``.rst``… file, by ``suffix``)."""
    settings = settings or Settings()
    document = Document.read(text, suffix)
    found = check_cells(document.cells, settings)
    return _result(document, found.diagnostics, found.errors)


def fix_document(text: str, suffix: str, settings: Settings | None = None) -> DocumentResult:
    """Fix the code blocks of the document ``text``; ``text`` of the result is None when nothing changed."""
    settings = settings or Settings()
    document = Document.read(text, suffix)
    fixed, changed = fix_cells(document.cells, settings, emptiable=frozenset(document.console))
    if not changed:
        return _result(document, fixed.diagnostics, fixed.errors)
    # What is left is reported where it is in the fixed document; cells that did not parse were not
    # changed, and their lines moved with the rest.
    new = document.rewritten(changed)
    result = _result(new, fixed.diagnostics, fixed.errors)
    new_text = "".join(new.lines)
    if new_text != text:
        result.text, result.applied, result.applied_codes = new_text, fixed.applied, fixed.applied_codes
    return result


def _result(
    document: Document, diagnostics: Sequence[CellDiagnostic], errors: Sequence[CellError]
) -> DocumentResult:
    result = DocumentResult()
    for found in diagnostics:
        result.diagnostics.append(document.diagnostic(found.cell, found.diagnostic))
    for error in errors:
        at = document.location(error.cell, Location(error.row, error.column))
        result.errors.append(DocumentError(error.message, at.row, at.column))
    result.diagnostics.sort(key=lambda d: (d.start, d.code))
    result.lines = {
        row: document.lines[row - 1].rstrip("\r\n") for row in {d.start.row for d in result.diagnostics}
    }
    return result


__all__ = [
    "DOCUMENT_SUFFIXES",
    "MARKDOWN_SUFFIXES",
    "RST_SUFFIXES",
    "Cell",
    "Document",
    "DocumentError",
    "DocumentResult",
    "check_document",
    "fix_document",
]
