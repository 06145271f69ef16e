"""The code cells of a notebook joined into one module, and taken apart again after fixing."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from varmigrate.engine import Settings, SourceParseError, could_match, parse
from varmigrate.model import Diagnostic, Edit, Location
from varmigrate.notebook.ipython import Masker, Unit, unique_prefix
from varmigrate.notebook.results import CellDiagnostic, CellError, NotebookError
from varmigrate.sources.io import split_lines

_NEWLINE = re.compile(r"\r\n|\r|\n")
_LOST_CELLS = "cannot map the fixed code back to its cells; notebook left unchanged"


class SourceCell(Protocol):
    """A code cell (of a notebook, or a code block of a document): its number and its text."""

    @property
    def index(self) -> int: ...

    @property
    def source(self) -> str: ...


@dataclass
class _Piece:
    """A unit's text inside a joined module, where it starts, and its lines with IPython syntax put back."""

    unit: Unit
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
class Program:
    """The code cells of a notebook joined into one module, with what is needed to take it apart."""

    units: list[Unit]
    prefix: str
    errors: list[CellError]
    source: str = ""  # the joined module: the units with a marker statement between each two

    @classmethod
    def build(
        cls, code_cells: Mapping[int, SourceCell], settings: Settings, trusted: frozenset[int] = frozenset()
    ) -> Program | None:
        """Mask and parse every code cell; None when no cell can hold a finding of the selected rules.

        ``trusted`` cells are known to parse (a module CPython has parsed) and are not parsed alone: the
        analysis of the joined module parses them.
        """
        cells = list(code_cells.values())
        masker = Masker(unique_prefix([cell.source for cell in cells]))
        units = [unit for cell in cells if (unit := masker.mask(cell.index, cell.source)) is not None]
        if not could_match("".join(unit.text for unit in units), settings.rules):
            return None
        program = cls([], masker.prefix, [])
        unparsed: list[Unit] = []
        for unit in units:
            try:
                if unit.cell not in trusted:
                    parse(unit.text)
            except SourceParseError as error:
                program.errors.append(CellError(unit.cell, error.message, error.row, error.column))
                # The cell is left alone, but the names it mentions must keep their imports.
                names = masker.names(code_cells[unit.cell].source)
                if names:
                    text = f"{masker.prefix}uses__({', '.join(names)})\n"
                    unparsed.append(Unit(unit.cell, unit.source, text, analysed=False))
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
        for line in split_lines(source):
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
        for i, line in enumerate(split_lines(text)):
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
