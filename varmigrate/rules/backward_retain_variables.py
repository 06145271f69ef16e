"""VM401: `backward(retain_variables=...)`, the keyword PyTorch 0.4 removed in favour of `retain_graph=`."""

from __future__ import annotations

import re

import libcst as cst

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.torch_api import AUTOGRAD_BACKWARD, RETAIN_VARIABLES

RENAME_TITLE = "Rename to `retain_graph=`"
BOTH = (
    "`retain_variables=` next to `retain_graph=`: PyTorch 0.3 raised `ValueError` here, today "
    "`TypeError`; keep `retain_graph=` only"
)
# A parameter of that name defined in the module: its `backward` is the module's own API.
_OWN_PARAMETER = re.compile(r"\bdef\s+\w+\s*\([^)]*\bretain_variables\b")


class BackwardRetainVariables(Rule):
    """
    ## What it does
    Flags the `retain_variables=` keyword in calls of a `.backward(...)` method and of
    `torch.autograd.backward(...)`.

    ## Why is this bad?
    PyTorch 0.2 renamed `retain_variables` to `retain_graph` and kept the old name as a deprecated
    alias; 0.4 removed it. Today `loss.backward(retain_variables=True)` raises `TypeError:
    backward() got an unexpected keyword argument 'retain_variables'`.

    ## Example
    ```python
    import torch

    loss.backward(retain_variables=True)
    torch.autograd.backward([loss], retain_variables=True)
    ```

    Use instead:
    ```python
    import torch

    loss.backward(retain_graph=True)
    torch.autograd.backward([loss], retain_graph=True)
    ```

    ## Fix safety
    The fix renames the keyword and is safe: in PyTorch 0.3 `retain_variables=v` was passed on as
    `retain_graph=v` (`torch/autograd/__init__.py`, `torch/autograd/variable.py`), which is the
    meaning `retain_graph=` still has. A `.backward(...)` call is taken to be a tensor's on the
    strength of the keyword: no other library spells it. Where both keywords are given (0.3 raised
    `ValueError`) the finding has no fix.

    ## Known problems
    A module that defines a function with a `retain_variables` parameter owns the name: its calls
    are not flagged. The keyword passed through `**kwargs` is not seen, nor
    `torch.autograd.backward(variables=..., grad_variables=...)`, 0.3's names of its other arguments.
    """

    VALID = (
        Valid("import torch\nloss.backward(retain_graph=True)\n"),
        # A function of the module's own that takes the keyword.
        Valid(
            "import torch\n\ndef backward(loss, retain_variables=False):\n"
            "    loss.backward(retain_graph=retain_variables)\n\n"
            "backward(loss, retain_variables=True)\n"
        ),
    )
    INVALID = (
        Invalid(
            "import torch\nloss.backward(retain_variables=True)\n",
            fixed="import torch\nloss.backward(retain_graph=True)\n",
        ),
        Invalid(
            "from torch.autograd import backward\nbackward([a, b], [ga, gb], retain_variables=True)\n",
            fixed="from torch.autograd import backward\nbackward([a, b], [ga, gb], retain_graph=True)\n",
        ),
        # Both keywords: PyTorch 0.3 raised too; no fix.
        Invalid("import torch\nloss.backward(retain_graph=True, retain_variables=True)\n"),
    )

    def visit_Call(self, node: cst.Call) -> None:
        old = next((arg for arg in node.args if nodes.keyword_name(arg) == RETAIN_VARIABLES), None)
        if old is None or old.keyword is None or not self._is_backward(node.func):
            return
        if any(nodes.keyword_name(arg) == "retain_graph" for arg in node.args):
            self.report(old, message=BOTH)
            return
        fix = self.replace_with(old.keyword, cst.Name("retain_graph"), RENAME_TITLE, Applicability.SAFE)
        self.report(old, fixes=[fix])

    def _is_backward(self, func: cst.BaseExpression) -> bool:
        """Whether ``func`` is a `.backward` method or `torch.autograd.backward`, not the module's own."""
        if _OWN_PARAMETER.search(self.ctx.source):
            return False
        if isinstance(func, cst.Attribute) and func.attr.value == "backward":
            return True
        return self.resolves_to(func, AUTOGRAD_BACKWARD)
