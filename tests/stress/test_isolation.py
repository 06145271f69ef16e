"""One file never stops the others: a crash in native code, a file past the time limit, nesting deeper
than a parser takes. Each case runs the real command line (or the real pipeline) on a tree that also
holds ordinary legacy files, and compares every byte of the tree afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from stress_support import DEMO, FIXED, LEGACY, snapshot, varmigrate
from support import clean_env, write

pytestmark = [pytest.mark.stress, pytest.mark.slow]

HEADER = "import torch\nfrom torch.autograd import Variable\nx = torch.ones(2)\n"


def ordinary(root: Path) -> None:
    """Two ordinary legacy files beside the hostile one."""
    write(root / "a.py", LEGACY)
    write(root / "z" / "b.py", LEGACY)


def assert_ordinary_fixed(root: Path) -> None:
    assert (root / "a.py").read_text() == FIXED
    assert (root / "z" / "b.py").read_text() == FIXED


def test_nesting_deeper_than_python_takes_is_its_error_not_a_crash(tmp_path: Path) -> None:
    # 2,000 nested brackets overflowed LibCST's native parser: signal 11, no message, nothing fixed.
    ordinary(tmp_path)
    deep = write(tmp_path / "deep.py", HEADER + "y = Variable(" + "(" * 2000 + "x" + ")" * 2000 + ")\n")
    before = deep.read_bytes()
    done = varmigrate("fix", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert done.returncode == 2
    assert "error: deep.py:4:213: cannot parse: too many nested parentheses" in done.stderr
    assert deep.read_bytes() == before
    assert_ordinary_fixed(tmp_path)


def test_a_sum_too_long_for_python_is_located_not_hung(tmp_path: Path) -> None:
    # 16,000 terms took LibCST more than 600 s; Python itself cannot compile 3,000.
    ordinary(tmp_path)
    write(tmp_path / "long.py", HEADER + "y = Variable(" + " + ".join(["x"] * 16_000) + ")\n")
    before = snapshot(tmp_path)
    done = varmigrate("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert "error: long.py:4:1: cannot parse: too deeply nested" in done.stderr
    assert snapshot(tmp_path) == before


def test_a_statement_too_deep_for_libcsts_walks_is_located(tmp_path: Path) -> None:
    # Valid Python, but LibCST's recursive walks overflow: "too deeply nested", without a place, before.
    ordinary(tmp_path)
    source = HEADER + "\n\ny = Variable(" + " + ".join(["x"] * 1000) + ")\n"
    deep = write(tmp_path / "deep.py", source)
    done = varmigrate("fix", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert done.returncode == 2
    assert "error: deep.py:6:1: cannot analyse: too deeply nested" in done.stderr
    assert deep.read_text() == source
    assert_ordinary_fixed(tmp_path)


def test_a_long_but_shallow_sum_is_analysed(tmp_path: Path) -> None:
    # A 1,000-term sum that holds no candidate never reaches LibCST's walks: no error at all.
    source = HEADER + "y = " + " + ".join(["x"] * 1000) + "\nw = Variable(x)\n"
    path = write(tmp_path / "sum.py", source)
    done = varmigrate("fix", "--no-cache", "sum.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert path.read_text() == source.replace("from torch.autograd import Variable\n", "").replace(
        "w = Variable(x)", "w = x.detach()"
    )


def test_a_file_past_the_time_limit_costs_only_itself(tmp_path: Path) -> None:
    # 400 tutorials in one file: about 30 CPU s of analysis. Before, nothing bounded a file.
    ordinary(tmp_path)
    big = write(tmp_path / "big.py", DEMO.read_text() * 400)
    before = big.read_bytes()
    done = varmigrate("fix", "--no-cache", "--timeout", "2", "--output-format", "concise", ".", cwd=tmp_path)
    assert done.returncode == 2
    assert "error: big.py: cannot analyse: timed out after 2 s (--timeout)" in done.stderr
    assert big.read_bytes() == before
    assert_ordinary_fixed(tmp_path)


# A rule that crashes the process it runs in (a real SIGSEGV) on a marked file: what a bug in native
# code does. The pipeline runs in a subprocess, the analysis in its worker processes.
CRASHING_RULE = """
import ctypes
from varmigrate.rules._base import Rule

class Crash(Rule):
    def visit_Name(self, node):
        if node.value == "crash_here":
            ctypes.string_at(0)
"""

PIPELINE = """
import sys
from pathlib import Path
from varmigrate.engine import Settings
from varmigrate.pipeline import Job, Mode, processing
from varmigrate.rules import RuleSpec, select_rules

crash = RuleSpec("VM996", "crashing_rule", "Crash", "test rule", triggers=("Variable",))
settings = Settings(rules=(*select_rules(["VM001"]), crash))
items = [(path, Job(settings, Mode.FIX)) for path in sorted(Path(".").rglob("*.py"))]
with processing(items, workers=int(sys.argv[1])) as batch:
    for result in batch:
        print(result.path, result.written, *[error.message for error in result.errors], sep="|")
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_crash_in_one_file_costs_only_that_file(tmp_path: Path, workers: int) -> None:
    tree = tmp_path / "tree"
    for index in range(6):
        write(tree / f"m{index}.py", LEGACY)
    crashing = write(tree / "m3.py", LEGACY + "crash_here = Variable(w)\n")
    (tmp_path / "crashing_rule.py").write_text(textwrap.dedent(CRASHING_RULE))
    done = subprocess.run(
        [sys.executable, "-c", PIPELINE, str(workers)],
        cwd=tree,
        capture_output=True,
        text=True,
        env=clean_env(PYTHONPATH=str(tmp_path)),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[3] == "m3.py|False|cannot analyse: the analysis crashed (worker killed by SIGSEGV)"
    assert [line for index, line in enumerate(lines) if index != 3] == [
        f"m{index}.py|True" for index in (0, 1, 2, 4, 5)
    ]
    assert crashing.read_text() == LEGACY + "crash_here = Variable(w)\n"
    for index in (0, 1, 2, 4, 5):
        assert (tree / f"m{index}.py").read_text() == FIXED
