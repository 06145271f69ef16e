"""The context's own traversal and metadata agree with LibCST's visitors and providers, node for node
(every node but the code's layout: whitespace, line breaks and comments, which the walk leaves out)."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import (
    CodePosition,
    CodeRange,
    ExpressionContextProvider,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedName,
    QualifiedNameProvider,
    Scope,
    ScopeProvider,
)
from support import full_search

from varmigrate.engine.parsing import cpython_error
from varmigrate.rules._traversal import LAYOUT, expression_context_of
from varmigrate.rules.context import ModuleContext, expression_contexts

ROOT = Path(__file__).resolve().parent.parent
# Every fixture in the full search (make test-full, CI); every third in the everyday run. Files CPython
# cannot parse (VM405's, which fail only for their `async=` keywords) reach LibCST repaired: left out.
SOURCES = [
    path
    for path in sorted((ROOT / "fixtures").rglob("*.py"))
    if cpython_error(path.read_text(encoding="utf-8")) is None
][:: 1 if full_search() else 3]


class _Order(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes.append(node)
        return True


@pytest.mark.search
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT / "fixtures").as_posix())
def test_walk_parents_and_qualified_names_match_libcst(path: Path) -> None:
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    ctx = ModuleContext.build(module, module.code)
    visitor = _Order()
    module.visit(visitor)
    walked = [node for node in visitor.nodes if type(node) not in LAYOUT]
    assert len(walked) < len(visitor.nodes) or not module.body  # an empty module has no layout
    assert [id(n) for n in ctx.nodes()] == [id(n) for n in walked]
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    parents = wrapper.resolve(ParentNodeProvider)
    qualified = wrapper.resolve(QualifiedNameProvider)
    empty: set[QualifiedName] = set()
    for node in walked:
        assert ctx.metadata(ParentNodeProvider, node, None) is parents.get(node)
        expected = qualified.get(node, empty)
        value = expected() if callable(expected) else expected
        assert ctx.metadata(QualifiedNameProvider, node, empty) == value
    # A node from elsewhere has neither.
    stranger = cst.Name("x")
    assert ctx.metadata(ParentNodeProvider, stranger, None) is None
    assert ctx.metadata(QualifiedNameProvider, stranger, empty) is empty


EXTRA = [
    "def f[T](x: T) -> T:\n    return x\n",
    "class C[T]:\n    pass\n",
    "(a, *b), c[0], d.e = f = g\nfor i, (j, k) in x: pass\ndel a, b[0], c.d\n",
    "x: int = (y := 3)\ny += [z for (z, w) in q if (v := z)]\nlambda a, *b, c=1, **d: a\n",
    "import a.b as c\nfrom d import (e as f, g)\nwith h() as (i, j): pass\n",
    "try:\n    pass\nexcept E as e:\n    pass\nglobal k\n",
    "match p:\n    case [a, *rest] | {'k': a, **kw}:\n        pass\n    case C(x=y) as z:\n        pass\n",
    "async def f():\n    async for a in b:\n        pass\n"
    "    async with c as d:\n        await e[f:g, ...]\n",
    "print(f'{a!r:{b}}', *c, **d)\n@dec(x)\nclass K(B, metaclass=M):\n    x: 'T' = 1\n",
    # A field some node types enter only when it is set (an f-string's format spec), first unset.
    "f'{a}' f'{a!r:{b}}' f'{c:>{d:{e}}}' f'{x=}'\n",
]


@pytest.mark.search
@pytest.mark.parametrize("source", [*EXTRA, *(p.read_text(encoding="utf-8") for p in SOURCES)])
def test_expression_contexts_and_scopes_match_libcst(source: str) -> None:
    module = cst.parse_module(source)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(ExpressionContextProvider)
    assert expression_contexts(module) == dict(expected)
    # Asked for one node (before any scope analysis), a context is read from the node's ancestors.
    ctx = ModuleContext.build(module, source)
    for node in ctx.nodes():
        assert expression_context_of(node, ctx._parents.get) == expected.get(node)
        assert ctx.metadata(ExpressionContextProvider, node, None) == expected.get(node)
    assert ctx.metadata(ExpressionContextProvider, cst.Name("x"), None) is None
    # Scope analysis (on those contexts, with its own visitor) gives every node a scope of the same kind,
    # with the same assignments (node, kind, order) and accesses, and the same qualified names.
    scopes = MetadataWrapper(module, unsafe_skip_copy=True).resolve(ScopeProvider)
    for node in ctx.nodes():
        mine, theirs = ctx.metadata(ScopeProvider, node, None), scopes.get(node)
        assert type(mine) is type(theirs)
        if mine is None or theirs is None:
            continue
        assert _scope_facts(mine) == _scope_facts(theirs)
        assert mine.get_qualified_names_for(node) == theirs.get_qualified_names_for(node)


def _scope_facts(scope: Scope) -> tuple[object, ...]:
    """What a scope says of its names, by the identity of the nodes involved."""
    assignments = sorted(
        (a.name, type(a).__name__, id(a.node), getattr(a, "index", None)) for a in scope.assignments
    )
    accesses = sorted(
        (a.node.value if isinstance(a.node, cst.Name) else "", id(a.node)) for a in scope.accesses
    )
    return type(scope).__name__, id(getattr(scope, "node", None)), assignments, accesses


# Nodes printed alone, in blocks, across lines, with parentheses, tabs, wide characters and CRLF; some
# printed more than once (the node must grow until its text is found once).
POSITIONED = [
    *EXTRA,
    "if a:\n    x = f(\n        y,\n        z)  # c\nelif b:\n    x = f(\n        y,\n        z)\n",
    "def f():\n\tif a:\n\t\treturn [\n\t\t\tVariable(x),\n\t\t\tVariable(x),\n\t\t]\n",
    "s = 'é' + ('ü' +\n     (Variable(x)))  # ß\nt = Variable(x)\r\n",
    "d = {\r\n    'a': Variable(x),\r\n    'b': (Variable(\r\n        x)),\r\n}\r\n",
    "class A:\n    def f(self, *args, x: int = 1, **kw) -> None:\n        return self.x\n"
    "    def g(self, *args, x: int = 1, **kw) -> None:\n        return self.x\n",
    "x = 1; y = 2; x = 1\nwith a as b, c as d:\n    pass\nimport a, b\nimport a, b\n",
    "x = \\\n    y . z\nx = \\\n    y . z\n",
]


@pytest.mark.search
@pytest.mark.parametrize("source", [*POSITIONED, *(p.read_text(encoding="utf-8") for p in SOURCES)])
def test_positions_printed_around_a_node_match_libcst(source: str) -> None:
    module = cst.parse_module(source)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    # In visiting order (most nodes fall in a subtree already printed) and in reverse (each grows
    # from the leaves), every node's range is LibCST's.
    for order in (list, reversed):
        ctx = ModuleContext.build(module, source)
        for node in order(ctx.nodes()):
            assert ctx.metadata(PositionProvider, node, None) == expected[node], (
                type(node).__name__,
                module.code_for_node(node),
            )
    assert ModuleContext.build(module, source).metadata(PositionProvider, cst.Name("x"), None) is None


def test_positions_print_less_than_the_module() -> None:
    # One call in a thousand-line display: only the call is printed, not the whole module.
    lines = [f"    'k{i}': lambda self: {i}," for i in range(1000)]
    lines[500] = "    'v': Variable(x),"
    source = "d = {\n" + "\n".join(lines) + "\n}\n"
    module = cst.parse_module(source)
    ctx = ModuleContext.build(module, source)
    call = next(n for n in ctx.nodes() if isinstance(n, cst.Call))
    assert ctx.metadata(PositionProvider, call, None) == CodeRange(
        CodePosition(502, 9), CodePosition(502, 20)
    )
    finder = ctx._positions
    assert finder is not None
    assert finder._whole is None
    assert finder._printed < 20


class _Leaving(cst.BatchableCSTVisitor):
    """A rule-like visitor with a leave callback: LibCST's own traversal has to run it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def visit_Name(self, node: cst.Name) -> None:
        self.seen.append(f"+{node.value}")

    def leave_Name(self, original_node: cst.Name) -> None:
        self.seen.append(f"-{original_node.value}")


def test_the_rules_callbacks_are_those_libcst_would_call() -> None:
    from varmigrate.engine.analysis import _callback_names, _visit
    from varmigrate.rules import ALL_RULES

    module = cst.parse_module("import torch\nx = y\n")
    ctx = ModuleContext.build(module, module.code)
    for spec in ALL_RULES:
        rule = spec.load()
        visitor = rule(ctx, spec)
        names = {
            name
            for name in _callback_names(rule)
            if getattr(getattr(visitor, name), "_is_no_op", False) is False
        }
        assert names == set(visitor.get_visitors())
    leaving = _Leaving()
    _visit(ctx, [leaving])
    assert leaving.seen == ["+torch", "-torch", "+x", "-x", "+y", "-y"]
