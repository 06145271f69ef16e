"""The built wheel: everything the installed tool needs at run time is inside."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_holds_the_package_and_the_recorders_start_up_file(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("varmigrate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "varmigrate/harness/sitecustomize/sitecustomize.py" in names
    # The recorder loads it by path next to itself in the baseline.
    assert "varmigrate/harness/legacy_api.py" in names
    assert "varmigrate/rules/legacy_variable_call.py" in names
    assert not any(name.startswith(("tests/", "fixtures/", "bench/")) for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "varmigrate = varmigrate.cli:script" in zipfile.ZipFile(wheel).read(entry_points).decode()
