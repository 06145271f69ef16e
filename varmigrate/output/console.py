"""Where the command line writes: streams that make a rich console only when something styled is printed.

rich costs about 40 ms to import; a clean run prints one plain line, so a :class:`Stream` writes plain
lines straight to its file until the first styled output needs a console.
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


# Environment variables by which rich calls a stream a terminal (or not) whatever it is.
_TERMINAL_OVERRIDES = ("FORCE_COLOR", "TTY_COMPATIBLE")


def make_console(
    *, stderr: bool = False, no_color: bool = False, file: IO[str] | None = None, markup: bool = False
) -> Console:
    """A rich console that prints text as given: no emoji, highlighting or wrapping, and no markup unless
    ``markup``; no colours with ``no_color`` or NO_COLOR."""
    from rich.console import Console

    plain = no_color or bool(os.environ.get("NO_COLOR"))
    return Console(
        file=file,
        stderr=stderr,
        color_system=None if plain else "auto",
        highlight=False,
        markup=markup,
        emoji=False,
        soft_wrap=True,
    )


def shown_path(path: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None) -> str:
    """``path`` as the command line shows it, normalised (no ``./``, no ``a/../``): a relative path stays
    relative; an absolute one is made relative to ``cwd`` (default: the working directory) when inside it."""
    normal = os.path.normpath(path)
    if os.path.isabs(normal):
        base = os.path.abspath(cwd or os.getcwd())
        if normal != base and not normal.startswith(base.rstrip(os.sep) + os.sep):
            return normal
        normal = os.path.relpath(normal, base)
    return normal.replace(os.sep, "/")


class Stream:
    """An output stream (stdout, stderr or a file) with a rich console over it, made on first use."""

    def __init__(self, *, stderr: bool = False, no_color: bool = False, file: IO[str] | None = None) -> None:
        self._stderr = stderr
        self._no_color = no_color
        self._file = file
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The rich console over this stream (imports rich the first time)."""
        if self._console is None:
            self._console = make_console(stderr=self._stderr, no_color=self._no_color, file=self._file)
        return self._console

    @property
    def file(self) -> IO[str]:
        """The text stream written to (for stdout and stderr: the current ``sys`` stream, as rich does)."""
        if self._file is not None:
            return self._file
        return sys.stderr if self._stderr else sys.stdout

    @property
    def is_terminal(self) -> bool:
        """Whether rich would treat the stream as a terminal (FORCE_COLOR included)."""
        if self._console is None and not any(name in os.environ for name in _TERMINAL_OVERRIDES):
            # What rich decides without those variables: a stream that is not a TTY is not a terminal.
            isatty = getattr(self.file, "isatty", None)
            try:
                if isatty is None or not isatty():
                    return False
            except ValueError:  # closed
                return False
        return self.console.is_terminal

    @property
    def color_system(self) -> str | None:
        """rich's colour system for the stream, None without colours."""
        return self.console.color_system

    def print(self, *objects: Any, **options: Any) -> None:
        """Print styled output (rich renderables) through the console."""
        self.console.print(*objects, **options)

    def out(self, text: str, *, highlight: bool = False) -> None:
        """Print ``text`` and a newline as it is: no styling, wrapping or highlighting."""
        if self._console is None:
            self.file.write(text + "\n")
        else:
            self._console.out(text, highlight=highlight)


def rich_console(target: Stream | Console) -> Console:
    """The rich console behind ``target``."""
    return target.console if isinstance(target, Stream) else target


def print_error(console: Stream | Console, message: str) -> None:
    """Print ``error: message`` to ``console``."""
    from rich.text import Text

    line = Text()
    line.append("error", style="bold red")
    line.append(f": {message}")
    console.print(line)
