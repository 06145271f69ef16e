"""Fixes to a fixed point: apply the allowed, non-overlapping fixes of a round, and lint again.

Each round analyses the text once (`analyse`: CPython's parser finds the statements that matter, LibCST
parses those). Applied fixes are checked with CPython's parser, which also gives the next round its
statements; the round that finds nothing to apply describes the text, so its findings are the result
unless import clean-up changes the text in a way they could depend on. Where a round's fixes cannot
have changed what the next round would find (it would only find again the findings of local rules left
on lines no fix touched, `_carried_over`), those findings, moved, are the result without that round.

Every step says what it changed (`splice.Change`); at the end the changes, made to the original, must
give the fixed text: no byte outside them may differ from the original's (else nothing is applied).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from varmigrate.engine.analysis import Analysis, analyse
from varmigrate.engine.import_plan import Cleanup
from varmigrate.engine.imports import clean_imports
from varmigrate.engine.parsing import parse, repair_async_keywords
from varmigrate.engine.prefilter import could_match, lines_agree, parse_ast, possible_rules
from varmigrate.engine.self_assignments import _remove_self_assignments
from varmigrate.engine.settings import Settings
from varmigrate.engine.splice import (
    Alignment,
    Change,
    Ledger,
    Shift,
    UnpreservedText,
    common_prefix,
    line_starts,
    row_shift,
)
from varmigrate.model import (
    FIX_REFUSED,
    INTERNAL_ERROR,
    Applicability,
    Diagnostic,
    Edit,
    Fix,
    Location,
    RuntimeCheck,
    SourceParseError,
)
from varmigrate.rules import ASYNC_KEYWORD_RULE
from varmigrate.rules.shapes import shaped_rules

# Fixes can expose new findings (an inner `Variable(...)` once the outer one is gone); a few rounds
# reach the fixed point in practice, the bound keeps a misbehaving rule from looping forever.
MAX_ROUNDS = 8


@dataclass
class FixResult:
    """The outcome of fixing one source."""

    source: str
    applied: int = 0
    # How many of the applied fixes each rule's findings gave, by code (the counts sum to ``applied``).
    applied_codes: dict[str, int] = field(default_factory=dict)
    # Findings left in the fixed source, and internal errors (fixes that were dropped).
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Findings of the original source fixed by their UNSAFE fix because `Settings.verified` named them.
    verified: list[Diagnostic] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any fix was applied."""
        return self.applied > 0


# Whether a text parses: CPython's parse when it has one (its `ast`, for the next round), else LibCST's.
_Parser = Callable[[str], "ast.Module | bool | None"]


def fix_source(source: str, settings: Settings | None = None) -> FixResult:
    """Apply the allowed fixes to ``source`` until nothing more applies. Raises :class:`SourceParseError`.

    Fixes that would change the text anywhere but where they (and the import clean-up) meant to are
    not applied at all: the result is then ``source`` with its findings and a `FIX_REFUSED` error.
    """
    settings = settings or Settings()
    try:
        result, ledger = _fix(source, settings)
    except UnpreservedText as error:
        offset = error.offset if error.text == source else Alignment(error.text, source).start(error.offset)
        return _refused(source, settings, offset)
    if result.source != source and (kept := ledger.text) != result.source:
        return _refused(source, settings, ledger.original_offset(common_prefix(kept, result.source)))
    return result


def _fix(source: str, settings: Settings) -> tuple[FixResult, Ledger]:
    """`fix_source`, and its changes in a ledger of ``source``."""
    threshold = settings.threshold
    current = source
    tree: ast.Module | None = None  # CPython's parse of `current`, once known
    result = FixResult(source=source)
    rejected: set[tuple[str, str]] = set()
    # Per round that applied fixes: the text before, the fixes applied, those promoted by `verified`.
    rounds: list[_Round] = []
    analysis: Analysis | None = None  # of `current`, once the round analysed it
    diagnostics: list[Diagnostic] = []
    linted = current  # the source `diagnostics` describe
    for round_number in range(MAX_ROUNDS):
        if not could_match(current, settings.rules):
            analysis, diagnostics, linted = None, [], current
            break
        if analysis is None or analysis.source != current:
            try:
                analysis = analyse(current, settings.rules, tree, project=settings.project)
            except SourceParseError:
                if not rounds or rounds[-1].checker is _libcst:
                    raise
                # CPython accepted the last round's fixes and LibCST does not: check them with
                # LibCST, as every fix is checked when CPython cannot read the module.
                last = rounds.pop()
                current, tree = _redo(last, rejected, result)
                if current is not last.before:
                    rounds.append(last)
                analysis = None
                continue
        diagnostics, linted = analysis.diagnostics, current
        # Verified locations name the original source: only the first round sees it unchanged. A
        # finding inside another fix's span is fixed in a later round and keeps its ordinary fix.
        verified = settings.verified if round_number == 0 else frozenset()
        promoted: dict[int, Diagnostic] = {}
        fixes = []
        for d in diagnostics:
            fix = verified_fix(d, verified) or d.fix_for(threshold)
            if fix is None or (d.code, _key(fix)) in rejected:
                continue
            if fix.applicability < threshold:
                promoted[id(fix)] = d
            fixes.append(fix)
        if not fixes:
            break
        # CPython's parser checks the result when it reads the module (its parse then serves the next
        # round); a module only LibCST reads (`print(*a for a in b)`) is checked with LibCST.
        checker = _cpython if analysis.outline is not None else _libcst
        step = _Round(current, _non_overlapping(fixes), diagnostics, promoted, checker)
        # Let this round's trees go before CPython parses the next text: one at a time in memory.
        analysis = tree = None
        new_current, new_tree = _step(step, rejected, result)
        if new_current is current:
            continue
        rounds.append(step)
        current, tree = new_current, new_tree
        carried = _carried_over(step, len(fixes), current, tree, settings)
        if carried is not None:
            # What the next round would find: nothing to apply, and these.
            diagnostics, linted = carried, current
            break
    for step in rounds:
        result.applied += len(step.applied)
        owners = {id(fix): d.code for d in step.diagnostics for fix in d.fixes}
        for fix in step.applied:
            code = owners[id(fix)]
            result.applied_codes[code] = result.applied_codes.get(code, 0) + 1
        if absorbed := _absorbed_renames(step):
            result.applied += absorbed
            result.applied_codes[ASYNC_KEYWORD_RULE] = (
                result.applied_codes.get(ASYNC_KEYWORD_RULE, 0) + absorbed
            )
        result.verified.extend(step.promoted[id(fix)] for fix in step.applied if id(fix) in step.promoted)
    cleanup = Cleanup(current, current, None)
    if result.applied:
        imports = {name for step in rounds for fix in step.applied for name in fix.imports}
        last_analysis = analysis if analysis is not None and analysis.source == current else None
        cleanup = clean_imports(
            current, imports, last_analysis, tree, keep=settings.project.imported_elsewhere
        )
    if cleanup.source != linted:
        diagnostics = _after_cleanup(cleanup, linted, diagnostics, settings)
    result.source = cleanup.source
    result.diagnostics = sorted([*diagnostics, *result.diagnostics], key=lambda d: (d.start, d.code))
    ledger = Ledger(source)
    for changes in [*(changes for step in rounds for changes in step.changes), cleanup.changes]:
        ledger.apply(changes)
    return result, ledger


def _carried_over(
    step: _Round, offered: int, text: str, tree: ast.Module | None, settings: Settings
) -> list[Diagnostic] | None:
    """The findings of ``text``, what ``step`` made of its text, without analysing it; None when unsure.

    They are the findings the round left, moved, when: the round applied every fix it was offered
    (``offered``: none waits for a later round, none broke the module); ``text`` can hold findings of
    local rules only (`RuleSpec.local`), as `analyse` would tell from the text and CPython's parse of it,
    and every finding left is one; no change touched their lines; and the rules' patterns match ``text``
    only within lines the changes left as they were. A finding of a local rule is then where a match was
    before, as it was, and a line that did not change holds what it held before: the next round would
    find the same, and apply nothing. Where no rule can fire in ``text`` and nothing was left, they are
    none.
    """
    if step.errors or len(step.applied) != offered or tree is None:
        return None
    applied = {id(fix) for fix in step.applied}
    left = [d for d in step.diagnostics if not any(id(fix) in applied for fix in d.fixes)]
    # Cheapest first: a finding left of a rule that is not local settles it.
    codes = {d.code for d in left}
    if not codes <= {rule.code for rule in settings.rules if rule.local}:
        return None
    # As `analyse` reads a text: CPython's parse says which rules have the shapes of a finding only where
    # it ends lines as LibCST does.
    if not lines_agree(text):
        return None
    rules = shaped_rules(text, tree, possible_rules(text, settings.rules))
    if not rules:
        # No rule can fire: the next round would find nothing (without LibCST), and so apply nothing.
        return None if left else []
    if not all(rule.local and rule.pattern for rule in rules):
        return None
    if not codes <= {rule.code for rule in rules}:
        return None
    shift = _round_shift(step)
    moved = []
    for diagnostic in left:
        edits = [edit for fix in diagnostic.fixes for edit in fix.edits]
        rows = [
            diagnostic.start.row,
            diagnostic.end.row,
            *(e.start.row for e in edits),
            *(e.end.row for e in edits),
        ]
        if any(shift(row) is None for row in range(min(rows), max(rows) + 1)):
            return None
        carried = _shifted(diagnostic, shift)
        if carried is None:
            return None
        moved.append(carried)
    kept = {new[0] for row in range(1, len(line_starts(step.before)) + 1) if (new := shift(row)) is not None}
    starts = line_starts(text)
    for rule in rules:
        assert rule.pattern is not None
        for match in re.finditer(rule.pattern, text):
            row = bisect.bisect_right(starts, match.start())
            if row != bisect.bisect_right(starts, max(match.start(), match.end() - 1)) or row not in kept:
                return None
    return moved


def _round_shift(step: _Round) -> Shift:
    """How the rows of the round's text move: by its fixes' edits, then by the self-assignments removed."""
    edited, removed = step.changes
    shift = row_shift(step.before, edited)
    if not removed:
        return shift
    then = row_shift(_apply(step.before, step.applied), removed)

    def composed(row: int) -> tuple[int, int] | None:
        moved = shift(row)
        again = None if moved is None else then(moved[0])
        return None if moved is None or again is None else (again[0], moved[1] + again[1])

    return composed


def _absorbed_renames(step: _Round) -> int:
    """How many of the round's `async=` findings (VM405) an applied fix of another finding also fixed.

    Such a fix is written from the module as analysed, where the keyword already reads `non_blocking`:
    its edit renames the keyword too, and no later round sees that finding again to count it.
    """
    applied = {id(fix) for fix in step.applied}
    spans = [(edit.start_offset, edit.end_offset) for fix in step.applied for edit in fix.edits]
    count = 0
    for diagnostic in step.diagnostics:
        if diagnostic.code != ASYNC_KEYWORD_RULE or any(id(fix) in applied for fix in diagnostic.fixes):
            continue
        edits = [edit for fix in diagnostic.fixes[:1] for edit in fix.edits]
        if edits and all(any(s <= e.start_offset and e.end_offset <= t for s, t in spans) for e in edits):
            count += 1
    return count


def _refused(source: str, settings: Settings, offset: int) -> FixResult:
    """The result of not fixing ``source``: its findings, and an error at ``offset`` that says why."""
    project = settings.project
    matches = could_match(source, settings.rules)
    findings = analyse(source, settings.rules, project=project).diagnostics if matches else []
    starts = line_starts(source)
    row = bisect.bisect_right(starts, offset)
    where = Location(row, offset - starts[row - 1] + 1)
    error = Diagnostic(
        code=FIX_REFUSED,
        name="fix-refused",
        message=(
            "fixes not applied: the fixed file would also change here, outside the fixed code "
            "(LibCST does not print every file back as it read it)"
        ),
        start=where,
        end=where,
    )
    return FixResult(source=source, diagnostics=sorted([*findings, error], key=lambda d: (d.start, d.code)))


@dataclass
class _Round:
    """The fixes one round chose on ``before``, and what became of them."""

    before: str
    chosen: list[Fix]
    diagnostics: list[Diagnostic]
    promoted: dict[int, Diagnostic]
    checker: _Parser
    applied: list[Fix] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    # What the round changed: its fixes' edits, then what removing self-assignments changed after them.
    changes: list[list[Change]] = field(default_factory=list)


def _step(step: _Round, rejected: set[tuple[str, str]], result: FixResult) -> tuple[str, ast.Module | None]:
    """Apply the round's fixes (those that break the module become errors); the new text and its parse."""
    new_source, new_tree, step.applied, errors = _apply_checked(step.before, step.chosen, step.checker)
    for bad in errors:
        code = next(d.code for d in step.diagnostics if bad in d.fixes)
        rejected.add((code, _key(bad)))
        error = _internal_error(code, bad)
        step.errors.append(error)
        result.diagnostics.append(error)
    if not step.applied:
        step.changes = []
        return step.before, None
    edits = sorted((e for f in step.applied for e in f.edits), key=lambda e: e.start_offset)
    step.changes = [[(e.start_offset, e.end_offset, e.content) for e in edits]]
    new, tree, removed = _remove_self_assignments(new_source, new_tree, step.applied)
    step.changes.append(removed)
    return new, tree


def _redo(step: _Round, rejected: set[tuple[str, str]], result: FixResult) -> tuple[str, ast.Module | None]:
    """Apply ``step``'s fixes again, checked with LibCST this time."""
    for error in step.errors:
        result.diagnostics.remove(error)
    step.errors = []
    step.checker = _libcst
    return _step(step, rejected, result)


def _after_cleanup(
    cleanup: Cleanup, linted: str, diagnostics: list[Diagnostic], settings: Settings
) -> list[Diagnostic]:
    """The findings of ``cleanup.source``, given those of ``linted`` (the text before clean-up).

    Removing imports nothing uses changes no finding; they only move up by the lines removed. Anything
    else (the rounds ran out, an import was added, a finding on a changed line) is analysed afresh.
    """
    if not could_match(cleanup.source, settings.rules):
        return []
    if cleanup.before == linted and cleanup.shift is not None:
        shifted = [_shifted(d, cleanup.shift) for d in diagnostics]
        if all(d is not None for d in shifted):
            return [d for d in shifted if d is not None]
    return analyse(cleanup.source, settings.rules, project=settings.project).diagnostics


def _shifted(diagnostic: Diagnostic, shift: Callable[[int], tuple[int, int] | None]) -> Diagnostic | None:
    """``diagnostic`` moved to the new text (``shift`` maps an old row to its new row and offset change)."""
    start = _moved(diagnostic.start, shift)
    end = _moved(diagnostic.end, shift)
    if start is None or end is None:
        return None
    fixes = []
    for fix in diagnostic.fixes:
        edits = []
        for edit in fix.edits:
            moved = _moved_edit(edit, shift)
            if moved is None:
                return None
            edits.append(moved)
        fixes.append(Fix(fix.title, fix.applicability, tuple(edits), fix.imports, fix.verified_by))
    return Diagnostic(
        diagnostic.code,
        diagnostic.name,
        diagnostic.message,
        start,
        end,
        tuple(fixes),
        diagnostic.cell,
    )


def _moved(location: Location, shift: Callable[[int], tuple[int, int] | None]) -> Location | None:
    moved = shift(location.row)
    return None if moved is None else Location(moved[0], location.column)


def _moved_edit(edit: Edit, shift: Callable[[int], tuple[int, int] | None]) -> Edit | None:
    start, end = shift(edit.start.row), shift(edit.end.row)
    if start is None or end is None or start[1] != end[1]:
        return None
    return Edit(
        edit.content,
        Location(start[0], edit.start.column),
        Location(end[0], edit.end.column),
        edit.start_offset + start[1],
        edit.end_offset + end[1],
    )


def verified_fix(
    diagnostic: Diagnostic, verified: frozenset[tuple[str, Location, RuntimeCheck]]
) -> Fix | None:
    """The UNSAFE or DISPLAY_ONLY fix of ``diagnostic`` whose check a run showed to hold here, else None."""
    if not verified:
        return None
    for fix in diagnostic.fixes:
        if (
            fix.applicability is not Applicability.SAFE
            and fix.verified_by is not None
            and (diagnostic.code, diagnostic.start, fix.verified_by) in verified
        ):
            return fix
    return None


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


def _cpython(source: str) -> ast.Module | None:
    return parse_ast(source)


def _libcst(source: str) -> bool:
    try:
        parse(source)
    except SourceParseError:
        # Its `async=` keywords (VM405) made the module unparseable before: fixes elsewhere keep it so.
        return repair_async_keywords(source) is not None
    return True


def _apply_checked(
    source: str, fixes: list[Fix], parses: _Parser
) -> tuple[str, ast.Module | None, list[Fix], list[Fix]]:
    """Apply ``fixes``; those that would make the module unparseable are returned as errors, not applied.

    Returns the new text, CPython's parse of it when ``parses`` is CPython's parser, the fixes
    applied and the errors.
    """
    new = _apply(source, fixes)
    checked = parses(new)
    if checked:
        return new, _tree(checked), fixes, []
    bad = [fix for fix in fixes if not parses(_apply(source, [fix]))]
    good = [fix for fix in fixes if fix not in bad]
    new = _apply(source, good)
    checked = parses(new) if good else None
    if good and not checked:
        # The fixes break the module only together: apply one per round.
        good = good[:1]
        new = _apply(source, good)
        checked = parses(new)
    return new, _tree(checked), good, bad


def _tree(checked: ast.Module | bool | None) -> ast.Module | None:
    return checked if isinstance(checked, ast.Module) else None
