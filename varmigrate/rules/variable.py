"""What a `Variable(...)` call says: its arguments, and whether its data is a fresh tensor.

Shared by the rules that look inside `Variable(...)` calls (VM001 rewrites them, VM002 looks for
`volatile` outside them).
"""

from __future__ import annotations

import enum
import re
import symtable
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import Assignment, ScopeProvider

from varmigrate.rules import nodes
from varmigrate.rules._base import Rule
from varmigrate.rules.torch_api import (
    FRESH_FACTORIES,
    FRESH_NO_KEYWORD,
    FRESH_PRESERVING_METHODS,
    NOT_FRESH_KEYWORDS,
    TYPED_CONSTRUCTORS,
    VARIABLE_PARAMETERS,
)


@dataclass(frozen=True)
class VariableArgs:
    """The arguments of one `Variable(...)` call, by the shim's parameter names."""

    data: cst.BaseExpression | None
    requires_grad: cst.BaseExpression | None
    volatile: cst.BaseExpression | None
    # Why no fix can be offered (`name=`, `*args`, an unknown keyword, ...), or None.
    unsupported: str | None = None


def parse_variable_args(call: cst.Call) -> VariableArgs:
    """Map the arguments of ``Variable(...)`` onto ``(data, requires_grad, volatile, _grad_fn, name)``."""
    bound: dict[str, cst.BaseExpression] = {}
    unsupported: str | None = None
    for index, arg in enumerate(call.args):
        if arg.star:
            unsupported = f"`{arg.star}` arguments"
            continue
        if arg.keyword is None:
            if index >= len(VARIABLE_PARAMETERS):
                unsupported = "too many arguments"
                continue
            key = VARIABLE_PARAMETERS[index]
        else:
            key = arg.keyword.value
        if key not in VARIABLE_PARAMETERS:
            unsupported = f"unknown keyword `{key}=`"
            continue
        bound[key] = arg.value
    if "name" in bound and not _is_none(bound["name"]):
        unsupported = "`name=` (readable only as `t.name`)"
    if "_grad_fn" in bound and not _is_none(bound["_grad_fn"]):
        unsupported = "`_grad_fn=`"
    data = bound.get("data")
    return VariableArgs(
        data=None if data is None or _is_none(data) else data,
        requires_grad=bound.get("requires_grad"),
        volatile=bound.get("volatile"),
        unsupported=unsupported,
    )


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


class Freshness(enum.Enum):
    """How a data expression may take `requires_grad`."""

    NOT_FRESH = "not-fresh"
    # A factory call that accepts `requires_grad=`: fold the flag into it.
    FACTORY = "factory"
    # A legacy typed constructor with literal data or sizes: rebuild it as `torch.tensor`/`torch.empty`.
    TYPED = "typed"
    # Fresh, but the flag must be set with `.requires_grad_()` (from_numpy, method chains, names).
    OTHER = "other"


def freshness(rule: Rule, expr: cst.BaseExpression) -> Freshness:
    """Whether ``expr`` is a new tensor that nothing else references and that does not require grad."""
    if not isinstance(expr, cst.Call) or any(arg.star for arg in expr.args):
        return Freshness.NOT_FRESH
    if any(arg.keyword is not None and arg.keyword.value in NOT_FRESH_KEYWORDS for arg in expr.args):
        return Freshness.NOT_FRESH
    name = rule.resolved_name(expr.func)
    if name in FRESH_FACTORIES:
        if name == "torch.normal" and not _normal_has_size(expr):
            # `torch.normal(mean_tensor, std)` is differentiable w.r.t. its tensor arguments.
            return Freshness.NOT_FRESH
        return Freshness.FACTORY
    if name in FRESH_NO_KEYWORD:
        return Freshness.OTHER
    if name in TYPED_CONSTRUCTORS and typed_constructor_form(expr) is not None:
        return Freshness.TYPED
    func = expr.func
    if (
        isinstance(func, cst.Attribute)
        and func.attr.value in FRESH_PRESERVING_METHODS
        and freshness(rule, func.value) is not Freshness.NOT_FRESH
    ):
        return Freshness.OTHER
    return Freshness.NOT_FRESH


def _normal_has_size(call: cst.Call) -> bool:
    positional = [a for a in call.args if a.keyword is None]
    return len(positional) >= 3 or any(a.keyword is not None and a.keyword.value == "size" for a in call.args)


def typed_constructor_form(call: cst.Call) -> str | None:
    """``"data"`` for ``torch.FloatTensor([1, 2])``, ``"sizes"`` for ``torch.FloatTensor(2, 3)``, else None.

    Only literals qualify: a name may hold an int (a size) or a list (data) at run time.
    """
    if any(arg.keyword is not None for arg in call.args) or not call.args:
        return None
    values = [arg.value for arg in call.args]
    if len(values) == 1 and isinstance(values[0], cst.List | cst.Tuple) and _numeric_literal(values[0]):
        return "data"
    if all(isinstance(v, cst.Integer) for v in values):
        return "sizes"
    return None


def _numeric_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.List | cst.Tuple):
        return all(_numeric_literal(el.value) for el in expr.elements if isinstance(el, cst.Element))
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus | cst.Plus):
        return _numeric_literal(expr.expression)
    if isinstance(expr, cst.Name):
        return expr.value in ("True", "False")
    return isinstance(expr, cst.Integer | cst.Float)


def sole_assignment(
    rule: Rule, name: cst.Name, *, local: bool = False
) -> tuple[Assignment, cst.Assign] | None:
    """The only binding of ``name`` seen from its scope (with ``local``, in that scope itself), when it is
    a plain ``name = <value>`` with one target and no statement left out of the analysis uses or binds the
    name; with the `Assign` statement. None otherwise."""
    scope = rule.ctx.metadata(ScopeProvider, name, None)
    if scope is None:
        return None
    if module_name_in(rule.ctx.dropped_code, name.value):
        # Statements left out of the analysis use or bind the module's name: other uses or bindings.
        return None
    assignments = list(scope.assignments[name.value] if local else scope[name.value])
    if len(assignments) != 1 or not isinstance(assignments[0], Assignment):
        return None
    assignment = assignments[0]
    target = assignment.node
    if not isinstance(target, cst.Name):
        return None
    holder = rule.parent(target)
    assign = rule.parent(holder) if isinstance(holder, cst.AssignTarget) else None
    if (
        not isinstance(assign, cst.Assign)
        or len(assign.targets) != 1
        or assign.targets[0].target is not target
    ):
        return None
    return assignment, assign


def fresh_name_binding(rule: Rule, name: cst.Name, use: cst.CSTNode) -> cst.BaseExpression | None:
    """The fresh expression ``name`` is bound to, if ``use`` may treat it as a fresh temporary.

    It must be bound exactly once in the scope of ``use``, by ``name = <fresh>`` before ``use``,
    be referenced only at ``use``, and ``use`` must not run more often than the binding (no loop
    between them); otherwise ``name.requires_grad_()`` would hand the same leaf out more than once.
    """
    found = sole_assignment(rule, name, local=True)
    if found is None:
        return None
    assignment, assign = found
    references = list(assignment.references)
    if len(references) != 1 or references[0].node is not name:
        return None
    if freshness(rule, assign.value) is Freshness.NOT_FRESH:
        return None
    bound_at, used_at = rule.range_of(assign).end, rule.range_of(use).start
    if (bound_at.line, bound_at.column) > (used_at.line, used_at.column):
        return None
    if _loop_between(rule, assign, use):
        return None
    return assign.value


def module_name_in(code: str, name: str) -> bool:
    """Whether the statements ``code`` (left out of the analysis) may use or bind the module-level ``name``.

    Mentioning the word is not enough: a method's parameter of the same name is another variable.
    Python's own symbol tables tell which scope each use belongs to; when the code cannot be read
    alone (a class body's statements), any mention counts.
    """
    if not re.search(rf"\b{re.escape(name)}\b", code):
        return False
    try:
        table = symtable.symtable(code, "<left out>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    pending = [table]
    while pending:
        scope = pending.pop()
        pending.extend(scope.get_children())
        try:
            symbol = scope.lookup(name)
        except KeyError:
            continue
        # A global of a function or class body is the module's; a free name is an enclosing
        # function's (both inside the left-out code), a local or parameter is another variable.
        module_scope = scope.get_type() == "module" or symbol.is_global()
        if module_scope and (symbol.is_referenced() or symbol.is_assigned() or symbol.is_imported()):
            return True
    return False


def _loop_between(rule: Rule, binding: cst.CSTNode, use: cst.CSTNode) -> bool:
    """Whether a loop encloses ``use`` but not ``binding``."""
    binding_ancestors: set[int] = set()
    node: cst.CSTNode | None = binding
    while node is not None:
        binding_ancestors.add(id(node))
        node = rule.parent(node)
    node = rule.parent(use)
    while node is not None and id(node) not in binding_ancestors:
        if isinstance(node, cst.For | cst.While | cst.CompFor):
            return True
        node = rule.parent(node)
    return False


def receiver_without_data(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``h`` for ``h.data`` (then ``.detach()`` replaces ``.data``), else ``expr`` itself."""
    if isinstance(expr, cst.Attribute) and expr.attr.value == "data" and not expr.lpar:
        return expr.value
    return expr


def detach(expr: cst.BaseExpression) -> cst.Call:
    """``expr.detach()``, with ``h.data`` becoming ``h.detach()``."""
    return nodes.method_call(receiver_without_data(expr), "detach")
