"""CPython's parser also leaves statements out of the bodies of kept classes: that must change nothing.

The members it reads must own the lines, and have the code, that LibCST gives them wherever it says
it knows; the findings, fixes, fixed text and left-out code must be those of the whole module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import libcst as cst
import pytest
from support import full_search

from varmigrate.engine import analysis as analysis_module
from varmigrate.engine import lint, parse
from varmigrate.engine.analysis import analyse, outline_of
from varmigrate.engine.fixer import fix_source
from varmigrate.engine.members import ClassBody, class_body
from varmigrate.engine.outline import _dedent_invariant
from varmigrate.engine.parsing import cpython_error
from varmigrate.engine.prefilter import possible_rules
from varmigrate.engine.settings import Settings
from varmigrate.model import Diagnostic
from varmigrate.rules import ALL_RULES
from varmigrate.rules.context import ModuleContext
from varmigrate.rules.shapes import shaped_rules

ROOT = Path(__file__).resolve().parent.parent
HEADER = "import sys\nimport torch\nfrom torch.autograd import Variable\n\n\n"

CASES: dict[str, str] = {
    "methods_left_out": '''class Model:
    """A model."""

    def __init__(self):
        self.w = torch.zeros(3)

    def reset(self):
        self.state = None

    def forward(self, h):
        return Variable(h.data)

    def extra(
        self,
        scale,
    ):
        return (1,
                2)
''',
    "decorators": """class Model:
    @staticmethod
    # between decorators
    @functools.lru_cache(
        maxsize=None,
    )
    def cached(a):
        return a

    @property
    def legacy(self):
        return Variable(torch.ones(2))

    @classmethod
    def build(cls):
        return cls()
""",
    "comments_and_blank_lines": """class Model:
  # shallow comment
    # comment before reset

    def reset(self):
        if self.state:
            self.state = None
            # inner comment at the block's indentation
        # the if block's too: a deeper comment follows
            # deeper
          # between two indentations
        # at the body's indentation
      # between the body's and the class's
    # about forward, at the class's

    def forward(self, h):
        return Variable(h)
            # deeper trailing comment
    # trailing class comment

  # shallow comment before after
    def after(self):
        pass

# after the class
x = 1
""",
    "indented_lines_after_the_class": """class Model:
    def reset(self):
        pass

    def forward(self, h):
        return Variable(h)
  # shallow trailing comment
    # the class's last comment

x = 1
""",
    "nested_classes": """class Outer:
    class Config:
        depth = 2

        def describe(self):
            return "config"

    class Inner:
        size = 3

        def helper(self):
            return 1

        def forward(self, h):
            return Variable(h)

        class Deeper:
            def legacy(self):
                return Variable(torch.zeros(1))

            def other(self):
                pass
        # the end of Inner

    def method(self):
        return 2
""",
    "one_line_bodies": """class Empty: pass
class A: x = 1; y = Variable(torch.zeros(2))
class B:
    z = 1
    class C: w = Variable(torch.ones(1))
    def f(self): return 1
    def g(self): return Variable(torch.ones(1))
    def h(self): return 2
""",
    "if_and_try_blocks": """class Model:
    if sys.version_info >= (3, 8):
        def modern(self):
            return 1
    elif sys.platform == "win32":
        def modern(self):
            return 3
    else:
        def modern(self):
            return 2
    # between
    try:
        import numpy as np
    except ImportError:  # optional
        np = None
    else:
        pass
    finally:
        done = True
    for i in range(3):
        pass
    else:
        k = 1
    while False:
        pass
    with open(__file__) as handle:
        y = 1

    def forward(self, h):
        return Variable(h)
""",
    "every_member_left_out": """class Wrapped(Variable):
    def reset(self):
        self.state = None

    def other(self):
        return 2


class Single(Variable):
    x = 1
""",
    "tabs": """class Model:
\tdef reset(self):
\t\tself.state = None
\t# comment
\t  # tab and spaces

\tdef forward(self, h):
\t\treturn Variable(h)

\tdef other(self):
\t\treturn (1,
\t\t\t2)
""",
    "class_assignment_used_by_a_kept_method": """class Model:
    scale = torch.zeros(3)
    other = 2
    unused: int = 3

    def forward(self):
        return Variable(self.scale)
""",
    "left_out_method_shadows_a_name": """x = torch.zeros(3)


class Model:
    def x(self):
        return 1

    def forward(self):
        return Variable(x)


y = torch.zeros(2)


class Other:
    def forward(self):
        return Variable(y)
""",
    "strings_and_continuations": """class Model:
    def doc(self):
        \"\"\"Line one.

        Line two, indented.
    Line three, less.
        \"\"\"
        s = 'abc\\
    def'
        t = 1 + \\
            2
        return (s,
  t)

    def forward(self, h):
        return Variable(h)

    def tail(self):
        return f"{self}"
""",
}
CASES["crlf"] = CASES["comments_and_blank_lines"].replace("\n", "\r\n")
CASES["crlf_nested_classes"] = CASES["nested_classes"].replace("\n", "\r\n")
CASES["no_trailing_newline"] = CASES["methods_left_out"].rstrip("\n")
# Cases where the outline leaves no member out itself: which lines after the class are its own is
# not certain at the top level (see `outline._Statement`).
UNREDUCED = {"indented_lines_after_the_class"}


def _check_members(module: cst.Module, node: cst.CSTNode, body: ClassBody) -> tuple[int, int]:
    """Assert ``body``'s members are LibCST's statements of class ``node``; how many, how many with a code."""
    assert isinstance(node, cst.ClassDef)
    assert isinstance(node.body, cst.IndentedBlock)
    assert len(node.body.body) == len(body.members)
    total = certain = 0
    for statement, member in zip(node.body.body, body.members, strict=True):
        total += 1
        if member.code is not None:
            assert member.code == module.code_for_node(statement)
            certain += 1
        if member.body is not None:
            inner = _check_members(module, statement, member.body)
            total, certain = total + inner[0], certain + inner[1]
    return total, certain


def _members_of(source: str) -> tuple[int, int]:
    """Check every top-level class's members against LibCST; how many there are and how many are certain."""
    outline = outline_of(source)
    assert outline is not None
    module = cst.parse_module(source)
    total = certain = 0
    for index, statement in enumerate(outline.statements):
        node = statement.nodes[0]
        if not isinstance(node, ast.ClassDef):
            continue
        stop = (
            outline.statements[index + 1].first if index + 1 < len(outline.statements) else len(outline.lines)
        )
        body = class_body(outline.lines, node, stop)
        if body is None:
            continue
        found = _check_members(module, module.body[index], body)
        total, certain = total + found[0], certain + found[1]
    return total, certain


def _analysed(source: str) -> tuple[list[Diagnostic], str, str, list[Diagnostic]]:
    """Findings (with their fixes), the code left out, the fixed text and what is left after fixing."""
    analysis = analyse(source, ALL_RULES)
    fixed = fix_source(source, Settings(rules=ALL_RULES, unsafe_fixes=True))
    return analysis.diagnostics, analysis.ctx.dropped_code, fixed.source, fixed.diagnostics


def _reduced_classes(source: str) -> int:
    """How many top-level classes the outline reduces itself."""
    outline = outline_of(source)
    assert outline is not None
    pattern = ModuleContext.for_text(source).statement_pattern(ALL_RULES)
    return len(outline.class_reductions(pattern, outline.left_out(pattern)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_members_are_the_statements_libcst_prints(name: str) -> None:
    total, certain = _members_of(HEADER + CASES[name])
    assert total
    assert certain == total or name == "no_trailing_newline"


@pytest.mark.parametrize("name", sorted(CASES))
def test_leaving_members_out_changes_nothing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = HEADER + CASES[name]
    assert bool(_reduced_classes(source)) is (name not in UNREDUCED)
    found = _analysed(source)
    assert found[0] == lint(parse(source), source, ALL_RULES)
    # Without an outline the whole module is parsed, and `ModuleContext.reduce` decides alone.
    monkeypatch.setattr(analysis_module, "outline_of", lambda source, tree=None: None)
    assert found == _analysed(source)


# Class bodies built from these members and gaps, in LF, CRLF and tab-indented variants.
MEMBERS = [
    "    def reset(self):\n        self.state = None\n",
    "    def forward(self, h):\n        return Variable(h)\n",
    "    @staticmethod\n    # between\n    def helper(a):\n        return a\n",
    "    x = torch.zeros(3)\n",
    "    def uses(self):\n        return x.sum()\n",
    "    a = 1; b = 2\n",
    "    if flag:\n        c = 1\n    else:\n        c = 2\n",
    "    def doc(self):\n        '''doc\n    less\n        '''\n        return (1,\n  2)\n",
    "    class Inner:\n        def legacy(self):\n            return Variable(torch.zeros(1))\n\n"
    "        def plain(self):\n            pass\n",
    "    def f(self): return 1\n",
    "    try:\n        import numpy as np\n    except ImportError:\n        np = None\n",
    "    def tail(self):\n        if x:\n            pass\n        # mid\n            # deep\n"
    "        # mid\n",
]
GAPS = [
    "",
    "\n",
    "    # comment\n",
    "  # shallow\n",
    "        # deep\n",
    "\n    \n",
    "\t# tab\n",
    "      # six\n\n",
]


def _class_layouts() -> list[str]:
    sources = []
    for i, member in enumerate(MEMBERS):
        for j, gap in enumerate(GAPS):
            second = MEMBERS[(i + j + 1) % len(MEMBERS)]
            third = MEMBERS[(i + 2 * j + 2) % len(MEMBERS)]
            after = GAPS[(i + 3 * j + 1) % len(GAPS)]
            source = f"{HEADER}class Model:\n{gap}{member}{after}{second}{gap}{third}{after}x = 1\n"
            sources.append(source)
            sources.append(source.replace("\n", "\r\n"))
            sources.append(re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), source))
    return sources


# The everyday run takes every eighth layout and every fourth fixture; the full search (make test-full,
# CI) takes them all.
CLASS_LAYOUTS = _class_layouts() if full_search() else _class_layouts()[::8]
FIXTURES = [
    path
    for path in sorted((ROOT / "fixtures").rglob("*.py"))
    if cpython_error(path.read_text(encoding="utf-8")) is None
][:: 1 if full_search() else 4]


@pytest.mark.search
@pytest.mark.parametrize(
    "layout", [*FIXTURES, *range(len(CLASS_LAYOUTS))], ids=lambda p: p if isinstance(p, int) else p.name
)
def test_class_layouts_change_nothing(layout: Path | int) -> None:
    source = CLASS_LAYOUTS[layout] if isinstance(layout, int) else layout.read_text(encoding="utf-8")
    _members_of(source)
    module = parse(source)
    possible = possible_rules(source, ALL_RULES)
    # Those `analyse` runs: the rules whose findings' shape the module lacks find nothing either.
    outline = outline_of(source)
    rules = shaped_rules(source, outline.tree, possible) if outline is not None else possible
    analysis = analyse(source, ALL_RULES)
    assert analysis.diagnostics == lint(module, source, rules) == lint(module, source, possible)
    if not rules:
        assert analysis.ctx is None
        return
    whole = ModuleContext.build(module, source, rules)
    assert analysis.ctx is not None
    assert analysis.ctx.dropped_code == whole.dropped_code


@pytest.mark.parametrize(
    ("pattern", "invariant"),
    [
        (r"\b(?:Variable)\b|\.data\s*\[\s*0\s*\]|class\s+\w+\s*\([^)]*\bFunction\b", True),
        (r"\bimport[\s\\]*\*", True),
        (r"^def", False),
        (r"(?m)def", False),
        (r"foo\nbar", False),
        (r"(?<!\wTensor)\s*\(", False),
        (r"[^ ]def", False),
        (r"[^]a ]", False),
        (r"[^\x20]def", False),
    ],
)
def test_a_pattern_that_sees_line_starts_is_searched_in_every_member(pattern: str, invariant: bool) -> None:
    assert _dedent_invariant(re.compile(pattern)) is invariant
