"""The layering holds: imports point one way (cli -> output -> harness -> pipeline -> engine -> rules)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from layers import LAYERS, layer_of, violations

import varmigrate

PACKAGE = Path(varmigrate.__file__).parent


def test_the_package_imports_only_downwards() -> None:
    found = violations(PACKAGE, "varmigrate")
    assert not found, "\n".join(map(str, found))


def test_every_module_belongs_to_a_layer() -> None:
    from layers import modules

    homeless = [name for name, _ in modules(PACKAGE, "varmigrate") if layer_of(name, LAYERS) is None]
    assert homeless == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_wrong_way_import_is_found(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": "from pkg.high import thing\n",
            "high/__init__.py": "from pkg import low\n",
        },
    )
    found = violations(root, "pkg", layers=[("pkg.high",), ("pkg.low",)], forbidden={})
    assert [(v.module, v.line, v.target) for v in found] == [("pkg.low", 1, "pkg.high.thing")]


def test_relative_and_lazy_imports_count(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/inner.py": "def f():\n    from ..high import x\n    return x\n",
            "high.py": "",
        },
    )
    found = violations(root, "pkg", layers=[("pkg.high",), ("pkg.low",)], forbidden={})
    assert [(v.module, v.line, v.target) for v in found] == [("pkg.low.inner", 2, "pkg.high.x")]


def test_a_forbidden_library_is_found(tmp_path: Path) -> None:
    root = _package(tmp_path, {"__init__.py": "", "rules.py": "import rich.console\nimport re\n"})
    found = violations(root, "pkg", layers=[("pkg",)], forbidden={"pkg.rules": ("rich",)})
    assert [str(v) for v in found] == ["pkg.rules:1 imports rich.console (pkg.rules must not import rich)"]


def _imported_by(code: str) -> set[str]:
    program = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


@pytest.mark.slow
def test_import_varmigrate_loads_neither_rich_nor_libcst() -> None:
    loaded = _imported_by("import varmigrate")
    assert not {name for name in loaded if name.split(".")[0] in ("rich", "libcst", "torch")}
    # ...and the public names still come when asked for.
    assert "libcst" in _imported_by("from varmigrate import check_source")
