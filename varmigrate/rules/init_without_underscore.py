"""VM411: `nn.init` functions without the trailing underscore (`nn.init.xavier_uniform`)."""

from __future__ import annotations

from varmigrate.rules._base import Invalid, Valid
from varmigrate.rules._renames import RenamedReferenceRule
from varmigrate.rules.torch_api import INIT_WITHOUT_UNDERSCORE


class InitWithoutUnderscore(RenamedReferenceRule):
    """
    ## What it does
    Flags the `torch.nn.init` initialisers spelled without their trailing underscore: `uniform`,
    `normal`, `constant`, `eye`, `dirac`, `xavier_uniform`, `xavier_normal`, `kaiming_uniform`,
    `kaiming_normal`, `orthogonal` and `sparse`, however `torch.nn.init` was imported, called or
    passed as a value.

    ## Why is this bad?
    PyTorch 0.4 renamed the initialisers after the convention for functions that modify their
    argument in place (`xavier_uniform_`), and kept the old names as deprecated wrappers. Each call of
    one warns (`FutureWarning: nn.init.xavier_uniform is now deprecated in favor of
    nn.init.xavier_uniform_`), once per call site, and `FutureWarning` announces their removal. In
    torch 2.13 all eleven still exist and call the new function with the same arguments.

    ## Example
    ```python
    import torch.nn as nn

    nn.init.xavier_uniform(layer.weight, gain=nn.init.calculate_gain("relu"))
    nn.init.constant(layer.bias, 0.1)
    ```

    Use instead:
    ```python
    import torch.nn as nn

    nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain("relu"))
    nn.init.constant_(layer.bias, 0.1)
    ```

    ## Fix safety
    The fix of a call is safe: the old name passes its arguments on to the new one unchanged, so the
    tensor gets the same values from the same random numbers. An attribute keeps its receiver
    (`init.normal` becomes `init.normal_`); a name imported on its own (`from torch.nn.init import
    normal`) becomes `normal_`, and its import, once nothing else uses `normal`, imports `normal_` in
    its place, comments and layout kept (where `normal` is still used, `normal_` is added next to it).
    Where `normal_` already means something else in the module, or the name was imported under an
    alias, the call is spelled `torch.nn.init.normal_`, `import torch` is added when the module
    lacks it, and the old import goes once unused.
    Where the function is passed or stored instead (`init_fn=nn.init.orthogonal`), the fix is unsafe:
    it is another function object, which an identity test elsewhere tells apart. Where the function
    object itself is read or compared (`nn.init.normal.__name__`) there is no fix.

    ## Known problems
    A name imported under an alias (`from torch.nn.init import normal as init_normal`) is spelled
    `torch.nn.init.normal_` rather than kept; its import goes once nothing else uses it. An old
    name another module of the project imports from this one stays imported.
    """

    renamed = INIT_WITHOUT_UNDERSCORE

    VALID = (
        Valid("import torch.nn as nn\nnn.init.normal_(w, 0, 0.02)\n"),
        # `torch.normal` and numpy's `normal` are not initialisers.
        Valid("import torch\nimport numpy as np\nw = torch.normal(0.0, 1.0, (3,)) + np.random.normal()\n"),
        Valid("import torch\n\ndef uniform(a, b):\n    return a\n\nw = uniform(0, 1)\n"),
    )
    INVALID = (
        Invalid(
            "import torch.nn as nn\nnn.init.kaiming_normal(conv.weight)\n",
            fixed="import torch.nn as nn\nnn.init.kaiming_normal_(conv.weight)\n",
        ),
        Invalid(
            "from torch.nn.init import orthogonal\northogonal(rnn.weight_hh_l0)\n",
            fixed="from torch.nn.init import orthogonal_\northogonal_(rnn.weight_hh_l0)\n",
        ),
    )
