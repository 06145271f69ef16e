"""PyTorch 0.3's meaning of APIs today's torch removed, for the baseline of `varmigrate verify`.

The baseline runs the original, legacy program on today's torch so that its gradients can be compared
with the fixed program's. Where the program calls an API that now raises, and the last PyTorch release
that had it defined it exactly in terms of an API that still exists, the baseline gets that definition
back: a keyword or a name that raises `TypeError` or `AttributeError` today instead runs as it used to.
Nothing is patched where today's torch already accepts the call, so modern code runs unchanged.

Covered (each shim restates the code of the release named in its docstring; none of them is a fix):

- `loss.backward(retain_variables=...)` and `torch.autograd.backward(..., retain_variables=...)` (VM401);
- `TensorDataset(data_tensor=..., target_tensor=...)` (VM402);
- `torch.potrf`, `torch.potrs`, `torch.potri` and `torch.btriunpack` (VM403), which PyTorch 1.0-1.1
  forwarded to `torch.cholesky`, `torch.cholesky_solve`, `torch.cholesky_inverse` and `torch.lu_unpack`.

The other removed linear-algebra names (`torch.gesv`, `torch.trtrs`, `torch.symeig`, ...) are left out:
no function of today's torch computes what they did with the same arguments and results, so a shim
would be a rewrite of its own, not the old meaning.

The recorder loads this file by path (the command's interpreter need not have varmigrate installed):
it imports nothing but the standard library, and torch is handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# What the baseline shims cover, in the words `varmigrate verify` reports them with.
COVERED: tuple[str, ...] = (
    "`t.data[0]` and `t.numpy()[0]` on 0-dim tensors",
    "`backward(retain_variables=...)`",
    "`TensorDataset(data_tensor=..., target_tensor=...)`",
    "`torch.potrf`, `torch.potrs`, `torch.potri`, `torch.btriunpack`",
)

# (owner, attribute, replacement): what `patches` sets.
Patch = tuple[Any, str, Callable[..., Any]]
_MISSING = object()


def _retain(
    args: tuple[Any, ...], kwargs: dict[str, Any], retain_variables: Any, index: int
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """PyTorch 0.3, `torch/autograd/__init__.py`: `retain_variables` is a deprecated alias of
    `retain_graph`, which is positional argument ``index`` of the call."""
    if retain_variables is None:
        return args, kwargs
    given = args[index] if len(args) > index else kwargs.get("retain_graph")
    if given is not None:
        raise ValueError("only one of retain_graph and retain_variables can be specified")
    if len(args) > index:
        return (*args[:index], retain_variables, *args[index + 1 :]), kwargs
    return args, {**kwargs, "retain_graph": retain_variables}


def patches(torch: Any) -> list[Patch]:
    """The shims for ``torch`` (the imported module): only for what it lacks."""
    tensor_backward = torch.Tensor.backward
    autograd_backward = torch.autograd.backward
    dataset_class = torch.utils.data.TensorDataset
    dataset_init = dataset_class.__init__

    def backward(self: Any, *args: Any, retain_variables: Any = None, **kwargs: Any) -> Any:
        """0.3 `Variable.backward(gradient, retain_graph, create_graph, retain_variables)`."""
        args, kwargs = _retain(args, kwargs, retain_variables, 1)
        return tensor_backward(self, *args, **kwargs)

    def autograd(*args: Any, retain_variables: Any = None, **kwargs: Any) -> Any:
        """0.3 `torch.autograd.backward(variables, grad_variables, retain_graph, create_graph, ...)`."""
        args, kwargs = _retain(args, kwargs, retain_variables, 2)
        return autograd_backward(*args, **kwargs)

    def dataset(self: Any, *tensors: Any, data_tensor: Any = _MISSING, target_tensor: Any = _MISSING) -> None:
        """0.3 `TensorDataset(data_tensor, target_tensor)` when called with its keywords: both tensors,
        sizes asserted equal, items `(data[i], target[i])`; any other call is today's."""
        if data_tensor is _MISSING and target_tensor is _MISSING:
            dataset_init(self, *tensors)
            return
        bound = list(tensors)
        for keyword, value in (("data_tensor", data_tensor), ("target_tensor", target_tensor)):
            if value is not _MISSING:
                if len(bound) > (0 if keyword == "data_tensor" else 1):
                    raise TypeError(f"__init__() got multiple values for argument '{keyword}'")
                bound.append(value)
        if len(bound) != 2:
            raise TypeError("__init__() takes exactly 3 arguments: data_tensor and target_tensor")
        assert bound[0].size(0) == bound[1].size(0)
        dataset_init(self, *bound)

    # PyTorch 1.0-1.1 `torch/functional.py`: the deprecated Cholesky and LU names, as forwarded there.
    def potrf(a: Any, upper: bool = True, out: Any = None) -> Any:
        return torch.cholesky(a, upper=upper, out=out)

    def potrs(b: Any, u: Any, upper: bool = True, out: Any = None) -> Any:
        return torch.cholesky_solve(b, u, upper=upper, out=out)

    def potri(u: Any, upper: bool = True, out: Any = None) -> Any:
        return torch.cholesky_inverse(u, upper=upper, out=out)

    def btriunpack(lu: Any, pivots: Any, unpack_data: bool = True, unpack_pivots: bool = True) -> Any:
        return torch.lu_unpack(lu, pivots, unpack_data, unpack_pivots)

    found: list[Patch] = [
        (torch.Tensor, "backward", backward),
        (torch.autograd, "backward", autograd),
        (dataset_class, "__init__", dataset),
    ]
    found += [
        (torch, function.__name__, function)
        for function in (potrf, potrs, potri, btriunpack)
        if not hasattr(torch, function.__name__)
    ]
    return found


def install(torch: Any) -> None:
    """Give ``torch`` the PyTorch 0.3 meanings above, for the rest of the process (the baseline)."""
    for owner, name, shim in patches(torch):
        setattr(owner, name, shim)


@contextmanager
def installed(torch: Any) -> Iterator[None]:
    """The PyTorch 0.3 meanings above while the block runs; torch as it was afterwards."""
    found = patches(torch)
    saved = [(owner, name, owner.__dict__.get(name, _MISSING)) for owner, name, _ in found]
    try:
        for owner, name, shim in found:
            setattr(owner, name, shim)
        yield
    finally:
        for owner, name, original in saved:
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
