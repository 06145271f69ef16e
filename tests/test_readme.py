"""The README shows what the tool does: every `varmigrate` command in its console blocks is run, from the
checkout's root (`cd` lines move), and the lines shown must come out, in order (`...` stands for lines left
out). A README that drifts from the tool fails here."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import clean_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parent.parent
BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)


def sessions(text: str) -> list[list[tuple[str, list[str]]]]:
    """Each console block as (command, the lines shown after it) pairs."""
    found = []
    for block in BLOCK.findall(text):
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
        found.append(steps)
    return found


def shown_in_order(shown: list[str], actual: list[str]) -> bool:
    """Whether the ``shown`` lines (``...``: any lines) are ``actual``'s, in order."""
    pattern = "".join(".*?\n" if line == "..." else re.escape(line) + "\n" for line in shown)
    return (
        re.fullmatch(
            ("(?:.*\n)*?" if shown and shown[0] == "..." else "") + pattern + "(?:.*\n)*",
            "".join(f"{line}\n" for line in actual),
            re.DOTALL,
        )
        is not None
    )


def test_the_readme_has_console_examples() -> None:
    commands = [command for steps in sessions((ROOT / "README.md").read_text()) for command, _ in steps]
    assert any(command.startswith("varmigrate check") for command in commands)
    assert any(command.startswith("varmigrate fix --diff") for command in commands)


@pytest.mark.parametrize("index", range(len(sessions((ROOT / "README.md").read_text()))))
def test_every_readme_console_example_gives_what_it_shows(tmp_path: Path, index: int) -> None:
    # A copy of the checkout's fixtures: the examples may fix files.
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures")
    cwd = tmp_path
    for command, shown in sessions((ROOT / "README.md").read_text())[index]:
        words = shlex.split(command, comments=True)
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        assert words[0] == "varmigrate", f"not a varmigrate command: {command}"
        done = subprocess.run(
            [sys.executable, "-m", "varmigrate", *words[1:], "--no-cache"],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=300,
            check=False,
        )
        actual = (done.stdout + done.stderr).splitlines()
        assert shown_in_order(shown, actual), f"$ {command}\n" + "\n".join(actual)
