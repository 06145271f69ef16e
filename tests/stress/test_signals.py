"""Interrupted runs: Ctrl-C and SIGTERM end `fix` with a summary and 130/143, SIGKILL of the main process
takes its workers along, a file is always whole (the original or the fix), and the temporary file a
killed write leaves behind is removed by the next run. Real processes, real signals, real files."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stress_support import command, legacy_tree, processes_in, snapshot, varmigrate
from support import clean_env

pytestmark = [
    pytest.mark.stress,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; workers fork"),
]

COUNT = 240


@pytest.fixture(scope="module")
def fixed_demo(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """What a complete `fix` makes of one tree file."""
    root = tmp_path_factory.mktemp("reference")
    (path,) = legacy_tree(root, 1)
    # The demo keeps one finding that only an unsafe fix removes: exit 1.
    done = varmigrate("fix", "--no-cache", ".", cwd=root)
    assert done.returncode == 1, done.stderr
    return path.read_bytes()


def start_fix(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command("fix", "--no-cache", "--jobs", "2", *args, "."),
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        # A shell without job control starts background commands with SIGINT ignored, and Python then
        # keeps it ignored: the run under test gets the default, as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_writes(paths: list[Path], original: bytes, at_least: int, limit: float = 120) -> None:
    """Wait until at least ``at_least`` of ``paths`` hold something other than ``original``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if sum(path.read_bytes() != original for path in paths) >= at_least:
            return
        time.sleep(0.01)
    raise AssertionError("fix wrote nothing in time")


def assert_whole(root: Path, original: bytes, fixed: bytes) -> int:
    """Every file is the original or the complete fix, no temporary file is left; the number fixed."""
    files = snapshot(root)
    assert all(name.endswith(".py") for name in files), sorted(
        set(files) - {n for n in files if n.endswith(".py")}
    )
    assert all(data in (original, fixed) for data in files.values())
    return sum(data == fixed for data in files.values())


def gone(root: Path, limit: float = 10) -> bool:
    """Whether every process working in ``root`` ends within ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while processes_in(root):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize(
    ("signum", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_signal_ends_fix_with_a_summary_and_its_exit_code(
    tmp_path: Path, fixed_demo: bytes, signum: int, code: int, word: str
) -> None:
    paths = legacy_tree(tmp_path, COUNT)
    original = paths[0].read_bytes()
    process = start_fix(tmp_path)
    wait_for_writes(paths, original, 3)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    written = assert_whole(tmp_path, original, fixed_demo)
    assert 3 <= written < COUNT
    # The summary counts what is on disk: no file was written after it was printed.
    assert err.splitlines()[-1] == f"error: {word}: {written} files written, the rest untouched"
    assert "Traceback" not in err
    assert gone(tmp_path)


def test_workers_end_with_a_killed_main_process(tmp_path: Path, fixed_demo: bytes) -> None:
    # Before, SIGKILL left the workers fixing files and holding stdout open: `fix | tee` never ended.
    paths = legacy_tree(tmp_path, COUNT)
    original = paths[0].read_bytes()
    process = start_fix(tmp_path)
    wait_for_writes(paths, original, 3)
    process.kill()
    assert process.stdout is not None
    started = time.monotonic()
    process.stdout.read()  # returns once every holder of the pipe has gone
    assert time.monotonic() - started < 10
    process.wait(timeout=10)
    assert gone(tmp_path)
    settled = snapshot(tmp_path)
    time.sleep(0.5)
    assert snapshot(tmp_path) == settled


def test_killed_at_random_moments_every_file_stays_whole(tmp_path: Path, fixed_demo: bytes) -> None:
    paths = legacy_tree(tmp_path, COUNT)
    original = paths[0].read_bytes()
    chance = random.Random(12)
    fixed_before = 0
    for attempt in range(6):
        process = start_fix(tmp_path)
        time.sleep(chance.uniform(0.3, 2.5))
        process.send_signal([signal.SIGKILL, signal.SIGINT, signal.SIGTERM][attempt % 3])
        process.communicate(timeout=60)
        assert gone(tmp_path)
        # A SIGKILL may catch a write between its temporary file and the rename: the next run removes
        # such a file once it is old; until then it is the only other file allowed.
        for stale in tmp_path.rglob(".*.varmigrate-*.tmp"):
            os.utime(stale, (time.time() - 3600, time.time() - 3600))
        files = {name: data for name, data in snapshot(tmp_path).items() if name.endswith(".py")}
        assert all(data in (original, fixed_demo) for data in files.values())
        fixed_now = sum(data == fixed_demo for data in files.values())
        assert fixed_now >= fixed_before
        fixed_before = fixed_now
    done = varmigrate("fix", "--no-cache", ".", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert assert_whole(tmp_path, original, fixed_demo) == COUNT


def test_a_temporary_file_left_by_a_killed_write_is_removed(tmp_path: Path) -> None:
    (path,) = legacy_tree(tmp_path, 1)
    old = time.time() - 3600
    stale = path.with_name(f".{path.name}.varmigrate-abcd_123.tmp")
    stale.write_bytes(path.read_bytes()[:100])
    os.utime(stale, (old, old))
    # Young ones may belong to a run going on now; other names are not ours.
    young = path.with_name(f".{path.name}.varmigrate-young123.tmp")
    young.write_bytes(b"x")
    foreign = path.with_name(f".{path.name}.abcd1234.tmp")
    foreign.write_bytes(b"x")
    os.utime(foreign, (old, old))
    checked = varmigrate("check", "--no-cache", ".", cwd=tmp_path)
    assert stale.exists(), "check never writes, nor removes"
    assert checked.returncode == 1
    done = varmigrate("fix", "--no-cache", ".", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert not stale.exists()
    assert young.exists()
    assert foreign.exists()
    relative = stale.relative_to(tmp_path)
    assert f"warning: {relative}: removed: a temporary file left by an interrupted run" in done.stderr
