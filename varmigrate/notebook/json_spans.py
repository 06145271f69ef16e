"""Reading a notebook file: JSON values with their exact spans in the text, and the code cells in them.

Writing never re-serialises the JSON: the new ``source`` values are spliced into the original text, so
indentation, key order, escapes, line breaks and outputs stay byte-identical by construction.
"""

from __future__ import annotations

import codecs
import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from varmigrate.notebook.results import NotebookError

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
class CodeCell:
    """A code cell: its position among all cells, its source text and the span of its JSON value."""

    index: int
    source: str
    node: _Node


class NotebookFile:
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

    def _code_cells(self, content: dict[str, Any]) -> list[CodeCell]:
        version = content.get("nbformat")
        if "cells" in content or (isinstance(version, int) and version >= 4):
            return self._read_cells(content.get("cells"), _member(self.root, "cells"), "source", start=1)
        if version == 3 and "worksheets" in content:
            # nbformat 3: cells live in worksheets, and a code cell keeps its code under "input".
            found: list[CodeCell] = []
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

    def _read_cells(self, cells: object, node: _Node, code_key: str, start: int) -> list[CodeCell]:
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
            found.append(CodeCell(index, "".join(lines), _member(cell_node, code_key)))
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
