"""VM404: `torch.autograd.Function` subclasses written the pre-0.4 way, with an instance `forward`."""

from __future__ import annotations

import libcst as cst

from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.torch_api import AUTOGRAD_FUNCTION


class LegacyAutogradFunction(Rule):
    """
    ## What it does
    Flags the `forward` method of a subclass of `torch.autograd.Function` when it is an instance
    method (no `@staticmethod`): the legacy style, used as `MyFunction()(x)`.

    ## Why is this bad?
    Legacy functions, with `forward(self, ...)` and `backward(self, ...)` on an instance, were
    deprecated in PyTorch 0.4 and removed in 1.5. Calling one today raises `RuntimeError: Legacy
    autograd function with non-static forward method is deprecated. Please use new-style autograd
    function with static forward method.` New-style functions have static `forward(ctx, ...)` and
    `backward(ctx, ...)`, keep state on `ctx` (`ctx.save_for_backward(...)`,
    `ctx.saved_tensors`) and are called as `MyFunction.apply(x)`.

    ## Example
    ```python
    import torch

    class Double(torch.autograd.Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad):
            return grad * 2

    y = Double()(x)
    ```

    Use instead:
    ```python
    import torch

    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    y = Double.apply(x)
    ```

    ## Fix safety
    There is no fix: state kept on `self` (in `__init__`, or between `forward` and `backward`)
    must move to `ctx` or to arguments of `apply`, and every call site changes, which takes a
    person reading the code.

    ## Known problems
    Only direct subclasses of torch's `Function` are flagged, not subclasses of a class of the
    project that derives from it. Call sites (`Double()(x)`) are not flagged. A file is looked at
    when one such class has `def forward(self` in its body: an instance `forward` whose first
    parameter has another name is found only in such a file.
    """

    VALID = (
        Valid(
            "import torch\n\nclass Double(torch.autograd.Function):\n"
            "    @staticmethod\n    def forward(ctx, x):\n        return x * 2\n"
        ),
        # Modules have instance `forward` methods.
        Valid("import torch\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n        return x\n"),
    )
    INVALID = (
        Invalid(
            "from torch.autograd import Function\n\nclass Double(Function):\n"
            "    def forward(self, x):\n        return x * 2\n"
        ),
    )

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not any(self.resolves_to(base.value, AUTOGRAD_FUNCTION) for base in node.bases):
            return
        for statement in node.body.body:
            if (
                isinstance(statement, cst.FunctionDef)
                and statement.name.value == "forward"
                and not self.decorated_with(statement, "builtins.staticmethod", "builtins.classmethod")
            ):
                self.report(statement.name)
