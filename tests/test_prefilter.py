"""The text prefilter gives exactly the answer of its definition: the rules' words searched for in the text
with its strings and comments blanked out, found by the plain lazy expression (the reference below)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from varmigrate.engine.prefilter import could_match, possible_rules, strings_and_comments
from varmigrate.model import SourceParseError
from varmigrate.rules import ALL_RULES, DEFAULT_RULES, RuleSpec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# The definition, spelled the simple way: slow on large files, obviously right.
REFERENCE = re.compile(r"""(?s)("{3}|'{3}).*?\1|"(?:\\.|[^"\\\r\n])*"|'(?:\\.|[^'\\\r\n])*'|#[^\r\n]*""")


def reference_could_match(source: str, rules: Iterable[RuleSpec]) -> bool:
    code = REFERENCE.sub(" ", source)
    for rule in rules:
        if not all(required in source for required in rule.requires):
            continue
        if not all(re.search(rf"\b{re.escape(word)}\b", source) for word in rule.requires_words):
            continue
        if rule.pattern is not None:
            if re.search(rule.pattern, source):
                return True
        elif any(re.search(rf"\b{re.escape(word)}\b", code) for word in rule.triggers):
            return True
    return False


# Rules whose words are not made of word characters only: the prefilter blanks strings out for them.
ODD_WORDS = (
    RuleSpec("VM991", "m", "C", "m", requires=("torch",), triggers=(".data", "a b")),
    RuleSpec("VM992", "m", "C", "m", requires=(), triggers=("x#y", "Variable", "é")),
)

# Text made of what the scan cares about: quotes, escapes, comments, line breaks, words and their edges.
PIECES = st.sampled_from(
    [
        '"',
        "'",
        '"""',
        "'''",
        "\\",
        "#",
        "\n",
        "\r",
        "\r\n",
        " ",
        ".",
        "_",
        "é",
        "x",
        "0",
        "[0]",
        "torch",
        "autograd",
        "init",
        "__init__",
        "normal",
        "Variable",
        "volatile",
        ".data",
        ".data[ 0 ]",
        "a b",
        "x#y",
    ]
)
TEXTS = st.lists(PIECES, max_size=40).map("".join)
RULE_SETS = st.lists(st.sampled_from([*ALL_RULES, *ODD_WORDS]), max_size=4, unique=True).map(tuple)


@settings(max_examples=500)
@given(source=TEXTS | st.text(alphabet="\"'\\#\n\ra", max_size=30))
@example(source='"""a""b"""\'\'\'a\'b\'\'\'')
@example(source='"""a""""')
@example(source="'a\\\nb' # c\n'''")
def test_strings_and_comments_are_those_of_the_reference(source: str) -> None:
    assert [m.span() for m in strings_and_comments().finditer(source)] == [
        m.span() for m in REFERENCE.finditer(source)
    ]


@settings(max_examples=500)
@given(source=TEXTS, rules=RULE_SETS)
@example(source="torch autograd 'Variable' Variable", rules=ALL_RULES)
@example(source="torch autograd xVariable 'x' Variable_", rules=ALL_RULES)
@example(source="torch autograd '''Variable'''Variable", rules=ALL_RULES)
@example(source="torch autograd #Variable\nVariable", rules=ALL_RULES)
def test_the_prefilter_is_its_definition(source: str, rules: tuple[RuleSpec, ...]) -> None:
    assert could_match(source, rules) == reference_could_match(source, rules)


@pytest.mark.parametrize("rules", [ALL_RULES, ALL_RULES[:1], ALL_RULES[1:2]], ids=["all", "VM001", "VM002"])
def test_the_prefilter_is_its_definition_on_the_fixtures(rules: tuple[RuleSpec, ...]) -> None:
    sources = [path.read_text(encoding="utf-8") for path in sorted(FIXTURES.rglob("*.py"))]
    assert sources
    assert [could_match(source, rules) for source in sources] == [
        reference_could_match(source, rules) for source in sources
    ]


@pytest.mark.parametrize("rules", [ALL_RULES, DEFAULT_RULES], ids=["all", "default"])
def test_the_rules_the_prefilter_leaves_out_find_nothing_in_the_fixtures(rules: tuple[RuleSpec, ...]) -> None:
    """What `analyse` relies on to run only `possible_rules`: in a module the prefilter passes, the
    whole module gives the same findings with them as with all the rules."""
    from varmigrate.engine.analysis import lint
    from varmigrate.engine.parsing import parse

    compared = left_out = 0
    for path in sorted(FIXTURES.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if not could_match(source, rules):
            continue
        try:
            module = parse(source)
        except SourceParseError:
            continue
        possible = possible_rules(source, rules)
        assert possible == tuple(rule for rule in rules if could_match(source, (rule,)))
        compared += 1
        left_out += len(rules) - len(possible)
        everything = lint(module, source, rules, reduce=False)
        assert lint(module, source, possible, reduce=False) == everything, path
    assert compared > 100  # the fixtures were looked at
    assert left_out > 1000  # and most rules left out of them
