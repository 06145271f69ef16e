"""report.py: rendering of findings, the summary, and the exit code."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from varmigrate.model import Applicability, Diagnostic, Edit, FileError, Fix, Location, OutputFormat
from varmigrate.output.formats import json_record, render_concise, render_full
from varmigrate.output.report import Report
from varmigrate.pipeline import FileResult, Mode

SAFE, UNSAFE, DISPLAY = Applicability.SAFE, Applicability.UNSAFE, Applicability.DISPLAY_ONLY


def fix(title: str, applicability: Applicability, content: str = "x.detach()") -> Fix:
    edit = Edit(content=content, start=Location(2, 5), end=Location(2, 16), start_offset=20, end_offset=31)
    return Fix(title=title, applicability=applicability, edits=(edit,))


def finding(*fixes: Fix, row: int = 2, column: int = 5, end_column: int = 16) -> Diagnostic:
    return Diagnostic(
        code="VM001",
        name="legacy-variable-call",
        message="`Variable(...)` is deprecated and detaches its argument",
        start=Location(row, column),
        end=Location(row, end_column),
        fixes=fixes,
    )


SAFE_FINDING = finding(fix("Replace with `.detach()`", SAFE))
UNSAFE_ONLY = finding(fix("Remove the `Variable(...)` wrapper", UNSAFE, "x"))
DISPLAY_ONLY = finding(fix("Replace with `False`", DISPLAY))
NO_FIX = finding()


def console() -> Console:
    return Console(file=io.StringIO(), color_system=None, markup=False, highlight=False, soft_wrap=True)


def output(console: Console) -> str:
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def make_report(mode: Mode = Mode.CHECK, **kwargs: object) -> Report:
    return Report(mode=mode, out=console(), err=console(), **kwargs)  # type: ignore[arg-type]


def test_concise_marks_fixable_findings() -> None:
    assert render_concise(SAFE_FINDING, "a.py", SAFE).plain == (
        "a.py:2:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument"
    )
    assert "[*]" not in render_concise(UNSAFE_ONLY, "a.py", SAFE).plain
    assert "[*]" in render_concise(UNSAFE_ONLY, "a.py", UNSAFE).plain
    assert "[*]" not in render_concise(DISPLAY_ONLY, "a.py", UNSAFE).plain


def test_full_shows_the_line_a_caret_underline_and_the_fix() -> None:
    text = render_full(SAFE_FINDING, "a.py", {(None, 2): "b = Variable(x)"}, SAFE).plain
    assert text.splitlines() == [
        "a.py:2:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument",
        "  |",
        "2 | b = Variable(x)",
        "  |     ^^^^^^^^^^^ VM001",
        "  |",
        "  = help: Replace with `.detach()`",
    ]


def test_full_marks_unsafe_and_display_only_fixes() -> None:
    assert (
        "help: Remove the `Variable(...)` wrapper (unsafe)"
        in render_full(UNSAFE_ONLY, "a.py", {}, SAFE).plain
    )
    assert render_full(DISPLAY_ONLY, "a.py", {}, SAFE).plain.endswith("Replace with `False` (display only)\n")


def test_full_shows_the_applied_fix_first_then_alternatives() -> None:
    both = finding(
        fix("Remove the `Variable(...)` wrapper", UNSAFE, "x"), fix("Replace with `.detach()`", SAFE)
    )
    helps = [
        line.strip() for line in render_full(both, "a.py", {}, SAFE).plain.splitlines() if "help" in line
    ]
    assert helps == [
        "= help: Replace with `.detach()`",
        "= help: Remove the `Variable(...)` wrapper (unsafe)",
    ]
    helps = [
        line.strip() for line in render_full(both, "a.py", {}, UNSAFE).plain.splitlines() if "help" in line
    ]
    assert helps[0] == "= help: Remove the `Variable(...)` wrapper (unsafe)"


def test_full_caret_keeps_tabs_and_wide_characters_aligned() -> None:
    text = render_full(finding(column=6, end_column=8), "a.py", {(None, 2): "\t名 = Va"}, SAFE).plain
    source, carets = text.splitlines()[2:4]
    assert source == "2 | \t名 = Va"
    assert carets == "  | \t     ^^ VM001"


def test_full_multiline_finding_underlines_to_the_end_of_its_first_line() -> None:
    multi = Diagnostic("VM001", "n", "m", Location(3, 5), Location(4, 2))
    assert (
        "  |     ^^^^^^^^^ VM001"
        in render_full(multi, "a.py", {(None, 3): "a = Variable(", (None, 4): "x)"}, SAFE).plain
    )


def test_json_record_uses_ruff_field_names() -> None:
    record = json_record(SAFE_FINDING, "a.py", SAFE)
    assert record == {
        "cell": None,
        "code": "VM001",
        "message": "`Variable(...)` is deprecated and detaches its argument",
        "filename": "a.py",
        "location": {"row": 2, "column": 5},
        "end_location": {"row": 2, "column": 16},
        "fix": {
            "applicability": "safe",
            "message": "Replace with `.detach()`",
            "edits": [
                {
                    "content": "x.detach()",
                    "location": {"row": 2, "column": 5},
                    "end_location": {"row": 2, "column": 16},
                }
            ],
        },
        "noqa_row": 2,
        "url": "https://github.com/varmigrate/varmigrate/blob/main/docs/rules.md#legacy-variable-call-vm001",
    }
    assert json_record(NO_FIX, "a.py", SAFE)["fix"] is None
    unsafe_fix = json_record(UNSAFE_ONLY, "a.py", SAFE)["fix"]
    assert unsafe_fix is not None
    assert unsafe_fix["applicability"] == "unsafe"
    display_fix = json_record(DISPLAY_ONLY, "a.py", SAFE)["fix"]
    assert display_fix is not None
    assert display_fix["applicability"] == "display-only"


def test_check_summary_counts_fixable_and_unsafe_fixable() -> None:
    report = make_report()
    report.add(FileResult("a.py", diagnostics=[SAFE_FINDING, UNSAFE_ONLY]))
    report.add(FileResult("b.py", diagnostics=[NO_FIX, SAFE_FINDING]))
    report.add(FileResult("c.py"))
    assert report.summary() == [
        "Found 4 findings in 2 files.",
        "[*] 2 fixable with `varmigrate fix`.",
        "1 more fixable with `varmigrate fix --unsafe-fixes`.",
    ]
    assert report.finish() == 1


def test_check_summary_with_unsafe_fixes_allowed() -> None:
    report = make_report(threshold=UNSAFE)
    report.add(FileResult("a.py", diagnostics=[SAFE_FINDING, UNSAFE_ONLY]))
    assert report.summary() == [
        "Found 2 findings in 1 file.",
        "[*] 2 fixable with `varmigrate fix --unsafe-fixes`.",
    ]


def test_singular_and_clean_summaries() -> None:
    report = make_report()
    report.add(FileResult("a.py"))
    assert report.summary() == ["All checks passed!"]
    assert report.exit_code == 0
    report.add(FileResult("b.py", diagnostics=[UNSAFE_ONLY]))
    assert report.summary() == [
        "Found 1 finding in 1 file.",
        "1 fixable with `varmigrate fix --unsafe-fixes`.",
    ]


def test_fix_summary() -> None:
    report = make_report(Mode.FIX)
    report.add(FileResult("a.py", diagnostics=[NO_FIX], fixed=3, changed=True))
    assert report.summary() == ["Fixed 3 findings (1 remaining)."]
    assert report.exit_code == 1
    clean = make_report(Mode.FIX)
    clean.add(FileResult("a.py", fixed=1, changed=True))
    assert clean.summary() == ["Fixed 1 finding (0 remaining)."]
    assert clean.exit_code == 0


def test_diff_exit_code_follows_changes_not_remaining_findings() -> None:
    report = make_report(Mode.DIFF)
    report.add(FileResult("a.py", diagnostics=[NO_FIX]))
    assert report.exit_code == 0
    assert report.summary() == ["Nothing to fix."]
    report.add(FileResult("b.py", fixed=1, changed=True, diff="--- b.py\n+++ b.py\n"))
    assert report.exit_code == 1
    assert report.summary() == ["Would fix 1 finding in 1 file (1 remaining)."]
    assert output(report.out) == "--- b.py\n+++ b.py\n"


def test_errors_win_over_findings_and_exit_zero() -> None:
    report = make_report(exit_zero=True)
    report.add(FileResult("a.py", diagnostics=[SAFE_FINDING]))
    assert report.exit_code == 0
    report.add(FileResult("b.py", errors=[FileError("b.py", "cannot parse: invalid syntax", Location(3, 7))]))
    assert report.exit_code == 2
    assert output(report.err) == "error: b.py:3:7: cannot parse: invalid syntax\n"
    assert report.summary()[-1] == "1 error (see above)."


def test_quiet_prints_findings_but_no_summary() -> None:
    report = make_report(quiet=True)
    report.add(FileResult("a.py", diagnostics=[SAFE_FINDING]))
    report.finish()
    assert output(report.out).splitlines() == [render_concise(SAFE_FINDING, "a.py", SAFE).plain]
    clean = make_report(quiet=True)
    clean.add(FileResult("a.py"))
    assert clean.finish() == 0
    assert output(clean.out) == ""


def test_json_output_is_one_array() -> None:
    report = make_report(output_format=OutputFormat.JSON)
    report.add(FileResult("a.py", diagnostics=[SAFE_FINDING]))
    report.add(FileResult("b.py", diagnostics=[NO_FIX]))
    assert report.finish() == 1
    records = json.loads(output(report.out))
    assert [(r["filename"], r["code"]) for r in records] == [("a.py", "VM001"), ("b.py", "VM001")]


def test_statistics_replace_the_listing() -> None:
    report = make_report(statistics=True)
    report.add(FileResult("a.py", diagnostics=[SAFE_FINDING, NO_FIX, NO_FIX]))
    report.finish()
    assert output(report.out).splitlines()[0] == "3  VM001  [*] legacy-variable-call (1 fixable)"


@pytest.mark.parametrize("output_format", [OutputFormat.FULL, OutputFormat.CONCISE])
def test_text_formats_print_each_finding(output_format: OutputFormat) -> None:
    report = make_report(output_format=output_format)
    report.add(FileResult("a.py", diagnostics=[SAFE_FINDING, NO_FIX], lines={(None, 2): "b = Variable(x)"}))
    assert output(report.out).count("a.py:2:5: VM001") == 2
