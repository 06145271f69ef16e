"""Trees of modules that import each other (fixtures/projects/<case>/): findings, fixes, and the program.

A case is a folder with ``before/`` (the tree as written), ``after/`` (the files ``varmigrate fix`` over
the whole tree changes, as it leaves them; a file not there must not change), ``diagnostics.txt`` (what
``varmigrate check`` reports, one concise line per finding) and ``case.toml``: ``run``, the arguments of
the Python process that runs the program in the tree (a script, ``-m package.module``), or ``notebook``,
a notebook whose code cells are run in order; and optionally ``alone``, the error the program ends in
when each file is fixed on its own, as a module-by-module fix did before the project view.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_cases import FIXTURES, tomllib
from programs import run_python

from varmigrate.cli import main
from varmigrate.engine import fix_source
from varmigrate.notebook import fix_notebook

PROJECTS = FIXTURES / "projects"
CASE_FILES = {"before", "after", "diagnostics.txt", "case.toml"}
CASE_SETTINGS = {"run", "notebook", "alone"}
# Runs the code cells of a notebook in order, in one namespace, from the notebook's folder (as Jupyter).
NOTEBOOK_RUNNER = """
import json, sys
sys.path.insert(0, "")
notebook = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
for cell in notebook["cells"]:
    if cell["cell_type"] == "code":
        exec(compile("".join(cell["source"]), sys.argv[1], "exec"), namespace)
"""


@dataclass(frozen=True)
class ProjectCase:
    """One folder of fixtures/projects/."""

    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def before(self) -> Path:
        return self.folder / "before"

    @property
    def after(self) -> Path:
        return self.folder / "after"

    @property
    def settings(self) -> dict[str, object]:
        return tomllib.loads((self.folder / "case.toml").read_text(encoding="utf-8"))

    def command(self) -> list[str]:
        """The command that runs the program, from the tree's root."""
        settings = self.settings
        if "notebook" in settings:
            return [sys.executable, "-c", NOTEBOOK_RUNNER, str(settings["notebook"])]
        run = settings["run"]
        assert isinstance(run, list)
        return [sys.executable, *map(str, run)]


CASES = [ProjectCase(folder) for folder in sorted(PROJECTS.iterdir()) if folder.is_dir()]


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by its relative path (caches and bytecode left out)."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and ".varmigrate_cache" not in path.parts
    }


def _copy(case: ProjectCase, tmp_path: Path, *, fixed: bool = False) -> Path:
    """A copy of the case's tree as written (with ``fixed``: as `fix` leaves it, after/ laid over it)."""
    tree = tmp_path / case.id
    shutil.copytree(case.before, tree, ignore=shutil.ignore_patterns("__pycache__"))
    if fixed:
        shutil.copytree(case.after, tree, dirs_exist_ok=True)
    return tree


def _expected(case: ProjectCase) -> dict[str, bytes]:
    """Every file of the tree as `fix` must leave it."""
    return {**_files(case.before), **_files(case.after)}


def _run(command: list[str], tree: Path) -> subprocess.CompletedProcess[str]:
    assert command[0] == sys.executable
    return run_python(command[1:], tree)


def test_every_project_case_is_complete() -> None:
    assert {case.id for case in CASES} >= {"two_modules", "three_module_package", "notebook_star_import"}
    for case in CASES:
        assert {path.name for path in case.folder.iterdir()} == CASE_FILES, case.id
        assert set(case.settings) <= CASE_SETTINGS, case.id
        assert ("run" in case.settings) != ("notebook" in case.settings), case.id
        before = _files(case.before)
        unchanged = [name for name, data in _files(case.after).items() if before.get(name) == data]
        assert not unchanged, f"{case.id}: after/ holds files the fix leaves alone: {unchanged}"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_check_follows_names_across_modules(
    case: ProjectCase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    update_fixtures: bool,
) -> None:
    monkeypatch.chdir(_copy(case, tmp_path))
    main(["check", "--isolated", "--no-cache", "--quiet", "--output-format", "concise", "."])
    actual = capsys.readouterr().out
    expected = case.folder / "diagnostics.txt"
    if update_fixtures:
        expected.write_text(actual, encoding="utf-8")
    assert actual == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_fix_gives_the_after_tree(
    case: ProjectCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_fixtures: bool
) -> None:
    tree = _copy(case, tmp_path)
    monkeypatch.chdir(tree)
    main(["fix", "--isolated", "--no-cache", "--quiet", "."])
    if update_fixtures:
        shutil.rmtree(case.after, ignore_errors=True)
        before = _files(case.before)
        for name, data in _files(tree).items():
            if before.get(name) != data:
                (case.after / name).parent.mkdir(parents=True, exist_ok=True)
                (case.after / name).write_bytes(data)
    assert _files(tree) == _expected(case)
    main(["fix", "--isolated", "--no-cache", "--quiet", "."])
    assert _files(tree) == _expected(case), "a second fix changed the tree again"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_after_tree_prints_the_same(case: ProjectCase, tmp_path: Path) -> None:
    """The after/ tree (what `varmigrate fix` over the tree gives: `test_fix_gives_the_after_tree`) runs,
    and prints the same losses and gradients, digit for digit, as before/ (before the project view, the
    fixed program ended in a NameError)."""
    before = _run(case.command(), _copy(case, tmp_path / "before"))
    after = _run(case.command(), _copy(case, tmp_path / "after", fixed=True))
    assert before.returncode == 0, before.stderr
    assert before.stdout
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", [case for case in CASES if "alone" in case.settings], ids=lambda case: case.id
)
def test_fixing_each_module_alone_breaks_the_program(case: ProjectCase, tmp_path: Path) -> None:
    """What `fix` did before the project view: each file fixed on its own, and the program no longer runs."""
    tree = _copy(case, tmp_path)
    for path in tree.rglob("*"):
        if path.suffix == ".py":
            path.write_text(fix_source(path.read_text(encoding="utf-8")).source, encoding="utf-8")
        elif path.suffix == ".ipynb":
            fixed = fix_notebook(path.read_bytes()).data
            if fixed is not None:
                path.write_bytes(fixed)
    done = _run(case.command(), tree)
    assert done.returncode != 0
    assert str(case.settings["alone"]) in done.stderr
