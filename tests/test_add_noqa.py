"""`check --add-noqa`: suppress what is left with noqa comments; a second run adds nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from varmigrate.cli import main

HEADER = "import torch\nfrom torch.autograd import Variable\n"


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def add_noqa(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["check", "--add-noqa", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "a = Variable(torch.ones(2))\n",
            "a = Variable(torch.ones(2))  # noqa: VM001\n",
            id="plain-line",
        ),
        pytest.param(
            "a = Variable(torch.ones(2))   \n",
            "a = Variable(torch.ones(2))  # noqa: VM001\n",
            id="trailing-spaces",
        ),
        pytest.param(
            "a = Variable(torch.ones(2))",
            "a = Variable(torch.ones(2))  # noqa: VM001",
            id="no-newline-at-end",
        ),
        pytest.param(
            "b = Variable(a)  # noqa: E501\n",
            "b = Variable(a)  # noqa: E501, VM001\n",
            id="merged-into-other-codes",
        ),
        pytest.param(
            "b = Variable(a)  # NOQA:E501 long line, see #12\n",
            "b = Variable(a)  # NOQA:E501, VM001 long line, see #12\n",
            id="merged-keeping-the-explanation",
        ),
        pytest.param(
            "b = Variable(a)  # the model input\n",
            "b = Variable(a)  # the model input  # noqa: VM001\n",
            id="after-another-comment",
        ),
        pytest.param(
            "x = loss.data[0] + Variable(a).sum()\n",
            "x = loss.data[0] + Variable(a).sum()  # noqa: VM001, VM201\n",
            id="two-codes-one-line",
        ),
        pytest.param(
            "w = Variable(\n    torch.ones(2))\n",
            "w = Variable(  # noqa: VM001\n    torch.ones(2))\n",
            id="multiline-on-first-row",
        ),
        pytest.param(
            'c = Variable(a, name="""one\ntwo""")\n',
            'c = Variable(a, name="""one\ntwo""")  # noqa: VM001\n',
            id="first-row-ends-in-a-string",
        ),
        pytest.param(
            "w = Variable(\n    torch.ones(2))  # noqa: E501\n",
            "w = Variable(\n    torch.ones(2))  # noqa: E501, VM001\n",
            id="existing-directive-on-last-row",
        ),
    ],
)
def test_add_noqa_then_check_passes(
    project: Path, capsys: pytest.CaptureFixture[str], source: str, expected: str
) -> None:
    path = write(project / "a.py", HEADER + source)
    assert main(["check", "a.py"]) == 1
    code, out, err = add_noqa(capsys, "a.py")
    assert (code, out, err) == (0, "Added 1 noqa directive.\n", "")
    assert path.read_text() == HEADER + expected
    assert main(["check", "a.py"]) == 0
    # Idempotent: nothing left to add, the file is not touched.
    assert add_noqa(capsys, "a.py") == (0, "Added 0 noqa directives.\n", "")
    assert path.read_text() == HEADER + expected


def test_add_noqa_keeps_encoding_and_crlf(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = "# -*- coding: latin-1 -*-\r\n# d\xe9j\xe0 vu\r\n" + HEADER.replace("\n", "\r\n")
    source += "a = Variable(torch.ones(2))\r\nb = Variable(a)  # caf\xe9\r\n"
    path = write(project / "a.py", source.encode("latin-1"))
    code, out, _ = add_noqa(capsys, "a.py")
    assert (code, out) == (0, "Added 2 noqa directives.\n")
    assert path.read_bytes() == source.replace(
        "a = Variable(torch.ones(2))\r\n", "a = Variable(torch.ones(2))  # noqa: VM001\r\n"
    ).replace("# caf\xe9\r\n", "# caf\xe9  # noqa: VM001\r\n").encode("latin-1")
    assert main(["check", "a.py"]) == 0


def test_add_noqa_warns_about_a_finding_no_comment_fits(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first finding starts and ends on a line continued by a backslash.
    source = HEADER + "e = Variable(a) + \\\n    Variable(b)\n"
    path = write(project / "a.py", source)
    code, out, err = add_noqa(capsys, "a.py")
    assert (code, out) == (0, "Added 1 noqa directive.\n")
    assert err == (
        "warning: a.py:3:5: cannot add `# noqa: VM001`: "
        "the lines it starts and ends on end inside a string or with a backslash\n"
    )
    assert path.read_text() == HEADER + "e = Variable(a) + \\\n    Variable(b)  # noqa: VM001\n"
    assert main(["check", "a.py"]) == 1


def test_add_noqa_follows_the_rule_selection_and_per_file_ignores(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "pyproject.toml", '[tool.varmigrate.per-file-ignores]\n"tests/*" = ["VM201"]\n')
    source = HEADER + "a = Variable(torch.ones(2))\nx = loss.data[0]\n"
    src = write(project / "src.py", source)
    test = write(project / "tests" / "t.py", source)
    code, out, _ = add_noqa(capsys, "--select", "VM2", ".")
    assert (code, out) == (0, "Added 1 noqa directive.\n")
    assert src.read_text() == source.replace("data[0]\n", "data[0]  # noqa: VM201\n")
    assert test.read_text() == source


def test_add_noqa_leaves_notebooks_alone_with_a_warning(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook = json.dumps(
        {
            "cells": [
                {"cell_type": "code", "metadata": {}, "outputs": [], "source": [HEADER, "x = Variable(a)"]}
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
    path = write(project / "nb.ipynb", notebook)
    code, out, err = add_noqa(capsys, "nb.ipynb")
    assert (code, out) == (0, "Added 0 noqa directives.\n")
    assert err == "warning: nb.ipynb: --add-noqa does not edit notebooks; 1 finding left unsuppressed\n"
    assert path.read_text() == notebook


def test_add_noqa_errors_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project / "old.py", HEADER + "print Variable(x)\n")
    code, _, err = add_noqa(capsys, "old.py")
    assert code == 2
    assert err.startswith("error: old.py:3:1: cannot parse:")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, _, err = add_noqa(capsys, "-")
    assert (code, err) == (2, "error: --add-noqa edits files in place; it cannot read stdin\n")
