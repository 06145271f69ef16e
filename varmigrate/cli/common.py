"""What the subcommands share: argument types and the handling of SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any


def _columns() -> int:
    """The terminal's width as `shutil.get_terminal_size` gives it: COLUMNS, else stdout's, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return columns


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, sized without importing shutil.

    argparse makes a formatter for every argument it adds, and its own asks shutil for the width:
    importing shutil (and the compression modules it brings) is a few milliseconds of every run.
    """

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ) -> None:
        width = _columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class RawDescriptionHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """argparse's formatter that keeps the lines of the description and epilog, sized as ours."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with :class:`HelpFormatter` unless told otherwise; its subcommands' parsers too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


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
    try:  # The C module under `signal`: the same functions, without the enums `signal` builds (1 ms).
        import _signal as signal  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - a Python without it
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
