"""PyTorch facts the rules rely on, in one place.

Measured on torch 2.13 (see docs/variable-semantics.md in this repository for the probes behind each fact).
Nothing here imports torch: these are names, not objects.
"""

from __future__ import annotations

# `torch.autograd.Variable is torch.autograd.variable.Variable`; both spellings occur in old code.
VARIABLE: frozenset[str] = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})

# Modules whose star import brings `Variable` into scope.
VARIABLE_STAR_MODULES: frozenset[str] = frozenset({"torch.autograd", "torch.autograd.variable"})

# Modules that may be imported under an alias only to reach `Variable` (`import torch.autograd as ag`).
AUTOGRAD_MODULES: frozenset[str] = frozenset({"torch.autograd", "torch.autograd.variable"})

# Factories that return a new tensor that nothing else references and that accept `requires_grad=`.
# `Variable(torch.F(args), requires_grad=r)` equals `torch.F(args, requires_grad=r)` bit for bit,
# RNG stream included (22 factories probed, also under set_default_dtype and no_grad).
FRESH_FACTORIES: frozenset[str] = frozenset(
    "torch." + name
    for name in (
        "zeros",
        "ones",
        "empty",
        "full",
        "rand",
        "randn",
        "randint",
        "normal",
        "arange",
        "linspace",
        "logspace",
        "eye",
        "tensor",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "rand_like",
        "randn_like",
        "randint_like",
    )
)

# Fresh, but without a `requires_grad=` keyword: `.requires_grad_()` is appended instead
# (exact except for the wording of the integer-dtype error message).
FRESH_NO_KEYWORD: frozenset[str] = frozenset({"torch.from_numpy"})

# Legacy typed constructors and the dtype each one means. `torch.Tensor` follows the default dtype.
TYPED_CONSTRUCTORS: dict[str, str | None] = {
    "torch.Tensor": None,
    "torch.FloatTensor": "float32",
    "torch.DoubleTensor": "float64",
    "torch.HalfTensor": "float16",
    "torch.BFloat16Tensor": "bfloat16",
    "torch.ByteTensor": "uint8",
    "torch.CharTensor": "int8",
    "torch.ShortTensor": "int16",
    "torch.IntTensor": "int32",
    "torch.LongTensor": "int64",
    "torch.BoolTensor": "bool",
}

# Tensor methods that, applied to a fresh tensor, give a tensor nothing else references: either the
# same object (`.float()` on a float tensor) or a new one computed from a tensor that does not
# require grad. A chain of them on a fresh factory call is still fresh.
FRESH_PRESERVING_METHODS: frozenset[str] = frozenset(
    {
        "cuda",
        "cpu",
        "to",
        "float",
        "double",
        "half",
        "bfloat16",
        "long",
        "int",
        "type",
        "contiguous",
        "clone",
        # In-place initialisers return the tensor itself (not a view), drawing the same random numbers.
        "normal_",
        "uniform_",
        "fill_",
        "zero_",
        "random_",
        "bernoulli_",
        "exponential_",
        "log_normal_",
        "cauchy_",
        "geometric_",
    }
)
# Not here on purpose: view-producing methods (`view`, `reshape`, `t`, `unsqueeze`, ...). Their
# result is a view, while `Variable(view)` is not one (`_is_view()` differs), so they stay `.detach()`.

# Keywords that make a factory call something other than a fresh tensor that does not require grad.
NOT_FRESH_KEYWORDS: frozenset[str] = frozenset({"out", "requires_grad"})

# `Variable(data, requires_grad, volatile, _grad_fn, name)`: the shim's positional order.
VARIABLE_PARAMETERS: tuple[str, ...] = ("data", "requires_grad", "volatile", "_grad_fn", "name")

# What `volatile` means today: `Variable(x, volatile=True)` only warns; `.volatile` reads False.
VOLATILE_MESSAGE = "`volatile` has had no effect since PyTorch 0.4; run inference under `torch.no_grad()`"

# -- Deprecated aliases of the 0.3 -> 2.x upgrade (VM410-VM419) -----------------------------------------
# Each maps a deprecated function's qualified name to the one it calls with the same arguments.

# `F.sigmoid(x)` / `F.tanh(x)` return `x.sigmoid()` / `x.tanh()`, the kernels of `torch.sigmoid` /
# `torch.tanh` (torch/nn/functional.py). PyTorch 0.4.1 deprecated them with a warning on every call;
# later releases dropped the warning and kept them as aliases (torch 2.13 does not warn).
FUNCTIONAL_ACTIVATIONS: dict[str, str] = {
    "torch.nn.functional.sigmoid": "torch.sigmoid",
    "torch.nn.functional.tanh": "torch.tanh",
}

# `nn.init.normal = _make_deprecate(normal_)`: a `FutureWarning`, then `normal_(*args, **kwargs)`; all
# eleven still exist in torch 2.13 (torch/nn/init.py).
INIT_WITHOUT_UNDERSCORE: dict[str, str] = {
    f"torch.nn.init.{name}": f"torch.nn.init.{name}_"
    for name in (
        "uniform",
        "normal",
        "constant",
        "eye",
        "dirac",
        "xavier_uniform",
        "xavier_normal",
        "kaiming_uniform",
        "kaiming_normal",
        "orthogonal",
        "sparse",
    )
}

# `clip_grad_norm` is `@deprecated(..., category=FutureWarning)` and returns
# `clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)` with the same
# parameters (torch/nn/utils/clip_grad.py; `torch.nn.utils` re-exports both).
CLIP_GRAD_NORM: dict[str, str] = {
    f"{module}.clip_grad_norm": f"{module}.clip_grad_norm_"
    for module in ("torch.nn.utils", "torch.nn.utils.clip_grad")
}

# Losses that still take the flags `size_average=` and `reduce=` that `reduction=` replaced in 0.4.1,
# each with the position of `size_average` among its parameters (`self` not counted); `reduce` and
# `reduction` come after it. Read from the signatures of torch 2.13: every one of them, given a flag
# that is not None, sets `reduction = _Reduction.legacy_get_string(size_average, reduce)` and ignores
# the `reduction=` it was given (torch/nn/functional.py, torch/nn/modules/loss.py `_Loss.__init__`).
_LEGACY_REDUCTION_FUNCTIONS = {
    "binary_cross_entropy": 3,
    "binary_cross_entropy_with_logits": 3,
    "cosine_embedding_loss": 4,
    "cross_entropy": 3,
    "hinge_embedding_loss": 3,
    "kl_div": 2,
    "l1_loss": 2,
    "margin_ranking_loss": 4,
    "mse_loss": 2,
    "multi_margin_loss": 5,
    "multilabel_margin_loss": 2,
    "multilabel_soft_margin_loss": 3,
    "nll_loss": 3,
    "poisson_nll_loss": 4,
    "smooth_l1_loss": 2,
    "soft_margin_loss": 2,
    "triplet_margin_loss": 7,
}
_LEGACY_REDUCTION_MODULES = {
    "BCELoss": 1,
    "BCEWithLogitsLoss": 1,
    "CosineEmbeddingLoss": 1,
    "CrossEntropyLoss": 1,
    "HingeEmbeddingLoss": 1,
    "KLDivLoss": 0,
    "L1Loss": 0,
    "MSELoss": 0,
    "MarginRankingLoss": 1,
    "MultiLabelMarginLoss": 0,
    "MultiLabelSoftMarginLoss": 1,
    "MultiMarginLoss": 3,
    "NLLLoss": 1,
    "NLLLoss2d": 1,
    "PoissonNLLLoss": 2,
    "SmoothL1Loss": 0,
    "SoftMarginLoss": 0,
    "TripletMarginLoss": 4,
}
LEGACY_REDUCTION_LOSSES: dict[str, int] = {
    **{f"torch.nn.functional.{name}": at for name, at in _LEGACY_REDUCTION_FUNCTIONS.items()},
    **{
        f"{module}.{name}": at
        for name, at in _LEGACY_REDUCTION_MODULES.items()
        for module in ("torch.nn", "torch.nn.modules", "torch.nn.modules.loss")
    },
}


def legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """What `reduction=` the two legacy flags mean (`_Reduction.legacy_get_string`; None counts as True)."""
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


# Softmax-like functions and modules whose `dim` defaults to None, meaning "choose from the input's
# rank" (`_get_softmax_dim`: 0 for 0-, 1- and 3-dim input, else 1, with a deprecation warning). The
# functions take `(input, dim=None, _stacklevel=3, dtype=None)`; the modules `(dim=None)` (torch 2.13).
IMPLICIT_DIM_FUNCTIONS: frozenset[str] = frozenset(
    f"torch.nn.functional.{name}" for name in ("softmax", "log_softmax", "softmin")
)
IMPLICIT_DIM_MODULES: frozenset[str] = frozenset(
    f"{module}.{name}"
    for name in ("Softmax", "LogSoftmax", "Softmin")
    for module in ("torch.nn", "torch.nn.modules", "torch.nn.modules.activation")
)
