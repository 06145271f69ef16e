"""Helpers shared by the tests: files, a clean environment, runs on a pseudo-terminal, the search size."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from hypothesis import settings


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8 bytes (no newline translation), creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without colour or width settings leaking in from outside, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    env.update(extra)
    return env


def run_in_terminal(
    args: list[str], cwd: Path, *, stdout_tty: bool = True, **env: str
) -> tuple[int, bytes, bytes]:
    """Run ``python -m varmigrate args`` with stderr (and stdout, unless not asked) on a pseudo-terminal.

    Returns the exit code, what the terminal got, and stdout when it was a pipe.
    """
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "varmigrate", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower if stdout_tty else subprocess.PIPE,
        stderr=follower,
        env=clean_env(TERM="xterm-256color", COLUMNS="100", **env),
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    piped = process.stdout.read() if process.stdout else b""
    return process.wait(timeout=60), b"".join(chunks), piped


def full_search() -> bool:
    """Whether this run searches in full (Hypothesis profile `full`): tests that sample a large product
    of cases themselves (marker `search`) take their full sample then, a quarter of it otherwise."""
    return settings.get_current_profile_name() == "full"
