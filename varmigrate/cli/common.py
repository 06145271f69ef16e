"""What the subcommands share: argument types and the handling of SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator


def positive_int(value: str) -> int:
    """An argument that is a whole number of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def seconds(value: str) -> float:
    """An argument that is a duration in seconds, 0 or more."""
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return number


def time_limit(given: float | None, default: float) -> float | None:
    """A time limit: ``--timeout`` if given (0: none), else the default."""
    if given is None:
        return default
    return given or None


class Terminated(BaseException):
    """SIGTERM arrived: unwind, so that worker processes and temporary files are cleaned up."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (as Ctrl-C raises KeyboardInterrupt).

    Signal handlers can only be set in the main thread: elsewhere (an API caller's thread) SIGTERM
    keeps its handler. `signal.signal` says which thread this is (`threading` would cost every run the
    import).
    """
    import signal

    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        in_main_thread = False
    else:
        in_main_thread = True
    if not in_main_thread:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# The exit codes of a run ended by Ctrl-C (SIGINT) or SIGTERM, as shells report them: 128 + signal.
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "Terminated",
    "positive_int",
    "seconds",
    "sigterm_unwinds",
    "time_limit",
]
