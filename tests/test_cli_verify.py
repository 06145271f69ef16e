"""`varmigrate verify` on the command line: it reads the configuration and the selection options as `check`
and `fix` do (by the same code), says which fixes it applied beyond the safe ones and how to write them,
and prints paths and tables that stay readable on a pipe."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import textwrap
from pathlib import Path

import pytest

from varmigrate.cli import build_parser, main
from varmigrate.cli.check_fix import configuration_of
from varmigrate.cli.verify import options_from_args
from varmigrate.config import resolve
from varmigrate.harness.tree import python_files
from varmigrate.harness.verify import UsageError, VerifyOptions

PYTHON = sys.executable
CONFIG = """\
[tool.varmigrate]
ignore = ["VM201"]
unsafe-fixes = true
extend-exclude = ["vendor/"]
per-file-ignores = { "tests/**" = ["VM102"] }
"""


def parse(*argv: str) -> argparse.Namespace:
    args, unknown = build_parser(argv[0]).parse_known_args(argv)
    assert not unknown
    return args


def verify_options(*argv: str) -> VerifyOptions:
    return options_from_args(parse("verify", *argv))


def codes(options: VerifyOptions) -> list[str]:
    assert options.configuration is not None
    return [rule.code for rule in options.configuration.rules]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a configuration, as the working directory."""
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_verify_reads_the_configuration_file(project: Path) -> None:
    options = verify_options("train.py")
    assert "VM201" not in codes(options)
    assert "VM001" in codes(options)
    assert options.unsafe_fixes  # `unsafe-fixes = true`
    assert options.configuration is not None
    assert options.configuration.path == project / "pyproject.toml"


def test_verify_flags_override_the_configuration_as_in_check(project: Path) -> None:
    options = verify_options("--select", "VM2", "--no-unsafe-fixes", "train.py")
    assert codes(options) == ["VM201", "VM202"]
    assert not options.unsafe_fixes
    assert codes(verify_options("--isolated", "train.py")) == [rule.code for rule in resolve(None).rules]
    # Options after the paths are read too (the file's `ignore` stays).
    assert codes(verify_options("src", "--ignore", "VM0", "--", "python", "t.py")) == [
        rule.code for rule in resolve(None).rules if not rule.code.startswith("VM0") and rule.code != "VM201"
    ]


def test_verify_and_check_resolve_the_same_options_to_the_same_configuration(project: Path) -> None:
    flags = [
        "--extend-select",
        "VM201",
        "--ignore",
        "VM103",
        "--per-file-ignores",
        "a.py:VM001",
        "--exclude",
        "x/",
    ]
    check = configuration_of(parse("check", *flags, "."))
    verify = verify_options(*flags, "train.py").configuration
    assert verify == check
    assert [entry.pattern for entry in check.per_file_ignores] == ["tests/**", "a.py"]


def test_a_configuration_verify_cannot_use_is_a_usage_error(project: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="VM999"):
        verify_options("--select", "VM999", "train.py")
    with pytest.raises(UsageError, match="no such configuration file"):
        verify_options("--config", str(tmp_path / "missing.toml"), "train.py")
    (project / "pyproject.toml").write_text('[tool.varmigrate]\nselct = ["VM0"]\n')
    assert main(["verify", "train.py"]) == 2


def test_the_files_verify_fixes_are_the_ones_the_configuration_leaves(project: Path) -> None:
    for name in ("train.py", "vendor/lib.py", "tests/test_train.py"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("import torch\n")
    configuration = verify_options("train.py").configuration
    assert [f.as_posix() for f in python_files(project, project, ["."], configuration)] == [
        "tests/test_train.py",
        "train.py",
    ]
    # --exclude adds to the configured excludes, as in check.
    configuration = verify_options("--exclude", "tests/", "train.py").configuration
    assert [f.as_posix() for f in python_files(project, project, ["."], configuration)] == ["train.py"]
    # Without the configuration, the default walk.
    assert len(python_files(project, project, ["."])) == 3


def test_output_format_has_help_on_every_subcommand_that_takes_it() -> None:
    parser = build_parser()
    (subcommands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    having = []
    for name, subparser in subcommands.choices.items():
        for action in subparser._actions:
            if "--output-format" in action.option_strings:
                having.append(name)
                assert action.help is not None, name
                assert len(action.help) > 20, name
    assert having == ["check", "fix", "verify", "rule"]


# -- the report of a real run ----------------------------------------------------------------------------

TRAIN = """\
import torch
from torch.autograd import Variable

from vendor.lib import make


def scale(t: Variable) -> Variable:
    return t * 2


torch.manual_seed(0)
w = Variable(torch.ones(3), requires_grad=True)
b = Variable(torch.zeros(3, dtype=torch.float32, device="cpu"), requires_grad=False)
for step in range(2):
    x = Variable(torch.randn(3) + make())
    loss = (scale(w) * x + b).sum()
    loss.backward()
    print(loss.data[0])
"""
VENDOR = """\
import torch
from torch.autograd import Variable


def make():
    return Variable(torch.zeros(3))
"""
# train.py keeps its annotations (per-file-ignores); vendor/ is excluded.
PROJECT_CONFIG = """\
[tool.varmigrate]
extend-exclude = ["vendor/"]
per-file-ignores = { "train.py" = ["VM102"] }
"""
ANSI = re.compile(r"\x1b\[")


@pytest.mark.slow
def test_verify_reports_the_fixes_beyond_the_safe_ones_and_the_command_that_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    (project / "vendor").mkdir(parents=True)
    (project / "vendor" / "__init__.py").write_text("")
    (project / "vendor" / "lib.py").write_text(VENDOR)
    (project / "train.py").write_text(TRAIN)
    (project / "pyproject.toml").write_text(PROJECT_CONFIG)
    monkeypatch.chdir(project)
    # Colours would be on (FORCE_COLOR), but --no-color says no.
    monkeypatch.setenv("FORCE_COLOR", "1")
    code = main(
        ["verify", "--no-color", "--seed", "1", "./vendor/../train.py", "--", PYTHON, "vendor/../train.py"]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert not ANSI.search(text)
    lines = text.splitlines()
    # The header's paths as check prints them, normalised.
    assert lines[0] == f"varmigrate verify train.py -- {shlex.quote(PYTHON)} train.py"
    verdict = next(i for i, line in enumerate(lines) if "IDENTICAL" in line)
    beyond = [line for line in lines[:verdict] if "beyond `fix`'s safe ones" in line]
    assert beyond == [
        "2 verified fixes beyond `fix`'s safe ones (their risk ruled out by the baseline run): "
        "VM001 Remove the `Variable(...)` wrapper at train.py:15:9, "
        "VM201 Replace with `.item()` (assumes the tensor is 0-dim) at train.py:18:11"
    ]
    # On a pipe, the evidence table's cells stay whole.
    assert any("train.py:15:9 " in line and "Variable(torch.randn(3) + make())" in line for line in lines)
    assert any(
        'Variable(torch.zeros(3, dtype=torch.float32, device="cpu"), requires_grad=False)' in line
        for line in lines
    )
    assert "…" not in text
    command = lines[-1].removeprefix("to write the fixes that ran: ")
    assert command == (
        "varmigrate verify --write --no-color --seed 1 ./vendor/../train.py -- "
        f"{shlex.quote(PYTHON)} vendor/../train.py"
    )

    # The command it printed writes them, and only where the configuration lets it.
    code = main(shlex.split(command)[1:])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "wrote train.py" in text
    fixed = (project / "train.py").read_text()
    assert "def scale(t: Variable) -> Variable:" in fixed  # VM102 is ignored in train.py
    assert "w = torch.ones(3, requires_grad=True)" in fixed
    assert "x = torch.randn(3) + make()" in fixed
    assert "print(loss.item())" in fixed
    assert (project / "vendor" / "lib.py").read_text() == VENDOR  # excluded


@pytest.mark.slow
def test_verify_with_only_safe_fixes_names_the_fix_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = textwrap.dedent(
        """\
        import torch
        from torch.autograd import Variable

        w = Variable(torch.ones(3), requires_grad=True)
        (w * 2).sum().backward()
        """
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(script)
    monkeypatch.chdir(tmp_path)
    code = main(
        ["verify", "--select", "VM001", "--timeout", "300", "./src/../src", "--", PYTHON, "src/train.py"]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert text.splitlines()[0] == f"varmigrate verify src -- {shlex.quote(PYTHON)} src/train.py"
    assert "beyond" not in text
    assert text.splitlines()[-1] == "to write the fixes that ran: varmigrate fix --select VM001 src"
    assert (tmp_path / "src" / "train.py").read_text() == script


def test_no_command_is_suggested_without_fixes_to_write_or_after_writing(tmp_path: Path) -> None:
    from varmigrate.cli.verify import next_command
    from varmigrate.harness.verify import DIVERGED, IDENTICAL, VerifyResult

    options = VerifyOptions(command=(PYTHON, "train.py"), cwd=tmp_path)
    assert next_command(VerifyResult(options, verdict=IDENTICAL)) is None  # nothing changed
    assert next_command(VerifyResult(options, verdict=DIVERGED)) is None
    assert next_command(VerifyResult(options, verdict=IDENTICAL), ["--select", "VM0", "train.py"]) is None


def test_a_verify_without_a_command_says_so_as_check_words_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["verify", "--no-color", "src"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "error: no command to run: give one after `--`, e.g. `varmigrate verify -- python train.py`\n"
    )
