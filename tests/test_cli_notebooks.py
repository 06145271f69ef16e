"""Notebooks through the command line: discovery, cell-numbered findings, JSON `cell`, fixing in place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixture_cases import FIXTURES

from varmigrate.cli import main

TUTORIAL = FIXTURES / "notebooks" / "autograd_tutorial"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(TUTORIAL / "input.ipynb", tmp_path / "tutorial.ipynb")
    checkpoints = tmp_path / ".ipynb_checkpoints"
    checkpoints.mkdir()
    shutil.copy(TUTORIAL / "input.ipynb", checkpoints / "tutorial-checkpoint.ipynb")
    (tmp_path / "clean.ipynb").write_text(json.dumps({"cells": [], "nbformat": 4, "nbformat_minor": 5}))
    return tmp_path


def test_check_names_cells_and_skips_checkpoints(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(project), "--output-format", "concise"])
    out, err = capsys.readouterr()
    assert code == 2  # the tutorial has a Python 2 cell: an error, reported with its cell
    assert f"{project / 'tutorial.ipynb'}:cell 5:1:5: VM001 [*]" in out
    assert ".ipynb_checkpoints" not in out + err
    assert f"{project / 'tutorial.ipynb'}:cell 10:1:1: cannot parse:" in err


def test_json_carries_the_cell(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", str(project / "tutorial.ipynb"), "--output-format", "json"])
    records = json.loads(capsys.readouterr().out)
    assert {record["cell"] for record in records} == {5, 11, 12, 15}
    first = records[0]
    assert first["location"] == {"row": 1, "column": 5}
    assert first["fix"]["edits"][0]["content"] == "torch.ones(2, 2, requires_grad=True)"


def test_full_output_shows_the_cell_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", str(project / "tutorial.ipynb"), "--output-format", "full", "--no-color"])
    out = capsys.readouterr().out
    assert "1 | x = Variable(torch.ones(2, 2), requires_grad=True)\n" in out


def test_fix_rewrites_only_source_lines(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notebook = project / "tutorial.ipynb"
    assert main(["fix", str(project)]) == 2  # fixed, but the Python 2 cell is still an error
    assert notebook.read_bytes() == (TUTORIAL / "expected.ipynb").read_bytes()
    checkpoint = project / ".ipynb_checkpoints" / "tutorial-checkpoint.ipynb"
    assert checkpoint.read_bytes() == (TUTORIAL / "input.ipynb").read_bytes()
    assert "Fixed 5 findings (0 remaining)." in capsys.readouterr().out


def test_diff_of_a_notebook_writes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notebook = project / "tutorial.ipynb"
    before = notebook.read_bytes()
    main(["fix", "--diff", str(notebook)])
    out = capsys.readouterr().out
    assert '-    "x = Variable(torch.ones(2, 2), requires_grad=True)\\n",' in out
    assert '+    "x = torch.ones(2, 2, requires_grad=True)\\n",' in out
    assert notebook.read_bytes() == before


def test_unreadable_notebook_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [ "import torch" ')
    assert main(["check", str(broken)]) == 2
    assert str(broken) in capsys.readouterr().err
