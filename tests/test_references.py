"""Every reference to torch's `Variable` is reported exactly once, by the rule that owns its role."""

from __future__ import annotations

import pytest
from fixture_cases import load_cases

from varmigrate.engine import check_source

HEADER = (
    "from typing import Callable, Optional, Tuple, cast\n"
    "import numpy as np\n"
    "import torch\n"
    "from torch.autograd import Variable\n"
)
REFERENCE_CODES = {"VM001", "VM101", "VM102", "VM103"}

CASES = [
    pytest.param("y = Variable(x)", "VM001", id="call"),
    pytest.param("y = (Variable)(x)", "VM001", id="parenthesised-call"),
    pytest.param("ok = isinstance(x, Variable)", "VM101", id="isinstance"),
    pytest.param("ok = isinstance(x, (np.ndarray, (Variable, list)))", "VM101", id="isinstance-nested-tuple"),
    pytest.param("ok = issubclass(C, Variable)", "VM101", id="issubclass"),
    pytest.param("ok = issubclass(C, (int, Variable))", "VM101", id="issubclass-tuple"),
    pytest.param("ok = type(x) == Variable", "VM101", id="type-equal"),
    pytest.param("ok = Variable is not type(x)", "VM101", id="type-is-not-reversed"),
    pytest.param("ok = x.__class__ != Variable", "VM101", id="dunder-class"),
    pytest.param("ok = type(x) == Variable == y", "VM103", id="chained-comparison-is-a-value"),
    pytest.param("ok = isinstance(x, [Variable])", "VM103", id="isinstance-list-is-a-value"),
    pytest.param("ok = type(x, y) == Variable", "VM103", id="three-argument-type-is-a-value"),
    pytest.param("def f(x: Variable): pass", "VM102", id="parameter-annotation"),
    pytest.param("def f() -> Optional[Variable]: pass", "VM102", id="return-annotation"),
    pytest.param("h: Tuple[Variable, ...] = ()", "VM102", id="variable-annotation"),
    pytest.param("Step = Callable[[Variable], Variable]", "VM102", id="type-alias"),
    pytest.param("y = cast(Variable, x)", "VM103", id="cast-is-a-value"),
    pytest.param("V = Variable", "VM103", id="alias"),
    pytest.param("ys = map(Variable, xs)", "VM103", id="map"),
    pytest.param("class F(Variable): pass", "VM103", id="base-class"),
    pytest.param("e = torch.autograd.Variable._execution_engine", "VM103", id="attribute-of-qualified"),
]


@pytest.mark.parametrize(("statement", "code"), CASES)
def test_one_reference_one_finding(statement: str, code: str) -> None:
    source = HEADER + statement + "\n"
    found = [d.code for d in check_source(source) if d.code in REFERENCE_CODES]
    expected = [code, code] if statement.count("Variable") == 2 else [code]
    assert found == expected


@pytest.mark.parametrize("case", load_cases(), ids=lambda c: c.id)
def test_no_two_findings_at_one_reference(case) -> None:
    source = case.input.read_text(encoding="utf-8")
    starts = [d.start for d in check_source(source, case.settings) if d.code in REFERENCE_CODES]
    assert len(starts) == len(set(starts))
