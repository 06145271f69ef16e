"""IPython syntax in code cells: masked with placeholder statements, restored byte for byte."""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from varmigrate.sources.io import split_lines

# Cell magics whose body is Python run in the kernel's namespace. Every other cell magic
# (%%bash, %%html, %%writefile, %%javascript, %%script, %%latex, %%markdown, %%python — a
# subprocess with its own namespace — and unknown ones) makes the cell something we leave alone.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


_NEWLINE = re.compile(r"\r\n|\r|\n")
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
# `files = !ls`, `a, b = %sx cmd`: IPython assigns the output of a shell command or magic.
_ASSIGNED = re.compile(r"(?P<target>[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*)[!%]")
_CELL_MAGIC = re.compile(r"%%(\w*)")
# Line starts that are IPython's: magics, shell, help, and the autocall escapes `/f x`, `,f x`, `;f x`.
_ESCAPES = frozenset("%!?/,;")


@dataclass
class _LineState:
    """Where a line starts: inside brackets, inside a string spanning lines, or after a backslash."""

    depth: int = 0
    quote: str | None = None
    continued: bool = False

    @property
    def at_statement_start(self) -> bool:
        """Whether the next line starts a logical line (where IPython looks for its syntax)."""
        return self.depth == 0 and self.quote is None and not self.continued

    def scan(self, line: str) -> bool:
        """Advance past ``line``; return whether it has a ``?`` outside strings and comments."""
        content = line.rstrip("\r\n")
        question = False
        self.continued = False
        i = 0
        while i < len(content):
            char = content[i]
            if self.quote is not None:
                if char == "\\":
                    i += 2
                elif content.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                else:
                    i += 1
                continue
            if char == "#":
                break
            if char in "\"'":
                self.quote = content[i : i + 3] if content[i : i + 3] in ('"""', "'''") else char
                i += len(self.quote)
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(0, self.depth - 1)
            elif char == "?":
                question = True
            elif char == "\\" and i == len(content) - 1:
                self.continued = True
            i += 1
        return question


def _ends_with_escape(content: str) -> bool:
    return (len(content) - len(content.rstrip("\\"))) % 2 == 1


@dataclass
class Unit:
    """A piece of the joined module: one code cell's masked source, or the names an unparsed cell uses."""

    cell: int
    source: str  # the cell's source as the notebook has it
    text: str = ""  # what the module holds
    originals: dict[int, str] = field(default_factory=dict)  # placeholder number -> original line
    cell_magic: int | None = None  # placeholder of a `%%time`-like first line
    analysed: bool = True


class Masker:
    """Replaces IPython syntax with placeholder statements named ``<prefix><n>__``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0

    def mask(self, cell: int, source: str) -> Unit | None:
        """The cell as parseable text, or None when it is empty or a cell magic makes it non-Python."""
        lines = split_lines(source)
        unit = Unit(cell, source)
        first = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
        if first < len(lines) and (magic := _CELL_MAGIC.match(lines[first])) is not None:
            if magic.group(1) not in PYTHON_CELL_MAGICS:
                return None
            unit.cell_magic = self.count
            lines[first] = self._placeholder(unit, lines[first], "", "")
            first += 1
        state = _LineState()
        continued_magic: str | None = None  # the indentation of a magic going on after a backslash
        for i in range(first, len(lines)):
            line = lines[i]
            stripped = line.lstrip(" \t")
            indent = line[: len(line) - len(stripped)]
            if continued_magic is not None:
                lines[i] = self._placeholder(unit, line, continued_magic, "")
                continued_magic = continued_magic if _ends_with_escape(line.rstrip("\r\n")) else None
                continue
            if not state.at_statement_start:
                state.scan(line)
                continue
            assigned = _ASSIGNED.match(stripped)
            if stripped[:1] in _ESCAPES or assigned is not None:
                target = assigned.group("target") if assigned is not None else ""
                lines[i] = self._placeholder(unit, line, indent, target)
                continued_magic = indent if _ends_with_escape(line.rstrip("\r\n")) else None
            elif state.scan(line) and state.at_statement_start:
                # `torch.ones?`, `obj??`: help; a `?` outside strings and comments is never Python.
                lines[i] = self._placeholder(unit, line, indent, "")
        text = "".join(lines)
        if not text.strip():
            return None
        if not text.endswith(("\n", "\r")):
            text += "\n"
        unit.text = text
        return unit

    def _placeholder(self, unit: Unit, line: str, indent: str, target: str) -> str:
        """``<indent><target><prefix><n>__(names...)``; the names the line mentions stay in use."""
        content = line.rstrip("\r\n")
        number = self.count
        self.count += 1
        unit.originals[number] = content
        names = self.names(content.lstrip(" \t")[len(target) :])
        return f"{indent}{target}{self.prefix}{number}__({', '.join(names)}){line[len(content) :]}"

    def names(self, text: str) -> list[str]:
        """Identifiers in ``text`` (keywords and our own names excepted), once each, in order."""
        found = dict.fromkeys(_IDENTIFIER.findall(text))
        return [
            n
            for n in found
            if n.isidentifier() and not keyword.iskeyword(n) and not n.startswith(self.prefix)
        ]


def unique_prefix(sources: Sequence[str]) -> str:
    """A name prefix that occurs in no cell, so placeholders and markers cannot collide with code."""
    prefix = "__vm_"
    while any(prefix in source for source in sources):
        prefix += "_"
    return prefix
