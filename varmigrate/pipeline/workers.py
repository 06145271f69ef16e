"""Worker processes for the second stage: one file at a time each, so one file can never stop the others.

Each worker is handed one task, answers with its result, and waits for the next. The parent always
knows which file a worker holds and since when, so a worker that dies (a crash in native code, the
out-of-memory killer) or runs past the time limit costs that file alone: the file gets an error, the
worker is replaced, and the rest of the run goes on. Workers never write files (the parent does), and
they end with the parent: on Linux the kernel kills them when it dies, elsewhere they leave as soon as
their pipe to it closes.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import DefaultContext
    from multiprocessing.process import BaseProcess

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")

# Linux's prctl(2) option that sends the given signal to a process when its parent thread ends.
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerFailure:
    """What became of a task whose worker did not answer: ``message`` says why."""

    message: str


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    connection: Connection
    task: Any = None
    started: float = 0.0


class WorkerPool(Generic[Key, Result]):
    """Up to ``size`` processes started by ``context`` that run ``work(*arguments)`` for each task.

    ``work`` must be picklable (a module-level function) unless the context forks. ``timeout``
    (seconds, None: no limit) bounds each task. Use as a context manager: leaving it ends every worker.
    """

    def __init__(
        self,
        context: DefaultContext,
        size: int,
        work: Callable[..., Result],
        timeout: float | None = None,
    ) -> None:
        self._context = context
        self._size = size
        self._work = work
        self._timeout = timeout
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
        """Hand out queued tasks, then wait for one worker to answer, die or run out of time."""
        from multiprocessing.connection import wait

        self._hand_out()
        busy = [worker for worker in self._workers if worker.task is not None]
        if not busy:
            raise RuntimeError("waiting for a result that no worker is computing")
        waited = None
        if self._timeout is not None:
            deadline = min(worker.started for worker in busy) + self._timeout
            waited = max(0.0, deadline - time.monotonic())
        ready = set(wait([w.connection for w in busy] + [w.process.sentinel for w in busy], waited))
        now = time.monotonic()
        for worker in busy:
            if worker.connection in ready:
                try:
                    answer = worker.connection.recv()
                except (EOFError, OSError):
                    self._lose(worker, self._death(worker))
                else:
                    self._results[worker.task] = answer
                    worker.task = None
            elif worker.process.sentinel in ready:
                self._lose(worker, self._death(worker))
            elif self._timeout is not None and now - worker.started >= self._timeout:
                self._lose(worker, f"timed out after {self._timeout:g} s (--timeout)")

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
        """Give up on ``worker``: its task ends in a failure saying ``why``; a new worker takes its place."""
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

    def _spawn(self) -> _Worker:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(child_end, self._work, os.getpid()), daemon=True)
        process.start()
        child_end.close()
        return _Worker(process, parent_end)


def _serve(connection: Connection, work: Callable[..., Any], parent: int) -> None:
    """A worker's life: take a task, send its result, until the parent goes away."""
    _die_with(parent)
    # Ctrl-C reaches the whole process group; the parent decides what an interruption means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
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


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` ends (Linux); elsewhere the closed pipe tells."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            return
    # The parent may have ended before the request was made.
    if os.getppid() != parent:
        os._exit(0)


__all__ = ["WorkerFailure", "WorkerPool"]
