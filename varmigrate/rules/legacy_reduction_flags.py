"""VM413: the loss flags `size_average=` and `reduce=`, which `reduction=` replaced in PyTorch 0.4.1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import libcst as cst

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.torch_api import LEGACY_REDUCTION_LOSSES, legacy_reduction

_FLAGS = ("size_average", "reduce")
_LITERALS: Mapping[str, bool | None] = {"True": True, "False": False, "None": None}
# A flag whose value is known only at run time: its expression.
_Flag = bool | None | cst.BaseExpression

BY_POSITION = "(no automatic fix: a flag may be passed by position)"
UNPACKED = "(no automatic fix: `*args` or `**kwargs` may hold a flag or `reduction`)"
OVERRIDDEN = "(no automatic fix: the flags override the `reduction=` passed here)"
AT_RUN_TIME = "(no automatic fix: the `reduction` meant is known only at run time)"
# The conditional expression differs from the flags where one of them is None at run time (None counts
# as True), and dropping the flags' expressions drops whatever evaluating them does.
CONDITIONAL_TITLE = "Replace the flags with `reduction=` (as if no flag is None at run time)"


class LegacyReductionFlags(Rule):
    """
    ## What it does
    Flags `size_average=` and `reduce=` passed to torch's loss modules (`nn.MSELoss(...)`,
    `nn.CrossEntropyLoss(...)`, ...) and functional losses (`F.nll_loss(...)`, `F.mse_loss(...)`, ...),
    however they were imported. A user's own function with a `reduce=` parameter, or any other
    callable, is left alone.

    ## Why is this bad?
    PyTorch 0.4.1 replaced the two flags with one `reduction=` argument ("none", "sum" or "mean"), and
    every loss given either flag warns: "size_average and reduce args will be deprecated, please use
    reduction='sum' instead". The flags combine in a way that is easy to misread: `reduce=False`
    means "none" whatever `size_average` says; otherwise `size_average=False` means "sum", and
    anything else "mean" (None counts as True). A flag that is not None also makes the loss ignore
    any `reduction=` passed with it.

    ## Example
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    criterion = nn.MSELoss(size_average=False)
    per_sample = F.nll_loss(log_probs, target, size_average=False, reduce=False)
    ```

    Use instead:
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    criterion = nn.MSELoss(reduction="sum")
    per_sample = F.nll_loss(log_probs, target, reduction="none")
    ```

    ## Fix safety
    The fix is safe when each flag is absent or a literal `True`, `False` or `None`: it writes the
    `reduction` PyTorch computes from them (`_Reduction.legacy_get_string`) where the first flag
    stood, and removes the other; flags that are all None changed nothing and are removed. Where a
    flag is any other expression, `reduction=` written as a conditional expression is shown but not
    applied: it differs when the value is None at run time, and removing the flag's expression
    removes its evaluation.

    ## Known problems
    No fix is offered when a flag may be passed by position, when `*args` or `**kwargs` are passed, or
    when `reduction=` is passed too (the flags override it, and `F.kl_div` still reads it for
    "batchmean"). Flags passed only by position are not flagged, nor subclasses of the losses.
    """

    VALID = (
        Valid("import torch.nn as nn\ncriterion = nn.MSELoss(reduction='sum')\n"),
        # Not a torch loss: a user's function and `functools.reduce`.
        Valid("import torch\n\ndef my_loss(x, y, reduce=True):\n    pass\n\nmy_loss(a, b, reduce=False)\n"),
        Valid("import torch\nfrom functools import reduce\ntotal = reduce(torch.add, losses)\n"),
    )
    INVALID = (
        Invalid(
            "import torch.nn as nn\ncriterion = nn.BCELoss(size_average=True)\n",
            fixed='import torch.nn as nn\ncriterion = nn.BCELoss(reduction="mean")\n',
        ),
        # Known only at run time: shown, not applied.
        Invalid("import torch.nn.functional as F\nloss = F.l1_loss(x, y, size_average=args.average)\n"),
    )

    def visit_Call(self, node: cst.Call) -> None:
        flags = [arg for arg in node.args if arg.keyword is not None and arg.keyword.value in _FLAGS]
        if not flags:
            return
        position = LEGACY_REDUCTION_LOSSES.get(self.resolved_name(node.func) or "")
        if position is None:
            return
        named = " and ".join(f"`{_keyword(arg)}=`" for arg in flags)
        named += " is" if len(flags) == 1 else " are"
        message = f"{named} deprecated: use `reduction=`"
        reason = _no_fix(node, position)
        if reason is not None:
            self.report(flags[0], message=f"{message} {reason}")
            return
        values = {_keyword(arg): _flag(arg.value) for arg in flags}
        passed = {_keyword(arg) for arg in node.args if arg.keyword is not None}
        if any(value is not None for value in values.values()) and "reduction" in passed:
            self.report(flags[0], message=f"{message} {OVERRIDDEN}")
            return
        size_average, reduce = values.get("size_average"), values.get("reduce")
        if isinstance(size_average, cst.BaseExpression) or isinstance(reduce, cst.BaseExpression):
            reduction = _conditional(size_average, reduce)
            fixed = _with_reduction(node, flags, reduction)
            fix = self.replace_with(node, fixed, CONDITIONAL_TITLE, Applicability.DISPLAY_ONLY)
            self.report(flags[0], message=f"{message} {AT_RUN_TIME}", fixes=[fix])
            return
        if size_average is None and reduce is None:
            # `None` is each flag's default: the loss never looked at them.
            fixed = _with_reduction(node, flags, None)
            fix = self.replace_with(node, fixed, "Remove the `None` flags", Applicability.SAFE)
            self.report(flags[0], message=f"{named} deprecated, and `None` changes nothing", fixes=[fix])
            return
        value = legacy_reduction(size_average, reduce)
        fixed = _with_reduction(node, flags, _string(value))
        fix = self.replace_with(node, fixed, f'Replace with `reduction="{value}"`', Applicability.SAFE)
        self.report(flags[0], message=f'{named} deprecated: use `reduction="{value}"`', fixes=[fix])


def _keyword(arg: cst.Arg) -> str:
    return arg.keyword.value if arg.keyword is not None else ""


def _no_fix(call: cst.Call, position: int) -> str | None:
    """Why the call's flags cannot be rewritten, or None."""
    if any(arg.star for arg in call.args):
        return UNPACKED
    positional = sum(1 for arg in call.args if arg.keyword is None)
    return BY_POSITION if positional > position else None


def _flag(value: cst.BaseExpression) -> _Flag:
    """The literal value of a flag, or its expression when it is not a literal."""
    if isinstance(value, cst.Name) and value.value in _LITERALS and not value.lpar:
        return _LITERALS[value.value]
    return value


def _string(value: str) -> cst.SimpleString:
    return cst.SimpleString(f'"{value}"')


def _conditional(size_average: _Flag, reduce: _Flag) -> cst.BaseExpression:
    """`reduction` as an expression of the flags that are not literals (as if neither is None)."""
    if isinstance(size_average, cst.BaseExpression):
        summed: cst.BaseExpression = cst.IfExp(
            test=nodes.as_receiver(size_average), body=_string("mean"), orelse=_string("sum")
        )
    else:
        summed = _string(legacy_reduction(size_average, True))
    if isinstance(reduce, cst.BaseExpression):
        body = nodes.parenthesize(summed) if isinstance(summed, cst.IfExp) else summed
        return cst.IfExp(test=nodes.as_receiver(reduce), body=body, orelse=_string("none"))
    return _string("none") if reduce is False else summed


def _with_reduction(call: cst.Call, flags: Sequence[cst.Arg], value: cst.BaseExpression | None) -> cst.Call:
    """``call`` with ``reduction=value`` where the first flag stood (None: nowhere), the flags removed."""
    first = flags[0]
    args: list[cst.Arg] = []
    for arg in call.args:
        if arg is first and value is not None:
            args.append(arg.with_changes(keyword=cst.Name("reduction"), value=value))
        elif not any(arg is flag for flag in flags):
            args.append(arg)
    last = call.args[-1]
    if args and any(last is flag for flag in flags) and not (last is first and value is not None):
        # The new last argument takes the comma (or its absence) that followed the old one.
        args[-1] = args[-1].with_changes(comma=last.comma)
    return call.with_changes(args=args)
