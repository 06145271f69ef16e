"""The project view (varmigrate/pipeline/project.py): what imports between a tree's modules bind where,
which imports other modules need, and what `check` and `fix` make of it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from support import write

from varmigrate.cli import main
from varmigrate.model import ProjectImports
from varmigrate.pipeline import Job, Mode, kept_imports, prepare
from varmigrate.pipeline.import_scan import _import_statements, still_uses
from varmigrate.pipeline.project import ProjectView, project_view
from varmigrate.pipeline.screen import project_view_needed

MODEL = (
    "import torch\nfrom torch.autograd import Variable\n\n\ndef weights():\n"
    + "    return Variable(torch.ones(2))\n"
)
TRAIN = "import torch\nfrom model import *\n\nx = Variable(torch.zeros(2))\n"


def _tree(root: Path, files: dict[str, str]) -> dict[Path, bytes]:
    return {write(root / name, text): text.encode() for name, text in files.items()}


def _view(root: Path, files: dict[str, str], *, given: list[str] | None = None) -> ProjectView:
    """The view of a run over ``given`` (default: all) of the files ``files``, written under ``root``."""
    tree = _tree(root, files)
    names = given if given is not None else list(files)
    return project_view({root / name: tree[root / name] for name in names}, fixes=True)


def _variable(view: ProjectView, root: Path, name: str) -> tuple[tuple[str, str], ...]:
    facts = view.settings_for(root / name)
    return facts.variable if facts is not None else ()


def test_a_star_import_of_a_module_gives_its_variable(tmp_path: Path) -> None:
    view = _view(tmp_path, {"model.py": MODEL, "train.py": TRAIN})
    train = view.settings_for(tmp_path / "train.py")
    assert train == ProjectImports((("Variable", "model.py"),), frozenset({"Variable"}), reaches_torch=True)
    # model.py's import is what train.py runs on: kept until the run has fixed train.py's uses.
    model = view.settings_for(tmp_path / "model.py")
    assert model is not None
    assert model.imported_elsewhere == {"Variable"}
    assert view.pending == {tmp_path / "model.py": {"Variable": frozenset({tmp_path / "train.py"})}}


@pytest.mark.parametrize(
    ("importer", "expected"),
    [
        ("from model import Variable\nVariable(x)\n", "model.Variable"),
        ("from model import Variable as V\nV(x)\n", "model.Variable"),
        ("import model\nmodel.Variable(x)\n", "model.Variable"),
        ("import pkg.deep as d\nd.Variable(x)\n", "pkg.deep.Variable"),
        ("import pkg.deep\npkg.deep.Variable(x)\n", "pkg.deep.Variable"),
        ("from pkg import deep\ndeep.Variable(x)\n", "pkg.deep.Variable"),
        ("from pkg.deep import *\nVariable(x)\n", "Variable"),
        # Attributes count only where the module writes them.
        ("import model\nVariable(x)\n", None),
    ],
)
def test_explicit_imports_give_qualified_names(tmp_path: Path, importer: str, expected: str | None) -> None:
    files = {"model.py": MODEL, "pkg/__init__.py": "", "pkg/deep.py": MODEL, "train.py": importer}
    names = [name for name, _ in _variable(_view(tmp_path, files), tmp_path, "train.py")]
    assert names == ([expected] if expected else [])


def test_relative_imports_resolve_from_the_package(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/layers.py": MODEL,
        "pkg/model.py": "from .layers import *\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/use.py": (
            "from ..model import *\nfrom ..layers import Variable as V\nfrom .. import layers\nVariable\n"
        ),
    }
    assert _variable(_view(tmp_path, files), tmp_path, "pkg/sub/use.py") == (
        # `from ..layers import Variable as V` and `layers.Variable` after `from .. import layers`.
        ("..layers.Variable", "../layers.py"),
        ("Variable", "../layers.py"),
    )


def test_all_decides_what_a_star_import_gives(tmp_path: Path) -> None:
    hidden = {"model.py": MODEL + "__all__ = ['weights']\n", "train.py": TRAIN}
    assert _variable(_view(tmp_path / "a", hidden), tmp_path / "a", "train.py") == ()
    listed = {"model.py": MODEL + "__all__ = ['weights', 'Variable']\n", "train.py": TRAIN}
    assert _variable(_view(tmp_path / "b", listed), tmp_path / "b", "train.py") == (("Variable", "model.py"),)


def test_a_name_rebound_after_the_import_is_not_torchs(tmp_path: Path) -> None:
    files = {"model.py": MODEL + "Variable = None\n", "train.py": TRAIN}
    assert _variable(_view(tmp_path, files), tmp_path, "train.py") == ()


def test_an_unknown_star_import_after_it_may_rebind_it(tmp_path: Path) -> None:
    files = {
        "model.py": MODEL,
        "train.py": TRAIN.replace("from model import *\n", "from model import *\nfrom os import *\n"),
    }
    assert _variable(_view(tmp_path, files), tmp_path, "train.py") == ()


def test_chains_and_cycles(tmp_path: Path) -> None:
    files = {
        "a.py": MODEL + "from c import *\n",
        "b.py": "from a import *\n",
        "c.py": "from b import *\nVariable\n",
    }
    view = _view(tmp_path, files)
    assert _variable(view, tmp_path, "c.py") == (("Variable", "a.py"),)
    assert view.pending == {tmp_path / "a.py": {"Variable": frozenset({tmp_path / "c.py"})}}


def test_an_alias_is_followed_by_its_spelling(tmp_path: Path) -> None:
    files = {
        "model.py": MODEL.replace("import Variable", "import Variable as V").replace("Variable(", "V("),
        "train.py": "from model import *\nx = V(y)\n",
    }
    facts = _view(tmp_path, files).settings_for(tmp_path / "train.py")
    assert facts is not None
    assert facts.variable == (("V", "model.py"),)
    assert facts.spellings == {"V"}


def test_a_file_alone_reads_the_modules_it_imports_from_disk(tmp_path: Path) -> None:
    view = _view(tmp_path, {"model.py": MODEL, "train.py": TRAIN}, given=["train.py"])
    assert _variable(view, tmp_path, "train.py") == (("Variable", "model.py"),)


def test_torch_reached_only_through_the_project(tmp_path: Path) -> None:
    files = {
        "main.py": "import torch\nnet = torch.nn.Linear(2, 1)\n",
        "use.py": "from main import *\nprint(out.data[0])\n",
    }
    facts = _view(tmp_path, files).settings_for(tmp_path / "use.py")
    assert facts == ProjectImports(reaches_torch=True)
    unrelated = {"main.py": "x = 1\n", "use.py": "from main import *\nprint(out.data[0])\n"}
    assert _view(tmp_path / "other", unrelated).settings_for(tmp_path / "other" / "use.py") is None


def test_imports_that_cannot_be_read_are_skipped(tmp_path: Path) -> None:
    files = {
        "model.py": MODEL,
        "train.py": "from model import (\n    Variable,\nprint Variable\nfrom model import *\nVariable\n",
    }
    assert _variable(_view(tmp_path, files), tmp_path, "train.py") == (("Variable", "model.py"),)


@pytest.mark.parametrize(
    "files",
    [
        {"model.py": MODEL, "train.py": TRAIN},
        {
            "main.py": "import torch\nnet = torch.nn.Linear(2, 1)\n",
            "use.py": "from main import *\nout.data[0]\n",
        },
        {"a.py": "x = y.volatile\n"},
        {"ag.py": "import torch.autograd as ag\n", "use.py": "from ag import *\ng = ag.grad\n"},
        {"clean.py": "import torch\nx = torch.ones(2, requires_grad=True)\nx.sum().backward()\n"},
        {"data.py": "import torch\nprint(x.data [ 0 ])\n", "other.py": "z = 1\n"},
    ],
    ids=["star-import", "data-index-zero", "volatile", "autograd-alias", "clean", "torch-spelled"],
)
@pytest.mark.parametrize("fixes", [False, True], ids=["check", "fix"])
def test_a_view_the_screen_rules_out_is_empty(tmp_path: Path, files: dict[str, str], fixes: bool) -> None:
    """What lets a run skip the project view: when the screen says so, the view has nothing."""
    tree = _tree(tmp_path, files)
    if not project_view_needed(tree, fixes=fixes):
        assert project_view(tree, fixes=fixes) == ProjectView()


# -- which imports other modules need --------------------------------------------------------------------


def test_an_import_that_names_it_keeps_it_for_good(tmp_path: Path) -> None:
    view = _view(tmp_path, {"model.py": MODEL, "train.py": TRAIN, "eval.py": "from model import Variable\n"})
    assert view.pending == {}
    facts = view.settings_for(tmp_path / "model.py")
    assert facts is not None
    assert facts.imported_elsewhere == {"Variable"}


def test_a_user_outside_the_run_keeps_it(tmp_path: Path) -> None:
    view = _view(tmp_path, {"model.py": MODEL, "train.py": TRAIN}, given=["model.py"])
    assert view.pending == {}
    facts = view.settings_for(tmp_path / "model.py")
    assert facts is not None
    assert facts.imported_elsewhere == {"Variable"}


def test_too_many_files_to_look_at_keep_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kept_imports, "MAX_DISK_FILES", 0)
    view = _view(tmp_path, {"model.py": MODEL, "unrelated.py": "x = 1\n"}, given=["model.py"])
    facts = view.settings_for(tmp_path / "model.py")
    assert facts is not None
    assert facts.imported_elsewhere == {"Variable"}


def test_nobody_importing_it_leaves_the_clean_up_alone(tmp_path: Path) -> None:
    view = _view(tmp_path, {"model.py": MODEL, "other.py": "from model import weights\nVariable = 1\n"})
    assert view.settings_for(tmp_path / "model.py") is None
    assert view.pending == {}


def test_an_alias_of_torch_autograd_that_others_use_is_kept(project: Path) -> None:
    model = "import torch\nimport torch.autograd as ag\nfrom torch import autograd\n\n\ndef f(x):\n"
    model += "    return ag.Variable(x) + autograd.Variable(x)\n"
    train = "from model import *\n\ng = ag.grad\n"
    _tree(project, {"model.py": model, "train.py": train})
    main(["fix", "--no-cache", "--quiet", "."])
    fixed = (project / "model.py").read_text()
    # train.py still uses `ag` (it came with the star import); nobody uses `autograd`.
    assert (
        fixed
        == "import torch\nimport torch.autograd as ag\n\n\ndef f(x):\n    return x.detach() + x.detach()\n"
    )


@pytest.mark.parametrize(
    "line",
    [
        "import a.b as c, d",
        "from . import x",
        "from .. import *",
        "from x import a as b, c  # comment",
        "from   spaced  import  *",
        "from .m.n import a",
        "import numpy as np",
    ],
)
def test_one_line_imports_read_as_cpython_reads_them(line: str) -> None:
    """The regular expression for plain one-line imports gives what CPython's parser gives."""
    fast = list(_import_statements(line + "\n"))
    assert fast == list(_import_statements(f"{line};\n"))  # `;`: not the one-line form, so parsed


def test_only_code_counts_as_a_use() -> None:
    path = Path("a.py")
    assert not still_uses(
        path, b'"""Variable, as in the old days."""\nx = 1  # no Variable here\n', "Variable"
    )
    assert still_uses(path, b"x = Variable(y)\n", "Variable")
    assert still_uses(path, b"print(f'{Variable(y)}')\n", "Variable")
    assert not still_uses(path, b"VariableX = 1\n", "Variable")


# -- check and fix over a tree -------------------------------------------------------------------------


def test_check_reports_a_star_imported_variable(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tree(project, {"model.py": MODEL, "train.py": TRAIN})
    assert main(["check", "--no-cache", "--quiet", "--output-format", "concise", "train.py"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "train.py:4:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument"
    ]


def test_fix_of_the_whole_tree_removes_the_import_once_every_use_is_fixed(project: Path) -> None:
    _tree(project, {"model.py": MODEL, "train.py": TRAIN})
    assert main(["fix", "--no-cache", "--quiet", "."]) == 0
    assert (
        project / "model.py"
    ).read_text() == "import torch\n\n\ndef weights():\n    return torch.ones(2)\n"
    assert (project / "train.py").read_text() == "import torch\nfrom model import *\n\nx = torch.zeros(2)\n"


def test_fix_of_one_module_keeps_the_import_another_file_uses(project: Path) -> None:
    _tree(project, {"model.py": MODEL, "train.py": TRAIN})
    main(["fix", "--no-cache", "--quiet", "model.py"])
    assert "from torch.autograd import Variable\n" in (project / "model.py").read_text()
    assert (project / "train.py").read_text() == TRAIN


def test_a_use_left_unfixed_keeps_the_import(project: Path) -> None:
    _tree(project, {"model.py": MODEL, "train.py": TRAIN + "xs = map(Variable, [x])\n"})
    main(["fix", "--no-cache", "--quiet", "."])
    assert "from torch.autograd import Variable\n" in (project / "model.py").read_text()


def test_in_one_process_too(project: Path) -> None:
    """Without worker processes (the Python API's way), a waiting module waits for its users as well."""
    _tree(project, {"model.py": MODEL, "train.py": TRAIN})
    items = [(Path("model.py"), Job(mode=Mode.FIX)), (Path("train.py"), Job(mode=Mode.FIX))]
    assert [result.fixed for result in prepare(items)] == [1, 1]
    assert "Variable" not in (project / "model.py").read_text()


def test_the_cache_follows_the_module_it_imports(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tree(project, {"model.py": MODEL, "train.py": TRAIN})
    check = ["check", "--quiet", "--output-format", "concise", "train.py"]
    assert main(check) == 1
    write(project / "model.py", "import torch\n")
    assert main(check) == 0
    write(project / "model.py", MODEL)
    assert main(check) == 1
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_stdin_with_a_file_name_sees_the_modules_beside_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "model.py", MODEL)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(TRAIN.encode())))
    assert (
        main(["check", "--no-cache", "--quiet", "--output-format", "concise", "--stdin-filename", "train.py"])
        == 1
    )
    assert capsys.readouterr().out.splitlines() == [
        "train.py:4:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument"
    ]
