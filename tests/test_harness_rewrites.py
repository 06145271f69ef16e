"""Hand rewrites checked by `varmigrate verify --baseline HEAD`: real torch scripts, real subprocesses.

Each case commits a small training script, overwrites it with a rewrite of it, and expects the verdict
(and, for a divergence, the kind of difference) that the rewrite deserves.
"""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from varmigrate.harness.compare import Divergence
from varmigrate.harness.verify import DIVERGED, IDENTICAL, VerifyOptions, VerifyResult, verify
from varmigrate.output.verify_report import print_result

PYTHON = sys.executable

# Each case runs a training script twice under verify: CI runs them after `make test` (make test-stress).
pytestmark = pytest.mark.mutation


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        check=True,
    )


def verify_rewrite(tmp_path: Path, before: str, *edits: tuple[str, str]) -> VerifyResult:
    """Commit ``before`` as train.py, rewrite it by ``edits`` (old, new), verify the rewrite against HEAD."""
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    script = repo / "train.py"
    script.write_text(before, encoding="utf-8")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-qm", "before")
    after = before
    for old, new in edits:
        assert old in after
        after = after.replace(old, new)
    script.write_text(after, encoding="utf-8")
    return verify(VerifyOptions(command=(PYTHON, "train.py"), cwd=repo, baseline="HEAD"))


def divergence_of(result: VerifyResult) -> Divergence:
    """The first divergence of a verify that must have diverged."""
    assert result.verdict == DIVERGED, result.comparison
    assert result.comparison is not None
    assert result.comparison.divergence is not None
    return result.comparison.divergence


# -- forked children ------------------------------------------------------------------------------------

HOGWILD = """\
import torch
import torch.multiprocessing as mp
import torch.nn as nn


def train(model, seed):
    torch.manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(16, 4)
    for _ in range(3):
        optimizer.zero_grad()
        target = (model(x) * 0.5).detach()
        loss = ((model(x) - target) ** 2).mean()
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    mp.set_start_method("fork")
    model = nn.Linear(4, 1)
    model.share_memory()
    workers = [mp.Process(target=train, args=(model, rank)) for rank in range(2)]
    for worker in workers:
        worker.start()
        worker.join()  # one after the other: Hogwild's races would make the runs differ
    print("done")
"""


@pytest.mark.slow
def test_a_wrong_rewrite_inside_a_forked_worker_diverges(tmp_path):
    result = verify_rewrite(tmp_path, HOGWILD, ("(model(x) * 0.5).detach()", "model(x) * 0.5"))
    divergence = divergence_of(result)
    assert (divergence.kind, divergence.call) == ("gradients", 0)
    assert divergence.baseline_site == "train.py:train:14"
    assert not any("no backward" in note for note in result.notes)


@pytest.mark.slow
def test_forked_workers_of_a_correct_rewrite_are_compared_and_identical(tmp_path):
    result = verify_rewrite(tmp_path, HOGWILD, ("(model(x) * 0.5).detach()", "model(x).detach() * 0.5"))
    assert result.verdict == IDENTICAL, result.comparison
    assert result.comparison.calls == 6  # 3 in each worker
    assert not any("no backward" in note for note in result.notes)


# -- loss values ----------------------------------------------------------------------------------------

# The entropy of the fixed target distribution is a constant term: it changes the loss, not one gradient.
CONSTANT_TERM = """\
import torch
import torch.nn as nn

model = nn.Linear(4, 3)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x, p = torch.randn(8, 4), torch.softmax(torch.randn(8, 3), dim=1)
for step in range(3):
    optimizer.zero_grad()
    log_q = torch.log_softmax(model(x), dim=1)
    loss = (p * (torch.log(p) - log_q)).sum(dim=1).mean()
    loss.backward()
    optimizer.step()
    print(step, loss.item())
"""


@pytest.mark.slow
def test_a_rewrite_that_changes_only_the_loss_value_diverges_on_it(tmp_path):
    result = verify_rewrite(tmp_path, CONSTANT_TERM, ("torch.log(p)", "torch.log(p + 1e-6)"))
    divergence = divergence_of(result)
    assert (divergence.kind, divergence.call) == ("loss value", 0)
    assert divergence.summary == "call 0 (backward at train.py:<module>:11): loss values differ"
    assert [leaf.leaf for leaf in divergence.leaves] == ["loss value 0"]
    assert result.changed == [(10, 10)]  # the lines of train.py changed since HEAD
    with redirect_stdout(io.StringIO()) as out:
        print_result(result)
    assert "  lines changed since HEAD in train.py: 10\n" in out.getvalue()


# -- end state ------------------------------------------------------------------------------------------

BEST_WEIGHTS = """\
import torch

w = torch.randn(3, requires_grad=True)
x, y = torch.randn(16, 3), torch.randn(16)
best = None
for step in range(6):
    loss = ((x @ w - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= 0.05 * w.grad
        w.grad.zero_()
    if step == 2:  # the weights after the warm-up
        best = w.data.clone()
torch.save(best, "best.pt")
print(best)
"""


@pytest.mark.slow
def test_a_snapshot_turned_into_an_alias_diverges_on_the_end_state(tmp_path):
    result = verify_rewrite(tmp_path, BEST_WEIGHTS, ("best = w.data.clone()", "best = w.detach()"))
    divergence = divergence_of(result)
    assert divergence.kind == "end state"
    assert [leaf.leaf for leaf in divergence.leaves] == ["global best", "saved #0 best.pt"]
    assert divergence.leaves[0].detail.startswith("values differ (max abs difference")


MODEL_AND_OPTIMIZER = """\
import copy
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
x, y = torch.randn(32, 4), torch.randn(32, 1)
for step in range(3):
    optimizer.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    if step == 0:
        snapshot = copy.deepcopy(model)
model.eval()
with torch.no_grad():
    print(float(((model(x) - y) ** 2).mean()))
"""


@pytest.mark.slow
def test_module_buffers_and_optimizer_state_are_compared_at_exit(tmp_path):
    # A forward pass after the last backward, outside no_grad, in train mode: the running statistics
    # of BatchNorm move, no gradient does.
    result = verify_rewrite(tmp_path, MODEL_AND_OPTIMIZER, ("model.eval()\n", "model(x)\nmodel.eval()\n"))
    divergence = divergence_of(result)
    assert divergence.kind == "end state"
    assert [leaf.leaf for leaf in divergence.leaves] == [
        "module Sequential#0.1.running_mean",
        "module Sequential#0.1.running_var",
        "module Sequential#0.1.num_batches_tracked",
    ]


# -- no false alarms --------------------------------------------------------------------------------------

# The gradient of `w` holds -0.0 (`1.0 * -0.0`): accumulated onto a zeroed `.grad` it becomes +0.0.
ZEROED_GRAD = """\
import torch

w = torch.ones(3, requires_grad=True)
x = torch.tensor([-0.0, 1.0, 2.0])
for step in range(3):
    loss = (w * x).sum()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
    w.grad.data.zero_()
"""


@pytest.mark.slow
def test_a_gradient_set_to_none_instead_of_zeroed_is_identical_with_a_note(tmp_path):
    result = verify_rewrite(tmp_path, ZEROED_GRAD, ("w.grad.data.zero_()", "w.grad = None"))
    assert result.verdict == IDENTICAL, result.comparison
    assert result.comparison.signed_zeros == 2  # the 2nd and 3rd calls
    assert any("differed only in the sign of zeros" in note for note in result.notes)


AFFINE = """\
import torch
import torch.nn as nn


class Affine(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3))
        self.bias = nn.Parameter(torch.randn(3))

    def forward(self, x):
        h = x @ self.weight
        return h + self.bias.expand_as(h)


model = Affine()
shift = torch.randn(3, requires_grad=True)
optimizer = torch.optim.SGD([*model.parameters(), shift], lr=0.1)
x = torch.randn(8, 4)
for step in range(3):
    optimizer.zero_grad()
    out = model(x)
    loss = ((out + shift.expand_as(out)) ** 2).mean()
    loss.backward()
    optimizer.step()
"""


@pytest.mark.slow
def test_a_rewrite_that_reshapes_the_graph_but_no_gradient_is_identical_with_a_note(tmp_path):
    result = verify_rewrite(
        tmp_path, AFFINE, ("self.bias.expand_as(h)", "self.bias"), ("shift.expand_as(out)", "shift")
    )
    assert result.verdict == IDENTICAL, result.comparison
    assert result.comparison.graphs_changed == 3
    assert any("the autograd graph changed shape at 3 call(s)" in note for note in result.notes)


@pytest.mark.slow
def test_the_exception_that_ends_a_forked_worker_is_reported(tmp_path):
    result = verify_rewrite(
        tmp_path, HOGWILD, ("loss.backward()\n", "loss.backward()\n        loss.backward()\n")
    )
    divergence = divergence_of(result)
    assert (divergence.kind, divergence.call) == ("missing-call", 1)
    assert divergence.detail.startswith(
        "the candidate raised RuntimeError: Trying to backward through the graph a second time"
    )
    assert divergence.detail.endswith(" at train.py:train:15")


# -- a small mutation suite -------------------------------------------------------------------------------

TRAIN = """\
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
teacher = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x, y = torch.randn(16, 4), torch.randn(16, 1)
for step in range(3):
    optimizer.zero_grad()
    target = teacher(x).detach()
    out = model(x)
    loss = F.mse_loss(out, 0.5 * y + 0.5 * target)
    loss.backward()
    optimizer.step()
torch.save(model.state_dict(), "model.pt")
"""

# (id, edits, expected divergence kind)
WRONG = [
    ("dropped-detach", [("teacher(x).detach()", "teacher(x)")], "gradients"),
    ("off-by-one", [("range(3)", "range(2)")], "missing-call"),
    (
        "swapped-rng",
        [("x, y = torch.randn(16, 4), torch.randn(16, 1)", "y, x = torch.randn(16, 1), torch.randn(16, 4)")],
        "gradients",
    ),
    (
        "no-grad-around-the-model",
        [("    out = model(x)", "    with torch.no_grad():\n        out = model(x)")],
        "missing-call",
    ),
    ("learning-rate", [("lr=0.1", "lr=0.01")], "gradients"),
    ("dropped-zero-grad", [("    optimizer.zero_grad()\n", "")], "gradients"),
    ("requires-grad-on-data", [("for step", "x.requires_grad_()\nfor step")], "gradients"),
    ("extra-step-after-the-loop", [("torch.save", "optimizer.step()\ntorch.save")], "end state"),
    ("constant-in-the-loss", [("0.5 * target)", "0.5 * target) + 1e-3")], "loss value"),
]
CORRECT = [
    (
        "no-grad-instead-of-detach",
        [("    target = teacher(x).detach()", "    with torch.no_grad():\n        target = teacher(x)")],
    ),
    ("halving-factored-out", [("0.5 * y + 0.5 * target", "(y + target) * 0.5")]),
    ("unused-loop-variable", [("for step in", "for _ in")]),
    ("functional-backward", [("loss.backward()", "torch.autograd.backward(loss)")]),
    (
        "one-draw-per-line",
        [("x, y = torch.randn(16, 4), torch.randn(16, 1)", "x = torch.randn(16, 4)\ny = torch.randn(16, 1)")],
    ),
    ("module-zero-grad", [("optimizer.zero_grad()", "model.zero_grad()")]),
    # The graph changes shape, no gradient bit does.
    (
        "hand-written-mse",
        [("F.mse_loss(out, 0.5 * y + 0.5 * target)", "((out - (0.5 * y + 0.5 * target)) ** 2).mean()")],
    ),
    ("rescaled-by-powers-of-two", [("loss.backward()", "(1 / 2 * (2 * loss)).backward()")]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("edits", "kind"), [c[1:] for c in WRONG], ids=[c[0] for c in WRONG])
def test_a_wrong_rewrite_diverges_with_its_kind(tmp_path, edits, kind):
    assert divergence_of(verify_rewrite(tmp_path, TRAIN, *edits)).kind == kind


@pytest.mark.slow
@pytest.mark.parametrize("edits", [c[1] for c in CORRECT], ids=[c[0] for c in CORRECT])
def test_a_correct_rewrite_is_identical(tmp_path, edits):
    result = verify_rewrite(tmp_path, TRAIN, *edits)
    assert result.verdict == IDENTICAL, result.comparison


# -- exceptions a test runner catches ---------------------------------------------------------------------

TEST_FILE = """\
import torch


def test_gradient():
    w = torch.ones(3, requires_grad=True)
    (w * 2).sum().backward()
    assert w.grad.tolist() == [2.0, 2.0, 2.0]
"""


@pytest.mark.slow
def test_an_exception_pytest_catches_is_reported(tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "test_grad.py").write_text(TEST_FILE, encoding="utf-8")
    _git(repo, "add", "test_grad.py")
    _git(repo, "commit", "-qm", "before")
    (repo / "test_grad.py").write_text(
        TEST_FILE.replace("[2.0, 2.0, 2.0]", "[3.0, 3.0, 3.0]"), encoding="utf-8"
    )
    command = (PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "test_grad.py")
    divergence = divergence_of(verify(VerifyOptions(command=command, cwd=repo, baseline="HEAD")))
    assert divergence.kind == "exception"
    assert "nothing (baseline) vs test_grad.py::test_gradient (call): AssertionError: " in divergence.summary
    assert divergence.summary.endswith(" at test_grad.py:test_gradient:7 (candidate)")
