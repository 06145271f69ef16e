"""The rank of a tensor where the code shows it: a factory call with literal sizes, or a name bound to one."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import FunctionScope, GlobalScope

from varmigrate.rules import nodes
from varmigrate.rules._base import Rule
from varmigrate.rules.variable import sole_assignment

# Factories whose positional arguments are the sizes (`torch.randn(2, 3)`) or one shape (`((2, 3))`).
SIZED_FACTORIES = frozenset(f"torch.{name}" for name in ("randn", "rand", "zeros", "ones", "empty"))
# Factories whose first argument is the shape: `torch.full((2, 3), v)`.
SHAPE_FIRST = frozenset({"torch.full"})


def literal_rank(rule: Rule, expr: cst.BaseExpression) -> int | None:
    """The rank of ``expr`` when it is such a factory call, or a name bound once to one; else None."""
    # (Nodes of the tree itself: their metadata is looked up, so parentheses are not stripped.)
    if isinstance(expr, cst.Name):
        bound = _single_binding(rule, expr)
        return None if bound is None else _factory_rank(rule, bound)
    return _factory_rank(rule, expr)


def _factory_rank(rule: Rule, expr: cst.BaseExpression) -> int | None:
    if not isinstance(expr, cst.Call) or any(arg.star for arg in expr.args):
        return None
    name = rule.resolved_name(expr.func)
    positional = [arg.value for arg in expr.args if arg.keyword is None]
    size = next((arg.value for arg in expr.args if nodes.keyword_name(arg) == "size"), None)
    if any(nodes.keyword_name(arg) == "out" for arg in expr.args):
        return None  # `out=` is resized to the sizes, but may be any tensor: keep it simple
    if name in SHAPE_FIRST:
        return _shape_rank(positional[0]) if positional else None
    if name not in SIZED_FACTORIES:
        return None
    if size is not None:
        return _shape_rank(size) if not positional else None
    if len(positional) == 1 and not isinstance(positional[0], cst.Integer):
        return _shape_rank(positional[0])
    return len(positional) if all(isinstance(value, cst.Integer) for value in positional) else None


def _shape_rank(expr: cst.BaseExpression) -> int | None:
    """The length of a tuple or list of integers written out."""
    if not isinstance(expr, cst.Tuple | cst.List):
        return None
    elements = expr.elements
    if any(not isinstance(e, cst.Element) or not isinstance(e.value, cst.Integer) for e in elements):
        return None
    return len(elements)


def _single_binding(rule: Rule, name: cst.Name) -> cst.BaseExpression | None:
    """What ``name`` was bound to by its only binding, `name = <value>` at module or function level,
    when no use of it can change the tensor's rank in place; else None."""
    found = sole_assignment(rule, name)
    if found is None or not isinstance(found[0].scope, GlobalScope | FunctionScope):
        return None
    assignment, assign = found
    if not all(_reads_only(rule, access.node) for access in assignment.references):
        return None
    return assign.value


def _reads_only(rule: Rule, node: cst.CSTNode) -> bool:
    """Whether this use of the tensor cannot change its rank in place.

    `x.unsqueeze_(0)`, `x.resize_(...)`, `x.set_(...)` and `x.data = y` change the rank of `x` itself;
    an alias (`y = x`) or a call of the program's own code may do so later. Allowed: methods and
    attributes without a trailing `_` (other than `.data`), arguments of torch's functions, operands
    and subscripts.
    """
    parent = rule.parent(node)
    if isinstance(parent, cst.Attribute) and parent.value is node:
        attr = parent.attr.value
        return not attr.endswith("_") and attr != "data"
    if isinstance(parent, cst.Arg) and parent.value is node:
        call = rule.parent(parent)
        callee = rule.resolved_name(call.func) if isinstance(call, cst.Call) else None
        return callee is not None and callee.startswith("torch.") and not callee.endswith("_")
    if isinstance(parent, cst.Subscript) and parent.value is node:
        return True
    return isinstance(
        parent, cst.BinaryOperation | cst.UnaryOperation | cst.Comparison | cst.ComparisonTarget
    )
