"""The pipeline for files: read, run the engine (or the notebook layer), write; many files in two stages.

Path in, result out: what to do comes in a :class:`Job`, what was found and done goes back in a
:class:`FileResult`, plain picklable data that the output layer renders.

Many files go in two stages. The first runs in this process and reads each file once: the byte
prefilter, a cache lookup, decoding and the text prefilter, which settle almost every file. Only the
files that can hold a finding reach the second stage, LibCST, and only when their bytes are worth it
are they shared out over worker processes. Nothing here imports LibCST, ``multiprocessing`` or
``concurrent.futures`` until a file needs it: a run that the first stage settles starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import gc
import importlib
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

# Settings and the prefilter are standard library only; the rest of the engine loads on first use.
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

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

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
    # Among the errors is a failure of varmigrate itself (a crash, a fix that did not parse): such a
    # result is never cached, so that the next run (or a fixed varmigrate) tries again.
    internal_error: bool = False


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


class ResultCache(Protocol):
    """Check results by file content and settings (``varmigrate.cache.Cache`` is the one on disk).

    An entry is the result ``check`` gives for the content: path-free (the pipeline names it), with no
    trace of fixing. Which entries a job may use, and which results may be stored, the pipeline decides.
    """

    def key(self, data: bytes, job: Job, notebook: bool) -> str | None:
        """The key of ``data`` processed under ``job`` (None: do not cache)."""

    def get(self, key: str) -> FileResult | None:
        """The entry stored under ``key``, or None."""

    def put(self, key: str, result: FileResult) -> None:
        """Store ``result`` under ``key`` (best effort: a cache that cannot be written is skipped)."""


def process_file(path: Path, job: Job) -> FileResult:
    """Check (or fix) the file at ``path``. Pure apart from writing the fixed file: path in, result out."""
    slot = _first_stage(path, job, None)
    if isinstance(slot, FileResult):
        return slot
    return _finish(slot, *_second_stage(slot.data, slot.name, job), None)


# -- many files --------------------------------------------------------------------------------------

# Below this much source in the second stage, sharing it out costs more than it saves. LibCST takes about
# 2 CPU s/MB to parse and 20-60 s/MB with the scope analysis candidates get, so 32 kB is 0.5-2 s of work,
# against about 10 ms of CPU for a pool forked from this process. A spawned worker (or the fork server)
# imports LibCST first, about a second of CPU each: there the work must be worth several seconds.
POOL_THRESHOLD_BYTES = {"fork": 32 * 1024, "forkserver": 256 * 1024, "spawn": 256 * 1024}


@dataclass(eq=False)
class _Task:
    """A file that passed the first stage: its bytes (read once), its job and its cache key."""

    path: Path
    name: str
    notebook: bool
    data: bytes
    job: Job
    key: str | None
    # An earlier task with the same key (``check`` only): its result serves this file too.
    same_as: _Task | None = None
    result: FileResult | None = None


class Batch:
    """Files after the first stage, in order: results already known, and tasks for the second stage.

    Iterating gives every file's result, in the order the files were given; the second stage runs as
    the iteration reaches it, in this process or in the worker pool :meth:`start` set up.
    """

    def __init__(self, slots: list[FileResult | _Task], cache: ResultCache | None) -> None:
        self.slots = slots
        self.cache = cache
        self.tasks = [slot for slot in slots if isinstance(slot, _Task) and slot.same_as is None]
        self._futures: dict[int, Future[tuple[FileResult, bytes | None]]] = {}

    @property
    def pending(self) -> int:
        """How many files the second stage still has to analyse."""
        return len(self.tasks)

    @property
    def pending_bytes(self) -> int:
        """The size of those files."""
        return sum(len(task.data) for task in self.tasks)

    def start(self, pool: ProcessPoolExecutor) -> None:
        """Hand every task to ``pool``, the largest first (a large file last would keep one worker busy)."""
        for task in sorted(self.tasks, key=lambda task: len(task.data), reverse=True):
            self._futures[id(task)] = pool.submit(_second_stage, task.data, task.name, task.job)

    def __iter__(self) -> Iterator[FileResult]:
        for slot in self.slots:
            if isinstance(slot, FileResult):
                yield slot
            elif slot.same_as is not None:
                assert slot.same_as.result is not None, "a duplicate comes after the file it copies"
                yield _named(slot.same_as.result, slot.name)
            else:
                slot.result = _finish(slot, *self._second_stage(slot), self.cache)
                yield slot.result

    def _second_stage(self, task: _Task) -> tuple[FileResult, bytes | None]:
        future = self._futures.pop(id(task), None)
        if future is None:
            return _second_stage(task.data, task.name, task.job)
        try:
            return future.result()
        except Exception as error:  # a worker that died (out of memory, a crash in native code)
            message = f"internal error: worker process failed: {type(error).__name__}: {error}"
            return FileResult(task.name, errors=[FileError(task.name, message)], internal_error=True), None


def prepare(items: Iterable[tuple[Path, Job]], cache: ResultCache | None = None) -> Batch:
    """Run the first stage on ``(path, job)`` items, reading each file once."""
    slots: list[FileResult | _Task] = []
    first_of: dict[str, _Task] = {}
    for path, job in items:
        slot = _first_stage(path, job, cache)
        if isinstance(slot, _Task) and slot.key is not None and job.mode is Mode.CHECK:
            # The same bytes under the same settings: checked once (a copied tree, vendored files).
            slot.same_as = first_of.setdefault(slot.key, slot)
            if slot.same_as is slot:
                slot.same_as = None
        slots.append(slot)
    return Batch(slots, cache)


@contextlib.contextmanager
def processing(
    items: Iterable[tuple[Path, Job]], *, workers: int = 1, cache: ResultCache | None = None
) -> Iterator[Batch]:
    """The first stage on ``items``, then (when worth it) a worker pool for the second; yields the Batch.

    Enter it before starting any thread (a progress bar's): the pool forks this process where the
    platform allows, and a fork must not copy a lock that another thread holds.
    """
    batch = prepare(items, cache)
    method = _start_method()
    size = pool_size(batch, workers, method)
    if not size:
        yield batch
        return
    pool = _start_pool(size, method)
    try:
        with _frozen_heap(method == "fork"):
            batch.start(pool)
        yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _frozen_heap(freeze: bool) -> Iterator[None]:
    """While forking: the objects of this process frozen out of reach of the garbage collector.

    The executor forks its workers at the first submit. The workers' collector then never traverses
    what they inherited, so those pages stay shared instead of being copied into each worker.
    """
    if not freeze:
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def process_files(
    items: Iterable[tuple[Path, Job]], workers: int = 1, cache: ResultCache | None = None
) -> Iterator[FileResult]:
    """Results for ``(path, job)`` items, in order; a large second stage is shared out over ``workers``."""
    with processing(items, workers=workers, cache=cache) as batch:
        yield from batch


def pool_size(batch: Batch, workers: int, method: str) -> int:
    """How many worker processes the second stage of ``batch`` is worth (0: none, stay in this process).

    Sized by the bytes that reached the second stage: every worker gets at least the threshold's worth.
    """
    size = min(workers, batch.pending, batch.pending_bytes // POOL_THRESHOLD_BYTES[method])
    return size if size > 1 else 0


def _start_method() -> str:
    """``fork`` where it is safe and cheap (Linux, no thread started yet), else ``forkserver`` or ``spawn``.

    macOS can fork, but its system libraries are not fork-safe (Python defaults to spawn there).
    """
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn" if sys.platform == "win32" else "forkserver"


def _start_pool(workers: int, method: str) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started by ``method``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context(method)
    # Loaded before forking, so that the workers share one copy instead of each importing LibCST (about
    # a second of CPU); the fork server loads them once for all the workers it forks.
    modules = ["varmigrate.engine", "varmigrate.notebook"]
    if method == "fork":
        for module in modules:
            importlib.import_module(module)
    elif method == "forkserver":
        context.set_forkserver_preload([__name__, *modules])
    # With fork, the executor forks every worker at the first submit, before it starts its thread.
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _first_stage(path: Path, job: Job, cache: ResultCache | None) -> FileResult | _Task:
    """Read ``path`` once and settle it without LibCST when possible: the result, else a task."""
    name = str(path)
    try:
        data = read_regular(path)
    except OSError as error:
        return FileResult(name, errors=[FileError(name, f"cannot read: {error.strerror or error}")])
    # Cheapest prefilter: no rule can fire in a file that never spells `torch`; cheaper than hashing.
    if not mentions(data, "torch"):
        return FileResult(name)
    notebook = name.endswith(NOTEBOOK_SUFFIX)
    key = cache.key(data, job, notebook) if cache is not None else None
    if cache is not None and key is not None:
        entry = cache.get(key)
        if entry is not None and _reusable(entry, job):
            return _named(entry, name)
    # Notebooks are screened cell by cell in the second stage (`Program.build`).
    screened = None if notebook else _screen(data, name, job)
    if screened is None:
        return _Task(path, name, notebook, data, job, key)
    if cache is not None and key is not None:
        _store(cache, key, screened, job)
    return screened


def _screen(data: bytes, name: str, job: Job) -> FileResult | None:
    """The result of a Python file that cannot reach LibCST (undecodable, or no rule's words), else None."""
    try:
        source = decode(data)
    except DecodeError as error:
        return FileResult(name, errors=[FileError(name, error.message, error.location)])
    return None if could_match(source.text, job.settings.rules) else FileResult(name)


def _finish(task: _Task, result: FileResult, new_data: bytes | None, cache: ResultCache | None) -> FileResult:
    """Write what the second stage changed (when the job writes), and cache what may be reused."""
    if new_data is not None and task.job.mode.writes:
        try:
            write_atomic(task.path, new_data, expected=task.data)
        except OSError as error:
            changed = str(error.strerror) if isinstance(error, FileChangedError) else None
            result = _not_written(task, changed or f"cannot write: {error.strerror or error}")
        else:
            result.written = True
    if cache is not None and task.key is not None:
        # A written file is cached under its new content: what the next run reads.
        key = cache.key(new_data, task.job, task.notebook) if result.written and new_data else task.key
        if key is not None:
            _store(cache, key, result, task.job)
    return result


def _not_written(task: _Task, message: str) -> FileResult:
    """The result for a file whose fix could not be written: the findings of what it still holds."""
    result, _ = process_bytes(task.data, task.name, replace(task.job, mode=Mode.CHECK))
    result.errors.append(FileError(task.name, message))
    return result


def _store(cache: ResultCache, key: str, result: FileResult, job: Job) -> None:
    """Cache ``result`` under ``key`` when it is the check result of the file's content now on disk."""
    entry = _entry(result, job)
    if entry is not None:
        cache.put(key, entry)


def _entry(result: FileResult, job: Job) -> FileResult | None:
    """``result`` as the check result of the file's content now on disk, when it provably is that."""
    if result.internal_error or result.warnings or (result.changed and not result.written):
        return None
    if job.mode is not Mode.CHECK:
        # What fixing left (or what --add-noqa saw) is what `check` reports on the content now on disk
        # only when nothing more would be done to it.
        if job.mode is Mode.ADD_NOQA and result.changed:
            return None
        if not _reusable(result, job):
            return None
    return FileResult(
        "",
        diagnostics=list(result.diagnostics),
        errors=[replace(error, path="") for error in result.errors],
        lines=dict(result.lines),
    )


def _reusable(entry: FileResult, job: Job) -> bool:
    """Whether the check result ``entry`` is also what ``job`` gives: it would change nothing."""
    if job.mode is Mode.CHECK:
        return True
    if job.mode is Mode.ADD_NOQA:
        return not entry.diagnostics
    threshold = job.settings.threshold
    return all(diagnostic.fix_for(threshold) is None for diagnostic in entry.diagnostics)


def _named(entry: FileResult, name: str) -> FileResult:
    """A copy of the path-free ``entry`` for the file ``name``."""
    if not (entry.diagnostics or entry.errors or entry.warnings):
        # Most files of a large tree; `replace` costs more than the rest of a cache hit.
        return FileResult(name, lines=dict(entry.lines))
    return replace(
        entry,
        path=name,
        diagnostics=list(entry.diagnostics),
        errors=[replace(error, path=name) for error in entry.errors],
        lines=dict(entry.lines),
        warnings=[replace(warning, path=name) for warning in entry.warnings],
    )


def _second_stage(data: bytes, name: str, job: Job) -> tuple[FileResult, bytes | None]:
    """LibCST's part (in a worker, or here): the result and the new bytes, as :func:`process_bytes`."""
    return process_bytes(data, name, job)


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
        message = "cannot parse: source code cannot contain null bytes"
        result.errors.append(FileError(name, message, Location(row, column)))
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
        result.internal_error = True
        return result, None
    result.diagnostics = [d for d in diagnostics if not _is_internal(d)]
    result.errors.extend(
        FileError(name, f"{d.code} {d.message}", d.start) for d in diagnostics if _is_internal(d)
    )
    result.internal_error = len(result.diagnostics) < len(diagnostics)
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
    from varmigrate.engine.parsing import cpython_error

    broken = cpython_error(text)
    if broken is not None:
        # The engine checks every fix; this is the last line of defence: never write what Python rejects.
        result.fixed = result.noqa_added = 0
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
