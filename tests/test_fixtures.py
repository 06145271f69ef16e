"""Every fixture folder: diagnostics, the fix, idempotence, and gradients of runnable cases."""

from __future__ import annotations

import ast
import re
import sys
import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixture_cases import FIXTURES, Case, case_settings, load_cases, render_diagnostic
from legacy_meaning import pytorch_03, pytorch_03_source

import varmigrate.rules
from varmigrate.engine import check_source, fix_source, parse
from varmigrate.model import Applicability, Fix
from varmigrate.rules import ALL_RULES
from varmigrate.rules._base import Rule

CASES = load_cases()
RUNNABLE = [case for case in CASES if case.runnable]


CASE_FILES = {"input.py", "expected.py", "diagnostics.txt", "case.toml"}
CASE_SETTINGS = {"unsafe_fixes", "gradients", "select", "baseline"}


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
        assert case_settings(case.folder).get("baseline", "pytorch-0.3") == "pytorch-0.3", case.id
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


def _run(path: Path, legacy: bool = False) -> dict[str, Any]:
    """Run ``case()`` from ``path`` with a fixed seed: the loss, leaf gradients, or the error raised.

    ``legacy``: with the removed APIs the code uses given their PyTorch 0.3 meaning (``legacy_meaning``).
    """
    import torch

    from varmigrate.harness.tensors import _bits  # noqa: F401  (fails early if torch is unusable)

    namespace: dict[str, Any] = {"__name__": "fixture_case", "__file__": str(path)}
    torch.manual_seed(0)
    with warnings.catch_warnings(), pytorch_03() if legacy else nullcontext():
        warnings.simplefilter("ignore")
        try:
            text = path.read_text(encoding="utf-8")
            exec(compile(pytorch_03_source(text) if legacy else text, str(path), "exec"), namespace)
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
    from varmigrate.harness.tensors import tensor_difference

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
    if case.legacy_baseline:
        # The shims are there because today's torch rejects the input: it must.
        assert "error" in _run(case.input), f"{case.id}: the input runs without its PyTorch 0.3 baseline"
    differences = _differences(_run(case.input, case.legacy_baseline), _run(case.expected))
    if case.gradients == "differ":
        assert differences, f"{case.id}: expected the fix to change gradients, but they are identical"
    else:
        assert not differences, f"{case.id}: gradients differ: {differences}"


# -- every SAFE fix has a runnable case ------------------------------------------------------------------

RULES = Path(varmigrate.rules.__file__).resolve().parent


@dataclass(frozen=True)
class FixSite:
    """A `replace_with(...)` call in a rule module that builds a SAFE fix: one kind of SAFE fix."""

    file: str
    first: int
    last: int
    title: str  # the title argument as written

    def __str__(self) -> str:
        return f"rules/{self.file}:{self.first} {self.title}"

    def holds(self, file: str, line: int) -> bool:
        return file == self.file and self.first <= line <= self.last


def safe_fix_sites() -> list[FixSite]:
    """Every SAFE fix the rules can build, read from their source."""
    sites = []
    for path in sorted(RULES.rglob("*.py")):
        file = path.relative_to(RULES).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "replace_with":
                continue
            arguments = {**dict(enumerate(node.args)), **{k.arg: k.value for k in node.keywords}}
            title, applicability = arguments.get(2, arguments.get("title")), arguments.get(3)
            applicability = applicability or arguments.get("applicability")
            level = ast.unparse(applicability).rpartition(".")[2] if applicability is not None else "?"
            where = f"rules/{file}:{node.lineno}"
            assert level in Applicability.__members__, f"{where}: cannot read the applicability {level}"
            if level == "SAFE":
                assert title is not None, f"{where}: no title"
                sites.append(FixSite(file, node.lineno, node.end_lineno or node.lineno, ast.unparse(title)))
    return sites


@contextmanager
def fix_origins() -> Iterator[dict[int, tuple[Fix, str, int]]]:
    """Record where each fix built meanwhile was built: id(fix) -> (fix, rule module, line).

    The fix itself is kept so that its id is not reused while the record lives.
    """
    build = Rule.replace_with
    origins: dict[int, tuple[Fix, str, int]] = {}

    def recording(self: Rule, *args: Any, **kwargs: Any) -> Fix:
        fix = build(self, *args, **kwargs)
        caller = sys._getframe(1)
        file = Path(caller.f_code.co_filename).resolve()
        where = file.relative_to(RULES).as_posix() if file.is_relative_to(RULES) else str(file)
        origins[id(fix)] = (fix, where, caller.f_lineno)
        return fix

    Rule.replace_with = recording  # type: ignore[method-assign]
    try:
        yield origins
    finally:
        Rule.replace_with = build  # type: ignore[method-assign]


def _placed_origin(fix: Fix, origins: dict[int, tuple[Fix, str, int]]) -> tuple[Fix, str, int]:
    """The origin of a fix the engine moved from the text it analysed to the file's own text (a file
    it parsed with `async=` renamed, or LibCST's printing of it): the one built with its title and edits."""
    [origin] = [
        found
        for found in origins.values()
        if (found[0].title, [e.content for e in found[0].edits])
        == (fix.title, [e.content for e in fix.edits])
        and found[0].applicability is fix.applicability
    ][-1:]
    return origin


def fix_kind(title: str, source: str) -> str:
    """``title`` with what varies between programs taken out: torch's local name and call arguments."""
    alias = re.search(r"^import torch as (\w+)", source, flags=re.MULTILINE)
    if alias:
        title = title.replace(f"`{alias[1]}.", "`torch.")
    return re.sub(r"\(([^()`]+)\)", "(...)", title)


def test_every_safe_fix_has_a_runnable_case() -> None:
    """Each kind of SAFE fix is applied in a runnable case whose gradients are identical after the fix.

    A kind is one SAFE fix the rules build (a `replace_with` call in a rule module) with its title (torch's
    local name and arguments left out): the typed-constructor fix, say, is one call with two titles
    (`torch.tensor(...)` for data, `torch.empty(...)` for sizes), and each must be proven.
    """
    sites = safe_fix_sites()
    seen: dict[tuple[FixSite, str], set[str]] = defaultdict(set)
    proven: dict[tuple[FixSite, str], set[str]] = defaultdict(set)
    with fix_origins() as origins:
        for case in CASES:
            source = case.input.read_text(encoding="utf-8")
            for diagnostic in check_source(source, case.settings):
                fix = diagnostic.fix_for(case.settings.threshold)
                if fix is None or fix.applicability is not Applicability.SAFE:
                    continue
                _, file, line = origins.get(id(fix)) or _placed_origin(fix, origins)
                site = next((s for s in sites if s.holds(file, line)), None)
                assert site is not None, (
                    f"{case.id}: a SAFE fix built at rules/{file}:{line} is not in {sites}"
                )
                kind = (site, fix_kind(fix.title, source))
                seen[kind].add(case.id)
                if case.runnable and case.gradients == "identical" and case.expected != case.input:
                    proven[kind].add(case.id)
    unproven = [
        f"{site} -> {title!r} (applied in {', '.join(sorted(seen[site, title]))})"
        for site, title in seen
        if not proven[site, title]
    ]
    assert not unproven, "SAFE fixes without a runnable case:\n" + "\n".join(unproven)
    never_applied = [str(site) for site in sites if not any(kind[0] == site for kind in seen)]
    assert not never_applied, "SAFE fixes that no fixture applies:\n" + "\n".join(never_applied)
