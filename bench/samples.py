"""Generated sources for bench/speed.py: a legacy and a clean PyTorch script of about 5 kB each.

``LEGACY`` is written the way training scripts were around PyTorch 0.3 (``Variable`` wrappers,
``volatile=True``, ``loss.data[0]``, ``isinstance(x, Variable)``); varmigrate reports about thirty
findings in it. ``CLEAN`` does the same kind of work with today's idioms and has no finding.
``MODERN`` is ``CLEAN`` with what modern code holds that only looks like an old idiom to the text: a
dataset's own ``self.data[0]``, a padding row written through ``.data[0] =``, and an old ``loss.data[0]``
in a comment; it has no finding either.
``big_module`` builds a large module (~1.4 MB) with a single ``Variable`` call, for the memory row.
``GITIGNORE`` is a .gitignore of the kind a Python project keeps at its root, for the row that checks a
tree as a repository (patterns of build output, caches, environments and editors; none matches a file
of the tree it is put in, so the work is the same as without it).
"""

from __future__ import annotations

LEGACY = '''\
"""Trains a small two-layer classifier on random data, the PyTorch 0.3 way."""

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.autograd import Variable


class TwoLayerNet(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super(TwoLayerNet, self).__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.scale = Variable(torch.ones(1) * 0.5, requires_grad=True)
        self.offset = Variable(torch.zeros(n_out))

    def forward(self, x):
        if not isinstance(x, Variable):
            x = Variable(x)
        h = F.relu(self.fc1(x))
        return self.fc2(h) * self.scale + self.offset


def init_hidden(batch, size, cuda=False):
    h = Variable(torch.zeros(batch, size))
    c = Variable(torch.zeros(batch, size))
    if cuda:
        h, c = h.cuda(), c.cuda()
    return h, c


def make_batch(n, n_in, n_out, cuda=False):
    inputs = torch.randn(n, n_in)
    targets = torch.LongTensor(n).random_(0, n_out)
    if cuda:
        inputs, targets = inputs.cuda(), targets.cuda()
    return Variable(inputs), Variable(targets)


def to_variable(t, grad=False):
    if isinstance(t, Variable):
        return t
    return Variable(t, requires_grad=grad)


def accuracy(output, target):
    pred = output.data.max(1)[1]
    correct = pred.eq(target.data).sum()
    return correct.data[0] / float(target.size(0))


def train_epoch(model, optimizer, args, epoch):
    model.train()
    total_loss = 0.0
    total_acc = 0.0
    for step in range(args.steps):
        data, target = make_batch(args.batch, args.n_in, args.n_out, args.cuda)
        optimizer.zero_grad()
        output = model(data)
        loss = F.cross_entropy(output, target)
        reg = Variable(torch.zeros(1))
        for p in model.parameters():
            reg = reg + p.norm(2)
        loss = loss + args.weight_decay * reg
        loss.backward()
        optimizer.step()
        total_loss += loss.data[0]
        total_acc += accuracy(output, target)
        if step % args.log_every == 0:
            print("epoch %d step %d loss %.4f reg %.4f" % (epoch, step, loss.data[0], reg.data[0]))
    return total_loss / args.steps, total_acc / args.steps


def evaluate(model, args):
    model.eval()
    total = 0.0
    for _ in range(args.eval_steps):
        inputs = torch.randn(args.batch, args.n_in)
        targets = torch.LongTensor(args.batch).random_(0, args.n_out)
        data = Variable(inputs, volatile=True)
        target = Variable(targets, volatile=True)
        output = model(data)
        total += F.cross_entropy(output, target).data[0]
    return total / args.eval_steps


def gradient_check(model, n_in):
    x = Variable(torch.randn(4, n_in), requires_grad=True)
    y = model(x).sum()
    y.backward()
    norm = x.grad.data.norm()
    print("input gradient norm %.4f" % norm)
    return norm


def smooth(values, weight=0.9):
    out = []
    last = Variable(torch.zeros(1), requires_grad=False)
    for v in values:
        last = last * weight + (1 - weight) * Variable(torch.Tensor([v]))
        out.append(last.data[0])
    return out


def interpolate(model, a, b, steps=5):
    a = Variable(a, volatile=True)
    b = Variable(b, volatile=True)
    results = []
    for i in range(steps + 1):
        t = float(i) / steps
        mix = a * (1 - t) + b * t
        results.append(model(mix).data[0])
    return results


def best_of(model, args, tries=3):
    best = Variable(torch.Tensor([float("inf")]))
    for _ in range(tries):
        data, target = make_batch(args.batch, args.n_in, args.n_out)
        out = model(Variable(data.data, volatile=True))
        val = F.cross_entropy(out, target)
        if val.data[0] < best.data[0]:
            best = val
    return best.data[0]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n-in", type=int, default=20)
    parser.add_argument("--n-hidden", type=int, default=64)
    parser.add_argument("--n-out", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--cuda", action="store_true")
    return parser.parse_args()


def main():
    args = parse_args()
    torch.manual_seed(1)
    model = TwoLayerNet(args.n_in, args.n_hidden, args.n_out)
    if args.cuda:
        model.cuda()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    history = []
    for epoch in range(1, args.epochs + 1):
        start = time.time()
        loss, acc = train_epoch(model, optimizer, args, epoch)
        val = evaluate(model, args)
        history.append(loss)
        print("epoch %d: loss %.4f acc %.3f val %.4f (%.1fs)" % (epoch, loss, acc, val, time.time() - start))
    gradient_check(model, args.n_in)
    print("smoothed losses:", smooth(history))


if __name__ == "__main__":
    main()
'''

CLEAN = '''\
"""Trains a small two-layer classifier on random data with current PyTorch idioms."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class Config:
    epochs: int = 3
    steps: int = 20
    eval_steps: int = 5
    batch: int = 32
    n_in: int = 20
    n_hidden: int = 64
    n_out: int = 5
    lr: float = 0.01
    weight_decay: float = 1e-4
    log_every: int = 10
    device: str = "cpu"


class TwoLayerNet(nn.Module):
    def __init__(self, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.scale = nn.Parameter(torch.full((1,), 0.5))
        self.register_buffer("offset", torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc1(x))
        return self.fc2(h) * self.scale + self.offset


def make_batch(cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = torch.randn(cfg.batch, cfg.n_in, device=cfg.device)
    targets = torch.randint(0, cfg.n_out, (cfg.batch,), device=cfg.device)
    return inputs, targets


def accuracy(output: torch.Tensor, target: torch.Tensor) -> float:
    pred = output.argmax(dim=1)
    return (pred == target).float().mean().item()


def train_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, cfg: Config, epoch: int
) -> tuple[float, float]:
    model.train()
    total_loss = 0.0
    total_acc = 0.0
    for step in range(cfg.steps):
        data, target = make_batch(cfg)
        optimizer.zero_grad(set_to_none=True)
        output = model(data)
        loss = F.cross_entropy(output, target)
        reg = sum(p.norm(2) for p in model.parameters())
        loss = loss + cfg.weight_decay * reg
        loss.backward()
        optimizer.step()
        total_loss += loss.item()
        total_acc += accuracy(output.detach(), target)
        if step % cfg.log_every == 0:
            print(f"epoch {epoch} step {step} loss {loss.item():.4f} reg {float(reg):.4f}")
    return total_loss / cfg.steps, total_acc / cfg.steps


@torch.no_grad()
def evaluate(model: nn.Module, cfg: Config) -> float:
    model.eval()
    total = 0.0
    for _ in range(cfg.eval_steps):
        data, target = make_batch(cfg)
        total += F.cross_entropy(model(data), target).item()
    return total / cfg.eval_steps


def gradient_check(model: nn.Module, cfg: Config) -> float:
    x = torch.randn(4, cfg.n_in, device=cfg.device, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None
    norm = x.grad.norm().item()
    print(f"input gradient norm {norm:.4f}")
    return norm


def smooth(values: list[float], weight: float = 0.9) -> list[float]:
    out: list[float] = []
    last = 0.0
    for v in values:
        last = last * weight + (1 - weight) * v
        out.append(last)
    return out


@torch.inference_mode()
def interpolate(model: nn.Module, a: torch.Tensor, b: torch.Tensor, steps: int = 5) -> list[torch.Tensor]:
    results = []
    for i in range(steps + 1):
        t = i / steps
        results.append(model(torch.lerp(a, b, t)))
    return results


def save(model: nn.Module, optimizer: torch.optim.Optimizer, path: str) -> None:
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)


def load(model: nn.Module, optimizer: torch.optim.Optimizer, path: str) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])


def parse_args() -> Config:
    parser = argparse.ArgumentParser(description=__doc__)
    defaults = Config()
    for name, value in vars(defaults).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    return Config(**vars(parser.parse_args()))


def main() -> None:
    cfg = parse_args()
    torch.manual_seed(1)
    model = TwoLayerNet(cfg.n_in, cfg.n_hidden, cfg.n_out).to(cfg.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    history: list[float] = []
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        loss, acc = train_epoch(model, optimizer, cfg, epoch)
        val = evaluate(model, cfg)
        history.append(loss)
        elapsed = time.perf_counter() - start
        print(f"epoch {epoch}: loss {loss:.4f} acc {acc:.3f} val {val:.4f} ({elapsed:.1f}s)")
    gradient_check(model, cfg)
    print("smoothed losses:", smooth(history))


if __name__ == "__main__":
    main()
'''

_WINDOWS = '''

class Windows(torch.utils.data.Dataset):
    """Fixed-length windows over one long series (``self.data``: the series, no tensor's `.data`)."""

    def __init__(self, data: torch.Tensor, size: int) -> None:
        self.data = data
        self.size = size

    def __len__(self) -> int:
        return len(self.data) - self.size

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.data[i : i + self.size]

    def first(self) -> torch.Tensor:
        return self.data[0]


def zero_padding_row(embedding: nn.Embedding) -> None:
    # Written in place, as the old script did after `print(loss.data[0])`.
    with torch.no_grad():
        embedding.weight.data[0] = 0.0

'''
MODERN = CLEAN.replace("\n\ndef parse_args()", _WINDOWS + "\ndef parse_args()", 1)

_BLOCK = '''\


def layer_{i}(x, weight, bias, scale={i}):
    """Block {i}: an affine map, a clamp and a running statistic."""
    hidden = torch.matmul(x, weight) + bias
    hidden = torch.clamp(hidden, min=-scale, max=scale)
    stats = {{"mean": hidden.mean(), "std": hidden.std(), "index": {i}}}
    if stats["std"] > 0:
        hidden = (hidden - stats["mean"]) / stats["std"]
    return hidden, stats
'''


def big_module(size: int = 1_400_000) -> str:
    """A module of about ``size`` bytes: one ``Variable`` call, then plain functions up to that size."""
    parts = [
        '"""Generated for the memory benchmark: one legacy call in a large module."""\n\n'
        "import torch\nfrom torch.autograd import Variable\n\n"
        "SEED = Variable(torch.zeros(3), requires_grad=True)\n"
    ]
    total = len(parts[0])
    i = 0
    while total < size:
        block = _BLOCK.format(i=i)
        parts.append(block)
        total += len(block)
        i += 1
    return "".join(parts)


GITIGNORE = """\
# Python's own
__pycache__/
*.py[cod]
*$py.class
*.so

# Packaging and builds
build/
dist/
wheels/
sdist/
*.egg-info/
*.egg
.eggs/
eggs/
develop-eggs/
parts/
lib/
lib64/
var/
MANIFEST
*.spec
pip-log.txt

# Tests and coverage
.tox/
.nox/
.coverage
.coverage.*
htmlcov/
coverage.xml
*.cover
.pytest_cache/
.hypothesis/
.cache
nosetests.xml

# Type checkers and linters
.mypy_cache/
.dmypy.json
.pyre/
.pytype/
.ruff_cache/

# Environments
.env
.venv
env/
venv/
ENV/
.python-version

# Notebooks and documentation
.ipynb_checkpoints
docs/_build/
site/

# Editors and systems
.idea/
.vscode/
*.swp
*~
.DS_Store
Thumbs.db

# Experiments
runs/
wandb/
checkpoints/
*.ckpt
*.pth
*.log
/data/
/outputs/
"""
