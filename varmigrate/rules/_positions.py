"""Where a node of a parsed module lies, computed for the part of the module around it.

LibCST's `PositionProvider` prints the whole module once, recording every node's range, and its
resolver then walks the whole module a second time with no visitor at all (it batches the providers
that remain, and none do). In a large kept statement (a thousand-line dict with one finding) that is
most of a check. A rule asks for the ranges of a few nodes: :class:`Positions` prints only the
smallest enclosing node whose code occurs exactly once in the text, so where it starts is certain,
and keeps the spans of that node's subtree; a node's range is made, moved to where it stands, when it
is asked for. Nodes printed alone get the indentation of the blocks around them, so a multi-line node
prints as it stands in the text. When no such node is found, or the printing done so far approaches
the module's size, the whole module is printed once, as LibCST would. Printing counts positions as
LibCST's `PositionProvidingCodegenState` does, as plain pairs (`_SpanState`): a `CodePosition` and a
`CodeRange` for every node printed had been about half the cost.
"""

from __future__ import annotations

import bisect
import functools
import inspect
from collections.abc import Callable

import libcst as cst
from libcst.metadata import CodePosition, CodeRange
from libcst.metadata.position_provider import WhitespaceInclusivePositionProvidingCodegenState

from varmigrate.rules.nodes import block_indents

# Printing nodes alone stops paying once it has printed this share of the text: the whole module is
# printed instead (once), as LibCST's provider does.
_BUDGET = 0.5

# A position as `PositionProvider` counts it (line from 1, column from 0), and a node's span.
_Point = tuple[int, int]
_Span = tuple[_Point, _Point]


class Positions:
    """`PositionProvider`'s ranges for the nodes of ``module``, parsed from ``text`` (its printing).

    ``parent`` gives a node's parent in ``module`` (None for the module itself).
    """

    def __init__(
        self,
        module: cst.Module,
        text: str,
        line_starts: list[int],
        parent: Callable[[cst.CSTNode], cst.CSTNode | None],
    ) -> None:
        self.module = module
        self.text = text
        self.line_starts = line_starts
        self.parent = parent
        # Each printing found once in the text: the spans of its subtree, printed from line 1, column 0,
        # and the line and column it stands at.
        self._anchors: list[tuple[dict[cst.CSTNode, _Span], int, int]] = []
        # Each node printed so far: the latest of those printings that holds it (any gives its range).
        self._where: dict[cst.CSTNode, int] = {}
        self._ranges: dict[cst.CSTNode, CodeRange] = {}
        self._whole: dict[cst.CSTNode, _Span] | None = None
        self._printed = 0  # characters printed for nodes alone so far

    def range_of(self, node: cst.CSTNode) -> CodeRange | None:
        """``node``'s range, as `PositionProvider` gives it; None for a node not in the module."""
        found = self._ranges.get(node)
        if found is not None:
            return found
        if self._whole is None:
            if node is not self.module and self.parent(node) is None:
                return None
            if node not in self._where:
                self._anchor(node)
        if self._whole is not None:
            span = self._whole.get(node)
            found = None if span is None else CodeRange(CodePosition(*span[0]), CodePosition(*span[1]))
        else:
            spans, row, column = self._anchors[self._where[node]]
            (start_line, start_column), (end_line, end_column) = spans[node]
            found = CodeRange(
                CodePosition(row + start_line - 1, start_column + (column if start_line == 1 else 0)),
                CodePosition(row + end_line - 1, end_column + (column if end_line == 1 else 0)),
            )
        if found is not None:
            self._ranges[node] = found
        return found

    def _anchor(self, node: cst.CSTNode) -> None:
        """Keep the spans of the subtree of ``node``'s smallest ancestor printed once in the text."""
        budget = _BUDGET * len(self.text)
        current: cst.CSTNode | None = node
        while current is not None and not isinstance(current, cst.Module):
            if self._printed > budget:
                break
            if not _prints_alone(type(current)):
                current = self.parent(current)
                continue
            code, spans = self._print(current)
            self._printed += len(code)
            start = self.text.find(code)
            if code and start >= 0 and self.text.find(code, start + 1) < 0:
                row = bisect.bisect_right(self.line_starts, start)
                self._where.update(dict.fromkeys(spans, len(self._anchors)))
                self._anchors.append((spans, row, start - self.line_starts[row - 1]))
                return
            current = self.parent(current)
        # Every node's span, printing the whole module (once).
        _, self._whole = self._print(self.module)
        self._anchors.clear()
        self._where.clear()

    def _print(self, node: cst.CSTNode) -> tuple[str, dict[cst.CSTNode, _Span]]:
        """``node`` printed from line 1, column 0 (with its blocks' indentation), and its subtree's spans."""
        state = _SpanState(
            self.module.default_indent,
            self.module.default_newline,
            block_indents(node, self.parent, self.module.default_indent),
        )
        node._codegen(state)
        return "".join(state.tokens), state.spans


class _SpanState(WhitespaceInclusivePositionProvidingCodegenState):
    """LibCST's `PositionProvidingCodegenState`, keeping each node's span as a pair of (line, column) pairs.

    LibCST's own counting of lines and columns as tokens are added, and the same calls from the nodes'
    code generation (`before_codegen`, `after_codegen`, `record_syntactic_position`), without a
    `CodePosition` and a `CodeRange` for every node printed, of which a rule asks for a few; `Positions`
    makes them for those. No provider is given: nothing is stored in one.
    """

    def __init__(self, default_indent: str, default_newline: str, indent_tokens: list[str]) -> None:
        super().__init__(
            default_indent=default_indent,
            default_newline=default_newline,
            provider=None,  # type: ignore[arg-type]
            indent_tokens=indent_tokens,
        )
        self.spans: dict[cst.CSTNode, _Span] = {}
        self._starts: list[_Point] = []

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._starts.append((self.line, self.column))

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._starts.pop()
        # A syntactic span recorded while the node printed stays.
        if node not in self.spans:
            self.spans[node] = (start, (self.line, self.column))

    def record_syntactic_position(  # type: ignore[override]
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> _Syntactic:
        return _Syntactic(self, node, start_node, end_node)


class _Syntactic:
    """`record_syntactic_position`'s block: the node's span is what prints within it, or the start of
    ``start_node`` and the end of ``end_node`` (children printed within it) where they are given."""

    __slots__ = ("end_node", "node", "start", "start_node", "state")

    def __init__(
        self,
        state: _SpanState,
        node: cst.CSTNode,
        start_node: cst.CSTNode | None,
        end_node: cst.CSTNode | None,
    ) -> None:
        self.state = state
        self.node = node
        self.start_node = start_node
        self.end_node = end_node
        self.start: _Point = (state.line, state.column)

    def __enter__(self) -> None:
        self.start = (self.state.line, self.state.column)

    def __exit__(self, *exception: object) -> None:
        state = self.state
        spans = state.spans
        start = spans[self.start_node][0] if self.start_node is not None else self.start
        end = spans[self.end_node][1] if self.end_node is not None else (state.line, state.column)
        spans[self.node] = (start, end)


@functools.cache
def _prints_alone(kind: type[cst.CSTNode]) -> bool:
    """Whether nodes of ``kind`` print the same alone as in their parent.

    Some take what to print from their parent (`elif` for an `If`, a default comma or star for a
    parameter, the `:` or `->` of an annotation); printed alone they would differ, or fail.
    """
    parameters = inspect.signature(kind._codegen_impl).parameters
    return list(parameters) == ["self", "state"]
