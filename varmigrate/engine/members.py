"""The statements of a class body as LibCST groups and prints them, read from CPython's `ast` and the text.

LibCST prints a statement nested in a block (`Module.code_for_node`) without the indentation of the
block around it: a line that is indented as its block is printed without the class body's
indentation, any other line (inside a string, after a backslash, a comment or a continuation line
indented less than its block) as it is. Which block a comment or blank line between statements
belongs to decides which indentation counts for it: the first statement of a block owns the lines
after the block's header, a block that ends owns the lines up to its last one indented as deep as
itself (innermost block first), and the statement that follows owns the rest. :func:`class_body`
follows those rules over a top-level class, and gives up (None) on anything it does not know.
"""

from __future__ import annotations

import ast
import bisect
import re
import token
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from varmigrate.rules.cpython import character_column

# A comment, or a string token (prefix, quotes, body), as CPython's tokenizer reads them.
_TOKENS = re.compile(
    r"#[^\r\n]*"
    r"|'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''"
    r'|"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""'
    r"|'[^'\\\r\n]*(?:\\(?:\r\n|[\s\S])[^'\\\r\n]*)*'"
    r'|"[^"\\\r\n]*(?:\\(?:\r\n|[\s\S])[^"\\\r\n]*)*"'
)
_INDENT = re.compile(r"[ \t]*")
# Since Python 3.12 (PEP 701, which tokenizes f-strings apart) an f-string may hold its own quotes,
# which `_TOKENS` does not follow.
_NESTED_QUOTES = hasattr(token, "FSTRING_START")
# Statements with blocks that the reader follows (a `match` statement makes it give up).
COMPOUND: tuple[type[ast.stmt], ...] = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    *((ast.TryStar,) if hasattr(ast, "TryStar") else ()),
)


class _Doubt(Exception):
    """The text holds something these rules do not cover: leave the class to LibCST."""


@dataclass(frozen=True)
class Member:
    """One statement of a class body (statements on one line are one) and the lines it owns.

    ``code`` is its code as LibCST prints it, None when that is not certain; ``body`` the members
    of the class it defines, when that class has an indented body.
    """

    first: int  # first line of the statement itself (decorators included), 0-based
    start: int  # first line it owns, leading comment and blank lines included
    last: int  # last line it owns, the trailing lines its blocks keep included
    nodes: tuple[ast.stmt, ...]
    code: str | None
    body: ClassBody | None = None


@dataclass(frozen=True)
class ClassBody:
    """The indented body of a class: its indentation and its statements."""

    indent: str
    members: tuple[Member, ...]


@dataclass(frozen=True)
class _Logical:
    """A logical line: a simple statement (or several on one line), a decorator or a clause header."""

    first: int
    last: int
    indent: str
    opens: bool  # a header whose indented block starts on a following line


@dataclass
class _Body:
    """A class body as read: its indentation, the colon's line, and per statement its logical lines."""

    indent: str
    header_end: int
    groups: list[tuple[tuple[ast.stmt, ...], int, int]]  # nodes, first and end logical line index


def class_body(lines: Sequence[str], node: ast.ClassDef, stop: int) -> ClassBody | None:
    """The members of top-level class ``node`` whose lines end before line ``stop``; None when unsure."""
    try:
        return _Reader(lines, node, stop).read()
    except (_Doubt, RecursionError):
        return None


class _Reader:
    """Reads the logical lines of one top-level class from the `ast`, then what each line prints as."""

    def __init__(self, lines: Sequence[str], node: ast.ClassDef, stop: int) -> None:
        self.lines = lines
        self.node = node
        self.stop = stop
        self.logical: list[_Logical] = []
        self.bodies: dict[int, _Body] = {}  # by `id` of the class node
        self.footers: dict[int, list[tuple[str, int]]] = {}  # per logical line: blocks that end after it
        self.leading: dict[int, int] = {}  # per logical line: the first of the lines it owns

    def read(self) -> ClassBody | None:
        self._statement(self.node, "", in_class=True)
        body = self.bodies.get(id(self.node))
        if body is None:
            return None
        verbatim, doubtful = self._strings(self.logical[0].first)
        return self._members(body, self._strip(verbatim), doubtful)

    # The logical lines, from the `ast`.

    def _block(self, statements: Sequence[ast.stmt], indent: str, *, in_class: bool) -> _Body:
        """Read the statements of a block at ``indent`` (a class body's, ``in_class``)."""
        groups: list[tuple[tuple[ast.stmt, ...], int, int]] = []
        group: list[ast.stmt] = []
        for node in [*statements, None]:
            if node is not None and group and node.lineno - 1 <= _end(group[-1]):
                group.append(node)
                continue
            if group:
                begin = len(self.logical)
                if len(group) == 1:
                    self._statement(group[0], indent, in_class=in_class)
                elif any(isinstance(n, COMPOUND) for n in group):
                    raise _Doubt
                else:
                    self._line(group[0].lineno - 1, _end(group[-1]), indent, opens=False)
                groups.append((tuple(group), begin, len(self.logical)))
            group = [node] if node is not None else []
        return _Body(indent, -1, groups)

    def _statement(self, node: ast.stmt, indent: str, *, in_class: bool) -> None:
        if isinstance(node, ast.Match):
            raise _Doubt
        if not isinstance(node, COMPOUND):
            self._line(node.lineno - 1, _end(node), indent, opens=False)
            return
        for decorator in getattr(node, "decorator_list", ()):
            line = decorator.lineno - 1
            if not self.lines[line][len(indent) :].startswith("@"):
                raise _Doubt
            self._line(line, _end(decorator), indent, opens=False)
        # Only a class in a class body has members of its own (a function's body is one scope).
        members = in_class and isinstance(node, ast.ClassDef)
        # The fields of the compound statements this reads (`TryStar` is Python 3.11's).
        compound: Any = node
        body = self._clause(node.lineno - 1, compound.body, indent, in_class=members)
        if body is not None:
            self.bodies[id(node)] = body
        orelse: list[ast.stmt] = getattr(compound, "orelse", [])
        if isinstance(node, ast.If):
            self._elif(orelse, indent)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.While):
            self._else(orelse, indent, "else")
        elif hasattr(node, "handlers"):
            handlers: list[ast.ExceptHandler] = compound.handlers
            for handler in handlers:
                self._keyword(handler.lineno - 1, "except", indent)
                self._clause(handler.lineno - 1, handler.body, indent, in_class=False)
            self._else(orelse, indent, "else")
            self._else(compound.finalbody, indent, "finally")

    def _elif(self, orelse: list[ast.stmt], indent: str) -> None:
        if len(orelse) == 1 and isinstance(orelse[0], ast.If):
            branch = orelse[0]
            if branch.col_offset == len(indent) and self._starts(branch.lineno - 1, "elif", indent):
                self._clause(branch.lineno - 1, branch.body, indent, in_class=False)
                self._elif(branch.orelse, indent)
                return
        self._else(orelse, indent, "else")

    def _else(self, body: list[ast.stmt], indent: str, keyword: str) -> None:
        """Read an `else:` or `finally:` clause (``body``: none when empty)."""
        if not body:
            return
        if self._same_line(body[0]):
            header = body[0].lineno - 1
        else:
            header = self._header_end(self.logical[-1].last + 1, _first_line(body[0]))
        self._keyword(header, keyword, indent)
        self._clause(header, body, indent, in_class=False)

    def _keyword(self, line: int, keyword: str, indent: str) -> None:
        if not self._starts(line, keyword, indent):
            raise _Doubt

    def _starts(self, line: int, keyword: str, indent: str) -> bool:
        """Whether line ``line`` is indented by ``indent`` and then starts with ``keyword``."""
        text = self.lines[line]
        return _indentation(text) == indent and re.match(rf"{keyword}\b", text[len(indent) :]) is not None

    def _clause(self, first: int, body: list[ast.stmt], indent: str, *, in_class: bool) -> _Body | None:
        """Read a clause: its header from line ``first``, then its block (a class body's, ``in_class``)."""
        if self._same_line(body[0]):
            self._line(first, _end(body[-1]), indent, opens=False)
            return None
        start = _first_line(body[0])
        header = self._header_end(first, start)
        self._line(first, header, indent, opens=True)
        inner = _indentation(self.lines[start])
        if len(inner) <= len(indent) or not inner.startswith(indent):
            raise _Doubt
        found = self._block(body, inner, in_class=in_class)
        found.header_end = header
        return found if in_class else None

    def _same_line(self, node: ast.stmt) -> bool:
        """Whether ``node`` follows its clause's colon on the same line (a one-line suite)."""
        line = self.lines[node.lineno - 1]
        before = line[: character_column(line, node.col_offset)]
        return bool(before.strip())

    def _header_end(self, first: int, stop: int) -> int:
        """The line of the colon of a header that starts on line ``first``, its block on line ``stop``."""
        for line in range(stop - 1, first - 1, -1):
            text = self.lines[line].strip()
            if text and not text.startswith("#"):
                return line
        raise _Doubt

    def _line(self, first: int, last: int, indent: str, *, opens: bool) -> None:
        if self.logical and first <= self.logical[-1].last:
            raise _Doubt
        text = self.lines[first]
        # A form feed after the indentation is one LibCST does not print back.
        if _indentation(text) != indent or text[len(indent) : len(indent) + 1].isspace():
            raise _Doubt
        self.logical.append(_Logical(first, last, indent, opens))

    # What each line prints as, from the text.

    def _strings(self, first: int) -> tuple[set[int], set[int]]:
        """Lines inside a string or after a backslash continuation (printed as they are); doubtful lines."""
        lines = self.lines
        offsets = [0]
        for line in lines[first : self.stop]:
            offsets.append(offsets[-1] + len(line))
        text = "".join(lines[first : self.stop])
        verbatim: set[int] = set()
        doubtful: set[int] = set()
        commented: set[int] = set()
        for match in _TOKENS.finditer(text):
            row = bisect.bisect_right(offsets, match.start()) - 1
            if text[match.start()] == "#":
                commented.add(first + row)
                continue
            end = bisect.bisect_right(offsets, match.end() - 1) - 1
            if end > row:
                verbatim.update(range(first + row + 1, first + end + 1))
            if _NESTED_QUOTES and "{" in match.group():
                prefix = text[max(match.start() - 2, 0) : match.start()].lower()
                if "f" in prefix:
                    doubtful.update(range(first + row, first + end + 1))
        for index in range(first, self.stop - 1):
            if lines[index].rstrip("\r\n").endswith("\\") and index not in commented:
                verbatim.add(index + 1)
        return verbatim, doubtful

    def _strip(self, verbatim: set[int]) -> dict[int, bool]:
        """Per line of the class: whether LibCST prints it without its enclosing blocks' indentation."""
        lines = self.lines
        strip: dict[int, bool] = {}
        stack = [""]
        logical = self.logical
        for k, current in enumerate(logical):
            if stack[-1] != current.indent:
                raise _Doubt
            strip[current.first] = True
            for line in range(current.first + 1, current.last + 1):
                strip[line] = line not in verbatim and lines[line].startswith(current.indent)
            if current.last + 1 in verbatim and lines[current.last].rstrip("\r\n").endswith("\\"):
                raise _Doubt
            following = logical[k + 1] if k + 1 < len(logical) else None
            gap = range(current.last + 1, following.first if following else self.stop)
            for line in gap:
                text = lines[line].strip()
                if line in verbatim or (text and not text.startswith("#")):
                    raise _Doubt
            position = gap.start
            if current.opens:
                # The first statement of a block owns the lines after its header.
                if following is None or following.indent == current.indent:
                    raise _Doubt
                stack.append(following.indent)
                owner = following.indent
            else:
                # Each block that ends keeps the lines up to its last one indented as deep as itself.
                owner = following.indent if following else ""
                chunks: list[tuple[str, int]] = []
                while stack[-1] != owner:
                    block = stack.pop()
                    if not stack:
                        raise _Doubt
                    end = position
                    for line in range(position, gap.stop):
                        if lines[line].startswith(block):
                            end = line + 1
                    for line in range(position, end):
                        strip[line] = lines[line].startswith(block)
                    chunks.append((block, end))
                    position = end
                self.footers[k] = chunks
            for line in range(position, gap.stop):
                strip[line] = lines[line].startswith(owner)
            self.leading[k + 1] = position
        return strip

    def _members(self, body: _Body, strip: dict[int, bool], doubtful: set[int]) -> ClassBody:
        members: list[Member] = []
        start = body.header_end + 1
        width = len(body.indent)
        for index, (nodes, begin, end) in enumerate(body.groups):
            if index + 1 < len(body.groups):
                last = self.leading[body.groups[index + 1][1]] - 1
            else:
                # The blocks of the last statement keep their trailing lines; the class's own block
                # keeps what follows.
                last = self.logical[end - 1].last
                for block, stop in self.footers.get(end - 1, ()):
                    if len(block) <= width:
                        break
                    last = stop - 1
            span = range(start, last + 1)
            code: str | None = None
            if not doubtful.intersection(span) and self.lines[last].endswith(("\n", "\r")):
                code = "".join(self.lines[i][width:] if strip[i] else self.lines[i] for i in span)
            inner = self.bodies.get(id(nodes[0])) if len(nodes) == 1 else None
            first = self.logical[begin].first
            members.append(
                Member(
                    first, start, last, nodes, code, self._members(inner, strip, doubtful) if inner else None
                )
            )
            start = last + 1
        return ClassBody(body.indent, tuple(members))


def _indentation(line: str) -> str:
    match = _INDENT.match(line)
    return match.group() if match else ""


def _first_line(node: ast.stmt) -> int:
    """The first line of ``node``, its decorators' included (0-based)."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)]) - 1


def _end(node: ast.AST) -> int:
    """The last line of ``node`` (0-based)."""
    end: int | None = getattr(node, "end_lineno", None)
    start: int = getattr(node, "lineno", 1)
    return (end or start) - 1
