"""What checking or fixing a notebook gives back: findings and parse errors by cell, and the new bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

from varmigrate.model import Diagnostic


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
    # The applied fixes by rule code (see :class:`varmigrate.engine.FixResult`).
    applied_codes: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether the notebook must be written."""
        return self.data is not None
