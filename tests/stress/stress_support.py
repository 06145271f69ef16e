"""What the stress tests share: trees of legacy files, their snapshots, and runs of the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import clean_env

DEMO = Path(__file__).parent.parent.parent / "fixtures" / "demo" / "variables_and_gradients.py"
LEGACY = (
    "import torch\nfrom torch.autograd import Variable\nw = Variable(torch.ones(2), requires_grad=True)\n"
)
FIXED = "import torch\nw = torch.ones(2, requires_grad=True)\n"


def legacy_tree(root: Path, count: int) -> list[Path]:
    """``count`` copies of the demo tutorial (a legacy script) under ``root``, in a few folders."""
    paths = []
    for index in range(count):
        path = root / f"part{index % 7}" / f"script_{index:04}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO, path)
        paths.append(path)
    return paths


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (relative path -> bytes)."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and ".varmigrate_cache" not in path.parts
    }


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "varmigrate", *args]


def varmigrate(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``varmigrate ARGS`` in ``cwd`` to completion."""
    return subprocess.run(
        command(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def processes_in(directory: Path) -> list[int]:
    """The processes (other than this one) whose working directory is ``directory`` (Linux's /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") == str(directory):
                found.append(int(entry))
        except OSError:
            continue
    return found
