"""`varmigrate verify` end to end: real scripts in fixtures/verify/, real torch, real subprocesses.

Each verify starts two Python processes that import torch; the cases are few and each proves one claim.
Tests that look at the same run (same script, same options) share it through a module fixture.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from programs import run_python

from varmigrate.cli.verify import verify_main
from varmigrate.config import Overrides, resolve
from varmigrate.engine import Settings, fix_source
from varmigrate.harness.verify import DIVERGED, IDENTICAL, VerifyOptions, VerifyResult, verify
from varmigrate.output.verify_report import print_result
from varmigrate.rules import rule_by_code

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "verify"
VM001 = rule_by_code("VM001")
# The configuration `--select VM001` gives (with no configuration file).
ONLY_VM001 = resolve(None, Overrides(select=["VM001"]))
PYTHON = sys.executable


def copy_case(name: str, tmp_path: Path) -> Path:
    """A copy of ``fixtures/verify/<name>`` to run verify in (outside any git repository)."""
    target = tmp_path / name
    shutil.copytree(CASES / name, target)
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.slow
def test_seed_tutorial_is_identical_and_leaves_the_tree_alone(tmp_path, capsys):
    folder = copy_case("seed_tutorial", tmp_path)
    before = snapshot(folder)
    code = verify_main(VerifyOptions(command=(PYTHON, "tutorial.py"), cwd=folder, output_format="json"))
    report = json.loads(capsys.readouterr().out)
    assert (code, report["verdict"]) == (0, "identical"), report
    assert report["compared"]["calls"] == 3
    # 3 gradients, 3 losses; at exit the flags of the 3 leaves and the script's 8 global tensors.
    assert report["compared"]["tensors"] == 17
    assert [f["applicability"] for f in report["fixes"]] == ["safe"] * 4
    assert [run["exit_status"] for run in report["runs"]] == [0, 0]
    assert report["runs"][0]["stdout_sha256"] == report["runs"][1]["stdout_sha256"]
    # Identical, with fixes to write, but no --write: nothing is written, and `fix` would write the same.
    assert report["written"] == []
    assert report["next_command"] == "varmigrate fix"
    assert snapshot(folder) == before


@pytest.mark.slow
@pytest.mark.scenario
def test_legacy_loss_data_runs_under_the_shim_and_its_item_fix_is_verified(tmp_path, capsys):
    folder = copy_case("legacy_loss_data", tmp_path)
    options = VerifyOptions(
        command=(PYTHON, "train.py"),
        cwd=folder,
        configuration=resolve(None, Overrides(select=["VM001", "VM201"])),
    )
    code = verify_main(options)
    text = capsys.readouterr().out
    assert code == 0, text
    assert "IDENTICAL" in text
    assert "ran with PyTorch 0.3's meaning of `t.data[0]` and `t.numpy()[0]` on 0-dim tensors, " in text
    assert ": 12 times `t.data[0]` or `t.numpy()[0]` on a 0-dim tensor returned its number" in text


@pytest.mark.slow
def test_modules_that_import_each_other_are_fixed_as_one_project(tmp_path):
    """train.py's `Variable` comes from model.py's star import: the candidate must keep it working."""
    folder = tmp_path / "two_modules"
    shutil.copytree(CASES.parent / "projects" / "two_modules" / "before", folder)
    result = verify(VerifyOptions(command=(PYTHON, "train.py"), cwd=folder))
    assert result.verdict == IDENTICAL, result.message
    assert {rewrite.file for rewrite in result.rewrites} == {"model.py", "train.py"}
    # verify does not wait for train.py's uses: model.py's import of `Variable` stays.
    fixed = {entry.file: entry.fixed for entry in result.files}
    assert "from torch.autograd import Variable" in fixed["model.py"]


@pytest.mark.slow
@pytest.mark.mutation  # a wrong rewrite verify must catch: CI's second step
def test_legacy_loss_data_without_an_item_fix_diverges_where_the_candidate_crashes(tmp_path):
    folder = copy_case("legacy_loss_data", tmp_path)
    result = verify(VerifyOptions(command=(PYTHON, "train.py"), cwd=folder, configuration=ONLY_VM001))
    assert result.verdict == DIVERGED
    divergence = result.comparison.divergence
    assert divergence.kind == "missing-call"
    assert divergence.call == 1
    assert (
        divergence.summary
        == "the candidate made 1 call; the baseline went on to call 1 (backward at train.py:<module>:21)"
    )
    assert divergence.detail.startswith("the candidate raised IndexError: invalid index of a 0-dim tensor")
    assert divergence.detail.endswith(" at train.py:<module>:22")
    assert result.shim_fired == 12


@pytest.mark.slow
@pytest.mark.mutation  # a wrong rewrite verify must catch: CI's second step
def test_stop_gradient_teacher_diverges_with_unsafe_fixes(tmp_path):
    folder = copy_case("stop_gradient_teacher", tmp_path)
    result = verify(
        VerifyOptions(command=(PYTHON, "distill.py"), cwd=folder, unsafe_fixes=True, configuration=ONLY_VM001)
    )
    assert result.verdict == DIVERGED
    divergence = result.comparison.divergence
    assert (divergence.kind, divergence.call, divergence.call_kind) == ("gradients", 0, "backward")
    assert divergence.baseline_site == "distill.py:<module>:17"
    assert divergence.candidate_site == "distill.py:<module>:16"  # the Variable import is gone
    assert sorted(map(str, divergence.leaves)) == [
        "teacher.bias (3,) float32: not reached (baseline) vs tensor(3,) float32",
        "teacher.weight (3, 6) float32: not reached (baseline) vs tensor(3, 6) float32",
    ]
    assert "distill.py:14:14 VM001 Remove the `Variable(...)` wrapper [unsafe]" in map(
        str, result.rewrites_in("distill.py")
    )
    assert result.exit_code == 1


@dataclass(frozen=True)
class Written:
    """A verify with --write: its result, the report it prints, and the folder it ran in."""

    result: VerifyResult
    text: str
    folder: Path


# Its tests share one xdist group, so the run is made once per test run rather than once per worker.
@pytest.fixture(scope="module")
def evidence_images_written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """`verify --write` on the evidence_images script (VM001 only), run once for the tests that read it."""
    folder = copy_case("evidence_images", tmp_path_factory.mktemp("verify"))
    options = VerifyOptions(command=(PYTHON, "train.py"), cwd=folder, write=True, configuration=ONLY_VM001)
    result = verify(options)
    with redirect_stdout(io.StringIO()) as out:
        print_result(result)  # what `varmigrate verify --write` prints
    return Written(result, out.getvalue(), folder)


@pytest.mark.slow
@pytest.mark.xdist_group("evidence_images_written")
def test_evidence_verifies_dropping_variable_images_and_write_writes_the_verified_code(
    evidence_images_written: Written,
) -> None:
    expected = (CASES / "evidence_images" / "expected.py").read_text(encoding="utf-8")
    result, text = evidence_images_written.result, evidence_images_written.text
    assert result.exit_code == 0, text
    assert (evidence_images_written.folder / "train.py").read_text(encoding="utf-8") == expected
    assert result.written == ["train.py"]
    assert "wrote train.py" in text
    assert "2 run, 1 not run" in text


@pytest.mark.slow
@pytest.mark.xdist_group("evidence_images_written")
def test_evidence_records_each_site_and_keeps_safe_fixes_where_it_cannot_verify(
    evidence_images_written: Written,
) -> None:
    result = evidence_images_written.result
    assert result.verdict == IDENTICAL
    seen = {(e.site.where, e.site.code): e.summary for e in result.evidence}
    assert seen == {
        ("train.py:28:20", "Variable(images, volatile=True)"): "not run",
        ("train.py:33:18", "Variable(all_images[i:i + 8])"): "argument never required grad (8 runs)",
        ("train.py:34:24", "Variable(teacher(images))"): "argument required grad in 8 of 8 runs",
    }
    labels = {str(r.start): (r.label, r.title) for r in result.rewrites}
    assert labels == {
        "28:20": ("safe", "Replace with `.detach()`"),
        "33:18": ("verified", "Remove the `Variable(...)` wrapper"),
        "34:24": ("safe", "Replace with `.detach()`"),
    }
    # What was written is the candidate that ran: the verified fix at 33:18 and the safe ones.
    (entry,) = result.files
    assert entry.fixed == (evidence_images_written.folder / "train.py").read_text(encoding="utf-8")
    assert entry.original.text == (CASES / "evidence_images" / "train.py").read_text(encoding="utf-8")


@pytest.fixture
def saliency_repo(tmp_path):
    """A git repository whose HEAD holds the legacy saliency script."""
    repo = tmp_path / "saliency"
    repo.mkdir()
    git(repo, "init", "-q")
    shutil.copy(CASES / "reused_input" / "legacy.py", repo / "train.py")
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "legacy")
    return repo


@pytest.mark.slow
@pytest.mark.mutation  # a wrong rewrite verify must catch: CI's second step
def test_baseline_revision_catches_a_hand_rewrite_that_aliases_one_leaf(saliency_repo):
    shutil.copy(CASES / "reused_input" / "hand_rewritten.py", saliency_repo / "train.py")
    result = verify(VerifyOptions(command=(PYTHON, "train.py"), cwd=saliency_repo, baseline="HEAD"))
    assert result.verdict == DIVERGED
    divergence = result.comparison.divergence
    assert (divergence.kind, divergence.call) == ("aliasing", 1)
    # The script zeroes the input gradient each step, so the values agree: only identity differs.
    assert [leaf.detail.split(":")[0] for leaf in divergence.leaves] == ["leaf identity differs"]
    assert "(4, 3) float32" in divergence.leaves[0].leaf
    assert git(saliency_repo, "worktree", "list").count("\n") == 1  # the temporary worktree is gone


@pytest.mark.slow
def test_baseline_revision_is_identical_to_the_safe_fix_of_it(saliency_repo):
    legacy = (saliency_repo / "train.py").read_text(encoding="utf-8")
    fixed = fix_source(legacy, Settings(rules=(VM001,))).source
    assert fixed != legacy
    (saliency_repo / "train.py").write_text(fixed, encoding="utf-8")
    result = verify(VerifyOptions(command=(PYTHON, "train.py"), cwd=saliency_repo, baseline="HEAD"))
    assert result.verdict == IDENTICAL, result.comparison
    assert result.comparison.calls == 3
    assert (saliency_repo / "train.py").read_text(encoding="utf-8") == fixed


@pytest.mark.slow
def test_a_baseline_that_fails_cannot_be_compared(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("import sys\nprint('starting')\nsys.exit('no data set here')\n")
    code = verify_main(VerifyOptions(command=(PYTHON, "broken.py"), cwd=tmp_path))
    text = capsys.readouterr().out
    assert code == 2
    assert "the baseline failed (exit status 1)" in text
    assert "no data set here" in text  # the tail of its stderr


def test_a_missing_command_cannot_be_compared(tmp_path):
    (tmp_path / "train.py").write_text("import torch\n")
    result = verify(VerifyOptions(command=("no-such-command-varmigrate",), cwd=tmp_path))
    assert (result.exit_code, result.message) == (2, "command not found: no-such-command-varmigrate")


@pytest.mark.slow
def test_verify_without_torch_says_how_to_install_it(tmp_path):
    (tmp_path / "train.py").write_text("import torch\n")
    # `sys.modules[name] = None` is how Python marks a module as not importable.
    program = (
        "import sys; sys.modules['torch'] = None\n"
        "from varmigrate.cli import main\n"
        "raise SystemExit(main(['verify', 'train.py']))\n"
    )
    done = subprocess.run([PYTHON, "-c", program], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "pip install 'varmigrate[verify]'" in done.stdout


@pytest.mark.slow
@pytest.mark.scenario
def test_legacy_numpy_index_runs_under_the_shim_and_its_item_fix_is_identical(tmp_path):
    """`loss.data.numpy()[0]` raises today: the baseline gives it 0.3's meaning (the NumPy scalar)."""
    folder = copy_case("legacy_loss_numpy", tmp_path)
    options = VerifyOptions(
        command=(PYTHON, "train.py"),
        cwd=folder,
        unsafe_fixes=True,
        configuration=resolve(None, Overrides(select=["VM202"])),
    )
    result = verify(options)
    assert result.verdict == IDENTICAL, result.message
    assert result.shim_fired == 8
    assert [str(rewrite) for rewrite in result.rewrites_in("train.py")] == [
        "train.py:19:72 VM202 Replace with `.item()` (assumes the tensor is 0-dim; gives a Python number, "
        "not a NumPy one) [unsafe]"
    ]


@pytest.mark.slow
@pytest.mark.scenario
def test_removed_apis_run_in_the_baseline_with_their_pytorch_03_meaning(tmp_path):
    """The original fails on today's torch and Python (`retain_variables=`, `TensorDataset`'s keywords,
    `torch.potrf` and kin, `async=`); the baseline runs it as 0.3 did, and the fixes compare identical."""
    folder = copy_case("legacy_removed_apis", tmp_path)
    raw = run_python(["train.py"], folder)
    assert raw.returncode != 0
    assert "SyntaxError" in raw.stderr
    options = VerifyOptions(
        command=(PYTHON, "train.py"),
        cwd=folder,
        unsafe_fixes=True,
        configuration=resolve(None, Overrides(select=["VM401", "VM402", "VM403", "VM405"])),
    )
    result = verify(options)
    assert result.verdict == IDENTICAL, result.message
    assert {rewrite.code for rewrite in result.rewrites} == {"VM401", "VM402", "VM403", "VM405"}
    assert "train.py: the baseline ran with `async=` renamed `non_blocking=`" in result.notes
    # Two backward calls through one graph, five training steps, the solve's loss.
    assert result.comparison.calls == 8


@pytest.mark.slow
@pytest.mark.scenario
def test_receiver_and_rank_evidence_verifies_new_type_and_softmax_fixes_where_they_held(tmp_path):
    """VM303, VM302 and VM414 in one run: each fix is verified where the baseline saw its fact, only there."""
    folder = copy_case("runtime_checks", tmp_path)
    (folder / "expected.py").unlink()  # it has findings of its own (unverified ones)
    options = VerifyOptions(
        command=(PYTHON, "train.py"),
        cwd=folder,
        configuration=resolve(None, Overrides(select=["VM302", "VM303", "VM414"])),
    )
    result = verify(options)
    assert result.verdict == IDENTICAL, result.message
    seen = {e.site.where: e.summary for e in result.evidence}
    assert seen == {
        "train.py:18:12": "input of rank 1 or 2 (4 runs): PyTorch picked dim 0 or 1",
        "train.py:22:1": "receiver was not a tensor in 1 of 1 run",
        "train.py:27:9": "receiver always a CPU tensor (2 runs)",
        "train.py:28:13": "receiver was not a tensor in 2 of 2 runs",
        "train.py:29:14": "receiver always a CPU tensor (2 runs)",
        "train.py:31:13": "input of rank 2 (2 runs): PyTorch picked dim 1",
        "train.py:32:17": "input of rank 3 (2 runs): PyTorch picked dim 0",
    }
    # The module receiver, the `Pool` and the softmax of mixed ranks keep their unverified fixes unapplied.
    assert {(str(r.start), r.code, r.label) for r in result.rewrites} == {
        ("27:9", "VM303", "verified"),
        ("29:14", "VM302", "verified"),
        ("31:13", "VM414", "verified"),
        ("32:17", "VM414", "verified"),
    }
    (entry,) = result.files
    assert entry.fixed == (CASES / "runtime_checks" / "expected.py").read_text(encoding="utf-8")
