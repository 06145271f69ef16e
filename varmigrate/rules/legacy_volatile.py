"""VM002: `volatile` outside a visible `Variable(...)` call."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import ExpressionContext, ExpressionContextProvider

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.volatile_parameter import forwards_dead_volatile

READ = "`.volatile` is always False since PyTorch 0.4; use `torch.no_grad()` for inference"
WRITE = "setting `.volatile` has had no effect since PyTorch 0.4; use `torch.no_grad()`"


class LegacyVolatile(Rule):
    """
    ## What it does
    Flags `volatile` outside torch's `Variable(...)`: a `volatile=` keyword passed to any other call
    (typically a helper that forwards it), and reads or writes of a `.volatile` attribute. Inside
    `Variable(x, volatile=True)` the keyword is part of VM001's finding, whose fix removes it: that
    call is VM001's alone, so `--select VM002` leaves it out and `--ignore VM002` still reports it.
    Likewise `volatile=volatile` that passes on a helper's own dead `volatile` parameter is part of
    VM003's finding on that parameter.

    ## Why is this bad?
    `volatile` has had no effect since PyTorch 0.4. Tensors still have a `volatile` property, but
    reading it always gives False and setting it does nothing; both only emit a `UserWarning`. Code
    that relied on it for inference now builds autograd graphs and keeps activations alive: wrap
    inference in `with torch.no_grad():` instead, and test `torch.is_grad_enabled()` to know the mode.

    ## Example
    ```python
    import torch

    def evaluate(model, images):
        inputs = to_var(images, volatile=True)
        return model(inputs)
    ```

    Use instead:
    ```python
    import torch

    def evaluate(model, images):
        with torch.no_grad():
            inputs = to_var(images)
            return model(inputs)
    ```

    ## Fix safety
    There is no automatic fix. Dropping the keyword is shown as a suggestion only: the helper's
    signature may still need it, and the `torch.no_grad()` block it stood for must be placed by hand.
    Replacing a read of `.volatile` with `False` is shown too: exact for tensors, but the receiver
    may be some other object.

    ## Known problems
    `.volatile` on objects that are not tensors is flagged too, except on a method's own `self`.
    """

    VALID = (
        Valid("import torch\nwith torch.no_grad():\n    y = model(x)\n"),
        # A method's own attribute is not a tensor's.
        Valid("import torch\n\nclass Loader:\n    def mode(self):\n        return self.volatile\n"),
        # Inside torch's own `Variable(...)` it is VM001's finding.
        Valid("import torch\nfrom torch.autograd import Variable\nv = Variable(x, volatile=True)\n"),
        # Passing on a helper's own dead `volatile` parameter is part of VM003's finding on it.
        Valid("import torch\n\ndef to_cuda(x, volatile=False):\n    return prepare(x, volatile=volatile)\n"),
    )
    INVALID = (
        Invalid("import torch\n\ndef evaluate(x):\n    return to_var(x, volatile=True)\n"),
        Invalid("import torch\nflag = t.volatile\n"),
        Invalid("import torch\nt.volatile = True\n"),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if self.is_variable(node.func):
            # VM001 reports `volatile` inside torch's own `Variable(...)`.
            return
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "volatile":
                if forwards_dead_volatile(self, arg.value):
                    continue  # VM003 reports the parameter it passes on, and this with it
                title = "Remove the `volatile=` argument"
                fix = self.replace_with(node, nodes.remove_arg(node, arg), title, Applicability.DISPLAY_ONLY)
                self.report(arg, fixes=[fix])

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value != "volatile" or self.is_own_instance(node.value):
            return
        context = self.ctx.metadata(ExpressionContextProvider, node, None)
        if context is ExpressionContext.STORE:
            self.report(node, message=WRITE)
        elif context is ExpressionContext.LOAD:
            fix = self.replace_with(
                node, cst.Name("False"), "Replace with `False`", Applicability.DISPLAY_ONLY
            )
            self.report(node, message=READ, fixes=[fix])
