"""One file's bytes through the engine (or the notebook layer): :func:`process_bytes`, path-free."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from varmigrate.engine.prefilter import could_match_examples, settled_check
from varmigrate.model import INTERNAL_ERROR, Diagnostic, FileError, Location, SourceParseError
from varmigrate.pipeline.job import FileResult, Job, Mode
from varmigrate.pipeline.screen import reaches_torch, without_torch
from varmigrate.sources.discovery import DOCUMENT_SUFFIXES, NOTEBOOK_SUFFIX, file_kind
from varmigrate.sources.io import DecodedSource, DecodeError, decode

if TYPE_CHECKING:
    from varmigrate.documents import DocumentError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def process_bytes(data: bytes, name: str, job: Job) -> tuple[FileResult, bytes | None]:
    """Check (or fix) source ``data`` shown as ``name``; the fixed bytes when they differ, else None."""
    result = FileResult(name)
    if not reaches_torch(data, job):
        return without_torch(data, name), None
    if name.endswith(NOTEBOOK_SUFFIX):
        return _process_notebook(data, name, job)
    try:
        source = decode(data)
    except DecodeError as error:
        result.errors.append(FileError(name, error.message, error.location))
        return result, None
    if "\0" in source.text:
        # LibCST reads such text, CPython does not: it is not a program, and is never rewritten.
        row, column = _position(source.text, source.text.index("\0"))
        message = "cannot parse: source code cannot contain null bytes"
        result.errors.append(FileError(name, message, Location(row, column)))
        return result, None
    if name.endswith(DOCUMENT_SUFFIXES):
        return _process_document(source, data, name, job)
    try:
        done = _run_engine(source.text, job)
    except SourceParseError as error:
        message, location = error.message, Location(error.row, error.column)
        result.errors.append(FileError(name, f"cannot parse: {message}", location))
        return result, None
    except RecursionError:
        # Python parses it, but LibCST's tree is too deep for its (recursive) walks.
        from varmigrate.engine.parsing import TOO_DEEP, crowded_statement

        row, column = crowded_statement(source.text)
        at = Location(row, column) if row else None
        result.errors.append(FileError(name, f"cannot analyse: {TOO_DEEP}", at))
        return result, None
    except Exception as error:  # one broken file must never stop the others
        result.errors.append(FileError(name, f"internal error: {type(error).__name__}: {error}"))
        result.internal_error = True
        return result, None
    return _outcome(result, data, source, done, job)


def settled_result(
    data: bytes, source: DecodedSource, name: str, job: Job, found: list[Diagnostic]
) -> FileResult:
    """The result of checking the module ``data`` (decoded: ``source``) whose findings ``found`` CPython's
    parse settled (`settled_check`), as `process_bytes` gives a check's; nothing is written."""
    assert job.mode is not Mode.ADD_NOQA
    result, _ = _outcome(FileResult(name), data, source, _Analysed(source.text, found), job)
    return result


def _outcome(
    result: FileResult, data: bytes, source: DecodedSource, done: _Analysed, job: Job
) -> tuple[FileResult, bytes | None]:
    """``result`` with what the engine gave (``done``) for ``source``, and the new bytes when they differ."""
    name = result.path
    text, diagnostics, result.fixed_codes = done.text, done.diagnostics, done.applied_codes
    result.fixed = sum(result.fixed_codes.values())
    result.diagnostics = [d for d in diagnostics if not _is_internal(d)]
    result.errors.extend(
        FileError(name, f"{d.code} {d.message}", d.start) for d in diagnostics if _is_internal(d)
    )
    result.errors.extend(FileError(name, bad.message, Location(bad.row, bad.column)) for bad in done.unparsed)
    result.internal_error = len(result.diagnostics) < len(diagnostics)
    if job.mode is Mode.ADD_NOQA:
        from varmigrate.noqa import NOT_COMMENTABLE, add_noqa

        text, result.noqa_added, result.diagnostics = add_noqa(
            text, result.diagnostics, known=done.commentable
        )
        result.warnings.extend(
            FileError(name, f"cannot add `# noqa: {d.code}`: {NOT_COMMENTABLE}", d.start)
            for d in result.diagnostics
        )
    result.lines = {
        (None, row): line for row, line in _lines_at(text, {d.start.row for d in result.diagnostics}).items()
    }
    if text == source.text:
        return result, None
    from varmigrate.engine.parsing import cpython_error

    broken = cpython_error(text)
    if broken is not None:
        # The engine checks every fix; this is the last line of defence: never write what Python rejects.
        result.fixed = result.noqa_added = 0
        result.fixed_codes = {}
        result.errors.append(
            FileError(
                name,
                f"not written: the fixed code does not parse ({broken if broken.row else broken.message})",
            )
        )
        return result, None
    try:
        new_data = source.encode(text)
    except UnicodeEncodeError as error:
        result.fixed, result.fixed_codes = 0, {}
        result.errors.append(
            FileError(name, f"cannot write: the fix is not representable in {error.encoding}")
        )
        return result, None
    result.changed = new_data != data
    if job.mode is Mode.DIFF and result.changed:
        result.diff = unified_diff(source.text, text, name)
    return result, new_data if result.changed else None


def _process_notebook(data: bytes, name: str, job: Job) -> tuple[FileResult, bytes | None]:
    """Check (or fix) the code cells of notebook ``data``; findings and errors carry their cell."""
    from varmigrate.notebook import NotebookError, NotebookFixResult, check_notebook, fix_notebook

    result = FileResult(name)
    try:
        outcome = fix_notebook(data, job.settings) if job.mode.fixes else check_notebook(data, job.settings)
    except NotebookError as error:
        result.errors.append(FileError(name, str(error)))
        return result, None
    except Exception as error:  # one broken file must never stop the others
        result.errors.append(FileError(name, f"internal error: {type(error).__name__}: {error}"))
        result.internal_error = True
        return result, None
    for found in outcome.diagnostics:
        diagnostic = replace(found.diagnostic, cell=found.cell)
        if _is_internal(diagnostic):
            result.internal_error = True
            result.errors.append(
                FileError(name, f"{diagnostic.code} {diagnostic.message}", diagnostic.start, found.cell)
            )
        else:
            result.diagnostics.append(diagnostic)
            result.lines[(found.cell, diagnostic.start.row)] = found.line
    for bad in outcome.errors:
        location = Location(bad.row, bad.column)
        result.errors.append(FileError(name, f"cannot parse: {bad.message}", location, bad.cell))
    if job.mode is Mode.ADD_NOQA and result.diagnostics:
        result.warnings.append(
            FileError(
                name, f"--add-noqa does not edit notebooks; {plural_findings(result)} left unsuppressed"
            )
        )
    new_data = outcome.data if isinstance(outcome, NotebookFixResult) else None
    if new_data is None:
        return result, None
    assert isinstance(outcome, NotebookFixResult)
    result.fixed, result.fixed_codes = outcome.applied, outcome.applied_codes
    result.changed = True
    if job.mode is Mode.DIFF:
        result.diff = unified_diff(data.decode("utf-8"), new_data.decode("utf-8"), name)
    return result, new_data


def _process_document(
    source: DecodedSource, data: bytes, name: str, job: Job
) -> tuple[FileResult, bytes | None]:
    """Check (or fix) the Python code blocks of a Markdown or reStructuredText document."""
    from varmigrate.documents import check_document, fix_document
    from varmigrate.notebook import NotebookError

    result = FileResult(name)
    kind = file_kind(name)
    try:
        if job.mode.fixes:
            outcome = fix_document(source.text, kind, job.settings)
        else:
            outcome = check_document(source.text, kind, job.settings)
    except NotebookError as error:
        result.errors.append(FileError(name, str(error)))
        return result, None
    except Exception as error:  # one broken file must never stop the others
        result.errors.append(FileError(name, f"internal error: {type(error).__name__}: {error}"))
        result.internal_error = True
        return result, None
    for diagnostic in outcome.diagnostics:
        if _is_internal(diagnostic):
            result.internal_error = True
            result.errors.append(FileError(name, f"{diagnostic.code} {diagnostic.message}", diagnostic.start))
        else:
            result.diagnostics.append(diagnostic)
    result.errors += [
        FileError(name, f"cannot parse: {bad.message}", Location(bad.row, bad.column))
        for bad in outcome.errors
    ]
    result.lines = {(None, row): line for row, line in outcome.lines.items()}
    if job.mode is Mode.ADD_NOQA and result.diagnostics:
        result.warnings.append(
            FileError(
                name, f"--add-noqa does not edit documents; {plural_findings(result)} left unsuppressed"
            )
        )
    if outcome.text is None:
        return result, None
    new_data = source.encode(outcome.text)
    result.fixed, result.fixed_codes = outcome.applied, outcome.applied_codes
    result.changed = new_data != data
    if job.mode is Mode.DIFF and result.changed:
        result.diff = unified_diff(source.text, outcome.text, name)
    return result, new_data if result.changed else None


def plural_findings(result: FileResult) -> str:
    """``1 finding`` / ``3 findings`` in ``result``."""
    count = len(result.diagnostics)
    return f"{count} finding{'' if count == 1 else 's'}"


@dataclass
class _Analysed:
    """What the engine made of a module: the text after the job (fixed, or as it was), its findings, how
    many fixes of each rule were applied; for doctest examples, those that could not be analysed, and
    which of their rows a comment may end (``noqa.add_noqa``'s ``known``)."""

    text: str
    diagnostics: list[Diagnostic]
    applied_codes: dict[str, int] = field(default_factory=dict)  # the applied fixes by rule code
    unparsed: list[DocumentError] = field(default_factory=list)
    commentable: dict[int, bool] = field(default_factory=dict)


def _run_engine(text: str, job: Job) -> _Analysed:
    """The module ``text`` through the engine, with its docstrings' doctest examples when they can hold a
    finding (doctest runs them in the module's globals: they are analysed with its code)."""
    if could_match_examples(text, job.settings.rules):
        from varmigrate.documents.docstrings import check_docstrings, fix_docstrings

        found = fix_docstrings(text, job.settings) if job.mode.fixes else check_docstrings(text, job.settings)
        if found is not None:
            new = found.text if found.text is not None else text
            return _Analysed(new, found.diagnostics, found.applied_codes, found.errors, found.commentable)
    if job.mode.fixes:
        from varmigrate.engine.fixer import fix_source

        fixed = fix_source(text, job.settings)
        return _Analysed(fixed.source, fixed.diagnostics, fixed.applied_codes)
    settled = settled_check(text, job.settings.rules)
    if settled is not None:
        # CPython's parse settled every finding: no LibCST.
        return _Analysed(text, settled)
    from varmigrate.engine.analysis import check_source  # a check loads no fixer

    return _Analysed(text, check_source(text, job.settings, settle=False))


def _position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based row and column of character ``offset`` in ``text``."""
    before = text[:offset]
    row = len(_LINE_BREAK.findall(before)) + 1
    line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
    return row, offset - line_start + 1


def _is_internal(diagnostic: Diagnostic) -> bool:
    """Whether ``diagnostic`` reports a varmigrate failure (VM9xx) rather than a finding."""
    return diagnostic.code.startswith(INTERNAL_ERROR[:3])


def _lines_at(text: str, rows: Iterable[int]) -> dict[int, str]:
    """Row -> line text (without its line break) for ``rows``, numbered as the engine numbers them."""
    wanted = set(rows)
    if not wanted:
        return {}
    lines = _LINE_BREAK.split(text)
    return {row: lines[row - 1] for row in sorted(wanted) if 0 < row <= len(lines)}


def unified_diff(before: str, after: str, name: str) -> str:
    """A unified diff of ``before`` -> ``after`` labelled with ``name``."""
    import difflib

    diff = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=name,
        tofile=name,
    )
    parts = []
    for line in diff:
        if not line.endswith(("\n", "\r")):
            line += "\n\\ No newline at end of file\n"
        parts.append(line)
    return "".join(parts)
