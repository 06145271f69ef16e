"""VM301: calls of the legacy typed constructors (`torch.FloatTensor(2, 3)`, `torch.cuda.LongTensor([1])`)."""

from __future__ import annotations

import libcst as cst

from varmigrate.model import Applicability, Fix
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules._constructors import CUDA, LegacyType, legacy_type, rebuild
from varmigrate.rules.torch_api import NUMPY_ARRAY_FACTORIES, TORCH_SIZE
from varmigrate.rules.variable import typed_constructor_form

SAFE, UNSAFE, DISPLAY_ONLY = Applicability.SAFE, Applicability.UNSAFE, Applicability.DISPLAY_ONLY
# The tests run without a GPU: a rewrite that builds on CUDA cannot be proven there.
ON_CUDA = "unverified: the test suite has no GPU to compare on"
# An alias that chose its type once, when it was bound; the rewrite would test the condition at each call.
CHOSEN = "the alias tested its condition once, when it was bound"
NOT_LITERAL = "elements that are not number literals are not proven exact"
UNKNOWN = (
    "if the argument is data (a sequence or an array); for a size it is `torch.empty(n, ...)`, for a "
    "tensor or a storage the constructor shared its memory"
)
MESSAGE = "`{}(...)` is a legacy typed constructor: {}"
# One argument the code does not show the kind of.
AMBIGUOUS = "`torch.empty` for a size, `torch.as_tensor` for data"
NO_FIX = "`{}(...)` is a legacy typed constructor; no automatic fix for {}"


class LegacyTensorConstructor(Rule):
    """
    ## What it does
    Flags calls of PyTorch's legacy typed constructors: `torch.FloatTensor(...)`, `torch.DoubleTensor`,
    `torch.LongTensor`, the other `torch.*Tensor` types, `torch.Tensor(...)` and the `torch.cuda.*Tensor`
    variants, however they were imported, also through a name bound once at module level to one
    (`FloatTensor = torch.FloatTensor`, `Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor`).
    Off by default: select it with `--extend-select VM3`.

    ## Why is this bad?
    Before PyTorch 0.4 a tensor's type held its dtype and device, and these were its constructors. Since
    then tensors are built by factories with `dtype=` and `device=`: the typed constructors are legacy
    (the documentation says not to use them), read their arguments by shape (`torch.FloatTensor(2, 3)` is
    uninitialised memory of size 2x3, `torch.FloatTensor((2, 3))` the data `[2., 3.]`), ignore
    `torch.set_default_device` and cannot be scripted.

    ## Example
    ```python
    import torch

    weights = torch.FloatTensor(3, 4).uniform_(-0.1, 0.1)
    labels = torch.LongTensor([0, 2, 1])
    ```

    Use instead:
    ```python
    import torch

    weights = torch.empty(3, 4, dtype=torch.float32).uniform_(-0.1, 0.1)
    labels = torch.tensor([0, 2, 1], dtype=torch.int64)
    ```

    ## Fix safety
    Probed on torch 2.13 (docs/legacy-constructors.md). The fixes are safe where they are exact:
    - Sizes (integer literals, two or more arguments, or `torch.Size(...)`) and no argument at all become
      `torch.empty(..., dtype=...)` (`torch.empty(0, ...)`). Both allocate uninitialised memory through
      the same allocator, so there are no values to compare; dtype, device, shape, strides and
      `requires_grad` are the same, and under `torch.use_deterministic_algorithms(True)` both fill it
      with the same NaN or largest integer. `torch.Tensor(3)` becomes `torch.empty(3)`: both follow
      the default dtype.
    - Data given as a list or tuple of number literals (nested, empty, bools included) becomes
      `torch.tensor(data, dtype=...)`: the same values bit for bit, the same overflow errors.
      `torch.Tensor([...])` gets `dtype=torch.get_default_dtype()`, since `torch.tensor` would infer
      int64 from integers.
    - An array from a NumPy factory (`np.array(...)`, `np.zeros(...)`) becomes
      `torch.as_tensor(array, dtype=...)`, which, like the constructor, shares the array's memory when
      the dtypes agree and converts otherwise.
    - Modules that call `torch.set_default_device` get `device="cpu"`: the constructors ignore it.

    Data in a list whose elements are not number literals gets an unsafe fix. A CUDA constructor's fix
    (`device="cuda"`, the current device, as before), like that of a call passing `device=` other than
    `"cpu"`, is unsafe: the tests that prove every safe fix run without a GPU. An alias that chooses between a
    CUDA and a CPU type at run time gets a display-only fix with `device="cuda" if cuda else "cpu"`: the alias
    tested its condition once, the rewrite tests it at every call. A single argument that is not a literal
    (`torch.FloatTensor(n)`) may be a size, data, a tensor or a storage: its fix is display only.

    ## Known problems
    `torch.FloatTensor(tensor)` and `torch.FloatTensor(storage)` share their argument's memory; no factory
    does the same, and they are reported with a display-only fix. Keywords other than `device=` get no
    fix. Aliases bound inside functions, or more than once, are not followed; neither are sparse
    constructors (`torch.sparse.FloatTensor`). The fix of a name imported on its own (`from torch import
    LongTensor`) leaves that import, now unused, in place.
    """

    VALID = (
        Valid("import torch\nx = torch.empty(3, 4, dtype=torch.float32)\ny = isinstance(x, torch.Tensor)\n"),
        # The module's own class of the same name, and another library's.
        Valid("import torch\n\nclass FloatTensor:\n    pass\n\nx = FloatTensor(3)\n"),
        Valid("import torch\nfrom mylib import LongTensor\nx = LongTensor([1, 2])\n"),
    )
    INVALID = (
        Invalid(
            "import torch\nx = torch.FloatTensor(2, 3)\ny = torch.LongTensor()\n",
            fixed="import torch\nx = torch.empty(2, 3, dtype=torch.float32)\n"
            "y = torch.empty(0, dtype=torch.int64)\n",
        ),
        Invalid(
            "from torch import DoubleTensor\nx = DoubleTensor([[1, 2], [3, 4.5]])\n",
            fixed="from torch import DoubleTensor\nimport torch\n\n"
            "x = torch.tensor([[1, 2], [3, 4.5]], dtype=torch.float64)\n",
        ),
        Invalid(
            "import numpy as np\nimport torch as th\nx = th.FloatTensor(np.zeros((2, 3)))\n",
            fixed="import numpy as np\nimport torch as th\n"
            "x = th.as_tensor(np.zeros((2, 3)), dtype=th.float32)\n",
        ),
        Invalid(
            "import torch\nx = torch.cuda.FloatTensor(2)\n",
            fixed='import torch\nx = torch.empty(2, dtype=torch.float32, device="cuda")\n',
            unsafe=True,
        ),
        # Through an alias that chose the device at import time: display only.
        Invalid(
            "import torch\nTensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor\nx = Tensor(2, 1)\n"
        ),
        # A name may be a size or data.
        Invalid("import torch\nx = torch.FloatTensor(n)\n"),
    )

    def visit_Call(self, node: cst.Call) -> None:
        kind = legacy_type(self, node.func)
        if kind is None:
            return
        shown = kind.shown
        unsupported = _unsupported(node) if kind.known else "an alias of two dtypes"
        if unsupported is not None:
            self.report(node, message=NO_FIX.format(shown, unsupported))
            return
        fix = self._fix(node, kind)
        built_with = (
            AMBIGUOUS
            if fix.title.endswith(f"({UNKNOWN})")
            else f"build the tensor with `{fix.title.split('`')[1]}`"
        )
        self.report(node, message=MESSAGE.format(shown, built_with), fixes=[fix])

    def _fix(self, node: cst.Call, kind: LegacyType) -> Fix:
        factory, applicability, reason = self._form(node)
        new, imports = rebuild(self, node, kind, factory)
        title = f"Replace with `{nodes.code(new.func)}(...)`"
        if kind.choice is not None:
            applicability, reason = DISPLAY_ONLY, CHOSEN
        elif applicability is SAFE and (kind.device == CUDA or not _on_cpu(node)):
            applicability, reason = UNSAFE, ON_CUDA
        if applicability is SAFE:
            return self.replace_with(node, new, title, SAFE, imports)
        title = f"{title} ({reason})"
        if applicability is UNSAFE:
            return self.replace_with(node, new, title, UNSAFE, imports)
        return self.replace_with(node, new, title, DISPLAY_ONLY, imports)

    def _form(self, node: cst.Call) -> tuple[str, Applicability, str | None]:
        """The factory that builds what ``node`` builds, how exact it is, and why not when it is not."""
        positional = [arg.value for arg in node.args if arg.keyword is None]
        form = typed_constructor_form(node.with_changes(args=[a for a in node.args if a.keyword is None]))
        if not positional or len(positional) > 1 or form == "sizes":
            # No argument, or sizes: two or more arguments can only be sizes (`new(SymIntArrayRef size)`).
            return "empty", SAFE, None
        [data] = positional
        if form == "data":
            return "tensor", SAFE, None
        if isinstance(data, cst.List | cst.Tuple):
            return "tensor", UNSAFE, NOT_LITERAL
        if isinstance(data, cst.Call):
            called = self.resolved_name(data.func)
            if called in TORCH_SIZE:
                return "empty", SAFE, None
            if called in NUMPY_ARRAY_FACTORIES:
                return "as_tensor", SAFE, None
        return "as_tensor", DISPLAY_ONLY, UNKNOWN


def _unsupported(call: cst.Call) -> str | None:
    """Why no fix can be offered for the arguments of ``call``, or None."""
    for arg in call.args:
        if arg.star:
            return f"`{arg.star}` arguments"
        if arg.keyword is not None and arg.keyword.value != "device":
            return f"`{arg.keyword.value}=`"
    return None


def _on_cpu(call: cst.Call) -> bool:
    """Whether ``call`` passes no `device=` or `device="cpu"` (another device cannot be verified here)."""
    for arg in call.args:
        if nodes.keyword_name(arg) == "device":
            return isinstance(arg.value, cst.SimpleString) and arg.value.evaluated_value == "cpu"
    return True
