"""The top-level statements of a module as CPython's parser sees them, to parse only those that matter.

LibCST's parse costs about forty times CPython's `ast` parse, and scope analysis about ten times the
parse. On a large module with a few candidates most statements need neither: :class:`Outline` reads
the statements' lines from the `ast`, and :meth:`Outline.partial` gives the text LibCST gets, where
each run of left-out statements is one stand-in on as many lines. Every kept line stays where it is,
so positions and offsets are those of the whole module, and the text of each left-out statement is
exactly the code LibCST would have given it (comments and blank lines before a statement belong to
it; see `_Statement`), so the reduction that follows (`ModuleContext.reduce`) sees what it would
have seen.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from varmigrate.engine.splice import LINE
from varmigrate.rules.context import DECLARATION, IMPORT, STAR_IMPORT

_WORD = re.compile(r"\w+")
_COMPOUND = (
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
    ast.Match,
    *((ast.TryStar,) if hasattr(ast, "TryStar") else ()),
)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Every match of `IMPORT` and `STAR_IMPORT` at the same place, but found some forty times faster (a
# leading `\b` keeps the regular expression engine from skipping ahead to the literal).
_LOOSE_IMPORT = re.compile(r"import\b")
_LOOSE_STAR_IMPORT = re.compile(r"import[\s\\]*\*")


def parse_ast(source: str) -> ast.Module | None:
    """CPython's parse of ``source`` (no compilation), or None when CPython rejects it."""
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences and the like are the user's business, not a finding of ours.
            warnings.simplefilter("ignore")
            tree = compile(source, "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    assert isinstance(tree, ast.Module)
    return tree


@dataclass(frozen=True)
class _Statement:
    """One top-level statement as LibCST groups it, and the lines it owns.

    Statements on one line (`a = 1; b = 2`) are one. A statement owns its own lines and the comment
    and blank lines before it, except that a compound statement's block keeps the trailing lines
    indented at least as deep as itself; which those are is only certain when no trailing line is
    indented at all (``known``). The first statement's leading lines are the module's header.
    """

    first: int  # first line of the statement itself, decorators included (0-based)
    last: int  # its last line
    start: int  # first line it owns, leading lines included
    nodes: tuple[ast.stmt, ...]
    known: bool = True

    @property
    def compound(self) -> bool:
        return isinstance(self.nodes[-1], _COMPOUND)


class Outline:
    """The lines of a module and its top-level statements."""

    def __init__(self, source: str, tree: ast.Module) -> None:
        self.source = source
        self.lines: list[str] = LINE.findall(source)
        self.statements = _statements(self.lines, tree.body)
        # Where each line starts, and where the text `left_out` reads for each statement lies.
        self._offsets = [0, *itertools.accumulate(map(len, self.lines))]
        self._spans: list[tuple[int, int]] | None = None

    def code(self, index: int) -> str:
        """The code of statement ``index``, as LibCST gives it; only exact for a ``known`` statement."""
        statement = self.statements[index]
        return "".join(self.lines[statement.start : statement.last + 1])

    def surroundings(self, index: int) -> str:
        """The lines between the statements before and after ``index``: whatever its code is, it is inside."""
        start = self.statements[index - 1].last + 1 if index else 0
        stop = self.statements[index + 1].first if index + 1 < len(self.statements) else len(self.lines)
        return "".join(self.lines[start:stop])

    def left_out(self, pattern: re.Pattern[str]) -> dict[int, str]:
        """Statements that cannot hold a finding (``pattern``) nor bind a name the others use, and their code.

        Like `ModuleContext.reduce`, whose decisions on the statements kept here stay its own: a
        statement is kept if it may matter, or assigns a name mentioned in one that may; the code of
        an uncertain statement is taken generously, which keeps more, never less. Each pattern runs
        once over the whole text; only the statements a match touches are searched on their own.
        """
        touched = [self._touched(p) for p in (pattern, _LOOSE_STAR_IMPORT, _LOOSE_IMPORT)]
        codes: dict[int, str] = {}

        def code(index: int) -> str:
            if index not in codes:
                known = self.statements[index].known
                codes[index] = self.code(index) if known else self.surroundings(index)
            return codes[index]

        keep = [
            any(index in t for t in touched) and _may_matter(statement, code(index), pattern)
            for index, statement in enumerate(self.statements)
        ]
        mentioned = set(_WORD.findall("".join(code(i) for i, kept in enumerate(keep) if kept)))
        return {
            index: code(index)
            for index, (statement, kept) in enumerate(zip(self.statements, keep, strict=True))
            if statement.known and not kept and not _assigned_names(statement.nodes) & mentioned
        }

    def _touched(self, pattern: re.Pattern[str]) -> set[int]:
        """The statements whose code (generous for an uncertain one) a match of ``pattern`` reaches into."""
        if self._spans is None:
            self._spans = [self._span(index) for index in range(len(self.statements))]
        spans = self._spans
        starts = [start for start, _ in spans]
        found: set[int] = set()
        for match in pattern.finditer(self.source):
            first, stop = match.start(), max(match.end(), match.start() + 1)
            index = bisect.bisect_right(starts, first) - 1
            # Uncertain statements' spans reach into their neighbours': look both ways.
            low = index
            while low > 0 and spans[low - 1][1] > first:
                low -= 1
            high = max(index, 0)
            while high < len(spans) and spans[high][0] < stop:
                high += 1
            found.update(i for i in range(max(low, 0), high) if spans[i][0] < stop and first < spans[i][1])
        return found

    def _span(self, index: int) -> tuple[int, int]:
        """Offsets of the text `left_out` reads for statement ``index``."""
        statement = self.statements[index]
        if statement.known:
            return self._offsets[statement.start], self._offsets[statement.last + 1]
        start = self.statements[index - 1].last + 1 if index else 0
        stop = self.statements[index + 1].first if index + 1 < len(self.statements) else len(self.lines)
        return self._offsets[start], self._offsets[stop]

    def partial(self, left_out: Mapping[int, str]) -> tuple[str, list[int | None], dict[int, str]]:
        """The text LibCST parses instead of the source, with the statements ``left_out`` replaced.

        Each run of left-out statements becomes one stand-in on as many lines: `pass` for one line,
        else a string (one token, where blank lines would cost LibCST a node each). Also returns
        where each statement lands in the parsed module's body (None: in a stand-in), and each
        stand-in's index there with the code of the statements it stands for.
        """
        lines = list(self.lines)
        positions: list[int | None] = []
        stand_ins: dict[int, str] = {}
        body = 0  # statements in the parsed module's body so far
        run: list[int] = []
        for index in range(len(self.statements) + 1):
            if index < len(self.statements) and index in left_out:
                run.append(index)
                positions.append(None)
                continue
            if run:
                start, stop = self.statements[run[0]].start, self.statements[run[-1]].last + 1
                ends = ("pass",) if stop - start == 1 else ('"""', '"""')
                for number in range(start, stop):
                    ending = lines[number][len(lines[number].rstrip("\r\n")) :]
                    text = ends[0] if number == start else ends[-1] if number == stop - 1 else ""
                    lines[number] = text + ending
                stand_ins[body] = "".join(_terminated(left_out[i]) for i in run)
                body += 1
                run = []
            if index < len(self.statements):
                positions.append(body)
                body += 1
        return "".join(lines), positions, stand_ins


def _terminated(code: str) -> str:
    """``code`` ending in a newline, as LibCST gives every statement's code."""
    return code if code.endswith(("\n", "\r")) else code + "\n"


def _statements(lines: Sequence[str], body: Sequence[ast.stmt]) -> list[_Statement]:
    """The top-level statements of ``body`` over ``lines``, with the lines each one owns."""
    grouped: list[list[ast.stmt]] = []
    for node in body:
        if grouped and node.lineno - 1 <= (grouped[-1][-1].end_lineno or node.lineno) - 1:
            grouped[-1].append(node)
        else:
            grouped.append([node])
    statements: list[_Statement] = []
    previous: _Statement | None = None
    for nodes in grouped:
        first = min([nodes[0].lineno, *(d.lineno for d in getattr(nodes[0], "decorator_list", ()))]) - 1
        last = (nodes[-1].end_lineno or nodes[-1].lineno) - 1
        if previous is None:
            statement = _Statement(first, last, first, tuple(nodes))
        else:
            gap = lines[previous.last + 1 : first]
            known = not previous.compound or all(_unindented(line) for line in gap)
            statement = _Statement(first, last, previous.last + 1, tuple(nodes), known)
            if not known:
                statements[-1] = _Statement(
                    previous.first, previous.last, previous.start, previous.nodes, known=False
                )
        statements.append(statement)
        previous = statement
    trailing = lines[previous.last + 1 :] if previous is not None else []
    if previous is not None and previous.compound and not all(_unindented(line) for line in trailing):
        statements[-1] = _Statement(
            previous.first, previous.last, previous.start, previous.nodes, known=False
        )
    return statements


def _unindented(line: str) -> bool:
    """Whether a blank or comment line is empty or starts with its comment (owned by what follows)."""
    text = line.rstrip("\r\n")
    return not text or text.startswith("#")


def _may_matter(statement: _Statement, code: str, pattern: re.Pattern[str]) -> bool:
    """`context.may_matter` on the `ast` of a top-level statement."""
    if pattern.search(code) or STAR_IMPORT.search(code):
        return True
    if len(statement.nodes) == 1 and isinstance(statement.nodes[0], _SCOPES):
        return IMPORT.search(code) is not None and DECLARATION.search(code) is not None
    return IMPORT.search(code) is not None


def _assigned_names(nodes: Sequence[ast.stmt]) -> set[str]:
    """`context._assigned_names` on the `ast` of a simple statement."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        else:
            continue
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names
