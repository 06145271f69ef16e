"""The shape a finding of VM201 or VM202 has in CPython's `ast`: a test every module with one passes.

The text prefilter passes any `.data[0]` and `.numpy()[0]`: in strings and comments, in assignments
(`emb.weight.data[0] = 0`), on a dataset's own `self.data[0]`. Modern code is full of them, and each
such file cost LibCST's parse and analysis (and a run whose only candidates they were, LibCST's import)
to find nothing. CPython's parse costs a fortieth of LibCST's and tells most of them apart.

Each test is a necessary condition, never a sufficient one: wherever CPython's tree cannot show what
LibCST would see, it passes. CPython's tree drops parentheses, which stop the rules' walk down a
receiver chain; it normalises identifiers (NFKC), which LibCST compares as written; and it knows no
scopes. So a receiver counts as a method's own `self` only where no scope analysis could say
otherwise: an ASCII module, the name read in the method's own body, bound there by nothing but its
first parameter, in a `def` directly in a class body that no decorator can make a static method.
Standard library only: it runs before LibCST is imported.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable, Container, Iterable, Sequence
from typing import TYPE_CHECKING

from varmigrate.rules.torch_api import FULL_REDUCTIONS, TO_NUMPY_STEPS

if TYPE_CHECKING:
    from varmigrate.rules.spec import RuleSpec

_Function = ast.FunctionDef | ast.AsyncFunctionDef
# Nodes whose inner names live in a scope of their own.
_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


class _Module:
    """What the tests need of a module besides a node: its text, and what is known of its methods."""

    def __init__(self, source: str) -> None:
        # LibCST compares names as written, CPython after NFKC: only ASCII names are the same to both.
        self.ascii = source.isascii()
        self.static_possible = "staticmethod" in source
        self._own: dict[tuple[int, str], bool] = {}

    def own_instance(self, expr: ast.expr, method: _Function | None) -> bool:
        """Whether ``expr``, read in the body of ``method`` (None: not directly in a method's body), is
        certainly the method's first parameter, as `Rule.is_own_instance` finds it."""
        if method is None or not self.ascii or type(expr) is not ast.Name:
            return False
        key = (id(method), expr.id)
        known = self._own.get(key)
        if known is None:
            known = self._own[key] = self._bound_by_first_parameter_only(method, expr.id)
        return known

    def _bound_by_first_parameter_only(self, method: _Function, name: str) -> bool:
        positional = [*method.args.posonlyargs, *method.args.args]
        if not positional or positional[0].arg != name:
            return False
        # A decorator can only be `staticmethod` where the module spells the word (an import included).
        if method.decorator_list and self.static_possible:
            return False
        bindings = sum(_binds(node, name) for node in ast.walk(method))
        return bindings == 1  # the parameter itself


def _binds(node: ast.AST, name: str) -> int:
    """How many times ``node`` itself binds (or declares, or deletes) ``name``, in any scope."""
    if isinstance(node, ast.Name):
        return int(node.id == name and not isinstance(node.ctx, ast.Load))
    if isinstance(node, ast.arg):
        return int(node.arg == name)
    if isinstance(node, ast.alias):
        return int((node.asname or node.name.partition(".")[0]) == name)
    if isinstance(node, ast.Global | ast.Nonlocal):
        return int(name in node.names)
    # Definitions, `except ... as`, match captures and (3.12) type parameters.
    return int(getattr(node, "name", None) == name or getattr(node, "rest", None) == name)


def _is_zero(index: ast.expr) -> bool:
    """Whether the subscript's index can be LibCST's `[0]`: an integer literal 0, alone or before a comma."""
    if isinstance(index, ast.Tuple) and len(index.elts) == 1:
        index = index.elts[0]
    # Not `False`: a bool is an int to `isinstance`.
    return isinstance(index, ast.Constant) and type(index.value) is int and index.value == 0


def _data_index_zero(node: ast.Subscript, method: _Function | None, module: _Module) -> bool:
    """VM201: `x.data[0]` read, `x` not the method's own `self`."""
    data = node.value
    if not isinstance(data, ast.Attribute) or data.attr != "data":
        return False
    return not module.own_instance(data.value, method)


def _numpy_index_zero(node: ast.Subscript, method: _Function | None, module: _Module) -> bool:
    """VM202: `x.numpy()[0]` read, where `x` goes through `.data` or looks 0-dim, and is not `self`."""
    receiver = _bare_call(node.value, ("numpy",))
    if receiver is None:
        return False
    tensor, through_data, steps = receiver, False, 0
    while True:
        if isinstance(tensor, ast.Attribute) and tensor.attr == "data":
            through_data, tensor, steps = True, tensor.value, steps + 1
        elif (inner := _bare_call(tensor, TO_NUMPY_STEPS)) is not None:
            tensor, steps = inner, steps + 2
        else:
            break
    # Parentheses stop LibCST's walk early, and CPython's tree has none: past one `.data`, the walk may
    # have ended on another receiver (`(self.cpu()).data.numpy()[0]`), so `self` is not certain there.
    if steps <= 1 and module.own_instance(tensor, method):
        return False
    return through_data or _looks_zero_dim(tensor)


def _bare_call(expr: ast.expr, methods: Container[str]) -> ast.expr | None:
    """The receiver when ``expr`` is `receiver.method()` with no arguments, for one of ``methods``."""
    if isinstance(expr, ast.Call) and not expr.args and not expr.keywords:
        function = expr.func
        if isinstance(function, ast.Attribute) and function.attr in methods:
            return function.value
    return None


def _looks_zero_dim(expr: ast.expr) -> bool:
    """What `_looks_zero_dim` of VM202 can answer for ``expr``: a full reduction, or a loss by its name."""
    if isinstance(expr, ast.Call):
        return _bare_call(expr, FULL_REDUCTIONS) is not None
    if isinstance(expr, ast.Attribute):
        return "loss" in expr.attr.lower()
    if isinstance(expr, ast.Name):
        return "loss" in expr.id.lower()
    # LibCST reads a string literal's text (quotes included) as its name.
    return isinstance(expr, ast.Constant) and isinstance(expr.value, str | bytes)


_Test = Callable[[ast.Subscript, "_Function | None", _Module], bool]
# The rules with a known shape, by code: each finding is a subscript the test passes, and the subscript's
# lines spell the word of the attribute it reads (as LibCST compares it: as written).
SHAPES: dict[str, tuple[_Test, str]] = {
    "VM201": (_data_index_zero, "data"),
    "VM202": (_numpy_index_zero, "numpy"),
}


def shaped_rules(source: str, tree: ast.Module, rules: Sequence[RuleSpec]) -> tuple[RuleSpec, ...]:
    """``rules`` less those with a known shape that CPython's parse ``tree`` of ``source`` does not hold:
    those have no finding in it."""
    wanted = {rule.code for rule in rules if rule.code in SHAPES}
    if not wanted:
        return tuple(rules)
    words = re.compile(r"\b(?:" + "|".join(sorted({SHAPES[code][1] for code in wanted})) + r")\b")
    held = _held(tree, wanted, _Module(source), _rows(source, words))
    return tuple(rule for rule in rules if rule.code not in wanted or rule.code in held)


def _rows(source: str, words: re.Pattern[str]) -> list[int]:
    """The lines (numbered from 1, as CPython does) where ``words`` match, in order."""
    rows: list[int] = []
    row, last = 1, 0
    for match in words.finditer(source):
        row += source.count("\n", last, match.start())
        last = match.start()
        if not rows or rows[-1] != row:
            rows.append(row)
    return rows


def _touches(node: ast.AST, rows: list[int]) -> bool:
    """Whether ``node`` spans one of ``rows`` (a node without a position may)."""
    first = getattr(node, "lineno", None)
    if first is None:
        return True
    # A definition's position starts at `def` or `class`, after its decorators.
    first = min([first, *(decorator.lineno for decorator in getattr(node, "decorator_list", ()))])
    at = bisect.bisect_left(rows, first)
    return at < len(rows) and rows[at] <= (getattr(node, "end_lineno", None) or first)


def _held(tree: ast.Module, codes: Iterable[str], module: _Module, rows: list[int]) -> set[str]:
    """Which of ``codes`` a subscript of ``tree`` has the shape of (the walk ends when all have one).

    Only the nodes that span one of ``rows`` are visited, but the whole of an f-string: before Python
    3.12 the positions of the code inside one are not always right.
    """
    tests = {code: SHAPES[code][0] for code in codes}
    held: set[str] = set()
    # Each node with the method whose own body holds it (None: none does), whether it is a statement
    # of a class body (where a `def` is a method), and whether it is inside an f-string.
    stack: list[tuple[ast.AST, _Function | None, bool, bool]] = [(tree, None, False, False)]
    while stack:
        node, method, in_class, whole = stack.pop()
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_zero(node.slice):
            for code, test in list(tests.items()):
                if test(node, method, module):
                    held.add(code)
                    del tests[code]
            if not tests:
                return held
        whole = whole or isinstance(node, ast.JoinedStr)
        if isinstance(node, ast.ClassDef) or (in_class and isinstance(node, _Function)):
            # A class's statements may define methods, a method's are its own body; the rest (bases,
            # decorators, parameters, annotations) is read in the scope around.
            body = {id(statement) for statement in node.body}
            owner = node if isinstance(node, _Function) else None
            for child in ast.iter_child_nodes(node):
                if whole or _touches(child, rows):
                    inner = id(child) in body
                    stack.append((child, owner if inner else None, inner and owner is None, whole))
            continue
        inside = None if isinstance(node, _SCOPES) else method
        for child in ast.iter_child_nodes(node):
            if whole or _touches(child, rows):
                stack.append((child, inside, False, whole))
    return held


__all__ = ["SHAPES", "shaped_rules"]
