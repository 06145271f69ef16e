"""Walking a LibCST tree by reading its fields: the nodes in visiting order, and expression contexts.

`ModuleContext` orders the nodes for the rules and answers `ExpressionContextProvider` with these, at a
fraction of the cost of a visitor.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections.abc import Callable
from typing import Any

import libcst as cst
from libcst.metadata import ExpressionContext

# -- traversal ---------------------------------------------------------------------------------------
#
# A LibCST visitor rebuilds every node it passes (`_visit_and_replace_children` calls the node's
# constructor, validation included), which makes a walk cost about as much as the parse. Reading the
# fields instead gives the same nodes in the same order at a fraction of the cost; the order of the
# fields is LibCST's own, recorded from one node of each type.

_FIELDS: dict[type[cst.CSTNode], tuple[str, ...]] = {}


class _FieldOrder(cst.CSTVisitor):
    """Records the fields of one node in the order a visitor enters them, without going deeper."""

    def __init__(self, root: cst.CSTNode) -> None:
        super().__init__()
        self.root = root
        self.fields: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return node is self.root

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        if node is self.root:
            self.fields.append(attribute)


def field_names(node: cst.CSTNode) -> tuple[str, ...]:
    """The fields of ``node``'s type in visiting order (a field visited only when set comes last)."""
    kind = type(node)
    found = _FIELDS.get(kind)
    if found is None:
        recorder = _FieldOrder(node)
        node.visit(recorder)
        names = list(dict.fromkeys(recorder.fields))
        names.extend(f.name for f in dataclasses.fields(node) if f.name not in names)
        found = _FIELDS[kind] = tuple(names)
    return found


# What a field's value is to the walk, by its type: a node, a sequence of them, or neither (all true, so
# that a lookup can fall back with `or`). Asked of every field of every node: `isinstance` against
# `CSTNode` (an abstract base class) costs several times a dictionary lookup.
_OTHER, _NODE, _SEQUENCE = 1, 2, 3
_KINDS: dict[type, int] = {}
# The layout of the code: whitespace, line breaks, blank lines and comments. About half of a module's
# nodes, and none that a rule, scope analysis or an expression context asks about (a fix looks for the
# comments under a node with `nodes.descendants`, which reads every child): the walk's table of kinds
# takes them for no node, so the walk leaves them out.
LAYOUT: frozenset[type[cst.CSTNode]] = frozenset(
    {
        cst.SimpleWhitespace,
        cst.ParenthesizedWhitespace,
        cst.TrailingWhitespace,
        cst.Newline,
        cst.EmptyLine,
        cst.Comment,
    }
)
_WALKED_KINDS: dict[type, int] = dict.fromkeys(LAYOUT, _OTHER)


def _kind(kind: type, table: dict[type, int] = _KINDS) -> int:
    found = table.get(kind)
    if found is None:
        # Read from the MRO: `issubclass` on an abstract base class answers "no" by asking each of its
        # 200 subclasses in turn (LibCST registers no virtual subclass of `CSTNode`).
        if cst.CSTNode in kind.__mro__:
            found = _NODE
        elif issubclass(kind, tuple | list):
            found = _SEQUENCE
        else:
            found = _OTHER
        table[kind] = found
    return found


# The values of a node's fields in visiting order, read by one `attrgetter` per node type: the walk asks
# this of every node, and one C call costs less than a `getattr` per field.
_Values = Callable[[cst.CSTNode], tuple[Any, ...]]
_VALUES: dict[type[cst.CSTNode], _Values] = {}


def _values(node: cst.CSTNode) -> _Values:
    names = field_names(node)
    if len(names) > 1:
        values: _Values = operator.attrgetter(*names)
    elif names:  # `attrgetter` of one name gives the value, not a tuple (whitespace nodes have one field)
        one = operator.attrgetter(names[0])

        def values(node: cst.CSTNode) -> tuple[Any, ...]:
            return (one(node),)

    else:

        def values(node: cst.CSTNode) -> tuple[Any, ...]:
            return ()

    _VALUES[type(node)] = values
    return values


def children(node: cst.CSTNode, kinds: dict[type, int] = _KINDS) -> list[cst.CSTNode]:
    """The children of ``node``, in visiting order (``kinds``: which values count as nodes)."""
    values = _VALUES.get(type(node)) or _values(node)
    found: list[cst.CSTNode] = []
    for value in values(node):
        kind = kinds.get(type(value)) or _kind(type(value), kinds)
        if kind == _NODE:
            found.append(value)
        elif kind == _SEQUENCE:
            for child in value:
                if (kinds.get(type(child)) or _kind(type(child), kinds)) == _NODE:
                    found.append(child)
    return found


# Each node's children as a walk found them, by the node's `id` (a node's own hash is a Python call):
# nodes never change, and the tree the walk read keeps every node alive while the table is used. Never
# changed by those who read it.
Children = dict[int, list[cst.CSTNode]]


def walk(root: cst.CSTNode) -> tuple[list[cst.CSTNode], dict[cst.CSTNode, cst.CSTNode], Children]:
    """The nodes under ``root`` (itself first) in visiting order, each one's parent, and its children:
    all but the code's `LAYOUT`."""
    order: list[cst.CSTNode] = []
    parents: dict[cst.CSTNode, cst.CSTNode] = {}
    kids: Children = {}
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        children_ = kids[id(node)] = children(node, _WALKED_KINDS)
        for child in children_:
            parents[child] = node
        stack.extend(reversed(children_))
    return order, parents, kids


# -- expression contexts ------------------------------------------------------------------------------
#
# `ExpressionContextVisitor` (libcst/metadata/expression_context_provider.py), restated: the context
# flows down from the module (LOAD); the nodes below name where it changes and which children they
# visit at all (a function's type parameters, for one, get no context).

_LOAD, _STORE, _DEL = ExpressionContext.LOAD, ExpressionContext.STORE, ExpressionContext.DEL
_Visit = list[tuple[cst.CSTNode | None, ExpressionContext]]


def _assign(node: cst.Assign, context: ExpressionContext) -> _Visit:
    return [*((target, _STORE) for target in node.targets), (node.value, context)]


def _ann_assign(node: cst.AnnAssign, context: ExpressionContext) -> _Visit:
    return [(node.target, _STORE), (node.annotation, context), (node.value, context)]


def _store_then_value(node: cst.AugAssign | cst.NamedExpr, context: ExpressionContext) -> _Visit:
    return [(node.target, _STORE), (node.value, context)]


def _as_name(node: cst.AsName, context: ExpressionContext) -> _Visit:
    return [(node.name, _STORE)]


def _comp_for(node: cst.CompFor, context: ExpressionContext) -> _Visit:
    return [
        (node.target, _STORE),
        (node.iter, context),
        *((condition, context) for condition in node.ifs),
        (node.inner_for_in, context),
    ]


def _for(node: cst.For, context: ExpressionContext) -> _Visit:
    return [(node.target, _STORE), (node.iter, context), (node.body, context), (node.orelse, context)]


def _del(node: cst.Del, context: ExpressionContext) -> _Visit:
    return [(node.target, _DEL)]


def _attribute(node: cst.Attribute, context: ExpressionContext) -> _Visit:
    return [(node.value, _LOAD)]


def _subscript(node: cst.Subscript, context: ExpressionContext) -> _Visit:
    return [(node.value, _LOAD), *((element, _LOAD) for element in node.slice)]


def _class(node: cst.ClassDef, context: ExpressionContext) -> _Visit:
    return [
        (node.name, _STORE),
        (node.body, context),
        *((base, context) for base in node.bases),
        *((keyword, context) for keyword in node.keywords),
        *((decorator, context) for decorator in node.decorators),
    ]


def _function(node: cst.FunctionDef, context: ExpressionContext) -> _Visit:
    return [
        (node.name, _STORE),
        (node.params, context),
        (node.body, context),
        *((decorator, context) for decorator in node.decorators),
        (node.returns, context),
    ]


def _param(node: cst.Param, context: ExpressionContext) -> _Visit:
    return [(node.name, _STORE), (node.annotation, context), (node.default, context)]


_RULES: dict[type[cst.CSTNode], Callable[[Any, ExpressionContext], _Visit]] = {
    cst.Assign: _assign,
    cst.AnnAssign: _ann_assign,
    cst.AugAssign: _store_then_value,
    cst.NamedExpr: _store_then_value,
    cst.AsName: _as_name,
    cst.CompFor: _comp_for,
    cst.For: _for,
    cst.Del: _del,
    cst.Attribute: _attribute,
    cst.Subscript: _subscript,
    cst.ClassDef: _class,
    cst.FunctionDef: _function,
    cst.Param: _param,
}
# Nodes that take the context they are visited in (and pass it on, unless a rule above says otherwise).
_GIVEN = (cst.Name, cst.Attribute, cst.Subscript, cst.Tuple, cst.List, cst.StarredElement)


def expression_contexts(
    module: cst.Module, kids: Children | None = None
) -> dict[cst.CSTNode, ExpressionContext]:
    """What `ExpressionContextProvider` computes for ``module``: LOAD, STORE or DEL for each expression.

    ``kids``: the children a walk of ``module`` found (read again from the fields without it)."""
    kids = kids or {}
    found: dict[cst.CSTNode, ExpressionContext] = {}
    stack: list[tuple[cst.CSTNode | None, ExpressionContext]] = [(module, _LOAD)]
    while stack:
        node, context = stack.pop()
        if node is None:
            continue
        kind = type(node)
        if kind in _GIVEN:
            found[node] = context
            if kind is cst.Name:
                continue
        rule = _RULES.get(kind)
        if rule is not None:
            stack.extend(rule(node, context))
        else:
            found_children = kids.get(id(node))
            if found_children is None:
                found_children = children(node)
            stack.extend((child, context) for child in found_children)
    return found


def expression_context_of(
    node: cst.CSTNode, parent: Callable[[cst.CSTNode], cst.CSTNode | None]
) -> ExpressionContext | None:
    """What `expression_contexts` gives ``node`` (None: no context), from its ancestors alone.

    The context flows down, so the path from the module to ``node`` decides it: a rule on the way
    that does not visit the next node leaves the whole subtree without one.
    """
    path = [node]
    while (above := parent(path[-1])) is not None:
        path.append(above)
    path.reverse()
    context = _LOAD
    for above, below in itertools.pairwise(path):
        if type(above) is cst.Name:
            return None
        rule = _RULES.get(type(above))
        if rule is None:
            continue
        for child, given in rule(above, context):
            if child is below:
                context = given
                break
        else:
            return None
    return context if type(node) in _GIVEN else None
