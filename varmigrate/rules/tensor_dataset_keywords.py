"""VM402: `TensorDataset(data_tensor=x, target_tensor=y)`, PyTorch 0.3's keywords."""

from __future__ import annotations

import libcst as cst

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.torch_api import TENSOR_DATASET, TENSOR_DATASET_KEYWORDS

POSITIONAL_TITLE = "Pass the tensors positionally"
# Swapping the arguments' order swaps when they are evaluated (random draws, calls with effects).
SWAPPED_TITLE = "Pass the tensors positionally (evaluates `data_tensor` first)"
INCOMPLETE = (
    "`TensorDataset(...)` with only one of `data_tensor=` / `target_tensor=` raised `TypeError` "
    "in PyTorch 0.3 too"
)


class TensorDatasetKeywords(Rule):
    """
    ## What it does
    Flags calls of `torch.utils.data.TensorDataset` with the keywords `data_tensor=` and
    `target_tensor=`, however `TensorDataset` was imported.

    ## Why is this bad?
    In PyTorch 0.3 `TensorDataset(data_tensor, target_tensor)` held exactly two tensors. Since 0.4
    it takes any number of tensors, positionally only (`TensorDataset(*tensors)`), so the old
    keywords raise `TypeError: TensorDataset.__init__() got an unexpected keyword argument
    'data_tensor'`.

    ## Example
    ```python
    from torch.utils.data import TensorDataset

    train = TensorDataset(data_tensor=features, target_tensor=labels)
    ```

    Use instead:
    ```python
    from torch.utils.data import TensorDataset

    train = TensorDataset(features, labels)
    ```

    ## Fix safety
    The fix is safe: items are `(data[i], target[i])` and the length is the tensors' first size in
    both versions, and both assert that the sizes agree. Where the keywords come in the other
    order (`target_tensor=` first) the fix is unsafe, since it evaluates the data argument first,
    unless both arguments are plain names.

    ## Known problems
    The 0.3 attributes `dataset.data_tensor` and `dataset.target_tensor` (today `dataset.tensors`)
    are not flagged, nor keywords passed through `**kwargs`.
    """

    VALID = (
        Valid("from torch.utils.data import TensorDataset\nds = TensorDataset(x, y)\n"),
        # Another library's `TensorDataset`.
        Valid(
            "import torch\nfrom mylib import TensorDataset\n"
            "ds = TensorDataset(data_tensor=x, target_tensor=y)\n"
        ),
    )
    INVALID = (
        Invalid(
            "import torch.utils.data as tud\nds = tud.TensorDataset(data_tensor=x, target_tensor=y)\n",
            fixed="import torch.utils.data as tud\nds = tud.TensorDataset(x, y)\n",
        ),
        Invalid(
            "import torch.utils.data as tud\nds = tud.TensorDataset(target_tensor=y, data_tensor=x)\n",
            fixed="import torch.utils.data as tud\nds = tud.TensorDataset(x, y)\n",
        ),
        # The evaluation order would change: only with --unsafe-fixes.
        Invalid(
            "import torch.utils.data as tud\nds = tud.TensorDataset(target_tensor=f(), data_tensor=g())\n",
            fixed="import torch.utils.data as tud\nds = tud.TensorDataset(g(), f())\n",
            unsafe=True,
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        keywords = {arg.keyword.value: arg for arg in node.args if arg.keyword is not None}
        if not TENSOR_DATASET_KEYWORDS & keywords.keys() or not self.resolves_to(node.func, TENSOR_DATASET):
            return
        first = next(arg for arg in node.args if nodes.keyword_name(arg) in TENSOR_DATASET_KEYWORDS)
        data, target = keywords.get("data_tensor"), keywords.get("target_tensor")
        plain = len(node.args) == 2 and keywords.keys() <= TENSOR_DATASET_KEYWORDS and not node.args[0].star
        if not plain or target is None:
            self.report(first, message=INCOMPLETE if len(node.args) < 2 else None)
            return
        # `TensorDataset(x, target_tensor=y)` and `(data_tensor=x, target_tensor=y)` are in order.
        swap = None if node.args[0] is not target else (data, target)
        fixed = _positional(node, swap)
        if swap is not None and not all(isinstance(arg.value, cst.Name) for arg in node.args):
            self.report(first, fixes=[self.replace_with(node, fixed, SWAPPED_TITLE, Applicability.UNSAFE)])
        else:
            self.report(first, fixes=[self.replace_with(node, fixed, POSITIONAL_TITLE, Applicability.SAFE)])


def _positional(call: cst.Call, swap: tuple[cst.Arg | None, cst.Arg] | None) -> cst.Call:
    """``call`` with its keywords dropped; ``swap``: the (data, target) arguments to put in that order."""
    args = list(call.args)
    if swap is not None:
        data, target = swap
        assert data is not None
        # Each slot keeps its own comma and spacing; only the values move.
        args = [arg.with_changes(value=data.value if arg is target else target.value) for arg in args]
    return call.with_changes(
        args=[arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT) for arg in args]
    )
