"""What `varmigrate verify` costs next to running the training script itself.

For a short script (about 1.5 s on a quiet machine, mostly torch's import) and a long one (about 30 s),
runs ``python train.py`` and ``varmigrate verify train.py`` (two recorded runs: the copy and the fixed
copy, with the comparison) one after the other, ``--repeat`` times, and prints the best wall and CPU
time of each (CPU: user + system of the process and everything it waited for). Since verify runs the
script twice, its cost is given as a ratio to two plain runs, and its extra CPU time is spread over the
backward calls of the two recorded runs.

Last, what setting deterministic algorithms costs a process, the public way and the recorder's way.

    python bench/recorder_overhead.py [--repeat 3] [--only short,long,determinism] [--short 40]
                                      [--long 80000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# A 2017-tutorial style loop: an MLP trained by hand-written SGD (torch.optim would import
# torch._dynamo, a second or two of its own), one backward call per iteration.
SCRIPT = """\
import sys
import torch

torch.set_num_threads(1)  # a shared machine: one thread keeps the runs comparable
iterations = int(sys.argv[1])
w1 = torch.randn(16, 64, requires_grad=True)
w2 = torch.randn(64, 1, requires_grad=True)
x, y = torch.randn(64, 16), torch.randn(64, 1)
for _ in range(iterations):
    loss = ((torch.tanh(x @ w1) @ w2 - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for w in (w1, w2):
            w -= 0.01 * w.grad
            w.grad = None
print(loss.item())
"""


@dataclass(frozen=True)
class Timing:
    """One command's wall and CPU seconds."""

    wall: float
    cpu: float


def _timed(command: list[str], cwd: Path) -> tuple[Timing, bytes]:
    """Run ``command``; its wall time, the CPU time of it and its waited-for descendants, its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout.decode()}{done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu), done.stdout


def _best(timings: list[Timing]) -> Timing:
    return Timing(min(t.wall for t in timings), min(t.cpu for t in timings))


def measure(folder: Path, iterations: int, repeat: int) -> None:
    """Plain runs and verifies of the script with ``iterations`` backward calls; print the comparison."""
    script = [sys.executable, "train.py", str(iterations)]
    verify = [sys.executable, "-m", "varmigrate", "verify", "--output-format", "json", "--", *script]
    plain, verified = [], []
    for _ in range(repeat):  # interleaved, so changes in the machine's load hit both alike
        plain.append(_timed(script, folder)[0])
        timing, out = _timed(verify, folder)
        report = json.loads(out)
        if report["verdict"] != "identical":
            raise SystemExit(f"verify did not find the runs identical: {report}")
        verified.append(timing)
    p, v = _best(plain), _best(verified)
    per_call = (v.cpu - 2 * p.cpu) / (2 * iterations) * 1e3
    print(f"{iterations} iterations (one backward call each), best of {repeat}:")
    print(f"  plain run        : {p.wall:7.2f} s wall {p.cpu:7.2f} s CPU")
    print(f"  verify (2 runs)  : {v.wall:7.2f} s wall {v.cpu:7.2f} s CPU")
    print(f"  verify / 2 plain : {v.wall / (2 * p.wall):7.2f}x wall {v.cpu / (2 * p.cpu):7.2f}x CPU")
    print(f"  verify's extra CPU per recorded call: {per_call:.3f} ms ((verify - 2 plain) / 2 runs' calls)")


# How a process can ask torch for deterministic algorithms: the public setter also imports
# torch._inductor.config to set its flag; the recorder calls the C setter and sets inductor's flag only
# once the program imports inductor itself.
DETERMINISM = {
    "import torch": "import torch",
    "+ torch.use_deterministic_algorithms": "import torch; torch.use_deterministic_algorithms(True)",
    "+ the recorder's setter": "import torch; torch._C._set_deterministic_algorithms(True, warn_only=True)",
}


def measure_determinism(folder: Path, repeat: int) -> None:
    """What each way of setting deterministic algorithms adds to a process that imports torch."""
    print(f"deterministic algorithms, per process, best of {repeat}:")
    for label, program in DETERMINISM.items():
        best = _best([_timed([sys.executable, "-c", program], folder)[0] for _ in range(repeat)])
        print(f"  {label:37}: {best.wall:6.2f} s wall  {best.cpu:6.2f} s CPU")


def main() -> int:
    """Measure and print verify's cost on the short and the long script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--short", type=int, default=40, help="iterations of the short script")
    parser.add_argument("--long", type=int, default=80000, help="iterations of the long script")
    parser.add_argument(
        "--only", default="short,long,determinism", help="short, long, determinism (comma-separated)"
    )
    options = parser.parse_args()
    workloads = {"short": options.short, "long": options.long, "determinism": 0}
    chosen = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(workloads))
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)} (choose from short, long, determinism)")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"python {sys.version.split()[0]}; cpu count {os.cpu_count()}; load average at start {load}")
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        (folder / "train.py").write_text(SCRIPT, encoding="utf-8")
        for name in chosen:
            if name == "determinism":
                measure_determinism(folder, options.repeat)
            else:
                measure(folder, workloads[name], options.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
