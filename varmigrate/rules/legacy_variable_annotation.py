"""VM102: `Variable` in type annotations and type aliases."""

from __future__ import annotations

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Valid
from varmigrate.rules._references import Reference, Role, VariableReferenceRule


class LegacyVariableAnnotation(VariableReferenceRule):
    """
    ## What it does
    Flags `Variable` in parameter, return and variable annotations, including inside subscripts such
    as `Optional[Variable]` or `List[Variable]`, and in the arguments of generics outside annotations
    (type aliases such as `Batch = Tuple[Variable, Variable]`).

    ## Why is this bad?
    Since PyTorch 0.4 there are no `Variable` objects: `Variable(...)` returns a plain `torch.Tensor`,
    and no value has type `Variable`. Type checkers reject tensors passed where `Variable` is
    annotated, and readers are told about a type that no longer exists.

    ## Example
    ```python
    from typing import List, Optional

    import torch
    from torch.autograd import Variable

    def init_hidden(batch: int, hidden: Optional[Variable] = None) -> List[Variable]:
        h0 = hidden if hidden is not None else torch.zeros(1, batch, 32)
        return [h0, torch.zeros(1, batch, 32)]
    ```

    Use instead:
    ```python
    from typing import List, Optional

    import torch

    def init_hidden(batch: int, hidden: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
        h0 = hidden if hidden is not None else torch.zeros(1, batch, 32)
        return [h0, torch.zeros(1, batch, 32)]
    ```

    ## Fix safety
    The fix is safe: annotations and type aliases do not change what the program computes. Runtime
    type checkers that test annotations with `isinstance` accept the same values, since
    `isinstance(x, Variable)` is `isinstance(x, torch.Tensor)`.

    ## Known problems
    Annotations written as strings (`x: "Variable"`) are not inspected. `Type[Variable]` becomes
    `Type[torch.Tensor]`, which is what such code meant but not the class `Variable` itself.
    """

    roles = frozenset({Role.ANNOTATION})

    VALID = (
        Valid("import torch\n\ndef f(x: torch.Tensor) -> torch.Tensor:\n    return x\n"),
        # A name that is not torch's `Variable` (no import binds it).
        Valid("from typing import List\n\nxs: List[Variable] = []\n"),
    )
    INVALID = (
        Invalid(
            "import torch\nfrom torch.autograd import Variable\n\n"
            "def f(x: Variable) -> Variable:\n    return x\n",
            fixed="import torch\n\ndef f(x: torch.Tensor) -> torch.Tensor:\n    return x\n",
        ),
    )

    def on_reference(self, reference: Reference) -> None:
        tensor = self.torch_attr("Tensor")
        title = f"Replace with `{nodes.code(tensor)}`"
        fix = self.replace_with(reference.node, tensor, title, Applicability.SAFE, self.torch_imports)
        self.report(reference.node, fixes=[fix])
