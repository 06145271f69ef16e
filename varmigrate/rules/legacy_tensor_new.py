"""VM303: `x.new(...)`, the legacy constructor of tensors like `x`, and its `.fill_()` / `.zero_()` chain."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import QualifiedNameProvider, QualifiedNameSource

from varmigrate.model import Applicability, RuntimeCheck
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid

AMBIGUOUS = (
    "`.new(arg)` takes one argument as a size, as data or as a tensor to share memory with: "
    "rewrite it by hand"
)
# Without type information the receiver may be some other object with a `new` method.
ASSUMED = " (assumes the receiver is a tensor)"
# What a chain on a fresh tensor can fold into: `.zero_()` / `.fill_(v)`.
_FOLDED = {"zero_": "new_zeros", "fill_": "new_full"}


class LegacyTensorNew(Rule):
    """
    ## What it does
    Flags `x.new(...)` and `x.data.new(...)`, the constructor of a new tensor with `x`'s dtype and
    device, and rewrites it as the constructor its arguments stand for: `x.new(3, 4)` (sizes) as
    `x.new_empty(3, 4)`, `x.new([1, 2])` (data) as `x.new_tensor([1, 2])`, `x.new()` as
    `x.new_empty(0)`; `x.new(a, b).zero_()` and `x.new().resize_(a, b).fill_(v)` as
    `x.new_zeros(a, b)` and `x.new_full((a, b), v)`.

    ## Why is this bad?
    `Tensor.new` is the untyped legacy constructor of PyTorch 0.3. It reads its arguments by their
    types at run time: integers and a `torch.Size` are sizes, a list or a tuple is data, and a
    tensor of the same dtype is shared, not copied (`x.new((3, 4))` is a tensor of two elements,
    not a 3-by-4 one). The `new_*` methods (PyTorch 0.4) say which one is meant.

    ## Example
    ```python
    import torch

    hidden = weight.data.new(layers, batch, size).zero_()
    mask = weight.data.new([1, 0, 1])
    ```

    Use instead:
    ```python
    import torch

    hidden = weight.data.new_zeros(layers, batch, size)
    mask = weight.data.new_tensor([1, 0, 1])
    ```

    ## Fix safety
    Measured on torch 2.13, each rewrite gives the same dtype, device, shape, values and
    `requires_grad=False` (a leaf) as the call it replaces: `new_empty` is as uninitialised as `new`
    was; `new_tensor` copies list and tuple data into `x`'s dtype as `new` did; `fill_(v)` folds into
    `new_full` only for a number written out (`fill_(t)` with a tensor requiring grad makes a result
    that requires grad, which `new_full` refuses). `.data` stays where it was. The fix is safe where the
    receiver is `t.data`, which is a tensor; on any other receiver it is unsafe, since without types the
    receiver may be another object with a `new` method that has no `new_empty` (a `PackedSequence`, a
    user's class). `varmigrate verify` applies it as a *verified* fix at sites where the receiver was,
    every time the original program ran them, a `torch.Tensor` or an `nn.Parameter` (for a `Parameter`,
    `new` and the `new_*` methods both give a plain `Tensor`, probed; other subclasses may override
    either method and do not count). A single argument that is neither an integer, `t.size()`, nor a
    list or tuple display (`x.new(n)`, `x.new(other)`) is reported without a fix: it is a size, data or
    a tensor to share memory with, depending on its value.

    ## Known problems
    `.new` is a common method name. Calls are not flagged on a method's own `self` or `cls`, on a
    module or class the file imports (`hashlib.new("md5")`, `hmac.new(key)`, `Image.new(...)`),
    with a string argument, or with keywords other than `device=`; any other receiver with a `new`
    method in a file that uses torch is flagged (off by default for this reason).
    """

    VALID = (
        Valid("import torch\nimport hashlib\nh = hashlib.new('sha256')\n"),
        Valid("import torch\n\nclass Pool:\n    def grow(self):\n        return self.new(4)\n"),
        Valid("import torch\nobj = object.__new__(cls)\nx = t.new_empty(3, 4)\n"),
    )
    INVALID = (
        Invalid(
            "import torch\nh = w.data.new(2, 3).zero_()\n",
            fixed="import torch\nh = w.data.new_zeros(2, 3)\n",
        ),
        Invalid(
            "import torch\nm = w.data.new([1, 0])\n",
            fixed="import torch\nm = w.data.new_tensor([1, 0])\n",
        ),
        Invalid(
            "import torch\nb = x.new().resize_(4).fill_(0.5)\n",
            fixed="import torch\nb = x.new_full((4,), 0.5)\n",
            unsafe=True,
        ),
        Invalid("import torch\ny = x.new(n)\n"),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "new" or not self._credible(node, func):
            return
        if any(arg.star for arg in node.args) or (len(node.args) == 1 and _kind(node.args[0].value) is None):
            self.report(node, message=AMBIGUOUS if len(node.args) == 1 else None)
            return
        outer, replacement = self._rewrite(node, func.value)
        title = f"Replace with `{_shown(replacement)}`"
        if _is_data(func.value):
            fix = self.replace_with(outer, replacement, title, Applicability.SAFE)
        else:
            # The only risk is the receiver not being a tensor: one run can rule that out.
            fix = self.replace_with(
                outer,
                replacement,
                title + ASSUMED,
                Applicability.UNSAFE,
                verified_by=RuntimeCheck.RECEIVER_IS_TENSOR,
            )
        self.report(node, fixes=[fix])

    def _credible(self, node: cst.Call, func: cst.Attribute) -> bool:
        """Whether the call can be `Tensor.new`: what `self.new(...)`, `hashlib.new(...)` are not."""
        receiver = func.value
        if self.is_own_instance(receiver):
            return False
        found = self.ctx.metadata(QualifiedNameProvider, receiver, set())
        if any(q.source is QualifiedNameSource.IMPORT for q in found):
            return False  # a module or class: `hashlib.new`, `Image.new`
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value != "device":
                return False
            strings = cst.SimpleString | cst.ConcatenatedString | cst.FormattedString
            if arg.keyword is None and isinstance(arg.value, strings):
                return False
        return True

    def _rewrite(self, call: cst.Call, receiver: cst.BaseExpression) -> tuple[cst.Call, cst.Call]:
        """The outermost call of the chain that starts with ``call``, and what replaces it."""
        args = list(call.args)
        positional = [arg for arg in args if arg.keyword is None]
        keywords = [arg for arg in args if arg.keyword is not None]
        outer = call
        sizes: list[cst.Arg] | None = positional if len(positional) != 1 else None
        if len(positional) == 1:
            if _kind(positional[0].value) == "data":
                return call, nodes.method_call(receiver, "new_tensor", _bare(args))
            sizes = positional
        resized = self._chained(outer, "resize_")
        if not positional and resized is not None and resized.args and not any(a.star for a in resized.args):
            outer, sizes = resized, list(resized.args)
        if not sizes:
            return outer, nodes.method_call(receiver, "new_empty", _bare([_arg(cst.Integer("0")), *keywords]))
        for method, new in _FOLDED.items():
            chained = self._chained(outer, method)
            if chained is None:
                continue
            if method == "zero_" and not chained.args:
                return chained, nodes.method_call(receiver, new, _bare([*sizes, *keywords]))
            shape = _size_tuple(sizes)
            if method == "fill_" and len(chained.args) == 1 and _is_number(chained.args[0].value) and shape:
                fill = [_arg(shape), chained.args[0], *keywords]
                return chained, nodes.method_call(receiver, new, _bare(fill))
        return outer, nodes.method_call(receiver, "new_empty", _bare([*sizes, *keywords]))

    def _chained(self, call: cst.Call, method: str) -> cst.Call | None:
        """``call.method(...)``, when that is what ``call`` stands in."""
        attribute = self.parent(call)
        if not isinstance(attribute, cst.Attribute) or attribute.attr.value != method or call.lpar:
            return None
        outer = self.parent(attribute)
        return outer if isinstance(outer, cst.Call) and outer.func is attribute else None


def _kind(value: cst.BaseExpression) -> str | None:
    """What one argument of `new` is, when its spelling says: "size" or "data" (None: it depends)."""
    value = nodes.without_parens(value)
    if isinstance(value, cst.Integer):
        return "size"
    if isinstance(value, cst.List | cst.Tuple | cst.ListComp):
        return "data"
    if (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value == "size"
    ):
        return "size" if not value.args else None
    return None


def _is_data(receiver: cst.BaseExpression) -> bool:
    """Whether ``receiver`` is `t.data`: a tensor, whatever `t` is."""
    receiver = nodes.without_parens(receiver)
    return isinstance(receiver, cst.Attribute) and receiver.attr.value == "data"


def _is_number(value: cst.BaseExpression) -> bool:
    """Whether ``value`` is a number written out (`0`, `-1.5`, `True`)."""
    if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Minus | cst.Plus):
        value = value.expression
    if isinstance(value, cst.Name):
        return value.value in ("True", "False")
    return isinstance(value, cst.Integer | cst.Float)


def _size_tuple(sizes: list[cst.Arg]) -> cst.BaseExpression | None:
    """The shape ``sizes`` stand for as one argument (`(a, b)`, `(n,)`, `t.size()`); None: unknown."""
    if len(sizes) == 1:
        value = nodes.without_parens(sizes[0].value)
        if isinstance(value, cst.Tuple | cst.List) or (
            _kind(value) == "size" and isinstance(value, cst.Call)
        ):
            return sizes[0].value
        if not isinstance(value, cst.Integer):
            return None  # `resize_(n)`: an integer or a shape
    elements = [cst.Element(arg.value) for arg in sizes]
    if len(elements) == 1:
        elements = [elements[0].with_changes(comma=cst.Comma())]
    return cst.Tuple(elements)


def _arg(value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value)


def _bare(args: list[cst.Arg]) -> list[cst.Arg]:
    """``args`` without the comma after the last one (as arguments of a new call)."""
    if not args:
        return []
    return [*args[:-1], args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]


def _shown(call: cst.Call) -> str:
    """`.new_zeros(...)` for the title."""
    assert isinstance(call.func, cst.Attribute)
    return f".{call.func.attr.value}(...)"
