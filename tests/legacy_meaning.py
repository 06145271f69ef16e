"""What removed PyTorch APIs meant before they were removed, for the baseline of fixture cases.

Code that raises today cannot be compared with its fix as it is. A case with ``baseline = "pytorch-0.3"``
runs its input with the APIs below restored as the last PyTorch release that had them defined them,
so that the gradients of the old program, as it used to run, are compared with the fixed program's.
Each shim restates that release's code (named in its docstring); none of them is the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _retain(
    args: tuple[Any, ...], kwargs: dict[str, Any], retain_variables: Any, index: int
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """PyTorch 0.3, `torch/autograd/__init__.py`: `retain_variables` is a deprecated alias of
    `retain_graph` (argument ``index`` of the call)."""
    if retain_variables is None:
        return args, kwargs
    given = args[index] if len(args) > index else kwargs.get("retain_graph")
    if given is not None:
        raise ValueError("only one of retain_graph and retain_variables can be specified")
    if len(args) > index:
        return (*args[:index], retain_variables, *args[index + 1 :]), kwargs
    return args, {**kwargs, "retain_graph": retain_variables}


_ASYNC_KEYWORD = re.compile(r"(?<![\w.])async(\s*=)(?!=)")


def pytorch_03_source(text: str) -> str:
    """``text`` as Python 3.6 and PyTorch 0.3-0.4 read it: `f(async=True)` passed the keyword `async`,
    which PyTorch 0.4 took as its new name `non_blocking` (`torch/csrc/utils/python_arg_parser.cpp`)."""
    return _ASYNC_KEYWORD.sub(r"non_blocking\1", text)


@contextmanager
def pytorch_03() -> Iterator[None]:
    """Run with the removed APIs the fixtures use restored to their PyTorch 0.3 meaning."""
    import torch
    import torch.autograd
    import torch.utils.data

    tensor_backward = torch.Tensor.backward
    autograd_backward = torch.autograd.backward
    dataset_init = torch.utils.data.TensorDataset.__init__

    def backward(self: Any, *args: Any, retain_variables: Any = None, **kwargs: Any) -> None:
        """0.3 `Variable.backward(gradient, retain_graph, create_graph, retain_variables)`."""
        args, kwargs = _retain(args, kwargs, retain_variables, 1)
        tensor_backward(self, *args, **kwargs)

    def autograd(*args: Any, retain_variables: Any = None, **kwargs: Any) -> None:
        """0.3 `torch.autograd.backward(variables, grad_variables, retain_graph, create_graph, ...)`."""
        args, kwargs = _retain(args, kwargs, retain_variables, 2)
        autograd_backward(*args, **kwargs)

    def dataset(self: Any, data_tensor: Any, target_tensor: Any) -> None:
        """0.3 `TensorDataset(data_tensor, target_tensor)`: asserted equal sizes, indexed both."""
        assert data_tensor.size(0) == target_tensor.size(0)
        dataset_init(self, data_tensor, target_tensor)

    # PyTorch 1.0-1.1 `torch/functional.py`: the deprecated Cholesky and LU names, as forwarded there.
    def potrf(a: Any, upper: bool = True, out: Any = None) -> Any:
        return torch.cholesky(a, upper=upper, out=out)

    def potrs(b: Any, u: Any, upper: bool = True, out: Any = None) -> Any:
        return torch.cholesky_solve(b, u, upper=upper, out=out)

    def potri(u: Any, upper: bool = True, out: Any = None) -> Any:
        return torch.cholesky_inverse(u, upper=upper, out=out)

    def btriunpack(lu: Any, pivots: Any, unpack_data: bool = True, unpack_pivots: bool = True) -> Any:
        return torch.lu_unpack(lu, pivots, unpack_data, unpack_pivots)

    patches: list[tuple[Any, str, Callable[..., Any]]] = [
        (torch.Tensor, "backward", backward),
        (torch.autograd, "backward", autograd),
        (torch.utils.data.TensorDataset, "__init__", dataset),
        (torch, "potrf", potrf),
        (torch, "potrs", potrs),
        (torch, "potri", potri),
        (torch, "btriunpack", btriunpack),
    ]
    missing = object()
    saved = [(owner, name, owner.__dict__.get(name, missing)) for owner, name, _ in patches]
    try:
        for owner, name, shim in patches:
            setattr(owner, name, shim)
        yield
    finally:
        for owner, name, original in saved:
            if original is missing:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
