"""VM001: calls of the legacy `torch.autograd.Variable` constructor."""

from __future__ import annotations

import libcst as cst

from varmigrate.model import Applicability, Fix, RuntimeCheck
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules._constructors import CPU, LegacyType, rebuild
from varmigrate.rules.torch_api import TYPED_CONSTRUCTORS
from varmigrate.rules.variable import (
    Freshness,
    VariableArgs,
    detach,
    fresh_name_binding,
    freshness,
    parse_variable_args,
    receiver_without_data,
    typed_constructor_form,
)

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE
# `volatile=` inside torch's `Variable(...)` is this rule's: one finding, whose fix removes the keyword
# with the wrapper. The message is VM001's own, so that it names the rule the finding is filed under.
VOLATILE_CALL_MESSAGE = "`Variable(...)` is deprecated and detaches its argument; `volatile=` has no effect"
VOLATILE_AND_GRAD_MESSAGE = "`Variable(..., volatile=..., requires_grad=...)` may raise `ValueError` today"


class LegacyVariableCall(Rule):
    """
    ## What it does
    Flags calls of `torch.autograd.Variable(...)`, however it was imported. A `volatile=` keyword in
    the call is part of this finding, and the fix removes it with the wrapper; VM002 flags `volatile`
    everywhere else.

    ## Why is this bad?
    Since PyTorch 0.4 tensors track gradients themselves. `Variable(x, requires_grad=r)` is a shim that
    returns `x.detach()` with `requires_grad` set: it is **not** the identity, so simply deleting it can
    let gradients flow where they used to stop. `volatile=` has had no effect since 0.4 (inference
    belongs under `torch.no_grad()`), and `Variable(...)` cannot be scripted or compiled.

    ## Example
    ```python
    w = Variable(torch.ones((2, 2)), requires_grad=True)
    h = Variable(hidden)
    ```

    Use instead:
    ```python
    w = torch.ones((2, 2), requires_grad=True)
    h = hidden.detach()
    ```

    ## Fix safety
    The safe fix is exact: it spells out what the shim does.
    - A fresh tensor (a factory call such as `torch.ones(...)`, `torch.from_numpy(a)`, a legacy typed
      constructor with literal data or sizes, or a name bound once to one of these and used only here,
      outside any loop relative to the binding) loses the wrapper; `requires_grad` moves into the
      factory's keyword or into `.requires_grad_()`.
    - Anything else becomes `x.detach()`, `x.detach().requires_grad_()` or
      `x.detach().requires_grad_(bool(flag))` for a flag known only at run time.
    - `Variable(h.data)` becomes `h.detach()`. Gradients are identical; the one difference is that
      `h.detach()` shares `h`'s version counter, so a program that modifies the result in place while
      autograd still needs `h` now raises instead of silently computing wrong gradients.
    - `Variable()` / `Variable(None)` becomes `torch.empty(0)` (`device="cpu"` is added when the module
      calls `torch.set_default_device`, which the shim ignores).

    The unsafe fix drops the wrapper of `Variable(x)`, `Variable(x, requires_grad=False)` and
    `Variable(x, volatile=...)`: idiomatic, but if `x` requires grad, gradients now flow into it.
    `varmigrate verify` applies it as a *verified* fix at sites where `x` was, every time the original
    program ran the call, a plain tensor that did not require grad.

    ## Known problems
    No fix is offered for `name=`, `*args`/`**kwargs`, unknown keywords, or `volatile` together with a
    truthy `requires_grad` (which raises `ValueError` today). A `torch.Tensor([...])` rewritten to
    `torch.tensor([...], dtype=torch.get_default_dtype())` follows `torch.set_default_device`; such
    modules get `device="cpu"` added.
    """

    VALID = (
        Valid("import torch\nx = torch.ones(2, requires_grad=True)\n"),
        Valid("import tensorflow as tf\nv = tf.Variable(0.0)\n"),
        # A local class that happens to be called Variable.
        Valid("class Variable:\n    pass\n\nv = Variable()\n"),
    )
    INVALID = (
        Invalid(
            "import torch\nfrom torch.autograd import Variable\n"
            "x = Variable(torch.zeros(3), requires_grad=True)\n",
            fixed="import torch\nx = torch.zeros(3, requires_grad=True)\n",
        ),
        # Not the identity: the safe fix keeps the detach.
        Invalid(
            "import torch\nfrom torch.autograd import Variable\nh = Variable(hidden)\n",
            fixed="import torch\nh = hidden.detach()\n",
        ),
        Invalid(
            "import torch\nfrom torch.autograd import Variable\nh = Variable(hidden)\n",
            fixed="import torch\nh = hidden\n",
            unsafe=True,
        ),
        Invalid(
            "import torch\nimport torch.autograd as ag\nv = ag.Variable(torch.ones(2))\n",
            fixed="import torch\nv = torch.ones(2)\n",
        ),
        Invalid(
            "import torch\nfrom torch.autograd import Variable as V\nv = V(x, volatile=True)\n",
            fixed="import torch\nv = x.detach()\n",
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if not self.is_variable(node.func):
            return
        args = parse_variable_args(node)
        message = self.message if args.volatile is None else VOLATILE_CALL_MESSAGE
        if args.unsupported is not None:
            self.report(
                node, message=f"`Variable(...)` is deprecated; no automatic fix for {args.unsupported}"
            )
            return
        flag = self._flag(args)
        volatile = nodes.literal_bool(args.volatile) if args.volatile is not None else False
        if args.volatile is not None and flag is not False and volatile is not False:
            # Truthy `volatile` with truthy `requires_grad` raises ValueError in the shim today.
            self.report(node, message=VOLATILE_AND_GRAD_MESSAGE)
            return
        self.report(node, message=message, fixes=self._fixes(node, args.data, flag))

    def _flag(self, args: VariableArgs) -> bool | cst.BaseExpression:
        """`requires_grad` as a literal bool, or the runtime expression that sets it."""
        if args.requires_grad is None:
            return False
        literal = nodes.literal_bool(args.requires_grad)
        return literal if literal is not None else args.requires_grad

    def _fixes(
        self, node: cst.Call, data: cst.BaseExpression | None, flag: bool | cst.BaseExpression
    ) -> list[Fix]:
        data = self._collapse(data)
        if data is None:
            empty = nodes.append_args(
                cst.Call(func=self.torch_attr("empty"), args=[cst.Arg(cst.Integer("0"))]),
                self._device_args() + _flag_keyword(flag),
            )
            return [self.replace_with(node, empty, "Replace with `torch.empty(0)`", SAFE, self.torch_imports)]
        kind = freshness(self, data)
        if (
            kind is Freshness.NOT_FRESH
            and isinstance(data, cst.Name)
            and fresh_name_binding(self, data, node) is not None
        ):
            kind = Freshness.OTHER
        if kind is Freshness.FACTORY:
            new = nodes.append_args(data, _flag_keyword(flag)) if isinstance(data, cst.Call) else data
            return [self.replace_with(node, new, "Remove the `Variable(...)` wrapper", SAFE)]
        if kind is Freshness.TYPED and isinstance(data, cst.Call):
            new, imports = self._rebuild_typed(data, flag)
            return [
                self.replace_with(node, new, f"Replace with `{nodes.code(new.func)}(...)`", SAFE, imports)
            ]
        if kind is Freshness.OTHER:
            new = data if flag is False else nodes.method_call(data, "requires_grad_", _flag_args(flag))
            return [self.replace_with(node, new, "Remove the `Variable(...)` wrapper", SAFE)]
        if flag is False:
            safe = self.replace_with(node, detach(data), "Replace with `.detach()`", SAFE)
            if receiver_without_data(data) is not data:
                return [safe]
            # The only risk of dropping the wrapper is `data` requiring grad (or being a Parameter or
            # subclass, which the shim turns into a plain Tensor); one run can rule that out.
            drop = self.replace_with(
                node,
                data,
                "Remove the `Variable(...)` wrapper",
                UNSAFE,
                verified_by=RuntimeCheck.DATA_IS_PLAIN_NO_GRAD,
            )
            return [drop, safe]
        new = nodes.method_call(detach(data), "requires_grad_", _flag_args(flag))
        return [self.replace_with(node, new, "Replace with `.detach().requires_grad_()`", SAFE)]

    def _collapse(self, data: cst.BaseExpression | None) -> cst.BaseExpression | None:
        """`Variable(Variable(x))` detaches once: look through inner calls with plain arguments."""
        while isinstance(data, cst.Call) and self.is_variable(data.func):
            inner = parse_variable_args(data)
            if inner.unsupported is not None or inner.volatile is not None:
                break
            if inner.requires_grad is not None and nodes.literal_bool(inner.requires_grad) is None:
                break
            data = inner.data
        return data

    def _rebuild_typed(
        self, call: cst.Call, flag: bool | cst.BaseExpression
    ) -> tuple[cst.Call, tuple[str, ...]]:
        """`torch.FloatTensor([1, 2])` -> `torch.tensor([1, 2], dtype=torch.float32)`; sizes: `empty`."""
        kind = LegacyType(TYPED_CONSTRUCTORS[self.resolved_name(call.func) or "torch.Tensor"], CPU)
        factory = "tensor" if typed_constructor_form(call) == "data" else "empty"
        new, imports = rebuild(self, call, kind, factory)
        return nodes.append_args(new, _flag_keyword(flag)), imports

    def _device_args(self) -> list[cst.Arg]:
        """`device="cpu"` where the module sets a default device (which legacy constructors ignore)."""
        return [nodes.keyword("device", cst.SimpleString('"cpu"'))] if self.ctx.sets_default_device else []


def _flag_value(flag: bool | cst.BaseExpression) -> cst.BaseExpression:
    """The flag as an expression accepted by `requires_grad=`/`requires_grad_()`: a bool."""
    if isinstance(flag, bool):
        return cst.Name("True" if flag else "False")
    # The shim accepts ints 0..255, numpy ints and 0-dim tensors; `requires_grad_` takes only bools.
    return cst.Call(func=cst.Name("bool"), args=[cst.Arg(nodes.without_parens(flag))])


def _flag_keyword(flag: bool | cst.BaseExpression) -> list[cst.Arg]:
    return [] if flag is False else [nodes.keyword("requires_grad", _flag_value(flag))]


def _flag_args(flag: bool | cst.BaseExpression) -> list[cst.Arg]:
    return [] if flag is True else [cst.Arg(_flag_value(flag))]
