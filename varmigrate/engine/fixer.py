"""Fixes to a fixed point: apply the allowed, non-overlapping fixes of a round, and lint again."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m
from libcst.metadata import MetadataWrapper, PositionProvider

from varmigrate.engine.analysis import check_source, lint
from varmigrate.engine.imports import clean_imports
from varmigrate.engine.parsing import parse
from varmigrate.engine.prefilter import could_match
from varmigrate.engine.settings import Settings
from varmigrate.model import INTERNAL_ERROR, Applicability, Diagnostic, Fix, Location, SourceParseError
from varmigrate.rules import nodes

# Fixes can expose new findings (an inner `Variable(...)` once the outer one is gone); a few rounds
# reach the fixed point in practice, the bound keeps a misbehaving rule from looping forever.
MAX_ROUNDS = 8


@dataclass
class FixResult:
    """The outcome of fixing one source."""

    source: str
    applied: int = 0
    # Findings left in the fixed source, and internal errors (fixes that were dropped).
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Findings of the original source fixed by their UNSAFE fix because `Settings.verified` named them.
    verified: list[Diagnostic] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any fix was applied."""
        return self.applied > 0


def fix_source(source: str, settings: Settings | None = None) -> FixResult:
    """Apply the allowed fixes to ``source`` until nothing more applies. Raises :class:`SourceParseError`."""
    settings = settings or Settings()
    threshold = settings.threshold
    current = source
    result = FixResult(source=source)
    imports: set[str] = set()
    rejected: set[tuple[str, str]] = set()
    diagnostics: list[Diagnostic] = []
    linted = current  # the source `diagnostics` describe
    for round_number in range(MAX_ROUNDS):
        if not could_match(current, settings.rules):
            diagnostics, linted = [], current
            break
        diagnostics = lint(parse(current), current, settings.rules)
        linted = current
        # Verified locations name the original source: only the first round sees it unchanged. A
        # finding inside another fix's span is fixed in a later round and keeps its ordinary fix.
        verified = settings.verified if round_number == 0 else frozenset()
        promoted: dict[int, Diagnostic] = {}
        fixes = []
        for d in diagnostics:
            fix = _verified_fix(d, verified) or d.fix_for(threshold)
            if fix is None or (d.code, _key(fix)) in rejected:
                continue
            if fix.applicability < threshold:
                promoted[id(fix)] = d
            fixes.append(fix)
        if not fixes:
            break
        chosen = _non_overlapping(fixes)
        new_source, errors = _apply_checked(current, chosen)
        for bad in errors:
            code = next(d.code for d in diagnostics if bad in d.fixes)
            rejected.add((code, _key(bad)))
            result.diagnostics.append(_internal_error(code, bad))
        applied = [fix for fix in chosen if fix not in errors]
        if not applied:
            continue
        current = _remove_self_assignments(new_source, applied)
        result.applied += len(applied)
        result.verified.extend(promoted[id(fix)] for fix in applied if id(fix) in promoted)
        for fix in applied:
            imports.update(fix.imports)
    if result.applied:
        current = clean_imports(current, imports)
    if current != linted:
        # Import cleanup moved lines, or the rounds ran out: describe the code as it is now.
        diagnostics = check_source(current, settings)
    result.source = current
    result.diagnostics = sorted([*diagnostics, *result.diagnostics], key=lambda d: (d.start, d.code))
    return result


def _verified_fix(diagnostic: Diagnostic, verified: frozenset[tuple[str, Location]]) -> Fix | None:
    """The UNSAFE fix of ``diagnostic`` when a run showed it exact at this location, else None."""
    if (diagnostic.code, diagnostic.start) not in verified:
        return None
    fix = diagnostic.fix_for(Applicability.UNSAFE)
    if fix is None or fix.applicability is not Applicability.UNSAFE or fix.verified_by is None:
        return None
    return fix


def _key(fix: Fix) -> str:
    return "\0".join(edit.content for edit in fix.edits) + fix.title


def _internal_error(code: str, fix: Fix) -> Diagnostic:
    edit = fix.edits[0]
    return Diagnostic(
        code=INTERNAL_ERROR,
        name="internal-error",
        message=f"{code} fix {fix.title!r} would produce code that does not parse; not applied",
        start=edit.start,
        end=edit.end,
    )


def _non_overlapping(fixes: Sequence[Fix]) -> list[Fix]:
    """The fixes whose edits overlap no earlier-starting, wider fix (outer fixes win; inner ones wait)."""
    ordered = sorted(
        fixes, key=lambda f: (min(e.start_offset for e in f.edits), -max(e.end_offset for e in f.edits))
    )
    taken: list[tuple[int, int]] = []
    chosen: list[Fix] = []
    for fix in ordered:
        spans = [(e.start_offset, e.end_offset) for e in fix.edits]
        if any((s < te and ts < e) or (s == e == ts) for s, e in spans for ts, te in taken):
            continue
        taken.extend(spans)
        chosen.append(fix)
    return chosen


def _apply(source: str, fixes: Sequence[Fix]) -> str:
    edits = sorted((e for f in fixes for e in f.edits), key=lambda e: e.start_offset)
    parts: list[str] = []
    position = 0
    for edit in edits:
        parts.append(source[position : edit.start_offset])
        parts.append(edit.content)
        position = edit.end_offset
    parts.append(source[position:])
    return "".join(parts)


def _parses(source: str) -> bool:
    try:
        parse(source)
    except SourceParseError:
        return False
    return True


def _apply_checked(source: str, fixes: list[Fix]) -> tuple[str, list[Fix]]:
    """Apply ``fixes``; those that would make the module unparseable are returned as errors, not applied."""
    new = _apply(source, fixes)
    if _parses(new):
        return new, []
    bad = [fix for fix in fixes if not _parses(_apply(source, [fix]))]
    good = [fix for fix in fixes if fix not in bad]
    new = _apply(source, good)
    if good and not _parses(new):
        # The fixes break the module only together: apply one per round.
        good = good[:1]
        new = _apply(source, good)
    return new, bad


_PLAIN = re.compile(r"[\w.]+")


def _remove_self_assignments(source: str, applied: Sequence[Fix]) -> str:
    """Remove statements that a fix turned into ``x = x`` / ``a, b = a, b``, keeping their comments."""
    if not any(_PLAIN.fullmatch(edit.content) for fix in applied for edit in fix.edits):
        return source
    wrapper = MetadataWrapper(parse(source), unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    # Edited spans in the new source's rows: a self-assignment counts only if a fix touched it.
    touched = _edited_rows(source, applied)
    doomed: set[int] = set()
    for node in m.findall(wrapper.module, m.SimpleStatementLine(body=[m.Assign()])):
        assert isinstance(node, cst.SimpleStatementLine)
        assign = node.body[0]
        assert isinstance(assign, cst.Assign)
        value = _normalized(assign.value)
        position = positions[node]
        rows = set(range(position.start.line, position.end.line + 1))
        if rows & touched and all(_normalized(t.target) == value for t in assign.targets):
            doomed.add(id(node))
    if not doomed:
        return source
    return wrapper.module.visit(_StatementRemover(doomed)).code


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
    return re.sub(r"[\s()]", "", nodes.code(node))


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
