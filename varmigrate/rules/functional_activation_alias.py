"""VM410: `F.sigmoid` and `F.tanh`, the functional aliases of `torch.sigmoid` and `torch.tanh`."""

from __future__ import annotations

from varmigrate.rules._base import Invalid, Valid
from varmigrate.rules._renames import RenamedReferenceRule
from varmigrate.rules.torch_api import FUNCTIONAL_ACTIVATIONS


class FunctionalActivationAlias(RenamedReferenceRule):
    """
    ## What it does
    Flags `torch.nn.functional.sigmoid` and `torch.nn.functional.tanh`, however they were imported
    (`F.sigmoid`, `nn.functional.tanh`, `from torch.nn.functional import sigmoid as sig`), called or
    passed as a value.

    ## Why is this bad?
    Once tensors and variables merged, `F.sigmoid(x)` and `F.tanh(x)` became aliases: they return
    `x.sigmoid()` and `x.tanh()`, the kernels of `torch.sigmoid` and `torch.tanh`. PyTorch 0.4.1
    deprecated them, and every call warned "nn.functional.sigmoid is deprecated. Use torch.sigmoid
    instead." for years of releases (old training logs are full of it). Later releases dropped the
    warning and kept the aliases, so on today's torch this is a matter of one spelling, the one
    PyTorch's own warning asked for, and of silence on the versions in between.

    ## Example
    ```python
    import torch.nn.functional as F

    gate = F.sigmoid(logits)
    state = F.tanh(cell)
    ```

    Use instead:
    ```python
    import torch.nn.functional as F
    import torch

    gate = torch.sigmoid(logits)
    state = torch.tanh(cell)
    ```

    ## Fix safety
    The fix of a call is safe: for a tensor (a `__torch_function__` subclass included) the old
    function calls the tensor's own method, which runs the same kernel as the `torch` function, so
    values and gradients are bit for bit the same. `import torch` is added when the module lacks it,
    and the import of a name imported on its own (`from torch.nn.functional import sigmoid as sig`)
    goes once nothing else uses it.
    Where the function is passed or stored instead (`activation=F.tanh`), the fix is unsafe: it is
    another function object, and an identity test elsewhere (`fn is F.tanh`, a set or dict of
    functions) tells them apart. Where the function object itself is read or compared
    (`F.sigmoid.__name__`, `act is F.sigmoid`) there is no fix.

    ## Known problems
    An object that is not a tensor but has a `sigmoid()` method was accepted by `F.sigmoid` and is
    refused by `torch.sigmoid`. A `__torch_function__` override sees `torch.sigmoid` where it saw
    `Tensor.sigmoid`.
    """

    renamed = FUNCTIONAL_ACTIVATIONS

    VALID = (
        Valid("import torch\ny = torch.sigmoid(x)\n"),
        # The module's own function of the same name.
        Valid("import torch\n\ndef sigmoid(x):\n    return 1 / (1 + torch.exp(-x))\n\ny = sigmoid(x)\n"),
        # Some other library's `F`.
        Valid("import torch\nimport jax.nn as F\ny = F.sigmoid(x)\n"),
    )
    INVALID = (
        Invalid(
            "import torch\nimport torch.nn.functional as F\ny = F.tanh(x)\n",
            fixed="import torch\nimport torch.nn.functional as F\ny = torch.tanh(x)\n",
        ),
        Invalid(
            "import torch as th\nfrom torch.nn.functional import sigmoid as sig\ny = sig(x)\n",
            fixed="import torch as th\ny = th.sigmoid(x)\n",
        ),
        # Passed as a value: another function object, which identity tests can tell apart.
        Invalid("import torch.nn.functional as F\nacts = [F.sigmoid]\n"),
    )
