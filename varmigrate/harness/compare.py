"""Bitwise comparison of recorded gradients: one implementation for fixtures and `varmigrate verify`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Difference:
    """One way two recordings disagree."""

    key: str
    detail: str

    def __str__(self) -> str:
        return f"{self.key}: {self.detail}"


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


def compare_tensors(
    before: Mapping[str, torch.Tensor | None], after: Mapping[str, torch.Tensor | None]
) -> list[Difference]:
    """Every key whose tensor differs bitwise (or exists on one side only)."""
    differences: list[Difference] = []
    for key in sorted(set(before) | set(after)):
        if key not in before or key not in after:
            side = "before" if key in before else "after"
            differences.append(Difference(key, f"present only {side}"))
            continue
        detail = tensor_difference(before[key], after[key])
        if detail is not None:
            differences.append(Difference(key, detail))
    return differences
