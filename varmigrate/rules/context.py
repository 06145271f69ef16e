"""The per-module context every rule shares, assembled in one place.

:meth:`ModuleContext.build` takes a parsed module and gathers what the rules ask of it: offsets for
edits, how torch is bound, star imports, the spellings of `Variable`, and the metadata (computed lazily,
only when a rule first asks). It also reduces the module to the statements that may hold a finding, so
that scope analysis, the costly part, runs over those only. How names are bound is read in `_bindings`;
the walk over the nodes, and their expression contexts, are in `_traversal`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

import libcst as cst
from libcst._metadata_dependent import LazyValue as _LazyValue
from libcst.metadata import (
    BaseMetadataProvider,
    ExpressionContextProvider,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedName,
    QualifiedNameProvider,
    ScopeProvider,
)

from varmigrate.model import Diagnostic, ProjectImports
from varmigrate.rules._bindings import (
    DECLARATION,
    IMPORT,
    STAR_IMPORT,
    aliases,
    star_imports_variable,
    torch_binding,
    variable_aliases,
)
from varmigrate.rules._positions import Positions
from varmigrate.rules._scopes import analyse_scopes
from varmigrate.rules._traversal import (
    Children,
    children,
    expression_context_of,
    expression_contexts,
    walk,
)
from varmigrate.rules.torch_api import VARIABLE

if TYPE_CHECKING:
    from varmigrate.rules import RuleSpec

# The context's public face: the engine imports these from here, wherever they are defined.
__all__ = [
    "DECLARATION",
    "IMPORT",
    "STAR_IMPORT",
    "IncompleteModuleError",
    "ModuleContext",
    "Partial",
    "children",
    "expression_contexts",
    "may_matter",
    "variable_aliases",
    "walk",
]

_NEWLINE = re.compile(r"\r\n|\r|\n")
_T = TypeVar("_T")
_WORD = re.compile(r"\w+")


class IncompleteModuleError(Exception):
    """A module with statements left out by the caller cannot be analysed on its own: parse it whole."""


@dataclass(frozen=True)
class Partial:
    """The statements a caller replaced by stand-ins (line for line) before parsing a module.

    ``left_out`` maps the index in the module's body of each stand-in to the code of the statements
    it replaces; ``codes`` gives the code of kept top-level statements, where the caller knows it.
    ``members_left_out`` and ``member_codes`` do the same in the bodies of kept classes, by path: the
    class's index in the module's body, then each nested class's index in its class's body, then
    the statement's in its class's body.
    """

    left_out: Mapping[int, str]
    codes: Mapping[int, str] = field(default_factory=dict)
    members_left_out: Mapping[tuple[int, ...], str] = field(default_factory=dict)
    member_codes: Mapping[tuple[int, ...], str] = field(default_factory=dict)
    # The kept statements the caller found may matter (`may_matter`), in the module's body and by path.
    matters: frozenset[int] = frozenset()
    member_matters: frozenset[tuple[int, ...]] = frozenset()
    # The code of the elements of long displays left out of kept statements, as blank lines.
    blanked: str = ""


@dataclass
class ModuleContext:
    """What the rules of one module share: source, offsets, torch bindings, and the findings so far."""

    wrapper: MetadataWrapper
    source: str
    # Where each line starts (computed on first use).
    line_starts: list[int]
    # The name under which `torch` itself is bound at module level (`torch`, or `th` after
    # `import torch as th`), and whether it is bound at all.
    torch_name: str = "torch"
    torch_bound: bool = False
    # Names that, unbound here, are torch's `Variable` by a star import: `Variable` when
    # `from torch.autograd import *` is in effect, and what star imports of the project's modules give.
    star_variables: frozenset[str] = frozenset()
    # The qualified names of torch's `Variable` here: torch's own, and those of imports of the project's
    # modules that bind it (`model.Variable` after `from model import Variable`).
    variable_names: frozenset[str] = VARIABLE
    # Legacy constructors ignore `torch.set_default_device`; factories follow it.
    sets_default_device: bool = False
    # Every spelling a name or attribute referring to `Variable` can have here (`Variable`, each `as`
    # alias, and the names imports of the project's modules give it).
    variable_spellings: frozenset[str] = frozenset({"Variable"})
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Where the `non_blocking` keywords that the engine renamed from `async` (to parse the module) start.
    async_repairs: frozenset[int] = frozenset()
    # The code of the top-level statements left out of the analysed module (see `reduce`), if any.
    dropped_code: str = ""
    _metadata: dict[type[BaseMetadataProvider[object]], Mapping[cst.CSTNode, object]] = field(
        default_factory=dict
    )
    # The analysed module's nodes in LibCST's visiting order, and each node's parent (see `_walk`).
    _order: list[cst.CSTNode] | None = None
    _parents: dict[cst.CSTNode, cst.CSTNode] = field(default_factory=dict)
    _children: Children = field(default_factory=dict)
    _qualified: dict[cst.CSTNode, Iterable[QualifiedName]] = field(default_factory=dict)
    _spellings: dict[tuple[str, ...], frozenset[str]] = field(default_factory=dict)
    _positions: Positions | None = None

    @classmethod
    def build(
        cls,
        module: cst.Module,
        source: str,
        rules: Sequence[RuleSpec] = (),
        *,
        partial: Partial | None = None,
        project: ProjectImports | None = None,
    ) -> ModuleContext:
        """Context for ``module`` parsed from ``source``, analysed for ``rules``.

        When the caller parsed only part of ``source`` (``partial``), the module must be reduced
        (``rules`` given), and :class:`IncompleteModuleError` says when it cannot be. ``project`` says
        what imports of the project's other modules bind here.
        """
        ctx = cls.for_text(source, MetadataWrapper(module, unsafe_skip_copy=True), project)
        if star_imports_variable(module, source):
            ctx.star_variables |= {"Variable"}
        ctx.torch_name, ctx.torch_bound = torch_binding(module)
        if rules:
            ctx.reduce(rules, partial)
        elif partial is not None and (partial.left_out or partial.members_left_out):
            raise IncompleteModuleError("statements were left out of a module that is analysed whole")
        return ctx

    @classmethod
    def for_text(
        cls, source: str, wrapper: MetadataWrapper | None = None, project: ProjectImports | None = None
    ) -> ModuleContext:
        """The part of a context that the text alone decides (spellings, offsets), before any parse.

        What imports of the project's other modules bind here (``project``) counts as text.
        """
        wrapper = wrapper or MetadataWrapper(cst.Module(body=[]), unsafe_skip_copy=True)
        ctx = cls(wrapper=wrapper, source=source, line_starts=[])
        ctx.sets_default_device = "set_default_device" in source
        ctx.variable_spellings = frozenset({"Variable", *variable_aliases(source)})
        if project is not None and project.variable:
            ctx.variable_spellings |= project.spellings
            ctx.star_variables = project.star_variables
            ctx.variable_names = VARIABLE | project.qualified_variables
        return ctx

    def spellings(self, words: tuple[str, ...]) -> frozenset[str]:
        """``words`` and every `as` alias the source gives them (`from m import sigmoid as sig`)."""
        found = self._spellings.get(words)
        if found is None:
            found = self._spellings[words] = frozenset({*words, *aliases(self.source, words)})
        return found

    def statement_pattern(self, rules: Sequence[RuleSpec]) -> re.Pattern[str]:
        """Found in the code of every top-level statement that may hold a finding of ``rules``."""
        return re.compile("|".join(rule.statement_pattern(self) for rule in rules))

    def reduce(self, rules: Sequence[RuleSpec], partial: Partial | None = None) -> None:
        """Analyse only the statements that may hold a finding (and the imports that may matter).

        Scope analysis costs about ten times the parse and grows with the module; a large module
        usually holds its few candidates in a few functions or methods. The other module- and
        class-level statements are replaced by `pass` on as many lines, so every kept node keeps its
        line and column (checked line by line below; any doubt and the whole module is analysed).
        The kept nodes are the very nodes of the full module, so findings and fixes refer to it.
        What the left-out code could change about a kept name is checked where it matters
        (`fresh_name_binding` looks into `dropped_code`). The stand-ins of a ``partial`` module are
        left out again, with the code they stand for.
        """
        module = self.wrapper.module
        stand_ins: dict[int, str] = {}
        known: dict[int, str] = {}
        # Top-level statements whose bodies hold stand-ins: ``known`` has their code as it was.
        holders: set[int] = set()
        matters: set[int] = set()
        if partial is not None:
            stand_ins = {id(module.body[index]): code for index, code in partial.left_out.items()}
            known = {id(module.body[index]): code for index, code in partial.codes.items()}
            for path, code in partial.members_left_out.items():
                stand_ins[id(_member(module, path))] = code
                holders.add(id(module.body[path[0]]))
            for path, code in partial.member_codes.items():
                known[id(_member(module, path))] = code
            matters = {id(module.body[index]) for index in partial.matters}
            matters.update(id(_member(module, path)) for path in partial.member_matters)
        pattern = self.statement_pattern(rules)
        dropped: list[str] = []
        body = _reduce_block(module, module.body, pattern, dropped, stand_ins, known, matters)
        blanked = partial.blanked if partial is not None else ""
        self.dropped_code = "".join(dropped) + blanked
        if not dropped:
            return
        changed = [(new, old) for new, old in zip(body, module.body, strict=True) if new is not old]
        if not changed:
            # Only stand-ins were left out: the module already is the reduced one.
            return
        # Unchanged statements print as they are; the changed ones must keep their lines.
        for new, old in changed:
            before = (known.get(id(old)) if id(old) not in holders else None) or module.code_for_node(old)
            if not _same_lines(module.code_for_node(new), before):
                self.dropped_code = ""
                if stand_ins:
                    raise IncompleteModuleError("the reduced module does not keep every line in place")
                return
        self.wrapper = MetadataWrapper(module.with_changes(body=body), unsafe_skip_copy=True)

    @property
    def module(self) -> cst.Module:
        """The parsed module (the very nodes metadata is keyed by)."""
        return self.wrapper.module

    def nodes(self) -> list[cst.CSTNode]:
        """Every node of the analysed module, in the order a LibCST visitor meets them."""
        if self._order is None:
            self._order, self._parents, self._children = walk(self.module)
        return self._order

    def metadata(self, provider: type[BaseMetadataProvider[_T]], node: cst.CSTNode, default: _T) -> _T:
        """``provider``'s value for ``node``, computing the provider for the module on first use.

        Scope and qualified-name analysis cost about ten times the parse; resolving them lazily means a
        module whose nodes never look like a candidate never pays for them. Two providers are answered
        without a walk of their own: parents come from the walk that orders the nodes for the rules
        (LibCST's provider rebuilds every node twice), and qualified names straight from the scope of
        the node, which is all `QualifiedNameProvider` stores (as a lazy value, for every node).
        Positions are printed for the part of the module around the node (`Positions`).
        """
        if provider is ParentNodeProvider:
            self.nodes()
            return self._parents.get(node, default)  # type: ignore[return-value]
        if provider is QualifiedNameProvider:
            return self._qualified_names(node, default)  # type: ignore[arg-type, return-value]
        if provider is ExpressionContextProvider:
            # The context flows down from the module: the node's ancestors decide it.
            if not self._owns(node):
                return default
            context = expression_context_of(node, self._parents.get)
            return default if context is None else context  # type: ignore[return-value]
        if provider is PositionProvider:
            found = self._position_finder().range_of(node)
            return default if found is None else found  # type: ignore[return-value]
        value = self._table(provider).get(node, default)
        # Some providers store lazily computed values.
        return value() if isinstance(value, _LazyValue) else value  # type: ignore[return-value]

    def _table(self, provider: type[BaseMetadataProvider[_T]]) -> Mapping[cst.CSTNode, object]:
        table = self._metadata.get(provider)
        if table is None:
            table = self._scopes() if provider is ScopeProvider else self.wrapper.resolve(provider)
            self._metadata[provider] = table
        return table

    def _scopes(self) -> Mapping[cst.CSTNode, object]:
        """`ScopeProvider`'s table: its analysis, without the walk LibCST's resolver adds to it.

        The provider does all its work when it visits the module (its one callback); the resolver
        runs it in a batched traversal that then walks every node of the module for no callback
        (rebuilding each, as LibCST's visitors do): a third of the scope analysis of a small module.
        The visit itself finds its callbacks in a table (`_scopes.analyse_scopes`).
        """
        metadata = self.wrapper._metadata
        table = metadata.get(ScopeProvider)
        if table is None:
            self._expression_contexts()
            provider = ScopeProvider()
            self.nodes()  # the walk's children serve the scope visit
            with provider.resolve(self.wrapper):
                computed = analyse_scopes(provider, self.module, self._children)
            table = metadata[ScopeProvider] = MappingProxyType(dict(computed))
        return table

    def _expression_contexts(self) -> None:
        """Give the wrapper `ExpressionContextProvider`'s whole table, computed by reading fields.

        Scope analysis depends on it, and LibCST's provider walks the module with a visitor (which
        rebuilds every node) for what is a simple top-down rule; see `expression_contexts`.
        """
        # `_metadata` is the wrapper's table of resolved providers: the one way to hand it one.
        metadata = self.wrapper._metadata
        if ExpressionContextProvider not in metadata:
            self.nodes()
            contexts = expression_contexts(self.module, self._children)
            metadata[ExpressionContextProvider] = MappingProxyType(contexts)

    def _qualified_names(
        self, node: cst.CSTNode, default: Iterable[QualifiedName]
    ) -> Iterable[QualifiedName]:
        """What `QualifiedNameProvider` gives ``node``: its scope's names for it, empty without a scope."""
        found = self._qualified.get(node)
        if found is None:
            scopes = self._table(ScopeProvider)
            if node in scopes:
                scope = scopes[node]
                found = scope.get_qualified_names_for(node) if scope else set()  # type: ignore[attr-defined]
            elif self._owns(node):
                found = set()
            else:
                return default
            self._qualified[node] = found
        return found

    def _owns(self, node: cst.CSTNode) -> bool:
        """Whether ``node`` is one of the analysed module's nodes."""
        self.nodes()
        return node is self.module or node in self._parents

    def _position_finder(self) -> Positions:
        if self._positions is None or self._positions.module is not self.module:
            self.nodes()
            self._positions = Positions(self.module, self.source, self._line_starts(), self._parents.get)
        return self._positions

    def offset(self, line: int, column: int) -> int:
        """Character offset of a LibCST position (1-based line, 0-based column)."""
        return self._line_starts()[line - 1] + column

    def _line_starts(self) -> list[int]:
        if not self.line_starts:
            self.line_starts = [0, *(match.end() for match in _NEWLINE.finditer(self.source))]
        return self.line_starts


_BLANK = cst.EmptyLine(indent=False, whitespace=cst.SimpleWhitespace(""), comment=None)


def _reduce_block(
    module: cst.Module,
    statements: Sequence[cst.BaseStatement],
    pattern: re.Pattern[str],
    dropped: list[str],
    stand_ins: Mapping[int, str],
    known: Mapping[int, str],
    matters: Collection[int] = frozenset(),
) -> list[cst.BaseStatement]:
    """``statements`` with those that cannot hold a finding replaced by `pass` on as many lines.

    Kept classes are reduced in turn (their methods are separate scopes); functions are kept whole.
    The code of every left-out statement is appended to ``dropped``. A statement in ``stand_ins``
    (keyed by `id`) stands for statements already left out, whose code it gives; ``known`` gives the
    code of others, when known (it saves printing them), and ``matters`` those known to matter (it
    saves searching them).
    """
    codes = [stand_ins.get(id(s)) or known.get(id(s)) or module.code_for_node(s) for s in statements]
    keep = [
        id(statement) not in stand_ins and (id(statement) in matters or may_matter(statement, code, pattern))
        for statement, code in zip(statements, codes, strict=True)
    ]
    # Assignments to names the kept code mentions stay too: a fresh tensor bound at module level and
    # wrapped later (`x = torch.zeros(3)` ... `Variable(x)`) is the tutorial case.
    mentioned = set(_WORD.findall("".join(code for code, kept in zip(codes, keep, strict=True) if kept)))
    body: list[cst.BaseStatement] = []
    for statement, code, kept in zip(statements, codes, keep, strict=True):
        if kept or _assigned_names(statement) & mentioned:
            if isinstance(statement, cst.ClassDef) and isinstance(statement.body, cst.IndentedBlock):
                inner = _reduce_block(
                    module, statement.body.body, pattern, dropped, stand_ins, known, matters
                )
                if any(new is not old for new, old in zip(inner, statement.body.body, strict=True)):
                    statement = statement.with_changes(body=statement.body.with_changes(body=inner))
            body.append(statement)
            continue
        dropped.append(code)
        if id(statement) in stand_ins:
            body.append(statement)
            continue
        lines = len(_NEWLINE.findall(code))
        body.append(cst.SimpleStatementLine([cst.Pass()], leading_lines=[_BLANK] * max(lines - 1, 0)))
    return body


def _member(module: cst.Module, path: Sequence[int]) -> cst.BaseStatement:
    """The statement at ``path`` in the bodies of the module's classes (see `Partial`)."""
    node: cst.BaseStatement = module.body[path[0]]
    for index in path[1:]:
        if not isinstance(node, cst.ClassDef) or not isinstance(node.body, cst.IndentedBlock):
            raise IncompleteModuleError("a stand-in is not in a class body")
        if index >= len(node.body.body):
            raise IncompleteModuleError("a stand-in is not in its class body")
        node = node.body.body[index]
    return node


def may_matter(statement: cst.BaseStatement, code: str, pattern: re.Pattern[str]) -> bool:
    """Whether a statement with ``code`` may hold a finding (``pattern``) or bind a name kept code sees.

    Imports bind names for the rest of the module, unless they are local to a function or class.
    """
    if pattern.search(code) or STAR_IMPORT.search(code):
        return True
    if isinstance(statement, cst.FunctionDef | cst.ClassDef):
        return IMPORT.search(code) is not None and DECLARATION.search(code) is not None
    return IMPORT.search(code) is not None


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
