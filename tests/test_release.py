"""What a release promises users who copy the documentation: the pre-commit snippet's `rev:` names the tag
of this version (`v` + the package version), and the hooks it names exist in `.pre-commit-hooks.yaml` and
run commands this package installs."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from varmigrate import __version__
from varmigrate.cli import SUBCOMMANDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "https://github.com/varmigrate/varmigrate"
DOCUMENTS = ["README.md", "docs/pre-commit.md"]
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def manifest() -> list[dict[str, Any]]:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    hooks: list[dict[str, Any]] = yaml.safe_load(text)
    return hooks


def documented_repositories(document: str) -> list[dict[str, Any]]:
    """The entries for this repository in the document's `.pre-commit-config.yaml` snippets."""
    found = []
    for block in YAML_BLOCK.findall((ROOT / document).read_text(encoding="utf-8")):
        config = yaml.safe_load(block)
        if isinstance(config, dict):
            found += [repo for repo in config.get("repos", []) if repo.get("repo") == REPOSITORY]
    return found


def test_the_version_pyproject_reads_is_the_package_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "varmigrate.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_documented_rev_is_the_tag_of_this_version(document: str) -> None:
    repositories = documented_repositories(document)
    assert repositories, f"{document} shows no pre-commit snippet for {REPOSITORY}"
    assert {repo["rev"] for repo in repositories} == {f"v{__version__}"}


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_documented_hooks_are_in_the_manifest(document: str) -> None:
    ids = {hook["id"] for hook in manifest()}
    documented = {hook["id"] for repo in documented_repositories(document) for hook in repo["hooks"]}
    assert documented
    assert documented <= ids


def test_each_hook_runs_a_command_this_package_installs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    scripts = set(pyproject["project"]["scripts"])
    hooks = manifest()
    assert [hook["id"] for hook in hooks] == ["varmigrate", "varmigrate-fix"]
    for hook in hooks:
        program, subcommand, *_ = hook["entry"].split()
        assert program in scripts
        assert subcommand in SUBCOMMANDS
        assert hook["language"] == "python"
    # The report-only hook never writes; the fixing one fixes.
    assert [hook["entry"].split()[1] for hook in hooks] == ["check", "fix"]
