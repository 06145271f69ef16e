"""Do legacy scripts run today once fixed, with the gradients they had? An acceptance run, not a test.

For each ``*.py`` script of a folder (each in a copy of its own, so that it is its own project):

- ``varmigrate verify --unsafe-fixes --extend-select VM3``: the original runs with the baseline's shim
  (PyTorch 0.3's ``.data[0]`` and ``.numpy()[0]``), the fixed copy runs, and their gradients are compared
  bit for bit;
- ``varmigrate fix --unsafe-fixes --extend-select VM3`` on the copy, then the fixed script is run once more
  with every warning shown once per place (``-W default``), to count the deprecation warnings PyTorch still
  emits.

Prints one row per script: whether the original runs (under the shim), whether the fixed one does, the
verdict (``identical``, ``diverged: ...``, or why there is none) and the number of deprecation warnings.

    python bench/legacy_runs.py [FOLDER] [--timeout SECONDS]

FOLDER defaults to fixtures/legacy_runs/.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from varmigrate.config import Configuration
from varmigrate.harness.verify import IDENTICAL, VerifyOptions, VerifyResult, verify
from varmigrate.rules import select_rules

# Every rule, those off by default too (legacy constructors VM3xx, deprecated aliases VM41x): legacy
# scripts use them, and the deprecation warnings they cause are what the last column counts.
SELECT = ("--select", "ALL")
RULES = select_rules([SELECT[1]])

ROOT = Path(__file__).resolve().parent.parent
# `file:line: SomeWarning: message`, as the warnings module prints a warning.
_WARNING = re.compile(r"^.+?:\d+: (?P<category>\w+Warning): (?P<message>.*)$", re.MULTILINE)
_DEPRECATION_CATEGORIES = {"DeprecationWarning", "FutureWarning", "PendingDeprecationWarning"}


@dataclass(frozen=True)
class Row:
    """What one script did."""

    script: str
    original_runs: bool
    fixed_runs: bool
    verdict: str
    deprecations: int


def deprecation_warnings(stderr: str) -> int:
    """The warnings in ``stderr`` that say something is deprecated (by category or by their words)."""
    return sum(
        1
        for match in _WARNING.finditer(stderr)
        if match["category"] in _DEPRECATION_CATEGORIES or "deprecat" in match["message"].lower()
    )


def verdict(result: VerifyResult) -> str:
    """The verdict in a few words: identical, where it diverged, or why there is none."""
    if result.verdict == IDENTICAL:
        return "identical"
    divergence = result.comparison.divergence if result.comparison is not None else None
    if divergence is not None:
        return f"diverged: {divergence.kind} at call {divergence.call}"
    failed = result.failed_run
    if failed is not None and failed.stderr:
        last = failed.stderr_tail(1).strip()
        return f"no verdict: {failed.label} failed ({last[:70]})"
    return f"no verdict: {(result.message or result.verdict)[:80]}"


def run_script(script: Path, timeout: float) -> Row:
    """Verify, fix and run ``script`` in copies of its own."""
    with tempfile.TemporaryDirectory(prefix="legacy-run-") as workspace:
        folder = Path(workspace) / script.stem
        folder.mkdir()
        shutil.copy2(script, folder / script.name)
        command = (sys.executable, script.name)
        configuration = Configuration(root=folder, rules=RULES, unsafe_fixes=True)
        options = VerifyOptions(
            command=command, cwd=folder, unsafe_fixes=True, configuration=configuration, timeout=timeout
        )
        result = verify(options)
        original_runs = bool(result.runs) and result.runs[0].returncode == 0
        fix = [sys.executable, "-m", "varmigrate", "fix", "--unsafe-fixes", "--quiet", *SELECT, script.name]
        subprocess.run(fix, cwd=folder, capture_output=True, check=False, timeout=timeout)
        fixed = subprocess.run(
            [sys.executable, "-W", "default", script.name],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    return Row(
        script=script.name,
        original_runs=original_runs,
        fixed_runs=fixed.returncode == 0,
        verdict=verdict(result),
        deprecations=deprecation_warnings(fixed.stderr),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / "fixtures" / "legacy_runs")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run (default 600)")
    args = parser.parse_args(argv)
    scripts = sorted(args.folder.glob("*.py"))
    if not scripts:
        print(f"error: no .py scripts in {args.folder}", file=sys.stderr)
        return 2
    rows = [run_script(script, args.timeout) for script in scripts]
    width = max(len(row.script) for row in rows)
    print(f"{'script':<{width}}  original  fixed  deprecations  gradients")
    for row in rows:
        original = "runs" if row.original_runs else "fails"
        fixed = "runs" if row.fixed_runs else "fails"
        print(f"{row.script:<{width}}  {original:<8}  {fixed:<5}  {row.deprecations:>12}  {row.verdict}")
    identical = sum(row.verdict == "identical" for row in rows)
    running = sum(row.fixed_runs for row in rows)
    print(f"{running} of {len(rows)} scripts run once fixed; {identical} with identical gradients.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
