"""Consoles for the command line's output: rich, but printing text exactly as given."""

from __future__ import annotations

import os
from typing import IO

from rich.console import Console
from rich.text import Text


def make_console(*, stderr: bool = False, no_color: bool = False, file: IO[str] | None = None) -> Console:
    """A rich console that prints text as given: no markup, emoji, highlighting or wrapping."""
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    return Console(
        file=file,
        stderr=stderr,
        color_system=None if plain else "auto",
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )


def print_error(console: Console, message: str) -> None:
    """Print ``error: message`` to ``console``."""
    line = Text()
    line.append("error", style="bold red")
    line.append(f": {message}")
    console.print(line)
