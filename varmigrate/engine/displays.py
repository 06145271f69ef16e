"""Elements of long displays that cannot matter, left out of the text LibCST parses as blank lines.

A statement the outline keeps may be a thousand-line dict with one candidate in it (torch's
`get_testing_overrides`: a lambda per function). LibCST would parse and walk every entry. Inside
brackets a line break is only whitespace, so an element that has its lines to itself (it starts its
first line and its last ends with its comma) can be left out by blanking those lines: every kept line
stays where it is, and the dict, list or set is one element shorter.

Only elements that cannot change a finding are left out: no match of the statement pattern in their
lines, no walrus (the one expression that binds a name outside itself), not a `**` entry, and only
in displays that are no call's argument (a call's arguments are what the rules read: its keywords, a
constructor's literal data) nor inside an f-string. What is left out is handed on as dropped code, as
the statements the outline leaves out are, so that a rule asking whether left-out code mentions a name
finds it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence

# A statement or display shorter than this is parsed whole: blanking pays on the long ones.
_LONG_STATEMENT = 200
_LONG_DISPLAY = 100
# After an element on its last line: its comma, then nothing but a comment.
_COMMA_AND_END = re.compile(rb"[ \t]*,[ \t]*(?:#[^\r\n]*)?(?:\r\n|\r|\n)?")


def blank_elements(
    lines: list[str], statements: Sequence[tuple[int, int, Sequence[ast.stmt]]], pattern: re.Pattern[str]
) -> str:
    """Blank, in ``lines``, the elements of long displays in ``statements`` that cannot matter.

    ``statements`` are kept top-level statements: their first and last lines (0-based) and their
    `ast`. Returns the code left out, for the dropped code.
    """
    dropped: list[str] = []
    for first, last, nodes in statements:
        if not long_statement(first, last):
            continue
        for display in _displays(nodes):
            for start, stop in _elements(lines, display, pattern):
                dropped.append("".join(lines[start:stop]))
                for number in range(start, stop):
                    line = lines[number]
                    lines[number] = line[len(line.rstrip("\r\n")) :]
    return "".join(dropped)


def long_statement(first: int, last: int) -> bool:
    """Whether a statement on lines ``first``-``last`` is long enough for its displays to be looked at."""
    return last - first + 1 >= _LONG_STATEMENT


def _displays(nodes: Sequence[ast.stmt]) -> Iterator[ast.Dict | ast.List | ast.Set]:
    """The long dict, list and set displays in ``nodes``, outside calls and outside other displays."""
    pending: list[ast.AST] = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Call | ast.JoinedStr):
            continue
        long = (getattr(node, "end_lineno", None) or 0) - getattr(node, "lineno", 0) + 1 >= _LONG_DISPLAY
        if isinstance(node, ast.Dict | ast.List | ast.Set) and long:
            yield node
            continue
        pending.extend(ast.iter_child_nodes(node))


def _elements(
    lines: Sequence[str], display: ast.Dict | ast.List | ast.Set, pattern: re.Pattern[str]
) -> Iterator[tuple[int, int]]:
    """The line ranges (0-based, end exclusive) of the elements of ``display`` that may be blanked."""
    if isinstance(display, ast.Dict):
        parts: list[tuple[ast.expr, ast.expr]] = [
            (key, value) for key, value in zip(display.keys, display.values, strict=True) if key is not None
        ]
    else:
        parts = [(element, element) for element in display.elts]
    for head, tail in parts:
        start, stop = head.lineno - 1, tail.end_lineno or tail.lineno
        first = lines[start].encode("utf-8")
        if first[: head.col_offset].strip(b" \t"):
            continue  # something before it on its first line
        end = lines[stop - 1].encode("utf-8")
        if not _COMMA_AND_END.fullmatch(end[tail.end_col_offset or 0 :]):
            continue  # something after its comma, or no comma
        if start > 0 and lines[start - 1].rstrip().endswith("\\"):
            continue
        if pattern.search("".join(lines[start:stop])):
            continue
        if any(isinstance(n, ast.NamedExpr) for part in {head, tail} for n in ast.walk(part)):
            continue
        yield start, stop
