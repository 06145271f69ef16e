"""Statements a fix turned into ``x = x`` (``Variable(x)`` unwrapped) go, their comments staying.

CPython's parse rules most statements out before LibCST parses the module; LibCST's printing of the
module without them is merged into the text (`splice.merge`), where only the removed statements and
the comment lines after them may change.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable, Iterator, Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from varmigrate.engine.outline import node_text
from varmigrate.engine.parsing import parse
from varmigrate.engine.prefilter import parse_ast
from varmigrate.engine.splice import LINE, Alignment, Change, line_starts, may_differ, merge
from varmigrate.model import Fix
from varmigrate.rules import nodes
from varmigrate.rules.cpython import blocks

_PLAIN = re.compile(r"[\w.]+")
_NORMALIZE = re.compile(r"[\s()]")


def _remove_self_assignments(
    source: str, tree: ast.Module | None, applied: Sequence[Fix]
) -> tuple[str, ast.Module | None, list[Change]]:
    """Remove statements that a fix turned into ``x = x`` / ``a, b = a, b``, keeping their comments.

    Returns the new text, CPython's parse of it (``tree`` when nothing changed) and the changes.
    CPython's parse rules most statements out before LibCST is asked (see `_maybe_self_assignment`).
    LibCST's printing of the result is merged into ``source`` (see `splice.merge`).
    """
    if not any(_PLAIN.fullmatch(edit.content) for fix in applied for edit in fix.edits):
        return source, tree, []
    # Edited spans in the new source's rows: a self-assignment counts only if a fix touched it.
    touched = _edited_rows(source, applied)
    if tree is not None and not _maybe_self_assignment(source, tree, touched):
        return source, tree, []
    wrapper = MetadataWrapper(parse(source), unsafe_skip_copy=True)
    base = wrapper.module.code if may_differ(source) else source
    row = _row_in(base, source)
    positions = wrapper.resolve(PositionProvider)
    doomed: set[int] = set()
    regions: list[tuple[int, int]] = []
    collector = _Collector()
    wrapper.module.visit(collector)
    for node in collector.assignments:
        assign = node.body[0]
        assert isinstance(assign, cst.Assign)
        value = _normalized(assign.value)
        position = positions[node]
        rows = set(range(row(position.start.line), row(position.end.line) + 1))
        if rows & touched and all(_normalized(t.target) == value for t in assign.targets):
            doomed.add(id(node))
            regions.append(_region(base, position.start.line - len(node.leading_lines), position.end.line))
    if not doomed:
        return source, tree, []
    merged = merge(source, base, wrapper.module.visit(_StatementRemover(doomed)).code, regions)
    return merged.text, parse_ast(merged.text) if tree is not None else None, merged.changes


def _row_in(printed: str, source: str) -> Callable[[int], int]:
    """Rows of LibCST's printing of ``source`` -> rows of ``source``."""
    if printed == source:
        return lambda row: row
    alignment = Alignment(printed, source)
    printed_starts, starts = line_starts(printed), line_starts(source)
    return lambda row: bisect.bisect_right(starts, alignment.start(printed_starts[row - 1]))


def _region(printed: str, first: int, last: int) -> tuple[int, int]:
    """Offsets of rows ``first``-``last`` of ``printed`` and the blank and comment lines after them.

    Removing a statement moves its comments to what follows; an emptied block gets a `pass` after
    its trailing comments.
    """
    lines = LINE.findall(printed)
    while last < len(lines) and (not lines[last].strip() or lines[last].lstrip(" \t\x0c").startswith("#")):
        last += 1
    starts = line_starts(printed)
    return starts[first - 1], (starts[last] if last < len(starts) else len(printed))


class _Collector(cst.CSTVisitor):
    """Statement lines that are one assignment, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.assignments: list[cst.SimpleStatementLine] = []

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) == 1 and isinstance(node.body[0], cst.Assign):
            self.assignments.append(node)


def _maybe_self_assignment(source: str, tree: ast.Module, touched: set[int]) -> bool:
    """Whether an assignment on a ``touched`` row may read ``x = x`` once whitespace and parentheses go.

    LibCST's text of a target or value is CPython's segment plus parentheses, whitespace and the
    comments among them; without a comment in the statement, equal segments are what it takes.
    """
    if "\r" in source and source.count("\r") != source.count("\r\n"):
        return True  # CPython and LibCST count lines differently
    lines = LINE.findall(source)
    for node in _assignments_on(tree.body, touched):
        if "#" in "".join(lines[node.lineno - 1 : node.end_lineno]):
            return True
        value = _segment(lines, node.value)
        if all(_segment(lines, target) == value for target in node.targets):
            return True
    return False


def _assignments_on(body: Sequence[ast.stmt], touched: set[int]) -> Iterator[ast.Assign]:
    """The assignments in ``body`` (at any depth) on a ``touched`` row."""
    for node in body:
        if not any(row in touched for row in range(node.lineno, (node.end_lineno or node.lineno) + 1)):
            continue
        if isinstance(node, ast.Assign):
            yield node
        for block in blocks(node):
            yield from _assignments_on(block, touched)


def _segment(lines: Sequence[str], node: ast.expr) -> str:
    """The text of ``node`` without whitespace and parentheses."""
    return _NORMALIZE.sub("", node_text(lines, node))


def _edited_rows(source: str, applied: Sequence[Fix]) -> set[int]:
    """Rows of ``source`` (after applying ``applied``) that an edit wrote to."""
    rows: set[int] = set()
    shift = 0
    for edit in sorted((e for f in applied for e in f.edits), key=lambda e: e.start_offset):
        start = edit.start_offset + shift
        first = _row_of(source, start)
        rows.update(range(first, first + edit.content.count("\n") + 1))
        shift += len(edit.content) - (edit.end_offset - edit.start_offset)
    return rows


def _row_of(source: str, offset: int) -> int:
    prefix = source[:offset]
    return len(re.findall(r"\r\n|\r|\n", prefix)) + 1


def _normalized(node: cst.CSTNode) -> str:
    return _NORMALIZE.sub("", nodes.code(node))


class _StatementRemover(cst.CSTTransformer):
    """Drop marked statements; their comments move to the next statement (or the block's end)."""

    def __init__(self, doomed: set[int]) -> None:
        super().__init__()
        self.doomed = doomed

    def leave_IndentedBlock(
        self, original: cst.IndentedBlock, updated: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body, footer = self._rebuild(original.body, updated.body, updated.footer)
        if not body:
            body = [cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=footer)]
            footer = []
        return updated.with_changes(body=body, footer=footer)

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body, footer = self._rebuild(original.body, updated.body, updated.footer)
        return updated.with_changes(body=body, footer=footer)

    def _rebuild(
        self,
        original: Sequence[cst.BaseStatement],
        updated: Sequence[cst.BaseStatement],
        footer: Sequence[cst.EmptyLine],
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        kept: list[cst.BaseStatement] = []
        pending: list[cst.EmptyLine] = []
        for before, after in zip(original, updated, strict=True):
            if id(before) in self.doomed and isinstance(after, cst.SimpleStatementLine):
                pending.extend(after.leading_lines)
                comment = after.trailing_whitespace.comment
                if comment is not None:
                    pending.append(cst.EmptyLine(comment=comment))
                continue
            if pending:
                after = _with_leading_lines(after, pending)
                pending = []
            kept.append(after)
        return kept, [*pending, *footer]


def _with_leading_lines(statement: cst.BaseStatement, lines: list[cst.EmptyLine]) -> cst.BaseStatement:
    """``statement`` with ``lines`` (comments of a removed statement) placed before it."""
    if isinstance(statement, cst.SimpleStatementLine | cst.BaseCompoundStatement):
        return statement.with_changes(leading_lines=[*lines, *statement.leading_lines])
    return statement
