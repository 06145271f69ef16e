"""VM412: `torch.nn.utils.clip_grad_norm`, the deprecated name of `clip_grad_norm_`."""

from __future__ import annotations

from varmigrate.rules._base import Invalid, Valid
from varmigrate.rules._renames import RenamedReferenceRule
from varmigrate.rules.torch_api import CLIP_GRAD_NORM


class ClipGradNormWithoutUnderscore(RenamedReferenceRule):
    """
    ## What it does
    Flags `torch.nn.utils.clip_grad_norm`, however it was imported, called or passed as a value.

    ## Why is this bad?
    PyTorch 0.4 renamed it `clip_grad_norm_`, after the convention for functions that modify their
    argument in place (it scales the gradients of the parameters), and kept the old name as a
    deprecated wrapper. Every call warns (`FutureWarning: torch.nn.utils.clip_grad_norm is now
    deprecated in favor of torch.nn.utils.clip_grad_norm_`), announcing its removal.

    ## Example
    ```python
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm(model.parameters(), max_norm=5.0)
    optimizer.step()
    ```

    Use instead:
    ```python
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
    optimizer.step()
    ```

    ## Fix safety
    The fix of a call is safe: in torch 2.13 the old name returns `clip_grad_norm_(parameters, max_norm,
    norm_type, error_if_nonfinite, foreach)` with its own parameters, which are the new one's, so the
    gradients are scaled alike and the same total norm is returned. An attribute keeps its receiver;
    a name imported on its own (`from torch.nn.utils import clip_grad_norm`) becomes `clip_grad_norm_`,
    and its import, once nothing else uses the old name, imports `clip_grad_norm_` in its place
    (comments and layout kept; where the old name is still used, the new one is added next to it).
    Where `clip_grad_norm_` already means something else in the module, or the name was imported
    under an alias, the call is spelled `torch.nn.utils.clip_grad_norm_` instead, `import torch`
    is added when the module lacks it, and the old import goes once unused. That is for calls;
    where the function is passed or stored, the fix is unsafe (another function object, which an
    identity test elsewhere tells apart), and where the function object itself is read or compared
    there is no fix.

    ## Known problems
    A name imported under an alias (`clip_grad_norm as clip`) is spelled from torch rather than
    kept; its import goes once nothing else uses it. An old name another module of the project
    imports from this one stays imported.
    """

    renamed = CLIP_GRAD_NORM

    VALID = (
        Valid("import torch\ntorch.nn.utils.clip_grad_norm_(params, 1.0)\n"),
        Valid(
            "import torch\n\ndef clip_grad_norm(params, limit):\n    pass\n\nclip_grad_norm(params, 1.0)\n"
        ),
    )
    INVALID = (
        Invalid(
            "import torch.nn as nn\nnn.utils.clip_grad_norm(params, 1.0)\n",
            fixed="import torch.nn as nn\nnn.utils.clip_grad_norm_(params, 1.0)\n",
        ),
        Invalid(
            "import torch\nfrom torch.nn.utils import clip_grad_norm as clip\nclip(params, 1.0)\n",
            fixed="import torch\ntorch.nn.utils.clip_grad_norm_(params, 1.0)\n",
        ),
    )
