"""Findings of one module: every selected rule in one batched traversal, then ``# noqa``."""

from __future__ import annotations

import ast
import bisect
import functools
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import libcst as cst

from varmigrate.engine.displays import blank_elements, long_statement
from varmigrate.engine.outline import ClassReduction, Outline
from varmigrate.engine.parsing import (
    DEPTH_ERRORS,
    MAX_BRACKETS,
    bracket_depth,
    cpython_error,
    parse,
    repair_async_keywords,
)
from varmigrate.engine.prefilter import could_match, lines_agree, parse_ast, possible_rules, settled_check
from varmigrate.engine.settings import Settings
from varmigrate.engine.splice import LINE, Alignment, line_starts, may_differ
from varmigrate.model import Diagnostic, Edit, Location, ProjectImports, SourceParseError
from varmigrate.noqa import noqa_lines, reported
from varmigrate.rules import ASYNC_KEYWORD_RULE, RuleSpec
from varmigrate.rules.context import IncompleteModuleError, ModuleContext, Partial
from varmigrate.rules.shapes import shaped_rules


@dataclass(frozen=True)
class Analysis:
    """One analysis of a source: its findings, and the context (module, metadata) they came from."""

    source: str
    diagnostics: list[Diagnostic]
    # None when no rule was left to look for anything, and LibCST parsed nothing.
    ctx: ModuleContext | None
    # The top-level statements, when CPython's parser read the source first.
    outline: Outline | None
    # Where each of those is in ``ctx.module``'s body (None: left out); None when all are there.
    positions: list[int | None] | None = None


def check_source(source: str, settings: Settings | None = None, *, settle: bool = True) -> list[Diagnostic]:
    """Findings in ``source`` (after ``# noqa``), sorted by position. Raises :class:`SourceParseError`.

    ``settle``: first ask whether CPython's parse settles them (`settled_check`), as `check` does.
    """
    settings = settings or Settings()
    if not could_match(source, settings.rules):
        return []
    if settle:
        settled = settled_check(source, settings.rules)
        if settled is not None:
            return settled
    return analyse(source, settings.rules, project=settings.project).diagnostics


def lint(
    module: cst.Module, source: str, rules: Sequence[RuleSpec], *, reduce: bool = True
) -> list[Diagnostic]:
    """Findings of ``rules`` in ``module`` (parsed from ``source``), after ``# noqa``, sorted by position."""
    return _findings(ModuleContext.build(module, source, rules if reduce else ()), source, rules)


def analyse(
    source: str,
    rules: Sequence[RuleSpec],
    tree: ast.Module | None = None,
    *,
    project: ProjectImports | None = None,
) -> Analysis:
    """Findings of ``rules`` in ``source``, parsing with LibCST only the statements that may matter.

    CPython's parser (``tree``, when the caller has it) finds the top-level statements; those that
    cannot hold a finding nor bind a name the others use reach LibCST as `pass` on as many lines.
    Whenever that is not certain to give what the whole module gives, the whole module is parsed.
    LibCST's positions are in its printing of what it parsed: when that may differ from the text
    (`may_differ`) and does, the findings are those of the whole module's printing, placed in
    ``source``. ``project`` says what imports of the project's other modules bind in the module.
    A source CPython rejects only for its `async=` keyword arguments is analysed with them renamed.
    Raises :class:`SourceParseError`.

    Only the rules the text prefilter passes one by one take part (`possible_rules`), less those whose
    findings' shape CPython's parse does not hold (`shaped_rules`): the others have no finding in
    ``source``, and a rule whose statements are kept needlessly (VM404's `def forward` is in most
    model files) costs the parse and scope analysis of those statements. With none left, LibCST
    parses nothing.
    """
    possible = possible_rules(source, rules)
    outline = outline_of(source, tree)
    if outline is not None:
        possible = shaped_rules(source, outline.tree, possible)
        if not possible:
            return Analysis(source, [], None, outline)
    return _analysed(source, possible, outline, project)


def _analysed(
    source: str,
    rules: Sequence[RuleSpec],
    outline: Outline | None,
    project: ProjectImports | None,
    repairs: frozenset[int] = frozenset(),
) -> Analysis:
    """`analyse` of ``source``, which CPython reads as ``outline``, with ``rules`` as given (the renamed
    keywords of a repaired text fail VM405's prefilter, whose findings they are; ``repairs`` says where
    ``source`` holds them)."""
    if outline is not None:
        found = _partial_context(outline, rules, project)
        if found is not None:
            ctx, positions = found
            ctx.async_repairs = repairs
            return Analysis(source, _findings(ctx, source, rules), ctx, outline, positions)
    if outline is None:
        # LibCST reads some code CPython rejects (and reports the errors of the rest as CPython does),
        # but nesting deeper than CPython allows can overflow its native parser's stack: a crash.
        error = cpython_error(source)
        if error is not None and (error.message in DEPTH_ERRORS or bracket_depth(source) > MAX_BRACKETS):
            raise error
        repaired = _analyse_repaired(source, rules, project) if error is not None and not repairs else None
        if repaired is not None:
            return repaired
    module = parse(source)
    if may_differ(source) and (printed := module.code) != source:
        return _analyse_printed(source, printed, module, rules, outline, project)
    ctx = ModuleContext.build(module, source, rules, project=project)
    ctx.async_repairs = repairs
    return Analysis(source, _findings(ctx, source, rules), ctx, outline)


def _analyse_repaired(
    source: str, rules: Sequence[RuleSpec], project: ProjectImports | None
) -> Analysis | None:
    """The analysis of ``source``, which CPython cannot parse, once its `async=` keywords are renamed.

    None unless that renaming alone makes it parse and the rule that reports it is selected. The
    findings are placed in ``source``; the rule finds the renamed keywords in the context.
    """
    if not any(rule.code == ASYNC_KEYWORD_RULE for rule in rules):
        return None
    repair = repair_async_keywords(source)
    if repair is None:
        return None
    _refuse_suppressed_repairs(source, repair.originals)
    inner = _analysed(repair.text, rules, outline_of(repair.text), project, repair.renamed)
    place = _Placing(repair, line_starts(repair.text), line_starts(source))
    return Analysis(source, [place.diagnostic(d) for d in inner.diagnostics], inner.ctx, None)


# A file whose `async=` keyword a noqa directive keeps cannot be rewritten: it would stay a syntax error.
SUPPRESSED_ASYNC = (
    "invalid syntax: `# noqa` keeps this `async=` keyword (a reserved word since Python 3.7), "
    f"so the file is not analysed with it renamed `non_blocking=` ({ASYNC_KEYWORD_RULE})"
)


def _refuse_suppressed_repairs(source: str, offsets: Sequence[int]) -> None:
    """Raise the parse error of ``source`` when a `# noqa` suppresses one of its `async=` keywords.

    The keyword starts at one of ``offsets``. A finding suppressed there is a file left as it is: the
    noqa'd line could only stay `async=` while the rest is rewritten, and the result would not parse.
    """
    suppressed = noqa_lines(source)
    if not suppressed:
        return
    starts = line_starts(source)
    for offset in offsets:
        row = bisect.bisect_right(starts, offset)
        if row in suppressed and (suppressed[row] is None or ASYNC_KEYWORD_RULE in (suppressed[row] or ())):
            raise SourceParseError(SUPPRESSED_ASYNC, row, offset - starts[row - 1] + 1)


def _analyse_printed(
    source: str,
    printed: str,
    module: cst.Module,
    rules: Sequence[RuleSpec],
    outline: Outline | None,
    project: ProjectImports | None,
) -> Analysis:
    """The analysis of ``printed``, LibCST's printing of ``source`` (its ``module``), placed in ``source``.

    Its context and positions are the printing's; the findings and their edits are moved to where
    their characters are in ``source`` (an edit leaves out what only ``source`` has at its ends).
    """
    ctx = ModuleContext.build(module, printed, rules, project=project)
    place = _Placing(Alignment(printed, source), line_starts(printed), line_starts(source))
    return Analysis(source, [place.diagnostic(d) for d in _findings(ctx, printed, rules)], ctx, outline)


class _Spans(Protocol):
    """Where a span of one text is in another."""

    def span(self, start: int, end: int) -> tuple[int, int]: ...


@dataclass(frozen=True)
class _Placing:
    """Positions in LibCST's printing of a text -> positions in the text."""

    alignment: _Spans
    printed_lines: list[int]  # where each line of the printing starts
    lines: list[int]  # and of the text

    def diagnostic(self, diagnostic: Diagnostic) -> Diagnostic:
        start, end = self.alignment.span(self._offset(diagnostic.start), self._offset(diagnostic.end))
        fixes = tuple(replace(fix, edits=tuple(map(self._edit, fix.edits))) for fix in diagnostic.fixes)
        return replace(diagnostic, start=self._location(start), end=self._location(end), fixes=fixes)

    def _edit(self, edit: Edit) -> Edit:
        start, end = self.alignment.span(edit.start_offset, edit.end_offset)
        return Edit(edit.content, self._location(start), self._location(end), start, end)

    def _offset(self, location: Location) -> int:
        return self.printed_lines[location.row - 1] + location.column - 1

    def _location(self, offset: int) -> Location:
        row = bisect.bisect_right(self.lines, offset)
        return Location(row, offset - self.lines[row - 1] + 1)


def outline_of(source: str, tree: ast.Module | None = None) -> Outline | None:
    """The top-level statements of ``source`` (parsed with CPython's parser unless ``tree`` is given)."""
    if not lines_agree(source):
        return None
    tree = tree if tree is not None else parse_ast(source)
    return Outline(source, tree) if tree is not None else None


def _partial_context(
    outline: Outline, rules: Sequence[RuleSpec], project: ProjectImports | None
) -> tuple[ModuleContext, list[int | None]] | None:
    """The context of a module parsed without the statements that cannot matter, or None to parse all.

    Also says where each top-level statement is in the module's body (None: left out).
    """
    pattern = ModuleContext.for_text(outline.source, project=project).statement_pattern(rules)
    left_out = outline.left_out(pattern)
    classes = outline.class_reductions(pattern, left_out)
    parsed = (
        parse_partial(outline, left_out, classes, exact=True, pattern=pattern)
        if left_out or classes or any(long_statement(s.first, s.last) for s in outline.statements)
        else None
    )
    if parsed is None:
        return None
    module, partial, positions = parsed
    try:
        ctx = ModuleContext.build(module, outline.source, rules, partial=partial, project=project)
    except IncompleteModuleError:
        return None
    # The statements were chosen with what the text alone says; the module must say the same.
    return (ctx, positions) if ctx.statement_pattern(rules).pattern == pattern.pattern else None


def parse_partial(
    outline: Outline,
    left_out: Mapping[int, str],
    classes: Mapping[int, ClassReduction] | None = None,
    *,
    exact: bool = False,
    pattern: re.Pattern[str] | None = None,
) -> tuple[cst.Module, Partial, list[int | None]] | None:
    """LibCST's parse of the source without the statements ``left_out`` (None when LibCST objects).

    Nor the members ``classes`` leaves out of class bodies. ``exact``: None too when LibCST does not
    print the text it parsed back as it is (its positions would not be the text's). ``pattern``: the
    statement pattern they were chosen for; the partial then says which statements the outline
    found may matter.
    """
    found = outline.partial(left_out, classes)
    text, positions, stand_ins = found.text, found.positions, found.stand_ins
    blanked = ""
    if pattern is not None:
        # Long displays in the statements kept whole lose the elements that cannot matter.
        kept = [
            (statement.first, statement.last, statement.nodes)
            for index, statement in enumerate(outline.statements)
            if positions[index] is not None
            and statement.known
            and index not in (classes or {})
            and not isinstance(statement.nodes[-1], ast.ClassDef)
            and long_statement(statement.first, statement.last)
        ]
        if kept:  # the text is split into lines only when there is something to blank
            lines = LINE.findall(text)
            blanked = blank_elements(lines, kept, pattern)
            if blanked:
                text = "".join(lines)
    try:
        module = cst.parse_module(text)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError):
        # The whole module is parsed instead, and reports the error as it always has.
        return None
    if exact and may_differ(text) and module.code != text:
        return None
    if len(module.body) != len(stand_ins) + sum(p is not None for p in positions):
        return None
    if any(_class_body_length(module, path) != count for path, count in found.member_counts.items()):
        return None
    newline = module.default_newline
    codes = {
        position: outline.code(index)
        if outline.code(index).endswith(("\n", "\r"))
        else outline.code(index) + newline
        for index, position in enumerate(positions)
        if position is not None and outline.statements[index].known
    }
    matters: frozenset[int] = frozenset()
    if pattern is not None:
        matters = frozenset(
            position
            for position, statement, matter in zip(
                positions, outline.statements, outline.matter(pattern), strict=True
            )
            if position is not None and statement.known and matter
        )
    partial = Partial(
        stand_ins,
        codes,
        found.member_stand_ins,
        found.member_codes,
        matters=matters,
        member_matters=frozenset(found.member_matters),
        blanked=blanked,
    )
    return module, partial, positions


def _class_body_length(module: cst.Module, path: Sequence[int]) -> int | None:
    """How many statements the indented body of the class at ``path`` holds (None: no such class)."""
    node: cst.BaseStatement = module.body[path[0]]
    for index in path[1:]:
        if not isinstance(node, cst.ClassDef) or not isinstance(node.body, cst.IndentedBlock):
            return None
        if index >= len(node.body.body):
            return None
        node = node.body.body[index]
    if not isinstance(node, cst.ClassDef) or not isinstance(node.body, cst.IndentedBlock):
        return None
    return len(node.body.body)


def _findings(ctx: ModuleContext, source: str, rules: Sequence[RuleSpec]) -> list[Diagnostic]:
    _visit(ctx, [rule.load()(ctx, rule) for rule in rules])
    return reported(ctx.diagnostics, source)


@functools.cache
def _callback_names(kind: type[cst.BatchableCSTVisitor]) -> tuple[str, ...]:
    """The `visit_*` / `leave_*` attributes of ``kind`` that are not LibCST's empty stubs.

    An attribute is the definition of the first class of ``kind``'s MRO that defines the name, so it is
    a callback when that class's own definition is one. Each class's own are worked out once: LibCST's
    1,800 stubs are looked at once per process, not once for every rule.
    """
    found: set[str] = set()
    shadowed: set[str] = set()
    for owner in kind.__mro__:
        defined, callbacks = _own_callbacks(owner)
        found |= callbacks - shadowed
        shadowed |= defined
    return tuple(sorted(found))


@functools.cache
def _own_callbacks(owner: type) -> tuple[frozenset[str], frozenset[str]]:
    """The `visit_*` / `leave_*` names ``owner`` itself defines, and those of them that are not stubs."""
    defined = frozenset(name for name in vars(owner) if name.startswith(("visit_", "leave_")))
    callbacks = (name for name in defined if not getattr(getattr(owner, name), "_is_no_op", False))
    return defined, frozenset(callbacks)


def _visit(ctx: ModuleContext, visitors: Sequence[cst.BatchableCSTVisitor]) -> None:
    """``cst.visit_batched`` over ``ctx.module``, without rebuilding every node on the way.

    The rules only visit node types (`visit_Call`); any other callback (`leave_*`, attribute visits)
    and LibCST's own traversal runs.
    """
    methods: dict[str, list[Callable[[cst.CSTNode], None]]] = {}
    for visitor in visitors:
        for name in _callback_names(type(visitor)):
            method = getattr(visitor, name)
            # What `BatchableCSTVisitor.get_visitors` keeps (it reads every attribute to find them).
            if inspect.ismethod(method) and not getattr(method, "_is_no_op", False):
                methods.setdefault(name, []).append(method)
    if any(not name.startswith("visit_") or "_" in name[len("visit_") :] for name in methods):
        cst.visit_batched(ctx.module, visitors)
        return
    by_type: dict[type[cst.CSTNode], list[Callable[[cst.CSTNode], None]]] = {}
    for node in ctx.nodes():
        kind = type(node)
        callbacks = by_type.get(kind)
        if callbacks is None:
            callbacks = by_type[kind] = methods.get(f"visit_{kind.__name__}", [])
        for callback in callbacks:
            callback(node)
