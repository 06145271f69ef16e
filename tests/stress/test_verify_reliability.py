"""verify never hangs and never leaves anything behind: FIFOs in the project, a time limit for each
run, and SIGTERM ending the command's processes and removing the temporary trees. Real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import clean_env, write

from varmigrate.harness.verify import IDENTICAL, VerifyOptions, verify

pytestmark = [pytest.mark.slow, pytest.mark.stress]

TRAIN = (
    "import torch\n"
    "from torch.autograd import Variable\n"
    "w = Variable(torch.ones(3), requires_grad=True)\n"
    "(w * 2).sum().backward()\n"
)


def test_a_fifo_in_the_project_is_not_copied(tmp_path: Path) -> None:
    write(tmp_path / "train.py", TRAIN)
    os.mkfifo(tmp_path / "events.pipe")
    result = verify(VerifyOptions(command=(sys.executable, "train.py"), cwd=tmp_path, timeout=300))
    assert result.verdict == IDENTICAL, result.message
    assert "not copied (FIFOs, sockets or devices): events.pipe" in result.notes


def test_a_run_past_its_time_limit_is_ended_and_reported(tmp_path: Path) -> None:
    write(
        tmp_path / "slow.py", "import os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(600)\n"
    )
    started = time.monotonic()
    result = verify(VerifyOptions(command=(sys.executable, "slow.py"), cwd=tmp_path, timeout=2))
    assert time.monotonic() - started < 60
    assert result.exit_code == 2
    assert result.message == "the baseline timed out after 2 s (see --timeout)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_ends_the_command_and_removes_the_copies(tmp_path: Path) -> None:
    project, temporary = tmp_path / "project", tmp_path / "tmp"
    temporary.mkdir()
    # The command and a child of its own, both of which would outlive a careless verify.
    write(
        project / "train.py",
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(tmp_path / 'pids')!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(600)\n",
    )
    verify_process = subprocess.Popen(
        [sys.executable, "-m", "varmigrate", "verify", "train.py"],
        cwd=project,
        env=clean_env(TMPDIR=str(temporary)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pids_file = tmp_path / "pids"
    deadline = time.monotonic() + 120
    while not (pids_file.exists() and pids_file.read_text().count(" ") == 1) and time.monotonic() < deadline:
        time.sleep(0.2)
    pids = [int(pid) for pid in pids_file.read_text().split()]
    verify_process.send_signal(signal.SIGTERM)
    _, err = verify_process.communicate(timeout=60)
    assert verify_process.returncode == 143, err
    assert b"terminated; nothing was written" in err
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)]
    assert list(temporary.iterdir()) == []
