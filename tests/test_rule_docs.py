"""Every rule's documentation: its headings, and its example run through the engine gives "Use instead"."""

from __future__ import annotations

import re

import pytest

from varmigrate.engine import Settings, check_source, fix_source
from varmigrate.rules import ALL_RULES, RuleSpec

HEADINGS = ["What it does", "Why is this bad?", "Example", "Fix safety", "Known problems"]
# Rules whose example is fixed only with `--unsafe-fixes`.
UNSAFE_EXAMPLES = {"VM201", "VM202"}
# Rules that never apply a fix (none, or display-only): "Use instead" is a rewrite by hand.
MANUAL_EXAMPLES = {"VM002", "VM003", "VM103", "VM404", "VM414"}
# An example that imports nothing is read as if it began with these lines; once the fix has run,
# only `import torch` is left of them (the engine drops the unused `Variable` import).
PREAMBLE = "import torch\nfrom torch.autograd import Variable\n"
PREAMBLE_AFTER = "import torch\n"

_CODE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _doc(rule: RuleSpec) -> str:
    return rule.doc


def _section(rule: RuleSpec, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", _doc(rule), re.DOTALL | re.MULTILINE)
    assert match is not None, f"{rule.code}: no '## {heading}' section"
    return match.group(1)


def _example(rule: RuleSpec) -> tuple[str, str]:
    """The example and the "Use instead" code of ``rule``."""
    section = _section(rule, "Example")
    before, marker, after = section.partition("Use instead:")
    assert marker, f"{rule.code}: the example has no 'Use instead:' block"
    example, expected = _CODE.findall(before), _CODE.findall(after)
    assert len(example) == 1, f"{rule.code}: expected one code block before 'Use instead:'"
    assert len(expected) == 1, f"{rule.code}: expected one code block after 'Use instead:'"
    return example[0], expected[0]


def _has_imports(code: str) -> bool:
    return re.search(r"^(import|from) ", code, re.MULTILINE) is not None


def _codes(source: str, settings: Settings) -> list[str]:
    return [d.code for d in check_source(source, settings)]


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_docs_have_every_heading_in_order(rule: RuleSpec) -> None:
    positions = [_doc(rule).find(f"## {heading}") for heading in HEADINGS]
    missing = [heading for heading, position in zip(HEADINGS, positions, strict=True) if position < 0]
    assert not missing, f"{rule.code}: missing {missing}"
    assert positions == sorted(positions)
    assert "Use instead:" in _section(rule, "Example")


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_example_round_trips(rule: RuleSpec) -> None:
    example, expected = _example(rule)
    prefix = "" if _has_imports(example) else PREAMBLE
    settings = Settings(rules=(rule,), unsafe_fixes=rule.code in UNSAFE_EXAMPLES)
    source = prefix + example

    assert rule.code in _codes(source, settings), f"{rule.code}: the example is not flagged"
    result = fix_source(source, settings)
    if rule.code in MANUAL_EXAMPLES:
        assert result.source == source, f"{rule.code}: a fix was applied to a rule documented as manual"
    else:
        fixed = result.source
        if prefix:
            assert fixed.startswith(PREAMBLE_AFTER)
            fixed = fixed[len(PREAMBLE_AFTER) :]
        assert fixed == expected
    assert rule.code not in _codes(prefix + expected, settings), f"{rule.code}: 'Use instead' is flagged"


def test_the_catalog_lists_rules_in_code_order() -> None:
    # `rule --all`, docs/rules.md, `--show-settings` and SARIF list rules in catalog order.
    codes = [rule.code for rule in ALL_RULES]
    assert codes == sorted(codes)
