"""Benchmark: how fast `varmigrate check` gets through a real tree, against a plain byte scan.

Usage: python bench/scan_speed.py [TREE ...] [--repeat N]

Without a tree it checks the installed `torch` package (2,000+ files, ~46 MB of Python), the worst case
we know: torch's own sources mention `Variable` and `autograd` all over. It reports the stages the
prefilter is built from, so a regression shows where it happened:

- byte scan: read every file and look for a substring (the floor for any tool);
- prefilter: the files that pass `could_match` and reach LibCST;
- check: the whole `varmigrate check` command, in a subprocess, wall and CPU time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from varmigrate.engine import could_match  # noqa: E402
from varmigrate.sources.discovery import SOURCE_SUFFIXES, discover  # noqa: E402


def default_tree() -> Path:
    """The installed torch package, located without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        raise SystemExit("no tree given and torch is not installed: pass a directory to scan")
    return Path(spec.origin).parent


def byte_scan(files: list[Path]) -> tuple[float, int]:
    """Seconds to read every file and search it once, and the bytes read."""
    start = time.perf_counter()
    total = 0
    for file in files:
        data = file.read_bytes()
        total += len(data)
        _ = b"Variable" in data
    return time.perf_counter() - start, total


def prefilter(files: list[Path]) -> tuple[float, list[Path]]:
    """Seconds for the text prefilter, and the files that pass it (those reach LibCST)."""
    start = time.perf_counter()
    passed = []
    for file in files:
        data = file.read_bytes()
        if b"torch" in data and could_match(data.decode("utf-8", "replace")):
            passed.append(file)
    return time.perf_counter() - start, passed


def check(trees: list[Path]) -> tuple[float, float, str]:
    """Wall and CPU seconds of `varmigrate check` over ``trees``, and its summary line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "varmigrate",
            "check",
            *map(str, trees),
            "--exit-zero",
            "--no-respect-gitignore",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = next((line for line in done.stdout.splitlines() if line.startswith(("Found", "All"))), "?")
    return wall, cpu, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=1, help="runs of the check; the best is reported")
    args = parser.parse_args()
    trees: list[Path] = args.trees or [default_tree()]
    files = discover(trees, respect_gitignore=False, suffixes=SOURCE_SUFFIXES).files
    scan_s, size = byte_scan(files)
    filter_s, passed = prefilter(files)
    passed_size = sum(file.stat().st_size for file in passed)
    runs = [check(trees) for _ in range(max(1, args.repeat))]
    wall, cpu, summary = min(runs)
    mb = size / 1e6
    print(f"tree:        {', '.join(map(str, trees))}")
    print(f"files:       {len(files)} ({mb:.1f} MB)")
    print(f"byte scan:   {scan_s:.2f} s ({mb / scan_s:.0f} MB/s)")
    print(f"prefilter:   {filter_s:.2f} s; {len(passed)} files ({passed_size / 1e6:.2f} MB) reach LibCST")
    print(f"check:       {wall:.1f} s wall, {cpu:.1f} s CPU ({mb / wall:.1f} MB/s of tree)")
    print(f"result:      {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
