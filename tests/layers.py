"""The package's layering, and a checker that finds imports going the wrong way.

Layers are listed top to bottom; a module may import from its own layer and the layers below it,
never from a layer above. Imports are read from the source with `ast` (function-level imports and
`if TYPE_CHECKING:` blocks included: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# Top to bottom. The package's own `__init__` is the facade: it may name anything (lazily).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("varmigrate", "varmigrate.__main__", "varmigrate.cli"),
    ("varmigrate.output", "varmigrate.api"),
    ("varmigrate.harness",),
    ("varmigrate.pipeline", "varmigrate.config", "varmigrate.per_file_ignores", "varmigrate.cache"),
    ("varmigrate.notebook", "varmigrate.documents", "varmigrate.sources"),
    ("varmigrate.engine",),
    ("varmigrate.rules",),
    (
        "varmigrate.noqa",
        "varmigrate.model",
        "varmigrate.diagnostics",
        "varmigrate._version",
        "varmigrate._lazy",
    ),
)

# Third-party or standard modules a part of the package must never import (prefix match).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # Rules know PyTorch (as facts) and LibCST, nothing about files, processes or terminals.
    "varmigrate.rules": ("torch", "rich", "os", "pathlib", "subprocess", "sys"),
    "varmigrate.engine": ("torch", "rich", "os", "pathlib", "subprocess", "sys"),
    "varmigrate.model": ("libcst", "rich", "torch"),
    "varmigrate.noqa": ("libcst", "rich", "torch"),
    "varmigrate.config": ("libcst", "rich", "torch"),
    "varmigrate.sources": ("libcst", "rich", "torch"),
    "varmigrate.pipeline": ("rich", "torch"),
    "varmigrate.notebook": ("rich", "torch"),
    "varmigrate.documents": ("rich", "torch"),
    "varmigrate.output": ("torch",),
    "varmigrate.cli": ("torch",),
    "varmigrate.api": ("torch", "rich"),
}


@dataclass(frozen=True)
class Violation:
    """``module`` (at ``line``) imports ``target``, which it must not."""

    module: str
    line: int
    target: str
    why: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target} ({self.why})"


def modules(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every module of the package at ``root``."""
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join([package, *parts]), path


def imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything ``path`` imports; relative imports resolved against ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                # `from pkg import sub` may name a submodule: count both, the checker takes the deepest.
                yield node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base


def layer_of(name: str, layers: Sequence[Sequence[str]]) -> int | None:
    """The index of the layer whose longest prefix names ``name``; None outside the layers."""
    best: tuple[int, int] | None = None
    for index, layer in enumerate(layers):
        for prefix in layer:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def violations(
    root: Path,
    package: str,
    layers: Sequence[Sequence[str]] = LAYERS,
    forbidden: dict[str, tuple[str, ...]] | None = None,
) -> list[Violation]:
    """Every import in the package at ``root`` that goes up the layers or reaches a forbidden module."""
    forbidden = FORBIDDEN if forbidden is None else forbidden
    found: list[Violation] = []
    for module, path in modules(root, package):
        own = layer_of(module, layers)
        for line, target in imports(path, module):
            if target == package or target.startswith(package + "."):
                # `from varmigrate.rules import nodes` names a module; `import ... Settings` a name in one.
                layer = layer_of(target, layers)
                if own is not None and layer is not None and layer < own:
                    found.append(Violation(module, line, target, "a higher layer"))
                continue
            for prefix, banned in forbidden.items():
                if module == prefix or module.startswith(prefix + "."):
                    top = target.split(".")[0]
                    if top in banned:
                        found.append(Violation(module, line, target, f"{prefix} must not import {top}"))
    return found
