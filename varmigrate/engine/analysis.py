"""Findings of one module: every selected rule in one batched traversal, then ``# noqa``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import libcst as cst

from varmigrate.engine.parsing import could_match, parse
from varmigrate.model import Applicability, Diagnostic, Location
from varmigrate.noqa import is_suppressed, noqa_lines
from varmigrate.rules import ALL_RULES, ModuleContext, Rule


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


def check_source(source: str, settings: Settings | None = None) -> list[Diagnostic]:
    """Findings in ``source`` (after ``# noqa``), sorted by position. Raises :class:`SourceParseError`."""
    settings = settings or Settings()
    if not could_match(source, settings.rules):
        return []
    return lint(parse(source), source, settings.rules)


def lint(
    module: cst.Module, source: str, rules: Sequence[type[Rule]], *, reduce: bool = True
) -> list[Diagnostic]:
    """Findings of ``rules`` in ``module`` (parsed from ``source``), after ``# noqa``, sorted by position."""
    return _findings(ModuleContext.build(module, source, rules if reduce else ()), source, rules)


def _findings(ctx: ModuleContext, source: str, rules: Sequence[type[Rule]]) -> list[Diagnostic]:
    _visit(ctx, [rule(ctx) for rule in rules])
    suppressed = noqa_lines(source)
    found = [d for d in ctx.diagnostics if not is_suppressed(d, suppressed)]
    return sorted(found, key=lambda d: (d.start, d.code))


def _visit(ctx: ModuleContext, visitors: Sequence[cst.BatchableCSTVisitor]) -> None:
    """``cst.visit_batched`` over ``ctx.module``, without rebuilding every node on the way.

    The rules only visit node types (`visit_Call`); any other callback (`leave_*`, attribute visits)
    and LibCST's own traversal runs.
    """
    methods: dict[str, list[Callable[[cst.CSTNode], None]]] = {}
    for visitor in visitors:
        for name, method in visitor.get_visitors().items():
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
