"""VM414: softmax, log-softmax and softmin without `dim`, which PyTorch then picks from the input's rank."""

from __future__ import annotations

import libcst as cst

from varmigrate.model import Applicability, RuntimeCheck
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules._ranks import literal_rank
from varmigrate.rules.torch_api import IMPLICIT_DIM_FUNCTIONS, IMPLICIT_DIM_MODULES, implicit_softmax_dim

# `dim=1` is what PyTorch picks for 2-dim and 4-or-more-dim input; for 0-, 1- and 3-dim input it picks 0.
# Which one a call gets is known only at run time, so the fix is a suggestion.
DIM_TITLE = "Pass `dim=1` (what PyTorch picks unless the input is 0-, 1- or 3-dim)"
DIM_0_TITLE = "Pass `dim=0` (what PyTorch picks for 0-, 1- and 3-dim input)"


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
    The dimension PyTorch picks depends on the rank of the input at run time. Where the code shows the
    rank, the fix passes PyTorch's pick and is safe: the input of a function call is a torch factory
    with sizes written out (`torch.randn(2, 3)`, `torch.zeros((4, 5, 6))`, `torch.full((3,), v)`), or a
    name bound once, at module or function level, to one and used elsewhere only in ways that cannot
    change its rank in place (no `x.unsqueeze_()`, `x.data = y`, aliases or calls of the program's own
    functions). The same dim gives the same kernel, so values and gradients are bit-identical; only the
    deprecation warning goes.

    Elsewhere adding `dim=1`, PyTorch's pick for 2-dim and 4-or-more-dim input, is a display-only
    suggestion (and `dim=0` the other one): it is not offered as an unsafe fix, since it silently
    normalises along another dimension for 0-, 1- and 3-dim input, and for `(batch, time, classes)` the
    intended dimension is usually the last one. `varmigrate verify` records the rank of a function
    call's input in the original run and, where every call at the site had a rank for which PyTorch
    picks 1 (or every one a rank for which it picks 0), applies `dim=1` (or `dim=0`) as a *verified*
    fix: exact for every input the run saw, even without `--unsafe-fixes`.

    ## Known problems
    Calls that pass `*args` or `**kwargs` are not flagged (they may hold `dim`), nor subclasses of
    the modules. The rank is inferred only from the forms above, and not for the modules, whose
    input is not at the call. Another module that imports a module-level tensor and changes its rank
    in place is not seen.
    """

    VALID = (
        Valid("import torch.nn.functional as F\nprobs = F.softmax(logits, dim=-1)\n"),
        Valid("import torch.nn as nn\nhead = nn.LogSoftmax(1)\n"),
        # Not torch's: a user's function and scipy's.
        Valid("import torch\nfrom scipy.special import softmax\np = softmax(x)\n"),
    )
    INVALID = (
        Invalid("import torch.nn.functional as F\nprobs = F.softmax(logits)\n"),
        # The rank is written out: PyTorch's pick, 0 for 3-dim input.
        Invalid(
            "import torch\nimport torch.nn.functional as F\np = F.softmax(torch.randn(2, 3, 4))\n",
            fixed="import torch\nimport torch.nn.functional as F\n"
            "p = F.softmax(torch.randn(2, 3, 4), dim=0)\n",
        ),
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
        message = f"`{shown}` without `dim` picks dim 0 for 0-, 1- and 3-dim input, else 1: pass `dim=`"
        one, zero = _with_dim(node, dim, 1), _with_dim(node, dim, 0)
        if position == 0:
            fix = self.replace_with(node, one, DIM_TITLE, Applicability.DISPLAY_ONLY)
            self.report(node, message=message, fixes=[fix])
            return
        source = next((arg for arg in node.args if nodes.keyword_name(arg) == "input"), None)
        source = source or (positional[0] if positional else None)
        rank = None if source is None else literal_rank(self, source.value)
        if rank is not None:
            picked = implicit_softmax_dim(rank)
            title = f"Pass `dim={picked}` (what PyTorch picks for this {rank}-dim input)"
            fix = self.replace_with(node, zero if picked == 0 else one, title, Applicability.SAFE)
            self.report(node, message=message, fixes=[fix])
            return
        # Display-only without evidence (see Fix safety); a run that saw the input's rank verifies one.
        fixes = [
            self.replace_with(
                node,
                one,
                DIM_TITLE,
                Applicability.DISPLAY_ONLY,
                verified_by=RuntimeCheck.INPUT_RANK_PICKS_DIM_1,
            ),
            self.replace_with(
                node,
                zero,
                DIM_0_TITLE,
                Applicability.DISPLAY_ONLY,
                verified_by=RuntimeCheck.INPUT_RANK_PICKS_DIM_0,
            ),
        ]
        self.report(node, message=message, fixes=fixes)


def _with_dim(node: cst.Call, dim: cst.Arg | None, value: int) -> cst.Call:
    """``node`` with `dim=value` added, or its `dim=None` argument replaced."""
    number = cst.Integer(str(value))
    if dim is None:
        return nodes.append_args(node, [nodes.keyword("dim", number)])
    return node.with_changes(
        args=[arg.with_changes(value=number) if arg is dim else arg for arg in node.args]
    )


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"
