"""The pre-commit hooks as users run them: the real `pre-commit` against a snapshot of this checkout.

pre-commit clones a hook repository at a revision, so the tests commit the working tree as it is
(tracked and untracked files, .gitignore respected) into a throwaway repository and point
`.pre-commit-config.yaml` at that commit. One PRE_COMMIT_HOME serves the whole run, so the
hook's virtualenv (pip-installing this project) is built once: the tests share an xdist group, and
should they be spread over workers anyway, the first builds it under a file lock and the others wait.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from varmigrate._version import __version__

# One worker runs them all: the hook environment is built once and no worker waits for another.
pytestmark = [pytest.mark.precommit, pytest.mark.xdist_group("precommit")]

ROOT = Path(__file__).resolve().parents[1]
LEGACY = (
    "import torch\nfrom torch.autograd import Variable\nw = Variable(torch.ones(2, 2), requires_grad=True)\n"
)
FIXED = "import torch\nw = torch.ones(2, 2, requires_grad=True)\n"
# VM201's fix (`.data[0]` -> `.item()`) is unsafe: it changes behaviour on 0-dim and 1-element tensors.
DATA_INDEX = "import torch\nloss = torch.ones(3).sum()\nprint(loss.data[0])\n"
DATA_INDEX_FIXED = "import torch\nloss = torch.ones(3).sum()\nprint(loss.item())\n"
CLEAN = "import torch\nw = torch.ones(2, 2, requires_grad=True)\n"
MODIFIED = "- files were modified by this hook"
# A hook's status line: `name.....Passed`, `name.....Failed`, `name...(no files to check)Skipped`.
STATUS_LINE = re.compile(r"^(?P<name>.+?)\.{3,}(?P<status>Passed|Failed|\(no files to check\)Skipped)$")
DOCS = ROOT / "docs" / "pre-commit.md"
DOCS_REPO = "https://github.com/varmigrate/varmigrate"
DOCS_REV = f"rev: v{__version__}"
# Generous: the first run builds the hook's virtualenv, which pip-installs libcst, rich and pathspec.
TIMEOUT = 900


@dataclass(frozen=True)
class Run:
    """A finished command: exit code and interleaved stdout + stderr."""

    returncode: int
    output: str

    def statuses(self) -> dict[str, str]:
        """Hook name -> `Passed`, `Failed` or `Skipped`, from pre-commit's status lines."""
        found = {}
        for line in self.output.splitlines():
            match = STATUS_LINE.match(line)
            if match:
                found[match["name"]] = match["status"].rpartition(")")[2]
        return found


def _env(home: Path) -> dict[str, str]:
    """The environment for git and pre-commit: isolated from the user's git and pre-commit set-up."""
    # GIT_* from an enclosing git hook (GIT_DIR, GIT_INDEX_FILE) would redirect git; SKIP and
    # PRE_COMMIT_* change what pre-commit runs.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GIT_", "PRE_COMMIT")) and key != "SKIP"
    }
    env.update(
        PRE_COMMIT_HOME=str(home / "pre-commit"),
        PRE_COMMIT_COLOR="never",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
        GIT_AUTHOR_NAME="varmigrate tests",
        GIT_AUTHOR_EMAIL="tests@varmigrate.invalid",
        GIT_COMMITTER_NAME="varmigrate tests",
        GIT_COMMITTER_EMAIL="tests@varmigrate.invalid",
    )
    return env


def _run(args: Sequence[str], cwd: Path, env: dict[str, str]) -> Run:
    done = subprocess.run(
        list(args),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
        timeout=TIMEOUT,
    )
    return Run(done.returncode, done.stdout.decode("utf-8", errors="replace"))


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = _run(["git", *args], cwd, env)
    assert done.returncode == 0, f"git {' '.join(args)} failed:\n{done.output}"
    return done.output


def snapshot(destination: Path, env: dict[str, str]) -> str:
    """Commit the working tree of this checkout (as git sees it, uncommitted files too) at ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        timeout=TIMEOUT,
    ).stdout.decode()
    destination.mkdir()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is left out, as a commit would
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _git(destination, env, "init", "-q")
    _git(destination, env, "add", "-A")
    _git(destination, env, "commit", "-q", "--no-verify", "-m", "snapshot of the working tree")
    return _git(destination, env, "rev-parse", "HEAD").strip()


@dataclass(frozen=True)
class HookSource:
    """Where the hooks come from (a committed snapshot of this checkout) and the shared environment."""

    repo: Path
    rev: str
    env: dict[str, str]


def run_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this test run shares (this run's own without xdist)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return tmp_path_factory.getbasetemp()
    # Each worker's base is a subdirectory (popen-gw0, ...) of the run's directory.
    return tmp_path_factory.getbasetemp().parent


def build_hook_source(home: Path) -> HookSource:
    """Snapshot this checkout into ``home`` and build the hook environment from it."""
    home.mkdir()
    (home / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    env = _env(home)
    source = HookSource(home / "varmigrate", snapshot(home / "varmigrate", env), env)
    scratch = make_project(home / "scratch", source, [{"id": "varmigrate"}])
    built = pre_commit(scratch, source, "install-hooks")
    assert built.returncode == 0, f"cannot build the hook environment:\n{built.output}"
    return source


@pytest.fixture(scope="session")
def hook_source(tmp_path_factory: pytest.TempPathFactory) -> HookSource:
    """The snapshot and its hook environment, built once per test run however many workers share it."""
    shared = run_directory(tmp_path_factory)
    home = shared / "precommit-home"
    outcome = shared / "precommit-home.json"
    with open(shared / "precommit-home.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not outcome.exists():
            # The first worker builds; a failure is recorded so the others report it instead of retrying.
            try:
                source = build_hook_source(home)
            except BaseException as error:
                outcome.write_text(json.dumps({"error": str(error)}))
                raise
            outcome.write_text(json.dumps({"rev": source.rev}))
    built = json.loads(outcome.read_text())
    # The build is reported as such, in every worker.
    assert "error" not in built, f"cannot build the hook environment (in another worker):\n{built['error']}"
    return HookSource(home / "varmigrate", built["rev"], _env(home))


def make_project(path: Path, source: HookSource, hooks: list[dict[str, object]]) -> Path:
    """A fresh git repository at ``path`` whose pre-commit configuration uses ``hooks`` from ``source``."""
    # JSON is YAML: no YAML writer needed, and no quoting surprises in paths or regexes.
    config = {"repos": [{"repo": str(source.repo), "rev": source.rev, "hooks": hooks}]}
    return make_project_with_config(path, source, json.dumps(config, indent=2) + "\n")


def make_project_with_config(path: Path, source: HookSource, config: str) -> Path:
    """A fresh git repository at ``path`` with ``config`` as its .pre-commit-config.yaml."""
    path.mkdir()
    _git(path, source.env, "init", "-q")
    (path / ".pre-commit-config.yaml").write_text(config)
    return path


def pre_commit(project: Path, source: HookSource, *args: str) -> Run:
    """Run the real pre-commit (the one installed with the test dependencies) in ``project``."""
    return _run([sys.executable, "-m", "pre_commit", *args], project, source.env)


def write(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# -- the manifest ----------------------------------------------------------------------------------------


def test_manifest_is_valid_for_the_installed_pre_commit() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
        capture_output=True,
        check=False,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- check -----------------------------------------------------------------------------------------------


def test_check_hook_fails_on_legacy_code(tmp_path: Path, hook_source: HookSource) -> None:
    project = make_project(tmp_path / "project", hook_source, [{"id": "varmigrate"}])
    write(project, {"model.py": LEGACY})
    _git(project, hook_source.env, "add", "-A")
    done = pre_commit(project, hook_source, "run")
    assert done.returncode == 1, done.output
    assert done.statuses() == {"varmigrate": "Failed"}, done.output
    assert "model.py:3:5: VM001 [*] `Variable(...)` is deprecated" in done.output
    assert (project / "model.py").read_text() == LEGACY


def test_check_hook_passes_on_clean_code(tmp_path: Path, hook_source: HookSource) -> None:
    project = make_project(tmp_path / "project", hook_source, [{"id": "varmigrate"}])
    write(project, {"model.py": CLEAN, "pkg/util.py": "def f(x):\n    return x.detach()\n"})
    _git(project, hook_source.env, "add", "-A")
    done = pre_commit(project, hook_source, "run")
    assert done.returncode == 0, done.output
    assert done.statuses() == {"varmigrate": "Passed"}, done.output


# -- fix -------------------------------------------------------------------------------------------------


def test_fix_hook_rewrites_then_the_retried_commit_passes(tmp_path: Path, hook_source: HookSource) -> None:
    project = make_project(tmp_path / "project", hook_source, [{"id": "varmigrate-fix"}])
    write(project, {"model.py": LEGACY})
    installed = pre_commit(project, hook_source, "install")
    assert installed.returncode == 0, installed.output
    _git(project, hook_source.env, "add", "-A")

    first = _run(["git", "commit", "-m", "add model"], project, hook_source.env)
    assert first.returncode != 0, first.output
    assert first.statuses() == {"varmigrate (fix)": "Failed"}, first.output
    assert MODIFIED in first.output
    # `varmigrate fix` exits 0 when nothing is left to fix; the failure is pre-commit's "files were
    # modified", which is all a fixer needs (pre-commit prints "- exit code:" for a non-zero exit).
    assert "- exit code:" not in first.output
    assert (project / "model.py").read_text() == FIXED

    _git(project, hook_source.env, "add", "model.py")
    second = _run(["git", "commit", "-m", "add model"], project, hook_source.env)
    assert second.returncode == 0, second.output
    assert second.statuses() == {"varmigrate (fix)": "Passed"}, second.output
    assert _git(project, hook_source.env, "show", "HEAD:model.py") == FIXED


@pytest.mark.parametrize(
    ("args", "expected", "modified"),
    [
        pytest.param([], DATA_INDEX, False, id="safe-fixes-only-leave-it-reported"),
        pytest.param(["--unsafe-fixes"], DATA_INDEX_FIXED, True, id="unsafe-fixes-via-args"),
    ],
)
def test_fix_hook_applies_unsafe_fixes_only_when_args_ask(
    tmp_path: Path, hook_source: HookSource, args: list[str], expected: str, modified: bool
) -> None:
    project = make_project(tmp_path / "project", hook_source, [{"id": "varmigrate-fix", "args": args}])
    write(project, {"train.py": DATA_INDEX})
    _git(project, hook_source.env, "add", "-A")
    done = pre_commit(project, hook_source, "run")
    assert done.statuses() == {"varmigrate (fix)": "Failed"}, done.output
    assert (project / "train.py").read_text() == expected
    assert (MODIFIED in done.output) is modified
    # A finding left unfixed is the hook's own failure (exit 1), reported with its location.
    assert ("- exit code: 1" in done.output) is not modified
    assert ("train.py:3:7: VM201" in done.output) is not modified


# -- exclusions ------------------------------------------------------------------------------------------


def test_config_exclude_keeps_files_away_from_both_hooks(tmp_path: Path, hook_source: HookSource) -> None:
    hooks: list[dict[str, object]] = [
        {"id": "varmigrate", "exclude": "^third_party/"},
        {"id": "varmigrate-fix", "exclude": "^third_party/"},
    ]
    project = make_project(tmp_path / "project", hook_source, hooks)
    write(project, {"third_party/old.py": LEGACY, "src/model.py": LEGACY})
    _git(project, hook_source.env, "add", "-A")
    done = pre_commit(project, hook_source, "run")
    # src/model.py proves the hooks ran: the check fails on it and the fix rewrites it.
    assert done.statuses() == {"varmigrate": "Failed", "varmigrate (fix)": "Failed"}, done.output
    assert "third_party" not in done.output
    assert (project / "src/model.py").read_text() == FIXED
    assert (project / "third_party/old.py").read_text() == LEGACY


@pytest.mark.parametrize(
    ("entry", "generated_fixed"),
    [
        pytest.param(None, False, id="published-hook-honours-exclude"),
        # The same hook without --force-exclude: pre-commit names the file, so the exclude is ignored.
        pytest.param("varmigrate fix", True, id="without-force-exclude-file-is-fixed"),
    ],
)
def test_force_exclude_applies_exclude_args_to_files_pre_commit_names(
    tmp_path: Path, hook_source: HookSource, entry: str | None, generated_fixed: bool
) -> None:
    hook: dict[str, object] = {"id": "varmigrate-fix", "args": ["--exclude", "generated/"]}
    if entry is not None:
        hook["entry"] = entry
    project = make_project(tmp_path / "project", hook_source, [hook])
    write(project, {"generated/model_pb.py": LEGACY, "src/model.py": LEGACY})
    _git(project, hook_source.env, "add", "-A")
    done = pre_commit(project, hook_source, "run")
    assert done.statuses() == {"varmigrate (fix)": "Failed"}, done.output
    assert (project / "src/model.py").read_text() == FIXED
    assert (project / "generated/model_pb.py").read_text() == (FIXED if generated_fixed else LEGACY)


def test_pyproject_excludes_apply_to_files_pre_commit_names(tmp_path: Path, hook_source: HookSource) -> None:
    project = make_project(tmp_path / "project", hook_source, [{"id": "varmigrate-fix"}])
    write(
        project,
        {
            "pyproject.toml": '[tool.varmigrate]\nextend-exclude = ["vendored/"]\n',
            "vendored/old.py": LEGACY,
            "src/model.py": LEGACY,
        },
    )
    _git(project, hook_source.env, "add", "-A")
    done = pre_commit(project, hook_source, "run")
    assert done.statuses() == {"varmigrate (fix)": "Failed"}, done.output
    assert (project / "src/model.py").read_text() == FIXED
    assert (project / "vendored/old.py").read_text() == LEGACY


# -- notebooks -------------------------------------------------------------------------------------------


def notebook(*cells: str) -> str:
    """An nbformat 4 notebook with one code cell per source."""
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": cell.splitlines(keepends=True),
                }
                for cell in cells
            ],
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


def test_staged_notebook_is_passed_to_both_hooks(tmp_path: Path, hook_source: HookSource) -> None:
    hooks: list[dict[str, object]] = [{"id": "varmigrate"}, {"id": "varmigrate-fix"}]
    project = make_project(tmp_path / "project", hook_source, hooks)
    write(project, {"analysis.ipynb": notebook(CLEAN)})
    _git(project, hook_source.env, "add", "analysis.ipynb")
    # Only the notebook is staged (the config is not a source file): a hook that was not given it
    # would report "(no files to check)Skipped".
    done = pre_commit(project, hook_source, "run")
    assert done.statuses() == {"varmigrate": "Passed", "varmigrate (fix)": "Passed"}, done.output
    assert "error" not in done.output.lower()


def test_staged_notebook_is_checked_and_fixed_by_cell(tmp_path: Path, hook_source: HookSource) -> None:
    project = make_project(tmp_path / "project", hook_source, [{"id": "varmigrate"}])
    write(project, {"analysis.ipynb": notebook("print('setup')\n", LEGACY)})
    _git(project, hook_source.env, "add", "analysis.ipynb")
    checked = pre_commit(project, hook_source, "run")
    assert checked.statuses() == {"varmigrate": "Failed"}, checked.output
    assert "analysis.ipynb:cell 2:3:5: VM001" in checked.output

    fix_project = make_project(tmp_path / "fix-project", hook_source, [{"id": "varmigrate-fix"}])
    write(fix_project, {"analysis.ipynb": notebook("print('setup')\n", LEGACY)})
    _git(fix_project, hook_source.env, "add", "analysis.ipynb")
    fixed = pre_commit(fix_project, hook_source, "run")
    assert fixed.statuses() == {"varmigrate (fix)": "Failed"}, fixed.output
    assert MODIFIED in fixed.output
    cells = json.loads((fix_project / "analysis.ipynb").read_text())["cells"]
    assert "".join(cells[1]["source"]) == FIXED


# -- the documented configuration ------------------------------------------------------------------------


def docs_yaml() -> list[str]:
    """The YAML blocks of docs/pre-commit.md: a whole configuration, then hook entries to put in it."""
    return re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)


def docs_config(source: HookSource, hook: str | None = None) -> str:
    """The documented configuration pointing at ``source``, with its hooks replaced by ``hook``."""
    config = docs_yaml()[0]
    assert DOCS_REPO in config
    assert DOCS_REV in config
    config = config.replace(DOCS_REPO, str(source.repo)).replace(DOCS_REV, f"rev: {source.rev}")
    if hook is not None:
        config = config[: config.index("hooks:\n") + len("hooks:\n")] + hook
    return config


def test_documented_configuration_runs_as_written(tmp_path: Path, hook_source: HookSource) -> None:
    project = make_project_with_config(tmp_path / "project", hook_source, docs_config(hook_source))
    write(project, {"model.py": LEGACY})
    _git(project, hook_source.env, "add", "-A")
    done = pre_commit(project, hook_source, "run")
    assert done.statuses() == {"varmigrate (fix)": "Failed"}, done.output
    assert (project / "model.py").read_text() == FIXED


@pytest.mark.parametrize(
    "hook",
    [pytest.param(block, id=block.splitlines()[1].strip()) for block in docs_yaml()[1:]],
)
def test_documented_hook_settings_are_accepted(tmp_path: Path, hook_source: HookSource, hook: str) -> None:
    project = make_project_with_config(tmp_path / "project", hook_source, docs_config(hook_source, hook))
    write(project, {"src/model.py": CLEAN})
    _git(project, hook_source.env, "add", "-A")
    done = pre_commit(project, hook_source, "run")
    # Passed, not Skipped: the hook got the file and took its arguments.
    assert done.returncode == 0, done.output
    assert set(done.statuses().values()) == {"Passed"}, done.output
