"""What `fix --unsafe-fixes --select ALL` leaves of the 0.3 idioms in real legacy trees. A report, not a test.

For each tree (default: the pyro-ppl 0.1.2 and torchtext 0.2.3 sdists that ``bench/speed.py --prepare``
unpacks into bench/data/), in a copy of its own:

- ``varmigrate check --select ALL``: the findings per rule before;
- ``varmigrate fix --unsafe-fixes --select ALL``: the files it rewrites;
- every ``.py`` file CPython parsed before still parses, the rewritten ones included;
- ``varmigrate check --select ALL`` again: the findings per rule left, and how many of those have a fix
  that ``--unsafe-fixes`` would still apply (none should: what is left is left on purpose).

    python bench/legacy_trees.py [TREE ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
TREES = (DATA / "pyro" / "pyro-ppl-0.1.2", DATA / "torchtext" / "torchtext-0.2.3")
OPTIONS = ("--select", "ALL", "--isolated", "--no-cache", "--no-respect-gitignore")


def varmigrate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "varmigrate", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def findings(tree: Path) -> list[dict[str, object]]:
    done = varmigrate("check", *OPTIONS, "--output-format", "json", ".", cwd=tree)
    if done.returncode not in (0, 1):
        raise SystemExit(f"check failed in {tree}: {done.stderr}")
    found: list[dict[str, object]] = json.loads(done.stdout)
    return found


def parses(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def report(source: Path) -> bool:
    """Print what fixing ``source`` gives; whether every file that parsed before parses after."""
    with tempfile.TemporaryDirectory(prefix="legacy-tree-") as workspace:
        tree = Path(workspace) / source.name
        shutil.copytree(source, tree, symlinks=True)
        files = sorted(tree.rglob("*.py"))
        before_bytes = {path: path.read_bytes() for path in files}
        parsed_before = {path for path in files if parses(path)}
        before = findings(tree)
        fixed = varmigrate("fix", "--unsafe-fixes", *OPTIONS, ".", cwd=tree)
        if fixed.returncode not in (0, 1):
            print(f"{source.name}: fix failed: {fixed.stderr.strip()}")
            return False
        rewritten = [path for path in files if path.read_bytes() != before_bytes[path]]
        broken = sorted(path.relative_to(tree) for path in parsed_before if not parses(path))
        after = findings(tree)
    fixable = Counter(
        str(f["code"])
        for f in after
        if isinstance(f["fix"], dict) and f["fix"]["applicability"] != "display-only"
    )
    counts_before, counts_after = (
        Counter(str(f["code"]) for f in before),
        Counter(str(f["code"]) for f in after),
    )
    print(f"## {source.name}: {len(files)} .py files, {len(rewritten)} rewritten")
    still = len(parsed_before) - len(broken)
    print(f"parse with CPython before: {len(parsed_before)}; of those, after the fix: {still}")
    for path in broken:
        print(f"  no longer parses: {path}")
    print("| rule | before | after | of which fixable |")
    print("| --- | ---: | ---: | ---: |")
    for code in sorted(set(counts_before) | set(counts_after)):
        print(f"| {code} | {counts_before[code]} | {counts_after[code]} | {fixable[code]} |")
    print(f"| all | {len(before)} | {len(after)} | {sum(fixable.values())} |")
    print()
    return not broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", type=Path, default=list(TREES))
    args = parser.parse_args(argv)
    missing = [tree for tree in args.trees if not tree.is_dir()]
    if missing:
        print(f"error: not found: {', '.join(map(str, missing))} (bench/speed.py --prepare)", file=sys.stderr)
        return 2
    return 0 if all([report(tree) for tree in args.trees]) else 1


if __name__ == "__main__":
    sys.exit(main())
