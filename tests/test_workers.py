"""The worker pool: sized by what reaches LibCST, forked, the same results in the same order as one process;
and a FIFO in the tree never blocks a run. Real files, real `python` processes.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import operator
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from support import clean_env, write

from varmigrate.config import load_configuration
from varmigrate.pipeline import POOL_THRESHOLD_BYTES, Job, pool_size, prepare, workers
from varmigrate.pipeline.workers import WorkerFailure, WorkerPool, _Channel

FIXTURES = Path(__file__).parent.parent / "fixtures"
LEGACY = (
    "import torch\nfrom torch.autograd import Variable\na = Variable(torch.ones((2,2)), requires_grad=True)\n"
)

# Runs the pipeline on the tree in the working directory and prints what it gave, and which processes
# did the work. The fixtures are small, so the threshold is lowered: the pool is what is tested.
SCRIPT = textwrap.dedent(
    """
    import dataclasses, json, os, sys
    from pathlib import Path
    from varmigrate import pipeline
    from varmigrate.config import load_configuration
    from varmigrate.sources.discovery import discover

    pipeline.POOL_THRESHOLD_BYTES["fork"] = 1024
    mode, workers = pipeline.Mode(sys.argv[1]), int(sys.argv[2])
    configuration = load_configuration(isolated=True)
    items = [
        (path, pipeline.Job(configuration.settings_for(path), mode))
        for path in discover([Path(".")]).files
    ]
    with pipeline.processing(items, workers=workers) as batch:
        children = open(f"/proc/self/task/{os.getpid()}/children").read().split()
        results = []
        for result in batch:
            plain = dict(vars(result))
            plain["diagnostics"] = [dataclasses.asdict(d) for d in result.diagnostics]
            plain["errors"] = [error._asdict() for error in result.errors]
            plain["warnings"] = [warning._asdict() for warning in result.warnings]
            plain["lines"] = sorted(([*key, line] for key, line in result.lines.items()), key=str)
            results.append(plain)
    print(json.dumps({"children": children, "results": results}, default=str))
    """
)

# Worker pools and whole runs of the command line: processes, so left out of `make test-fast`.
pytestmark = pytest.mark.slow


def legacy_tree(root: Path, rules: str = "VM*") -> Path:
    """The fixtures' legacy inputs (of ``rules``, and notebooks) under ``root``, as a user's tree."""
    sources = sorted(FIXTURES.glob(f"{rules}/*/input.py")) + sorted(FIXTURES.glob("notebooks/*/input.*"))
    for source in sources:
        target = root / source.parent.relative_to(FIXTURES) / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    shutil.copyfile(FIXTURES / "demo" / "variables_and_gradients.py", root / "demo.py")
    return root


def run_pipeline(tree: Path, mode: str, workers: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(workers)],
        cwd=tree,
        capture_output=True,
        env=clean_env(),
        check=True,
        timeout=600,
    )
    output: dict[str, Any] = json.loads(done.stdout)
    return output


def test_the_pool_gives_one_process_results_in_the_same_order(tmp_path: Path) -> None:
    # The rules on by default whose fixtures are legacy `Variable` code (VM0-VM2), and the notebooks.
    tree = legacy_tree(tmp_path, "VM[0-2]*")
    alone = run_pipeline(tree, "check", 0)
    shared = run_pipeline(tree, "check", 2)
    assert alone["children"] == []
    assert len(shared["children"]) == 2
    assert shared["results"] == alone["results"]
    assert sum(bool(result["diagnostics"]) for result in alone["results"]) > 50


def test_fixing_in_the_pool_writes_what_one_process_writes(tmp_path: Path) -> None:
    # Fixing costs several times what checking does: a part of the fixtures is enough.
    trees = [legacy_tree(tmp_path / "alone", "VM2*"), legacy_tree(tmp_path / "shared", "VM2*")]
    alone, shared = run_pipeline(trees[0], "fix", 0), run_pipeline(trees[1], "fix", 2)
    assert len(shared["children"]) == 2
    assert shared["results"] == alone["results"]
    written = [Path(result["path"]) for result in alone["results"] if result["written"]]
    assert len(written) > 5
    for path in written:
        assert (trees[1] / path).read_bytes() == (trees[0] / path).read_bytes()


# -- sizing ----------------------------------------------------------------------------------------------


def items(paths: list[Path]) -> list[tuple[Path, Job]]:
    configuration = load_configuration(isolated=True)
    return [(path, Job(configuration.settings_for(path))) for path in paths]


def test_files_the_prefilters_settle_never_count(tmp_path: Path) -> None:
    # 2 MB that mention torch, but no rule's words: nothing reaches LibCST, no pool.
    paths = [
        write(tmp_path / f"m{i}.py", "import torch\n" + "x = torch.ones(3)\n" * 12_000) for i in range(8)
    ]
    batch = prepare(items(paths))
    assert (batch.pending, batch.pending_bytes) == (0, 0)
    assert pool_size(batch, 8, "fork") == 0


def test_the_pool_is_sized_by_the_bytes_that_reach_libcst(tmp_path: Path) -> None:
    padding = "# " + "padding " * 12 + "\n"
    size = POOL_THRESHOLD_BYTES["fork"]
    paths = [write(tmp_path / f"m{i}.py", LEGACY + padding * (size // len(padding) + 1)) for i in range(3)]
    paths.append(write(tmp_path / "clean.py", "import torch\n" + padding * 10_000))
    batch = prepare(items(paths))
    assert batch.pending == 3
    assert pool_size(batch, 8, "fork") == 3
    assert pool_size(batch, 2, "fork") == 2
    # One worker whatever the bytes where this process forks: a crash or a hang costs one file only.
    assert pool_size(batch, 1, "fork") == 1
    assert pool_size(batch, 0, "fork") == 0
    # Starting a process that must import LibCST first is worth it only for more work.
    assert pool_size(batch, 8, "spawn") == 0
    assert pool_size(batch, 8, "forkserver") == 0


def test_importing_the_pipeline_and_the_cache_loads_no_pool_libcst_or_rich() -> None:
    program = "import sys, varmigrate.pipeline, varmigrate.cache; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in done.stdout.split()}
    assert not loaded & {"libcst", "rich", "multiprocessing", "concurrent", "torch"}


# -- FIFOs ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_fifo_in_the_tree_never_blocks(tmp_path: Path, jobs: str) -> None:
    write(tmp_path / "a.py", LEGACY)
    os.mkfifo(tmp_path / "b.py")
    write(tmp_path / "c.py", LEGACY)
    for args in ([".", "--jobs", jobs], ["b.py", "c.py"]):
        # Nobody ever writes to the FIFO: a run that opened it to read would wait forever.
        done = subprocess.run(
            [sys.executable, "-m", "varmigrate", "check", "--output-format", "concise", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=120,
            check=False,
        )
        # Skipped with a warning, as special files are; the findings elsewhere decide the exit code.
        assert done.returncode == 1
        assert "warning: b.py: skipped: a FIFO, not a regular file" in done.stderr
        assert "c.py:3:5: VM001" in done.stdout


# -- the pool itself, however its workers start ----------------------------------------------------------


def double_crash_or_hang(kind: str, value: int) -> int:
    """A task for the pool (module-level: spawned workers import it)."""
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "hang":
        time.sleep(60)
    return value * 2


STARTS = [
    pytest.param(None, id="forked", marks=pytest.mark.skipif(sys.platform != "linux", reason="Linux only")),
    pytest.param("forkserver", marks=pytest.mark.skipif(sys.platform == "win32", reason="no fork server")),
    pytest.param("spawn"),
]


@pytest.mark.parametrize("method", STARTS)
def test_a_dead_worker_costs_its_task_alone(method: str | None) -> None:
    context = None if method is None else multiprocessing.get_context(method)
    with WorkerPool(context, 2, double_crash_or_hang) as pool:
        pool.start()
        for key, task in enumerate([("double", 21), ("crash", 0), ("double", 5), ("double", 1 << 70)]):
            pool.submit(key, *task)
        assert pool.result(0) == 42
        assert pool.result(1) == WorkerFailure("the analysis crashed (worker killed by SIGKILL)")
        assert pool.result(2) == 10
        assert pool.result(3) == 1 << 71
        pool.submit(4, "double", -1)  # the dead worker was replaced
        assert pool.result(4) == -2


@pytest.mark.parametrize("method", STARTS)
def test_a_worker_past_the_time_limit_costs_its_task_alone(method: str | None) -> None:
    context = None if method is None else multiprocessing.get_context(method)
    with WorkerPool(context, 1, double_crash_or_hang, timeout=2) as pool:
        pool.submit(0, "double", 1)
        assert pool.result(0) == 2  # the worker is up: its start does not count against the limit
        started = time.monotonic()
        pool.submit(1, "hang", 0)
        pool.submit(2, "double", 3)
        assert pool.result(1) == WorkerFailure("timed out after 2 s (--timeout)")
        assert 2 <= time.monotonic() - started < 30
        assert pool.result(2) == 6


@pytest.mark.parametrize("method", [p for p in STARTS if p.values[0] is not None])
@pytest.mark.parametrize(
    ("start", "answer"),
    [(2, 42), (60, WorkerFailure("timed out after 1 s (--timeout)"))],
    ids=["slow-start", "no-start"],
)
def test_a_workers_start_is_not_its_tasks_time(
    method: str, start: float, answer: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spawned worker loads what its tasks need (LibCST: a second or more on a busy machine) before its
    first task's time starts: a start longer than the limit leaves the task all of it; a start past the
    allowance for it too costs the task alone."""
    monkeypatch.setattr(workers, "START_ALLOWANCE", 3.0)
    context = multiprocessing.get_context(method)
    prepare = functools.partial(time.sleep, start)
    with WorkerPool(context, 1, double_crash_or_hang, timeout=1, prepare=prepare) as pool:
        started = time.monotonic()
        pool.submit(0, "double", 21)
        assert pool.result(0) == answer
        assert 2 <= time.monotonic() - started < 30


def test_a_large_answer_crosses_whole() -> None:
    # More than a pipe holds (64 kB on Linux), both ways.
    context = None if sys.platform == "linux" else multiprocessing.get_context()
    with WorkerPool(context, 1, operator.mul) as pool:
        pool.submit(0, b"x" * 300_000, 7)
        assert pool.result(0) == b"x" * 2_100_000


@pytest.mark.skipif(sys.platform != "linux", reason="the pool forks itself on Linux only")
def test_a_forked_workers_channel_closes_its_pipes_once() -> None:
    channel = _Channel(*os.pipe())
    channel.close()
    reading, writing = os.pipe()  # the lowest free numbers: those just closed
    channel.close()
    try:
        os.write(writing, b"x")
        assert os.read(reading, 1) == b"x"
    finally:
        os.close(reading)
        os.close(writing)
