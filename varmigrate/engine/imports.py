"""Import clean-up after fixes: unused `Variable` imports and `torch.autograd` aliases go, needed come.

The result is what LibCST's `RemoveImportsVisitor` and `AddImportsVisitor` make of the module (their
rules are restated below, with the places they come from), at a fraction of the cost: they copy and
walk the whole module (removal computes scope analysis over all of it), while the statements an
unused import could be used in are the statements that mention its name. The last round's analysis
(`Analysis`) usually holds all of them, with its scope analysis done; otherwise those statements
alone are parsed. The changes are spliced into the text statement by statement, each merged into the
statement's text where LibCST does not print it as the text has it (`splice.merge`).
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst.helpers import get_absolute_module_from_package_for_import, get_full_name_for_node
from libcst.metadata import (
    ImportAssignment,
    ParentNodeProvider,
    QualifiedName,
    QualifiedNameProvider,
    ScopeProvider,
)

from varmigrate.engine.analysis import Analysis, outline_of, parse_partial
from varmigrate.engine.outline import Outline
from varmigrate.engine.parsing import parse
from varmigrate.engine.splice import Change, Merged, may_differ, merge
from varmigrate.model import SourceParseError
from varmigrate.rules import nodes
from varmigrate.rules.context import ModuleContext, children, variable_aliases, walk
from varmigrate.rules.torch_api import AUTOGRAD_MODULES, VARIABLE

_WORD = re.compile(r"\w+")
# Where an import that may go can be: every candidate names `autograd`.
_AUTOGRAD = re.compile(r"autograd")
# Calls whose string arguments LibCST reads as annotations (`GatherNamesFromStringAnnotationsVisitor`).
_STRING_ANNOTATION_FUNCTIONS = frozenset({"typing.TypeVar"})

# A row of the text before clean-up -> its row after and how far offsets there moved; None: it changed.
Shift = Callable[[int], "tuple[int, int] | None"]


@dataclass(frozen=True)
class Cleanup:
    """Import clean-up of ``before``: the result, and how rows moved when findings may simply move along."""

    before: str
    source: str
    # None when the findings of ``before`` may not carry over (an import was added, ...).
    shift: Shift | None = None
    # What changed, in ``before``'s offsets.
    changes: Sequence[Change] = ()


def clean_imports(
    source: str, imports: Iterable[str], analysis: Analysis | None = None, tree: ast.Module | None = None
) -> Cleanup:
    """Remove `Variable` imports (and `torch.autograd` aliases) left unused; add imports fixes need.

    ``analysis`` is the last analysis of ``source`` and ``tree`` CPython's parse of it, when known.
    """
    wanted = sorted(set(imports))
    if analysis is not None and analysis.source != source:
        analysis = None
    outline = analysis.outline if analysis is not None else None
    outline = outline or outline_of(source, tree)
    if outline is None:
        return _with_codemods(source, wanted)
    names = _candidate_names(outline)
    if not names and not wanted:
        return Cleanup(source, source, _identity)
    found = _context(outline, names, analysis)
    if found is None:
        return _with_codemods(source, wanted)
    ctx, positions = found
    plan = _Plan(outline, ctx, positions, reused=analysis is not None and ctx is analysis.ctx)
    if not plan.schedule() and not wanted:
        return Cleanup(source, source, _identity)
    if not plan.remove() or (wanted and not plan.add(wanted)):
        return _with_codemods(source, wanted)
    return plan.result()


def _with_codemods(source: str, wanted: Sequence[str]) -> Cleanup:
    merged = _clean_with_codemods(source, wanted)
    return Cleanup(source, merged.text, None, merged.changes)


def _identity(row: int) -> tuple[int, int] | None:
    return row, 0


def _candidate_names(outline: Outline) -> set[str]:
    """The names bound by imports that may be removed (read from CPython's parse; a superset)."""
    found: set[str] = set()
    for statement in outline.statements:
        if not _AUTOGRAD.search("".join(outline.lines[statement.first : statement.last + 1])):
            continue
        for top in statement.nodes:
            for node in ast.walk(top):
                if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    for alias in node.names:
                        if f"{node.module}.{alias.name}" in VARIABLE | AUTOGRAD_MODULES:
                            found.add(alias.asname or alias.name)
                elif isinstance(node, ast.Import):
                    found.update(a.asname for a in node.names if a.name in AUTOGRAD_MODULES and a.asname)
    return found


def _context(
    outline: Outline, names: set[str], analysis: Analysis | None
) -> tuple[ModuleContext, list[int | None] | None] | None:
    """A context whose module holds every statement that mentions ``names`` (or `__all__`), verbatim.

    The last round's analysis does, unless one of those statements was left out of it; otherwise
    they (and the module's imports) are parsed, the rest standing in as one string. Also says where
    each top-level statement is in the module's body (None: left out; no list: all are there).
    """
    # Each candidate import mentions the name it binds, so its statement is among them.
    words = re.compile(r"\b(?:" + "|".join(map(re.escape, ["__all__", *sorted(names)])) + r")\b")
    if analysis is not None and not words.search(analysis.ctx.dropped_code):
        return analysis.ctx, analysis.positions
    left_out = outline.left_out(words)
    if not left_out:
        try:
            module = parse(outline.source)
        except SourceParseError:
            return None
        return ModuleContext.build(module, outline.source), None
    parsed = parse_partial(outline, left_out)
    if parsed is None:
        return None
    return ModuleContext.build(parsed[0], outline.source), parsed[2]


@dataclass
class _Plan:
    """The clean-up of one module, worked out on the statements of ``ctx.module``."""

    outline: Outline
    ctx: ModuleContext
    # Where each top-level statement is in ``ctx.module``'s body (None: left out); None: all there.
    positions: list[int | None] | None
    # Whether ``ctx`` is the last round's (its findings may then move along, see `result`).
    reused: bool
    # What `RemoveImportsVisitor` was asked to remove: module -> alias, module -> {(object, alias)}.
    modules: dict[str, str | None] = field(default_factory=dict)
    objects: dict[str, set[tuple[str, str | None]]] = field(default_factory=dict)
    # Top-level statement index -> its new code ("" when it goes).
    replaced: dict[int, str] = field(default_factory=dict)
    # Line -> text inserted before it.
    inserted: dict[int, str] = field(default_factory=dict)
    added: bool = False
    _exports: set[str] | None = None
    _annotations: set[str] | None = None
    _strings: list[cst.SimpleString | cst.ConcatenatedString] | None = None

    def schedule(self) -> bool:
        """Ask for removal as the engine always has: `Variable` imports and `torch.autograd` aliases."""
        for node in self.ctx.nodes():
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
            code = "" if gone else self.ctx.module.code_for_node(new)  # type: ignore[arg-type]
            start, stop = self._lines_of(index)
            if stop <= self.outline.statements[index].last:
                return False  # LibCST prints the statement on fewer lines (it drops backslash lines)
            text = "".join(self.outline.lines[start:stop])
            printed = self.ctx.module.code_for_node(statements[index])  # type: ignore[arg-type]
            self.replaced[index] = code if printed == text else merge(text, printed, code).text
        # LibCST prints an empty module as one newline.
        return not all(self.replaced.get(index) == "" for index in statements)

    def _scheduled(self) -> Iterator[tuple[cst.ImportAlias, cst.Import | cst.ImportFrom]]:
        """The import aliases the removal is asked for (whether they are used is still open)."""
        for node in self.ctx.nodes():
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
        scope = self.ctx.metadata(ScopeProvider, statement, None)
        if scope is None:
            return False
        asname = alias.asname
        target = asname.name if asname is not None else alias.name
        assert isinstance(target, cst.Name | cst.Attribute)
        for name in _dotted_names(target):
            if name in self._exported() or self._in_string_annotation(name):
                return False
            for assignment in scope[name]:
                if isinstance(assignment, ImportAssignment) and len(assignment.references) > 0:
                    return False
        return True

    def _exported(self) -> set[str]:
        if self._exports is None:
            self._exports = _exports(self.ctx.module) if "__all__" in self.outline.source else set()
        return self._exports

    def _in_string_annotation(self, name: str) -> bool:
        """Whether ``name`` is in a string annotation (looked for only where a string may spell it)."""
        if self._strings is None:
            self._strings = [
                n for n in self.ctx.nodes() if isinstance(n, cst.SimpleString | cst.ConcatenatedString)
            ]
        if not any(_may_spell(string, name) for string in self._strings):
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
        body = [i for i in range(len(self.outline.statements)) if self.replaced.get(i) != ""]
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
            if not leading or leading[0].lstrip(" \t\x0c").startswith("#"):
                text += newline
            line = self.outline.statements[index].first - len(leading)
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
        shift = _shift(lines, edits) if self._findings_carry_over(source) else None
        changes = [(offsets[start], offsets[stop], text) for start, stop, text in edits]
        return Cleanup(self.outline.source, source, shift, changes)

    def _findings_carry_over(self, source: str) -> bool:
        """Whether the findings of the text before are those of ``source``, moved.

        Removing an import that nothing refers to changes no finding, provided the analysis would
        keep the same statements: no name the removed code mentions is assigned where the reduction
        keeps assignments, and the text says the same about `Variable`'s spellings and default devices.
        """
        if not self.reused or self.added:
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


def _shift(lines: Sequence[str], edits: Sequence[tuple[int, int, str]]) -> Shift:
    """Rows of the text before the ``edits`` (line ranges replaced by text) -> rows and offsets after."""
    steps = [
        (
            stop,
            start,
            len(re.findall(r"\r\n|\r|\n", text)) - (stop - start),
            len(text) - sum(map(len, lines[start:stop])),
        )
        for start, stop, text in edits
    ]

    def shift(row: int) -> tuple[int, int] | None:
        line = row - 1
        rows = offset = 0
        for stop, start, more_rows, more_chars in steps:
            if start <= line < stop:
                return None
            if line >= stop:
                rows += more_rows
                offset += more_chars
        return row + rows, offset

    return shift


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


def _dotted_names(node: cst.Name | cst.Attribute) -> Iterator[str]:
    """`scope_provider._gen_dotted_names`: `a.b.c`, `a.b`, `a` (a call's function stands for the call)."""
    if isinstance(node, cst.Name):
        yield node.value
        return
    value = node.value
    if isinstance(value, cst.Call):
        value = value.func
        if isinstance(value, cst.Attribute | cst.Name):
            yield from _dotted_names(value)
        return
    if isinstance(value, cst.Attribute | cst.Name):
        inner = list(_dotted_names(value))
        if inner:
            yield f"{inner[0]}.{node.attr.value}"
            yield from inner


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is None:
        return None
    name = alias.asname.name
    return name.value if isinstance(name, cst.Name) else None


class _Remover(cst.CSTTransformer):
    """`RemoveImportsVisitor.leave_Import` / `leave_ImportFrom`, for the aliases found unused."""

    def __init__(
        self,
        modules: Mapping[str, str | None],
        objects: Mapping[str, set[tuple[str, str | None]]],
        unused: set[int],
    ) -> None:
        super().__init__()
        self.modules = modules
        self.objects = objects
        self.unused = unused

    def leave_Import(self, original: cst.Import, updated: cst.Import) -> cst.Import | cst.RemovalSentinel:
        keep = []
        for alias in original.names:
            name = alias.evaluated_name
            if (
                name not in self.modules
                or alias.evaluated_alias != self.modules[name]
                or id(alias) not in self.unused
            ):
                keep.append(alias)
        if keep == list(original.names):
            return updated
        if not keep:
            return cst.RemoveFromParent()
        if keep[-1] is not original.names[-1]:
            keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(names=keep)

    def leave_ImportFrom(
        self, original: cst.ImportFrom, updated: cst.ImportFrom
    ) -> cst.ImportFrom | cst.RemovalSentinel:
        names = original.names
        if isinstance(names, cst.ImportStar):
            return updated
        module = get_absolute_module_from_package_for_import(None, updated)
        if module is None or module not in self.objects:
            return updated
        wanted = self.objects[module]
        keep: list[cst.ImportAlias] = []
        lpar = updated.lpar
        for alias in names:  # `_process_importfrom_aliases`
            if (alias.evaluated_name, alias.evaluated_alias) not in wanted or id(alias) not in self.unused:
                keep.append(alias)
                continue
            # The comments after the removed alias's comma move to the previous alias (or the paren).
            comma = alias.comma
            if not isinstance(comma, cst.Comma):
                continue
            if keep:
                previous = keep[-1]
                if isinstance(previous.comma, cst.Comma):
                    previous = previous.with_deep_changes(
                        previous.comma,
                        whitespace_after=_merge_whitespace_after(
                            previous.comma.whitespace_after, comma.whitespace_after
                        ),
                    )
                else:
                    previous = previous.with_changes(comma=comma)
                keep[-1] = previous
            elif isinstance(updated.lpar, cst.LeftParen):
                lpar = updated.lpar.with_changes(
                    whitespace_after=_merge_whitespace_after(
                        updated.lpar.whitespace_after, comma.whitespace_after
                    )
                )
        if keep == list(names) and lpar is updated.lpar:
            return updated
        if not keep:
            return cst.RemoveFromParent()
        if keep[-1] is not names[-1]:
            keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(names=keep, lpar=lpar)


def _merge_whitespace_after(
    left: cst.BaseParenthesizableWhitespace, right: cst.BaseParenthesizableWhitespace
) -> cst.BaseParenthesizableWhitespace:
    if not isinstance(right, cst.ParenthesizedWhitespace):
        return left
    if not isinstance(left, cst.ParenthesizedWhitespace):
        return right
    return left.with_changes(
        empty_lines=tuple(line for line in right.empty_lines if line.comment is not None)
    )


def _only_pass(block: cst.BaseSuite) -> bool:
    """Whether ``block`` is an indented block of statement lines that are each exactly `pass`."""
    return isinstance(block, cst.IndentedBlock) and all(
        isinstance(line, cst.SimpleStatementLine)
        and len(line.body) == 1
        and isinstance(line.body[0], cst.Pass)
        for line in block.body
    )


def _is_empty_try(node: cst.CSTNode) -> bool:
    """A `try` whose body and handlers hold only `pass`, with no `else` or `finally`."""
    return (
        isinstance(node, cst.Try)
        and node.orelse is None
        and node.finalbody is None
        and _only_pass(node.body)
        and all(_only_pass(handler.body) for handler in node.handlers)
    )


def _has_empty_try(node: cst.CSTNode) -> bool:
    return any(_is_empty_try(found) for found in nodes.descendants(node))


def _only_pass_try(node: ast.AST) -> bool:
    """CPython's view of `_EMPTY_TRY` (LibCST's has the last word: `pass; pass` is not one)."""
    if not isinstance(node, ast.Try) or node.orelse or node.finalbody:
        return False
    blocks = [node.body, *(handler.body for handler in node.handlers)]
    return all(isinstance(statement, ast.Pass) for block in blocks for statement in block)


class _EmptyTryRemover(cst.CSTTransformer):
    """Remove `try` statements whose every block is only `pass` (those with a comment stay)."""

    def leave_Try(
        self, original: cst.Try, updated: cst.Try
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        if not _is_empty_try(updated) or nodes.count_comments(updated):
            return updated
        return cst.RemoveFromParent()


def _exports(module: cst.Module) -> set[str]:
    """`GatherExportsVisitor.explicit_exported_objects`: the strings of `__all__`."""
    found: set[str] = set()
    assigned: set[int] = set()
    inside: set[int] = set()

    def target(name_node: cst.BaseExpression, value: cst.BaseExpression) -> bool:
        if get_full_name_for_node(name_node) == "__all__":
            if isinstance(value, cst.List | cst.Tuple | cst.Set):
                assigned.add(id(value))
                return True
        elif isinstance(name_node, cst.Tuple) and isinstance(value, cst.Tuple):
            for index, element in enumerate(name_node.elements):
                if get_full_name_for_node(element.value) == "__all__":
                    element_value = value.elements[index].value
                    if isinstance(element_value, cst.List | cst.Tuple | cst.Set):
                        assigned.add(id(value))
                        assigned.add(id(element_value))
                        return True
        return False

    def visit(node: cst.CSTNode) -> None:
        descend = True
        if isinstance(node, cst.AnnAssign):
            descend = node.value is not None and target(node.target, node.value)
        elif isinstance(node, cst.AugAssign):
            descend = (
                isinstance(node.target, cst.Name)
                and node.target.value == "__all__"
                and isinstance(node.operator, cst.AddAssign)
                and isinstance(node.value, cst.List | cst.Tuple)
            )
            if descend:
                assigned.add(id(node.value))
        elif isinstance(node, cst.Assign):
            descend = any(target(t.target, node.value) for t in node.targets)
        elif isinstance(node, cst.List | cst.Tuple | cst.Set):
            descend = id(node) in assigned
            if descend:
                inside.add(id(node))
        elif isinstance(node, cst.SimpleString | cst.ConcatenatedString):
            descend = False
            if inside:
                value = node.evaluated_value
                if isinstance(value, str):
                    found.add(value)
        if descend:
            for child in children(node):
                visit(child)
        if isinstance(node, cst.List | cst.Tuple | cst.Set):
            assigned.discard(id(node))
            inside.discard(id(node))

    visit(module)
    return found


def _string_annotation_names(ctx: ModuleContext) -> set[str]:
    """`GatherNamesFromStringAnnotationsVisitor.names`: names in string annotations and `TypeVar` bounds."""
    names: set[str] = set()
    stack: list[cst.CSTNode] = []

    def qualified(node: cst.CSTNode) -> set[str]:
        empty: set[QualifiedName] = set()
        return {q.name for q in ctx.metadata(QualifiedNameProvider, node, empty)}

    def visit(node: cst.CSTNode) -> None:
        descend = True
        if isinstance(node, cst.Annotation):
            stack.append(node)
        elif isinstance(node, cst.Subscript):
            descend = "typing.Literal" not in qualified(node)
        elif isinstance(node, cst.Call):
            descend = bool(qualified(node) & _STRING_ANNOTATION_FUNCTIONS)
            if descend:
                stack.append(node)
        elif isinstance(node, cst.SimpleString | cst.ConcatenatedString):
            descend = False
            if stack:
                names.update(_names_in_string(node))
        if descend:
            for child in children(node):
                visit(child)
        if isinstance(node, cst.Annotation) or (isinstance(node, cst.Call) and stack and stack[-1] is node):
            stack.pop()

    visit(ctx.module)
    return names


def _may_spell(string: cst.SimpleString | cst.ConcatenatedString, name: str) -> bool:
    """Whether the value of ``string`` may contain ``name`` (the raw text does, or escapes may)."""
    if isinstance(string, cst.SimpleString) and "\\" not in string.value:
        return name in string.value
    value = string.evaluated_value
    if isinstance(value, bytes):
        return name.encode() in value
    return value is not None and name in value


def _names_in_string(node: cst.SimpleString | cst.ConcatenatedString) -> set[str]:
    value = node.evaluated_value
    if value is None:
        return set()
    try:
        module = cst.parse_module(value)
    except cst.ParserSyntaxError:
        return set()
    order, parents = walk(module)
    found: set[str] = set()
    for child in order:
        if isinstance(child, cst.Name) and not isinstance(parents.get(child), cst.Attribute):
            found.add(child.value)
        elif isinstance(child, cst.Attribute):
            found.update(_dotted_names(child))
    return found


def _clean_with_codemods(source: str, imports: Sequence[str]) -> Merged:
    """The clean-up done by LibCST's own visitors, on the whole module, for what the fast path cannot read.

    What they print is merged into ``source``; a change anywhere but in a statement that mentions
    `import` or between top-level statements raises `UnpreservedText`.
    """
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

    module = parse(source)
    if module.default_indent.strip(" \t"):
        # A form feed in the first indentation: `AddImportsVisitor` cannot parse its import with it.
        module = module.with_changes(default_indent=module.default_indent.replace("\x0c", "") or "    ")
    context = CodemodContext()
    scheduled = False
    for node in nodes.descendants(module):
        if isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar) and node.module:
            dotted = nodes.code(node.module)
            if node.relative:
                continue
            for alias in node.names:
                full = f"{dotted}.{nodes.code(alias.name)}"
                if full in VARIABLE or full in AUTOGRAD_MODULES:
                    RemoveImportsVisitor.remove_unused_import(
                        context, dotted, nodes.code(alias.name), _asname(alias)
                    )
                    scheduled = True
        elif isinstance(node, cst.Import):
            for alias in node.names:
                dotted = nodes.code(alias.name)
                if dotted in AUTOGRAD_MODULES and alias.asname is not None:
                    RemoveImportsVisitor.remove_unused_import(context, dotted, asname=_asname(alias))
                    scheduled = True
    for name in imports:
        AddImportsVisitor.add_needed_import(context, name)
        scheduled = True
    if not scheduled:
        return Merged(source, [])
    base = module.code if may_differ(source) else source
    cleaned = RemoveImportsVisitor(context).transform_module(module)
    if not _has_empty_try(module):
        # `try: from torch.autograd import Variable / except ImportError: pass` is left with nothing
        # but `pass` once the import goes; the module had no such statement before, so drop them.
        cleaned = cleaned.visit(_EmptyTryRemover())
    new = AddImportsVisitor(context).transform_module(cleaned).code
    return merge(source, base, new, _import_regions(module, len(base)))


def _import_regions(module: cst.Module, length: int) -> list[tuple[int, int]]:
    """Where in LibCST's printing of ``module`` (``length`` long) the clean-up may change it.

    Imports are removed from the statements that mention `import` and added between top-level
    statements.
    """
    offset = sum(len(module.code_for_node(line)) for line in module.header)
    regions = [(offset, offset)]
    for statement in module.body:
        code = module.code_for_node(statement)
        end = min(offset + len(code), length)  # the last line may have no newline
        regions.append((offset, end) if "import" in code else (end, end))
        offset = end
    return regions
