"""The rule base class and the per-module context every rule shares."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import libcst as cst
import libcst.matchers as m
from libcst.metadata import (
    CodeRange,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
    Scope,
    ScopeProvider,
)

from varmigrate.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, RuntimeCheck
from varmigrate.rules import _cst
from varmigrate.rules._torch import VARIABLE, VARIABLE_STAR_MODULES

_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass
class ModuleContext:
    """What the rules of one module share: source, offsets, torch bindings, and the findings so far."""

    module: cst.Module
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
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @classmethod
    def build(cls, module: cst.Module, source: str) -> ModuleContext:
        """Context for ``module`` parsed from ``source``."""
        starts = [0]
        starts.extend(match.end() for match in _NEWLINE.finditer(source))
        ctx = cls(module=module, source=source, line_starts=starts)
        ctx.star_variable = _star_imports_variable(module)
        ctx.sets_default_device = "set_default_device" in source
        return ctx

    def offset(self, line: int, column: int) -> int:
        """Character offset of a LibCST position (1-based line, 0-based column)."""
        return self.line_starts[line - 1] + column


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


class Rule(m.MatcherDecoratableVisitor):
    """One kind of finding. Subclasses set ``code``, ``message`` and ``triggers`` and visit nodes.

    The class docstring is the rule's documentation (What it does / Why is this bad? / Example /
    Use instead / Fix safety / Known problems).
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider, ParentNodeProvider, ScopeProvider)

    code: ClassVar[str]
    message: ClassVar[str]
    # A source containing none of these substrings cannot hold a finding of this rule.
    triggers: ClassVar[tuple[str, ...]] = ("Variable",)

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
        return {q.name for q in self.get_metadata(QualifiedNameProvider, node, set())}

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
        if not isinstance(node, cst.Name | cst.Attribute):
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
        scope = self.get_metadata(ScopeProvider, node, None)
        if not isinstance(scope, Scope):
            return False
        accessed = any(access.node is node for access in scope.accesses[node.value])
        return accessed and not scope.assignments[node.value]

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The parent of ``node`` in the module."""
        return self.get_metadata(ParentNodeProvider, node, None)

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
        return self.get_metadata(PositionProvider, node)

    def replace(
        self,
        node: cst.BaseExpression,
        replacement: cst.BaseExpression,
        title: str,
        applicability: Applicability,
        imports: Sequence[str] = (),
        verified_by: RuntimeCheck | None = None,
    ) -> Fix:
        """A fix that replaces ``node`` with ``replacement``.

        The node's own parentheses are kept; a replacement that needs parentheses in its context gets
        them; a fix that would drop a comment is downgraded to DISPLAY_ONLY.
        """
        if node.lpar and not replacement.lpar:
            replacement = replacement.with_changes(lpar=node.lpar, rpar=node.rpar)
        elif not _cst.is_atom(replacement) and not self._any_expression_fits(node):
            replacement = _cst.parenthesize(replacement)
        if _cst.count_comments(replacement) < _cst.count_comments(node):
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
