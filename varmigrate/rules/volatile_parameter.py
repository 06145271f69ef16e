"""VM003: a parameter named `volatile` that only passes the dead flag on (`def to_var(x, volatile=False)`)."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import Assignment, ScopeProvider

from varmigrate.rules._base import Invalid, Rule, Valid

VOLATILE = "volatile"


class VolatileParameter(Rule):
    """
    ## What it does
    Flags a parameter named `volatile` of a function or lambda of the project, in a file that uses
    torch, when all the function does with it is pass it on as a `volatile=` argument (to torch's
    `Variable(...)` or to another call) or nothing at all: `def to_var(x, volatile=False): return
    Variable(x, volatile=volatile)`.

    ## Why is this bad?
    `volatile` has had no effect since PyTorch 0.4: `Variable(x, volatile=True)` only warns, and
    the tensor it returns builds autograd graphs like any other. A helper's `volatile` parameter
    looks like a switch for inference mode but switches nothing, and every caller that passes
    `volatile=True` believes otherwise. Inference is `with torch.no_grad():` around the calls.

    ## Example
    ```python
    import torch
    from torch.autograd import Variable

    def to_var(x, volatile=False):
        return Variable(x.cuda(), volatile=volatile)
    ```

    Use instead:
    ```python
    import torch

    def to_var(x):
        return x.cuda()
    ```

    ## Fix safety
    There is no fix: removing the parameter changes the function's signature, and every call that
    passes it (VM002 reports those with a keyword, `to_var(x, volatile=True)`) must change with it,
    where the `torch.no_grad()` block the flag stood for belongs.

    ## Known problems
    A parameter the function reads in any other way (`if volatile:`) is not flagged: it may select
    a `torch.no_grad()` block already. The `volatile=volatile` argument that passes the parameter on
    is part of this finding, not VM002's (as VM001 owns `Variable(x, volatile=True)`), so
    `--ignore VM003` does not report it as VM002. Positional uses (`Variable(x, False, volatile)`)
    count as passing it on only in torch's `Variable(...)`.
    """

    VALID = (
        Valid(
            "import torch\n\ndef run(x, volatile=False):\n    if volatile:\n        return x\n    return x\n"
        ),
        Valid("def to_var(x, volatile=False):\n    return x\n"),
    )
    INVALID = (
        Invalid(
            "import torch\nfrom torch.autograd import Variable\n\n"
            "def to_var(x, volatile=False):\n    return Variable(x, volatile=volatile)\n"
        ),
        Invalid("import torch\nwrap = lambda x, volatile=False: prepare(x, volatile=volatile)\n"),
    )

    def visit_Param(self, node: cst.Param) -> None:
        if node.name.value == VOLATILE and is_dead_volatile(self, node):
            self.report(node.name)


def is_dead_volatile(rule: Rule, param: cst.Param) -> bool:
    """Whether each use of ``param`` (named `volatile`) passes it on as the dead flag."""
    scope = rule.ctx.metadata(ScopeProvider, param, None)
    if scope is None:
        return False
    assigned = scope.assignments[VOLATILE]
    found = [a for a in assigned if isinstance(a, Assignment) and a.node is param]
    if len(found) != 1 or len(assigned) != 1:
        return False  # reassigned in the body: it holds something else there
    return all(_passes_on(rule, access.node) for access in found[0].references)


def _passes_on(rule: Rule, use: cst.CSTNode) -> bool:
    """Whether ``use`` is a `volatile=` argument, or an argument of torch's `Variable(...)`."""
    arg = rule.parent(use)
    if not isinstance(arg, cst.Arg) or arg.value is not use:
        return False
    if arg.keyword is not None and arg.keyword.value == VOLATILE:
        return True
    call = rule.parent(arg)
    return isinstance(call, cst.Call) and rule.is_variable(call.func) and arg is not call.args[0]


def forwards_dead_volatile(rule: Rule, value: cst.BaseExpression) -> bool:
    """Whether ``value`` is a parameter `volatile` that VM003 reports (its passing on is that finding)."""
    if not isinstance(value, cst.Name) or value.value != VOLATILE:
        return False
    scope = rule.ctx.metadata(ScopeProvider, value, None)
    if scope is None:
        return False
    params = [a.node for a in scope[VOLATILE] if isinstance(a, Assignment) and isinstance(a.node, cst.Param)]
    return len(params) == 1 and isinstance(params[0], cst.Param) and is_dead_volatile(rule, params[0])
