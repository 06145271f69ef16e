"""The engine on its own: the prefilter, parse errors, and fixes that would break the module."""

from __future__ import annotations

import libcst as cst
import pytest

from varmigrate.engine import (
    INTERNAL_ERROR,
    Settings,
    SourceParseError,
    check_source,
    could_match,
    fix_source,
)
from varmigrate.model import Applicability, Edit, Fix
from varmigrate.rules import ALL_RULES, RuleSpec, select_rules
from varmigrate.rules._base import Rule

LEGACY = (
    "import torch\nfrom torch.autograd import Variable\nw = Variable(torch.ones(2), requires_grad=True)\n"
)


class BrokenFix(Rule):
    """A rule whose fix produces code that does not parse (as a buggy rule might)."""

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "print":
            good = self.replace_with(node, cst.Name("w0"), "Replace", Applicability.SAFE)
            edit = good.edits[0]
            broken = Edit("(((", edit.start, edit.end, edit.start_offset, edit.end_offset)
            self.report(node, fixes=[Fix("Break the module", Applicability.SAFE, (broken,))])


# A rule outside the catalog is described by a spec of its own.
BROKEN_FIX = RuleSpec("VM998", __name__, "BrokenFix", "test rule", triggers=("print",))


def test_a_fix_that_breaks_the_module_is_dropped_and_reported() -> None:
    source = LEGACY + "print(w)\n"
    result = fix_source(source, Settings(rules=(BROKEN_FIX,)))
    assert result.source == source
    assert result.applied == 0
    errors = [d for d in result.diagnostics if d.code == INTERNAL_ERROR]
    assert len(errors) == 1
    assert "VM998" in errors[0].message
    assert str(errors[0].start) == "4:1"


def test_a_broken_fix_does_not_stop_the_good_ones() -> None:
    result = fix_source(LEGACY + "print(w)\n", Settings(rules=(BROKEN_FIX, *select_rules(["VM001"]))))
    assert result.source == "import torch\nw = torch.ones(2, requires_grad=True)\nprint(w)\n"
    assert INTERNAL_ERROR in [d.code for d in result.diagnostics]


@pytest.mark.parametrize(
    "source",
    [
        "import torch\n# Variable(x) from torch.autograd, in a comment\n",
        'import torch\nimport torch.autograd\ndoc = """Variable(x, volatile=True)"""\n',
        "import numpy\nfrom autograd import Variable\nVariable(1)\n",  # no torch anywhere
        "from torch.autograd import grad\nresponse.data = 1\n",
    ],
)
def test_prefilter_rejects_what_cannot_hold_a_finding(source: str) -> None:
    assert not could_match(source, ALL_RULES)


@pytest.mark.parametrize(
    "source",
    [
        LEGACY,
        "import torch\nprint(f'{loss.data[0]:.3f}')\n",  # VM201 looks inside f-strings
        "import torch\nx = make(t, volatile=True)\n",
    ],
)
def test_prefilter_accepts_candidates(source: str) -> None:
    assert could_match(source, ALL_RULES)
    assert check_source(source)


def test_parse_errors_carry_cpythons_message_and_position() -> None:
    with pytest.raises(SourceParseError) as caught:
        check_source("import torch\nfrom torch.autograd import Variable\nx = t.cuda(async=True)\nprint x\n")
    assert (caught.value.row, caught.value.column) == (3, 12)
    assert caught.value.message == "invalid syntax"


ASYNC_ONLY = "import torch\nx = t.cuda(async=True)  # async=True\ny = f(t, async =1, b=2).to(d,async=0)\n"


def test_a_module_that_fails_only_on_async_keywords_is_analysed_with_them_renamed() -> None:
    found = check_source(ASYNC_ONLY)
    assert [(str(d.start), str(d.end), d.code) for d in found] == [
        ("2:12", "2:17", "VM405"),
        ("3:10", "3:15", "VM405"),
        ("3:30", "3:35", "VM405"),
    ]
    fixed = fix_source(ASYNC_ONLY)
    assert fixed.source == ASYNC_ONLY.replace("(async", "(non_blocking").replace(
        ", async", ", non_blocking"
    ).replace(",async", ",non_blocking")
    assert (fixed.applied, fixed.diagnostics) == (3, [])


def test_an_async_keyword_inside_another_fix_is_counted_as_fixed() -> None:
    """The outer fix is written from the module with the keywords renamed: it fixes both findings."""
    source = (
        "import torch\nfrom torch.autograd import Variable\n"
        "a = Variable(x.cuda(async=True))\nb = Variable(x).cuda(async=True)\n"
    )
    assert [d.code for d in check_source(source)] == ["VM001", "VM405"] * 2
    fixed = fix_source(source)
    assert fixed.source == (
        "import torch\na = x.cuda(non_blocking=True).detach()\nb = x.detach().cuda(non_blocking=True)\n"
    )
    assert (fixed.applied, fixed.applied_codes, fixed.diagnostics) == (4, {"VM001": 2, "VM405": 2}, [])


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nx = t.cuda(async=True)\nprint x\n",  # another error
        "import torch\ndef f(t, async=True):\n    pass\n",  # a parameter, not a keyword argument
        "import torch\nx = t.cuda(async=True)\nasync = 1\n",  # `async` as a name too
    ],
    ids=["other-error", "parameter", "assignment"],
)
def test_async_is_repaired_only_when_keyword_arguments_are_all_that_is_wrong(source: str) -> None:
    with pytest.raises(SourceParseError):
        check_source(source)
    with pytest.raises(SourceParseError):
        fix_source(source)


@pytest.mark.parametrize("directive", ["# noqa: VM405", "# noqa", "# NOQA: VM001,VM405"])
def test_a_suppressed_async_keyword_leaves_the_file_a_parse_error(directive: str) -> None:
    """A kept `async=` cannot stay in a rewritten file: the file is neither repaired nor fixed."""
    source = (
        f"import torch\nx = t.cuda(async=True)  {directive}\n"
        "y = t.cuda(async=True)\nloss.backward(retain_variables=True)\n"
    )
    for run in (check_source, fix_source):
        with pytest.raises(SourceParseError) as caught:
            run(source)
        assert (caught.value.row, caught.value.column) == (2, 12)
        assert "`# noqa` keeps this `async=` keyword" in caught.value.message


def test_a_noqa_for_other_codes_does_not_keep_an_async_keyword() -> None:
    source = "import torch\nx = t.cuda(async=True)  # noqa: VM001\n"
    assert fix_source(source).source == source.replace("async", "non_blocking")


def test_ignoring_the_async_rule_leaves_the_parse_error() -> None:
    source = ASYNC_ONLY + "from torch.autograd import Variable\nv = Variable(x)\n"
    assert [d.code for d in check_source(source)] == ["VM405"] * 3 + ["VM001"]
    with pytest.raises(SourceParseError) as caught:
        check_source(source, Settings(rules=select_rules(ignore=["VM405"])))
    assert (caught.value.row, caught.value.column) == (2, 12)


def test_findings_are_sorted_and_reported_once() -> None:
    source = LEGACY + "v = Variable(Variable(w))\nok = isinstance(v, Variable)\n"
    found = [(str(d.start), d.code) for d in check_source(source)]
    assert found == [("3:5", "VM001"), ("4:5", "VM001"), ("4:14", "VM001"), ("5:20", "VM101")]


REDUCIBLE = '''import torch
from torch.autograd import Variable


def unrelated(a):
    """A function with no candidate: left out of the scope analysis."""
    return a * 2
    # a comment at the end of the block


x = torch.zeros(3)
y = Variable(x, requires_grad=True)  # x is also used in uses_x: not a fresh temporary
z = torch.ones(2)
w = Variable(z, requires_grad=True)  # z is used only here: fresh


def uses_x():
    return x.sum()


class Model:
    def reset(self):
        self.state = None

    def forward(self, h):
        out = Variable(h.data)
        return out, isinstance(out, Variable)
'''


def _lint_both(source: str) -> tuple[list[object], list[object]]:
    from varmigrate.engine import lint, parse

    module = parse(source)
    return lint(module, source, ALL_RULES), lint(module, source, ALL_RULES, reduce=False)


def test_leaving_statements_out_of_the_analysis_changes_no_finding() -> None:
    reduced, full = _lint_both(REDUCIBLE)
    assert reduced == full
    fixed = fix_source(REDUCIBLE).source
    assert "y = x.detach().requires_grad_()" in fixed
    assert "w = z.requires_grad_()" in fixed
    assert "out = h.detach()" in fixed


def test_the_analysed_module_keeps_every_line_in_place() -> None:
    from varmigrate.engine import parse
    from varmigrate.rules.context import ModuleContext

    ctx = ModuleContext.build(parse(REDUCIBLE), REDUCIBLE, ALL_RULES)
    assert "def unrelated" in ctx.dropped_code
    assert "def uses_x" in ctx.dropped_code
    assert "def reset" in ctx.dropped_code
    analysed = ctx.module.code.splitlines()
    for number, line in enumerate(REDUCIBLE.splitlines()):
        assert analysed[number] == line or analysed[number].strip() in ("", "pass")


class _Overriding(Rule):
    """Overrides one of LibCST's stubs, shadows another with a non-callable, and adds a leave."""

    def visit_Call(self, node: cst.Call) -> None:
        pass

    visit_Name = None  # type: ignore[assignment]

    def leave_Attribute(self, original_node: cst.Attribute) -> None:
        pass


class _Inheriting(_Overriding):
    """Gets its callbacks from its base, and puts a stub back over one of them."""

    visit_Call = cst.BatchableCSTVisitor.visit_Call  # type: ignore[assignment]


@pytest.mark.parametrize("kind", [*(rule.load() for rule in ALL_RULES), _Overriding, _Inheriting])
def test_a_rules_callbacks_are_its_attributes_that_are_not_libcsts_stubs(kind: type[Rule]) -> None:
    from varmigrate.engine.analysis import _callback_names

    expected = tuple(
        name
        for name in dir(kind)
        if name.startswith(("visit_", "leave_")) and not getattr(getattr(kind, name), "_is_no_op", False)
    )
    assert _callback_names(kind) == expected
    assert expected  # every case has callbacks
