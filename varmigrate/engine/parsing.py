"""Parsing, with CPython's positions and messages for errors, and the text prefilter run before it."""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass

import libcst as cst

from varmigrate.model import SourceParseError
from varmigrate.rules.torch_api import ASYNC_KEYWORD, NON_BLOCKING


def parse(source: str) -> cst.Module:
    """Parse ``source`` or raise :class:`SourceParseError` with its position."""
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        raise _syntax_error(source, error.message, error.raw_line, error.raw_column + 1) from None
    except (SyntaxError, ValueError, RecursionError) as error:
        row = getattr(error, "lineno", None) or 1
        column = getattr(error, "offset", None) or 1
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _syntax_error(source, message, row, column) from None


def _syntax_error(source: str, message: str, row: int, column: int) -> SourceParseError:
    """The error to report, from CPython's parser when it agrees the source is bad.

    LibCST's parser reports column 1 and a long "expected one of ..." list; CPython points at the
    offending token and says e.g. "Missing parentheses in call to 'print'".
    """
    error = cpython_error(source)
    if error is not None and error.row:
        return error
    return SourceParseError(message, row, column)


def cpython_error(source: str) -> SourceParseError | None:
    """CPython's complaint about ``source`` as a module (row 0 when it names no line), None if it parses."""
    try:
        compile(source, "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as syntax:
        return SourceParseError(syntax.msg, syntax.lineno or 0, syntax.offset or 1)
    except (RecursionError, MemoryError):
        # "maximum recursion depth exceeded during compilation": Python itself cannot run this file.
        return SourceParseError(TOO_DEEP, *crowded_statement(source))
    except ValueError as error:
        return SourceParseError(str(error) or type(error).__name__, 0, 0)
    return None


TOO_DEEP = "too deeply nested"
# CPython's own limit on nested brackets; its complaints about depth, which LibCST must never be shown.
MAX_BRACKETS = 200
DEPTH_ERRORS = frozenset({TOO_DEEP, "too many nested parentheses"})
_BRACKET = re.compile(r"[()\[\]{}]")


def bracket_depth(source: str) -> int:
    """The deepest nesting of brackets in ``source``, strings and comments included (an upper bound)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(source):
        if match.group() in "([{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def crowded_statement(source: str) -> tuple[int, int]:
    """Where the statement of the most tokens starts (row, column; 1-based): where a parser's depth
    limit is likeliest to be hit when it names no place. Row 0 when the source has no statement."""
    import io
    import tokenize

    skipped = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
    best, most, start, count = (0, 0), 0, None, 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if start is not None and count > most:
                    best, most = start, count
                start = None
            elif token.type not in skipped:
                if start is None:
                    start, count = token.start, 0
                count += 1
    except (tokenize.TokenError, SyntaxError):
        if start is not None and count > most:
            best = start
    return (best[0], best[1] + 1) if best[0] else (0, 0)


# The rule that reports the renamed keywords: VM405.
_GROWTH = len(NON_BLOCKING) - len(ASYNC_KEYWORD)


@dataclass(frozen=True)
class AsyncRepair:
    """A source whose `async=` keyword arguments were renamed `non_blocking=`, which made it parse."""

    text: str
    # Where each renamed keyword starts in the original source, in order.
    originals: tuple[int, ...]

    @property
    def renamed(self) -> frozenset[int]:
        """Where each renamed keyword (now `non_blocking`) starts in ``text``."""
        return frozenset(offset + index * _GROWTH for index, offset in enumerate(self.originals))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Where the span ``start``-``end`` of ``text`` is in the original (a renamed keyword: `async`)."""
        return self._original(start, at_end=False), self._original(end, at_end=True)

    def _original(self, offset: int, *, at_end: bool) -> int:
        for index, original in enumerate(self.originals):
            renamed = original + index * _GROWTH
            # A span's end may touch a region and stay outside it; its start may not.
            if offset < renamed or (at_end and offset == renamed):
                return offset - index * _GROWTH
            if offset < renamed + len(NON_BLOCKING) or (at_end and offset == renamed + len(NON_BLOCKING)):
                return original + (len(ASYNC_KEYWORD) if at_end else 0)
        return offset - len(self.originals) * _GROWTH


def repair_async_keywords(source: str) -> AsyncRepair | None:
    """``source`` with `async=` keyword arguments renamed `non_blocking=`, when that makes it parse.

    None when ``source`` has no such argument, or still does not parse once they are renamed (its
    errors are other than these), or a renamed `async=` is not a call's keyword (`def f(async=1)`).
    """
    if ASYNC_KEYWORD not in source:
        return None
    import io
    import tokenize

    lines = io.StringIO(source).readlines()
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    skipped = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT}
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in skipped]
    except (tokenize.TokenError, SyntaxError):
        return None
    found: list[tuple[int, int]] = []  # (row, column) of each `async` to rename
    for before, token, after in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if (
            token.type == tokenize.NAME
            and token.string == ASYNC_KEYWORD
            and after.string == "="
            and before.type == tokenize.OP
            and before.string in ("(", ",")
        ):
            found.append(token.start)
    if not found:
        return None
    originals = tuple(starts[row - 1] + column for row, column in found)
    parts, position = [], 0
    for offset in originals:
        parts += [source[position:offset], NON_BLOCKING]
        position = offset + len(ASYNC_KEYWORD)
    text = "".join([*parts, source[position:]])
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    keywords = {
        (keyword.lineno, keyword.col_offset)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == NON_BLOCKING
    }
    text_lines = io.StringIO(text).readlines()
    renamed = AsyncRepair(text, originals).renamed
    text_starts = [0]
    for line in text_lines:
        text_starts.append(text_starts[-1] + len(line))
    for offset in renamed:
        row = bisect.bisect_right(text_starts, offset) - 1
        column = len(text_lines[row][: offset - text_starts[row]].encode("utf-8"))
        if (row + 1, column) not in keywords:
            return None
    return AsyncRepair(text, originals)
