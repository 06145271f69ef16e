"""The top-level statements of a module as CPython's parser sees them, to parse only those that matter.

LibCST's parse costs about forty times CPython's `ast` parse, and scope analysis about ten times the
parse. On a large module with a few candidates most statements need neither: :class:`Outline` reads
the statements' lines from the `ast`, and :meth:`Outline.partial` gives the text LibCST gets, where
each run of left-out statements is one stand-in on as many lines. Every kept line stays where it is,
so positions and offsets are those of the whole module, and the text of each left-out statement is
exactly the code LibCST would have given it (comments and blank lines before a statement belong to
it; see `_Statement`), so the reduction that follows (`ModuleContext.reduce`) sees what it would
have seen. The bodies of the classes that reduction keeps are reduced here first, alike
(:meth:`Outline.class_reductions`), with the statements and code LibCST would give them (`members`).
"""

from __future__ import annotations

import ast
import bisect
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from varmigrate.engine.members import COMPOUND, ClassBody, class_body
from varmigrate.engine.splice import LINE
from varmigrate.rules.context import DECLARATION, IMPORT, STAR_IMPORT
from varmigrate.rules.shapes import Spans, docstring_spans

_WORD = re.compile(r"\w+")
_COMPOUND = (*COMPOUND, ast.Match)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Every match of `IMPORT` and `STAR_IMPORT` at the same place, but found some forty times faster (a
# leading `\b` keeps the regular expression engine from skipping ahead to the literal).
_LOOSE_IMPORT = re.compile(r"import\b")
_LOOSE_STAR_IMPORT = re.compile(r"import[\s\\]*\*")


def node_text(lines: Sequence[str], node: ast.expr) -> str:
    """The text of ``node`` in ``lines`` (the source's lines, as CPython numbers them); CPython's columns
    count UTF-8 bytes."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    chunk = [line.encode() for line in lines[first : last + 1]]
    if node.end_col_offset is not None:
        chunk[-1] = chunk[-1][: node.end_col_offset]
    chunk[0] = chunk[0][node.col_offset :]
    return b"".join(chunk).decode(errors="replace")


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


@dataclass(frozen=True)
class ClassReduction:
    """What is left out of the body of a class that is kept: members (by index), and in kept classes."""

    body: ClassBody
    left_out: frozenset[int]
    inner: Mapping[int, ClassReduction]
    # The members kept because they may matter (what `_reduce_block` need not search again).
    matters: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PartialText:
    """The text LibCST parses instead of a module's, and what each stand-in in it stands for.

    ``positions``: where each top-level statement lands in the parsed module's body (None: in a
    stand-in); ``stand_ins``: each top-level stand-in's index there, with the code of the statements
    it stands for. The same for class bodies, by path (the class's index in the module's body, then
    the index of each nested class in its class's body, then the member's): ``member_stand_ins``,
    ``member_codes`` (the code of each member kept whose code is certain), ``member_counts`` (how
    many statements each reduced class body holds) and ``member_matters`` (the members kept because
    they may matter).
    """

    text: str
    positions: list[int | None]
    stand_ins: dict[int, str]
    member_stand_ins: dict[tuple[int, ...], str]
    member_codes: dict[tuple[int, ...], str]
    member_counts: dict[tuple[int, ...], int]
    member_matters: set[tuple[int, ...]]


class Outline:
    """The lines of a module and its top-level statements."""

    def __init__(self, source: str, tree: ast.Module) -> None:
        self.source = source
        self.tree = tree
        self.lines: list[str] = LINE.findall(source)
        self.statements = _statements(self.lines, tree.body)
        # Where each line starts, and where the text `left_out` reads for each statement lies.
        self._offsets = [0, *itertools.accumulate(map(len, self.lines))]
        self._spans: list[tuple[int, int]] | None = None
        # Per pattern: where it matches in the source, and which statements `left_out` found may matter.
        self._matches: dict[re.Pattern[str], list[tuple[int, int]]] = {}
        self._matter: dict[re.Pattern[str], list[bool]] = {}

    def code(self, index: int) -> str:
        """The code of statement ``index``, as LibCST gives it; only exact for a ``known`` statement."""
        statement = self.statements[index]
        return "".join(self.lines[statement.start : statement.last + 1])

    def surroundings(self, index: int) -> str:
        """The lines between the statements before and after ``index``: whatever its code is, it is inside."""
        start = self.statements[index - 1].last + 1 if index else 0
        stop = self.statements[index + 1].first if index + 1 < len(self.statements) else len(self.lines)
        return "".join(self.lines[start:stop])

    def left_out(self, pattern: re.Pattern[str], *, in_docstrings: bool = True) -> dict[int, str]:
        """Statements that cannot hold a finding (``pattern``) nor bind a name the others use, and their code.

        Like `ModuleContext.reduce`, whose decisions on the statements kept here stay its own: a
        statement is kept if it may matter, or assigns a name mentioned in one that may; the code of
        an uncertain statement is taken generously, which keeps more, never less. Each pattern runs
        once over the whole text; only the statements a match touches are searched on their own.
        Without ``in_docstrings``, a match inside a docstring does not count: for names, which a
        docstring never uses (the import clean-up's), not for the rules' patterns.
        """
        touched = [self._touched(pattern, in_docstrings), self._touched(_LOOSE_STAR_IMPORT)]
        touched.append(self._touched(_LOOSE_IMPORT))
        codes: dict[int, str] = {}

        def code(index: int) -> str:
            if index not in codes:
                known = self.statements[index].known
                codes[index] = self.code(index) if known else self.surroundings(index)
            return codes[index]

        matched = touched[0]
        keep = [
            any(index in t for t in touched)
            and _may_matter(statement.nodes, code(index), pattern, search=in_docstrings or index in matched)
            for index, statement in enumerate(self.statements)
        ]
        if in_docstrings:
            self._matter[pattern] = keep
        mentioned = set(_WORD.findall("".join(code(i) for i, kept in enumerate(keep) if kept)))
        return {
            index: code(index)
            for index, (statement, kept) in enumerate(zip(self.statements, keep, strict=True))
            if statement.known and not kept and not _assigned_names(statement.nodes) & mentioned
        }

    def class_reductions(
        self, pattern: re.Pattern[str], left_out: Mapping[int, str]
    ) -> dict[int, ClassReduction]:
        """What `ModuleContext.reduce` leaves out of the bodies of the classes it keeps, by statement.

        It keeps a class that may matter, and reduces its body as it reduces the module (see
        `left_out`), nested classes included; only the members whose code is certain (see
        `members.class_body`) are left out here, and the kept members' words are its own where the
        code is not: more is kept, never less, and what is kept is for it to decide again.
        """
        found: dict[int, ClassReduction] = {}
        matter = self.matter(pattern)
        for index, statement in enumerate(self.statements):
            node = statement.nodes[0]
            if index in left_out or not statement.known or not isinstance(node, ast.ClassDef):
                continue
            if len(statement.nodes) != 1 or not matter[index]:
                continue
            stop = self.statements[index + 1].first if index + 1 < len(self.statements) else len(self.lines)
            body = class_body(self.lines, node, stop)
            reduction = self._reduce_members(body, pattern) if body is not None else None
            if reduction is not None:
                found[index] = reduction
        return found

    def matter(self, pattern: re.Pattern[str]) -> list[bool]:
        """Per top-level statement: whether it may matter (exact for a ``known`` one; see `left_out`)."""
        if pattern not in self._matter:
            self.left_out(pattern)
        return self._matter[pattern]

    def _reduce_members(self, body: ClassBody, pattern: re.Pattern[str]) -> ClassReduction | None:
        """`_reduce_block` on a class body, for the members whose code is certain."""
        members = body.members
        codes = [
            member.code if member.code is not None else "".join(self.lines[member.start : member.last + 1])
            for member in members
        ]
        # The pattern ran over the source already: a member it does not reach into cannot match,
        # unless dedenting the code can make a match (see `_dedent_invariant`).
        search = self._reaches(pattern) if _dedent_invariant(pattern) else (lambda start, last: True)
        keep = [
            member.code is None
            or _may_matter(member.nodes, code, pattern, search=search(member.start, member.last))
            for member, code in zip(members, codes, strict=True)
        ]
        mentioned = set(_WORD.findall("".join(code for code, kept in zip(codes, keep, strict=True) if kept)))
        left_out = frozenset(
            index
            for index, (member, kept) in enumerate(zip(members, keep, strict=True))
            if not kept and not _assigned_names(member.nodes) & mentioned
        )
        inner: dict[int, ClassReduction] = {}
        for index, (member, kept) in enumerate(zip(members, keep, strict=True)):
            if kept and member.code is not None and member.body is not None:
                reduction = self._reduce_members(member.body, pattern)
                if reduction is not None:
                    inner[index] = reduction
        matters = frozenset(
            index
            for index, (member, kept) in enumerate(zip(members, keep, strict=True))
            if kept and member.code is not None
        )
        return ClassReduction(body, left_out, inner, matters) if left_out or inner else None

    def _reaches(self, pattern: re.Pattern[str]) -> Callable[[int, int], bool]:
        """Whether a match of ``pattern`` in the source reaches into lines ``start`` to ``last``."""
        matches = self._matching(pattern)
        starts = [start for start, _ in matches]

        def reaches(start: int, last: int) -> bool:
            # Matches do not overlap: the last one that starts before the lines end is the one to ask.
            low, high = self._offsets[start], self._offsets[last + 1]
            before = bisect.bisect_left(starts, high)
            return before > 0 and matches[before - 1][1] > low

        return reaches

    def _touched(self, pattern: re.Pattern[str], in_docstrings: bool = True) -> set[int]:
        """The statements whose code (generous for an uncertain one) a match of ``pattern`` reaches into
        (without ``in_docstrings``: a match outside the docstrings)."""
        if self._spans is None:
            self._spans = [self._span(index) for index in range(len(self.statements))]
        spans = self._spans
        starts = [start for start, _ in spans]
        found: set[int] = set()
        matches = self._matching(pattern)
        if not in_docstrings and matches:
            docstrings = Spans(docstring_spans(self.source, self.tree))
            matches = [(first, stop) for first, stop in matches if not docstrings.holds(first, stop)]
        for first, stop in matches:
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

    def _matching(self, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
        """Where ``pattern`` matches in the source: start and end (past the start, when empty)."""
        found = self._matches.get(pattern)
        if found is None:
            found = [(m.start(), max(m.end(), m.start() + 1)) for m in pattern.finditer(self.source)]
            self._matches[pattern] = found
        return found

    def _span(self, index: int) -> tuple[int, int]:
        """Offsets of the text `left_out` reads for statement ``index``."""
        statement = self.statements[index]
        if statement.known:
            return self._offsets[statement.start], self._offsets[statement.last + 1]
        start = self.statements[index - 1].last + 1 if index else 0
        stop = self.statements[index + 1].first if index + 1 < len(self.statements) else len(self.lines)
        return self._offsets[start], self._offsets[stop]

    def partial(
        self, left_out: Mapping[int, str], classes: Mapping[int, ClassReduction] | None = None
    ) -> PartialText:
        """The text LibCST parses instead of the source, with the statements ``left_out`` replaced.

        Each run of left-out statements becomes one stand-in on as many lines: `pass` for one line,
        else a string (one token, where blank lines would cost LibCST a node each). The members
        left out of the bodies of kept classes (``classes``, by statement) are replaced alike, each
        stand-in indented as its block.
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
                _stand_in(lines, self.statements[run[0]].start, self.statements[run[-1]].last + 1, "")
                stand_ins[body] = "".join(_terminated(left_out[i]) for i in run)
                body += 1
                run = []
            if index < len(self.statements):
                positions.append(body)
                body += 1
        found = PartialText("", positions, stand_ins, {}, {}, {}, set())
        for index, reduction in (classes or {}).items():
            position = positions[index]
            if position is not None:
                _reduce_class(lines, reduction, (position,), found)
        return replace(found, text="".join(lines))


def _reduce_class(
    lines: list[str], reduction: ClassReduction, path: tuple[int, ...], found: PartialText
) -> None:
    """Replace in ``lines`` the members ``reduction`` leaves out of the class at ``path``; record them."""
    members = reduction.body.members
    body = 0
    run: list[int] = []
    for index in range(len(members) + 1):
        if index < len(members) and index in reduction.left_out:
            run.append(index)
            continue
        if run:
            _stand_in(lines, members[run[0]].start, members[run[-1]].last + 1, reduction.body.indent)
            key = (*path, body)
            found.member_stand_ins[key] = "".join(members[i].code or "" for i in run)
            body += 1
            run = []
        if index < len(members):
            key = (*path, body)
            code = members[index].code
            if code is not None:
                found.member_codes[key] = code
            if index in reduction.matters:
                found.member_matters.add(key)
            inner = reduction.inner.get(index)
            if inner is not None:
                _reduce_class(lines, inner, key, found)
            body += 1
    found.member_counts[path] = body


def _stand_in(lines: list[str], start: int, stop: int, indent: str) -> None:
    """Replace ``lines[start:stop]`` by one statement indented by ``indent``, line for line."""
    ends = (indent + "pass",) if stop - start == 1 else (indent + '"""', '"""')
    for number in range(start, stop):
        ending = lines[number][len(lines[number].rstrip("\r\n")) :]
        text = ends[0] if number == start else ends[-1] if number == stop - 1 else ""
        lines[number] = text + ending


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


def _may_matter(
    nodes: Sequence[ast.stmt], code: str, pattern: re.Pattern[str], *, search: bool = True
) -> bool:
    """`context.may_matter` on the `ast` of a statement (statements on one line are one).

    ``search``: False when ``pattern`` is known not to match ``code``.
    """
    if search and pattern.search(code):
        return True
    # Both import patterns need the word, which `in` finds far faster than they do.
    if "import" not in code:
        return False
    if STAR_IMPORT.search(code):
        return True
    if len(nodes) == 1 and isinstance(nodes[0], _SCOPES):
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


# What in a regular expression can tell a line's start from the indentation before it: anchors, line
# breaks, character codes, lookbehinds, inline flags, backreferences, and negated sets that leave out
# a space or a tab.
_LINE_AWARE = re.compile(r"\^|\\[AZnrxuUN0-9]|\(\?[^:=!]")
_NEGATED_SET = re.compile(r"\[\^((?:\\.|[^\]\\])*)\]")


def _dedent_invariant(pattern: re.Pattern[str]) -> bool:
    """Whether ``pattern`` matches in a member's code only where it matches in the member's lines.

    LibCST's code of a member is its lines with the class body's indentation taken off some; a
    pattern that cannot tell a line break from the spaces or tabs after it finds no match in the
    code that its scan of the source did not find there.
    """
    text = pattern.pattern
    if pattern.flags & (re.MULTILINE | re.VERBOSE) or _LINE_AWARE.search(_NEGATED_SET.sub("", text)):
        return False
    # A negated set must leave out none of a line break, a space and a tab, or all of them.
    return not any(
        not inside or re.search(r"\s|\\[A-Za-z0-9]", inside) for inside in _NEGATED_SET.findall(text)
    )
