"""What a finding of VM201, VM202 or the rules about `Variable` needs in CPython's `ast`: a test every
module with one passes.

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

The rules about `Variable` need the word outside docstrings and the imports that bind it under its own
name (see `_variable_in_code`): what a module still spells once `fix` has rewritten its uses.
Standard library only: it runs before LibCST is imported.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from varmigrate.rules.cpython import blocks, character_column
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


def is_zero(index: ast.expr) -> bool:
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


def has_shape(rule: RuleSpec) -> bool:
    """Whether `shaped_rules` knows what a finding of ``rule`` needs in CPython's tree."""
    return rule.code in SHAPES or _about_variable(rule)


def _about_variable(rule: RuleSpec) -> bool:
    """Whether ``rule`` is one about torch's `Variable` as the catalog has it, spelled `Variable` (not a
    module's rule through its project's star imports, where other spellings count)."""
    return rule.triggers == ("Variable",) and rule.requires == ("torch", "autograd") and rule.pattern is None


def shaped_rules(source: str, tree: ast.Module, rules: Sequence[RuleSpec]) -> tuple[RuleSpec, ...]:
    """``rules`` less those with a known shape that CPython's parse ``tree`` of ``source`` does not hold:
    those have no finding in it."""
    if any(_about_variable(rule) for rule in rules) and not _variable_in_code(source, tree):
        rules = [rule for rule in rules if not _about_variable(rule)]
    wanted = {rule.code for rule in rules if rule.code in SHAPES}
    if not wanted:
        return tuple(rules)
    words = re.compile(r"\b(?:" + "|".join(sorted({SHAPES[code][1] for code in wanted})) + r")\b")
    held = _held(tree, wanted, _Module(source), rows_matching(source, words))
    return tuple(rule for rule in rules if rule.code not in wanted or rule.code in held)


def _variable_in_code(source: str, tree: ast.Module) -> bool:
    """Whether `Variable` may reach code: spelled outside docstrings and the imports that bind it under
    its own name, or imported under another (`import Variable as V`, whose uses do not spell it).

    The rules about `Variable` find it through the names and attributes that spell it (LibCST compares
    them as written, so only the ASCII word counts) and through the aliases an import gives it; a name
    in an import statement is no finding itself, and a docstring is no code. A module whose every
    `Variable` is in those two has no finding of theirs: in `fix`, the one left once its uses are fixed
    (the import, and old docstrings' `:rtype: torch.autograd.Variable`).
    """
    found = [match.start() for match in _VARIABLE.finditer(source)]
    if not found:
        return False
    place = Offsets(source)
    imports: list[tuple[int, int]] = []
    for node in _statements(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = alias.asname or alias.name.partition(".")[0]
                if alias.name.rpartition(".")[2] == "Variable" and bound != "Variable":
                    return True
            imports.append(place.span(node))
    outside = Spans([*imports, *docstring_spans(source, tree, place)])
    return any(not outside.holds(offset) for offset in found)


def docstring_spans(source: str, tree: ast.Module, place: Offsets | None = None) -> list[tuple[int, int]]:
    """Where the docstrings of ``source`` (CPython's parse ``tree``) are: the string literal that is the
    first statement of the module, of a class or of a function, as start and end offsets."""
    place = place or Offsets(source)
    spans = []
    for node in _statements(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and _is_text(first.value):
                spans.append(place.span(first))
    return spans


class Spans:
    """Spans of a text (start and end offsets, none overlapping another), asked which holds an offset."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        self.spans = sorted(spans)
        self.starts = [start for start, _ in self.spans]

    def holds(self, start: int, end: int | None = None) -> bool:
        """Whether one span holds ``start`` (and all up to ``end``, when given)."""
        at = bisect.bisect_right(self.starts, start) - 1
        return at >= 0 and (end if end is not None else start + 1) <= self.spans[at][1]


def _is_text(expr: ast.expr) -> bool:
    """Whether ``expr`` is a string literal (what makes the first statement of a body its docstring)."""
    return isinstance(expr, ast.Constant) and isinstance(expr.value, str)


_VARIABLE = re.compile(r"\bVariable\b")


def _statements(tree: ast.Module) -> Iterator[ast.AST]:
    """The module and every statement in it, at any depth (the bodies of definitions and compound
    statements), without entering expressions."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        yield node
        for block in blocks(node):
            pending.extend(block)


class Offsets:
    """Offsets in a text of the positions CPython gives (1-based lines, columns in UTF-8 bytes)."""

    def __init__(self, source: str) -> None:
        self.lines = source.split("\n")
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Where ``node`` starts and ends in the text."""
        start = self._offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self._offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end

    def _offset(self, row: int, column: int) -> int:
        return self.starts[row - 1] + character_column(self.lines[row - 1], column)


def rows_matching(source: str, words: re.Pattern[str]) -> list[int]:
    """The lines (numbered from 1, as CPython does) where ``words`` match, in order."""
    rows: list[int] = []
    row, last = 1, 0
    for match in words.finditer(source):
        row += source.count("\n", last, match.start())
        last = match.start()
        if not rows or rows[-1] != row:
            rows.append(row)
    return rows


def touches(node: ast.AST, rows: list[int]) -> bool:
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
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and is_zero(node.slice):
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
                if whole or touches(child, rows):
                    inner = id(child) in body
                    stack.append((child, owner if inner else None, inner and owner is None, whole))
            continue
        inside = None if isinstance(node, _SCOPES) else method
        for child in ast.iter_child_nodes(node):
            if whole or touches(child, rows):
                stack.append((child, inside, False, whole))
    return held


__all__ = [
    "SHAPES",
    "Offsets",
    "Spans",
    "docstring_spans",
    "has_shape",
    "is_zero",
    "rows_matching",
    "shaped_rules",
    "touches",
]
