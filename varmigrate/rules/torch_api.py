"""PyTorch facts the rules rely on, in one place.

Measured on torch 2.13 (see docs/variable-semantics.md in this repository for the probes behind each fact).
Nothing here imports torch: these are names, not objects.
"""

from __future__ import annotations

import re
from typing import NamedTuple

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

# -- Legacy typed constructors and types (VM301, VM302; docs/legacy-constructors.md has the probes) ------

# `torch.cuda.FloatTensor` etc.: the same types on the current CUDA device (`torch.cuda` has no `Tensor`).
CUDA_TYPED_CONSTRUCTORS: dict[str, str] = {
    f"torch.cuda.{name.rpartition('.')[2]}": dtype
    for name, dtype in TYPED_CONSTRUCTORS.items()
    if dtype is not None
}
# The type names as a regular expression: the prefilter's, the alias finder's.
LEGACY_TYPE_NAMES = "(?:Float|Double|Half|BFloat16|Byte|Char|Short|Int|Long|Bool)Tensor"

# A statement that may bind a name to a legacy type (`Tensor = torch.cuda.FloatTensor if cuda else
# torch.FloatTensor`, `from torch import FloatTensor as FT`); the one group that matched is the name.
# Calls through such names are analysed too.
LEGACY_TYPE_ALIAS = (
    r"(?m)^[ \t]*(\w+)[ \t]*=(?!=)[^\n]*\b"
    + LEGACY_TYPE_NAMES
    + r"\b|\b"
    + LEGACY_TYPE_NAMES
    + r"\s+as\s+(\w+)"
)


def alias_names(pattern: str, source: str) -> set[str]:
    """The names the matches of ``pattern`` in ``source`` bind (each match's group that matched)."""
    return {next(name for name in match.groups() if name) for match in re.finditer(pattern, source)}


# The tensor method that converts to each dtype (`t.float()`), as `.type(torch.FloatTensor)` did on the CPU.
DTYPE_METHODS: dict[str, str] = {
    "float32": "float",
    "float64": "double",
    "float16": "half",
    "bfloat16": "bfloat16",
    "uint8": "byte",
    "int8": "char",
    "int16": "short",
    "int32": "int",
    "int64": "long",
    "bool": "bool",
}

# NumPy functions that return an `ndarray` whatever their arguments (`np.array(5.0)` is a 0-dim array).
# A legacy constructor given an array shares its memory when the dtypes agree and converts it
# otherwise, as `torch.as_tensor(array, dtype=...)` does (probed on torch 2.13).
NUMPY_ARRAY_FACTORIES: frozenset[str] = frozenset(
    f"numpy.{name}"
    for name in (
        "array",
        "asarray",
        "ascontiguousarray",
        "zeros",
        "ones",
        "empty",
        "full",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "eye",
        "identity",
        "arange",
        "linspace",
        "concatenate",
        "stack",
        "vstack",
        "hstack",
    )
)
# `torch.Size(...)`: a legacy constructor reads it as sizes (any other tuple is data).
TORCH_SIZE: frozenset[str] = frozenset({"torch.Size"})

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

# Every deprecated alias above with its current name: an import of one that a fix left unused is renamed
# in place when the fix asked for `from <module> import <current name>` (`engine.import_removal`).
RENAMED: dict[str, str] = {**FUNCTIONAL_ACTIVATIONS, **INIT_WITHOUT_UNDERSCORE, **CLIP_GRAD_NORM}

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
def implicit_softmax_dim(rank: int) -> int:
    """The dim softmax and its kin pick without `dim=` for a ``rank``-dim input (`_get_softmax_dim`)."""
    return 0 if rank in (0, 1, 3) else 1


IMPLICIT_DIM_FUNCTIONS: frozenset[str] = frozenset(
    f"torch.nn.functional.{name}" for name in ("softmax", "log_softmax", "softmin")
)
IMPLICIT_DIM_MODULES: frozenset[str] = frozenset(
    f"{module}.{name}"
    for name in ("Softmax", "LogSoftmax", "Softmin")
    for module in ("torch.nn", "torch.nn.modules", "torch.nn.modules.activation")
)

# `torch.autograd.backward`, however it is reached.
AUTOGRAD_BACKWARD: frozenset[str] = frozenset({"torch.autograd.backward"})
# The keyword PyTorch 0.2 renamed to `retain_graph` (kept as a deprecated alias until 0.4).
RETAIN_VARIABLES = "retain_variables"

# `torch.utils.data.TensorDataset`: PyTorch 0.3's `TensorDataset(data_tensor, target_tensor)`, since 0.4
# `TensorDataset(*tensors)` (positional only).
TENSOR_DATASET: frozenset[str] = frozenset(
    {"torch.utils.data.TensorDataset", "torch.utils.data.dataset.TensorDataset"}
)
TENSOR_DATASET_KEYWORDS: frozenset[str] = frozenset({"data_tensor", "target_tensor"})

# Tensor methods that, called without arguments, reduce a tensor to a 0-dim one (a 1-element tensor
# before PyTorch 0.4).
FULL_REDUCTIONS: frozenset[str] = frozenset(
    {"sum", "mean", "prod", "norm", "max", "min", "std", "var", "median", "nansum", "nanmean"}
)
# Steps between a tensor and `.numpy()` that `.item()` makes unnecessary: `.item()` reads any device.
TO_NUMPY_STEPS: frozenset[str] = frozenset({"cpu", "detach"})


class RemovedLinalg(NamedTuple):
    """A linear-algebra function PyTorch removed, and what replaces it."""

    # What to write instead, as the message shows it.
    instead: str
    # The function the deprecation release forwarded it to, with the same arguments and results
    # (`torch.` + these attributes), when one exists today: an exact fix.
    exact: tuple[str, ...] | None = None
    # The old function's parameters before `out=`, in order; `upper` (True by default in the old
    # function, False in the new one) is passed explicitly by the fix.
    parameters: tuple[str, ...] = ()
    # Keywords the new function takes under the same name.
    same_keywords: tuple[str, ...] = ()


# `torch.X` (and, for the names no other library uses, the tensor method `t.X`), removed in PyTorch 1.2
# (the `pot*`, `tr*`, `btri*`, `gesv`, `gels`, `pstrf` names) or 1.13 (`symeig`, `eig`, `lstsq`, `solve`,
# `matrix_rank`, which still exist but raise `RuntimeError`). The exact ones are the aliases PyTorch
# 1.0-1.1 kept while deprecating them (`torch/functional.py`: `potrf` returned
# `torch.cholesky(a, upper=upper)`, `potrs` `torch.cholesky_solve(b, u, upper=upper)`, `potri`
# `torch.cholesky_inverse(u, upper=upper)`, `btriunpack` `torch.lu_unpack(...)`);
# `torch.linalg.cholesky(A, upper=u)` equals `torch.cholesky(A, upper=u)`, gradients included.
REMOVED_LINALG: dict[str, RemovedLinalg] = {
    "gesv": RemovedLinalg("`torch.linalg.solve(A, B)` (it returns `X` only, without the LU factors)"),
    "solve": RemovedLinalg("`torch.linalg.solve(A, B)` (it returns `X` only, without the LU factors)"),
    "trtrs": RemovedLinalg(
        "`torch.linalg.solve_triangular(A, b, upper=True)` (it returns `X` only; for `transpose=True` "
        "pass `A.mT`)"
    ),
    "gels": RemovedLinalg("`torch.linalg.lstsq(A, B).solution` (note the order of the arguments)"),
    "lstsq": RemovedLinalg("`torch.linalg.lstsq(A, B).solution` (note the order of the arguments)"),
    "potrf": RemovedLinalg(
        "`torch.linalg.cholesky(a, upper=True)`", ("linalg", "cholesky"), ("input", "upper")
    ),
    "potrs": RemovedLinalg(
        "`torch.cholesky_solve(b, u, upper=True)`", ("cholesky_solve",), ("b", "u", "upper")
    ),
    "potri": RemovedLinalg("`torch.cholesky_inverse(u, upper=True)`", ("cholesky_inverse",), ("u", "upper")),
    "pstrf": RemovedLinalg("a pivoted Cholesky of your own: PyTorch has none today"),
    "btrifact": RemovedLinalg("`torch.linalg.lu_factor(A)` (the same `(LU, pivots)`)"),
    "btrifact_with_info": RemovedLinalg("`torch.linalg.lu_factor_ex(A)` (the same `(LU, pivots, info)`)"),
    "btrisolve": RemovedLinalg("`torch.linalg.lu_solve(LU, pivots, B)` (note the order of the arguments)"),
    "btriunpack": RemovedLinalg(
        "`torch.lu_unpack(LU, pivots)`",
        ("lu_unpack",),
        ("LU_data", "LU_pivots", "unpack_data", "unpack_pivots"),
        ("unpack_data", "unpack_pivots"),
    ),
    "symeig": RemovedLinalg(
        "`torch.linalg.eigh(A, UPLO='U')` or `torch.linalg.eigvalsh(A, UPLO='U')` (eigenvalues only)"
    ),
    "eig": RemovedLinalg("`torch.linalg.eig(A)` (complex results, not 0.3's pairs of real numbers)"),
    "matrix_rank": RemovedLinalg("`torch.linalg.matrix_rank(A)` (`hermitian=True` for `symmetric=True`)"),
}
# Names too common in other libraries (`solver.solve(...)`) to be flagged as a method of any object.
FUNCTION_ONLY_LINALG: frozenset[str] = frozenset({"eig", "solve", "lstsq", "matrix_rank"})

# `torch.autograd.Function`, the base class of custom autograd functions.
AUTOGRAD_FUNCTION: frozenset[str] = frozenset({"torch.autograd.Function", "torch.autograd.function.Function"})
# What calling a legacy function (an instance `forward`, PyTorch < 0.4 style) raises since PyTorch 1.5.
LEGACY_FUNCTION_MESSAGE = (
    "`autograd.Function` with an instance `forward` raises `RuntimeError` since PyTorch 1.5: make "
    "`forward` and `backward` static and call `.apply(...)`"
)

# `t.cuda(async=True)`: PyTorch 0.4 renamed the keyword `non_blocking` (same meaning), and Python 3.7 made
# `async` a reserved word, so such a call is a syntax error today.
ASYNC_KEYWORD = "async"
NON_BLOCKING = "non_blocking"
