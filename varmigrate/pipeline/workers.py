"""Worker processes for the second stage: one file at a time each, so one file can never stop the others.

Each worker is handed one task, answers with its result, and waits for the next. The parent always
knows which file a worker holds and since when, so a worker that dies (a crash in native code, the
out-of-memory killer) or runs past the time limit costs that file alone: the file gets an error, the
worker is replaced, and the rest of the run goes on. Workers never write files (the parent does), and
they end with the parent: on Linux the kernel kills them when it dies, elsewhere they leave as soon as
their pipe to it closes.

Where this process forks (Linux), the workers are made with ``os.fork`` and talk over plain pipes:
``multiprocessing`` and what it imports (sockets, temporary files, ``random``) cost about 20 ms of CPU per
run. Elsewhere they come from a ``multiprocessing`` context (a fork server, or spawned).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import DefaultContext
    from multiprocessing.process import BaseProcess

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")

# Linux's prctl(2) option that sends the given signal to a process when its parent thread ends.
_PR_SET_PDEATHSIG = 1
# What a worker started by a `multiprocessing` context sends once it is up (its modules loaded): the time
# limit of its first task starts then, not while Python starts and imports LibCST.
_READY = "ready"
# How long a worker may take to say so, beyond the time limit (a machine under load, a cold disk).
START_ALLOWANCE = 60.0


@dataclass(frozen=True)
class WorkerFailure:
    """What became of a task whose worker did not answer: ``message`` says why."""

    message: str


@dataclass(eq=False)
class _Worker:
    process: BaseProcess | _Fork
    connection: Connection | _Channel
    task: Any = None
    # When its task's time started: when handed out to a ready worker, else when the worker said it is.
    started: float = 0.0
    # A fork is ready at once; a worker started by a context once it says so (`_READY`).
    ready: bool = True
    spawned: float = 0.0


class WorkerPool(Generic[Key, Result]):
    """Up to ``size`` processes started by ``context`` that run ``work(*arguments)`` for each task.

    ``context`` None: forks of this process (Linux only). ``work`` must be picklable (a module-level
    function) unless the processes are forks. ``timeout`` (seconds, None: no limit) bounds each task,
    not a worker's start: a worker started by ``context`` first runs ``prepare`` (picklable too: what
    every task needs loaded) and says it is ready, and its first task's time starts then (a start that
    takes `START_ALLOWANCE` beyond the limit costs that task). Use as a context manager: leaving it ends
    every worker.
    """

    def __init__(
        self,
        context: DefaultContext | None,
        size: int,
        work: Callable[..., Result],
        timeout: float | None = None,
        prepare: Callable[[], object] | None = None,
    ) -> None:
        self._context = context
        self._size = size
        self._work = work
        self._timeout = timeout
        self._prepare = prepare
        self._queue: deque[Key] = deque()
        self._arguments: dict[Key, tuple[Any, ...]] = {}
        self._results: dict[Key, Result | WorkerFailure] = {}
        self._workers: list[_Worker] = []

    def __enter__(self) -> WorkerPool[Key, Result]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start every worker now (a forking context copies this process as it is at this moment)."""
        while len(self._workers) < self._size:
            self._workers.append(self._spawn())

    def submit(self, key: Key, *arguments: Any) -> None:
        """Queue ``work(*arguments)`` under ``key``; tasks are handed out in the order submitted."""
        self._queue.append(key)
        self._arguments[key] = arguments

    def result(self, key: Key) -> Result | WorkerFailure:
        """The result of the task ``key`` (waiting for it), or the :class:`WorkerFailure` it ended in."""
        while key not in self._results:
            self._step()
        return self._results.pop(key)

    def close(self) -> None:
        """End every worker at once (they hold no file open for writing: killing them loses nothing)."""
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in self._workers:
            worker.process.join()
            worker.connection.close()
        self._workers.clear()

    # -- the loop ----------------------------------------------------------------------------------------

    def _step(self) -> None:
        """Hand out queued tasks, then wait for one worker to answer, die, run out of time or say it is up."""
        self._hand_out()
        busy = [worker for worker in self._workers if worker.task is not None]
        if not busy:
            raise RuntimeError("waiting for a result that no worker is computing")
        watched = [worker for worker in self._workers if worker.task is not None or not worker.ready]
        waited = None
        if self._timeout is not None:
            waited = max(0.0, min(map(self._deadline, busy)) - time.monotonic())
        objects = [w.connection for w in watched] + [w.process.sentinel for w in watched]
        ready = set(self._wait(objects, waited))
        now = time.monotonic()
        for worker in watched:
            if worker.connection in ready:
                try:
                    answer = worker.connection.recv()
                except (EOFError, OSError):
                    self._lose(worker, self._death(worker))
                    continue
                if not worker.ready:
                    worker.ready, worker.started = True, now
                elif worker.task is not None:
                    self._results[worker.task] = answer
                    worker.task = None
            elif worker.process.sentinel in ready:
                self._lose(worker, self._death(worker))
            elif worker.task is not None and self._timeout is not None and now >= self._deadline(worker):
                self._lose(worker, f"timed out after {self._timeout:g} s (--timeout)")

    def _deadline(self, worker: _Worker) -> float:
        """When ``worker``'s task runs out of time (a worker not up yet has its start allowance too)."""
        assert self._timeout is not None
        if worker.ready:
            return worker.started + self._timeout
        return worker.spawned + START_ALLOWANCE + self._timeout

    def _hand_out(self) -> None:
        """Give queued tasks to idle workers, starting workers (up to the size) while tasks wait."""
        idle = sum(worker.task is None for worker in self._workers)
        while len(self._queue) > idle and len(self._workers) < self._size:
            self._workers.append(self._spawn())
            idle += 1
        for worker in self._workers:
            if not self._queue:
                return
            if worker.task is None:
                key = self._queue.popleft()
                worker.task, worker.started = key, time.monotonic()
                worker.connection.send(self._arguments.pop(key))

    def _lose(self, worker: _Worker, why: str) -> None:
        """Give up on ``worker``: its task, if any, ends in a failure saying ``why``; a new worker takes its
        place when a task needs one."""
        if worker.task is not None:
            self._results[worker.task] = WorkerFailure(why)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.connection.close()
        self._workers.remove(worker)

    def _death(self, worker: _Worker) -> str:
        worker.process.join()
        code = worker.process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the analysis crashed (worker killed by {name})"
        return f"the analysis crashed (worker exited with status {code})"

    def _wait(self, objects: list[Any], timeout: float | None) -> list[Any]:
        """Those of ``objects`` (connections, sentinels) ready to read, waiting ``timeout`` at most."""
        if self._context is not None:
            from multiprocessing.connection import wait

            return wait(objects, timeout)
        return _wait(objects, timeout)

    def _spawn(self) -> _Worker:
        if self._context is None:
            inherited = [fd for worker in self._workers for fd in cast("_Channel", worker.connection).fds]
            fork, channel = _fork(self._work, inherited)
            return _Worker(fork, channel)
        parent_end, child_end = self._context.Pipe(duplex=True)
        # A fork server's workers are its children, not this process's.
        parent = None if self._context.get_start_method() == "forkserver" else os.getpid()
        process = self._context.Process(
            target=_serve, args=(child_end, self._work, parent, self._prepare, True), daemon=True
        )
        process.start()
        child_end.close()
        return _Worker(process, parent_end, ready=False, spawned=time.monotonic())


def _serve(
    connection: Connection | _Channel,
    work: Callable[..., Any],
    parent: int | None,
    prepare: Callable[[], object] | None = None,
    announce: bool = False,
) -> None:
    """A worker's life: take a task, send its result, until the parent goes away. With ``announce`` (a
    worker started by a context), ``prepare`` runs and the worker says it is up first."""
    _die_with(parent)
    # Ctrl-C reaches the whole process group; the parent decides what an interruption means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if announce:
        if prepare is not None:
            prepare()
        connection.send(_READY)
    while True:
        try:
            arguments = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer = work(*arguments)
        except Exception as error:  # `work` reports its own errors; this is the last line of defence
            answer = WorkerFailure(f"internal error: {type(error).__name__}: {error}")
        connection.send(answer)


def _die_with(parent: int | None) -> None:
    """Have the kernel kill this process when its parent ends (Linux); elsewhere the closed pipe tells.

    ``parent``: the process that started this one, when it is its parent (not a fork server's child).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            return
    # The parent may have ended before the request was made.
    if parent is not None and os.getppid() != parent:
        os._exit(0)


# -- forks of this process ---------------------------------------------------------------------------


class _Channel:
    """Objects both ways between a worker and this process, pickled, over two pipes: each message is its
    length (8 bytes, big-endian) and then its bytes. The end of the worker's pipe reads as EOFError."""

    def __init__(self, reading: int, writing: int) -> None:
        self.fds: tuple[int, ...] = (reading, writing)

    def fileno(self) -> int:
        return self.fds[0]

    def send(self, value: Any) -> None:
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        view = memoryview(len(data).to_bytes(8, "big") + data)
        while view:
            view = view[os.write(self.fds[1], view) :]

    def recv(self) -> Any:
        return pickle.loads(self._read(int.from_bytes(self._read(8), "big")))

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self.fds[0], min(size, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Close both pipes, once: by a second time, the numbers may be other files'."""
        fds, self.fds = self.fds, ()
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


class _Fork:
    """A worker made by ``os.fork``: as much of ``multiprocessing.Process`` as the pool uses. Its
    sentinel is its channel, whose pipe from the worker ends when the worker does."""

    def __init__(self, pid: int, sentinel: _Channel) -> None:
        self.pid = pid
        self.sentinel = sentinel
        self.exitcode: int | None = None  # as `multiprocessing` says it: -N for signal N

    def is_alive(self) -> bool:
        if self.exitcode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exitcode = os.waitstatus_to_exitcode(status)
        return self.exitcode is None

    def kill(self) -> None:
        if self.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def join(self) -> None:
        if self.exitcode is None:
            _, status = os.waitpid(self.pid, 0)
            self.exitcode = os.waitstatus_to_exitcode(status)


def _fork(work: Callable[..., Any], inherited: list[int]) -> tuple[_Fork, _Channel]:
    """A worker forked from this process, serving ``work``, and this process's end of its channel.

    The worker closes ``inherited`` (the other workers' pipes), so each pipe has one worker at its end.
    """
    parent = os.getpid()
    tasks, to_worker = os.pipe()
    from_worker, answers = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # what is buffered is written once, by this process
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid == 0:  # the worker: never returns
        code = 1
        try:
            for fd in (to_worker, from_worker, *inherited):
                os.close(fd)
            _serve(_Channel(tasks, answers), work, parent)
            code = 0
        except BaseException:  # the parent reports the exit status; the traceback says why
            with contextlib.suppress(BaseException):
                import traceback

                traceback.print_exc()
        finally:
            os._exit(code)
    os.close(tasks)
    os.close(answers)
    channel = _Channel(from_worker, to_worker)
    return _Fork(pid, channel), channel


def _wait(objects: list[Any], timeout: float | None) -> list[Any]:
    """Those of ``objects`` whose file descriptor has something to read (or its end), waiting ``timeout``
    seconds at most (None: no limit)."""
    import select

    poller = select.poll()
    by_fd: dict[int, list[Any]] = {}
    for item in objects:
        by_fd.setdefault(item.fileno(), []).append(item)
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    events = poller.poll(None if timeout is None else timeout * 1000)
    return [item for fd, _ in events for item in by_fd[fd]]


__all__ = ["WorkerFailure", "WorkerPool"]
