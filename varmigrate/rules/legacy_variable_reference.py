"""VM103: references to `Variable` that are not calls, type checks or annotations."""

from __future__ import annotations

import libcst as cst

from varmigrate.rules._base import Invalid, Valid
from varmigrate.rules._references import Reference, Role, VariableReferenceRule


class LegacyVariableReference(VariableReferenceRule):
    """
    ## What it does
    Flags every other use of torch's `Variable`: passing it as a value (`map(Variable, batch)`),
    aliasing it (`V = Variable`), subclassing it, or reaching into it (`Variable._execution_engine`).
    Import statements are not flagged.

    ## Why is this bad?
    Since PyTorch 0.4 `Variable` is a shim kept for old code. Calling it detaches its argument, and
    an alias or a `map` hides those calls from VM001. A subclass of `Variable` does not behave like
    one: `Foo(x)` returns a plain `torch.Tensor`, `Foo.__init__` never runs, and
    `isinstance(torch.zeros(1), Foo)` is True for every tensor.

    ## Example
    ```python
    import torch
    from torch.autograd import Variable

    inputs, targets = map(Variable, (inputs, targets))
    ```

    Use instead:
    ```python
    import torch

    inputs, targets = inputs.detach(), targets.detach()
    ```

    ## Fix safety
    There is no fix: what replaces the reference depends on how it is used (a call, a type, an
    internal attribute), which is only known at run time.

    ## Known problems
    None known.
    """

    roles = frozenset({Role.VALUE})

    VALID = (
        Valid("import torch\nxs = list(map(torch.as_tensor, ts))\n"),
        Valid("import tensorflow as tf\nmake = tf.Variable\n"),
    )
    INVALID = (
        Invalid("import torch\nfrom torch.autograd import Variable\nxs = list(map(Variable, ts))\n"),
        Invalid("import torch\nfrom torch.autograd import Variable\n\nclass Param(Variable):\n    pass\n"),
    )

    def on_reference(self, reference: Reference) -> None:
        arg = self.parent(reference.node)
        owner = self.parent(arg) if arg is not None else None
        if isinstance(owner, cst.ClassDef) and any(base is arg for base in owner.bases):
            message = "subclassing `Variable`: instances are plain tensors and `__init__` never runs"
            self.report(reference.node, message=message)
            return
        self.report(reference.node)
