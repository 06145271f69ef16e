"""Where the command line writes: streams that make a rich console only when styles are shown.

rich costs about 40 ms to import. A clean run prints one plain line, and findings printed to a pipe or a
file (pre-commit, CI, `--output-file`) show no styles: a :class:`Stream` writes such text straight to its
file, as rich would print it, and makes a console only for text that needs one.
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


# Environment variables by which rich calls a stream a terminal (or not) whatever it is.
_TERMINAL_OVERRIDES = ("FORCE_COLOR", "TTY_COMPATIBLE")
# What rich changes in text it prints without styles: the control codes it strips (BEL, BS, VT, FF, CR)
# and the tabs it expands. Text with none of them, and no line ending in whitespace (which rich trims from
# a line wider than the console), it prints as given.
_CHANGED_BY_RICH = frozenset("\a\b\v\f\r\t")


class Styled:
    """Text made of styled pieces (rich's style names): what :meth:`Stream.styled` prints.

    A rich `Text` is made from it only when the styles are shown, so that printing needs no rich.
    """

    __slots__ = ("pieces",)

    def __init__(self, text: str = "", style: str = "") -> None:
        self.pieces: list[tuple[str, str]] = []
        self.append(text, style)

    def append(self, text: str, style: str = "") -> None:
        """Add ``text`` in ``style`` (no style: "")."""
        if text:
            self.pieces.append((text, style))

    @property
    def plain(self) -> str:
        """The text without its styles."""
        return "".join(text for text, _ in self.pieces)

    def rich(self) -> Text:
        """The rich `Text` of it."""
        from rich.text import Text

        text = Text()
        for piece, style in self.pieces:
            text.append(piece, style=style or None)
        return text

    def printed_as_given(self) -> bool:
        """Whether rich, showing no styles, prints exactly this text."""
        return _printed_as_given(self.plain)


def _printed_as_given(plain: str) -> bool:
    if not _CHANGED_BY_RICH.isdisjoint(plain):
        return False
    return all(line == line.rstrip() for line in plain.split("\n"))


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

    def styled(self, text: Styled) -> None:
        """Print ``text`` and a newline: written as it is where rich would show no styles and print it
        unchanged, else through the console."""
        plain = text.plain
        if self._console is None and not self._shows_styles() and _printed_as_given(plain):
            # rich flushes after every print: the order of stdout's and stderr's lines stays as it was.
            self._write(plain + "\n", flush=True)
        else:
            self.console.print(text.rich())

    def _write(self, text: str, *, flush: bool = False) -> None:
        file = self.file
        try:
            file.write(text)
            if flush:
                file.flush()
        except BrokenPipeError:
            reader_gone(file)

    def _shows_styles(self) -> bool:
        """Whether a console over this stream might show styles (False only where it surely would not)."""
        if self._no_color or os.environ.get("NO_COLOR"):
            return False
        # rich renders for Jupyter by its own rules: let it decide.
        import builtins

        return hasattr(builtins, "get_ipython") or self.is_terminal

    def print(self, *objects: Any, **options: Any) -> None:
        """Print styled output (rich renderables) through the console."""
        self.console.print(*objects, **options)

    def out(self, text: str, *, highlight: bool = False) -> None:
        """Print ``text`` and a newline as it is: no styling, wrapping or highlighting."""
        if self._console is None:
            self._write(text + "\n")
        else:
            self._console.out(text, highlight=highlight)


def reader_gone(file: IO[str]) -> NoReturn:
    """End the run, exit 1, once the reader of ``file`` has gone (`varmigrate check | head`), as rich does:
    what is left to write goes nowhere, and no traceback is printed."""
    try:
        fileno = file.fileno()
    except (AttributeError, OSError, ValueError):
        raise SystemExit(1) from None
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)
    raise SystemExit(1) from None


def rich_console(target: Stream | Console) -> Console:
    """The rich console behind ``target``."""
    return target.console if isinstance(target, Stream) else target


def print_styled(target: Stream | Console, text: Styled) -> None:
    """Print ``text`` to ``target`` (see :meth:`Stream.styled`)."""
    if isinstance(target, Stream):
        target.styled(text)
    else:
        target.print(text.rich())


def print_error(console: Stream | Console, message: str) -> None:
    """Print ``error: message`` to ``console``."""
    line = Styled("error", "bold red")
    line.append(f": {message}")
    print_styled(console, line)
