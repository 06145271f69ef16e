"""References to deprecated torch names that are aliases of current ones (`F.sigmoid`, `nn.init.normal`).

A rule here maps each deprecated qualified name to the current one it calls with the same arguments,
and its fix writes the current name in place of the reference (safe where the reference is called,
unsafe where the function itself is passed or stored), whatever the import spelling: an
attribute whose receiver already is the new name's module keeps its receiver (`nn.init.normal` ->
`nn.init.normal_`); any other reference is spelled from torch (`sig` after `from torch.nn.functional
import sigmoid as sig` -> `torch.sigmoid`, with `import torch` added when the module lacks it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

import libcst as cst
from libcst.metadata import ExpressionContext, ExpressionContextProvider, ImportAssignment, ScopeProvider

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Rule

# Only the deprecated function's behaviour is the same: the object itself is another one, so code that
# reads its attributes (`F.sigmoid.__name__`) or compares it (`act is F.sigmoid`) could tell.
OBJECT_USED = "(no automatic fix: the function object itself is used)"


class RenamedReferenceRule(Rule):
    """A rule about references to deprecated torch names; ``renamed`` maps each to its current name."""

    # Deprecated qualified name -> the qualified name of the function it calls.
    renamed: ClassVar[Mapping[str, str]]

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.ctx.spellings(self.spec.triggers):
            self._visit_reference(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value in self.spec.triggers:
            self._visit_reference(node)

    def describe(self, old: str, new: str) -> str:
        """The finding's message for a reference to ``old`` (``new`` replaces it)."""
        return f"`{_shown(old)}` is deprecated: use `{_shown(new)}`"

    def _visit_reference(self, node: cst.Name | cst.Attribute) -> None:
        parent = self.parent(node)
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            # The name after a dot is part of the attribute that holds it.
            return
        if self.ctx.metadata(ExpressionContextProvider, node, None) is not ExpressionContext.LOAD:
            # Imports, assignments (`F.sigmoid = ...`) and `del` are not uses of the function.
            return
        old = self.resolved_name(node)
        new = self.renamed.get(old or "")
        if old is None or new is None:
            return
        message = self.describe(old, new)
        if self._object_used(node, parent):
            self.report(node, message=f"{message} {OBJECT_USED}")
            return
        replacement, imports = self._replacement(node, old, new)
        title = f"Replace with `{_shown(new)}`"
        if isinstance(parent, cst.Call) and parent.func is node:
            fix = self.replace_with(node, replacement, title, Applicability.SAFE, imports=imports)
        else:
            # Passed or stored, the function may meet an identity test later (`fn is F.tanh`, a set or
            # dict of functions), which the new one fails.
            title = f"{title} (another function object: `is`, sets and dict keys tell them apart)"
            fix = self.replace_with(node, replacement, title, Applicability.UNSAFE, imports=imports)
        self.report(node, message=message, fixes=[fix])

    def _object_used(self, node: cst.CSTNode, parent: cst.CSTNode | None) -> bool:
        """Whether the function object itself is observed: an attribute read, a comparison."""
        if isinstance(parent, cst.Attribute | cst.Subscript) and parent.value is node:
            return True
        return isinstance(parent, cst.Comparison | cst.ComparisonTarget)

    def _replacement(
        self, node: cst.Name | cst.Attribute, old: str, new: str
    ) -> tuple[cst.BaseExpression, tuple[str, ...]]:
        """The new name in the reference's place, and the imports it needs."""
        old_module, _, old_name = old.rpartition(".")
        new_module, _, new_name = new.rpartition(".")
        if isinstance(node, cst.Attribute) and old_module == new_module:
            return nodes.without_parens(node).with_changes(attr=cst.Name(new_name)), ()
        if old_module == new_module and node.value == old_name and self._free_for(node, new_name, new):
            # `from torch.nn.init import normal`: the import is renamed too once nothing uses `normal`.
            return cst.Name(new_name), (f"from {new_module} import {new_name}",)
        # A name imported on its own (`sigmoid`, `sparse as sparse_init`): its import goes once unused.
        dropped = (f"-{old}",) if isinstance(node, cst.Name) else ()
        return self.torch_attr(*new.split(".")[1:]), (*self.torch_imports, *dropped)

    def _free_for(self, node: cst.CSTNode, name: str, qualified: str) -> bool:
        """Whether ``name`` at ``node`` is unbound, or bound only by imports of ``qualified``."""
        scope = self.ctx.metadata(ScopeProvider, node, None)
        if scope is None or re.search(rf"\b{name}\b", self.ctx.dropped_code):
            # Statements left out of the analysed module (`ModuleContext.reduce`) may bind it.
            return False
        for assignment in scope[name]:
            if not isinstance(assignment, ImportAssignment):
                return False
            names = {q.name for q in assignment.get_qualified_names_for(name)}
            if names != {qualified}:
                return False
        return True


def _shown(qualified: str) -> str:
    """How a message names a torch function: `nn.init.normal_`, `torch.sigmoid`."""
    inside = qualified.removeprefix("torch.")
    return inside if "." in inside else qualified
