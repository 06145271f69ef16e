"""What removing an import does to its statement: `RemoveImportsVisitor`'s edits, and an emptied `try`."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any

import libcst as cst
from libcst.helpers import get_absolute_module_from_package_for_import

from varmigrate.rules import nodes


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is None:
        return None
    name = alias.asname.name
    return name.value if isinstance(name, cst.Name) else None


class KeepsComments(cst.CSTTransformer):
    """Keeps the comments above an import line that goes: they move above the next statement of the
    block (or to its end).

    A comment above an import may say something about the code around it; it is the user's, so it
    stays rather than going with the import. Mixed into both import removers, so that they agree.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The import lines that go, by the line, with their leading lines.
        self.emptied: dict[int, Sequence[cst.EmptyLine]] = {}

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        if not updated.body:
            self.emptied[id(original)] = original.leading_lines
        return updated

    def leave_IndentedBlock(
        self, original: cst.IndentedBlock, updated: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body, footer = self._rehome(original.body, updated.body)
        if body is None:
            return updated
        return updated.with_changes(body=body, footer=[*footer, *updated.footer])

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body, footer = self._rehome(original.body, updated.body)
        if body is None:
            return updated
        return updated.with_changes(body=body, footer=[*footer, *updated.footer])

    def _rehome(
        self, original: Sequence[cst.BaseStatement], updated: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement] | None, list[cst.EmptyLine]]:
        """The block's statements with the removed lines' comments moved onto the next one, and what
        is left for the block's end (None: no comment to move)."""
        orphans = [self.emptied.get(id(statement), ()) for statement in original]
        if not any(line.comment is not None for lines in orphans for line in lines):
            return None, []
        body = list(updated)
        pending: list[cst.EmptyLine] = []
        kept = 0
        for statement, leading in zip(original, orphans, strict=True):
            if id(statement) in self.emptied:
                pending.extend(leading)
                continue
            line = body[kept] if kept < len(body) else None
            if pending and isinstance(line, cst.SimpleStatementLine | cst.BaseCompoundStatement):
                body[kept] = line.with_changes(leading_lines=[*pending, *line.leading_lines])
                pending = []
            kept += 1
        return body, pending


class _Remover(KeepsComments):
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


# How a fix asks for a name rather than a module (`Fix.imports`): ``from torch.nn.init import normal_``.
# How it asks for the import of a name it no longer refers to to go, if nothing else uses it:
# ``-torch.nn.functional.sigmoid`` (the name's qualified name after the prefix).
DROP_IF_UNUSED = "-"
FROM_IMPORT = re.compile(r"from ([\w.]+) import (\w+)")


def rename_replaced_imports(
    module: cst.Module, wanted: Sequence[str], renamed: Mapping[str, str]
) -> tuple[cst.Module, list[tuple[str, str]]]:
    """``module`` with each `from M import old` that nothing uses any more importing its new name instead.

    ``wanted`` holds the imports fixes asked for; ``renamed`` maps a deprecated qualified name to the
    one that replaced it. An import of a deprecated name (no alias) whose replacement a fix asked for
    in the form ``from M import new`` is renamed in place, so that its comments and layout stay.
    Where the old name is still used (a reference no fix changed), it stays and the new name is added
    by `AddImportsVisitor` as any other; where the new name is bound already, the old import is
    returned as (module, name), for `RemoveImportsVisitor` to remove if unused.
    """
    asked = {f"{match[1]}.{match[2]}" for name in wanted if (match := FROM_IMPORT.fullmatch(name))}
    if not asked:
        return module, []
    from libcst.metadata import MetadataWrapper, ScopeProvider

    wrapper = MetadataWrapper(module)
    scopes = wrapper.resolve(ScopeProvider)
    targets: dict[int, str] = {}  # id of the alias -> the name it imports instead
    removals: list[tuple[str, str]] = []
    for node in nodes.descendants(wrapper.module):
        if not isinstance(node, cst.ImportFrom) or node.relative or isinstance(node.names, cst.ImportStar):
            continue
        scope = scopes.get(node)
        if node.module is None or scope is None:
            continue
        dotted = nodes.code(node.module)
        for alias in node.names:
            name = nodes.code(alias.name)
            new = renamed.get(f"{dotted}.{name}")
            if alias.asname is not None or new not in asked:
                continue
            short = new.rpartition(".")[2]
            if scope.assignments[short]:
                removals.append((dotted, name))
            elif not any(assignment.references for assignment in scope.assignments[name]):
                targets[id(alias)] = short
    if not targets:
        return module, removals
    return wrapper.module.visit(_AliasRenamer(targets)), removals


class _AliasRenamer(cst.CSTTransformer):
    """Renames the import aliases it is given (by id) to the names given for them."""

    def __init__(self, targets: Mapping[int, str]) -> None:
        super().__init__()
        self.targets = targets

    def leave_ImportAlias(self, original: cst.ImportAlias, updated: cst.ImportAlias) -> cst.ImportAlias:
        new = self.targets.get(id(original))
        return updated if new is None else updated.with_changes(name=cst.Name(new))
