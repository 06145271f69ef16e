"""Where a node of a parsed module lies, computed for the part of the module around it.

LibCST's `PositionProvider` prints the whole module once, recording every node's range, and its
resolver then walks the whole module a second time with no visitor at all (it batches the providers
that remain, and none do). In a large kept statement (a thousand-line dict with one finding) that is
most of a check. A rule asks for the ranges of a few nodes: :class:`Positions` prints only the
smallest enclosing node whose code occurs exactly once in the text, so where it starts is certain,
and records the ranges of that node's subtree, moved to where it stands. Nodes printed alone get the
indentation of the blocks around them, so a multi-line node prints as it stands in the text. When no
such node is found, or the printing done so far approaches the module's size, the whole module is
printed once, as LibCST would.
"""

from __future__ import annotations

import bisect
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import cast

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState

from varmigrate.rules.nodes import block_indents

# Printing nodes alone stops paying once it has printed this share of the text: the whole module is
# printed instead (once), as LibCST's provider does.
_BUDGET = 0.5


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
        self._ranges: dict[cst.CSTNode, CodeRange] = {}
        self._whole: Mapping[cst.CSTNode, CodeRange] | None = None
        self._printed = 0  # characters printed for nodes alone so far

    def range_of(self, node: cst.CSTNode) -> CodeRange | None:
        """``node``'s range, as `PositionProvider` gives it; None for a node not in the module."""
        if self._whole is not None:
            return self._whole.get(node)
        found = self._ranges.get(node)
        if found is None:
            if node is not self.module and self.parent(node) is None:
                return None
            self._anchor(node)
            found = self._ranges.get(node) if self._whole is None else self._whole.get(node)
        return found

    def whole(self) -> Mapping[cst.CSTNode, CodeRange]:
        """Every node's range, printing the whole module (once)."""
        if self._whole is None:
            _, self._whole = self._print(self.module)
            self._ranges.clear()
        return self._whole

    def _anchor(self, node: cst.CSTNode) -> None:
        """Record the ranges of the subtree of ``node``'s smallest ancestor printed once in the text."""
        budget = _BUDGET * len(self.text)
        current: cst.CSTNode | None = node
        while current is not None and not isinstance(current, cst.Module):
            if self._printed > budget:
                break
            if not _prints_alone(type(current)):
                current = self.parent(current)
                continue
            code, relative = self._print(current)
            self._printed += len(code)
            start = self.text.find(code)
            if code and start >= 0 and self.text.find(code, start + 1) < 0:
                self._record(relative, start)
                return
            current = self.parent(current)
        self.whole()

    def _print(self, node: cst.CSTNode) -> tuple[str, Mapping[cst.CSTNode, CodeRange]]:
        """``node`` printed from line 1, column 0 (with its blocks' indentation), and its subtree's ranges."""
        provider = PositionProvider()
        state = PositionProvidingCodegenState(
            default_indent=self.module.default_indent,
            default_newline=self.module.default_newline,
            provider=provider,
            indent_tokens=block_indents(node, self.parent, self.module.default_indent),
        )
        node._codegen(state)
        # Every node printed gets a range, none of them lazy.
        return "".join(state.tokens), cast("Mapping[cst.CSTNode, CodeRange]", provider._computed)

    def _record(self, relative: Mapping[cst.CSTNode, CodeRange], start: int) -> None:
        """Store ``relative`` ranges (printed from line 1, column 0) for a printing found at ``start``."""
        row = bisect.bisect_right(self.line_starts, start)
        column = start - self.line_starts[row - 1]

        def moved(position: CodePosition) -> CodePosition:
            if position.line == 1:
                return CodePosition(row, column + position.column)
            return CodePosition(row + position.line - 1, position.column)

        for node, span in relative.items():
            self._ranges[node] = CodeRange(moved(span.start), moved(span.end))


@functools.cache
def _prints_alone(kind: type[cst.CSTNode]) -> bool:
    """Whether nodes of ``kind`` print the same alone as in their parent.

    Some take what to print from their parent (`elif` for an `If`, a default comma or star for a
    parameter, the `:` or `->` of an annotation); printed alone they would differ, or fail.
    """
    parameters = inspect.signature(kind._codegen_impl).parameters
    return list(parameters) == ["self", "state"]
