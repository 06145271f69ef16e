"""The pipeline for one file: read, run the engine (or the notebook layer), write; and many files in workers.

Path in, result out: what to do comes in a :class:`Job`, what was found and done goes back in a
:class:`FileResult`, plain picklable data that the output layer renders.
"""

from __future__ import annotations

import ast
import difflib
import enum
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from varmigrate.engine import Settings, could_match
from varmigrate.model import INTERNAL_ERROR, Diagnostic, FileError, Location, SourceParseError
from varmigrate.noqa import NOT_COMMENTABLE, add_noqa
from varmigrate.sources.discovery import NOTEBOOK_SUFFIX
from varmigrate.sources.io import (
    DecodeError,
    FileChangedError,
    decode,
    mentions,
    read_regular,
    write_atomic,
)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class FileResult:
    """What checking or fixing one file found and did. Plain, picklable data."""

    path: str
    # Findings left in the file (after fixing, when fixing); internal errors are in ``errors``.
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    # Fixes applied (or, with ``diff``, that would be applied).
    fixed: int = 0
    # The file's bytes changed (or would change, with ``diff``).
    changed: bool = False
    written: bool = False
    # Unified diff of the fix, when asked for.
    diff: str = ""
    # The source lines the diagnostics point at ((cell, row) -> text without its line break; the cell
    # is None outside notebooks), for display.
    lines: dict[tuple[int | None, int], str] = field(default_factory=dict)
    # Lines that got a noqa directive or new codes in one (``check --add-noqa``).
    noqa_added: int = 0
    # Things the user should know that are not errors (e.g. a finding no noqa comment fits).
    warnings: list[FileError] = field(default_factory=list)


class Mode(enum.Enum):
    """What a run does to files."""

    CHECK = "check"
    FIX = "fix"
    # Fix, but only show the diff: nothing is written.
    DIFF = "diff"
    # Suppress the findings with noqa comments on their lines instead of fixing them.
    ADD_NOQA = "add-noqa"

    @property
    def fixes(self) -> bool:
        """Whether the engine applies fixes (written, or shown as a diff)."""
        return self in (Mode.FIX, Mode.DIFF)

    @property
    def writes(self) -> bool:
        """Whether changed files are written back."""
        return self in (Mode.FIX, Mode.ADD_NOQA)


@dataclass(frozen=True)
class Job:
    """What to do with one file: which rules, and what to do with their findings."""

    settings: Settings = field(default_factory=Settings)
    mode: Mode = Mode.CHECK


def process_file(path: Path, job: Job) -> FileResult:
    """Check (or fix) the file at ``path``. Pure apart from writing the fixed file: path in, result out."""
    name = str(path)
    try:
        data = read_regular(path)
    except OSError as error:
        return FileResult(name, errors=[FileError(name, f"cannot read: {error.strerror or error}")])
    result, new_data = process_bytes(data, name, job)
    if new_data is not None and job.mode.writes:
        try:
            write_atomic(path, new_data, expected=data)
        except OSError as error:
            message = str(error.strerror) if isinstance(error, FileChangedError) else None
            return _not_written(data, name, job, message or f"cannot write: {error.strerror or error}")
        result.written = True
    return result


def _not_written(data: bytes, name: str, job: Job, message: str) -> FileResult:
    """The result for a file whose fix could not be written: its findings are those of what it holds."""
    result, _ = process_bytes(data, name, replace(job, mode=Mode.CHECK))
    result.errors.append(FileError(name, message))
    return result


# Below this much source that mentions torch, starting worker processes (each imports LibCST, about a
# second) costs more than it saves: LibCST analyses roughly 0.1-0.5 MB of candidate code per second.
POOL_THRESHOLD_BYTES = 512 * 1024


def process_files(items: Sequence[tuple[Path, Job]], workers: int = 1) -> Iterator[FileResult]:
    """Results for ``(path, job)`` items, in order; a large batch is spread over ``workers`` processes."""
    if workers > 1 and len(items) > 1 and _worth_a_pool(item[0] for item in items):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            yield from pool.map(_process_item, items, chunksize=4)
        return
    for path, job in items:
        yield process_file(path, job)


def _process_item(item: tuple[Path, Job]) -> FileResult:
    return process_file(*item)


def _worth_a_pool(paths: Iterable[Path]) -> bool:
    """Whether the files that can reach LibCST (they mention torch) are big enough to share out."""
    total = 0
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"torch" in data:
            total += len(data)
            if total >= POOL_THRESHOLD_BYTES:
                return True
    return False


def process_bytes(data: bytes, name: str, job: Job) -> tuple[FileResult, bytes | None]:
    """Check (or fix) source ``data`` shown as ``name``; the fixed bytes when they differ, else None."""
    result = FileResult(name)
    # Cheapest prefilter: no rule can fire in a file that never spells `torch`; skip even decoding it.
    if not mentions(data, "torch"):
        return result, None
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
        result.errors.append(
            FileError(name, "cannot parse: source code cannot contain null bytes", Location(row, column))
        )
        return result, None
    try:
        text, diagnostics, result.fixed = _run_engine(source.text, job)
    except SourceParseError as error:
        message, location = error.message, Location(error.row, error.column)
        result.errors.append(FileError(name, f"cannot parse: {message}", location))
        return result, None
    except RecursionError:
        result.errors.append(FileError(name, "cannot parse: too deeply nested"))
        return result, None
    except Exception as error:  # one broken file must never stop the others
        result.errors.append(FileError(name, f"internal error: {type(error).__name__}: {error}"))
        return result, None
    result.diagnostics = [d for d in diagnostics if not _is_internal(d)]
    result.errors.extend(
        FileError(name, f"{d.code} {d.message}", d.start) for d in diagnostics if _is_internal(d)
    )
    if job.mode is Mode.ADD_NOQA:
        text, result.noqa_added, result.diagnostics = add_noqa(text, result.diagnostics)
        result.warnings.extend(
            FileError(name, f"cannot add `# noqa: {d.code}`: {NOT_COMMENTABLE}", d.start)
            for d in result.diagnostics
        )
    result.lines = {
        (None, row): line for row, line in _lines_at(text, {d.start.row for d in result.diagnostics}).items()
    }
    if text == source.text:
        return result, None
    broken = _cpython_rejects(text)
    if broken is not None:
        # The engine checks every fix; this is the last line of defence: never write what Python rejects.
        result.fixed = result.noqa_added = 0
        result.errors.append(FileError(name, f"not written: the fixed code does not parse ({broken})"))
        return result, None
    try:
        new_data = source.encode(text)
    except UnicodeEncodeError as error:
        result.fixed = 0
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
    # Imported here: notebooks need the engine, and only files that can hold a finding get this far.
    from varmigrate.notebook import NotebookError, NotebookFixResult, check_notebook, fix_notebook

    result = FileResult(name)
    try:
        outcome = fix_notebook(data, job.settings) if job.mode.fixes else check_notebook(data, job.settings)
    except NotebookError as error:
        result.errors.append(FileError(name, str(error)))
        return result, None
    except Exception as error:  # one broken file must never stop the others
        result.errors.append(FileError(name, f"internal error: {type(error).__name__}: {error}"))
        return result, None
    for found in outcome.diagnostics:
        diagnostic = replace(found.diagnostic, cell=found.cell)
        if _is_internal(diagnostic):
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
    result.fixed = outcome.applied
    result.changed = True
    if job.mode is Mode.DIFF:
        result.diff = unified_diff(data.decode("utf-8"), new_data.decode("utf-8"), name)
    return result, new_data


def plural_findings(result: FileResult) -> str:
    """``1 finding`` / ``3 findings`` in ``result``."""
    count = len(result.diagnostics)
    return f"{count} finding{'' if count == 1 else 's'}"


def _run_engine(text: str, job: Job) -> tuple[str, list[Diagnostic], int]:
    """The text after the job (fixed, or as it was), its findings, and how many fixes were applied."""
    if not could_match(text, job.settings.rules):
        # The common case on a large tree: decided without importing LibCST.
        return text, [], 0
    from varmigrate.engine import check_source, fix_source

    if job.mode.fixes:
        fixed = fix_source(text, job.settings)
        return fixed.source, fixed.diagnostics, fixed.applied
    return text, check_source(text, job.settings), 0


def _position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based row and column of character ``offset`` in ``text``."""
    before = text[:offset]
    row = len(_LINE_BREAK.findall(before)) + 1
    line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
    return row, offset - line_start + 1


def _cpython_rejects(text: str) -> str | None:
    """CPython's complaint about ``text`` as a module, None when it compiles to an AST."""
    try:
        compile(text, "<fixed>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:
        return f"{error.lineno}:{error.offset}: {error.msg}"
    except (ValueError, RecursionError, MemoryError) as error:
        return str(error) or type(error).__name__
    return None


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


__all__ = [
    "FileResult",
    "Job",
    "Mode",
    "process_bytes",
    "process_file",
    "process_files",
    "unified_diff",
]
