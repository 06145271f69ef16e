"""The fast import clean-up: worked out on the statements that mention the names, spliced line by line.

`RemoveImportsVisitor` and `AddImportsVisitor`'s rules, restated on the statements of one module
(see `imports`): which imports are asked to go, which of those nothing uses, the statements that
change, where `import X` goes, and how the findings of the text before move with the change.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst.helpers import get_absolute_module_from_package_for_import
from libcst.metadata import ImportAssignment, ParentNodeProvider, ScopeProvider

from varmigrate.engine.import_removal import (
    DROP_IF_UNUSED,
    _asname,
    _EmptyTryRemover,
    _has_empty_try,
    _only_pass_try,
    _Remover,
)
from varmigrate.engine.import_usage import _dotted_names, _exports, _may_spell, _string_annotation_names
from varmigrate.engine.outline import Outline
from varmigrate.engine.splice import Change, Shift, merge, row_shift
from varmigrate.rules import nodes
from varmigrate.rules.context import ModuleContext, variable_aliases
from varmigrate.rules.torch_api import AUTOGRAD_MODULES, VARIABLE

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Cleanup:
    """Import clean-up of ``before``: the result, and how rows moved when findings may simply move along."""

    before: str
    source: str
    # None when the findings of ``before`` may not carry over (an import was added, ...).
    shift: Shift | None = None
    # What changed, in ``before``'s offsets.
    changes: Sequence[Change] = ()


@dataclass
class _Plan:
    """The clean-up of one module, worked out on the statements of ``ctx.module``."""

    outline: Outline
    ctx: ModuleContext
    # Where each top-level statement is in ``ctx.module``'s body (None: left out); None: all there.
    positions: list[int | None] | None
    # Names whose imports stay, used here or not (other modules of the project import them from here).
    keep: frozenset[str] = frozenset()
    # What `RemoveImportsVisitor` was asked to remove: module -> alias, module -> {(object, alias)}.
    modules: dict[str, str | None] = field(default_factory=dict)
    objects: dict[str, set[tuple[str, str | None]]] = field(default_factory=dict)
    # Top-level statement index -> its new code ("" when it goes, or the comments above it that stay).
    replaced: dict[int, str] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)
    # Line -> text inserted before it.
    inserted: dict[int, str] = field(default_factory=dict)
    added: bool = False
    _exports: set[str] | None = None
    _annotations: set[str] | None = None
    _strings: list[cst.SimpleString | cst.ConcatenatedString] | None = None
    _imports: list[cst.Import | cst.ImportFrom] | None = None
    _asked: list[tuple[cst.ImportAlias, cst.Import | cst.ImportFrom]] | None = None

    def schedule(self) -> bool:
        """Ask for removal as the engine always has: `Variable` imports and `torch.autograd` aliases."""
        for node in self._import_statements():
            if isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
                if node.module is None or node.relative:
                    continue
                dotted = nodes.code(node.module)
                for alias in node.names:
                    full = f"{dotted}.{nodes.code(alias.name)}"
                    if full in VARIABLE or full in AUTOGRAD_MODULES:
                        self.objects.setdefault(dotted, set()).add((nodes.code(alias.name), _asname(alias)))
            elif isinstance(node, cst.Import):
                for alias in node.names:
                    dotted = nodes.code(alias.name)
                    if dotted in AUTOGRAD_MODULES and alias.asname is not None:
                        self.modules[dotted] = _asname(alias)
        return bool(self.modules or self.objects)

    # -- removal (`RemoveImportsVisitor`, `GatherUnusedImportsVisitor`) ---------------------------------

    def remove(self) -> bool:
        """Work out the statements that change; False when only LibCST's own visitors can say."""
        unused = {id(alias) for alias, statement in self._scheduled() if self._unused(alias, statement)}
        if not unused:
            return True
        remover = _Remover(self.modules, self.objects, unused)
        statements = {index: self._node(index) for index in range(len(self.outline.statements))}
        owners = {id(self._top_level(alias)) for alias, _ in self._scheduled() if id(alias) in unused}
        changed: dict[int, cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]] = {
            index: node.visit(remover)
            for index, node in statements.items()
            if node is not None and id(node) in owners
        }
        if any(_has_empty_try(new) for new in changed.values() if isinstance(new, cst.CSTNode)):
            # Only a module that had no such `try` before loses them (see `_clean_with_codemods`).
            had = self._had_empty_try()
            if had is None:
                return False
            if not had:
                for index, new in changed.items():
                    if isinstance(new, cst.CSTNode):
                        changed[index] = new.visit(_EmptyTryRemover())
        for index, new in changed.items():
            gone = isinstance(new, cst.RemovalSentinel) or (
                isinstance(new, cst.SimpleStatementLine) and not new.body
            )
            start, stop = self._lines_of(index)
            if gone:
                self.gone.add(index)
            code = self._kept_comments(index, start) if gone else self.ctx.module.code_for_node(new)  # type: ignore[arg-type]
            if stop <= self.outline.statements[index].last:
                return False  # LibCST prints the statement on fewer lines (it drops backslash lines)
            text = "".join(self.outline.lines[start:stop])
            printed = self.ctx.module.code_for_node(statements[index])  # type: ignore[arg-type]
            self.replaced[index] = code if printed == text else merge(text, printed, code).text
        # LibCST prints an empty module as one newline.
        return not all(self.replaced.get(index) == "" for index in statements)

    def _import_statements(self) -> list[cst.Import | cst.ImportFrom]:
        """The module's `import` and `from ... import` statements, in order, found in one pass (by exact
        type: a node of LibCST's parse is of one of its classes, never of a subclass)."""
        if self._imports is None:
            kinds = (cst.Import, cst.ImportFrom)
            self._imports = [node for node in self.ctx.nodes() if type(node) in kinds]  # type: ignore[misc]
        return self._imports

    def _scheduled(self) -> list[tuple[cst.ImportAlias, cst.Import | cst.ImportFrom]]:
        """The import aliases the removal is asked for (whether they are used is still open)."""
        if self._asked is None:
            self._asked = list(self._asked_for())
        return self._asked

    def _asked_for(self) -> Iterator[tuple[cst.ImportAlias, cst.Import | cst.ImportFrom]]:
        for node in self._import_statements():
            if isinstance(node, cst.Import):
                for alias in node.names:
                    name = alias.evaluated_name
                    if name in self.modules and alias.evaluated_alias == self.modules[name]:
                        yield alias, node
            elif isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
                if node.module is None:
                    continue  # `GatherUnusedImportsVisitor` looks at none of these
                module = get_absolute_module_from_package_for_import(None, node)
                wanted = self.objects.get(module or "")
                for alias in node.names:
                    if wanted and (alias.evaluated_name, alias.evaluated_alias) in wanted:
                        yield alias, node

    def _top_level(self, node: cst.CSTNode) -> cst.CSTNode:
        """The top-level statement ``node`` is in."""
        module = self.ctx.module
        while (
            parent := self.ctx.metadata(ParentNodeProvider, node, None)
        ) is not None and parent is not module:
            node = parent
        return node

    def _unused(self, alias: cst.ImportAlias, statement: cst.Import | cst.ImportFrom) -> bool:
        """`GatherUnusedImportsVisitor.is_in_use`, negated: no reference, no export, no string annotation."""
        asname = alias.asname
        target = asname.name if asname is not None else alias.name
        assert isinstance(target, cst.Name | cst.Attribute)
        if isinstance(target, cst.Name) and self._spelled_only_in(statement, target.value):
            name = target.value
            return not (name in self.keep or name in self._exported() or self._in_string_annotation(name))
        scope = self.ctx.metadata(ScopeProvider, statement, None)
        if scope is None:
            return False
        for name in _dotted_names(target):
            if name in self.keep or name in self._exported() or self._in_string_annotation(name):
                return False
            for assignment in scope[name]:
                if isinstance(assignment, ImportAssignment) and len(assignment.references) > 0:
                    return False
        return True

    def _spelled_only_in(self, statement: cst.Import | cst.ImportFrom, name: str) -> bool:
        """Whether ``name`` is a word of the text only where ``statement`` spells it, and no string of the
        module may hold it: then nothing can refer to what it imports, and the scope analysis of the
        module (all that would be left to pay for, after the last round left out `Variable`) would find
        no reference."""
        word = re.compile(rf"\b{re.escape(name)}\b")
        everywhere = len(word.findall(self.outline.source))
        if everywhere != len(word.findall(self.ctx.module.code_for_node(statement))):
            return False
        return not any(_may_spell(string, name) for string in self._string_nodes())

    def _string_nodes(self) -> list[cst.SimpleString | cst.ConcatenatedString]:
        """The module's strings, found in one pass."""
        if self._strings is None:
            kinds = (cst.SimpleString, cst.ConcatenatedString)
            self._strings = [n for n in self.ctx.nodes() if type(n) in kinds]  # type: ignore[misc]
        return self._strings

    def _exported(self) -> set[str]:
        if self._exports is None:
            self._exports = _exports(self.ctx.module) if "__all__" in self.outline.source else set()
        return self._exports

    def _in_string_annotation(self, name: str) -> bool:
        """Whether ``name`` is in a string annotation (looked for only where a string may spell it)."""
        if not any(_may_spell(string, name) for string in self._string_nodes()):
            return False
        if self._annotations is None:
            self._annotations = _string_annotation_names(self.ctx)
        return name in self._annotations

    def _had_empty_try(self) -> bool | None:
        """Whether the module had a `try` of nothing but `pass` before clean-up (None: cannot tell)."""
        for statement in self.outline.statements:
            if not any(_only_pass_try(node) for top in statement.nodes for node in ast.walk(top)):
                continue
            code = "".join(self.outline.lines[statement.first : statement.last + 1])
            try:
                module = cst.parse_module(code)
            except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError):
                return None
            if _has_empty_try(module):
                return True
        return False

    def _node(self, index: int) -> cst.BaseStatement | None:
        """Top-level statement ``index`` in ``ctx.module`` (None when a stand-in replaces it)."""
        position = index if self.positions is None else self.positions[index]
        return None if position is None else self.ctx.module.body[position]

    def _kept_comments(self, index: int, start: int) -> str:
        """What stays of a removed statement: its leading lines, verbatim, when a comment is among them.

        A comment above the import may say something about the code around it; it is the user's, so
        it stays (it now heads the next statement) rather than going with the import.
        """
        leading = getattr(self._node(index), "leading_lines", ())
        if not any(line.comment is not None for line in leading):
            return ""
        return "".join(self.outline.lines[start : start + len(leading)])

    def _lines_of(self, index: int) -> tuple[int, int]:
        """The lines top-level statement ``index`` owns (leading lines included), as a range."""
        statement = self._node(index)
        assert statement is not None
        first = self.outline.statements[index].first
        start = first - len(getattr(statement, "leading_lines", ()))
        count = len(re.findall(r"\r\n|\r|\n", self.ctx.module.code_for_node(statement)))
        return start, start + count

    # -- addition (`AddImportsVisitor`) -------------------------------------------------------------

    def add(self, wanted: Sequence[str]) -> bool:
        """Place `import X` for each of ``wanted`` as `AddImportsVisitor` does; False when it cannot say."""
        if any(name.startswith(("from ", DROP_IF_UNUSED)) for name in wanted):
            # Names, not modules: `rename_replaced_imports`, `RemoveImportsVisitor`, `AddImportsVisitor`.
            return False
        body = [i for i in range(len(self.outline.statements)) if i not in self.gone]
        if not body:
            return False
        start = 1 if self._skip_first(body[0]) else 0
        position = start
        present: set[str] = set()
        while position < len(body) and self._is_import_line(body[position]):
            present |= self._plain_imports(body[position])
            position += 1
        missing = [module for module in wanted if module not in present]
        if not missing:
            return True
        newline = self.ctx.module.default_newline
        text = "".join(f"import {module}{newline}" for module in missing)
        if position < len(body):
            index = body[position]
            leading = self._leading_lines(index)
            if leading is None:
                return False
            line = self.outline.statements[index].first - len(leading)
            # The comments kept from removed imports just above now lead this statement.
            previous = index - 1
            while previous in self.gone:
                if kept := self.replaced[previous]:
                    leading = [kept, *leading]
                    line = self._lines_of(previous)[0]
                previous -= 1
            if not leading or leading[0].lstrip(" \t\x0c").startswith("#"):
                text += newline
        else:
            line = self.outline.statements[body[-1]].last + 1
            if line >= len(self.outline.lines) and not self.outline.source.endswith(("\n", "\r")):
                return False
        self.inserted[line] = text
        self.added = True
        return True

    def _skip_first(self, index: int) -> bool:
        """`_skip_first`: a docstring or a `__strict__ = ...` line comes before the imports."""
        nodes_ = self.outline.statements[index].nodes
        if len(nodes_) != 1:
            return False
        node = nodes_[0]
        if isinstance(node, ast.Assign):
            return (
                len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and (node.targets[0].id == "__strict__")
            )
        if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Constant):
            return False
        if not isinstance(node.value.value, str | bytes):
            return False
        code = "".join(self.outline.lines[node.lineno - 1 : node.end_lineno])
        try:
            statement = cst.parse_statement(code)
        except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError):
            return False
        return (
            isinstance(statement, cst.SimpleStatementLine)
            and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, cst.SimpleString)
        )

    def _is_import_line(self, index: int) -> bool:
        nodes_ = self.outline.statements[index].nodes
        return len(nodes_) == 1 and isinstance(nodes_[0], ast.Import | ast.ImportFrom)

    def _plain_imports(self, index: int) -> set[str]:
        """Modules an import line imports without an alias (what `AddImportsVisitor` counts as present)."""
        node = self.outline.statements[index].nodes[0]
        return {a.name for a in node.names if a.asname is None} if isinstance(node, ast.Import) else set()

    def _leading_lines(self, index: int) -> list[str] | None:
        """The comment and blank lines LibCST gives statement ``index`` (None when uncertain)."""
        statement = self.outline.statements[index]
        node = self._node(index)
        if node is not None and not _is_placeholder(node):
            count = len(getattr(node, "leading_lines", ()))
            return self.outline.lines[statement.first - count : statement.first]
        if not statement.known:
            return None
        return self.outline.lines[statement.start : statement.first]

    # -- the result ---------------------------------------------------------------------------------

    def result(self) -> Cleanup:
        """The cleaned text, and how findings move when they may (see `Cleanup.shift`)."""
        edits: list[tuple[int, int, str]] = []
        for index, code in self.replaced.items():
            start, stop = self._lines_of(index)
            edits.append((start, stop, code))
        edits.extend((line, line, text) for line, text in self.inserted.items())
        edits.sort(key=lambda edit: (edit[0], edit[1]))
        lines = self.outline.lines
        offsets = [0, *itertools.accumulate(map(len, lines))]
        parts: list[str] = []
        position = 0
        for start, stop, text in edits:
            parts.extend(lines[position:start])
            parts.append(text)
            position = max(position, stop)
        parts.extend(lines[position:])
        source = "".join(parts)
        changes = [(offsets[start], offsets[stop], text) for start, stop, text in edits]
        shift = row_shift(self.outline.source, changes) if self._findings_carry_over(source) else None
        return Cleanup(self.outline.source, source, shift, changes)

    def _findings_carry_over(self, source: str) -> bool:
        """Whether the findings of the text before are those of ``source``, moved.

        Removing an import that nothing refers to changes no finding, provided the analysis would
        keep the same statements: no name the removed code mentions is assigned where the reduction
        keeps assignments, and the text says the same about `Variable`'s spellings and default devices.
        That holds of the text, whichever context worked out the clean-up (the last round's, or one of
        its own when the fixer carried the last findings over instead of analysing the text).
        """
        if self.added:
            return False
        before = self.outline.source
        if set(variable_aliases(before)) != set(variable_aliases(source)):
            return False
        if ("set_default_device" in before) != ("set_default_device" in source):
            return False
        removed: set[str] = set()
        for index, code in self.replaced.items():
            if code and not self._is_import_line(index):
                return False
            start, stop = self._lines_of(index)
            removed.update(_WORD.findall("".join(self.outline.lines[start:stop])))
        return not removed & _assigned_where_kept(self.outline)


def _assigned_where_kept(outline: Outline) -> set[str]:
    """Names assigned by simple statements at module level or in class bodies (see `_reduce_block`)."""
    found: set[str] = set()

    def scan(body: Sequence[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Assign):
                found.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
                found.add(node.target.id)
            elif isinstance(node, ast.ClassDef):
                scan(node.body)

    for statement in outline.statements:
        scan(statement.nodes)
    return found


def _is_placeholder(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Pass)
    )
