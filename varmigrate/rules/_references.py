"""Where a reference to torch's `Variable` stands, so that every reference belongs to exactly one rule.

VM001 owns calls (`Variable(x)`), VM101 type checks (`isinstance(x, Variable)`, `type(x) == Variable`),
VM102 annotations and type aliases (`x: Variable`, `Batch = Tuple[Variable, Variable]`), and VM103
everything else (`map(Variable, xs)`, `class F(Variable)`).
Import statements are not references: nothing in them resolves to a use of `Variable`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

import libcst as cst

from varmigrate.rules._base import Rule


class Role(enum.Enum):
    """What a reference to `Variable` is used for."""

    # The function of a call: `Variable(x)` (VM001).
    CALL = "call"
    # In the class info of `isinstance(...)`: `VariableMeta.__instancecheck__` tests for `torch.Tensor`.
    INSTANCE_CHECK = "instance-check"
    # In the class info of `issubclass(...)`: no tensor type subclasses `Variable` (no `__subclasscheck__`).
    SUBCLASS_CHECK = "subclass-check"
    # One side of `type(x) == Variable` (`is`, `!=`, `is not`): no object has type `Variable`.
    TYPE_COMPARISON = "type-comparison"
    # Anywhere inside a type annotation, or in the arguments of a generic such as `Tuple[...]` (VM102).
    ANNOTATION = "annotation"
    # Anything else: an alias, an argument, a base class, an attribute access (VM103).
    VALUE = "value"


@dataclass(frozen=True)
class Reference:
    """One reference to torch's `Variable` and its role."""

    node: cst.Name | cst.Attribute
    role: Role
    # The `isinstance`/`issubclass` call or the comparison the reference stands in, for checks.
    check: cst.BaseExpression | None = None
    # The reference is the whole class info of the check (not one element of a tuple of types).
    whole: bool = False
    # The comparison is `!=` / `is not`: it is always True rather than always False.
    negated: bool = False


_CHECKS = {"builtins.isinstance": Role.INSTANCE_CHECK, "builtins.issubclass": Role.SUBCLASS_CHECK}
_EQUAL = (cst.Equal, cst.Is)
_NOT_EQUAL = (cst.NotEqual, cst.IsNot)
# Subscripting these builds a type (`Optional[Variable]`), in an annotation or in a type alias.
_GENERIC_MODULES = ("typing.", "typing_extensions.", "collections.abc.")
_BUILTIN_GENERICS = frozenset(
    f"builtins.{name}" for name in ("list", "tuple", "dict", "set", "frozenset", "type")
)
# Walking up from an expression, the first of these is the annotation holding it or proves there is none.
_ANNOTATION_BOUNDARY = (
    cst.Annotation,
    cst.BaseStatement,
    cst.BaseSmallStatement,
    cst.Param,
    cst.Decorator,
    cst.Module,
)


def variable_reference(rule: Rule, node: cst.Name | cst.Attribute) -> Reference | None:
    """``node`` as a reference to torch's `Variable`, or None when it is not one on its own.

    Only the outermost node counts: `torch.autograd.Variable` is one reference, and the `Variable`
    name after a dot is part of the attribute that contains it.
    """
    # Resolution first: it gates on spelling, so most names never need the parent map.
    if not rule.is_variable(node):
        return None
    parent = rule.parent(node)
    if isinstance(parent, cst.Attribute) and parent.attr is node:
        return None
    if isinstance(parent, cst.Call) and parent.func is node:
        return Reference(node, Role.CALL)
    check = _type_check(rule, node)
    if check is not None:
        return check
    comparison = _type_comparison(rule, node, parent)
    if comparison is not None:
        return comparison
    if _in_type_expression(rule, node):
        return Reference(node, Role.ANNOTATION)
    return Reference(node, Role.VALUE)


def _type_check(rule: Rule, node: cst.Name | cst.Attribute) -> Reference | None:
    """``node`` in the class info of `isinstance`/`issubclass`, possibly inside nested tuples."""
    child: cst.CSTNode = node
    parent = rule.parent(node)
    while isinstance(parent, cst.Element) and isinstance(tuple_ := rule.parent(parent), cst.Tuple):
        child, parent = tuple_, rule.parent(tuple_)
    if not isinstance(parent, cst.Arg) or parent.value is not child:
        return None
    call = rule.parent(parent)
    if not isinstance(call, cst.Call) or len(call.args) != 2 or call.args[1] is not parent:
        return None
    if any(arg.keyword is not None or arg.star for arg in call.args):
        return None
    role = _CHECKS.get(rule.resolved_name(call.func) or "")
    if role is None:
        return None
    return Reference(node, role, check=call, whole=child is node)


def _type_comparison(
    rule: Rule, node: cst.Name | cst.Attribute, parent: cst.CSTNode | None
) -> Reference | None:
    """``node`` as one side of `type(x) == Variable` or `Variable is not x.__class__`."""
    if isinstance(parent, cst.ComparisonTarget) and parent.comparator is node:
        comparison = rule.parent(parent)
    elif isinstance(parent, cst.Comparison) and parent.left is node:
        comparison = parent
    else:
        return None
    if not isinstance(comparison, cst.Comparison) or len(comparison.comparisons) != 1:
        return None
    target = comparison.comparisons[0]
    other = comparison.left if target.comparator is node else target.comparator
    if not _is_type_of(rule, other) or not isinstance(target.operator, _EQUAL + _NOT_EQUAL):
        return None
    negated = isinstance(target.operator, _NOT_EQUAL)
    return Reference(node, Role.TYPE_COMPARISON, check=comparison, whole=True, negated=negated)


def _is_type_of(rule: Rule, expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` is `type(x)` (the builtin, one argument) or `x.__class__`."""
    if isinstance(expr, cst.Attribute):
        return expr.attr.value == "__class__"
    if not isinstance(expr, cst.Call) or len(expr.args) != 1:
        return False
    arg = expr.args[0]
    return arg.keyword is None and not arg.star and rule.resolved_name(expr.func) == "builtins.type"


def _in_type_expression(rule: Rule, node: cst.CSTNode) -> bool:
    """Whether ``node`` is in an annotation or in a generic's arguments (`Batch = Tuple[Variable, int]`)."""
    child, current = node, rule.parent(node)
    while current is not None and not isinstance(current, _ANNOTATION_BOUNDARY):
        if (
            isinstance(current, cst.Subscript)
            and current.value is not child
            and _is_generic(rule, current.value)
        ):
            return True
        child, current = current, rule.parent(current)
    return isinstance(current, cst.Annotation)


def _is_generic(rule: Rule, expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` is a `typing` generic (`Optional`, `List`, ...) or a builtin one (`list`, ...)."""
    name = rule.resolved_name(expr) or ""
    return name.startswith(_GENERIC_MODULES) or name in _BUILTIN_GENERICS


class VariableReferenceRule(Rule):
    """A rule about references to `Variable` in some roles; subclasses implement ``on_reference``."""

    roles: ClassVar[frozenset[Role]]

    def visit_Name(self, node: cst.Name) -> None:
        self._visit_reference(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._visit_reference(node)

    def _visit_reference(self, node: cst.Name | cst.Attribute) -> None:
        reference = variable_reference(self, node)
        if reference is not None and reference.role in self.roles:
            self.on_reference(reference)

    def on_reference(self, reference: Reference) -> None:
        """Report ``reference`` (one of this rule's roles)."""
        raise NotImplementedError
