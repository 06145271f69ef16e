"""The Python API for paths: `check_paths` finds what `varmigrate check` finds, configured the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import varmigrate
from varmigrate import CheckedFile, ConfigError, UnknownRuleError, check_paths

LEGACY = "import torch\nfrom torch.autograd import Variable\na = Variable(torch.ones(2))\nb = Variable(a)\n"
DATA = "import torch\nx = loss.data[0]\n"
API_DOCS = Path(__file__).resolve().parent.parent / "docs" / "api.md"


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


BAD_SETTINGS = [
    pytest.param(
        {"pyproject.toml": "[tool.varmigrate]\nselect = 1\n"},
        {},
        ConfigError,
        r"^pyproject\.toml: `tool\.varmigrate\.select` must be a list",
        id="key-of-the-wrong-type",
    ),
    pytest.param(
        {"pyproject.toml": "[tool.varmigrate]\nselct = ['VM001']\n"},
        {},
        ConfigError,
        r"^pyproject\.toml: unknown key `tool\.varmigrate\.selct`",
        id="unknown-key",
    ),
    pytest.param(
        {"strict.toml": "select = [\n"},
        {"config": "strict.toml"},
        ConfigError,
        r"^strict\.toml: invalid TOML",
        id="config-file-that-does-not-parse",
    ),
    pytest.param({}, {"config": "absent.toml"}, ConfigError, r"absent\.toml: no such", id="missing-config"),
    pytest.param({}, {"select": ["VM999"]}, UnknownRuleError, "VM999", id="unknown-rule"),
]


@pytest.mark.parametrize(("files", "options", "error", "message"), BAD_SETTINGS)
def test_bad_settings_raise_a_value_error_naming_what_is_wrong(
    project: Path, files: dict[str, str], options: dict[str, object], error: type[Exception], message: str
) -> None:
    for name, text in files.items():
        (project / name).write_text(text)
    # The documented contract (docs/api.md): callers catch ValueError; the type and text say more.
    with pytest.raises(ValueError, match=message) as raised:
        check_paths(["src"], **options)  # type: ignore[arg-type]
    assert type(raised.value) is error


def documented_examples() -> list[str]:
    """The Python examples of docs/api.md that use the package (not the signatures)."""
    blocks = re.findall(r"```python\n(.*?)```", API_DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [block for block in blocks if block.startswith("from varmigrate import ")]


def test_documented_examples_run_on_the_public_api(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "train.py").write_text(LEGACY)
    examples = documented_examples()
    assert len(examples) == 2, "docs/api.md: expected the check_source/fix_source and check_paths examples"
    for example in examples:
        imported = re.match(r"from varmigrate import (.*)\n", example)
        assert imported is not None
        # Everything the docs import is public, and loads (the package loads its names lazily).
        names = [name.strip() for name in imported[1].split(",")]
        assert set(names) <= set(varmigrate.__all__)
        exec(example, {})
    assert capsys.readouterr().out.splitlines() == [
        "3:5 VM001 `Variable(...)` is deprecated and detaches its argument",
        "4:5 VM001 `Variable(...)` is deprecated and detaches its argument",
        "2 fixes applied",
        "error: notebooks/demo.ipynb: no such file or directory",
        "src/data.py:2:5: VM201 `.data[0]` raises `IndexError` if the tensor is 0-dim, as losses now are: "
        "use `.item()`",
        "src/model.py:3:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument",
        "src/model.py:4:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument",
    ]


def test_every_public_name_loads() -> None:
    # `import *` fetches each name in `__all__` through the package's lazy loader: a name listed but
    # not loadable (a wrong module in the table, a renamed class) raises here.
    namespace: dict[str, object] = {}
    exec("from varmigrate import *", namespace)
    for name in varmigrate.__all__:
        value = namespace[name]
        if isinstance(value, type) or callable(value):
            assert value.__module__.startswith("varmigrate"), name
