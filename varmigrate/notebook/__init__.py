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

import contextlib
from collections.abc import Iterator, Mapping

from varmigrate.engine import Settings, SourceParseError, check_source, fix_source
from varmigrate.notebook.cells import Program, SourceCell
from varmigrate.notebook.ipython import PYTHON_CELL_MAGICS
from varmigrate.notebook.json_spans import NotebookFile
from varmigrate.notebook.results import (
    CellDiagnostic,
    CellError,
    NotebookError,
    NotebookFixResult,
    NotebookResult,
)


def check_notebook(data: bytes, settings: Settings | None = None) -> NotebookResult:
    """Findings in the code cells of the notebook file ``data``. Raises :class:`NotebookError`."""
    settings = settings or Settings()
    notebook = NotebookFile(data)
    if notebook.skipped is not None:
        return NotebookResult(skipped=notebook.skipped)
    return check_cells(notebook.cells, settings)


def fix_notebook(data: bytes, settings: Settings | None = None) -> NotebookFixResult:
    """Fix the code cells of the notebook file ``data``. Raises :class:`NotebookError`."""
    settings = settings or Settings()
    notebook = NotebookFile(data)
    if notebook.skipped is not None:
        return NotebookFixResult(skipped=notebook.skipped)
    result, changed = fix_cells(notebook.cells, settings)
    if changed:
        result.data = notebook.with_sources(changed)
    return result


def check_cells(
    cells: Mapping[int, SourceCell], settings: Settings, *, trusted: frozenset[int] = frozenset()
) -> NotebookResult:
    """Findings in ``cells`` (cell number -> cell), analysed as one module; ``trusted`` cells are known to
    parse."""
    program = Program.build(cells, settings, trusted)
    if program is None:
        return NotebookResult()
    with _joined():
        found = check_source(program.source, settings)
    return NotebookResult(program.map_diagnostics(program.source, found), program.errors)


def fix_cells(
    cells: Mapping[int, SourceCell],
    settings: Settings,
    *,
    emptiable: frozenset[int] = frozenset(),
    trusted: frozenset[int] = frozenset(),
) -> tuple[NotebookFixResult, dict[int, str]]:
    """Fix ``cells`` as one module: what is left (no ``data``), and the new text of each changed cell.

    A cell the fix would empty keeps its comments (or its content), unless it is ``emptiable``;
    ``trusted`` cells are known to parse.
    """
    program = Program.build(cells, settings, trusted)
    if program is None:
        return NotebookFixResult(), {}
    with _joined():
        result = fix_source(program.source, settings)
    diagnostics = program.map_diagnostics(result.source, result.diagnostics)
    if not result.changed:
        return NotebookFixResult(diagnostics, program.errors), {}
    changed = {}
    for cell, text in program.restore(result.source).items():
        original = cells[cell].source
        kept = text if cell in emptiable else _not_emptied(original, text)
        if kept != original:
            changed[cell] = kept
    if not changed:
        return NotebookFixResult(diagnostics, program.errors), changed
    fixed = NotebookFixResult(
        diagnostics, program.errors, applied=result.applied, applied_codes=dict(result.applied_codes)
    )
    return fixed, changed


def _not_emptied(before: str, after: str) -> str:
    """``after``, unless it empties a cell that had content (an import the fix made unused, say).

    Such a cell keeps its comment lines; a cell without any keeps what it had: a notebook reader
    should never find an empty cell where there was something.
    """
    if after.strip() or not before.strip():
        return after
    comments = [line for line in before.splitlines(keepends=True) if line.lstrip().startswith("#")]
    if not comments:
        return before
    return "".join(comments).rstrip("\r\n") if not before.endswith(("\n", "\r")) else "".join(comments)


@contextlib.contextmanager
def _joined() -> Iterator[None]:
    """Report a parse error of the joined cells (each of which parsed alone) as a notebook error."""
    try:
        yield
    except SourceParseError as error:
        raise NotebookError(f"the code cells do not parse as one module ({error})") from None


__all__ = [
    "PYTHON_CELL_MAGICS",
    "CellDiagnostic",
    "CellError",
    "NotebookError",
    "NotebookFixResult",
    "NotebookResult",
    "check_cells",
    "check_notebook",
    "fix_cells",
    "fix_notebook",
]
