"""VM301 / VM302 beyond their fixtures: selection, the prefilter on modern code, aliases the module reduction
must keep, and VM001 composed with VM301."""

from __future__ import annotations

import pytest

from varmigrate.engine import Settings, check_source, could_match, fix_source
from varmigrate.rules import DEFAULT_RULES, select_rules

VM3 = select_rules(["VM3"])

# Modern code says `torch.Tensor` in annotations, checks and subclasses, and converts with dtypes.
MODERN = """\
import torch


class Scaled(torch.Tensor):
    pass


def f(x: torch.Tensor, n: int) -> torch.Tensor:
    assert isinstance(x, torch.Tensor)
    y = torch.tensor([1, 2], dtype=torch.int64)
    name = x.type()  # the name of its type
    return x.type(torch.float64) + torch.empty(n) + y
"""


def test_vm3_is_off_by_default_and_selected_by_its_prefix() -> None:
    assert not {"VM301", "VM302", "VM303"} & {rule.code for rule in DEFAULT_RULES}
    assert [rule.code for rule in VM3] == ["VM301", "VM302", "VM303"]
    assert check_source("import torch\nx = torch.FloatTensor(2)\n") == []


def test_modern_code_is_never_parsed_for_vm3() -> None:
    assert not could_match(MODERN, VM3)


@pytest.mark.parametrize(
    "line",
    [
        "x = torch.FloatTensor(2)",
        "x = torch.Tensor(3)",
        "x = th.cuda.LongTensor([1])",
        "y = x.type('torch.DoubleTensor')",
        "Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor",
        "from torch import Tensor\nx = Tensor (2, 3)",
    ],
)
def test_legacy_spellings_pass_the_prefilter(line: str) -> None:
    assert could_match(f"import torch\n{line}\n", VM3)


def test_calls_through_an_alias_are_analysed_where_no_typed_name_is_spelled() -> None:
    # The module is reduced to the statements that may hold a finding; those that only call an alias
    # (`dtype`, `Long`, `FT`) must be kept with it.
    source = """\
import torch
from torch import DoubleTensor as FT

dtype = torch.cuda.FloatTensor if cuda else torch.FloatTensor
Long = torch.LongTensor


def f(x):
    return x.type(dtype)


def g(n):
    return Long(n, 2)


class M:
    def h(self):
        return FT([1, 2])
"""
    found = [(d.start.row, d.code) for d in check_source(source, Settings(rules=VM3))]
    assert found == [(9, "VM302"), (13, "VM301"), (18, "VM301")]
    fixed = fix_source(source, Settings(rules=VM3)).source
    assert "return torch.empty(n, 2, dtype=torch.int64)" in fixed
    assert "return torch.tensor([1, 2], dtype=torch.float64)" in fixed
    assert "x.type(dtype)" in fixed, "the alias chose its device at import time: display only"


def test_a_rebound_alias_is_not_followed() -> None:
    source = "import torch\nT = torch.FloatTensor\nT = torch.LongTensor\nx = T(2)\n"
    assert check_source(source, Settings(rules=VM3)) == []


def test_variable_around_a_typed_constructor_converges_with_vm001() -> None:
    source = (
        "import torch\nfrom torch.autograd import Variable\n"
        "w = Variable(torch.FloatTensor([1, 2]), requires_grad=True)\n"
        "b = Variable(torch.LongTensor(3))\n"
    )
    rules = tuple(sorted({*DEFAULT_RULES, *VM3}, key=lambda rule: rule.code))
    fixed = fix_source(source, Settings(rules=rules)).source
    assert fixed == (
        "import torch\n"
        "w = torch.tensor([1, 2], dtype=torch.float32, requires_grad=True)\n"
        "b = torch.empty(3, dtype=torch.int64)\n"
    )
