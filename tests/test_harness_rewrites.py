"""Verify's mutation suite: hand rewrites checked by `varmigrate verify --baseline HEAD`, with real torch
scripts in real subprocesses.

Each case commits one of a few small training scripts (SCRIPTS), overwrites it with a rewrite, and
expects the verdict that the rewrite deserves: WRONG ones (the mistakes of a careless migration) diverge
with their kind of difference, CORRECT ones are IDENTICAL. Each script's baseline is run once per test
worker (`record_baseline`) and compared with every rewrite of it, so a case costs one recorded run.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from varmigrate.harness.compare import Divergence
from varmigrate.harness.verify import (
    DIVERGED,
    IDENTICAL,
    RecordedBaseline,
    VerifyOptions,
    VerifyResult,
    record_baseline,
    verify,
)
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


def commit_script(folder: Path, source: str) -> Path:
    """A git repository in ``folder`` whose HEAD holds ``source`` as train.py."""
    repo = folder / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text(source, encoding="utf-8")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-qm", "before")
    return repo


def options_for(repo: Path) -> VerifyOptions:
    """`varmigrate verify --baseline HEAD -- python train.py` in ``repo``."""
    return VerifyOptions(command=(PYTHON, "train.py"), cwd=repo, baseline="HEAD")


def rewrite(tmp_path: Path, script: str, baseline: RecordedBaseline, *edits: tuple[str, str]) -> VerifyResult:
    """Commit SCRIPTS[script], rewrite it by ``edits`` (old, new), verify the rewrite against HEAD,
    whose run is ``baseline``."""
    before = SCRIPTS[script]
    repo = commit_script(tmp_path, before)
    after = before
    for old, new in edits:
        assert old in after, old
        after = after.replace(old, new)
    assert after != before
    (repo / "train.py").write_text(after, encoding="utf-8")
    return verify(options_for(repo), baseline=baseline)


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
def test_a_wrong_rewrite_inside_a_forked_worker_diverges(tmp_path, baselines):
    result = run_case(tmp_path, baselines, "hogwild/detach-dropped-in-a-worker")
    divergence = divergence_of(result)
    assert (divergence.kind, divergence.call) == ("gradients", 0)
    assert divergence.baseline_site == "train.py:train:14"
    assert not any("no backward" in note for note in result.notes)


@pytest.mark.slow
def test_forked_workers_of_a_correct_rewrite_are_compared_and_identical(tmp_path, baselines):
    result = run_case(tmp_path, baselines, "hogwild/forked-workers-detach-later")
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
def test_a_rewrite_that_changes_only_the_loss_value_diverges_on_it(tmp_path, baselines):
    result = run_case(tmp_path, baselines, "constant-term/log-of-a-constant-smoothed")
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
def test_a_snapshot_turned_into_an_alias_diverges_on_the_end_state(tmp_path, baselines):
    result = run_case(tmp_path, baselines, "best-weights/snapshot-turned-alias")
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
def test_module_buffers_and_optimizer_state_are_compared_at_exit(tmp_path, baselines):
    # A forward pass after the last backward, outside no_grad, in train mode: the running statistics
    # of BatchNorm move, no gradient does.
    result = run_case(tmp_path, baselines, "model-and-optimizer/forward-after-training")
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
def test_a_gradient_set_to_none_instead_of_zeroed_is_identical_with_a_note(tmp_path, baselines):
    result = run_case(tmp_path, baselines, "zeroed-grad/grad-set-to-none")
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
def test_a_rewrite_that_reshapes_the_graph_but_no_gradient_is_identical_with_a_note(tmp_path, baselines):
    result = run_case(tmp_path, baselines, "affine/bias-without-expand-as")
    assert result.verdict == IDENTICAL, result.comparison
    assert result.comparison.graphs_changed == 3
    assert any("the autograd graph changed shape at 3 call(s)" in note for note in result.notes)


@pytest.mark.slow
def test_the_exception_that_ends_a_forked_worker_is_reported(tmp_path, baselines):
    result = run_case(tmp_path, baselines, "hogwild/backward-twice")
    divergence = divergence_of(result)
    assert (divergence.kind, divergence.call) == ("missing-call", 1)
    assert divergence.detail.startswith(
        "the candidate raised RuntimeError: Trying to backward through the graph a second time"
    )
    assert divergence.detail.endswith(" at train.py:train:15")


# -- the mutation suite -----------------------------------------------------------------------------------

# A small network with momentum SGD, fitted to a mix of labels and a frozen teacher's outputs.
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
print("final loss", float(loss.data))
"""

# The 2017 tutorial's two-layer network, trained by hand: tensors, autograd and a hand-written SGD step.
HAND_SGD = """\
import torch

N, D_in, H, D_out = 16, 8, 12, 2
x = torch.randn(N, D_in)
y = torch.randn(N, D_out)
w1 = torch.randn(D_in, H, requires_grad=True)
w2 = torch.randn(H, D_out, requires_grad=True)
learning_rate = 1e-3
for t in range(4):
    y_pred = x.mm(w1).clamp(min=0).mm(w2)
    loss = (1 / 2) * (y_pred - y).pow(2).sum()
    print(t, loss.item())
    loss.backward()
    w1.data -= learning_rate * w1.grad.data
    w2.data -= learning_rate * w2.grad.data
    w1.grad.data.zero_()
    w2.grad.data.zero_()
"""

# A network whose hidden activation is rounded to quarters, trained through the rounding by a
# straight-through estimator (the old way: the clone's `.data` swapped for the rounded values).
QUANTISED = """\
import torch
import torch.nn as nn
import torch.nn.functional as F


def quantize(x, levels=4):
    out = x.clone()
    out.data = torch.round(x.data * levels) / levels
    return out


class QuantNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        h = torch.tanh(self.fc1(x))
        return self.fc2(quantize(h))


model = QuantNet()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
x, labels = torch.randn(32, 6), torch.randint(0, 3, (32,))
for epoch in range(3):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    optimizer.step()
    print(epoch, loss.item())
"""

# Input saliency of a fixed classifier, one image at a time (no training step between the calls).
SALIENCY = """\
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(10, 6), nn.ReLU(), nn.Linear(6, 3))
images = torch.randn(5, 10)
maps = []
for image in images:
    x = image.clone().unsqueeze(0).requires_grad_()
    score = model(x).max()
    score.backward()
    maps.append(x.grad.abs())
    model.zero_grad()
torch.save(torch.cat(maps), "saliency.pt")
"""

SCRIPTS = {
    "mlp": TRAIN,
    "hand-sgd": HAND_SGD,
    "quantised": QUANTISED,
    "saliency": SALIENCY,
    "hogwild": HOGWILD,
    "best-weights": BEST_WEIGHTS,
    "zeroed-grad": ZEROED_GRAD,
    "affine": AFFINE,
    "constant-term": CONSTANT_TERM,
    "model-and-optimizer": MODEL_AND_OPTIMIZER,
}


@dataclass(frozen=True)
class Case:
    """A rewrite of one of SCRIPTS: (old, new) edits and, for a wrong one, the kind of divergence."""

    id: str
    script: str
    edits: tuple[tuple[str, str], ...]
    kind: str | None = None  # None: a correct rewrite, IDENTICAL
    note: str | None = None  # a note an IDENTICAL verdict must carry
    detailed: bool = False  # checked by a test of its own, which says more than the kind

    @property
    def name(self) -> str:
        return f"{self.script}/{self.id}"


def wrong(id: str, script: str, kind: str, *edits: tuple[str, str], detailed: bool = False) -> Case:
    return Case(id, script, edits, kind, detailed=detailed)


def correct(
    id: str, script: str, *edits: tuple[str, str], note: str | None = None, detailed: bool = False
) -> Case:
    return Case(id, script, edits, note=note, detailed=detailed)


TRAINING_IN_A_CHILD = (
    "for step in range(3):\n"
    "    optimizer.zero_grad()\n"
    "    target = teacher(x).detach()\n"
    "    out = model(x)\n"
    "    loss = F.mse_loss(out, 0.5 * y + 0.5 * target)\n"
    "    loss.backward()\n"
    "    optimizer.step()\n",
    "def train():\n"
    "    for step in range(3):\n"
    "        optimizer.zero_grad()\n"
    "        target = teacher(x).detach()\n"
    "        out = model(x)\n"
    "        loss = F.mse_loss(out, 0.5 * y + 0.5 * target)\n"
    "        loss.backward()\n"
    "        optimizer.step()\n"
    "\n"
    "\n"
    "torch.multiprocessing.set_start_method('fork')\n"
    "worker = torch.multiprocessing.Process(target=train)\n"
    "worker.start()\n"
    "worker.join()\n",
)
NO_GRAD_UPDATE = (
    "    w1.data -= learning_rate * w1.grad.data\n    w2.data -= learning_rate * w2.grad.data\n",
    "    with torch.no_grad():\n"
    "        w1 -= learning_rate * w1.grad\n"
    "        w2 -= learning_rate * w2.grad\n",
)
NEW_LEAF_UPDATE = (
    "    w1.data -= learning_rate * w1.grad.data\n    w2.data -= learning_rate * w2.grad.data\n"
    "    w1.grad.data.zero_()\n    w2.grad.data.zero_()\n",
    "    with torch.no_grad():\n"
    "        w1 = (w1 - learning_rate * w1.grad).requires_grad_()\n"
    "        w2 = (w2 - learning_rate * w2.grad).requires_grad_()\n",
)
# x + (q - x).detach() is q bit for bit here: q is on a grid of quarters within 1/8 of x, so q - x is exact.
MODERN_STE = (
    "    out = x.clone()\n    out.data = torch.round(x.data * levels) / levels\n    return out\n",
    "    return x + (torch.round(x * levels) / levels - x).detach()\n",
)
SALIENCY_LOOP = (
    "for image in images:\n    x = image.clone().unsqueeze(0).requires_grad_()\n",
    "x = images[:1].clone().requires_grad_()\nfor image in images:\n    x.data.copy_(image)\n",
)

WRONG = [
    wrong("dropped-detach", "mlp", "gradients", ("teacher(x).detach()", "teacher(x)")),
    wrong("off-by-one", "mlp", "missing-call", ("range(3)", "range(2)")),
    wrong("one-step-too-many", "mlp", "extra-call", ("range(3)", "range(4)")),
    wrong(
        "swapped-rng",
        "mlp",
        "gradients",
        ("x, y = torch.randn(16, 4), torch.randn(16, 1)", "y, x = torch.randn(16, 1), torch.randn(16, 4)"),
    ),
    wrong(
        "no-grad-around-the-model",
        "mlp",
        "missing-call",
        ("    out = model(x)", "    with torch.no_grad():\n        out = model(x)"),
    ),
    wrong("learning-rate", "mlp", "gradients", ("lr=0.1", "lr=0.01")),
    wrong("dropped-zero-grad", "mlp", "gradients", ("    optimizer.zero_grad()\n", "")),
    wrong("requires-grad-on-data", "mlp", "gradients", ("for step", "x.requires_grad_()\nfor step")),
    wrong("extra-step-after-the-loop", "mlp", "end state", ("torch.save", "optimizer.step()\ntorch.save")),
    wrong("constant-in-the-loss", "mlp", "loss value", ("0.5 * target)", "0.5 * target) + 1e-3")),
    # `loss.data[0]` made `loss[0]`: a 0-dim loss cannot be indexed (after the last call).
    wrong("final-loss-indexed", "mlp", "exception", ("float(loss.data)", "float(loss[0])")),
    wrong(
        "gradient-norm-logged-through-autograd",
        "mlp",
        "extra-call",
        (
            "    loss.backward()\n",
            "    grads = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)\n"
            "    loss.backward()\n",
        ),
    ),
    wrong("momentum-dropped", "mlp", "gradients", ("lr=0.1, momentum=0.9", "lr=0.1")),
    # Forked without share_memory(): the child trains a copy, the parent saves the untrained model.
    wrong("training-moved-into-a-child", "mlp", "process", TRAINING_IN_A_CHILD),
    # The tutorial's hand-written SGD.
    wrong(
        "dropped-data-in-the-update",
        "hand-sgd",
        "missing-call",
        ("w1.data -= learning_rate * w1.grad.data", "w1 -= learning_rate * w1.grad"),
    ),
    wrong(
        "update-outside-no-grad",
        "hand-sgd",
        "missing-call",
        ("    w1.data -= learning_rate * w1.grad.data\n", "    w1 = w1 - learning_rate * w1.grad\n"),
    ),
    wrong("dropped-grad-reset", "hand-sgd", "gradients", ("    w2.grad.data.zero_()\n", "")),
    wrong(
        "float64-weights",
        "hand-sgd",
        "gradients",
        (
            "w2 = torch.randn(H, D_out, requires_grad=True)",
            "w2 = torch.randn(H, D_out, dtype=torch.float64).float().requires_grad_()",
        ),
    ),
    wrong(
        "swapped-weight-draws",
        "hand-sgd",
        "gradients",
        (
            "w1 = torch.randn(D_in, H, requires_grad=True)\nw2 = torch.randn(H, D_out, requires_grad=True)",
            "w2 = torch.randn(H, D_out, requires_grad=True)\nw1 = torch.randn(D_in, H, requires_grad=True)",
        ),
    ),
    wrong(
        "relu-on-the-wrong-layer",
        "hand-sgd",
        "gradients",
        ("x.mm(w1).clamp(min=0).mm(w2)", "x.mm(w1).mm(w2).clamp(min=0)"),
    ),
    wrong("mean-for-sum", "hand-sgd", "gradients", (".pow(2).sum()", ".pow(2).mean()")),
    wrong("off-by-one-start", "hand-sgd", "missing-call", ("range(4)", "range(1, 4)")),
    # torch.from_numpy keeps float64 where torch.FloatTensor made float32: the loss is summed in float64
    # (the gradients, cast back to float32, happen to agree here).
    wrong(
        "targets-in-float64",
        "hand-sgd",
        "loss value",
        ("y = torch.randn(N, D_out)", "y = torch.randn(N, D_out).double()"),
    ),
    # The quantiser.
    wrong(
        "straight-through-dropped",
        "quantised",
        "gradients",
        (
            "    out = x.clone()\n    out.data = torch.round(x.data * levels) / levels\n    return out\n",
            "    return torch.round(x * levels) / levels\n",
        ),
    ),
    wrong(
        "detach-around-the-whole-estimator",
        "quantised",
        "gradients",
        (
            "    out = x.clone()\n    out.data = torch.round(x.data * levels) / levels\n    return out\n",
            "    return (x + (torch.round(x * levels) / levels - x)).detach()\n",
        ),
    ),
    wrong(
        "estimator-without-detach",
        "quantised",
        "gradients",
        (
            "    out = x.clone()\n    out.data = torch.round(x.data * levels) / levels\n    return out\n",
            "    return x + (torch.round(x * levels) / levels - x)\n",
        ),
    ),
    wrong(
        "quantiser-dropped",
        "quantised",
        "gradients",
        (
            "    out = x.clone()\n    out.data = torch.round(x.data * levels) / levels\n    return out\n",
            "    return x.clone()\n",
        ),
    ),
    wrong(
        "no-grad-around-the-first-layer",
        "quantised",
        "gradients",
        (
            "        h = torch.tanh(self.fc1(x))",
            "        with torch.no_grad():\n            h = torch.tanh(self.fc1(x))",
        ),
    ),
    wrong(
        "logits-in-float64",
        "quantised",
        "gradients",
        ("F.cross_entropy(model(x), labels)", "F.cross_entropy(model(x).double(), labels).float()"),
    ),
    # Saliency: a leaf per image.
    wrong("requires-grad-on-a-shared-input", "saliency", "aliasing", SALIENCY_LOOP),
    wrong(
        "first-image-skipped",
        "saliency",
        "missing-call",
        ("for image in images:", "for image in images[1:]:"),
    ),
    wrong(
        "extra-gradient-check",
        "saliency",
        "extra-call",
        (
            "    maps.append(x.grad.abs())\n",
            "    maps.append(x.grad.abs())\n    torch.autograd.grad(model(x).sum(), x)\n",
        ),
    ),
    wrong("zero-grad-dropped", "saliency", "gradients", ("    model.zero_grad()\n", "")),
    # Processes, end state, loss values.
    wrong(
        "detach-dropped-in-a-worker",
        "hogwild",
        "gradients",
        ("(model(x) * 0.5).detach()", "model(x) * 0.5"),
        detailed=True,
    ),
    wrong(
        "worker-run-in-the-parent",
        "hogwild",
        "process",
        ("        worker.start()\n        worker.join()", "        worker.run()"),
    ),
    wrong(
        "snapshot-turned-alias",
        "best-weights",
        "end state",
        ("best = w.data.clone()", "best = w.detach()"),
        detailed=True,
    ),
    wrong(
        "forward-after-training",
        "model-and-optimizer",
        "end state",
        ("model.eval()\n", "model(x)\nmodel.eval()\n"),
        detailed=True,
    ),
    wrong(
        "backward-twice",
        "hogwild",
        "missing-call",
        ("loss.backward()\n", "loss.backward()\n        loss.backward()\n"),
        detailed=True,
    ),
    wrong("snapshot-one-step-late", "best-weights", "end state", ("if step == 2:", "if step == 3:")),
    wrong(
        "log-of-a-constant-smoothed",
        "constant-term",
        "loss value",
        ("torch.log(p)", "torch.log(p + 1e-6)"),
        detailed=True,
    ),
]

CORRECT = [
    correct(
        "no-grad-instead-of-detach",
        "mlp",
        ("    target = teacher(x).detach()", "    with torch.no_grad():\n        target = teacher(x)"),
    ),
    correct("halving-factored-out", "mlp", ("0.5 * y + 0.5 * target", "(y + target) * 0.5")),
    correct("unused-loop-variable", "mlp", ("for step in", "for _ in")),
    correct("functional-backward", "mlp", ("loss.backward()", "torch.autograd.backward(loss)")),
    correct(
        "one-draw-per-line",
        "mlp",
        ("x, y = torch.randn(16, 4), torch.randn(16, 1)", "x = torch.randn(16, 4)\ny = torch.randn(16, 1)"),
    ),
    correct("module-zero-grad", "mlp", ("optimizer.zero_grad()", "model.zero_grad()")),
    correct("set-to-none", "mlp", ("optimizer.zero_grad()", "optimizer.zero_grad(set_to_none=True)")),
    # The graph changes shape, no gradient bit does.
    correct(
        "mse-by-hand",
        "mlp",
        ("F.mse_loss(out, 0.5 * y + 0.5 * target)", "((out - (0.5 * y + 0.5 * target)) ** 2).mean()"),
    ),
    correct("rescaled-by-powers-of-two", "mlp", ("loss.backward()", "(1 / 2 * (2 * loss)).backward()")),
    correct("update-under-no-grad", "hand-sgd", NO_GRAD_UPDATE),
    correct(
        "a-new-leaf-each-step",
        "hand-sgd",
        NEW_LEAF_UPDATE,
        note="6 time(s) the candidate had a new leaf where the baseline reused one",
    ),
    correct(
        "half-as-division",
        "hand-sgd",
        ("(1 / 2) * (y_pred - y).pow(2).sum()", "(y_pred - y).pow(2).sum() / 2"),
    ),
    correct(
        "mse-loss-for-the-hand-sum",
        "hand-sgd",
        (
            "(1 / 2) * (y_pred - y).pow(2).sum()",
            "0.5 * torch.nn.functional.mse_loss(y_pred, y, reduction='sum')",
        ),
    ),
    correct("relu-for-clamp", "hand-sgd", (".clamp(min=0)", ".relu()")),
    correct(
        "grads-set-to-none",
        "hand-sgd",
        ("    w1.grad.data.zero_()\n    w2.grad.data.zero_()\n", "    w1.grad = None\n    w2.grad = None\n"),
    ),
    correct("modern-straight-through", "quantised", MODERN_STE),
    correct(
        "detach-instead-of-data",
        "quantised",
        ("torch.round(x.data * levels) / levels", "torch.round(x.detach() * levels) / levels"),
    ),
    correct("item-for-data", "quantised", ("loss.item()", "loss.detach().item()")),
    correct(
        "cross-entropy-spelled-out",
        "quantised",
        ("F.cross_entropy(model(x), labels)", "F.nll_loss(F.log_softmax(model(x), dim=1), labels)"),
    ),
    correct(
        "no-grad-around-bookkeeping",
        "saliency",
        ("    maps.append(x.grad.abs())\n", "    with torch.no_grad():\n        maps.append(x.grad.abs())\n"),
    ),
    correct(
        "detach-instead-of-clone",
        "saliency",
        (
            "image.clone().unsqueeze(0).requires_grad_()",
            "image.detach().unsqueeze(0).clone().requires_grad_()",
        ),
    ),
    correct(
        "forked-workers-detach-later",
        "hogwild",
        ("(model(x) * 0.5).detach()", "model(x).detach() * 0.5"),
        detailed=True,
    ),
    correct(
        "snapshot-by-detach-clone", "best-weights", ("best = w.data.clone()", "best = w.detach().clone()")
    ),
    correct(
        "grad-set-to-none",
        "zeroed-grad",
        ("w.grad.data.zero_()", "w.grad = None"),
        note="differed only in the sign of zeros",
        detailed=True,
    ),
    correct(
        "bias-without-expand-as",
        "affine",
        ("self.bias.expand_as(h)", "self.bias"),
        ("shift.expand_as(out)", "shift"),
        note="the autograd graph changed shape at 3 call(s)",
        detailed=True,
    ),
]


@pytest.fixture(scope="module")
def baselines(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], RecordedBaseline]:
    """Each script's baseline, run once per test worker and compared with every rewrite of it."""
    recorded: dict[str, RecordedBaseline] = {}

    def baseline(script: str) -> RecordedBaseline:
        if script not in recorded:
            repo = commit_script(tmp_path_factory.mktemp(script), SCRIPTS[script])
            found = record_baseline(options_for(repo))
            assert isinstance(found, RecordedBaseline), found.message
            recorded[script] = found
        return recorded[script]

    return baseline


CASES = {case.name: case for case in WRONG + CORRECT}


def run_case(tmp_path: Path, baselines: Callable[[str], RecordedBaseline], name: str) -> VerifyResult:
    """Verify the rewrite CASES[name]; a wrong one must diverge with its kind, a correct one must not."""
    case = CASES[name]
    result = rewrite(tmp_path, case.script, baselines(case.script), *case.edits)
    if case.kind is not None:
        assert divergence_of(result).kind == case.kind, result.comparison
    else:
        assert result.verdict == IDENTICAL, result.comparison
        if case.note is not None:
            assert any(case.note in note for note in result.notes), result.notes
    return result


@pytest.mark.slow
@pytest.mark.parametrize("name", [c.name for c in WRONG if not c.detailed])
def test_a_wrong_rewrite_diverges_with_its_kind(tmp_path, baselines, name):
    run_case(tmp_path, baselines, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [c.name for c in CORRECT if not c.detailed])
def test_a_correct_rewrite_is_identical(tmp_path, baselines, name):
    run_case(tmp_path, baselines, name)


def test_the_suite_covers_every_kind_of_mistake():
    assert len(WRONG) >= 30
    assert len(CORRECT) >= 20
    kinds = {case.kind for case in WRONG}
    assert kinds >= {
        "gradients",
        "loss value",
        "end state",
        "missing-call",
        "extra-call",
        "aliasing",
        "process",
    }
    assert len(CASES) == len(WRONG) + len(CORRECT)
    assert all(case.script in SCRIPTS for case in CASES.values())


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
