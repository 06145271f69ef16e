"""VM101: `Variable` used as a type in `isinstance`, `issubclass` or a `type(x) == ...` comparison."""

from __future__ import annotations

import libcst as cst

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Valid
from varmigrate.rules._references import Reference, Role, VariableReferenceRule


class LegacyVariableTypeCheck(VariableReferenceRule):
    """
    ## What it does
    Flags `Variable` in type checks: `isinstance(x, Variable)` (alone or in a tuple of types),
    `issubclass(C, Variable)`, and `type(x) == Variable` / `is` / `!=` / `is not` (also with
    `x.__class__`).

    ## Why is this bad?
    Since PyTorch 0.4 `Variable` is a shim, not a type of tensor. `isinstance(x, Variable)` still works
    only because `Variable`'s metaclass answers `isinstance(x, torch.Tensor)`; saying so is clearer and
    does not depend on the shim. The other checks are dead code: no object has type `Variable` and no
    tensor type subclasses it, so `type(x) == Variable` and `issubclass(C, Variable)` are always False.

    ## Example
    ```python
    import torch
    from torch.autograd import Variable

    def to_numpy(x):
        if isinstance(x, Variable):
            x = x.data
        return x.cpu().numpy()
    ```

    Use instead:
    ```python
    import torch

    def to_numpy(x):
        if isinstance(x, torch.Tensor):
            x = x.data
        return x.cpu().numpy()
    ```

    ## Fix safety
    Replacing `Variable` with `torch.Tensor` inside `isinstance(...)` is safe: it is exactly what
    `VariableMeta.__instancecheck__` computes, for tensors, parameters, tensor subclasses and
    non-tensors alike. The comparisons and `issubclass` checks get a display-only suggestion (the
    constant they evaluate to), never `torch.Tensor`, which would turn a False check into a True one.

    ## Known problems
    `issubclass(C, Variable)` is True for a class `C` that itself subclasses `Variable` (flagged by
    VM103); the suggestion assumes no such class. `Variable` inside `issubclass(C, (Variable, T))` is
    reported without a fix.
    """

    roles = frozenset({Role.INSTANCE_CHECK, Role.SUBCLASS_CHECK, Role.TYPE_COMPARISON})

    VALID = (
        Valid("import torch\nok = isinstance(t, torch.Tensor)\n"),
        Valid("import tensorflow as tf\nok = isinstance(t, tf.Variable)\n"),
    )
    INVALID = (
        Invalid(
            "import torch\nfrom torch.autograd import Variable\nok = isinstance(t, Variable)\n",
            fixed="import torch\nok = isinstance(t, torch.Tensor)\n",
        ),
        # Always False today: shown, never rewritten.
        Invalid("import torch\nfrom torch.autograd import Variable\nsame = type(t) == Variable\n"),
    )

    def on_reference(self, reference: Reference) -> None:
        if reference.role is Role.INSTANCE_CHECK:
            tensor = self.torch_attr("Tensor")
            fix = self.replace_with(
                reference.node,
                tensor,
                f"Replace with `{nodes.code(tensor)}`",
                Applicability.SAFE,
                self.torch_imports,
            )
            self.report(reference.node, fixes=[fix])
            return
        if not reference.whole or reference.check is None:
            self.report(reference.node, message="`Variable` in `issubclass(...)` never matches a tensor type")
            return
        value = reference.negated
        if reference.role is Role.SUBCLASS_CHECK:
            message = "`issubclass(..., Variable)` is always False: no tensor type subclasses `Variable`"
        else:
            operator = _operator(reference.check)
            message = f"`type(...) {operator} Variable` is always {value}: no object has type `Variable`"
        constant = cst.Name(str(value))
        fix = self.replace_with(
            reference.check, constant, f"Replace with `{value}`", Applicability.DISPLAY_ONLY
        )
        self.report(reference.check, message=message, fixes=[fix])


def _operator(comparison: cst.BaseExpression) -> str:
    """The operator of a one-operator comparison, as written (`==`, `is not`, ...)."""
    assert isinstance(comparison, cst.Comparison)
    return {cst.Equal: "==", cst.NotEqual: "!=", cst.Is: "is", cst.IsNot: "is not"}[
        type(comparison.comparisons[0].operator)
    ]
