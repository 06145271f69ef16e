"""Findings of one module: every selected rule in one batched traversal, then ``# noqa``."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from varmigrate.engine.parsing import parse
from varmigrate.engine.prefilter import could_match
from varmigrate.engine.settings import Settings
from varmigrate.model import Diagnostic
from varmigrate.noqa import is_suppressed, noqa_lines
from varmigrate.rules import RuleSpec
from varmigrate.rules.context import ModuleContext


def check_source(source: str, settings: Settings | None = None) -> list[Diagnostic]:
    """Findings in ``source`` (after ``# noqa``), sorted by position. Raises :class:`SourceParseError`."""
    settings = settings or Settings()
    if not could_match(source, settings.rules):
        return []
    return lint(parse(source), source, settings.rules)


def lint(
    module: cst.Module, source: str, rules: Sequence[RuleSpec], *, reduce: bool = True
) -> list[Diagnostic]:
    """Findings of ``rules`` in ``module`` (parsed from ``source``), after ``# noqa``, sorted by position."""
    ctx = ModuleContext.build(module, source, rules if reduce else ())
    cst.visit_batched(ctx.module, [rule.load()(ctx, rule) for rule in rules])
    suppressed = noqa_lines(source)
    found = [d for d in ctx.diagnostics if not is_suppressed(d, suppressed)]
    return sorted(found, key=lambda d: (d.start, d.code))
