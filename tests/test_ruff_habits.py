"""What people who know ruff type: `check --fix`, `--fix-only`, `--exit-non-zero-on-fix`, `check --diff`,
`--extend-exclude`, `--per-file-ignores`, `--show-files`, `--show-settings`, `-s`, `-v`. Runs of main()."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import write

from varmigrate.cli import main
from varmigrate.output.report import TIMES
from varmigrate.rules import DEFAULT_RULES

LEGACY = (
    "import torch\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2), requires_grad=True)\n"
)
FIXED = "import torch\nx = torch.ones(2, requires_grad=True)\n"
# One fixable finding and one that no fix removes.
MIXED = LEGACY + "y = Variable(x, name='y')\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("extra", [[], ["--diff"], ["--unsafe-fixes"]])
def test_check_fix_is_fix(project: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    write(project / "a.py", MIXED)
    write(project / "b.py", MIXED)
    as_check = run(capsys, "check", "--fix", "--output-format", "concise", "a.py", *extra)
    as_fix = run(capsys, "fix", "--output-format", "concise", "b.py", *extra)
    assert as_check == tuple(
        part.replace("b.py", "a.py") if isinstance(part, str) else part for part in as_fix
    )
    assert (project / "a.py").read_text() == (project / "b.py").read_text()


def test_check_diff_is_fix_diff(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    assert run(capsys, "check", "--diff", "a.py") == run(capsys, "fix", "--diff", "a.py")
    assert (project / "a.py").read_text() == LEGACY


def test_fix_only_reports_what_was_fixed_and_exits_0(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", MIXED)
    code, out, err = run(capsys, "check", "--fix-only", "a.py")
    assert (code, out, err) == (0, "Fixed 1 finding.\n", "")
    assert "Variable(x, name='y')" in (project / "a.py").read_text()


def test_exit_non_zero_on_fix(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    assert run(capsys, "fix", "--exit-non-zero-on-fix", "a.py")[0] == 1
    assert (project / "a.py").read_text() == FIXED
    # Nothing fixed this time: 0.
    assert run(capsys, "fix", "--exit-non-zero-on-fix", "a.py")[0] == 0


def test_extend_exclude_and_per_file_ignores_as_flags(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "src" / "a.py", LEGACY)
    write(project / "vendor" / "b.py", LEGACY)
    write(project / "tests" / "c.py", LEGACY + "v = x.data[0]\n")
    code, out, _ = run(
        capsys,
        "check",
        "--output-format",
        "concise",
        "--extend-exclude",
        "vendor/",
        "--per-file-ignores",
        "tests/**:VM001",
    )
    assert code == 1
    assert out.splitlines()[:2] == [
        "src/a.py:3:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument",
        "tests/c.py:4:5: VM201 `.data[0]` raises `IndexError` if the tensor is 0-dim, as losses now are: use "
        "`.item()`",
    ]
    code, _, err = run(capsys, "check", "--per-file-ignores", "no-colon-here")
    assert code == 2
    assert "--per-file-ignores: expected PATTERN:RULES (e.g. 'tests/**:VM201'), not 'no-colon-here'" in err


def test_show_files_and_show_settings(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "pyproject.toml", '[tool.varmigrate]\nignore = ["VM103"]\n')
    write(project / "a.py", LEGACY)
    write(project / "docs" / "page.md", "# title\n")
    write(project / ".venv" / "lib.py", LEGACY)
    assert run(capsys, "check", "--show-files") == (0, "a.py\ndocs/page.md\n", "")
    assert (project / "a.py").read_text() == LEGACY
    code, out, _ = run(capsys, "check", "--show-settings", "--unsafe-fixes")
    assert code == 0
    assert f"configuration file: {project / 'pyproject.toml'}" in out
    assert f"select: [{', '.join(rule.code for rule in DEFAULT_RULES if rule.code != 'VM103')}]" in out
    assert "unsafe-fixes: true" in out


def test_silent_prints_nothing_and_the_exit_code_tells(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", LEGACY)
    write(project / "b.py", "import torch\nfrom torch.autograd import Variable\nprint Variable(x)\n")
    assert run(capsys, "check", "-s", "a.py") == (1, "", "")
    assert run(capsys, "check", "--silent", "b.py") == (2, "", "")


def test_verbose_says_which_configuration_and_how_many_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", LEGACY)
    code, _, err = run(capsys, "check", "-v", "--isolated", "a.py")
    assert code == 1
    assert err.splitlines()[:3] == [
        "configuration: none (defaults and flags)",
        f"rules: {', '.join(rule.code for rule in DEFAULT_RULES)}",
        "files: 1",
    ]


def test_mistakes_get_the_subcommands_usage_and_a_hint(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", LEGACY)
    code, _, err = run(capsys, "check", "--fxi", "a.py")
    assert code == 2
    assert err.startswith("usage: varmigrate check ")
    assert err.endswith("varmigrate check: error: unrecognized arguments: --fxi (did you mean '--fix'?)\n")
    code, _, err = run(capsys, "chek", "a.py")
    assert (code, err.splitlines()[-1]) == (
        2,
        "varmigrate: error: unknown command 'chek' (did you mean 'check'?)",
    )
    assert run(capsys, "check", "--select", "VM0001", "a.py") == (
        2,
        "",
        "error: unknown rule selector: 'VM0001' (did you mean VM001?)\n",
    )
    assert run(capsys, "rule", "legacy-variabel-call")[2] == (
        "error: unknown rule: 'legacy-variabel-call' (did you mean legacy-variable-call?)\n"
    )
    # Nothing close: no guess.
    assert run(capsys, "rule", "VM999")[2] == "error: unknown rule: 'VM999'\n"


# -- --show-fixes ----------------------------------------------------------------------------------------

# Two VM001 fixes (safe), one VM101 (safe) and one VM201 (unsafe: `.item()`).
SHOWN = (
    "import torch\nfrom torch.autograd import Variable\n"
    "x = Variable(torch.ones(2), requires_grad=True)\n"
    "y = Variable(torch.zeros(2))\n"
    "ok = isinstance(x, Variable)\n"
    "print((x * y).sum().data[0])\n"
)


def listed(*rows: tuple[int, str, str]) -> str:
    """The lines --show-fixes prints for one file's ``(count, code, name)`` rows."""
    return "".join(f"    {count} {TIMES} {code} ({name})\n" for count, code, name in rows)


VM001 = (2, "VM001", "legacy-variable-call")
VM101 = (1, "VM101", "legacy-variable-type-check")
VM201 = (1, "VM201", "data-index-zero")


def test_fix_show_fixes_lists_the_fixes_per_file_and_rule_before_the_summary(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "b.py", SHOWN)
    write(project / "a.py", LEGACY)
    code, out, _ = run(capsys, "fix", "--show-fixes", "--no-cache", "b.py", "a.py")
    assert code == 1  # VM201 is left
    assert out.endswith(
        f"\nFixed 4 findings:\n- a.py:\n{listed((1, 'VM001', 'legacy-variable-call'))}"
        f"- b.py:\n{listed(VM001, VM101)}\n"
        "Fixed 4 findings (1 remaining).\n"
        "1 fixable with `varmigrate fix --unsafe-fixes`.\n"
    ), out
    # The finding left is listed before it.
    assert out.index("VM201") < out.index("Fixed 4 findings:")


def test_show_fixes_counts_what_unsafe_fixes_apply_in_notebooks_and_documents_too(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", SHOWN)
    write(project / "guide.md", "# Guide\n\n```python\n" + SHOWN + "```\n")
    code, out, _ = run(capsys, "fix", "--unsafe-fixes", "--show-fixes", "--no-cache", "a.py", "guide.md")
    assert code == 0
    rows = listed(VM001, VM101, VM201)
    assert f"Fixed 8 findings:\n- a.py:\n{rows}- guide.md:\n{rows}\n" in out


def test_diff_show_fixes_says_what_would_be_fixed_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", SHOWN)
    code, out, err = run(capsys, "fix", "--diff", "--show-fixes", "a.py")
    assert code == 1
    assert out.startswith("--- a.py")
    assert f"Would fix 3 findings:\n- a.py:\n{listed(VM001, VM101)}\n" in err
    assert (project / "a.py").read_text() == SHOWN


@pytest.mark.parametrize(
    ("unsafe", "expected"),
    [
        ([], f"3 findings fixable with `varmigrate fix`:\n- a.py:\n{listed(VM001, VM101)}\n"),
        (
            ["--unsafe-fixes"],
            "4 findings fixable with `varmigrate fix --unsafe-fixes`:\n"
            f"- a.py:\n{listed(VM001, VM101, VM201)}\n",
        ),
    ],
    ids=["safe", "unsafe-fixes"],
)
def test_check_show_fixes_lists_the_fixable_findings(
    project: Path, capsys: pytest.CaptureFixture[str], unsafe: list[str], expected: str
) -> None:
    write(project / "a.py", SHOWN)
    code, out, _ = run(capsys, "check", "--show-fixes", "--output-format", "concise", *unsafe, "a.py")
    assert code == 1
    assert f"a.py:6:7: VM201 {'[*] ' if unsafe else ''}" in out
    assert f"\n\n{expected}Found 4 findings in 1 file." in out
    assert (project / "a.py").read_text() == SHOWN


@pytest.mark.parametrize("flags", [[], ["--no-show-fixes"], ["--show-fixes", "--no-show-fixes"]])
def test_no_fix_list_unless_asked(
    project: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    write(project / "a.py", SHOWN)
    code, out, _ = run(capsys, "fix", *flags, "a.py")
    assert code == 1
    assert "Fixed 3 findings (1 remaining).\n" in out
    assert TIMES not in out


def test_show_fixes_from_the_configuration_and_the_flag_that_turns_it_off(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "varmigrate.toml", "show-fixes = true\n")
    write(project / "a.py", SHOWN)
    code, out, _ = run(capsys, "check", "--show-settings")
    assert (code, "show-fixes: true" in out) == (0, True)
    assert TIMES in run(capsys, "fix", "--diff", "a.py")[2]
    code, _, err = run(capsys, "fix", "--diff", "--no-show-fixes", "a.py")
    assert (code, TIMES in err) == (1, False)
    code, out, _ = run(capsys, "fix", "a.py")
    assert (code, f"Fixed 3 findings:\n- a.py:\n{listed(VM001, VM101)}\n" in out) == (1, True)
    write(project / "varmigrate.toml", "show-fixes = 1\n")
    assert run(capsys, "check", "a.py")[0] == 2


ALIASES = "import torch\nimport torch.nn.functional as F\ny = F.sigmoid(torch.ones(2))\n"


def test_rules_off_by_default_run_only_when_selected(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", ALIASES)
    assert main(["check", "--isolated", "--output-format", "concise", "a.py"]) == 0
    capsys.readouterr()
    for selection in (["--extend-select", "VM41"], ["--select", "VM4"], ["--extend-select", "VM410"]):
        assert main(["check", "--isolated", "--output-format", "concise", *selection, "a.py"]) == 1
        assert "a.py:3:5: VM410 [*]" in capsys.readouterr().out
    write(project / "pyproject.toml", '[tool.varmigrate]\nextend-select = ["VM41"]\n')
    assert main(["check", "--output-format", "concise", "a.py"]) == 1
    assert "VM410" in capsys.readouterr().out
