"""VM201: `x.data[0]`, the pre-0.4 way to read a loss as a Python number."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import ExpressionContext, ExpressionContextProvider

from varmigrate.model import Applicability, RuntimeCheck
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.settled import ITEM_TITLE, NOT_A_RECEIVER


class DataIndexZero(Rule):
    """
    ## What it does
    Flags `x.data[0]`, including inside f-strings and `.format(...)` calls.

    ## Why is this bad?
    Before PyTorch 0.4 reductions returned 1-element tensors and `loss.data[0]` read the value as a
    number. Reductions now return 0-dim tensors, and indexing one raises `IndexError: invalid index
    of a 0-dim tensor`. `x.item()` is the supported spelling.

    ## Example
    ```python
    import torch

    running_loss += loss.data[0]
    print("loss: %.4f" % (a + b).data[0])
    ```

    Use instead:
    ```python
    import torch

    running_loss += loss.item()
    print("loss: %.4f" % (a + b).item())
    ```

    ## Fix safety
    The fix is unsafe because it changes behaviour by design:
    - on a 0-dim tensor the old code raises `IndexError` and the new code returns the value;
    - on a 1-element 1-dim tensor `x.data[0]` is a 0-dim tensor while `x.item()` is a Python number.
      Printing and formatting are the same, but comparisons are not: `torch.tensor([0.7]).data[0] >=
      0.7` is True (compared in float32) and `torch.tensor([0.7]).item() >= 0.7` is False;
    - on a tensor with more than one element `x.item()` raises `RuntimeError`.

    ## Known problems
    Only the literal index `0` is flagged, and `.data` may belong to an object that is not a tensor
    (a dataset's `data` attribute); the fix is unsafe for that reason too. No fix is offered where the
    result is used as a tensor (`x.data[0].cpu()`), nor on a method's own `self.data`. Assignments
    such as `x.data[0] = 1` are not flagged.
    """

    VALID = (
        Valid("import torch\ntotal += loss.item()\n"),
        # Another index is another meaning.
        Valid("import torch\nrow = batch.data[1]\n"),
    )
    INVALID = (
        # Raises IndexError on today's 0-dim losses; `.item()` only with --unsafe-fixes.
        Invalid("import torch\ntotal += loss.data[0]\n"),
        Invalid(
            "import torch\ntotal += loss.data[0]\n", fixed="import torch\ntotal += loss.item()\n", unsafe=True
        ),
    )

    def visit_Subscript(self, node: cst.Subscript) -> None:
        data = node.value
        if not is_index_zero(node) or not isinstance(data, cst.Attribute) or data.attr.value != "data":
            return
        # `(x.data)[0]` is left alone: the engine's text prefilter for this rule does not see it either.
        if data.lpar or self.is_own_instance(data.value):
            return
        if self.ctx.metadata(ExpressionContextProvider, node, None) is not ExpressionContext.LOAD:
            return
        if used_as_receiver(node, self.parent(node)):
            self.report(node, message=f"{self.message} {NOT_A_RECEIVER}")
            return
        item = nodes.method_call(data.value, "item")
        # The 0.3 meaning of `t.data[0]` on a 0-dim `t` is `t.item()`; one run can show `t` always was.
        fix = self.replace_with(
            node,
            item,
            ITEM_TITLE,
            Applicability.UNSAFE,
            verified_by=RuntimeCheck.RECEIVER_IS_ZERO_DIM,
        )
        self.report(node, fixes=[fix])


def used_as_receiver(node: cst.BaseExpression, parent: cst.CSTNode | None) -> bool:
    """Whether ``node`` (whose parent is ``parent``) is the receiver of `.attr`, `[...]` or `(...)`."""
    if isinstance(parent, cst.Attribute | cst.Subscript):
        return parent.value is node
    return isinstance(parent, cst.Call) and parent.func is node


def is_index_zero(node: cst.Subscript) -> bool:
    """Whether the subscript is exactly `[0]`."""
    if len(node.slice) != 1:
        return False
    index = node.slice[0].slice
    return (
        isinstance(index, cst.Index)
        and index.star is None
        and isinstance(index.value, cst.Integer)
        and index.value.value == "0"
    )
