"""The command line, called in-process: `main([...])` on real files."""

from __future__ import annotations

import gc
import io
import json
import os
from pathlib import Path

import pytest
from support import write

from varmigrate import __version__
from varmigrate.cli import main
from varmigrate.rules import ALL_RULES

LEGACY = (
    "import torch\nfrom torch.autograd import Variable\na = Variable(torch.ones((2,2)), requires_grad=True)\n"
)
FIXED = "import torch\na = torch.ones((2,2), requires_grad=True)\n"
FIXED_CALL = "torch.ones((2,2), requires_grad=True)"
# A finding whose safe fix is `.detach()` and whose unsafe fix drops the wrapper.
DETACH = "import torch\nfrom torch.autograd import Variable\nb = Variable(a)\n"
# A finding with no fix.
NAMED = "import torch\nfrom torch.autograd import Variable\nc = Variable(a, name='c')\n"
# A display-only fix: shown, never applied.
DISPLAY = "import torch\nd = x.volatile\n"
PY2 = "import torch\nfrom torch.autograd import Variable\nprint Variable(x)\n"
CLEAN = "import torch\nx = torch.ones(2)\n"
ANSI = "\x1b["


def set_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


def old_mtime(path: Path) -> int:
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return path.stat().st_mtime_ns


# -- check ---------------------------------------------------------------------------------------------


def test_check_lists_findings_and_exits_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    assert main(["check", "a.py"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "a.py:3:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument",
        "Found 1 finding in 1 file.",
        "[*] 1 fixable with `varmigrate fix`.",
    ]


def test_check_clean_exits_0(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", CLEAN)
    assert main(["check", "a.py"]) == 0
    assert capsys.readouterr().out == "All checks passed!\n"


def test_check_defaults_to_the_working_directory(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "pkg" / "a.py", LEGACY)
    write(project / "pkg" / "b.py", NAMED)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "pkg/a.py:3:5: VM001 [*]" in out
    assert "pkg/b.py:3:5: VM001 `Variable(...)`" in out
    assert "Found 2 findings in 2 files." in out


def test_check_full_format(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", DETACH)
    assert main(["check", "--output-format", "full", "a.py"]) == 1
    assert capsys.readouterr().out.splitlines()[:7] == [
        "a.py:3:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument",
        "  |",
        "3 | b = Variable(a)",
        "  |     ^^^^^^^^^^^ VM001",
        "  |",
        "  = help: Replace with `.detach()`",
        "  = help: Remove the `Variable(...)` wrapper (unsafe)",
    ]


def test_check_full_format_marks_display_only_fixes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", DISPLAY)
    assert main(["check", "--output-format", "full", "a.py"]) == 1
    out = capsys.readouterr().out
    assert "a.py:2:5: VM002 `.volatile` is always False" in out
    assert "= help: Replace with `False` (display only)" in out
    assert "fixable" not in out


def test_check_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    write(project / "b.py", NAMED)
    assert main(["check", "--output-format", "json", "a.py", "b.py"]) == 1
    first, second = json.loads(capsys.readouterr().out)
    assert set(first) == {
        "cell",
        "code",
        "message",
        "filename",
        "location",
        "end_location",
        "fix",
        "noqa_row",
        "url",
    }
    assert (first["filename"], first["code"], first["location"], first["end_location"]) == (
        "a.py",
        "VM001",
        {"row": 3, "column": 5},
        {"row": 3, "column": 52},
    )
    assert first["fix"] == {
        "applicability": "safe",
        "message": "Remove the `Variable(...)` wrapper",
        "edits": [
            {
                "content": "torch.ones((2,2), requires_grad=True)",
                "location": {"row": 3, "column": 5},
                "end_location": {"row": 3, "column": 52},
            }
        ],
    }
    assert (second["filename"], second["fix"], second["noqa_row"]) == ("b.py", None, 3)
    # Never null: where the rule's documentation is published (`varmigrate rule --all`, docs/rules.md).
    assert (
        second["url"]
        == "https://github.com/varmigrate/varmigrate/blob/main/docs/rules.md#legacy-variable-call-vm001"
    )


def test_check_json_fix_follows_unsafe_fixes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", DETACH)
    main(["check", "--output-format", "json", "a.py"])
    assert json.loads(capsys.readouterr().out)[0]["fix"]["applicability"] == "safe"
    main(["check", "--output-format", "json", "--unsafe-fixes", "a.py"])
    assert json.loads(capsys.readouterr().out)[0]["fix"]["applicability"] == "unsafe"


def test_check_statistics(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY + "b = Variable(a)\n")
    assert main(["check", "--statistics", "a.py"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2  VM001  [*] legacy-variable-call"
    assert "Found 2 findings in 1 file." in out


def test_noqa_silences_a_finding_in_check_and_fix(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = LEGACY.replace("requires_grad=True)\n", "requires_grad=True)  # noqa: VM001\n")
    path = write(project / "a.py", source)
    assert main(["check", "a.py"]) == 0
    assert main(["fix", "a.py"]) == 0
    assert path.read_text() == source


# -- fix -----------------------------------------------------------------------------------------------


def test_fix_rewrites_and_reports(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project / "a.py", LEGACY)
    assert main(["fix", "a.py"]) == 0
    assert path.read_text() == FIXED
    assert capsys.readouterr().out == "Fixed 1 finding (0 remaining).\n"


def test_fix_reports_what_remains_and_exits_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project / "a.py", LEGACY + "c = Variable(a, name='c')\n")
    assert main(["fix", "a.py"]) == 1
    assert path.read_text() == LEGACY.replace(
        "Variable(torch.ones((2,2)), requires_grad=True)", FIXED_CALL
    ) + ("c = Variable(a, name='c')\n")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("a.py:4:5: VM001 `Variable(...)` is deprecated")
    assert out[-1] == "Fixed 1 finding (1 remaining)."


def test_fix_applies_unsafe_fixes_only_when_asked(project: Path) -> None:
    path = write(project / "a.py", DETACH)
    main(["fix", "a.py"])
    assert path.read_text().endswith("b = a.detach()\n")
    path.write_text(DETACH)
    main(["fix", "--unsafe-fixes", "a.py"])
    assert path.read_text().endswith("b = a\n")


def test_fix_leaves_unchanged_files_untouched(project: Path) -> None:
    clean = write(project / "clean.py", CLEAN)
    named = write(project / "named.py", NAMED)
    legacy = write(project / "legacy.py", LEGACY)
    stamps = {path: old_mtime(path) for path in (clean, named, legacy)}
    assert main(["fix", "."]) == 1
    assert clean.stat().st_mtime_ns == stamps[clean]
    assert named.stat().st_mtime_ns == stamps[named]
    assert legacy.stat().st_mtime_ns != stamps[legacy]


def test_fix_diff_prints_a_diff_and_writes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project / "a.py", LEGACY)
    stamp = old_mtime(path)
    assert main(["fix", "--diff", "a.py"]) == 1
    assert path.read_text() == LEGACY
    assert path.stat().st_mtime_ns == stamp
    captured = capsys.readouterr()
    assert captured.out == (
        "--- a.py\n+++ a.py\n@@ -1,3 +1,2 @@\n import torch\n-from torch.autograd import Variable\n"
        "-a = Variable(torch.ones((2,2)), requires_grad=True)\n+a = torch.ones((2,2), requires_grad=True)\n"
    )
    assert captured.err == "Would fix 1 finding in 1 file (0 remaining).\n"


def test_fix_diff_without_changes_exits_0(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", NAMED)
    assert main(["fix", "--diff", "a.py"]) == 0
    assert capsys.readouterr().out == ""


def test_fix_diff_keeps_crlf(project: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    write(project / "a.py", LEGACY.replace("\n", "\r\n"))
    main(["fix", "--diff", "a.py"])
    assert b"+a = torch.ones((2,2), requires_grad=True)\r\n" in capsysbinary.readouterr().out


# -- errors and exit codes -------------------------------------------------------------------------------


def test_an_error_in_one_file_does_not_stop_the_others(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write(project / "a_py2.py", PY2)
    legacy = write(project / "b.py", LEGACY)
    assert main(["fix", "."]) == 2
    assert broken.read_text() == PY2
    assert legacy.read_text() == FIXED
    captured = capsys.readouterr()
    assert captured.err.startswith(
        "error: a_py2.py:3:1: cannot parse: Missing parentheses in call to 'print'"
    )
    assert "Fixed 1 finding (0 remaining)." in captured.out


def test_check_parse_error_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        project / "a.py",
        "import torch\nfrom torch.autograd import Variable\ndef f(t, async=True):\n    return Variable(t)\n",
    )
    assert main(["check", "a.py"]) == 2
    assert capsys.readouterr().err == "error: a.py:3:10: cannot parse: invalid syntax\n"


def test_a_noqad_async_keyword_leaves_the_file_as_it_is(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = (
        "import torch\nfrom torch.autograd import Variable\n"
        "x = t.cuda(async=True)  # noqa: VM405\nv = Variable(x)\nloss.backward(retain_variables=True)\n"
    )
    write(project / "a.py", source)
    assert main(["check", "a.py"]) == 2
    assert main(["fix", "a.py"]) == 2
    assert (project / "a.py").read_text() == source
    err = capsys.readouterr().err
    assert (
        err.count("error: a.py:3:12: cannot parse: invalid syntax: `# noqa` keeps this `async=` keyword") == 2
    )


def test_exit_zero_ignores_findings_but_not_errors(project: Path) -> None:
    write(project / "a.py", LEGACY)
    assert main(["check", "--exit-zero", "a.py"]) == 0
    write(project / "b.py", PY2)
    assert main(["check", "--exit-zero", "a.py", "b.py"]) == 2


def test_missing_path_exits_2_and_others_are_checked(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", LEGACY)
    assert main(["check", "nope.py", "a.py"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "error: nope.py: no such file or directory\n"
    assert "a.py:3:5: VM001" in captured.out


def test_undecodable_file_exits_2_naming_it(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "a.py").write_bytes(LEGACY.encode() + b"s = '\xff'\n")
    assert main(["check", "a.py"]) == 2
    assert capsys.readouterr().err.startswith("error: a.py:4:6: cannot decode")


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        pytest.param(["--ignore", "VM001"], 0, id="ignore-code"),
        pytest.param(["--ignore", "legacy-variable-call"], 0, id="ignore-name"),
        pytest.param(["--select", "VM0"], 1, id="select-prefix"),
        pytest.param(["--select", "legacy-variable-call"], 1, id="select-name"),
        pytest.param(["--select", "VM001,VM0", "--ignore", "VM00"], 0, id="select-then-ignore"),
        pytest.param(["--select", "ALL"], 1, id="select-all"),
    ],
)
def test_select_and_ignore(project: Path, argv: list[str], code: int) -> None:
    write(project / "a.py", LEGACY)
    assert main(["check", *argv, "a.py"]) == code


def test_unknown_selector_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    assert main(["check", "--select", "VM001,VM999", "a.py"]) == 2
    assert capsys.readouterr().err == "error: unknown rule selector: 'VM999'\n"


def test_bad_arguments_exit_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--output-format", "xml"]) == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err
    assert main(["check", "--no-such-flag"]) == 2
    assert main([]) == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"varmigrate {__version__}\n"


# -- quiet and colour ------------------------------------------------------------------------------------


def test_quiet_prints_nothing_on_success(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", CLEAN)
    assert main(["check", "-q", "a.py"]) == 0
    assert capsys.readouterr().out == ""
    write(project / "b.py", LEGACY)
    assert main(["fix", "--quiet", "b.py"]) == 0
    assert capsys.readouterr().out == ""


def test_quiet_prints_only_findings(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    assert main(["check", "--quiet", "a.py"]) == 1
    assert (
        capsys.readouterr().out
        == "a.py:3:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument\n"
    )


def test_colour_when_forced(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    write(project / "a.py", LEGACY)
    main(["check", "a.py"])
    colored = capsys.readouterr().out
    assert ANSI in colored
    # A forced terminal gets the full format by default.
    assert "^^^^" in colored
    assert "help" in colored


def test_no_color_flag(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    write(project / "a.py", LEGACY)
    main(["check", "--no-color", "a.py"])
    out = capsys.readouterr().out
    assert ANSI not in out
    assert "a.py:3:5: VM001 [*]" in out


def test_no_color_environment(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    write(project / "a.py", PY2)
    main(["check", "a.py"])
    captured = capsys.readouterr()
    assert ANSI not in captured.out + captured.err
    assert captured.err.startswith("error: a.py:3:1")


# -- discovery through the CLI -----------------------------------------------------------------------------


def test_default_excludes_and_explicit_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / ".venv" / "lib" / "old.py", LEGACY)
    write(project / "build" / "old.py", LEGACY)
    assert main(["check", "."]) == 0
    assert main(["check", ".venv/lib/old.py"]) == 1
    assert main(["check", "--force-exclude", ".venv/lib/old.py"]) == 0


def test_gitignore_and_exclude(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / ".gitignore", "generated/\n")
    write(project / "generated" / "old.py", LEGACY)
    write(project / "vendor" / "old.py", LEGACY)
    write(project / "vendor" / "sub" / "more.py", LEGACY)
    assert main(["check", "--exclude", "vendor/", "."]) == 0
    assert main(["check", "--exclude", "vendor/old.py", "--exclude", "x.py,y.py", "."]) == 1
    assert "vendor/sub/more.py" in capsys.readouterr().out
    assert main(["check", "--exclude", "old.py,more.py", "vendor/old.py"]) == 1
    assert main(["check", "--exclude", "old.py", "--force-exclude", "vendor/old.py"]) == 0


# -- stdin ---------------------------------------------------------------------------------------------


def test_check_stdin(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_stdin(monkeypatch, LEGACY.encode())
    assert main(["check", "-"]) == 1
    assert capsys.readouterr().out.startswith("-:3:5: VM001 [*]")
    set_stdin(monkeypatch, LEGACY.encode())
    assert main(["check", "--stdin-filename", "models/net.py", "-"]) == 1
    assert capsys.readouterr().out.startswith("models/net.py:3:5: VM001 [*]")
    # A stdin filename without paths reads stdin too.
    set_stdin(monkeypatch, LEGACY.encode())
    assert main(["check", "--stdin-filename", "net.py"]) == 1
    assert capsys.readouterr().out.startswith("net.py:3:5: VM001 [*]")


def test_fix_stdin_writes_the_code_to_stdout(
    project: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_stdin(monkeypatch, LEGACY.replace("\n", "\r\n").encode())
    assert main(["fix", "-"]) == 0
    captured = capsysbinary.readouterr()
    assert captured.out == FIXED.replace("\n", "\r\n").encode()
    assert captured.err == b"Fixed 1 finding (0 remaining).\n"


def test_fix_stdin_echoes_code_it_cannot_parse(
    project: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_stdin(monkeypatch, PY2.encode())
    assert main(["fix", "--stdin-filename", "old.py", "-"]) == 2
    captured = capsysbinary.readouterr()
    assert captured.out == PY2.encode()
    assert captured.err.startswith(b"error: old.py:3:1: cannot parse")


def test_fix_stdin_force_excluded_passes_through(
    project: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_stdin(monkeypatch, LEGACY.encode())
    assert main(["fix", "--force-exclude", "--stdin-filename", "build/gen.py", "-"]) == 0
    assert capsysbinary.readouterr().out == LEGACY.encode()


def test_fix_diff_stdin(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_stdin(monkeypatch, LEGACY.encode())
    assert main(["fix", "--diff", "-"]) == 1
    assert capsys.readouterr().out.startswith("--- -\n+++ -\n")


# -- rule --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("selector", ["VM001", "vm001", "legacy-variable-call"])
def test_rule_prints_the_docs(selector: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rule", selector]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# legacy-variable-call (VM001)\n")
    assert "Fix is sometimes available." in out
    assert "## Fix safety\n" in out


def test_rule_list_lists_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rule", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [rule.code for rule in ALL_RULES]
    assert lines[0].split(None, 4) == [
        "VM001",
        "legacy-variable-call",
        "fix:",
        "sometimes",
        "`Variable(...)` is deprecated and detaches its argument",
    ]


def test_rule_all_prints_every_rules_documentation_as_published(capsys: pytest.CaptureFixture[str]) -> None:
    # As `ruff rule --all`; docs/rules.md is that output, and the JSON `url`s point into it.
    assert main(["rule", "--all"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("# ")] == [
        f"# {rule.name()} ({rule.code})" for rule in ALL_RULES
    ]
    assert out == (Path(__file__).parent.parent / "docs" / "rules.md").read_text()


def test_rule_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rule", "VM201", "--output-format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["code"] == "VM201"
    assert (
        record["url"]
        == "https://github.com/varmigrate/varmigrate/blob/main/docs/rules.md#data-index-zero-vm201"
    )
    assert record["explanation"].startswith("## What it does")
    assert main(["rule", "--all", "--output-format", "json"]) == 0
    assert [r["code"] for r in json.loads(capsys.readouterr().out)] == [rule.code for rule in ALL_RULES]


def test_rule_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rule", "VM999"]) == 2
    assert capsys.readouterr().err == "error: unknown rule: 'VM999'\n"
    assert main(["rule"]) == 2


def test_concise_format_on_request(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even on a (forced) terminal, where `full` is the default.
    monkeypatch.setenv("FORCE_COLOR", "1")
    write(project / "a.py", LEGACY)
    assert main(["check", "--output-format", "concise", "--no-color", "a.py"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "a.py:3:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument"
    )


def test_no_respect_gitignore(project: Path) -> None:
    write(project / ".gitignore", "old.py\n")
    write(project / "old.py", LEGACY)
    assert main(["check", "."]) == 0
    assert main(["check", "--no-respect-gitignore", "."]) == 1


def test_main_leaves_the_collector_as_it_was(capsys: pytest.CaptureFixture[str]) -> None:
    """Only the process's own entry (`script`) switches the collector off: a caller of `main` keeps it."""
    frozen = gc.get_freeze_count()
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"varmigrate {__version__}\n"
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
