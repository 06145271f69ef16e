"""CPython's parser picks the statements LibCST parses; what it leaves out must change nothing.

The outline's idea of the lines a statement owns must be LibCST's, wherever it says it knows.
"""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from support import full_search

from varmigrate.engine import lint, parse
from varmigrate.engine.analysis import analyse, outline_of
from varmigrate.engine.parsing import cpython_error
from varmigrate.engine.prefilter import possible_rules
from varmigrate.rules import ALL_RULES

ROOT = Path(__file__).resolve().parent.parent
# Files CPython cannot parse (VM405's, which fail only for their `async=` keywords) have no outline.
# Every fixture in the full search (make test-full, CI); every second one in the everyday run.
FIXTURES = [
    path
    for path in sorted((ROOT / "fixtures").rglob("*.py"))
    if cpython_error(path.read_text(encoding="utf-8")) is None
][:: 1 if full_search() else 2]

BLOCKS = [
    "x = torch.zeros(3)\n",
    "y = Variable(x, requires_grad=True)\n",
    "def helper(a):\n    return a * 2\n",
    "def helper2(a):\n    return a * 2\n    # the end of helper2\n",
    "def uses_x():\n    return x.sum()\n",
    "class Model:\n    def reset(self):\n        self.state = None\n\n"
    "    def forward(self, h):\n        return Variable(h.data)\n",
    "@decorator\n# between\ndef decorated(a):\n    return a\n",
    "a = 1; b = Variable(a)\n",
    "c = 1; d = 2\n",
    "if True:\n    e = 1\nelse:\n    e = None\n",
    "s = '''multi\nline\nstring'''\n",
    "while False:\n\tpass\n",
    "try:\n    import torch.autograd as tag\nexcept ImportError:\n    tag = None\n",
]
GAPS = [
    "",
    "\n",
    "\n\n",
    "# comment\n",
    "    # indented\n",
    "   \n",
    "\x0c\n",
    "  # two\n    # four\n",
    "\t# tab\n",
]
HEADER = "import torch\nfrom torch.autograd import Variable\n"


def _layouts() -> list[str]:
    sources = []
    for i, block in enumerate(BLOCKS):
        for j, gap in enumerate(GAPS):
            after = BLOCKS[(i + j + 1) % len(BLOCKS)]
            source = HEADER + gap + block + GAPS[(i + 2 * j) % len(GAPS)] + after + gap
            sources.append(source)
            sources.append(source.replace("\n", "\r\n"))
            sources.append(source.rstrip("\n"))
    return sources


# The everyday run takes every fourth layout; the full search (make test-full, CI) takes them all.
LAYOUTS = _layouts() if full_search() else _layouts()[::4]


@pytest.mark.search
@pytest.mark.parametrize("source", LAYOUTS)
def test_known_statements_own_the_lines_libcst_gives_them(source: str) -> None:
    outline = outline_of(source)
    assert outline is not None
    module = cst.parse_module(source)
    assert len(module.body) == len(outline.statements)
    for index, statement in enumerate(outline.statements):
        code = module.code_for_node(module.body[index])
        mine = outline.code(index)
        if statement.known:
            # LibCST ends every statement's code with a newline, even the last one of a file without.
            assert code in (mine, mine + module.default_newline)
        else:
            assert code.rstrip("\r\n") in outline.surroundings(index)


@pytest.mark.search
@pytest.mark.parametrize(
    "path", [*FIXTURES, *range(len(LAYOUTS))], ids=lambda p: p if isinstance(p, int) else p.name
)
def test_leaving_statements_to_cpython_changes_no_finding(path: Path | int) -> None:
    source = LAYOUTS[path] if isinstance(path, int) else path.read_text(encoding="utf-8")
    expected = lint(parse(source), source, possible_rules(source, ALL_RULES))  # the rules `analyse` runs
    analysis = analyse(source, ALL_RULES)
    assert analysis.diagnostics == expected


def test_a_huge_module_reaches_libcst_only_where_it_may_hold_a_finding() -> None:
    filler = "".join(f"def f{i}(a):\n    return [a * {i} for _ in range(3)]\n\n\n" for i in range(400))
    source = HEADER + filler + "def legacy(x):\n    return Variable(x)\n"
    analysis = analyse(source, ALL_RULES)
    assert [d.code for d in analysis.diagnostics] == ["VM001"]
    assert analysis.ctx.module.code.count("def f") == 0
    assert analysis.ctx.module.code.count("\n") == source.count("\n")


def test_what_cpython_rejects_is_parsed_by_libcst_as_before() -> None:
    # LibCST reads this; CPython says "iterable unpacking cannot be used in comprehension".
    source = HEADER + "print(*a for a in b)\nv = Variable(t)\n"
    assert outline_of(source) is None
    assert [d.code for d in analyse(source, ALL_RULES).diagnostics] == ["VM001"]
