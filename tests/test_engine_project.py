"""The engine with the project view in its settings: names other modules of the project bind to torch's
`Variable` are torch's `Variable`, and imports other modules need stay."""

from __future__ import annotations

from varmigrate.engine import Settings, check_source, fix_source
from varmigrate.engine.imports import _clean_with_codemods
from varmigrate.model import ProjectImports


def _in_project(*names: tuple[str, str], spellings: tuple[str, ...] = ("Variable",)) -> Settings:
    project = ProjectImports(variable=names, spellings=frozenset(spellings), reaches_torch=True)
    return Settings().in_project(project)


STAR_IMPORTER = """\
import torch
from model import *

x = Variable(torch.arange(3.0))


def shadowed(Variable):
    return Variable(x)


def assigned():
    Variable = list
    return Variable(x)
"""


def test_a_star_imported_name_is_torchs_variable_where_it_is_unbound() -> None:
    settings = _in_project(("Variable", "model.py"))
    assert [(d.start.row, d.code) for d in check_source(STAR_IMPORTER, settings)] == [(4, "VM001")]
    fixed = fix_source(STAR_IMPORTER, settings).source
    assert "x = torch.arange(3.0)\n" in fixed
    assert "return Variable(x)" in fixed  # the parameter and the local are not torch's


def test_without_the_project_view_a_star_imported_name_is_unknown() -> None:
    assert check_source(STAR_IMPORTER) == []


def test_explicit_imports_resolve_by_qualified_name() -> None:
    source = (
        "from model import Variable as V\n"
        "import pkg.model as m\n"
        "from .sibling import Variable\n"
        "from . import sibling\n"
        "from other import Variable as W\n"
        "a = V(t)\n"
        "b = m.Variable(t)\n"
        "c = Variable(t)\n"
        "d = sibling.Variable(t)\n"
        "e = W(t)\n"
    )
    settings = _in_project(
        ("model.Variable", "model.py"),
        ("pkg.model.Variable", "pkg/model.py"),
        (".sibling.Variable", "sibling.py"),
        spellings=("V", "Variable"),
    )
    assert [d.start.row for d in check_source(source, settings)] == [6, 7, 8, 9]
    fixed = fix_source(source, settings).source
    assert fixed.splitlines()[5:] == [
        "a = t.detach()",
        "b = t.detach()",
        "c = t.detach()",
        "d = t.detach()",
        "e = W(t)",
    ]
    # Imports of the project's modules are not torch's: the clean-up leaves them.
    assert fixed.startswith("from model import Variable as V\nimport pkg.model as m\n")


def test_torch_reached_through_the_project_needs_no_torch_in_the_text() -> None:
    source = "from main import *\n\nprint(loss.data[0])\nx = Variable(img, volatile=True)\n"
    assert check_source(source) == []
    settings = _in_project(("Variable", "main.py"))
    assert [d.code for d in check_source(source, settings)] == ["VM201", "VM001"]
    # torch, but not `Variable`: `volatile=` goes to some other callable.
    only_torch = Settings().in_project(ProjectImports(reaches_torch=True))
    assert [d.code for d in check_source(source, only_torch)] == ["VM201", "VM002"]


def test_an_import_other_modules_need_is_kept() -> None:
    source = "import torch\nfrom torch.autograd import Variable\n\n\ndef f(t):\n    return Variable(t)\n"
    kept = Settings(project=ProjectImports(imported_elsewhere=frozenset({"Variable"})))
    assert fix_source(source, kept).source == source.replace("Variable(t)", "t.detach()")
    assert "import Variable" not in fix_source(source).source


def test_the_codemod_clean_up_keeps_them_too() -> None:
    source = "import torch\nfrom torch.autograd import Variable\nimport torch.autograd as ag\nx = 1\n"
    assert _clean_with_codemods(source, (), frozenset({"Variable", "ag"})).text == source
    assert _clean_with_codemods(source, ()).text == "import torch\nx = 1\n"
