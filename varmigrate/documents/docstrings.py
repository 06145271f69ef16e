"""Doctest examples in the docstrings of ``.py`` files, checked and fixed together with the module's code.

Which docstrings: those doctest collects (``doctest.DocTestFinder``): the module's, those of the classes
and functions defined at module level or in a class body (conditionally defined ones, methods, static and
class methods and properties included), and the string values of a module-level ``__test__ = {...}``
dictionary. Not those of functions nested in functions, which doctest never reaches. A docstring is the
string literal that is a body's first statement, written as one token (not an f-string, not implicitly
concatenated).

What is an example: what doctest parses in the docstring's value, tabs expanded: a ``>>>`` line (the prompt
followed by a space or the end of the line) and the ``...`` lines with the same indentation after it; the
expected output that follows is not code and is left alone.

One program: doctest runs each docstring's examples as one session in a copy of the module's globals. So
the module's code and every docstring's examples are analysed together as one program, the module first
(as a notebook's cells are, by :mod:`varmigrate.notebook.cells`): `Variable` imported at the top of the
module is torch's inside the examples, and the import clean-up removes an import only when neither the code
nor any example still uses it once fixed. (A name one docstring's examples bind is seen by the next
docstring's too, which doctest would not do; such code raises `NameError` before and after a fix.)

Positions are the file's own rows and columns. Writing changes only the code of the examples: their
indentation and prompts, the expected output, the rest of the docstring and every byte outside it (CRLF
included) stay as they were. An example is rewritten only where the file spells its lines exactly as the
docstring's value has them (no backslash escape nor line continuation in a string that is not raw, no
tab, which doctest expands) and it shares no line with the docstring's quotes; otherwise its findings are
reported with their fixes display only, the reason in the fix's title, and the names it uses keep their
imports. An example that does not parse is reported at its line and left alone (its names stay in use);
the others go on.

Cost: a file without ``>>>`` costs nothing here, and one whose examples cannot hold a finding a regular
expression (:func:`~varmigrate.engine.prefilter.could_match_examples`); only the others are parsed with
CPython's parser, to find their docstrings and the examples that do not parse, and their module and
examples go through LibCST once, together (about what the module alone costs).

Fixing analyses the program once more at the end, so that what is reported as left is placed in the
fixed file. A fix of the module's code that would change a line holding an example (none does: examples
are string content) is refused, and the file is not written.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace

from varmigrate.documents import Cell, Document, DocumentError, DocumentResult
from varmigrate.documents.blocks import Line
from varmigrate.documents.doctest_examples import SHARES_QUOTES, Example, doctest_examples
from varmigrate.engine import Settings, check_source, could_match
from varmigrate.engine.parsing import cpython_error
from varmigrate.engine.prefilter import parse_ast
from varmigrate.model import Applicability, Diagnostic, Location
from varmigrate.notebook import CellDiagnostic, NotebookError, check_cells, fix_cells
from varmigrate.notebook.ipython import Masker, unique_prefix
from varmigrate.sources.io import split_lines

# The module's code is cell 0; the examples are cells 1, 2, ... in the order of the file.
MODULE = 0


class _Module:
    """A module's text and the examples of its docstrings."""

    def __init__(self, text: str, lines: list[str], examples: list[Example]) -> None:
        self.text = text
        self.lines = lines
        self.examples = examples
        self.document = Document(lines, [example.lines for example in examples], set())
        # CPython's parser says which examples do not parse (cheaply, and before LibCST, whose native
        # parser can crash on deep nesting); the others and the module are parsed once, joined.
        self.unparsed = {
            number: error
            for number, cell in self.document.cells.items()
            if (error := cpython_error(cell.source)) is not None
        }
        self.trusted = frozenset({MODULE, *self.document.cells})

    @classmethod
    def read(cls, text: str, settings: Settings) -> _Module | None:
        """The module's examples; None when none can hold a finding of the selected rules, or when CPython
        cannot parse the module (the engine reports that)."""
        tree = parse_ast(text)
        if tree is None:
            return None
        lines = split_lines(text)
        examples = doctest_examples(tree, lines)
        code = "".join(line.code for example in examples for line in example.lines)
        if not could_match(code, settings.rules, within=text):
            return None
        return cls(text, lines, examples)

    def cells(self, *, stubbed: bool) -> dict[int, Cell]:
        """The module and the examples as cells. An example that does not parse (and with ``stubbed``, one
        that is not rewritten) stands as a statement that uses its names, so that their imports stay."""
        cells = {MODULE: Cell(MODULE, self.text), **self.document.cells}
        masker = Masker(unique_prefix([self.text]))
        for number, example in enumerate(self.examples, 1):
            if number in self.unparsed or (stubbed and example.not_rewritten is not None):
                names = masker.names(cells[number].source)
                cells[number] = Cell(number, f"{masker.prefix}uses__({', '.join(names)})\n")
        return cells

    def result(self, diagnostics: Sequence[CellDiagnostic]) -> DocumentResult:
        """Findings by cell, and the examples that do not parse, at the file's positions. (Every cell is
        trusted: the joined module's parse is the only LibCST parse, and gives no errors by cell.)"""
        result = DocumentResult()
        for found in diagnostics:
            if found.cell in self.unparsed:
                continue  # the statement standing for it
            if found.cell == MODULE:
                result.diagnostics.append(found.diagnostic)
                continue
            diagnostic = self.document.diagnostic(found.cell, found.diagnostic)
            why = self.examples[found.cell - 1].not_rewritten
            result.diagnostics.append(diagnostic if why is None else _display_only(diagnostic, why))
        for number, error in self.unparsed.items():
            at = self.document.location(number, Location(error.row or 1, error.column))
            message = f"cannot parse: {error.message} (doctest example)"
            result.errors.append(DocumentError(message, at.row, at.column))
        result.diagnostics.sort(key=lambda d: (d.start, d.code))
        result.commentable = {
            line.row: example.not_rewritten is None for example in self.examples for line in example.lines
        }
        return result

    def rewritten(self, module: str, changed: dict[int, str]) -> str:
        """``module`` (this module's code, fixed) with the code of the ``changed`` examples replaced."""
        if not changed:
            return module
        lines = split_lines(module)
        rows = _same_rows(self.lines, lines)
        units: list[list[Line]] = []
        for cell in sorted(changed):
            unit = self.examples[cell - 1].lines
            if any(line.row not in rows for line in unit):
                raise NotebookError(
                    f"line {unit[0].row}: a fix changes a line that holds a docstring example; not written"
                )
            units.append([replace(line, row=rows[line.row]) for line in unit])
        codes = {number: changed[cell] for number, cell in enumerate(sorted(changed), 1)}
        document = Document(lines, units, set(codes))
        return "".join(document.rewritten(codes).lines)


def check_docstrings(text: str, settings: Settings | None = None) -> DocumentResult | None:
    """Findings in the module ``text`` and its docstrings' examples; None when no example can hold a
    finding (the engine alone checks such a module)."""
    settings = settings or Settings()
    module = _Module.read(text, settings)
    if module is None:
        return None
    try:
        found = check_cells(module.cells(stubbed=False), settings, trusted=module.trusted)
    except NotebookError:
        return None  # the module does not parse with LibCST: the engine reports it
    return module.result(found.diagnostics)


def fix_docstrings(text: str, settings: Settings | None = None) -> DocumentResult | None:
    """Fix the module ``text`` and its docstrings' examples together; None when no example can hold a
    finding (the engine alone fixes such a module). ``text`` of the result is None when nothing changed."""
    settings = settings or Settings()
    module = _Module.read(text, settings)
    if module is None:
        return None
    cells = module.cells(stubbed=True)
    try:
        fixed, changed = fix_cells(cells, settings, emptiable=frozenset(cells), trusted=module.trusted)
        if not changed and all(example.not_rewritten is None for example in module.examples):
            # Nothing was stubbed but what does not parse: what is left is what check finds.
            return module.result(fixed.diagnostics)
        new = module.rewritten(
            changed.get(MODULE, text),
            {
                cell: code
                for cell, code in changed.items()
                if cell != MODULE and module.examples[cell - 1].not_rewritten is None
            },
        )
    except NotebookError as error:
        result = check_docstrings(text, settings) or DocumentResult()
        result.errors.append(DocumentError(f"not fixed: {error}", 1, 1))
        return result
    if new == text:
        return check_docstrings(text, settings)
    # What is left, where it is now (an example the fix emptied is gone, a moved comment took a line).
    result = check_docstrings(new, settings) or DocumentResult(check_source(new, settings))
    result.text, result.applied, result.applied_codes = new, fixed.applied, dict(fixed.applied_codes)
    return result


def _display_only(diagnostic: Diagnostic, why: str) -> Diagnostic:
    """``diagnostic`` with every fix display only, its title saying ``why``; without edits where the file
    does not spell the example as its text reads (their offsets would be the text's, not the file's)."""
    fixes = tuple(
        replace(
            fix,
            applicability=Applicability.DISPLAY_ONLY,
            title=f"{fix.title} (not applied: {why})",
            edits=fix.edits if why == SHARES_QUOTES else (),
        )
        for fix in diagnostic.fixes
    )
    return replace(diagnostic, fixes=fixes)


def _same_rows(old: list[str], new: list[str]) -> dict[int, int]:
    """Row in ``old`` -> row in ``new`` for the lines a fix left where they were (1-based)."""
    if old == new:
        return {row: row for row in range(1, len(old) + 1)}
    rows: dict[int, int] = {}
    for a, b, size in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_matching_blocks():
        rows.update((a + 1 + i, b + 1 + i) for i in range(size))
    return rows


__all__ = ["check_docstrings", "fix_docstrings"]
