"""Each rule's VALID / INVALID examples (kept next to its code) hold: its edges, without fixtures/."""

from __future__ import annotations

import pytest

from varmigrate.engine import Settings, check_source, fix_source
from varmigrate.rules import ALL_RULES, RuleSpec
from varmigrate.rules._base import Invalid, Valid

VALID = [(rule, example) for rule in ALL_RULES for example in rule.load().VALID]
INVALID = [(rule, example) for rule in ALL_RULES for example in rule.load().INVALID]


def _id(item: tuple[RuleSpec, Valid | Invalid]) -> str:
    rule, example = item
    examples = rule.load().VALID if isinstance(example, Valid) else rule.load().INVALID
    return f"{rule.code}-{examples.index(example)}"  # type: ignore[arg-type]


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_every_rule_shows_both_edges(rule: RuleSpec) -> None:
    assert rule.load().VALID, f"{rule.code} lists no VALID example"
    assert rule.load().INVALID, f"{rule.code} lists no INVALID example"


@pytest.mark.parametrize("item", VALID, ids=[_id(item) for item in VALID])
def test_valid_examples_are_not_flagged(item: tuple[RuleSpec, Valid]) -> None:
    rule, example = item
    assert [d.code for d in check_source(example.code, Settings(rules=(rule,)))] == []


@pytest.mark.parametrize("item", INVALID, ids=[_id(item) for item in INVALID])
def test_invalid_examples_are_flagged_and_fixed_as_shown(item: tuple[RuleSpec, Invalid]) -> None:
    rule, example = item
    settings = Settings(rules=(rule,), unsafe_fixes=example.unsafe)
    assert rule.code in [d.code for d in check_source(example.code, settings)]
    fixed = fix_source(example.code, settings).source
    assert fixed == (example.code if example.fixed is None else example.fixed)
