"""How much the gradient recorder slows a small training loop down.

Runs the same script with and without the recorder (the recorded run goes through the verify runner,
sitecustomize and all) and compares the loop's own wall time, best of ``--repeat`` runs each, and the
whole process's wall time. Target: the recorded loop takes at most 1.5x the unrecorded one.

    python bench/recorder_overhead.py [--iterations 500] [--repeat 5] [--hidden 32] [--layers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from varmigrate.harness.runner import RunSpec, run

SCRIPT = """\
import sys, time
import torch
import torch.nn as nn

torch.set_num_threads(1)  # a shared 2-core box: one thread keeps the two runs comparable
iterations, hidden, layers = (int(a) for a in sys.argv[1:4])
blocks = [nn.Linear(16, hidden), nn.Tanh()]
for _ in range(layers - 1):
    blocks += [nn.Linear(hidden, hidden), nn.Tanh()]
model = nn.Sequential(*blocks, nn.Linear(hidden, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(64, 16), torch.randn(64, 1)
start = time.perf_counter()
for _ in range(iterations):
    optimizer.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
print(time.perf_counter() - start)
"""


def _plain(folder: Path, args: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "train.py", *args], cwd=folder, capture_output=True, check=True)
    return float(done.stdout), time.perf_counter() - started


def _recorded(folder: Path, args: list[str], index: int) -> tuple[float, float, int]:
    spec = RunSpec(
        label="baseline",
        command=(sys.executable, "train.py", *args),
        tree=folder,
        cwd=Path(),
        output=folder / f"run{index}",
        seed=0,
        original=folder,
    )
    outcome = run(spec)
    if outcome.returncode != 0:
        raise SystemExit(outcome.stderr_tail())
    return float(outcome.stdout), outcome.seconds, outcome.calls


def main() -> int:
    """Measure and print the overhead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2, help="hidden layers (each adds 2 leaves)")
    options = parser.parse_args()
    args = [str(options.iterations), str(options.hidden), str(options.layers)]
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        (folder / "train.py").write_text(SCRIPT)
        plain, recorded = [], []
        calls = 0
        for index in range(options.repeat):  # interleaved, so load changes hit both alike
            plain.append(_plain(folder, args))
            loop, total, calls = _recorded(folder, args, index)
            recorded.append((loop, total))
    leaves = 2 * (options.layers + 1)
    loop_off, loop_on = min(p[0] for p in plain), min(r[0] for r in recorded)
    total_off, total_on = min(p[1] for p in plain), min(r[1] for r in recorded)
    per_call = (loop_on - loop_off) / options.iterations * 1e3
    workload = f"{options.iterations} x (zero_grad, forward, backward, SGD step)"
    print(f"workload: {workload}, MLP with {leaves} leaves")
    print(f"recorded calls per run: {calls}; best of {options.repeat}; cpu count {os.cpu_count()}")
    print(f"loop    : {loop_off:.3f} s unrecorded, {loop_on:.3f} s recorded -> {loop_on / loop_off:.2f}x")
    per_iteration = loop_off / options.iterations * 1e3
    print(f"          ({per_iteration:.3f} ms/iteration, recorder +{per_call:.3f} ms/call)")
    print(f"process : {total_off:.2f} s unrecorded, {total_on:.2f} s recorded -> {total_on / total_off:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
