"""Each rule's VALID / INVALID examples (kept next to its code) hold: its edges, without fixtures/."""

from __future__ import annotations

import pytest

from varmigrate.engine import Settings, check_source, fix_source
from varmigrate.rules import ALL_RULES
from varmigrate.rules._base import Invalid, Rule, Valid

VALID = [(rule, example) for rule in ALL_RULES for example in rule.VALID]
INVALID = [(rule, example) for rule in ALL_RULES for example in rule.INVALID]


def _id(item: tuple[type[Rule], Valid | Invalid]) -> str:
    rule, example = item
    examples = rule.VALID if isinstance(example, Valid) else rule.INVALID
    return f"{rule.code}-{examples.index(example)}"  # type: ignore[arg-type]


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_every_rule_shows_both_edges(rule: type[Rule]) -> None:
    assert rule.VALID, f"{rule.code} lists no VALID example"
    assert rule.INVALID, f"{rule.code} lists no INVALID example"


@pytest.mark.parametrize("item", VALID, ids=[_id(item) for item in VALID])
def test_valid_examples_are_not_flagged(item: tuple[type[Rule], Valid]) -> None:
    rule, example = item
    assert [d.code for d in check_source(example.code, Settings(rules=(rule,)))] == []


@pytest.mark.parametrize("item", INVALID, ids=[_id(item) for item in INVALID])
def test_invalid_examples_are_flagged_and_fixed_as_shown(item: tuple[type[Rule], Invalid]) -> None:
    rule, example = item
    settings = Settings(rules=(rule,), unsafe_fixes=example.unsafe)
    assert rule.code in [d.code for d in check_source(example.code, settings)]
    fixed = fix_source(example.code, settings).source
    assert fixed == (example.code if example.fixed is None else example.fixed)
