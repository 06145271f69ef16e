"""Uses of a name that are no references: `__all__` and string annotations, as LibCST's visitors see them."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst
from libcst.helpers import get_full_name_for_node
from libcst.metadata import QualifiedName, QualifiedNameProvider

from varmigrate.rules.context import ModuleContext, children, walk

# Calls whose string arguments LibCST reads as annotations (`GatherNamesFromStringAnnotationsVisitor`).
_STRING_ANNOTATION_FUNCTIONS = frozenset({"typing.TypeVar"})


def _dotted_names(node: cst.Name | cst.Attribute) -> Iterator[str]:
    """`scope_provider._gen_dotted_names`: `a.b.c`, `a.b`, `a` (a call's function stands for the call)."""
    if isinstance(node, cst.Name):
        yield node.value
        return
    value = node.value
    if isinstance(value, cst.Call):
        value = value.func
        if isinstance(value, cst.Attribute | cst.Name):
            yield from _dotted_names(value)
        return
    if isinstance(value, cst.Attribute | cst.Name):
        inner = list(_dotted_names(value))
        if inner:
            yield f"{inner[0]}.{node.attr.value}"
            yield from inner


def _exports(module: cst.Module) -> set[str]:
    """`GatherExportsVisitor.explicit_exported_objects`: the strings of `__all__`."""
    found: set[str] = set()
    assigned: set[int] = set()
    inside: set[int] = set()

    def target(name_node: cst.BaseExpression, value: cst.BaseExpression) -> bool:
        if get_full_name_for_node(name_node) == "__all__":
            if isinstance(value, cst.List | cst.Tuple | cst.Set):
                assigned.add(id(value))
                return True
        elif isinstance(name_node, cst.Tuple) and isinstance(value, cst.Tuple):
            for index, element in enumerate(name_node.elements):
                if get_full_name_for_node(element.value) == "__all__":
                    element_value = value.elements[index].value
                    if isinstance(element_value, cst.List | cst.Tuple | cst.Set):
                        assigned.add(id(value))
                        assigned.add(id(element_value))
                        return True
        return False

    def visit(node: cst.CSTNode) -> None:
        descend = True
        if isinstance(node, cst.AnnAssign):
            descend = node.value is not None and target(node.target, node.value)
        elif isinstance(node, cst.AugAssign):
            descend = (
                isinstance(node.target, cst.Name)
                and node.target.value == "__all__"
                and isinstance(node.operator, cst.AddAssign)
                and isinstance(node.value, cst.List | cst.Tuple)
            )
            if descend:
                assigned.add(id(node.value))
        elif isinstance(node, cst.Assign):
            descend = any(target(t.target, node.value) for t in node.targets)
        elif isinstance(node, cst.List | cst.Tuple | cst.Set):
            descend = id(node) in assigned
            if descend:
                inside.add(id(node))
        elif isinstance(node, cst.SimpleString | cst.ConcatenatedString):
            descend = False
            if inside:
                value = node.evaluated_value
                if isinstance(value, str):
                    found.add(value)
        if descend:
            for child in children(node):
                visit(child)
        if isinstance(node, cst.List | cst.Tuple | cst.Set):
            assigned.discard(id(node))
            inside.discard(id(node))

    visit(module)
    return found


def _string_annotation_names(ctx: ModuleContext) -> set[str]:
    """`GatherNamesFromStringAnnotationsVisitor.names`: names in string annotations and `TypeVar` bounds."""
    names: set[str] = set()
    stack: list[cst.CSTNode] = []

    def qualified(node: cst.CSTNode) -> set[str]:
        empty: set[QualifiedName] = set()
        return {q.name for q in ctx.metadata(QualifiedNameProvider, node, empty)}

    def visit(node: cst.CSTNode) -> None:
        descend = True
        if isinstance(node, cst.Annotation):
            stack.append(node)
        elif isinstance(node, cst.Subscript):
            descend = "typing.Literal" not in qualified(node)
        elif isinstance(node, cst.Call):
            descend = bool(qualified(node) & _STRING_ANNOTATION_FUNCTIONS)
            if descend:
                stack.append(node)
        elif isinstance(node, cst.SimpleString | cst.ConcatenatedString):
            descend = False
            if stack:
                names.update(_names_in_string(node))
        if descend:
            for child in children(node):
                visit(child)
        if isinstance(node, cst.Annotation) or (isinstance(node, cst.Call) and stack and stack[-1] is node):
            stack.pop()

    visit(ctx.module)
    return names


def _may_spell(string: cst.SimpleString | cst.ConcatenatedString, name: str) -> bool:
    """Whether the value of ``string`` may contain ``name`` (the raw text does, or escapes may)."""
    if isinstance(string, cst.SimpleString) and "\\" not in string.value:
        return name in string.value
    value = string.evaluated_value
    if isinstance(value, bytes):
        return name.encode() in value
    return value is not None and name in value


def _names_in_string(node: cst.SimpleString | cst.ConcatenatedString) -> set[str]:
    value = node.evaluated_value
    if value is None:
        return set()
    try:
        module = cst.parse_module(value)
    except cst.ParserSyntaxError:
        return set()
    order, parents, _ = walk(module)
    found: set[str] = set()
    for child in order:
        if isinstance(child, cst.Name) and not isinstance(parents.get(child), cst.Attribute):
            found.add(child.value)
        elif isinstance(child, cst.Attribute):
            found.update(_dotted_names(child))
    return found
