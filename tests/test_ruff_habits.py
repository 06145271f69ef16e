"""What people who know ruff type: `check --fix`, `--fix-only`, `--exit-non-zero-on-fix`, `check --diff`,
`--extend-exclude`, `--per-file-ignores`, `--show-files`, `--show-settings`, `-s`, `-v`. Runs of main()."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import write

from varmigrate.cli import main

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
    assert "select: [VM001, VM002, VM101, VM102, VM201, VM202, VM401, VM402, VM403, VM404, VM405]" in out
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
        "rules: VM001, VM002, VM101, VM102, VM103, VM201, VM202, VM401, VM402, VM403, VM404, VM405",
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
