"""Parse a module, run the selected rules on one metadata wrapper, apply fixes to a fixed point.

The engine knows rules and LibCST; it knows nothing about files, paths or terminals.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from varmigrate.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from varmigrate.rules import ALL_RULES, ModuleContext, Rule, _cst
from varmigrate.rules._torch import AUTOGRAD_MODULES, VARIABLE

# Fixes can expose new findings (an inner `Variable(...)` once the outer one is gone); a few rounds
# reach the fixed point in practice, the bound keeps a misbehaving rule from looping forever.
MAX_ROUNDS = 8
INTERNAL_ERROR = "VM900"

# A noqa directive anywhere in a comment: bare (all codes) or followed by `: VM001, VM002`.
NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


class SourceParseError(Exception):
    """The source is not valid Python 3 (for example Python 2 `print x`)."""

    def __init__(self, message: str, row: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column

    def __str__(self) -> str:
        return f"{self.row}:{self.column}: {self.message}"


@dataclass(frozen=True)
class Settings:
    """What to run and how far fixes may go."""

    rules: tuple[type[Rule], ...] = ALL_RULES
    unsafe_fixes: bool = False
    # Findings, as (code, start) in the source given to `fix_source`, whose UNSAFE fix a run of the
    # program has shown to be exact (see `RuntimeCheck`): they get that fix even without `unsafe_fixes`.
    verified: frozenset[tuple[str, Location]] = frozenset()

    @property
    def threshold(self) -> Applicability:
        """The least trustworthy applicability that may be applied."""
        return Applicability.UNSAFE if self.unsafe_fixes else Applicability.SAFE


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


# Strings and comments, matched left to right so that a quote in a comment or a `#` in a string is
# consumed by the construct that starts first. Only used to prefilter: never to decide a finding.
_STRINGS_AND_COMMENTS = re.compile(
    r"""(?s)("{3}|'{3}).*?\1|"(?:\\.|[^"\\\r\n])*"|'(?:\\.|[^'\\\r\n])*'|#[^\r\n]*"""
)


def could_match(source: str, rules: Iterable[type[Rule]] = ALL_RULES) -> bool:
    """Cheap text prefilter: whether ``source`` can hold a finding of any of ``rules``.

    A plain substring test first (hundreds of MB/s); only text that passes it is stripped of strings
    and comments and asked again, word by word.
    """
    stripped: list[str] = []

    def code() -> str:
        if not stripped:
            stripped.append(_STRINGS_AND_COMMENTS.sub(" ", source))
        return stripped[0]

    return any(rule.could_match(source, code) for rule in rules)


def parse(source: str) -> cst.Module:
    """Parse ``source`` or raise :class:`SourceParseError` with its position."""
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        raise _syntax_error(source, error.message, error.raw_line, error.raw_column + 1) from None
    except (SyntaxError, ValueError, RecursionError) as error:
        row = getattr(error, "lineno", None) or 1
        column = getattr(error, "offset", None) or 1
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _syntax_error(source, message, row, column) from None


def _syntax_error(source: str, message: str, row: int, column: int) -> SourceParseError:
    """The error to report, from CPython's parser when it agrees the source is bad.

    LibCST's parser reports column 1 and a long "expected one of ..." list; CPython points at the
    offending token and says e.g. "Missing parentheses in call to 'print'".
    """
    try:
        compile(source, "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as syntax:
        if syntax.lineno:
            return SourceParseError(syntax.msg, syntax.lineno, syntax.offset or 1)
    except (ValueError, RecursionError, MemoryError):
        pass
    return SourceParseError(message, row, column)


def check_source(source: str, settings: Settings | None = None) -> list[Diagnostic]:
    """Findings in ``source`` (after ``# noqa``), sorted by position. Raises :class:`SourceParseError`."""
    settings = settings or Settings()
    if not could_match(source, settings.rules):
        return []
    return _lint(parse(source), source, settings.rules)


def _lint(
    module: cst.Module, source: str, rules: Sequence[type[Rule]], *, reduce: bool = True
) -> list[Diagnostic]:
    ctx = ModuleContext.build(module, source, rules if reduce else ())
    ctx.torch_name, ctx.torch_bound = _torch_binding(module)
    cst.visit_batched(ctx.module, [rule(ctx) for rule in rules])
    suppressed = _noqa_lines(source)
    found = [d for d in ctx.diagnostics if not _is_suppressed(d, suppressed)]
    return sorted(found, key=lambda d: (d.start, d.code))


def _torch_binding(module: cst.Module) -> tuple[str, bool]:
    """The module-level name bound to ``torch`` itself, and whether there is one."""
    found: str | None = None
    for node in _module_level_statements(module.body):
        for small in node.body if isinstance(node, cst.SimpleStatementLine) else ():
            if not isinstance(small, cst.Import):
                continue
            for alias in small.names:
                dotted = _cst.code(alias.name)
                if alias.asname is not None and dotted == "torch":
                    asname = alias.asname.name
                    if isinstance(asname, cst.Name) and found is None:
                        found = asname.value
                elif alias.asname is None and (dotted == "torch" or dotted.startswith("torch.")):
                    return "torch", True
    return (found, True) if found is not None else ("torch", False)


def _module_level_statements(body: Sequence[cst.BaseStatement]) -> Iterable[cst.BaseStatement]:
    """Statements run at module level: the body, and blocks of `if`/`try`/`with` inside it."""
    for statement in body:
        yield statement
        if isinstance(statement, cst.If | cst.Try | cst.With | cst.TryStar):
            for block in m.findall(statement, m.IndentedBlock()):
                assert isinstance(block, cst.IndentedBlock)
                yield from (s for s in block.body if not isinstance(s, cst.FunctionDef | cst.ClassDef))


def _noqa_lines(source: str) -> dict[int, frozenset[str] | None]:
    """Row -> codes suppressed there (None: all codes)."""
    if "noqa" not in source.lower():
        return {}
    lines: dict[int, frozenset[str] | None] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.COMMENT:
                continue
            match = NOQA.search(token.string)
            if match is None:
                continue
            codes = match.group("codes")
            lines[token.start[0]] = (
                None if codes is None else frozenset(re.split(r"[\s,]+", codes.upper().strip()))
            )
    except (tokenize.TokenError, SyntaxError):
        pass
    return lines


def _is_suppressed(diagnostic: Diagnostic, noqa: dict[int, frozenset[str] | None]) -> bool:
    for row in {diagnostic.start.row, diagnostic.end.row}:
        if row in noqa:
            codes = noqa[row]
            if codes is None or diagnostic.code in codes:
                return True
    return False


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
        diagnostics = _lint(parse(current), current, settings.rules)
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
        current = _clean_imports(current, imports)
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
    return re.sub(r"[\s()]", "", _cst.code(node))


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


def _clean_imports(source: str, imports: Iterable[str]) -> str:
    """Remove `Variable` imports (and `torch.autograd` aliases) left unused; add imports fixes need."""
    module = parse(source)
    context = CodemodContext()
    scheduled = False
    for node in m.findall(module, m.ImportFrom() | m.Import()):
        if isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar) and node.module:
            dotted = _cst.code(node.module)
            if node.relative:
                continue
            for alias in node.names:
                full = f"{dotted}.{_cst.code(alias.name)}"
                if full in VARIABLE or full in AUTOGRAD_MODULES:
                    RemoveImportsVisitor.remove_unused_import(
                        context, dotted, _cst.code(alias.name), _asname(alias)
                    )
                    scheduled = True
        elif isinstance(node, cst.Import):
            for alias in node.names:
                dotted = _cst.code(alias.name)
                if dotted in AUTOGRAD_MODULES and alias.asname is not None:
                    RemoveImportsVisitor.remove_unused_import(context, dotted, asname=_asname(alias))
                    scheduled = True
    for name in sorted(imports):
        AddImportsVisitor.add_needed_import(context, name)
        scheduled = True
    if not scheduled:
        return source
    cleaned = RemoveImportsVisitor(context).transform_module(module)
    if not m.findall(module, _EMPTY_TRY):
        # `try: from torch.autograd import Variable / except ImportError: pass` is left with nothing
        # but `pass` once the import goes; the module had no such statement before, so drop them.
        cleaned = cleaned.visit(_EmptyTryRemover())
    return AddImportsVisitor(context).transform_module(cleaned).code


_ONLY_PASS = m.IndentedBlock(body=[m.ZeroOrMore(m.SimpleStatementLine(body=[m.Pass()]))])
_EMPTY_TRY = m.Try(
    body=_ONLY_PASS,
    handlers=[m.ZeroOrMore(m.ExceptHandler(body=_ONLY_PASS))],
    orelse=None,
    finalbody=None,
)


class _EmptyTryRemover(cst.CSTTransformer):
    """Remove `try` statements whose every block is only `pass` (those with a comment stay)."""

    def leave_Try(
        self, original: cst.Try, updated: cst.Try
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        if not m.matches(updated, _EMPTY_TRY) or m.findall(updated, m.Comment()):
            return updated
        return cst.RemoveFromParent()


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is None:
        return None
    name = alias.asname.name
    return name.value if isinstance(name, cst.Name) else None


__all__ = [
    "INTERNAL_ERROR",
    "NOQA",
    "Edit",
    "FixResult",
    "Location",
    "Settings",
    "SourceParseError",
    "check_source",
    "could_match",
    "fix_source",
    "parse",
]
