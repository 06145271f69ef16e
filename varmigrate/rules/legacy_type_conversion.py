"""VM302: `.type(torch.FloatTensor)`, conversions through a legacy tensor type."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from varmigrate.model import Applicability, Fix, RuntimeCheck
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules._constructors import CPU, CUDA, LegacyType, device_value, legacy_type
from varmigrate.rules.torch_api import CUDA_TYPED_CONSTRUCTORS, DTYPE_METHODS, TYPED_CONSTRUCTORS
from varmigrate.rules.variable import Freshness, freshness

SAFE, UNSAFE, DISPLAY_ONLY = Applicability.SAFE, Applicability.UNSAFE, Applicability.DISPLAY_ONLY
# `.type(T)` keeps a tensor on its device only when T's device type is the tensor's
# (torch/csrc/autograd/python_variable_methods.cpp, `THPVariable_type`): CPU types move CUDA tensors
# to the CPU, where `.float()` would leave them.
KEEPS_DEVICE = "keeps the device: the old call moved a CUDA tensor to the CPU"
# `nn.Module.type(T)` converts every parameter and buffer; `.to(dtype)` and `.float()` only the
# floating-point ones (BatchNorm's `num_batches_tracked` stays int64, probed).
MODULE_BUFFERS = "a module's integer buffers are no longer converted"
# With a CUDA type the tensor stays on its own GPU if it is on one; `"cuda"` means the current one.
ON_CUDA = "unverified without a GPU; a tensor on another GPU moves to the current one"
CHOSEN = "the alias tested its condition once, when it was bound"


class LegacyTypeConversion(Rule):
    """
    ## What it does
    Flags `x.type(T)` where `T` is a legacy tensor type (`torch.FloatTensor`, `torch.cuda.LongTensor`,
    a name bound once at module level to one, such as `dtype = torch.cuda.FloatTensor if cuda else
    torch.FloatTensor`) or its name as a string (`'torch.FloatTensor'`). `x.type()` without an argument
    (which returns the type's name) and `x.type(torch.float32)` are left alone.
    Off by default: select it with `--extend-select VM3`.

    ## Why is this bad?
    The legacy types stand for a dtype *and* a device. `x.type(torch.FloatTensor)` converts to float32
    and moves a CUDA tensor to the CPU; PyTorch 0.4 replaced such conversions with `.to(device, dtype)`
    and the dtype methods (`.float()`, `.long()`), which say which of the two is meant.

    ## Example
    ```python
    import torch

    x = torch.randn(3, 4).type(torch.DoubleTensor)
    ```

    Use instead:
    ```python
    import torch

    x = torch.randn(3, 4).to("cpu", torch.float64)
    ```

    ## Fix safety
    Probed on torch 2.13 (docs/legacy-constructors.md). `.type(T)` with a CPU type equals
    `.to("cpu", dtype)` on a tensor: the same object when nothing changes, the same copy (and the same
    gradient, through `ToCopyBackward0`) otherwise, and a CUDA or meta tensor moves to the CPU in both.
    The fix is safe where the receiver is known to be a tensor (a factory call such as
    `torch.randn(...)`); elsewhere it may be an `nn.Module`, whose `.type(T)` converts its integer
    buffers too, which `.to(...)` does not, and the fix is unsafe. The idiomatic `.float()` is offered
    as an unsafe fix: it keeps a CUDA tensor on the GPU. On a CPU tensor (or `nn.Parameter`) it equals
    `.type(T)` with a CPU type, probed on torch 2.13 for every dtype method and float, integer and bool
    inputs: the same values, dtype, device, strides (channels-last kept), `requires_grad` and `grad_fn`
    (`ToCopyBackward0`, same gradient), and the tensor itself when the dtype already matches (both
    return `self`, so aliasing is kept). `varmigrate verify` applies it as a *verified* fix at sites
    where the receiver was, every time the original program ran them, a CPU `torch.Tensor` or
    `nn.Parameter`. With a CUDA type the fix, `.to("cuda", dtype)`, is unsafe: the tests run without a
    GPU, and a tensor already on a GPU other than the current one stays there with `.type(...)` but
    moves with `.to("cuda")`. An alias that chooses between a CUDA and a CPU type at run time gets a
    display-only fix.

    ## Known problems
    `.type(torch.Tensor)` (the default type) and sparse types are not flagged; `.type(T, non_blocking=...)`
    keeps only the `.to(...)` fix.
    """

    VALID = (
        Valid("import torch\nx = torch.randn(3).type(torch.float64)\nname = x.type()\n"),
        # Another library's `FloatTensor`.
        Valid("import torch\nfrom mylib import FloatTensor\ny = x.type(FloatTensor)\n"),
    )
    INVALID = (
        Invalid(
            "import torch\nx = torch.randn(3).type(torch.DoubleTensor)\n",
            fixed='import torch\nx = torch.randn(3).to("cpu", torch.float64)\n',
        ),
        # The idiom, which keeps a CUDA tensor on the GPU: only with --unsafe-fixes.
        Invalid(
            "import torch\ny = x.type('torch.LongTensor')\n",
            fixed="import torch\ny = x.long()\n",
            unsafe=True,
        ),
        Invalid(
            "import torch\ny = x.type(torch.cuda.FloatTensor)\n",
            fixed='import torch\ny = x.to("cuda", torch.float32)\n',
            unsafe=True,
        ),
        # Through an alias that chose the device at import time: display only.
        Invalid(
            "import torch\ndtype = torch.cuda.FloatTensor if cuda else torch.FloatTensor\ny = x.type(dtype)\n"
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "type" or not node.args:
            return
        target = node.args[0]
        if target.star or nodes.keyword_name(target) not in (None, "dtype"):
            return
        kind = self._target(target.value)
        if kind is None or (kind.dtype is None and kind.known):
            return
        rest = node.args[1:]
        if kind.dtype is None or any(arg.star or nodes.keyword_name(arg) != "non_blocking" for arg in rest):
            message = f"`.type({kind.shown})` converts through a legacy tensor type; no automatic fix for"
            self.report(node, message=f"{message} {_why(kind)}")
            return
        message = f"`.type({kind.shown})` converts through a legacy tensor type: use a dtype"
        self.report(node, message=message, fixes=self._fixes(node, func.value, kind, kind.dtype, rest))

    def _target(self, expr: cst.BaseExpression) -> LegacyType | None:
        """The legacy type ``expr`` names: a reference to one, or its name in a string."""
        if isinstance(expr, cst.SimpleString):
            name = expr.evaluated_value
            if not isinstance(name, str):
                return None
            if name in CUDA_TYPED_CONSTRUCTORS:
                return LegacyType(CUDA_TYPED_CONSTRUCTORS[name], CUDA, shown=name)
            if name != "torch.Tensor" and name in TYPED_CONSTRUCTORS:
                return LegacyType(TYPED_CONSTRUCTORS[name], CPU, shown=name)
            return None
        return legacy_type(self, expr)

    def _fixes(
        self,
        node: cst.Call,
        receiver: cst.BaseExpression,
        kind: LegacyType,
        dtype: str,
        rest: Sequence[cst.Arg],
    ) -> list[Fix]:
        device = device_value(self, kind) if kind.device != CPU else cst.SimpleString(f'"{CPU}"')
        assert device is not None
        args = [cst.Arg(device), cst.Arg(self.torch_attr(dtype)), *rest]
        moved = nodes.method_call(receiver, "to", _separated(args))
        title = f"Replace with `.to({nodes.code(device)}, {self.ctx.torch_name}.{dtype})`"
        if kind.choice is not None:
            return [self.replace_with(node, moved, f"{title} ({CHOSEN})", DISPLAY_ONLY, self.torch_imports)]
        if kind.device == CUDA:
            return [self.replace_with(node, moved, f"{title} ({ON_CUDA})", UNSAFE, self.torch_imports)]
        fixes = []
        if not rest:
            method = nodes.method_call(receiver, DTYPE_METHODS[dtype])
            # Its only risks are a receiver that is not a CPU tensor (a CUDA tensor stays on the GPU, a
            # module keeps its integer buffers): one run can rule both out.
            idiom = f"Replace with `.{DTYPE_METHODS[dtype]}()` ({KEEPS_DEVICE})"
            fixes.append(
                self.replace_with(
                    node, method, idiom, UNSAFE, verified_by=RuntimeCheck.RECEIVER_IS_CPU_TENSOR
                )
            )
        if freshness(self, receiver) is not Freshness.NOT_FRESH:
            fixes.append(self.replace_with(node, moved, title, SAFE, self.torch_imports))
        elif rest:
            fixes.append(
                self.replace_with(node, moved, f"{title} ({MODULE_BUFFERS})", UNSAFE, self.torch_imports)
            )
        return fixes


def _separated(args: list[cst.Arg]) -> list[cst.Arg]:
    """``args`` with `, ` between them."""
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return [arg.with_changes(comma=comma) for arg in args[:-1]] + [
        args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    ]


def _why(kind: LegacyType) -> str:
    return "these arguments" if kind.known else "an alias of two dtypes"
