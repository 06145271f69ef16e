"""Elements of long displays left out of LibCST's text change nothing: the findings, their fixes, the
fixed text and what is left after fixing are those of the whole module."""

from __future__ import annotations

import re

import pytest

from varmigrate.engine import analysis as analysis_module
from varmigrate.engine.analysis import analyse, outline_of
from varmigrate.engine.displays import blank_elements
from varmigrate.engine.fixer import fix_source
from varmigrate.engine.settings import Settings
from varmigrate.engine.splice import LINE
from varmigrate.model import Diagnostic
from varmigrate.rules import ALL_RULES
from varmigrate.rules.context import ModuleContext

HEADER = (
    "import torch\nimport torch.nn.functional as F\nfrom torch.autograd import Variable\n"
    "from torch.nn.functional import sigmoid\n\n\n"
)


def _entries(count: int, template: str = "    'k{i}': lambda x: x + {i},\n") -> str:
    return "".join(template.format(i=i) for i in range(count))


def _table(middle: str, *, opener: str = "    table = {\n", closer: str = "    }\n") -> str:
    """A function holding a long display with ``middle`` among its entries."""
    before, after = _entries(100), _entries(100, "    'j{i}': F.relu,\n")
    return "def build(x, extra):\n" + opener + before + middle + after + closer + "    return table\n"


def _list(middle: str) -> str:
    """A function holding a long list with ``middle`` among its items."""
    items = _entries(205, "    ('k{i}', F.relu),\n")
    return "def build(x, extra):\n    table = [\n" + items + middle + "    ]\n    return table\n"


CASES = {
    "one_candidate": _table("    'v': Variable(x),\n"),
    "comments_and_blank_lines": _table(
        "    # a comment of its own\n\n    'c': lambda x: x,  # trailing\n    'v': Variable(x).sum(),\n"
    ),
    "multi_line_entries": _table(
        "    'm': lambda x: (\n        x\n        + 1\n    ),\n    'v': Variable(\n        x),\n"
    ),
    "double_star_and_walrus": _table(
        "    **extra,\n    'w': (w := torch.zeros(2)),\n    'v': Variable(w),\n"
    ),
    "two_on_a_line": _table("    'a': 1, 'b': Variable(x),\n    'c': 2,\n"),
    "no_comma_after_the_last": "def build(x):\n    table = {\n"
    + _entries(205)
    + "    'v': Variable(x)\n    }\n",
    "a_list": _list("    Variable(x),\n"),
    "an_argument": _table("    'v': Variable(x),\n", opener="    table = dict({\n", closer="    })\n"),
    "volatile_read_in_a_lambda": _table("    'v': lambda t: t.volatile,\n"),
    "nested_display": _table(
        "    'n': {\n" + _entries(100, "        'n{i}': {i},\n") + "        'v': Variable(x),\n    },\n"
    ),
    # A walrus in an entry binds in the function: the softmax's input has two bindings, not one.
    "walrus_binding": _table(
        "    'w': (s := torch.zeros(4)),\n", opener="    s = torch.zeros(2, 3)\n    table = {\n"
    ).replace("    return table\n", "    return F.softmax(s), Variable(x), table\n"),
    "crlf": _table("    'v': Variable(x),\n").replace("\n", "\r\n"),
}
# Cases whose display is not reduced: a call's argument.
UNREDUCED = {"an_argument"}


def _analysed(source: str) -> tuple[list[Diagnostic], str, list[Diagnostic]]:
    """Findings (with their fixes), the fixed text and what is left after fixing."""
    analysis = analyse(source, ALL_RULES)
    fixed = fix_source(source, Settings(rules=ALL_RULES, unsafe_fixes=True))
    return analysis.diagnostics, fixed.source, fixed.diagnostics


def _blanked(source: str) -> str:
    """What the outline's statements kept whole leave out of their long displays."""
    outline = outline_of(source)
    assert outline is not None
    pattern = ModuleContext.for_text(source).statement_pattern(ALL_RULES)
    kept = [(s.first, s.last, s.nodes) for s in outline.statements]
    return blank_elements(list(outline.lines), kept, pattern)


@pytest.mark.parametrize("name", sorted(CASES))
def test_leaving_elements_out_changes_nothing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = HEADER + CASES[name]
    blanked = _blanked(source)
    assert bool(blanked) is (name not in UNREDUCED)
    assert "Variable" not in blanked
    assert "volatile" not in blanked
    found = _analysed(source)
    assert found[0]
    assert analyse(source, ALL_RULES).ctx.dropped_code.endswith(blanked)
    # Without an outline the whole module is parsed and nothing is left out.
    monkeypatch.setattr(analysis_module, "outline_of", lambda source, tree=None: None)
    assert found == _analysed(source)


def test_which_elements_are_left_out() -> None:
    source = HEADER + CASES["double_star_and_walrus"]
    outline = outline_of(source)
    assert outline is not None
    lines = list(outline.lines)
    blank_elements(
        lines, [(s.first, s.last, s.nodes) for s in outline.statements], re.compile(r"\bVariable\b")
    )
    kept = {line.strip() for line in lines if line.strip()}
    # The `**` entry, the walrus and the candidate stay, with the lines around the display.
    assert {"**extra,", "'w': (w := torch.zeros(2)),", "'v': Variable(w),", "table = {", "}"} <= kept
    assert not any(line.startswith("'k") or line.startswith("'j") for line in kept)
    # Every line is still there, and still ends as it did.
    assert len(lines) == len(LINE.findall(source))
    assert [line[len(line.rstrip("\r\n")) :] for line in lines] == [
        line[len(line.rstrip("\r\n")) :] for line in LINE.findall(source)
    ]


def test_short_statements_are_parsed_whole() -> None:
    source = HEADER + "def build(x):\n    table = {\n" + _entries(50) + "    'v': Variable(x),\n    }\n"
    assert _blanked(source) == ""
