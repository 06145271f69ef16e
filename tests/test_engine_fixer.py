"""How fixes are checked: CPython's parser first, LibCST's where CPython cannot say."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from varmigrate.diagnostics import Diagnostic, Edit, Fix
from varmigrate.engine import INTERNAL_ERROR, Settings, SourceParseError, check_source, fix_source
from varmigrate.engine import fixer as fixer_module
from varmigrate.engine.analysis import Analysis
from varmigrate.model import Applicability, Location
from varmigrate.rules import context, rule_by_code

LEGACY = "import torch\nfrom torch.autograd import Variable\nh = Variable(hidden)\n"


def test_a_fix_libcst_cannot_read_is_checked_again_with_libcst(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the next round's LibCST parse fails on what CPython accepted, the fix is dropped as before.

    A `Variable(...)` with no fix stays, so that there is a next round (where no rule can fire in the
    fixed text, the next round would analyse nothing, and is not run)."""

    def rejecting(function):  # type: ignore[no-untyped-def]
        def wrapper(source: str, *args: object, **kwargs: object) -> object:
            if "hidden.detach()" in source:
                raise SourceParseError("LibCST says no", 3, 1)
            return function(source, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(fixer_module, "analyse", rejecting(fixer_module.analyse))
    monkeypatch.setattr(fixer_module, "parse", rejecting(fixer_module.parse))
    source = LEGACY + "z = Variable(q, foo=1)\n"
    result = fix_source(source, Settings(rules=(rule_by_code("VM001"),)))
    assert result.source == source
    assert result.applied == 0
    assert [d.code for d in result.diagnostics] == ["VM001", INTERNAL_ERROR, "VM001"]


def test_a_module_only_libcst_reads_is_fixed_all_the_same() -> None:
    # CPython: "iterable unpacking cannot be used in comprehension"; LibCST reads it.
    source = LEGACY + "print(*a for a in b)\n"
    result = fix_source(source)
    assert result.source == "import torch\nh = hidden.detach()\nprint(*a for a in b)\n"


@pytest.mark.parametrize(
    ("line", "fixed"),
    [
        ("x = Variable(x)\n", ""),
        ("x = Variable(x)  # keep\n", "# keep\n"),
        ("x, y = Variable(x), Variable(y)\n", ""),
        # Parentheses around a comment: LibCST's text of the value keeps the comment, so it stays.
        ("x = (Variable(x)  # note\n)\n", "x = (x  # note\n)\n"),
        ("x = Variable(y)\n", "x = y\n"),
    ],
)
def test_self_assignments_a_fix_leaves_are_removed(line: str, fixed: str) -> None:
    header = "import torch\nfrom torch.autograd import Variable\n"
    result = fix_source(header + line, Settings(unsafe_fixes=True))
    assert result.source == "import torch\n" + fixed


def test_only_the_first_round_analyses_scopes_when_the_rest_spell_variable_in_its_import_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The import is all that still spells `Variable` after the first round: neither the last round (for
    the `.data[0]` it leaves, an unsafe fix) nor the clean-up needs scope analysis to see it unused."""
    calls: list[object] = []
    real = context.analyse_scopes

    def counted(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(context, "analyse_scopes", counted)
    source = (
        "import torch\nfrom torch.autograd import Variable\n\n\n"
        "def step(x, loss):\n    y = Variable(x)\n    return y, loss.data[0]\n"
    )
    result = fix_source(source)
    assert result.source == (
        "import torch\n\n\ndef step(x, loss):\n    y = x.detach()\n    return y, loss.data[0]\n"
    )
    assert [d.code for d in result.diagnostics] == ["VM201"]
    assert len(calls) == 1


def _with_extra_fix(monkeypatch: pytest.MonkeyPatch, word: str, replacement: str) -> None:
    """The analysis also offers a SAFE fix that replaces ``word`` with ``replacement`` (in a text with it): a
    fix of a kind no rule makes today, to try what the fixer assumes of the next round."""
    analyse = fixer_module.analyse

    def offering(source: str, *args: Any, **kwargs: Any) -> Analysis:
        analysis = analyse(source, *args, **kwargs)
        start = source.find(word)
        if start < 0:
            return analysis
        end = start + len(word)
        row = source.count("\n", 0, start) + 1
        column = start - source.rfind("\n", 0, start)
        edit = Edit(replacement, Location(row, column), Location(row, column + len(word)), start, end)
        extra = Diagnostic(
            "VM001", "extra", "extra", edit.start, edit.end, (Fix("extra", Applicability.SAFE, (edit,)),)
        )
        return replace(analysis, diagnostics=sorted([*analysis.diagnostics, extra], key=lambda d: d.start))

    monkeypatch.setattr(fixer_module, "analyse", offering)


@pytest.mark.parametrize(
    ("source", "word", "replacement"),
    [
        # The fix makes a new `.data[0]`: the findings left by the round are not all there is.
        ("import torch\ny = foo\nz = q.data[0]\n", "foo", "b.data[0]"),
        # A change within the lines of a finding the round left (its fix holds the changed text).
        ("import torch\nz = (q\n     + foo\n     ).data[0]\n", "foo", "bar"),
    ],
)
def test_findings_left_by_a_round_carry_over_only_where_the_next_round_would_agree(
    monkeypatch: pytest.MonkeyPatch, source: str, word: str, replacement: str
) -> None:
    _with_extra_fix(monkeypatch, word, replacement)
    result = fix_source(source)
    assert result.applied == 1
    assert replacement in result.source
    monkeypatch.undo()
    assert result.diagnostics == check_source(result.source)
    assert all(d.code == "VM201" for d in result.diagnostics)
