"""VM201's findings as CPython's parse settles them, where it can: no LibCST for a module whose only
candidates are plain `x.data[0]` reads.

A module whose only possible rule is VM201 (`shaped_rules` left nothing else) is common in modern code
that still reads a loss with `.data[0]`, and LibCST's parse and analysis of the function around each one
cost 5-30 ms for what the text and CPython's tree already show. `settled_findings` gives the findings
`check` would give there, or None wherever it cannot be certain, and LibCST decides as before. It is
certain of a candidate only when its subscript lies on one line whose text from the attribute's dot
to the closing bracket is the rule's pattern (`.data[0]`, spaced or not: no parentheses around
`x.data`, an index written `0`), which also puts it in a statement the engine's reduction keeps whole;
when its receiver is no literal and not an f-string's; and when no `def` around it has a first
parameter of the receiver's name (where only scope analysis tells whether it is the method's own
`self`). The rest follows from CPython's tree alone: a read (`Load`) is reported, a receiver of
`.attr`, `[...]` or `(...)` without a fix, any other with `x.item()`, spelled with the receiver's text
as it stands (LibCST prints a node it parsed as it was written).

`tests/test_settled.py` holds it to LibCST's analysis on generated modules and on the fixtures.
Standard library only: a `check` whose candidate files it settles never imports LibCST.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from varmigrate.model import Applicability, Location, RuntimeCheck
from varmigrate.rules.cpython import character_column
from varmigrate.rules.shapes import Offsets, is_zero, rows_matching, touches

if TYPE_CHECKING:
    from varmigrate.diagnostics import Diagnostic
    from varmigrate.rules.spec import RuleSpec

# The fix is right only for a 0-dim tensor (what the old code meant there); on any other it changes
# what the line does, and on more than one element `.item()` raises.
ITEM_TITLE = "Replace with `.item()` (assumes the tensor is 0-dim)"
NOT_A_RECEIVER = "(no automatic fix: `.item()` returns a number, which is used here as a tensor)"
SETTLED_RULE = "VM201"

_DATA = re.compile(r"\bdata\b")
# What may stand between a receiver and the dot of its `.data` on one line: its closing parentheses.
_AFTER_RECEIVER = re.compile(r"[)\s]*\.")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


class _Unsure(Exception):
    """A candidate CPython's tree cannot settle: LibCST decides the module."""


def settled_findings(source: str, tree: ast.Module, rules: Sequence[RuleSpec]) -> list[Diagnostic] | None:
    """The findings of ``rules`` in ``source`` (CPython's parse ``tree``) before `# noqa`, in LibCST's
    order, when ``rules`` is VM201 alone and CPython's tree settles each of its candidates; else None."""
    if len(rules) != 1 or rules[0].code != SETTLED_RULE:
        return None
    try:
        return _Settler(source, rules[0]).findings(tree)
    except _Unsure:
        return None


class _Settler:
    def __init__(self, source: str, spec: RuleSpec) -> None:
        self.source = source
        self.spec = spec
        self.place = Offsets(source)
        self.rows = rows_matching(source, _DATA)
        # The rule's pattern: `.data[0]`, spaced or not.
        self.pattern = _pattern(spec.pattern or "")

    def findings(self, tree: ast.Module) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        # Each node with its parent, the first parameters of the `def`s around it, and whether it is in
        # an f-string (whose inner positions were not always right before Python 3.12).
        stack: list[tuple[ast.AST, ast.AST | None, frozenset[str], bool]] = [(tree, None, frozenset(), False)]
        while stack:
            node, parent, firsts, formatted = stack.pop()
            if isinstance(node, ast.Subscript) and _on_data(node) and is_zero(node.slice):
                if formatted:
                    raise _Unsure
                if isinstance(node.ctx, ast.Load):
                    found.append(self._finding(node, parent, firsts))
            formatted = formatted or isinstance(node, ast.JoinedStr)
            if isinstance(node, _FUNCTIONS):
                positional = [*node.args.posonlyargs, *node.args.args]
                if positional:
                    firsts = firsts | {positional[0].arg}
            for child in ast.iter_child_nodes(node):
                if formatted or touches(child, self.rows):
                    stack.append((child, node, firsts, formatted))
        # A subscript comes before the one inside it, which starts where it does, as in LibCST's walk
        # (the findings are then sorted by position, ties kept in this order).
        return found

    def _finding(self, node: ast.Subscript, parent: ast.AST | None, firsts: frozenset[str]) -> Diagnostic:
        from varmigrate.diagnostics import Diagnostic, Edit, Fix

        data = node.value
        assert isinstance(data, ast.Attribute)
        receiver = data.value
        row = node.lineno
        if node.end_lineno != row or receiver.end_lineno != row or data.end_lineno != row:
            raise _Unsure
        if isinstance(receiver, ast.Constant | ast.JoinedStr):
            raise _Unsure
        if isinstance(receiver, ast.Name) and (not receiver.id.isascii() or receiver.id in firsts):
            raise _Unsure
        line = self.place.lines[row - 1]
        start = character_column(line, node.col_offset)
        end = character_column(line, node.end_col_offset or 0)
        receiver_end = character_column(line, receiver.end_col_offset or 0)
        gap = _AFTER_RECEIVER.match(line, receiver_end)
        if gap is None or not self.pattern.fullmatch(line, gap.end() - 1, end):
            raise _Unsure
        offset = self.place.starts[row - 1]
        first, last = Location(row, start + 1), Location(row, end + 1)
        if _receives(node, parent):
            message = f"{self.spec.message} {NOT_A_RECEIVER}"
            fixes: tuple[Fix, ...] = ()
        else:
            message = self.spec.message
            receiver_text = line[start : gap.end() - 1].rstrip(" \t\f")
            edit = Edit(receiver_text + ".item()", first, last, offset + start, offset + end)
            check = RuntimeCheck.RECEIVER_IS_ZERO_DIM
            fixes = (Fix(ITEM_TITLE, Applicability.UNSAFE, (edit,), verified_by=check),)
        return Diagnostic(self.spec.code, self.spec.name(), message, first, last, fixes)


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _on_data(node: ast.Subscript) -> bool:
    return isinstance(node.value, ast.Attribute) and node.value.attr == "data"


def _receives(node: ast.expr, parent: ast.AST | None) -> bool:
    """Whether ``node`` is the receiver of `.attr`, `[...]` or `(...)` (VM201's `used_as_receiver`)."""
    if isinstance(parent, ast.Attribute | ast.Subscript):
        return parent.value is node
    return isinstance(parent, ast.Call) and parent.func is node


__all__ = ["ITEM_TITLE", "NOT_A_RECEIVER", "settled_findings"]
