"""The rule base class and the per-module context every rule shares."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeVar

import libcst as cst
import libcst.matchers as m
from libcst._metadata_dependent import LazyValue as _LazyValue
from libcst.metadata import (
    Assignment,
    BaseMetadataProvider,
    ClassScope,
    CodeRange,
    FunctionScope,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedName,
    QualifiedNameProvider,
    Scope,
    ScopeProvider,
)

from varmigrate.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, RuntimeCheck
from varmigrate.rules import _cst
from varmigrate.rules._torch import VARIABLE, VARIABLE_STAR_MODULES

_NEWLINE = re.compile(r"\r\n|\r|\n")
_T = TypeVar("_T")
_WORD = re.compile(r"\w+")
_VARIABLE_ALIAS = re.compile(r"\bVariable\s+as\s+(\w+)")


@dataclass
class ModuleContext:
    """What the rules of one module share: source, offsets, torch bindings, and the findings so far."""

    wrapper: MetadataWrapper
    source: str
    line_starts: list[int]
    # The name under which `torch` itself is bound at module level (`torch`, or `th` after
    # `import torch as th`), and whether it is bound at all.
    torch_name: str = "torch"
    torch_bound: bool = False
    # `from torch.autograd import *` is in effect, so an unbound `Variable` is torch's.
    star_variable: bool = False
    # Legacy constructors ignore `torch.set_default_device`; factories follow it.
    sets_default_device: bool = False
    # Every spelling a bare name referring to `Variable` can have here (`Variable`, and each `as` alias).
    variable_spellings: frozenset[str] = frozenset({"Variable"})
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # The code of the top-level statements left out of the analysed module (see `reduce`), if any.
    dropped_code: str = ""
    _metadata: dict[type[BaseMetadataProvider[object]], Mapping[cst.CSTNode, object]] = field(
        default_factory=dict
    )

    @classmethod
    def build(cls, module: cst.Module, source: str, rules: Sequence[type[Rule]] = ()) -> ModuleContext:
        """Context for ``module`` parsed from ``source``, analysed for ``rules``."""
        starts = [0]
        starts.extend(match.end() for match in _NEWLINE.finditer(source))
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        ctx = cls(wrapper=wrapper, source=source, line_starts=starts)
        ctx.star_variable = _star_imports_variable(module)
        ctx.sets_default_device = "set_default_device" in source
        ctx.variable_spellings = frozenset({"Variable", *_VARIABLE_ALIAS.findall(source)})
        if rules:
            ctx.reduce(rules)
        return ctx

    def reduce(self, rules: Sequence[type[Rule]]) -> None:
        """Analyse only the statements that may hold a finding (and every import).

        Scope analysis costs about ten times the parse and grows with the module; a large module
        usually holds its few candidates in a few functions or methods. The other module- and
        class-level statements are replaced by `pass` on as many lines, so every kept node keeps its
        line and column (checked line by line below; any doubt and the whole module is analysed).
        The kept nodes are the very nodes of the full module, so findings and fixes refer to it.
        What the left-out code could change about a kept name is checked where it matters
        (`fresh_name_binding` looks into `dropped_code`).
        """
        module = self.wrapper.module
        pattern = re.compile("|".join([r"\bimport\b", *(rule.statement_pattern(self) for rule in rules)]))
        dropped: list[str] = []
        body = _reduce_block(module, module.body, pattern, dropped)
        if not dropped:
            return
        reduced = module.with_changes(body=body)
        if not _same_lines(reduced.code, self.source):
            return
        self.wrapper = MetadataWrapper(reduced, unsafe_skip_copy=True)
        self.dropped_code = "".join(dropped)

    @property
    def module(self) -> cst.Module:
        """The parsed module (the very nodes metadata is keyed by)."""
        return self.wrapper.module

    def metadata(self, provider: type[BaseMetadataProvider[_T]], node: cst.CSTNode, default: _T) -> _T:
        """``provider``'s value for ``node``, computing the provider for the module on first use.

        Scope and qualified-name analysis cost about ten times the parse; resolving them lazily means a
        module whose nodes never look like a candidate never pays for them.
        """
        table = self._metadata.get(provider)
        if table is None:
            table = self.wrapper.resolve(provider)
            self._metadata[provider] = table
        value = table.get(node, default)
        # Some providers store lazily computed values.
        return value() if isinstance(value, _LazyValue) else value  # type: ignore[return-value]

    def offset(self, line: int, column: int) -> int:
        """Character offset of a LibCST position (1-based line, 0-based column)."""
        return self.line_starts[line - 1] + column


_BLANK = cst.EmptyLine(indent=False, whitespace=cst.SimpleWhitespace(""), comment=None)


def _reduce_block(
    module: cst.Module, statements: Sequence[cst.BaseStatement], pattern: re.Pattern[str], dropped: list[str]
) -> list[cst.BaseStatement]:
    """``statements`` with those that cannot hold a finding replaced by `pass` on as many lines.

    Kept classes are reduced in turn (their methods are separate scopes); functions are kept whole.
    The code of every left-out statement is appended to ``dropped``.
    """
    codes = [module.code_for_node(statement) for statement in statements]
    keep = [bool(pattern.search(code)) for code in codes]
    # Assignments to names the kept code mentions stay too: a fresh tensor bound at module level and
    # wrapped later (`x = torch.zeros(3)` ... `Variable(x)`) is the tutorial case.
    mentioned = set(_WORD.findall("".join(code for code, kept in zip(codes, keep, strict=True) if kept)))
    body: list[cst.BaseStatement] = []
    for statement, code, kept in zip(statements, codes, keep, strict=True):
        if kept or _assigned_names(statement) & mentioned:
            if isinstance(statement, cst.ClassDef) and isinstance(statement.body, cst.IndentedBlock):
                inner = _reduce_block(module, statement.body.body, pattern, dropped)
                statement = statement.with_changes(body=statement.body.with_changes(body=inner))
            body.append(statement)
            continue
        dropped.append(code)
        lines = len(_NEWLINE.findall(code))
        body.append(cst.SimpleStatementLine([cst.Pass()], leading_lines=[_BLANK] * max(lines - 1, 0)))
    return body


def _assigned_names(statement: cst.BaseStatement) -> set[str]:
    """Names a simple statement assigns (`x = ...`, `x: T = ...`, `x += ...`)."""
    names: set[str] = set()
    if isinstance(statement, cst.SimpleStatementLine):
        for small in statement.body:
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, cst.AnnAssign | cst.AugAssign):
                targets = [small.target]
            else:
                continue
            names.update(t.value for t in targets if isinstance(t, cst.Name))
    return names


def _same_lines(reduced: str, source: str) -> bool:
    """Whether every line of ``reduced`` but the placeholders stands where it stands in ``source``."""
    mine, theirs = _NEWLINE.split(reduced), _NEWLINE.split(source)
    if len(mine) != len(theirs):
        return False
    return all(a == b or a.strip() in ("", "pass") for a, b in zip(mine, theirs, strict=True))


def _star_imports_variable(module: cst.Module) -> bool:
    """Whether a module-level star import from torch.autograd is the last star import in the module."""
    result = False
    for node in m.findall(module, m.ImportFrom(names=m.ImportStar())):
        assert isinstance(node, cst.ImportFrom)
        name = _dotted(node.module) if node.module is not None else ""
        result = not node.relative and name in VARIABLE_STAR_MODULES
    return result


def _dotted(expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return f"{_dotted(expr.value)}.{expr.attr.value}"
    return ""


def kebab(name: str) -> str:
    """``LegacyVariableCall`` -> ``legacy-variable-call``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class Rule(cst.BatchableCSTVisitor):
    """One kind of finding. Subclasses set ``code``, ``message`` and ``triggers`` and visit nodes.

    The class docstring is the rule's documentation (What it does / Why is this bad? / Example /
    Use instead / Fix safety / Known problems). All rules of a module run in one batched traversal
    (a matcher-decorated visitor costs about four times as much per traversal); metadata comes from
    the shared context, computed only when a rule first asks for it.
    """

    code: ClassVar[str]
    message: ClassVar[str]
    # Prefilter, run before any parse: a module can hold a finding of this rule only if its text
    # contains every string in `requires` and, outside strings and comments, one of the words in
    # `triggers`. Every way of reaching torch's `Variable` spells "autograd" somewhere.
    requires: ClassVar[tuple[str, ...]] = ("torch", "autograd")
    triggers: ClassVar[tuple[str, ...]] = ("Variable",)
    # Whether findings come with a fix that `varmigrate fix` can apply (shown by `varmigrate rule`).
    fix_availability: ClassVar[Literal["always", "sometimes", "never"]] = "never"

    @classmethod
    def could_match(cls, source: str, code: Callable[[], str]) -> bool:
        """Whether ``source`` may hold a finding; ``code()`` is the source without strings and comments."""
        if not all(required in source for required in cls.requires):
            return False
        if not any(word in source for word in cls.triggers):
            return False
        return any(re.search(rf"\b{re.escape(word)}\b", code()) for word in cls.triggers)

    @classmethod
    def statement_pattern(cls, ctx: ModuleContext) -> str:
        """A regular expression found in the code of every top-level statement that may hold a finding."""
        words = set(cls.triggers)
        if "Variable" in words:
            words |= ctx.variable_spellings
        return r"\b(?:" + "|".join(re.escape(word) for word in sorted(words)) + r")\b"

    def __init__(self, ctx: ModuleContext) -> None:
        super().__init__()
        self.ctx = ctx

    @classmethod
    def name(cls) -> str:
        """The rule's kebab-case name, derived from the class name."""
        return kebab(cls.__name__)

    # -- name resolution -------------------------------------------------------------------------

    def qualified_names(self, node: cst.CSTNode) -> set[str]:
        """The qualified names ``node`` may refer to (empty when unknown)."""
        empty: set[QualifiedName] = set()
        return {q.name for q in self.ctx.metadata(QualifiedNameProvider, node, empty)}

    def resolves_to(self, node: cst.CSTNode, names: Collection[str]) -> bool:
        """Whether every binding ``node`` may refer to is one of ``names``."""
        found = self.qualified_names(node)
        return bool(found) and found <= set(names)

    def resolved_name(self, node: cst.CSTNode) -> str | None:
        """The one qualified name ``node`` refers to, or ``None`` when unknown or ambiguous."""
        found = self.qualified_names(node)
        return next(iter(found)) if len(found) == 1 else None

    def is_variable(self, node: cst.CSTNode) -> bool:
        """Whether ``node`` refers to torch's ``Variable`` (by qualified name, star imports included)."""
        # Spelling first: only a node that could be `Variable` pays for scope analysis.
        if isinstance(node, cst.Name):
            if node.value not in self.ctx.variable_spellings:
                return False
        elif not isinstance(node, cst.Attribute) or node.attr.value != "Variable":
            return False
        if self.resolves_to(node, VARIABLE):
            return True
        return (
            self.ctx.star_variable
            and isinstance(node, cst.Name)
            and node.value == "Variable"
            and not self.qualified_names(node)
            and self._is_unbound_access(node)
        )

    def _is_unbound_access(self, node: cst.Name) -> bool:
        scope = self.ctx.metadata(ScopeProvider, node, None)
        if not isinstance(scope, Scope):
            return False
        accessed = any(access.node is node for access in scope.accesses[node.value])
        return accessed and not scope.assignments[node.value]

    def is_own_instance(self, expr: cst.BaseExpression) -> bool:
        """Whether ``expr`` is the first parameter of a method here (``self``/``cls``): not a tensor."""
        if not isinstance(expr, cst.Name):
            return False
        scope = self.ctx.metadata(ScopeProvider, expr, None)
        if scope is None:
            return False
        assignments = list(scope[expr.value])
        if len(assignments) != 1 or not isinstance(assignments[0], Assignment):
            return False
        param, owner = assignments[0].node, assignments[0].scope
        if not isinstance(owner, FunctionScope) or not isinstance(owner.parent, ClassScope):
            return False
        method = owner.node
        if not isinstance(method, cst.FunctionDef):
            return False
        positional = [*method.params.posonly_params, *method.params.params]
        static = any(self.resolved_name(d.decorator) == "builtins.staticmethod" for d in method.decorators)
        return not static and bool(positional) and positional[0] is param

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The parent of ``node`` in the module."""
        return self.ctx.metadata(ParentNodeProvider, node, None)

    def torch_attr(self, *attrs: str) -> cst.Attribute:
        """``torch.a.b`` spelled with the module's own binding of torch."""
        expr: cst.BaseExpression = cst.Name(self.ctx.torch_name)
        for attr in attrs:
            expr = cst.Attribute(value=expr, attr=cst.Name(attr))
        assert isinstance(expr, cst.Attribute)
        return expr

    @property
    def torch_imports(self) -> tuple[str, ...]:
        """Imports a fix that spells ``torch.`` needs."""
        return () if self.ctx.torch_bound else ("torch",)

    # -- reporting -------------------------------------------------------------------------------

    def range_of(self, node: cst.CSTNode) -> CodeRange:
        """The source range of ``node``."""
        position = self.ctx.metadata(PositionProvider, node, None)
        assert position is not None, "node is not part of this module"
        return position

    def replace_with(
        self,
        node: cst.BaseExpression,
        replacement: cst.BaseExpression,
        title: str,
        applicability: Applicability,
        imports: Sequence[str] = (),
        verified_by: RuntimeCheck | None = None,
    ) -> Fix:
        """A fix that replaces ``node`` with ``replacement``.

        A replacement that needs parentheses in its context gets them; a fix that would drop a comment
        is downgraded to DISPLAY_ONLY.
        """
        # The node's own parentheses lie outside its range and stay; inside them anything fits.
        if not node.lpar and not _cst.is_atom(replacement) and not self._any_expression_fits(node):
            replacement = _cst.parenthesize(replacement)
        # Comments in the node's own parentheses lie outside the edit and survive it.
        if _cst.count_comments(replacement) < _cst.count_comments(_cst.without_parens(node)):
            applicability = Applicability.DISPLAY_ONLY
            title = f"{title} (not applied: it would drop a comment)"
        position = self.range_of(node)
        start = self.ctx.offset(position.start.line, position.start.column)
        end = self.ctx.offset(position.end.line, position.end.column)
        edit = Edit(
            content=_cst.code(replacement),
            start=Location(position.start.line, position.start.column + 1),
            end=Location(position.end.line, position.end.column + 1),
            start_offset=start,
            end_offset=end,
        )
        return Fix(
            title=title,
            applicability=applicability,
            edits=(edit,),
            imports=tuple(imports),
            verified_by=verified_by,
        )

    def _any_expression_fits(self, node: cst.CSTNode) -> bool:
        """Whether any expression (short of a walrus or yield) may stand where ``node`` stands."""
        parent = self.parent(node)
        if isinstance(parent, cst.Arg) and parent.value is node:
            return True
        return isinstance(parent, cst.Assign | cst.Return) and getattr(parent, "value", None) is node

    def report(
        self,
        node: cst.CSTNode,
        *,
        message: str | None = None,
        fixes: Sequence[Fix] = (),
    ) -> None:
        """Record a finding on ``node`` with ranked fixes (best first)."""
        position = self.range_of(node)
        self.ctx.diagnostics.append(
            Diagnostic(
                code=self.code,
                name=self.name(),
                message=message or self.message,
                start=Location(position.start.line, position.start.column + 1),
                end=Location(position.end.line, position.end.column + 1),
                fixes=tuple(fixes),
            )
        )
