"""What removed PyTorch APIs meant before they were removed, for the baseline of fixture cases.

Code that raises today cannot be compared with its fix as it is. A case with ``baseline = "pytorch-0.3"``
runs its input with the APIs below restored as the last PyTorch release that had them defined them,
so that the gradients of the old program, as it used to run, are compared with the fixed program's.
Each shim restates that release's code (named in its docstring); none of them is the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _retain(retain_graph: Any, retain_variables: Any) -> Any:
    """PyTorch 0.3, `torch/autograd/__init__.py`: `retain_variables` is a deprecated alias."""
    if retain_variables is None:
        return retain_graph
    if retain_graph is not None:
        raise ValueError("only one of retain_graph and retain_variables can be specified")
    return retain_variables


@contextmanager
def pytorch_03() -> Iterator[None]:
    """Run with the removed APIs the fixtures use restored to their PyTorch 0.3 meaning."""
    import torch
    import torch.autograd
    import torch.utils.data

    tensor_backward = torch.Tensor.backward
    autograd_backward = torch.autograd.backward
    dataset_init = torch.utils.data.TensorDataset.__init__

    def backward(
        self: Any,
        gradient: Any = None,
        retain_graph: Any = None,
        create_graph: bool = False,
        retain_variables: Any = None,
    ) -> None:
        """0.3 `Variable.backward(gradient, retain_graph, create_graph, retain_variables)`."""
        tensor_backward(self, gradient, _retain(retain_graph, retain_variables), create_graph)

    def autograd(
        variables: Any,
        grad_variables: Any = None,
        retain_graph: Any = None,
        create_graph: bool = False,
        retain_variables: Any = None,
        **later: Any,
    ) -> None:
        """0.3 `torch.autograd.backward(variables, grad_variables, retain_graph, create_graph, ...)`.

        ``later``: what today's `Tensor.backward` passes on (`inputs=`).
        """
        retain = _retain(retain_graph, retain_variables)
        autograd_backward(variables, grad_variables, retain, create_graph, **later)

    def dataset(self: Any, data_tensor: Any, target_tensor: Any) -> None:
        """0.3 `TensorDataset(data_tensor, target_tensor)`: asserted equal sizes, indexed both."""
        assert data_tensor.size(0) == target_tensor.size(0)
        dataset_init(self, data_tensor, target_tensor)

    patches: list[tuple[Any, str, Callable[..., Any]]] = [
        (torch.Tensor, "backward", backward),
        (torch.autograd, "backward", autograd),
        (torch.utils.data.TensorDataset, "__init__", dataset),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, shim in patches:
            setattr(owner, name, shim)
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
