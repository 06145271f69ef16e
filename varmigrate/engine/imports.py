"""Import clean-up after fixes: unused `Variable` imports and `torch.autograd` aliases go, needed come."""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from varmigrate.engine.parsing import parse
from varmigrate.rules import nodes
from varmigrate.rules.torch_api import AUTOGRAD_MODULES, VARIABLE


def clean_imports(source: str, imports: Iterable[str]) -> str:
    """Remove `Variable` imports (and `torch.autograd` aliases) left unused; add imports fixes need."""
    module = parse(source)
    context = CodemodContext()
    scheduled = False
    for node in m.findall(module, m.ImportFrom() | m.Import()):
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
    for name in sorted(imports):
        AddImportsVisitor.add_needed_import(context, name)
        scheduled = True
    if not scheduled:
        return source
    cleaned = RemoveImportsVisitor(context).transform_module(module)
    if not m.findall(module, _EMPTY_TRY):
        # `try: from torch.autograd import Variable / except ImportError: pass` is left with nothing
        # but `pass` once the import goes; the module had no such statement before, so drop them.
        cleaned = cleaned.visit(_EmptyTryRemover())
    return AddImportsVisitor(context).transform_module(cleaned).code


_ONLY_PASS = m.IndentedBlock(body=[m.ZeroOrMore(m.SimpleStatementLine(body=[m.Pass()]))])
_EMPTY_TRY = m.Try(
    body=_ONLY_PASS,
    handlers=[m.ZeroOrMore(m.ExceptHandler(body=_ONLY_PASS))],
    orelse=None,
    finalbody=None,
)


class _EmptyTryRemover(cst.CSTTransformer):
    """Remove `try` statements whose every block is only `pass` (those with a comment stay)."""

    def leave_Try(
        self, original: cst.Try, updated: cst.Try
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        if not m.matches(updated, _EMPTY_TRY) or m.findall(updated, m.Comment()):
            return updated
        return cst.RemoveFromParent()


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is None:
        return None
    name = alias.asname.name
    return name.value if isinstance(name, cst.Name) else None
