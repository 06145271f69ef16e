"""The rule base class: name resolution by qualified name, fixes and reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import ClassVar

import libcst as cst
from libcst.metadata import (
    Assignment,
    ClassScope,
    CodeRange,
    FunctionScope,
    ParentNodeProvider,
    PositionProvider,
    QualifiedName,
    QualifiedNameProvider,
    Scope,
    ScopeProvider,
)

from varmigrate.model import Applicability, Diagnostic, Edit, Fix, Location, RuntimeCheck
from varmigrate.rules import RuleSpec, nodes
from varmigrate.rules.context import ModuleContext

# Nodes whose children all stand inside brackets: a call's or class's arguments, a subscript's
# elements, and the displays and comprehensions in square or curly brackets.
_BRACKETED = (
    cst.Arg,
    cst.SubscriptElement,
    cst.List,
    cst.Set,
    cst.Dict,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
)


@dataclass(frozen=True)
class Valid:
    """A module the rule must not flag (an edge of the rule, shown next to its code)."""

    code: str


@dataclass(frozen=True)
class Invalid:
    """A module the rule flags, and what ``fix`` makes of it (``fixed``; None: left as it is)."""

    code: str
    fixed: str | None = None
    # The fix shown in ``fixed`` needs ``--unsafe-fixes``.
    unsafe: bool = False


class Rule(cst.BatchableCSTVisitor):
    """One kind of finding: a visitor over the module that reports nodes, with ranked fixes.

    Code, message and prefilter are the rule's catalog entry (:class:`RuleSpec`, in
    ``varmigrate.rules``); the class docstring is the rule's documentation (What it does / Why is this
    bad? / Example / Use instead / Fix safety / Known problems). All rules of a module run in one
    batched traversal (a matcher-decorated visitor costs about four times as much per traversal);
    metadata comes from the shared context, computed only when a rule first asks for it.
    """

    # The rule's edges as small whole modules, run by the test suite (as Fixit's VALID / INVALID).
    VALID: ClassVar[tuple[Valid, ...]] = ()
    INVALID: ClassVar[tuple[Invalid, ...]] = ()

    def __init__(self, ctx: ModuleContext, spec: RuleSpec) -> None:
        super().__init__()
        self.ctx = ctx
        self.spec = spec

    @property
    def code(self) -> str:
        """The rule's code, e.g. ``VM001``."""
        return self.spec.code

    @property
    def message(self) -> str:
        """The rule's default message."""
        return self.spec.message

    def name(self) -> str:
        """The rule's kebab-case name."""
        return self.spec.name()

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
        """Whether ``node`` refers to torch's ``Variable`` (by qualified name, star imports included).

        Imports of the project's own modules count (`from model import *`, where `model` imports torch's
        `Variable`): the engine's settings carry what they bind (`ModuleContext.variable_names`).
        """
        # Spelling first: only a node that could be `Variable` pays for scope analysis.
        if isinstance(node, cst.Name):
            if node.value not in self.ctx.variable_spellings:
                return False
        elif not isinstance(node, cst.Attribute) or node.attr.value not in self.ctx.variable_spellings:
            return False
        if self._in_import(node):
            # LibCST's scope analysis does not enter imports: it gives their names no scope, hence no
            # qualified name. Answered here, `from torch.autograd import Variable` alone (all a fixed
            # module still spells before its imports are cleaned up) costs no scope analysis.
            return False
        if self.resolves_to(node, self.ctx.variable_names):
            return True
        return (
            isinstance(node, cst.Name)
            and node.value in self.ctx.star_variables
            and not self.qualified_names(node)
            and self._is_unbound_access(node)
        )

    def _in_import(self, node: cst.Name | cst.Attribute) -> bool:
        """Whether ``node`` is a name an import statement spells (imported, bound, or the module's)."""
        parent = self.parent(node)
        while isinstance(parent, cst.Attribute | cst.AsName):
            parent = self.parent(parent)
        return isinstance(parent, cst.ImportAlias | cst.ImportFrom)

    def _is_unbound_access(self, node: cst.Name) -> bool:
        scope = self.ctx.metadata(ScopeProvider, node, None)
        if not isinstance(scope, Scope):
            return False
        accessed = any(access.node is node for access in scope.accesses[node.value])
        return accessed and not scope.assignments[node.value]

    def is_own_instance(self, expr: cst.BaseExpression) -> bool:
        """Whether ``expr`` is the first parameter of a method here (``self``/``cls``): not a tensor."""
        if not isinstance(expr, cst.Name) or not self._inside_def_whose_first_parameter_is(expr.value, expr):
            # Scope analysis of the module (the costly part on a large one) could only confirm a `def`
            # around ``expr`` whose first parameter it names.
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
        static = self.decorated_with(method, "builtins.staticmethod")
        return not static and bool(positional) and positional[0] is param

    def _inside_def_whose_first_parameter_is(self, name: str, node: cst.CSTNode) -> bool:
        """Whether a `def` around ``node`` has a first positional parameter called ``name``."""
        parent = self.parent(node)
        while parent is not None:
            if isinstance(parent, cst.FunctionDef):
                positional = [*parent.params.posonly_params, *parent.params.params]
                if positional and positional[0].name.value == name:
                    return True
            parent = self.parent(parent)
        return False

    def decorated_with(self, function: cst.FunctionDef, *decorators: str) -> bool:
        """Whether ``function`` has a decorator that is one of ``decorators`` (qualified names)."""
        return any(self.resolved_name(d.decorator) in decorators for d in function.decorators)

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

        A replacement that needs parentheses in its context gets them. Comments inside ``node`` that the
        replacement does not keep move to lines of their own above the statement, in their order.
        """
        # The node's own parentheses lie outside its range and stay; inside them anything fits.
        if not node.lpar and self._needs_parentheses(node, replacement):
            replacement = nodes.parenthesize(replacement)
        position = self.range_of(node)
        start = self.ctx.offset(position.start.line, position.start.column)
        end = self.ctx.offset(position.end.line, position.end.column)
        content = nodes.code_indented(replacement, self._indentation(node))
        # Comments in the node's own parentheses lie outside the edit and survive it.
        lost = _lost_comments(nodes.without_parens(node), replacement)
        line = position.start.line
        if lost:
            line = self.range_of(self._statement(node)).start.line
            line_start = self.ctx.offset(line, 0)
            before = self.ctx.source[line_start:start]
            # The statement's indentation (a form feed in it is a page break, not indentation).
            indent = before[: len(before) - len(before.lstrip(" \t\f"))].replace("\f", "")
            newline = self.ctx.module.default_newline
            content = "".join(f"{indent}{comment}{newline}" for comment in lost) + before + content
            start = line_start
            title = f"{title}; {_moved(lost)} above the statement"
        edit = Edit(
            content=content,
            start=Location(line, start - self.ctx.offset(line, 0) + 1),
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

    def _statement(self, node: cst.CSTNode) -> cst.CSTNode:
        """The statement ``node`` is part of (for a compound statement, the one whose header holds it)."""
        current: cst.CSTNode = node
        parent = self.parent(current)
        while parent is not None and not isinstance(current, _STATEMENTS):
            current, parent = parent, self.parent(parent)
        return current

    def _indentation(self, node: cst.CSTNode) -> str:
        """The indentation of the blocks ``node`` stands in, outermost first."""
        return "".join(nodes.block_indents(node, self.parent, self.ctx.module.default_indent))

    def _needs_parentheses(self, node: cst.CSTNode, replacement: cst.BaseExpression) -> bool:
        """Whether ``replacement`` needs parentheses of its own to stand where ``node`` stands."""
        if not nodes.is_atom(replacement) and not self._any_expression_fits(node):
            return True
        # `Variable(x.new()` + newline + `.fill_(0))`: the line break leans on the call's parentheses,
        # which the fix removes; it needs new ones unless other brackets around the node hold it.
        return nodes.breaks_lines_bare(replacement) and not self._within_brackets(node)

    def _within_brackets(self, node: cst.CSTNode) -> bool:
        """Whether ``node`` stands inside brackets of its statement (arguments, subscripts, displays)."""
        parent = self.parent(node)
        while parent is not None and not isinstance(parent, cst.BaseSmallStatement | cst.BaseStatement):
            if isinstance(parent, _BRACKETED) or getattr(parent, "lpar", None):
                return True
            parent = self.parent(parent)
        return False

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


_STATEMENTS = (cst.SimpleStatementLine, cst.BaseCompoundStatement)


def _lost_comments(before: cst.CSTNode, after: cst.CSTNode) -> list[str]:
    """The comments of ``before`` that ``after`` does not hold, in their order."""
    kept = Counter(comment.value for comment in nodes.descendants(after) if isinstance(comment, cst.Comment))
    lost = []
    for comment in nodes.descendants(before):
        if isinstance(comment, cst.Comment):
            if kept[comment.value]:
                kept[comment.value] -= 1
            else:
                lost.append(comment.value)
    return lost


def _moved(comments: Sequence[str]) -> str:
    return "its comment moved" if len(comments) == 1 else "its comments moved"
