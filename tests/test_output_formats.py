"""Output formats (json-lines, github, sarif), --output-file, --statistics, the progress bar, diff colours."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import run_in_terminal, write

from varmigrate.cli import main
from varmigrate.model import Diagnostic, Location
from varmigrate.output.formats import render_github
from varmigrate.rules import ALL_RULES

LEGACY = (
    "import torch\nfrom torch.autograd import Variable\na = Variable(torch.ones((2,2)), requires_grad=True)\n"
)
# Safe fix: `.detach()`; the unsafe fix drops the wrapper.
DETACH = "import torch\nfrom torch.autograd import Variable\nb = Variable(a)\n"
PY2 = "import torch\nfrom torch.autograd import Variable\nprint Variable(x)\n"
# Columns count code points: the emoji is one column here, two UTF-16 code units.
WIDE = (
    'import torch\nfrom torch.autograd import Variable\nc = ("\U0001f600", Variable(\n    torch.ones(2)))\n'
)
NOTEBOOK = json.dumps(
    {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title"]},
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": [
                    "import torch\n",
                    "from torch.autograd import Variable\n",
                    "x = Variable(torch.ones(2))",
                ],
            },
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    },
    indent=1,
)
ANSI = "\x1b["


# -- json-lines ----------------------------------------------------------------------------------------


def test_json_lines_one_object_per_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    write(project / "b.py", DETACH)
    assert main(["check", "--output-format", "json", "."]) == 1
    as_json = json.loads(capsys.readouterr().out)
    assert main(["check", "--output-format", "json-lines", "."]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert [json.loads(line) for line in lines] == as_json


def test_json_lines_statistics(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY + "x = loss.data[0]\n")
    assert main(["check", "--output-format", "json-lines", "--statistics", "a.py"]) == 1
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"code": "VM001", "count": 1, "fixable": 1, "name": "legacy-variable-call"},
        {"code": "VM201", "count": 1, "fixable": 0, "name": "data-index-zero"},
    ]


# -- github ------------------------------------------------------------------------------------------------


def test_github_workflow_commands(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    write(project / "nb.ipynb", NOTEBOOK)
    assert main(["check", "--output-format", "github", "."]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "::error title=varmigrate (VM001),file=a.py,line=3,col=5,endLine=3,endColumn=52::"
        "VM001 `Variable(...)` is deprecated and detaches its argument",
        # A notebook's rows are its cell's: the annotation is on the file, the message names the cell.
        "::error title=varmigrate (VM001),file=nb.ipynb::"
        "cell 2:3:5: VM001 `Variable(...)` is deprecated and detaches its argument",
    ]


def test_github_annotates_files_that_cannot_be_checked(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "old.py", PY2)
    assert main(["check", "--output-format", "github", "old.py", "missing.py"]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "::error title=varmigrate (error),file=missing.py::no such file or directory",
        "::error title=varmigrate (error),file=old.py,line=3,col=1::"
        "cannot parse: Missing parentheses in call to 'print'. Did you mean print(...)?",
    ]
    assert err.startswith("error: missing.py: no such file or directory\n")


def test_github_escapes_properties_and_message() -> None:
    diagnostic = Diagnostic(
        code="VM001",
        name="legacy-variable-call",
        message="100% sure,\r\nreally: yes",
        start=Location(1, 2),
        end=Location(3, 4),
    )
    assert render_github(diagnostic, "dir,1/a:b%.py") == (
        "::error title=varmigrate (VM001),file=dir%2C1/a%3Ab%25.py,line=1,col=2,endLine=3,endColumn=4::"
        "VM001 100%25 sure,%0D%0Areally: yes"
    )


# -- sarif -----------------------------------------------------------------------------------------------


class SarifChecker:
    """Checks the properties SARIF 2.1.0 requires of each object varmigrate emits, walking from the log.

    From the OASIS SARIF 2.1.0 schema and specification: sarifLog requires `version` ("2.1.0") and
    `runs`; run `tool` (and `results` for a log of an actual scan); tool `driver`; toolComponent
    `name`; reportingDescriptor `id`; multiformatMessageString `text`; message `text` or `id`; result
    `message`; physicalLocation `artifactLocation` or `address`; fix `artifactChanges` (one at least);
    artifactChange `artifactLocation` and `replacements` (one at least); replacement `deletedRegion`;
    invocation `executionSuccessful`; notification `message`. Levels, `columnKind`, 1-based regions and
    `ruleIndex`/`uriBaseId` references are checked too.
    """

    LEVELS = ("none", "note", "warning", "error")

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.rules: list[dict[str, Any]] = []
        self.base_ids: dict[str, Any] = {}

    def require(self, kind: str, obj: Any, *keys: str) -> None:
        self.seen.add(kind)
        assert isinstance(obj, dict), f"{kind} must be an object"
        for key in keys:
            assert key in obj, f"{kind} requires `{key}`: {obj}"
        if "properties" in obj:
            assert isinstance(obj["properties"], dict)

    def log(self, log: Any) -> None:
        self.require("sarifLog", log, "version", "runs")
        assert log["version"] == "2.1.0"
        assert log["$schema"].startswith("https://")
        for run in log["runs"]:
            self.run(run)

    def run(self, run: Any) -> None:
        self.require("run", run, "tool", "results")
        self.base_ids = run.get("originalUriBaseIds", {})
        for location in self.base_ids.values():
            self.artifact_location(location)
            assert location["uri"].startswith("file:///")
            assert location["uri"].endswith("/")
        assert run.get("columnKind", "unicodeCodePoints") in ("utf16CodeUnits", "unicodeCodePoints")
        self.require("tool", run["tool"], "driver")
        driver = run["tool"]["driver"]
        self.require("toolComponent", driver, "name")
        assert driver["informationUri"].startswith("https://")
        self.rules = driver.get("rules", [])
        for rule in self.rules:
            self.require("reportingDescriptor", rule, "id")
            for key in ("shortDescription", "fullDescription", "help"):
                if key in rule:
                    self.require("multiformatMessageString", rule[key], "text")
            assert rule.get("defaultConfiguration", {}).get("level", "warning") in self.LEVELS
        for invocation in run.get("invocations", []):
            self.require("invocation", invocation, "executionSuccessful")
            assert isinstance(invocation["executionSuccessful"], bool)
            for notification in invocation.get("toolExecutionNotifications", []):
                self.require("notification", notification, "message")
                self.message(notification["message"])
                assert notification.get("level", "warning") in self.LEVELS
                for location in notification.get("locations", []):
                    self.location(location)
        for result in run["results"]:
            self.result(result)

    def result(self, result: Any) -> None:
        self.require("result", result, "message")
        self.message(result["message"])
        assert result.get("level", "warning") in self.LEVELS
        if "ruleIndex" in result:
            assert self.rules[result["ruleIndex"]]["id"] == result["ruleId"]
        for location in result.get("locations", []):
            self.location(location)
        fixes = result.get("fixes", [])
        for fix in fixes:
            self.require("fix", fix, "artifactChanges")
            if "description" in fix:
                self.message(fix["description"])
            assert len(fix["artifactChanges"]) >= 1
            for change in fix["artifactChanges"]:
                self.require("artifactChange", change, "artifactLocation", "replacements")
                self.artifact_location(change["artifactLocation"])
                assert len(change["replacements"]) >= 1
                for replacement in change["replacements"]:
                    self.require("replacement", replacement, "deletedRegion")
                    self.region(replacement["deletedRegion"])
                    if "insertedContent" in replacement:
                        self.seen.add("artifactContent")
                        assert isinstance(replacement["insertedContent"]["text"], str)

    def message(self, message: Any) -> None:
        self.require("message", message)
        assert "text" in message or "id" in message, "a message requires `text` or `id`"

    def location(self, location: Any) -> None:
        self.require("location", location)
        if "physicalLocation" in location:
            physical = location["physicalLocation"]
            self.require("physicalLocation", physical)
            assert "artifactLocation" in physical or "address" in physical
            self.artifact_location(physical["artifactLocation"])
            if "region" in physical:
                self.region(physical["region"])

    def artifact_location(self, location: Any) -> None:
        self.require("artifactLocation", location)
        assert isinstance(location.get("uri", ""), str)
        if "uriBaseId" in location:
            assert location["uriBaseId"] in self.base_ids
            assert not location["uri"].startswith("/")

    def region(self, region: Any) -> None:
        self.require("region", region, "startLine")
        for key in ("startLine", "startColumn", "endLine", "endColumn"):
            if key in region:
                assert isinstance(region[key], int)
                assert region[key] >= 1


def sarif_of(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    main(["check", "--output-format", "sarif", *argv])
    log = json.loads(capsys.readouterr().out)
    assert isinstance(log, dict)
    return log


def apply_replacements(text: str, replacements: list[dict[str, Any]]) -> str:
    """``text`` with SARIF replacements applied, regions counted in code points as ``columnKind`` says."""
    starts = [0]
    starts.extend(i + 1 for i, char in enumerate(text) if char == "\n")

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    spans = sorted(
        (
            offset(r["deletedRegion"]["startLine"], r["deletedRegion"]["startColumn"]),
            offset(r["deletedRegion"]["endLine"], r["deletedRegion"]["endColumn"]),
            r.get("insertedContent", {}).get("text", ""),
        )
        for r in replacements
    )
    for start, end, content in reversed(spans):
        text = text[:start] + content + text[end:]
    return text


def test_sarif_has_every_required_property(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    write(project / "a.py", LEGACY)
    write(project / "b.py", DETACH)
    write(project / "sub dir" / "nb.ipynb", NOTEBOOK)
    write(project / "old.py", PY2)
    outside = write(tmp_path_factory.mktemp("elsewhere") / "c.py", WIDE)
    log = sarif_of(capsys, ".", str(outside))
    checker = SarifChecker()
    checker.log(log)
    assert {
        "sarifLog",
        "run",
        "tool",
        "toolComponent",
        "reportingDescriptor",
        "multiformatMessageString",
        "result",
        "message",
        "location",
        "physicalLocation",
        "artifactLocation",
        "region",
        "fix",
        "artifactChange",
        "replacement",
        "artifactContent",
        "invocation",
        "notification",
    } <= checker.seen


def test_sarif_content(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    write(project / "a.py", LEGACY)
    write(project / "b.py", DETACH)
    write(project / "sub dir" / "nb.ipynb", NOTEBOOK)
    write(project / "old.py", PY2)
    outside = write(tmp_path_factory.mktemp("elsewhere") / "c.py", WIDE)
    run = sarif_of(capsys, ".", str(outside))["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], [rule["id"] for rule in driver["rules"]]) == (
        "varmigrate",
        [rule.code for rule in ALL_RULES],
    )
    vm001 = driver["rules"][0]
    assert vm001["name"] == "legacy-variable-call"
    assert vm001["fullDescription"]["text"].startswith("Flags calls of `torch.autograd.Variable(...)`")
    assert "## Fix safety" in vm001["help"]["markdown"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.as_uri() + "/"
    assert run["columnKind"] == "unicodeCodePoints"
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in run["results"]}
    assert sorted(by_uri) == sorted(["a.py", "b.py", "sub%20dir/nb.ipynb", outside.as_uri()])

    a = by_uri["a.py"]
    assert (a["ruleId"], a["ruleIndex"], a["level"]) == ("VM001", 0, "error")
    assert a["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "a.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 52},
    }
    (fix,) = a["fixes"]
    assert fix["description"]["text"] == "Remove the `Variable(...)` wrapper"
    (change,) = fix["artifactChanges"]
    assert apply_replacements(LEGACY, change["replacements"]) == LEGACY.replace(
        "Variable(torch.ones((2,2)), requires_grad=True)", "torch.ones((2,2), requires_grad=True)"
    )
    # Only the fix `varmigrate fix` would apply is offered: b.py's safe `.detach()`.
    assert by_uri["b.py"]["fixes"][0]["description"]["text"] == "Replace with `.detach()`"

    # A finding spanning lines, after a character outside the BMP.
    wide = by_uri[outside.as_uri()]
    assert "uriBaseId" not in wide["locations"][0]["physicalLocation"]["artifactLocation"]
    replacements = wide["fixes"][0]["artifactChanges"][0]["replacements"]
    assert apply_replacements(WIDE, replacements) == WIDE.replace(
        "Variable(\n    torch.ones(2))", "torch.ones(2)"
    )

    notebook = by_uri["sub%20dir/nb.ipynb"]
    assert notebook["properties"] == {
        "cell": 2,
        "cellRegion": {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 28},
    }
    assert "region" not in notebook["locations"][0]["physicalLocation"]
    assert "fixes" not in notebook
    assert notebook["message"]["text"].startswith("cell 2:3:5: ")

    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["message"]["text"].startswith("old.py:3:1: cannot parse:")
    assert notification["locations"][0]["physicalLocation"]["region"] == {"startLine": 3, "startColumn": 1}


def test_sarif_fixes_follow_unsafe_fixes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "b.py", DETACH)
    (result,) = sarif_of(capsys, "--unsafe-fixes", "b.py")["runs"][0]["results"]
    assert result["fixes"][0]["description"]["text"] == "Remove the `Variable(...)` wrapper"
    write(project / "n.py", "import torch\nfrom torch.autograd import Variable\nc = Variable(a, name='c')\n")
    (result,) = sarif_of(capsys, "n.py")["runs"][0]["results"]
    assert "fixes" not in result


def test_sarif_of_a_clean_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", "import torch\n")
    log = sarif_of(capsys, "a.py")
    SarifChecker().log(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True


# -- --output-file --------------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["concise", "full", "json", "sarif"])
def test_output_file_gets_what_stdout_would(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, output_format: str
) -> None:
    write(project / "a.py", LEGACY)
    assert main(["check", "--output-format", output_format, "a.py"]) == 1
    expected = capsys.readouterr().out
    # Colour is never written to a file, even when forced.
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert main(["check", "--output-format", output_format, "-o", "reports/out.txt", "a.py"]) == 1
    assert capsys.readouterr().out == ""
    written = (project / "reports" / "out.txt").read_text()
    assert ANSI not in written
    assert written == expected


def test_output_file_defaults_to_concise(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    assert main(["check", "--output-file", "out.txt", "a.py"]) == 1
    assert (project / "out.txt").read_text().splitlines() == [
        "a.py:3:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument",
        "Found 1 finding in 1 file.",
        "[*] 1 fixable with `varmigrate fix`.",
    ]


def test_output_file_with_fix_from_stdin(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(DETACH.encode())))
    assert main(["fix", "-", "-o", "out.txt", "--output-format", "json"]) == 0
    assert capsys.readouterr().out == "import torch\nb = a.detach()\n"
    assert json.loads((project / "out.txt").read_text()) == []


def test_output_file_that_cannot_be_written_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", LEGACY)
    write(project / "blocker", "")
    assert main(["check", "-o", "blocker/out.txt", "a.py"]) == 2
    assert capsys.readouterr().err.startswith("error: blocker/out.txt: cannot write:")


# -- --statistics -------------------------------------------------------------------------------------------


def test_statistics_count_per_rule_and_fixable(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    named = "c = Variable(a, name='c')\n"
    write(project / "a.py", LEGACY + "b = Variable(a)\n" + named + "x = loss.data[0]\n")
    assert main(["check", "--statistics", "a.py"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "3  VM001  [*] legacy-variable-call (2 fixable)",
        "1  VM201      data-index-zero",
        "Found 4 findings in 1 file.",
        "[*] 2 fixable with `varmigrate fix`.",
        "1 more fixable with `varmigrate fix --unsafe-fixes`.",
    ]
    assert main(["check", "--statistics", "--output-format", "json", "a.py"]) == 1
    assert json.loads(capsys.readouterr().out) == [
        {"code": "VM001", "count": 3, "fixable": 2, "name": "legacy-variable-call"},
        {"code": "VM201", "count": 1, "fixable": 0, "name": "data-index-zero"},
    ]


# -- on a terminal -----------------------------------------------------------------------------------------


# rich's Progress hides the cursor while it runs; nothing else varmigrate prints does.
HIDE_CURSOR = b"\x1b[?25l"


def many_files(root: Path, count: int) -> None:
    for index in range(count):
        write(root / f"m{index:02}.py", LEGACY)


@pytest.mark.slow
def test_progress_bar_on_a_terminal_for_many_files(tmp_path: Path) -> None:
    many_files(tmp_path, 21)
    code, terminal, _ = run_in_terminal(["check", "."], tmp_path)
    assert code == 1
    assert HIDE_CURSOR in terminal
    # Each finding is printed where the bar was erased (ESC [2K), so the bar is redrawn below it.
    assert all(f"\x1b[2K\x1b[1mm{index:02}.py".encode() in terminal for index in range(21))
    assert b"Found 21 findings in 21 files." in terminal


@pytest.mark.slow
def test_no_progress_bar_for_few_files_quiet_or_machine_output_on_the_terminal(tmp_path: Path) -> None:
    many_files(tmp_path, 20)
    code, terminal, _ = run_in_terminal(["check", "."], tmp_path)
    assert (code, HIDE_CURSOR in terminal) == (1, False)
    write(tmp_path / "m20.py", LEGACY)
    code, terminal, _ = run_in_terminal(["check", "--quiet", "."], tmp_path)
    assert (code, HIDE_CURSOR in terminal) == (1, False)
    code, terminal, _ = run_in_terminal(["check", "--output-format", "json-lines", "."], tmp_path)
    assert (code, HIDE_CURSOR in terminal) == (1, False)
    assert len(terminal.splitlines()) == 21


@pytest.mark.slow
def test_progress_bar_leaves_piped_machine_output_alone(tmp_path: Path) -> None:
    many_files(tmp_path, 21)
    code, terminal, piped = run_in_terminal(
        ["check", "--output-format", "json", "."], tmp_path, stdout_tty=False
    )
    assert code == 1
    assert HIDE_CURSOR in terminal
    assert len(json.loads(piped)) == 21


@pytest.mark.slow
def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    many_files(tmp_path, 21)
    done = subprocess.run(
        [sys.executable, "-m", "varmigrate", "check", "--output-format", "json", "."],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=120,
        # Forced colour makes rich take any stream for a terminal; the bar must still stay away.
        env={**os.environ, "FORCE_COLOR": "1"},
    )
    assert (done.returncode, done.stderr) == (1, b"")
    assert len(json.loads(done.stdout)) == 21


@pytest.mark.slow
def test_diff_is_coloured_on_a_terminal_and_plain_otherwise(tmp_path: Path) -> None:
    write(tmp_path / "a.py", LEGACY)
    code, terminal, _ = run_in_terminal(["fix", "--diff", "a.py"], tmp_path)
    assert code == 1
    assert b"\x1b[32m+a = torch.ones((2,2), requires_grad=True)" in terminal
    code, _, piped = run_in_terminal(["fix", "--diff", "a.py"], tmp_path, stdout_tty=False)
    assert code == 1
    assert piped.startswith(b"--- a.py\n+++ a.py\n")
    assert ANSI.encode() not in piped
