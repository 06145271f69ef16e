"""VM414: softmax, log-softmax and softmin without `dim`, which PyTorch then picks from the input's rank."""

from __future__ import annotations

import libcst as cst

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.torch_api import IMPLICIT_DIM_FUNCTIONS, IMPLICIT_DIM_MODULES

# `dim=1` is what PyTorch picks for 2-dim and 4-or-more-dim input; for 0-, 1- and 3-dim input it picks 0.
# Which one a call gets is known only at run time, so the fix is a suggestion.
DIM_TITLE = "Pass `dim=1` (what PyTorch picks unless the input is 0-, 1- or 3-dim)"


class ImplicitSoftmaxDim(Rule):
    """
    ## What it does
    Flags torch's `F.softmax`, `F.log_softmax` and `F.softmin` called without `dim` (or with
    `dim=None`), and the modules `nn.Softmax`, `nn.LogSoftmax` and `nn.Softmin` built without one,
    however they were imported.

    ## Why is this bad?
    Without `dim`, PyTorch picks the dimension from the input's rank each time it runs: dim 0 for 0-,
    1- and 3-dim input, dim 1 otherwise (`torch.nn.functional._get_softmax_dim`), and warns
    "Implicit dimension choice for softmax has been deprecated" on every call. The choice is rarely
    the one meant for 3-dim input: for a `(batch, time, classes)` tensor it normalises across the
    batch, silently. Saying `dim=` states the intent, and the module stops warning.

    ## Example
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    probs = F.softmax(logits)
    head = nn.LogSoftmax()
    ```

    Use instead:
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    probs = F.softmax(logits, dim=1)
    head = nn.LogSoftmax(dim=1)
    ```

    ## Fix safety
    There is no automatic fix: the dimension PyTorch picks depends on the rank of the input at run
    time, which the code rarely shows. Adding `dim=1`, PyTorch's pick for 2-dim and 4-or-more-dim
    input, is shown as a suggestion; for 0-, 1- and 3-dim input it picks 0 instead, and for
    `(batch, time, classes)` the intended dimension is usually the last one.

    ## Known problems
    Calls that pass `*args` or `**kwargs` are not flagged (they may hold `dim`), nor subclasses of
    the modules. The rank is never inferred, even where the code shows it.
    """

    VALID = (
        Valid("import torch.nn.functional as F\nprobs = F.softmax(logits, dim=-1)\n"),
        Valid("import torch.nn as nn\nhead = nn.LogSoftmax(1)\n"),
        # Not torch's: a user's function and scipy's.
        Valid("import torch\nfrom scipy.special import softmax\np = softmax(x)\n"),
    )
    INVALID = (
        Invalid("import torch.nn.functional as F\nprobs = F.softmax(logits)\n"),
        Invalid("import torch.nn as nn\nhead = nn.Softmax(dim=None)\n"),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if any(arg.star for arg in node.args):
            return
        name = self.resolved_name(node.func) or ""
        if name in IMPLICIT_DIM_FUNCTIONS:
            # `(input, dim=None, ...)`: `dim` is the second positional argument.
            position, shown = 1, f"F.{name.rpartition('.')[2]}"
        elif name in IMPLICIT_DIM_MODULES:
            position, shown = 0, f"nn.{name.rpartition('.')[2]}"
        else:
            return
        positional = [arg for arg in node.args if arg.keyword is None]
        keyword = next((arg for arg in node.args if arg.keyword and arg.keyword.value == "dim"), None)
        dim = keyword or (positional[position] if len(positional) > position else None)
        if dim is not None and not _is_none(dim.value):
            return
        one = cst.Integer("1")
        if dim is None:
            fixed = nodes.append_args(node, [nodes.keyword("dim", one)])
        else:
            fixed = node.with_changes(
                args=[arg.with_changes(value=one) if arg is dim else arg for arg in node.args]
            )
        fix = self.replace_with(node, fixed, DIM_TITLE, Applicability.DISPLAY_ONLY)
        message = f"`{shown}` without `dim` picks dim 0 for 0-, 1- and 3-dim input, else 1: pass `dim=`"
        self.report(node, message=message, fixes=[fix])


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"
