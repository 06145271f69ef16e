"""Configuration files: where they are found, what each key does, how the command line overrides them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import write

from varmigrate.cli import main
from varmigrate.config import ConfigError, find_config_file, load_configuration, read_options

# One finding each of VM001 (safe fix), VM102 (safe fix) and VM201 (no safe fix).
MIXED = (
    "import torch\n"
    "from torch.autograd import Variable\n"
    "a = Variable(torch.ones(2))\n"
    "x = loss.data[0]\n"
    "y: Variable = a\n"
)
MIXED_CODES = ["VM001", "VM102", "VM201"]
LEGACY = "import torch\nfrom torch.autograd import Variable\na = Variable(torch.ones(2))\n"
LEGACY_FIXED = "import torch\na = torch.ones(2)\n"
# Only an unsafe fix (dropping the wrapper) makes this line modern.
UNSAFE_ONLY = "import torch\nfrom torch.autograd import Variable\nb = Variable(a)\n"


def reported(capsys: pytest.CaptureFixture[str], *argv: str) -> list[tuple[str, str]]:
    """(file, code) of every finding ``check argv`` reports, sorted."""
    capsys.readouterr()
    main(["check", "--output-format", "json", *argv])
    return sorted((record["filename"], record["code"]) for record in json.loads(capsys.readouterr().out))


def codes(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    return [code for _, code in reported(capsys, *argv)]


# -- finding the file --------------------------------------------------------------------------------


def test_pyproject_table_is_read(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", MIXED)
    write(project / "pyproject.toml", '[project]\nname = "x"\n\n[tool.varmigrate]\nselect = ["VM2"]\n')
    assert codes(capsys, "a.py") == ["VM201"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(["pyproject.toml", "varmigrate.toml"], ["VM102"], id="varmigrate.toml-over-pyproject"),
        pytest.param([".varmigrate.toml", "varmigrate.toml"], ["VM001"], id="dotfile-over-varmigrate.toml"),
        pytest.param([".varmigrate.toml", "pyproject.toml"], ["VM001"], id="dotfile-over-pyproject"),
    ],
)
def test_dedicated_file_wins_in_the_same_directory(
    project: Path, capsys: pytest.CaptureFixture[str], files: list[str], expected: list[str]
) -> None:
    selections = {
        "pyproject.toml": '[tool.varmigrate]\nselect = ["VM201"]\n',
        "varmigrate.toml": 'select = ["VM102"]\n',
        ".varmigrate.toml": 'select = ["VM001"]\n',
    }
    for name in files:
        write(project / name, selections[name])
    write(project / "a.py", MIXED)
    assert codes(capsys, "a.py") == expected


def test_nearest_file_up_from_the_working_directory(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project / "varmigrate.toml", 'select = ["VM201"]\n')
    # A pyproject.toml without [tool.varmigrate] is passed over, as ruff does.
    write(project / "pkg" / "pyproject.toml", '[project]\nname = "pkg"\n')
    write(project / "pkg" / "sub" / "a.py", MIXED)
    monkeypatch.chdir(project / "pkg" / "sub")
    assert find_config_file() == project / "varmigrate.toml"
    assert codes(capsys, "a.py") == ["VM201"]
    # A nearer file wins over the farther one; files are not merged.
    write(project / "pkg" / "sub" / ".varmigrate.toml", 'ignore = ["VM001"]\n')
    assert codes(capsys, "a.py") == ["VM102", "VM201"]


def test_no_file_means_defaults(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", MIXED)
    assert find_config_file(project) is None
    assert codes(capsys, "a.py") == MIXED_CODES


# -- precedence: file < command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "argv", "expected"),
    [
        pytest.param('select = ["VM2"]', [], ["VM201"], id="file-select"),
        pytest.param('ignore = ["VM1"]', [], ["VM001", "VM201"], id="file-ignore"),
        pytest.param('select = ["VM0"]\nextend-select = ["VM201"]', [], ["VM001", "VM201"], id="file-extend"),
        pytest.param('select = ["VM0", "VM2"]\nignore = ["VM201"]', [], ["VM001"], id="file-ignore-wins"),
        pytest.param('select = ["VM2"]', ["--select", "VM1"], ["VM102"], id="cli-select-replaces"),
        pytest.param('ignore = ["VM1"]', ["--ignore", "VM001"], ["VM201"], id="cli-ignore-adds"),
        pytest.param('select = ["VM2"]', ["--extend-select", "VM001"], ["VM001", "VM201"], id="cli-extend"),
        # A new selection starts afresh: the file's ignores go with its selection.
        pytest.param('ignore = ["VM001"]', ["--select", "VM0"], ["VM001"], id="cli-select-drops-file-ignore"),
        pytest.param(
            'ignore = ["VM001"]', ["--extend-select", "VM001"], MIXED_CODES, id="cli-extend-beats-file"
        ),
        pytest.param('select = ["VM001"]', ["--isolated"], MIXED_CODES, id="isolated"),
    ],
)
def test_rule_selection_precedence(
    project: Path, capsys: pytest.CaptureFixture[str], table: str, argv: list[str], expected: list[str]
) -> None:
    write(project / "pyproject.toml", f"[tool.varmigrate]\n{table}\n")
    write(project / "a.py", MIXED)
    assert codes(capsys, *argv, "a.py") == expected


def test_unsafe_fixes_from_the_file_and_the_flag_that_overrides_it(project: Path) -> None:
    write(project / "pyproject.toml", "[tool.varmigrate]\nunsafe-fixes = true\n")
    path = write(project / "a.py", UNSAFE_ONLY)
    assert main(["fix", "--no-unsafe-fixes", "a.py"]) == 0
    assert path.read_text() == "import torch\nb = a.detach()\n"
    path.write_text(UNSAFE_ONLY)
    assert main(["fix", "a.py"]) == 0
    assert path.read_text() == "import torch\nb = a\n"


def test_output_format_from_the_file_and_the_flag_that_overrides_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "varmigrate.toml", 'output-format = "github"\n')
    write(project / "a.py", LEGACY)
    assert main(["check", "a.py"]) == 1
    assert capsys.readouterr().out.startswith("::error title=varmigrate (VM001),file=a.py,line=3,")
    assert main(["check", "--output-format", "concise", "a.py"]) == 1
    assert capsys.readouterr().out.startswith("a.py:3:5: VM001 [*]")


def test_respect_gitignore_from_the_file_and_the_flag_that_overrides_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / ".gitignore", "generated/\n")
    write(project / "generated" / "a.py", LEGACY)
    assert main(["check", "."]) == 0
    write(project / "varmigrate.toml", "respect-gitignore = false\n")
    assert main(["check", "."]) == 1
    assert main(["check", "--respect-gitignore", "."]) == 0


def test_exclude_replaces_the_default_excludes_and_extend_exclude_adds(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / ".venv" / "lib" / "a.py", LEGACY)
    write(project / "legacy" / "b.py", LEGACY)
    write(project / "src" / "c.py", LEGACY)
    write(project / "varmigrate.toml", 'extend-exclude = ["legacy/"]\n')
    assert reported(capsys, ".") == [("src/c.py", "VM001")]
    write(project / "varmigrate.toml", 'exclude = ["legacy/"]\n')
    assert reported(capsys, ".") == [(".venv/lib/a.py", "VM001"), ("src/c.py", "VM001")]
    # `--exclude` adds to the configured patterns.
    assert reported(capsys, "--exclude", "src", ".") == [(".venv/lib/a.py", "VM001")]


def test_force_exclude_from_the_file(project: Path) -> None:
    write(project / "varmigrate.toml", 'extend-exclude = ["legacy_*.py"]\nforce-exclude = true\n')
    write(project / "legacy_a.py", LEGACY)
    assert main(["check", "legacy_a.py"]) == 0
    assert main(["check", "--no-force-exclude", "legacy_a.py"]) == 1


def test_paths_in_the_file_are_relative_to_its_directory(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        project / "pyproject.toml",
        '[tool.varmigrate]\nextend-exclude = ["pkg/gen/"]\n'
        '[tool.varmigrate.per-file-ignores]\n"pkg/tests/**" = ["VM001"]\n',
    )
    write(project / "pkg" / "gen" / "a.py", LEGACY)
    write(project / "pkg" / "tests" / "b.py", MIXED)
    write(project / "pkg" / "c.py", LEGACY)
    monkeypatch.chdir(project / "pkg")
    assert reported(capsys, ".") == [("c.py", "VM001"), ("tests/b.py", "VM102"), ("tests/b.py", "VM201")]


# -- per-file-ignores --------------------------------------------------------------------------------------


PER_FILE = """\
[tool.varmigrate.per-file-ignores]
"tests/**" = ["VM001"]
"*_legacy.py" = ["legacy-variable-annotation", "VM2"]
"""


def test_per_file_ignores_in_check(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "pyproject.toml", PER_FILE)
    write(project / "src" / "a.py", MIXED)
    write(project / "src" / "old_legacy.py", MIXED)
    write(project / "tests" / "unit" / "t.py", MIXED)
    assert reported(capsys, ".") == [
        ("src/a.py", "VM001"),
        ("src/a.py", "VM102"),
        ("src/a.py", "VM201"),
        ("src/old_legacy.py", "VM001"),
        ("tests/unit/t.py", "VM102"),
        ("tests/unit/t.py", "VM201"),
    ]
    # Per-file ignores win over an explicit selection.
    assert reported(capsys, "--select", "VM001", "tests/unit/t.py") == []


def test_per_file_ignores_in_fix(project: Path) -> None:
    write(project / "pyproject.toml", PER_FILE)
    src = write(project / "src" / "a.py", LEGACY)
    test = write(project / "tests" / "t.py", LEGACY)
    assert main(["fix", "."]) == 0
    assert src.read_text() == LEGACY_FIXED
    assert test.read_text() == LEGACY


def test_per_file_ignores_negated_pattern(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "varmigrate.toml", '[per-file-ignores]\n"!src/**" = ["VM001"]\n')
    write(project / "src" / "a.py", LEGACY)
    write(project / "scripts" / "b.py", LEGACY)
    assert reported(capsys, ".") == [("src/a.py", "VM001")]


def test_per_file_ignores_apply_to_the_stdin_filename(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project / "pyproject.toml", PER_FILE)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(LEGACY.encode())))
    assert main(["fix", "--stdin-filename", "tests/t.py"]) == 0
    assert capsys.readouterr().out == LEGACY


# -- --config and --isolated -------------------------------------------------------------------------------


def test_config_flag_reads_exactly_that_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "pyproject.toml", '[tool.varmigrate]\nselect = ["VM001"]\n')
    write(project / "ci" / "strict.toml", 'select = ["VM2"]\nextend-exclude = ["skip/"]\n')
    write(project / "a.py", MIXED)
    write(project / "ci" / "skip" / "b.py", MIXED)
    assert reported(capsys, "--config", "ci/strict.toml", ".") == [("a.py", "VM201")]


def test_config_flag_with_a_pyproject(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "other" / "pyproject.toml", '[tool.varmigrate]\nselect = ["VM102"]\n')
    write(project / "a.py", MIXED)
    assert codes(capsys, "--config", "other/pyproject.toml", "a.py") == ["VM102"]


def test_config_flag_missing_file_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", "nope.toml", "."]) == 2
    assert capsys.readouterr().err == "error: nope.toml: no such configuration file\n"


def test_isolated_and_config_exclude_each_other(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--isolated", "--config", "x.toml"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_isolated_ignores_an_invalid_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "varmigrate.toml", "selct = 1\n")
    write(project / "a.py", LEGACY)
    assert main(["check", "--isolated", "a.py"]) == 1
    assert main(["check", "a.py"]) == 2


# -- invalid configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        pytest.param(
            "pyproject.toml",
            '[tool.varmigrate]\nselct = ["VM001"]\n',
            "pyproject.toml: unknown key `tool.varmigrate.selct` (did you mean `select`?)",
            id="unknown-key",
        ),
        pytest.param(
            "varmigrate.toml",
            'select = "VM001"\n',
            "varmigrate.toml: `select` must be a list of strings, not a string ('VM001')",
            id="select-not-a-list",
        ),
        pytest.param(
            "pyproject.toml",
            '[tool.varmigrate]\nignore = ["VM999"]\n',
            "pyproject.toml: `tool.varmigrate.ignore`: unknown rule selector: 'VM999'",
            id="unknown-selector",
        ),
        pytest.param(
            "varmigrate.toml",
            'output-format = "xml"\n',
            "varmigrate.toml: `output-format` must be one of full, concise, json, json-lines, github, "
            "sarif, not a string ('xml')",
            id="bad-output-format",
        ),
        pytest.param(
            "varmigrate.toml",
            'unsafe-fixes = "yes"\n',
            "varmigrate.toml: `unsafe-fixes` must be true or false, not a string ('yes')",
            id="boolean-as-string",
        ),
        pytest.param(
            "varmigrate.toml",
            '[per-file-ignores]\n"tests/*" = ["VM001", "nope"]\n',
            "varmigrate.toml: `per-file-ignores.\"tests/*\"`: unknown rule selector: 'nope'",
            id="per-file-ignores-selector",
        ),
        pytest.param(
            "varmigrate.toml",
            'per-file-ignores = ["tests/*"]\n',
            "varmigrate.toml: `per-file-ignores` must be a table of glob = [rules], not an array",
            id="per-file-ignores-not-a-table",
        ),
        pytest.param(
            "varmigrate.toml",
            '[tool.varmigrate]\nselect = ["VM001"]\n',
            "varmigrate.toml: unknown key `tool` (varmigrate.toml takes the keys at the top level, "
            "without [tool.varmigrate])",
            id="tool-table-in-varmigrate.toml",
        ),
        pytest.param(
            "pyproject.toml",
            "[tool.varmigrate\n",
            "pyproject.toml: invalid TOML: ",
            id="invalid-toml",
        ),
    ],
)
def test_invalid_configuration_exits_2_naming_file_and_key(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    write(project / name, text)
    write(project / "a.py", LEGACY)
    assert main(["check", "a.py"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {message}")
    assert captured.out == ""
    with pytest.raises(ConfigError):
        read_options(project / name)


def test_invalid_file_named_by_config_flag(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "ci.toml", "select = [1]\n")
    assert main(["check", "--config", "ci.toml", "."]) == 2
    assert capsys.readouterr().err == ("error: ci.toml: `select` must be a list of strings, not an array\n")


def test_unknown_selector_on_the_command_line_still_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "varmigrate.toml", 'select = ["VM001"]\n')
    assert main(["check", "--extend-select", "VM999", "."]) == 2
    assert capsys.readouterr().err == "error: unknown rule selector: 'VM999'\n"


def test_loaded_configuration_resolves_settings_per_file(project: Path) -> None:
    write(project / "pyproject.toml", PER_FILE + "[tool.varmigrate]\nunsafe-fixes = true\n")
    configuration = load_configuration()
    assert configuration.path == project / "pyproject.toml"
    assert [rule.code for rule in configuration.settings_for("tests/x.py").rules] == [
        "VM002",
        "VM101",
        "VM102",
        "VM103",
        "VM201",
        "VM202",
        "VM401",
        "VM402",
        "VM403",
        "VM404",
        "VM405",
    ]
    assert [rule.code for rule in configuration.settings_for("a_legacy.py").rules] == [
        "VM001",
        "VM002",
        "VM101",
        "VM103",
        "VM401",
        "VM402",
        "VM403",
        "VM404",
        "VM405",
    ]
    assert configuration.settings_for(None).unsafe_fixes


# -- a real process ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_python_m_reads_the_configuration(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.varmigrate]\nselect = ["VM2"]\noutput-format = "concise"\n')
    write(tmp_path / "a.py", MIXED)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "varmigrate", "check", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    done = run("a.py")
    assert done.returncode == 1
    assert [line.split()[1] for line in done.stdout.splitlines() if line.startswith("a.py:")] == ["VM201"]
    (tmp_path / "pyproject.toml").write_text("[tool.varmigrate]\nselect = 3\n")
    broken = run("a.py")
    assert broken.returncode == 2
    assert "pyproject.toml: `tool.varmigrate.select` must be a list of strings" in broken.stderr
