"""The context's own traversal and metadata agree with LibCST's visitors and providers, node for node."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, ParentNodeProvider, QualifiedName, QualifiedNameProvider

from varmigrate.rules.context import ModuleContext

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "fixtures").rglob("*.py"))


class _Order(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes.append(node)
        return True


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT / "fixtures").as_posix())
def test_walk_parents_and_qualified_names_match_libcst(path: Path) -> None:
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    ctx = ModuleContext.build(module, module.code)
    visitor = _Order()
    module.visit(visitor)
    assert [id(n) for n in ctx.nodes()] == [id(n) for n in visitor.nodes]
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    parents = wrapper.resolve(ParentNodeProvider)
    qualified = wrapper.resolve(QualifiedNameProvider)
    empty: set[QualifiedName] = set()
    for node in visitor.nodes:
        assert ctx.metadata(ParentNodeProvider, node, None) is parents.get(node)
        expected = qualified.get(node, empty)
        value = expected() if callable(expected) else expected
        assert ctx.metadata(QualifiedNameProvider, node, empty) == value
    # A node from elsewhere has neither.
    stranger = cst.Name("x")
    assert ctx.metadata(ParentNodeProvider, stranger, None) is None
    assert ctx.metadata(QualifiedNameProvider, stranger, empty) is empty
