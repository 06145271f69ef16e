"""The Python API for paths: `check_paths` finds what `varmigrate check` finds, configured the same."""

from __future__ import annotations

from pathlib import Path

import pytest

import varmigrate
from varmigrate import CheckedFile, ConfigError, UnknownRuleError, check_paths

LEGACY = "import torch\nfrom torch.autograd import Variable\na = Variable(torch.ones(2))\nb = Variable(a)\n"
DATA = "import torch\nx = loss.data[0]\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "src" / "model.py").write_text(LEGACY)
    (tmp_path / "src" / "data.py").write_text(DATA)
    (tmp_path / "tests" / "test_model.py").write_text(LEGACY)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.varmigrate]\nextend-exclude = ["build_*"]\n'
        '[tool.varmigrate.per-file-ignores]\n"tests/**" = ["VM001"]\n'
    )
    return tmp_path


def found(results: list[CheckedFile]) -> dict[str, list[str]]:
    return {result.path: [d.code for d in result.diagnostics] for result in results}


def test_check_paths_uses_the_configuration_like_the_command_line(project: Path) -> None:
    (project / "build_old.py").write_text(LEGACY)
    results = check_paths(["."])
    assert found(results) == {
        "src/data.py": ["VM201"],
        "src/model.py": ["VM001", "VM001"],
        "tests/test_model.py": [],
    }
    assert all(isinstance(result, CheckedFile) and result.errors == () for result in results)
    # Nothing is written.
    assert (project / "src" / "model.py").read_text() == LEGACY


def test_check_paths_select_ignore_and_config(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert found(check_paths("src", select=["VM2"])) == {"src/data.py": ["VM201"], "src/model.py": []}
    assert found(check_paths(Path("src"), ignore=["VM201"])) == {
        "src/data.py": [],
        "src/model.py": ["VM001", "VM001"],
    }
    assert found(check_paths(["tests"], config=False)) == {"tests/test_model.py": ["VM001", "VM001"]}
    other = tmp_path_factory.mktemp("conf") / "strict.toml"
    other.write_text('select = ["VM201"]\n')
    assert found(check_paths(["src", "tests"], config=other)) == {
        "src/data.py": ["VM201"],
        "src/model.py": [],
        "tests/test_model.py": [],
    }


def test_check_paths_fixable_follows_unsafe_fixes(project: Path) -> None:
    (safe_only,) = check_paths(["src/model.py"])
    assert [d.start.row for d in safe_only.fixable] == [3, 4]
    (data,) = check_paths(["src/data.py"])
    assert data.fixable == ()
    (unsafe,) = check_paths(["src/data.py"], unsafe_fixes=True)
    assert [d.code for d in unsafe.fixable] == ["VM201"]


def test_check_paths_reports_unusable_paths(project: Path) -> None:
    (project / "src" / "old.py").write_text("from torch.autograd import Variable\nprint Variable(x)\n")
    results = {result.path: result for result in check_paths(["missing.py", "src/old.py"])}
    assert [str(error) for error in results["missing.py"].errors] == ["missing.py: no such file or directory"]
    assert results["src/old.py"].diagnostics == ()
    assert results["src/old.py"].errors[0].message.startswith("cannot parse:")


def test_check_paths_raises_for_bad_settings(project: Path) -> None:
    with pytest.raises(UnknownRuleError, match="VM999"):
        check_paths(["src"], select=["VM999"])
    (project / "pyproject.toml").write_text("[tool.varmigrate]\nselect = 1\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: `tool\.varmigrate\.select` must be a list"):
        check_paths(["src"])
    assert isinstance(ConfigError("x"), ValueError)


def test_public_api_is_exported() -> None:
    assert {"check_paths", "CheckedFile", "ConfigError", "FileError", "check_source", "fix_source"} <= set(
        varmigrate.__all__
    )
