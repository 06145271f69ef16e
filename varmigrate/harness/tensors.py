"""Bitwise comparison of tensors, live or recorded: one implementation for fixtures and `varmigrate verify`.

Tensors compare bit for bit, NaN payloads and the sign of zero included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from varmigrate.harness.recorder import StoredTensor


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    """A view of ``tensor`` whose equality is bit equality (NaN == NaN, -0.0 != 0.0)."""
    import torch

    dense = tensor.detach().cpu()
    if dense.layout != torch.strided:
        dense = dense.to_dense()
    dense = dense.contiguous()
    if dense.is_complex():
        dense = torch.view_as_real(dense)
    width = dense.element_size()
    if dense.is_floating_point():
        int_type = {2: torch.int16, 4: torch.int32, 8: torch.int64}[width]
        return dense.view(int_type)
    return dense


def tensor_difference(before: torch.Tensor | None, after: torch.Tensor | None) -> str | None:
    """Why two tensors are not bitwise identical, or None when they are."""
    if before is None or after is None:
        if before is None and after is None:
            return None
        return f"{_describe(before)} vs {_describe(after)}"
    if before.dtype != after.dtype or before.shape != after.shape:
        return f"{_describe(before)} vs {_describe(after)}"
    if before.device.type != after.device.type:
        return f"device {before.device} vs {after.device}"
    import torch

    if torch.equal(_bits(before), _bits(after)):
        return None
    delta = (before.detach().double() - after.detach().double()).abs()
    finite = delta[torch.isfinite(delta)]
    worst = float(finite.max()) if finite.numel() else float("nan")
    return f"values differ (max abs difference {worst:.3g})"


def _describe(tensor: torch.Tensor | None) -> str:
    if tensor is None:
        return "None"
    return f"tensor{tuple(tensor.shape)} {str(tensor.dtype).removeprefix('torch.')}"


# -- recorded tensors ----------------------------------------------------------------------------------


def stored_tensor(stored: StoredTensor) -> torch.Tensor:
    """The tensor a record holds whole (a dense CPU copy)."""
    import torch

    dtype = getattr(torch, stored["dtype"])
    data = stored["data"]
    if data is None:
        raise ValueError("the record holds only a digest of this tensor")
    if not data:
        return torch.empty(stored["shape"], dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=dtype).reshape(stored["shape"])


def stored_difference(before: StoredTensor | None, after: StoredTensor | None) -> str | None:
    """Why two recorded tensors are not bitwise identical, or None when they are."""
    if before is None or after is None:
        if before is None and after is None:
            return None
        return f"{describe_stored(before)} vs {describe_stored(after)}"
    if (before["dtype"], before["shape"]) != (after["dtype"], after["shape"]):
        return f"{describe_stored(before)} vs {describe_stored(after)}"
    if before["layout"] != after["layout"]:
        return f"layout {before['layout']} vs {after['layout']}"
    if before["data"] is not None and after["data"] is not None:
        if before["data"] == after["data"]:
            return None
        return tensor_difference(stored_tensor(before), stored_tensor(after))
    if before["digest"] is not None and before["digest"] == after["digest"]:
        return None
    if before["data"] is None and after["data"] is None:
        return f"values differ (stored as digests; {_stats(before)} vs {_stats(after)})"
    return "values differ (one side stored as a digest)"


def only_signs_of_zero_differ(before: StoredTensor | None, after: StoredTensor | None) -> bool:
    """Whether two recorded tensors differ only where one holds ``+0.0`` and the other ``-0.0``.

    ``g.zero_()`` then accumulating gives ``0.0 + -0.0 == +0.0`` where ``g = None`` keeps ``-0.0``:
    equal numbers that compare equal everywhere but in their bits. Tensors stored as digests cannot tell.
    """
    if before is None or after is None or before["data"] is None or after["data"] is None:
        return False
    if (before["dtype"], before["shape"], before["layout"]) != (
        after["dtype"],
        after["shape"],
        after["layout"],
    ):
        return False
    import torch

    old, new = stored_tensor(before), stored_tensor(after)
    if not (old.is_floating_point() or old.is_complex()):
        return False
    return bool(torch.equal(_bits(_unsigned_zeros(old)), _bits(_unsigned_zeros(new))))


def _unsigned_zeros(tensor: torch.Tensor) -> torch.Tensor:
    import torch

    real = torch.view_as_real(tensor) if tensor.is_complex() else tensor
    return torch.where(real == 0, torch.zeros_like(real), real)


def describe_stored(stored: StoredTensor | None) -> str:
    if stored is None:
        return "None"
    return f"tensor{tuple(stored['shape'])} {stored['dtype']}"


def _stats(stored: StoredTensor) -> str:
    stats = stored["stats"] or {}
    return "mean {:.6g}, max |x| {:.6g}".format(
        stats.get("mean", float("nan")), stats.get("abs_max", float("nan"))
    )
