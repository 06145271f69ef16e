"""Many files: read, run the engine (or the notebook layer), write; many files in two stages.

Path in, result out: what to do comes in a :class:`Job`, what was found and done goes back in a
:class:`FileResult`, plain picklable data that the output layer renders.

Many files go in two stages. The first runs in this process and reads each file once: the project
view (what imports between the files' own modules bind, ``project.py``), the byte prefilter, a cache
lookup, decoding and the text prefilter, which settle almost every file. Only the files that can hold a
finding reach the second stage, LibCST, and only when their bytes are worth it are they shared out over
worker processes. Nothing here imports LibCST, ``multiprocessing`` or ``concurrent.futures`` until a file
needs it, nor the project view until a file spells a word it follows (``screen.py``): a run that the first
stage settles starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

from varmigrate.engine.prefilter import could_match, forget_trees, settled_check, shaped_out
from varmigrate.model import Applicability, FileError
from varmigrate.pipeline.cache_entries import named, reusable, store
from varmigrate.pipeline.job import FileResult, Job, Mode, ResultCache
from varmigrate.pipeline.screen import project_view_needed, reaches_torch, without_torch
from varmigrate.sources.discovery import NOTEBOOK_SUFFIX, file_kind
from varmigrate.sources.io import DecodeError, FileChangedError, decode, read_regular, write_atomic

if TYPE_CHECKING:
    from multiprocessing.context import DefaultContext

    from varmigrate.pipeline.project import ProjectView
    from varmigrate.pipeline.task import Task
    from varmigrate.pipeline.workers import WorkerPool

# How long one file's analysis may take in a worker process before it is given up (``--timeout``).
DEFAULT_TIMEOUT = 60.0

# Imports LibCST with its node classes' methods compiled once per interpreter, not on every start: the
# second stage imports it before anything else that uses LibCST.
LIBCST = "varmigrate.pipeline.libcst_loader"


def process_file(path: Path, job: Job) -> FileResult:
    """Check (or fix) the file at ``path``. Pure apart from writing the fixed file: path in, result out.

    The file is looked at alone: what other modules of its project bind in it is not known here
    (:func:`prepare` works that out for many files).
    """
    data = _read(path)
    slot = data if isinstance(data, FileResult) else _first_stage(path, job, None, data)
    if isinstance(slot, FileResult):
        return slot
    return _finish(slot, *_second_stage(slot.data, slot.name, job), None)


# -- many files --------------------------------------------------------------------------------------

# Below this much source in the second stage, sharing it out costs more than it saves. LibCST takes about
# 2 CPU s/MB to parse and 20-60 s/MB with the scope analysis candidates get, so 32 kB is 0.5-2 s of work,
# against about 10 ms of CPU for a worker forked from this process. A spawned worker (or the fork server)
# imports LibCST first, about a second of CPU each: there the work must be worth several seconds. Where
# this process forks, one worker is always used, whatever the bytes: a file that crashes the analysis or
# runs past the time limit then costs only its own result.
POOL_THRESHOLD_BYTES = {"fork": 32 * 1024, "forkserver": 256 * 1024, "spawn": 256 * 1024}
# The largest file CPython parses in this process to look for the shapes of findings (about 0.25 s and
# 100 MB a MB): a larger one goes to the second stage, whose analysis looks the same way, in a worker,
# within the time limit.
SHAPES_HERE_BYTES = 1024 * 1024
# How many objects the garbage collector lets the youngest generation grow to while a run works (CPython's
# default is 700). Nearly everything a run builds lives until its file is done or the run ends: the
# classes and tables of LibCST's import, some 100,000 objects, and a tree of about as many nodes per 100 kB
# of source. At the default, the older generations' collections traverse them again and again, to free
# next to nothing: a tenth of a check of fairseq's sdist, a quarter of the analysis of a 1.4 MB module. At
# this size a check of a small project collects nothing, and what a cycle leaves waits for at most this
# many objects more (a few MB).
YOUNG_OBJECTS = 200_000


class Batch:
    """Files after the first stage, in order: results already known, and tasks for the second stage.

    Iterating gives every file's result, in the order the files were given; the second stage runs as
    the iteration reaches it, in this process or in the worker pool :meth:`start` set up.

    A module whose import of torch's `Variable` only files of this run use (``pending``, from the project
    view) waits for them: the import goes if none of them uses the name once fixed.
    """

    def __init__(
        self,
        slots: list[FileResult | Task],
        cache: ResultCache | None,
        pending: dict[str, dict[str, frozenset[str]]] | None = None,
        settled: dict[str, bytes] | None = None,
    ) -> None:
        self.slots = slots
        self.cache = cache
        self.tasks = [slot for slot in slots if not isinstance(slot, FileResult) and slot.same_as is None]
        self._pool: WorkerPool[int, tuple[FileResult, bytes | None]] | None = None
        self._by_name = {task.name: task for task in self.tasks}
        # Only modules still waiting for files that are to be analysed (a file the first stage settled
        # stays as it was).
        self._pending = {name: users for name, users in (pending or {}).items() if name in self._by_name}
        # The bytes of files the first stage settled that a pending module waits for.
        self._settled = settled or {}
        self._submitted: set[int] = set()
        # The task whose result is being written, and the bytes it writes (see `written`).
        self._writing: tuple[Task, bytes | None] | None = None

    @property
    def written(self) -> int:
        """How many files this run has written so far, whenever it is asked (a signal's handler included).

        A file whose result is not recorded yet may have been written already (the rename done, the
        signal arriving before the next statement): its bytes on disk say whether it was.
        """
        count = sum(1 for task in self.tasks if task.result is not None and task.result.written)
        if self._writing is not None:
            task, data = self._writing
            if task.result is None and data is not None and task.job.mode.writes:
                with contextlib.suppress(OSError):
                    count += task.path.read_bytes() == data
        return count

    @property
    def pending(self) -> int:
        """How many files the second stage still has to analyse."""
        return len(self.tasks)

    @property
    def pending_bytes(self) -> int:
        """The size of those files."""
        return sum(len(task.data) for task in self.tasks)

    def start(self, pool: WorkerPool[int, tuple[FileResult, bytes | None]]) -> None:
        """Hand every task to ``pool``, the largest first (a large file last would keep one worker busy)."""
        self._pool = pool
        # A pending module is handed out when its users are done.
        ready = [task for task in self.tasks if task.name not in self._pending]
        for task in sorted(ready, key=lambda task: len(task.data), reverse=True):
            self._submit(task)

    def _submit(self, task: Task) -> None:
        assert self._pool is not None
        self._pool.submit(id(task), task.data, task.name, task.job)
        self._submitted.add(id(task))

    def __iter__(self) -> Iterator[FileResult]:
        for slot in self.slots:
            if isinstance(slot, FileResult):
                yield slot
            elif slot.same_as is not None:
                assert slot.same_as.result is not None, "a duplicate comes after the file it copies"
                yield named(slot.same_as.result, slot.name)
            else:
                yield self._result(slot)

    def _result(self, task: Task) -> FileResult:
        """``task``'s result, computed (and written) on first use: a pending module asks for its users'."""
        if task.result is None:
            users = self._pending.pop(task.name, None)
            if users is not None:
                task.job = self._decided(task.job, users)
            result, new_data = self._second_stage(task)
            # A signal may end the run anywhere from here on: `written` then asks the disk about it.
            self._writing = (task, new_data)
            task.result = _finish(task, result, new_data, self.cache)
            shown = task.result.written or (task.job.mode is Mode.DIFF and task.result.changed)
            task.final = new_data if new_data is not None and shown else task.data
        return task.result

    def _decided(self, job: Job, users: dict[str, frozenset[str]]) -> Job:
        """``job`` without the kept names that no file of the run spells any more, once fixed."""
        unused = [name for name, files in users.items() if not any(self._uses(file, name) for file in files)]
        if not unused:
            return job
        from varmigrate.pipeline.project import without_names

        project = without_names(job.settings.project, unused)
        return job._replace(settings=job.settings._replace(project=project))

    def _uses(self, name: str, word: str) -> bool:
        """Whether the file ``name`` may still use ``word`` once the run is done with it."""
        from varmigrate.pipeline.import_scan import still_uses

        task = self._by_name.get(name)
        if task is None:
            return name not in self._settled or still_uses(Path(name), self._settled[name], word)
        if task.result is None and task.name in self._pending:
            return True  # itself waiting: its import of the name may go, or not
        self._result(task)
        return task.final is None or still_uses(task.path, task.final, word)

    def _second_stage(self, task: Task) -> tuple[FileResult, bytes | None]:
        if self._pool is None:
            return _second_stage(task.data, task.name, task.job)
        from varmigrate.pipeline.workers import WorkerFailure

        if id(task) not in self._submitted:
            self._submit(task)
        outcome = self._pool.result(id(task))
        if isinstance(outcome, WorkerFailure):
            # Never cached: a crash or a timeout says nothing about the file that the next run may reuse.
            message = f"cannot analyse: {outcome.message}"
            return FileResult(task.name, errors=[FileError(task.name, message)], internal_error=True), None
        return outcome


def prepare(items: Iterable[tuple[Path, Job]], cache: ResultCache | None = None) -> Batch:
    """Run the first stage on ``(path, job)`` items, reading each file once.

    The files are read first, and the project view of all of them tells each file what imports of the
    others bind in it (its job's settings carry that to the engine).
    """
    forget_trees()
    read = [(path, job, _read(path)) for path, job in items]
    view = _view(read)
    waiting_for = view.pending if view is not None else {}
    users = {str(user) for waiting in waiting_for.values() for files in waiting.values() for user in files}
    slots: list[FileResult | Task] = []
    settled: dict[str, bytes] = {}
    first_of: dict[str, Task] = {}
    for path, job, data in read:
        if isinstance(data, FileResult):
            slots.append(data)
            continue
        facts = view.settings_for(path) if view is not None else None
        if facts is not None:
            job = job._replace(settings=job.settings.in_project(facts))
        slot = _first_stage(path, job, cache, data)
        if not isinstance(slot, FileResult) and slot.key is not None and job.mode is Mode.CHECK:
            # The same bytes under the same settings: checked once (a copied tree, vendored files).
            slot.same_as = first_of.setdefault(slot.key, slot)
            if slot.same_as is slot:
                slot.same_as = None
        elif isinstance(slot, FileResult) and slot.path in users:
            settled[slot.path] = data
        slots.append(slot)
    pending = {
        str(path): {name: frozenset(map(str, files)) for name, files in waiting.items()}
        for path, waiting in waiting_for.items()
    }
    return Batch(slots, cache, pending, settled)


def _view(read: list[tuple[Path, Job, bytes | FileResult]]) -> ProjectView | None:
    """The project view of the files read (which imports other modules need: only when fixing); None when
    it would be empty, so that a run no file of which spells the words it follows never loads it."""
    files = {path: data for path, _, data in read if not isinstance(data, FileResult)}
    fixes = any(job.mode.fixes for _, job, _ in read)
    if not project_view_needed(files, fixes=fixes):
        return None
    from varmigrate.pipeline.project import project_view

    return project_view(files, fixes=fixes)


@contextlib.contextmanager
def processing(
    items: Iterable[tuple[Path, Job]],
    *,
    workers: int = 1,
    cache: ResultCache | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Iterator[Batch]:
    """The first stage on ``items``, then worker processes for the second; yields the Batch.

    ``workers`` bounds the number of worker processes (0: analyse in this process, with no isolation
    and no time limit); ``timeout`` bounds each file's analysis in a worker (None: no limit). Leaving
    the block, normally or by an exception (Ctrl-C), ends every worker.

    Enter it before starting any thread (a progress bar's): the pool forks this process where the
    platform allows, and a fork must not copy a lock that another thread holds.
    """
    with fewer_collections():
        try:
            batch = prepare(items, cache)
            if not batch.pending:
                # Nothing for LibCST: no pool to size (nor `threading` to import to choose how to start one).
                yield batch
                return
            method = _start_method()
            size = pool_size(batch, workers, method)
            if not size:
                # The second stage runs here, and takes each kept tree as it parses the file.
                yield batch
                return
            if method != "fork":
                forget_trees()
            with _start_pool(size, method, timeout, _layers(batch, size)) as pool:
                with _frozen_heap(method == "fork"):
                    pool.start()
                # The forks have their copies.
                forget_trees()
                batch.start(pool)
                yield batch
        finally:
            if cache is not None:
                # What the cache keeps back to write at once (the names of clean files).
                cache.flush()


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """While a run works: the garbage collector's youngest generation let grow to `YOUNG_OBJECTS`.

    Forked workers inherit it; the second stage asks for it too (a worker started otherwise, or a single
    file). A collector disabled by a zero threshold, or set to collect less often still, is left as it is.
    """
    before = gc.get_threshold()
    if not before[0] or before[0] >= YOUNG_OBJECTS:
        yield
        return
    gc.set_threshold(YOUNG_OBJECTS, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


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
    items: Iterable[tuple[Path, Job]],
    workers: int = 1,
    cache: ResultCache | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Iterator[FileResult]:
    """Results for ``(path, job)`` items, in order; the second stage runs in up to ``workers`` processes."""
    with processing(items, workers=workers, cache=cache, timeout=timeout) as batch:
        yield from batch


def pool_size(batch: Batch, workers: int, method: str) -> int:
    """How many worker processes the second stage of ``batch`` is worth (0: none, stay in this process).

    Sized by the bytes that reached the second stage: every worker gets at least the threshold's worth.
    Where this process forks, any second stage gets one worker, for isolation.
    """
    size = min(workers, batch.pending, batch.pending_bytes // POOL_THRESHOLD_BYTES[method])
    if method == "fork" and workers and batch.pending:
        return max(size, 1)
    return size if size > 1 else 0


def _start_method() -> str:
    """``fork`` where it is safe and cheap (Linux, no thread started yet), else ``forkserver`` or ``spawn``.

    macOS can fork, but its system libraries are not fork-safe (Python defaults to spawn there).
    """
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn" if sys.platform == "win32" else "forkserver"


def _layers(batch: Batch, workers: int) -> list[str]:
    """The modules the second stage of ``batch`` loads: LibCST (first, through its loader), the one-file
    pipeline, the engine's analysis (and fixer), LibCST's native parser, and the notebook and document
    layers only for notebooks, documents and modules with doctest examples. For more than one worker,
    the selected rules too: each worker would otherwise import those its files need (about 40 ms for
    the default rules)."""
    modules = [LIBCST, "varmigrate.pipeline.single", "varmigrate.engine.analysis", "libcst.native"]
    if any(task.job.mode.fixes for task in batch.tasks):
        modules.append("varmigrate.engine.fixer")
    if any(task.kind != ".py" or b">>>" in task.data for task in batch.tasks):
        modules += ["varmigrate.notebook", "varmigrate.documents"]
    if workers > 1:
        modules += sorted({rule.module for task in batch.tasks for rule in task.job.settings.rules})
    return modules


def _start_pool(
    workers: int, method: str, timeout: float | None, modules: list[str]
) -> WorkerPool[int, tuple[FileResult, bytes | None]]:
    """A pool of ``workers`` processes started by ``method``, each file's analysis bounded by ``timeout``.

    ``modules`` are loaded before forking, so that the workers share one copy instead of each importing
    LibCST (about a second of CPU); the fork server loads them once for all the workers it forks.
    """
    _load(("varmigrate.pipeline.workers", *(modules if method == "fork" else ())))
    from varmigrate.pipeline.workers import WorkerPool

    if method == "fork":
        return WorkerPool(None, workers, _second_stage, timeout)
    import functools
    import multiprocessing

    context = cast("DefaultContext", multiprocessing.get_context(method))
    if method == "forkserver":
        context.set_forkserver_preload([__name__, "varmigrate.pipeline.workers", *modules])
    # A spawned worker loads them before its first task's time starts.
    return WorkerPool(context, workers, _second_stage, timeout, functools.partial(_load, tuple(modules)))


def _load(modules: tuple[str, ...]) -> None:
    """Import ``modules``, their dataclasses' code compiled once: in this process before it forks the
    workers, or in a worker started otherwise, before it takes a task."""
    from varmigrate.pipeline.kept_code import compiled_once

    with compiled_once():
        for module in modules:
            importlib.import_module(module)


def _read(path: Path) -> bytes | FileResult:
    """The bytes of ``path``, or the result of a file that cannot be read."""
    try:
        return read_regular(path)
    except OSError as error:
        name = str(path)
        return FileResult(name, errors=[FileError(name, f"cannot read: {error.strerror or error}")])


def _first_stage(path: Path, job: Job, cache: ResultCache | None, data: bytes) -> FileResult | Task:
    """Settle the file at ``path`` (bytes ``data``) without LibCST if possible: the result, else a task."""
    name = str(path)
    # Cheapest prefilter: no rule can fire in a file torch does not reach; cheaper than hashing.
    if not reaches_torch(data, job):
        return without_torch(data, name)
    kind = file_kind(name)
    key = cache.key(data, job, kind) if cache is not None else None
    if cache is not None and key is not None:
        entry = cache.get(key)
        if entry is not None and reusable(entry, job):
            return named(entry, name)
    # Notebooks are screened cell by cell in the second stage (`Program.build`).
    screened = None if kind == NOTEBOOK_SUFFIX else _screen(data, name, job, kind)
    if screened is None:
        from varmigrate.pipeline.task import Task

        return Task(path, name, kind, data, job, key)
    if cache is not None and key is not None:
        store(cache, key, screened, job)
    return screened


def _screen(data: bytes, name: str, job: Job, kind: str) -> FileResult | None:
    """The result of a file that cannot reach LibCST (undecodable, no rule's words, in a module none of
    the shapes of the findings its words could be, or checked and its findings settled by CPython's
    parse), else None (and CPython's parse of it, when it took one, kept for the second stage:
    `keep_tree`)."""
    try:
        source = decode(data)
    except DecodeError as error:
        return FileResult(name, errors=[FileError(name, error.message, error.location)])
    rules = job.settings.rules
    # Doctest examples are in strings, and code to us.
    if not could_match(source.text, rules, examples=True):
        return FileResult(name)
    # A module whose only candidates are, say, a dataset's `self.data[0]`: CPython's parse tells,
    # and when every file of a run is such, LibCST is never imported.
    here = kind == ".py" and len(data) <= SHAPES_HERE_BYTES
    if not here:
        return None
    if shaped_out(source.text, rules, keep=True):
        return FileResult(name)
    # Findings CPython's parse settles (a module's plain `loss.data[0]`) need no LibCST, nor a worker.
    settled = settled_check(source.text, rules) if _settles(job) else None
    if settled is None:
        return None
    from varmigrate.pipeline.single import settled_result

    result = settled_result(data, source, name, job, settled)
    # A fix that applies none of their fixes gives what the check gives (as a cache entry is reused).
    return result if reusable(result, job) else None


def _settles(job: Job) -> bool:
    """Whether a file of ``job`` may be settled in the first stage: a check, or a fix that would apply
    none of the fixes of the findings CPython's parse settles (VM201's `.item()`, unsafe, and not one a
    run of the program verified)."""
    if job.mode is Mode.CHECK:
        return True
    settings = job.settings
    return job.mode.fixes and not settings.verified and settings.threshold > Applicability.UNSAFE


def _finish(task: Task, result: FileResult, new_data: bytes | None, cache: ResultCache | None) -> FileResult:
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
        key = cache.key(new_data, task.job, task.kind) if result.written and new_data else task.key
        if key is not None:
            store(cache, key, result, task.job)
    return result


def _not_written(task: Task, message: str) -> FileResult:
    """The result for a file whose fix could not be written: the findings of what it still holds."""
    from varmigrate.pipeline.single import process_bytes

    result, _ = process_bytes(task.data, task.name, task.job._replace(mode=Mode.CHECK))
    result.errors.append(FileError(task.name, message))
    return result


def _second_stage(data: bytes, name: str, job: Job) -> tuple[FileResult, bytes | None]:
    """LibCST's part (in a worker, or here): the result and the new bytes, as `single.process_bytes`."""
    from varmigrate.pipeline.kept_code import compiled_once

    # What the analysis imports as it goes (a rule's module) keeps its dataclasses' code too.
    with compiled_once(), fewer_collections():
        importlib.import_module(LIBCST)
        from varmigrate.pipeline.single import process_bytes

        return process_bytes(data, name, job)
