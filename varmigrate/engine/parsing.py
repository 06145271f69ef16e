"""Parsing, with CPython's positions and messages for errors, and the text prefilter run before it."""

from __future__ import annotations

import ast
import re

import libcst as cst

from varmigrate.model import SourceParseError


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
