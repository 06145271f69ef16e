"""Scope analysis: LibCST's `ScopeVisitor`, its callbacks found by node type in a table.

LibCST's visitors find the callbacks of every node they enter and leave by name (`getattr` on an
f-string, four times a node), and the scope visitor counts the assignments it leaves with an
`isinstance` against eighteen node classes, each check going through `ABCMeta`. That dispatch was a
third of the scope analysis of a module. This visitor looks the callbacks up once per node type (per
type and field for the field callbacks), and counts assignments by exact type: LibCST's node classes
have no subclasses. The analysis itself is LibCST's, unchanged.

`ScopeVisitor.on_leave`, which this one does in full, records the node's scope and counts the
assignment-like nodes; it has been the same since LibCST 1.1, the oldest version varmigrate supports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import libcst as cst
from libcst.metadata import ScopeProvider
from libcst.metadata import scope_provider as _scope_provider
from libcst.metadata.scope_provider import ScopeVisitor

from varmigrate.rules._traversal import Children, children, field_names

_Callback = Callable[[ScopeVisitor, cst.CSTNode], object]

# The node types whose leaving counts an assignment in the current scope (`Assignment.index` orders them).
_ASSIGNMENT_LIKE: frozenset[type[cst.CSTNode]] = frozenset(_scope_provider._ASSIGNMENT_LIKE_NODES)


def _callback(name: str) -> _Callback | None:
    """`ScopeVisitor`'s callback ``name``; None for none, or for one of LibCST's empty stubs (a stub
    `visit_*` returns None, which enters the children as no callback does)."""
    found: _Callback | None = getattr(ScopeVisitor, name, None)
    return None if getattr(found, "_is_no_op", False) else found


class _ByType(dict[type[cst.CSTNode], "_Callback | None"]):
    """`ScopeVisitor`'s callbacks ``PREFIX_<node type>`` by node type, looked up on first use."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def __missing__(self, kind: type[cst.CSTNode]) -> _Callback | None:
        found = self[kind] = _callback(f"{self.prefix}_{kind.__name__}")
        return found


class _ByField(dict[tuple[type[cst.CSTNode], str], "tuple[_Callback | None, _Callback | None]"]):
    """`ScopeVisitor`'s callbacks on entering and leaving a field, by node type and field name."""

    def __missing__(self, key: tuple[type[cst.CSTNode], str]) -> tuple[_Callback | None, _Callback | None]:
        name = f"{key[0].__name__}_{key[1]}"
        found = self[key] = (_callback(f"visit_{name}"), _callback(f"leave_{name}"))
        return found


_VISIT, _LEAVE, _FIELDS = _ByType("visit"), _ByType("leave"), _ByField()
# Whether `ScopeVisitor` has a callback for any field of a node type (only for a class's bases).
_BY_FIELD: dict[type[cst.CSTNode], bool] = {}


class _TabledScopeVisitor(ScopeVisitor):
    """`ScopeVisitor` with its callbacks found in the tables above, entering children without rebuilding.

    LibCST's `CSTNode.visit` enters a node's children through `_visit_and_replace_children`, which
    builds a copy of the node from the visited children (constructor and validation included) that a
    `CSTVisitor` then drops. Here `on_visit` enters the children itself, in LibCST's order, and answers
    that LibCST need not: each child's `visit` still calls `on_visit` and `on_leave`, and the callbacks'
    own `node.x.visit(self)` calls come back here too. A node whose type has callbacks for its fields is
    left to LibCST, which calls them around each field (`ScopeVisitor`'s only ones, for a class's bases,
    are never reached: its `visit_ClassDef` enters the class's parts itself).
    """

    # The children a walk of the module found, by node id (`_traversal.walk`).
    children: Children

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        visit = _VISIT[kind]
        if visit is not None and visit(self, node) is False:
            return False
        by_field = _BY_FIELD.get(kind)
        if by_field is None:
            callbacks = (_FIELDS[kind, name] for name in field_names(node))
            by_field = _BY_FIELD[kind] = any(found != (None, None) for found in callbacks)
        if by_field:
            return True  # LibCST enters the fields, between their callbacks
        found = self.children.get(id(node))
        for child in children(node) if found is None else found:
            child.visit(self)
        return False

    def on_leave(self, original_node: cst.CSTNode) -> None:
        kind = type(original_node)
        self.provider.set_metadata(original_node, self.scope)
        if kind in _ASSIGNMENT_LIKE:
            self.scope._assignment_count += 1
        leave = _LEAVE[kind]
        if leave is not None:
            leave(self, original_node)

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        visit = _FIELDS[type(node), attribute][0]
        if visit is not None:
            visit(self, node)

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        leave = _FIELDS[type(original_node), attribute][1]
        if leave is not None:
            leave(self, original_node)


def analyse_scopes(
    provider: ScopeProvider, module: cst.Module, kids: Children | None = None
) -> Mapping[cst.CSTNode, object]:
    """What `ScopeProvider` computes for ``module`` (``provider`` resolving in its wrapper): the scope of
    every node, with the accesses of each scope resolved. ``kids``: the children a walk of ``module``
    found (read again from the fields without it)."""
    visitor = _TabledScopeVisitor(provider)
    visitor.children = kids or {}
    module.visit(visitor)
    visitor.infer_accesses()
    return provider._computed
