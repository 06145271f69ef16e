"""VM202: `x.data.numpy()[0]`, the pre-0.4 way to read a loss as a NumPy number (VM201's family)."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import ExpressionContext, ExpressionContextProvider

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.data_index_zero import is_index_zero, used_as_receiver
from varmigrate.rules.torch_api import FULL_REDUCTIONS, TO_NUMPY_STEPS

# Not exact even on a 0-dim tensor: PyTorch 0.3 gave a NumPy scalar (`numpy.float32`), `.item()` gives
# a Python number (a `float`, computed with in double precision from there on).
NOT_AN_ARRAY = "(no automatic fix: `.item()` returns a number, which is used here as an array)"
ITEM_TITLE = "Replace with `.item()` (assumes the tensor is 0-dim; gives a Python number, not a NumPy one)"


class NumpyIndexZero(Rule):
    """
    ## What it does
    Flags `x.data.numpy()[0]`, `x.cpu().data.numpy()[0]` and `x.numpy()[0]` where `x` is likely a
    0-dim tensor: the chain goes through `.data` (the PyTorch 0.3 idiom), `x` is a full reduction
    such as `y.sum()`, or its name says it is a loss.

    ## Why is this bad?
    Before PyTorch 0.4 reductions returned 1-element tensors, and `loss.data.numpy()[0]` read the
    value. Reductions now return 0-dim tensors, `.numpy()` gives a 0-dim array, and indexing it
    raises `IndexError: too many indices for array`. `x.item()` is the supported spelling.

    ## Example
    ```python
    import torch

    losses.append(loss.cpu().data.numpy()[0])
    ```

    Use instead:
    ```python
    import torch

    losses.append(loss.item())
    ```

    ## Fix safety
    The fix is unsafe, and no run can make it exact: PyTorch 0.3 gave a NumPy scalar
    (`numpy.float32` for a float tensor) where `.item()` gives a Python `float`, so sums of them
    are computed in double precision afterwards and their printed digits can differ. On a tensor
    with more than one element `.numpy()[0]` is a row, and `.item()` raises. `varmigrate verify`
    runs the original with `.numpy()[0]` on a 0-dim array given its 0.3 meaning.

    ## Known problems
    Whether `x` is 0-dim is guessed from the code: a `.data` in the chain, a reduction without
    arguments, or `loss` in the name. The first row of a batch read as `out.data.numpy()[0]` is
    flagged too. No fix is offered where the result is used as an array (`x.data.numpy()[0][1]`).
    """

    VALID = (
        Valid("import torch\nvalue = loss.item()\n"),
        # The first row of a batch, with no sign of a 0-dim tensor.
        Valid("import torch\nfirst = batch.numpy()[0]\n"),
    )
    INVALID = (
        Invalid("import torch\nvalue = loss.data.numpy()[0]\n"),
        Invalid(
            "import torch\nvalue = (a - b).pow(2).sum().cpu().numpy()[0]\n",
            fixed="import torch\nvalue = (a - b).pow(2).sum().item()\n",
            unsafe=True,
        ),
    )

    def visit_Subscript(self, node: cst.Subscript) -> None:
        receiver = _numpy_receiver(node.value)
        if receiver is None or not is_index_zero(node):
            return
        if self.ctx.metadata(ExpressionContextProvider, node, None) is not ExpressionContext.LOAD:
            return
        tensor, through_data = _tensor_of(receiver)
        if self.is_own_instance(tensor) or not (through_data or _looks_zero_dim(tensor)):
            return
        if used_as_receiver(node, self.parent(node)):
            self.report(node, message=f"{self.message} {NOT_AN_ARRAY}")
            return
        item = nodes.method_call(tensor, "item")
        self.report(node, fixes=[self.replace_with(node, item, ITEM_TITLE, Applicability.UNSAFE)])


def _numpy_receiver(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` when ``expr`` is `x.numpy()`, without arguments or parentheses of its own."""
    if (
        isinstance(expr, cst.Call)
        and not expr.args
        and not expr.lpar
        and isinstance(expr.func, cst.Attribute)
    ):
        return expr.func.value if expr.func.attr.value == "numpy" else None
    return None


def _tensor_of(expr: cst.BaseExpression) -> tuple[cst.BaseExpression, bool]:
    """The tensor under ``.data`` / ``.cpu()`` / ``.detach()`` steps, and whether `.data` was one of them."""
    through_data = False
    while True:
        if isinstance(expr, cst.Attribute) and expr.attr.value == "data" and not expr.lpar:
            through_data, expr = True, expr.value
        elif (
            isinstance(expr, cst.Call)
            and not expr.args
            and not expr.lpar
            and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value in TO_NUMPY_STEPS
        ):
            expr = expr.func.value
        else:
            return expr, through_data


def _looks_zero_dim(expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` is a full reduction (`y.sum()`) or named as a loss (`loss`, `self.train_loss`)."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and not expr.args:
        return expr.func.attr.value in FULL_REDUCTIONS
    name = expr.attr.value if isinstance(expr, cst.Attribute) else getattr(expr, "value", "")
    return isinstance(name, str) and "loss" in name.lower()
