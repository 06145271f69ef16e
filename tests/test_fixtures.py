"""Every fixture folder: diagnostics, the fix, idempotence, and gradients of runnable cases."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from fixture_cases import FIXTURES, Case, case_settings, load_cases, render_diagnostic

from varmigrate.engine import check_source, fix_source, parse
from varmigrate.rules import ALL_RULES

CASES = load_cases()
RUNNABLE = [case for case in CASES if case.runnable]


CASE_FILES = {"input.py", "expected.py", "diagnostics.txt", "case.toml"}
CASE_SETTINGS = {"unsafe_fixes", "gradients", "select"}


def test_every_fixture_folder_is_a_case_of_a_rule() -> None:
    """A folder the loader would skip, a misspelt file or setting, or a rule without cases fails here."""
    problems = []
    folders = sorted(path for path in FIXTURES.glob("VM*/*") if path.is_dir())
    for folder in folders:
        name = folder.relative_to(FIXTURES).as_posix()
        files = {path.name for path in folder.iterdir() if path.name != "__pycache__"}
        problems += [f"{name}: no {missing}" for missing in sorted({"input.py", "diagnostics.txt"} - files)]
        problems += [f"{name}: unknown file {unknown}" for unknown in sorted(files - CASE_FILES)]
        unknown_settings = set(case_settings(folder)) - CASE_SETTINGS
        problems += [f"{name}: unknown setting {key}" for key in sorted(unknown_settings)]
    assert not problems
    assert [case.folder for case in CASES] == folders
    codes = {folder.parent.name for folder in folders}
    assert codes == {rule.code for rule in ALL_RULES}, "every rule has cases; every case folder is a rule"
    for case in CASES:
        assert case.gradients in ("identical", "differ"), case.id
        if case.gradients == "differ":
            # Only an UNSAFE fix may change gradients, and the claim is only tested when the case runs.
            assert case.unsafe_fixes, f"{case.id}: gradients = 'differ' without unsafe_fixes"
            assert case.runnable, f"{case.id}: gradients = 'differ' in a case that does not run"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_diagnostics(case: Case, update_fixtures: bool) -> None:
    source = case.input.read_text(encoding="utf-8")
    lines = [render_diagnostic(d, case.settings.threshold) for d in check_source(source, case.settings)]
    actual = "".join(f"{line}\n" for line in lines)
    if update_fixtures:
        case.diagnostics.write_text(actual, encoding="utf-8")
    assert case.diagnostics.exists(), f"{case.id}: diagnostics.txt is missing"
    assert actual == case.diagnostics.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_fix(case: Case, update_fixtures: bool) -> None:
    source = case.input.read_text(encoding="utf-8")
    result = fix_source(source, case.settings)
    parse(result.source)
    if update_fixtures and result.source != source:
        (case.folder / "expected.py").write_text(result.source, encoding="utf-8")
    assert result.source == case.expected.read_text(encoding="utf-8")
    assert not [d for d in result.diagnostics if d.code.startswith("VM9")]
    again = fix_source(result.source, case.settings)
    assert again.source == result.source, "a second fix changed the code again"
    assert again.applied == 0


def _run(path: Path) -> dict[str, Any]:
    """Run ``case()`` from ``path`` with a fixed seed: the loss, leaf gradients, or the error raised."""
    import torch

    from varmigrate.harness.compare import _bits  # noqa: F401  (fails early if torch is unusable)

    namespace: dict[str, Any] = {"__name__": "fixture_case", "__file__": str(path)}
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
            loss, leaves = namespace["case"]()
            loss.backward()
        except Exception as error:  # the error itself is the observable behaviour
            return {"error": f"{type(error).__name__}: {error}"}
        named = dict(leaves) if isinstance(leaves, dict) else {f"leaf{i}": t for i, t in enumerate(leaves)}
        record: dict[str, Any] = {"loss": loss.detach()}
        for name, leaf in named.items():
            # `.grad` of a non-leaf warns; it is still part of what the program observes.
            record[f"{name}.grad"] = leaf.grad
            record[f"{name}.requires_grad"] = leaf.requires_grad
            record[f"{name}.is_leaf"] = leaf.is_leaf
    return record


def _differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    from varmigrate.harness.compare import tensor_difference

    if "error" in before or "error" in after:
        return [] if before == after else [f"{before.get('error')} vs {after.get('error')}"]
    tensors_b = {k: v for k, v in before.items() if not isinstance(v, bool)}
    tensors_a = {k: v for k, v in after.items() if not isinstance(v, bool)}
    found = [
        f"{key}: {detail}"
        for key in sorted(set(tensors_b) | set(tensors_a))
        if (detail := tensor_difference(tensors_b.get(key), tensors_a.get(key))) is not None
    ]
    found += [
        f"{k}: {before[k]} vs {after.get(k)}"
        for k, v in before.items()
        if isinstance(v, bool) and after.get(k) != v
    ]
    return found


@pytest.mark.parametrize("case", RUNNABLE, ids=lambda c: c.id)
def test_gradients(case: Case) -> None:
    sys.modules.pop("fixture_case", None)
    differences = _differences(_run(case.input), _run(case.expected))
    if case.gradients == "differ":
        assert differences, f"{case.id}: expected the fix to change gradients, but they are identical"
    else:
        assert not differences, f"{case.id}: gradients differ: {differences}"


def test_every_safe_fix_has_a_runnable_case() -> None:
    """Each rule whose fixtures show a SAFE fix has at least one runnable, identical-gradient case."""
    fixed_codes = {c.folder.parent.name for c in CASES if c.expected != c.input and not c.unsafe_fixes}
    proven = {c.folder.parent.name for c in RUNNABLE if c.gradients == "identical" and c.expected != c.input}
    assert fixed_codes <= proven, f"no runnable case for {sorted(fixed_codes - proven)}"
