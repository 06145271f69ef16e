"""Legacy typed constructors and types (`torch.FloatTensor`, `torch.cuda.LongTensor`), however reached.

Shared by VM001 (which rebuilds `Variable(torch.FloatTensor([1, 2]))`), VM301 (calls of the constructors)
and VM302 (`.type(torch.FloatTensor)`). A type is reached by its qualified name, or through a name bound
once at module level to one (`FloatTensor = torch.FloatTensor`) or to a choice of two (`Tensor =
torch.cuda.FloatTensor if cuda else torch.FloatTensor`). docs/legacy-constructors.md has the probes
behind each rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import libcst as cst
from libcst.metadata import GlobalScope

from varmigrate.rules import nodes
from varmigrate.rules._base import Rule
from varmigrate.rules.torch_api import (
    CUDA_TYPED_CONSTRUCTORS,
    LEGACY_TYPE_ALIAS,
    TYPED_CONSTRUCTORS,
    alias_names,
)
from varmigrate.rules.variable import sole_assignment

CUDA, CPU = "cuda", "cpu"


@dataclass(frozen=True)
class LegacyType:
    """What a reference to a legacy type means: its dtype and device."""

    # The dtype's name in torch (`float32`); None for `torch.Tensor`, which follows the default dtype.
    dtype: str | None
    # `"cpu"` or `"cuda"`; None when an alias chooses between the two at run time (see `choice`).
    device: str | None
    # For such an alias, its device as an expression: `"cuda" if cuda else "cpu"`.
    choice: cst.IfExp | None = None
    # How a message names the type (`torch.cuda.FloatTensor`; an alias by its own name).
    shown: str = ""
    # False for an alias of two types with different dtypes: a legacy type, but which one is not known.
    known: bool = True


def legacy_type(rule: Rule, expr: cst.BaseExpression) -> LegacyType | None:
    """The legacy type ``expr`` refers to, directly or through a module-level alias, or None."""
    if isinstance(expr, cst.Attribute):
        word = expr.attr.value
    elif isinstance(expr, cst.Name):
        word = expr.value
    else:
        return None
    # Spelling first: only what could be a type pays for scope analysis.
    if not word.endswith("Tensor") and word not in _aliases(rule.ctx.source):
        return None
    found = _direct(rule, expr)
    if found is None and isinstance(expr, cst.Name):
        found = _through_alias(rule, expr)
    return found


@lru_cache(maxsize=16)
def _aliases(source: str) -> frozenset[str]:
    """Names that statements of ``source`` may bind to a legacy type (what `_through_alias` checks)."""
    return frozenset(alias_names(LEGACY_TYPE_ALIAS, source))


def _direct(rule: Rule, expr: cst.BaseExpression) -> LegacyType | None:
    name = rule.resolved_name(expr)
    if name in TYPED_CONSTRUCTORS:
        return LegacyType(TYPED_CONSTRUCTORS[name], CPU, shown=name)
    if name in CUDA_TYPED_CONSTRUCTORS:
        return LegacyType(CUDA_TYPED_CONSTRUCTORS[name], CUDA, shown=name)
    return None


def _through_alias(rule: Rule, name: cst.Name) -> LegacyType | None:
    """The type a name bound exactly once, at module level, to a legacy type (or a choice of two) means."""
    bound = sole_assignment(rule, name)
    if bound is None or not isinstance(bound[0].scope, GlobalScope):
        return None
    assign = bound[1]
    value = nodes.without_parens(assign.value)
    if not isinstance(value, cst.IfExp):
        found = _direct(rule, assign.value)
        return None if found is None else LegacyType(found.dtype, found.device, shown=name.value)
    body, orelse = _direct(rule, value.body), _direct(rule, value.orelse)
    if body is None or orelse is None:
        return None
    if body.dtype != orelse.dtype:
        return LegacyType(None, None, shown=name.value, known=False)
    if body.device == orelse.device:
        return LegacyType(body.dtype, body.device, shown=name.value)
    choice = cst.IfExp(
        test=value.test,
        body=cst.SimpleString(f'"{body.device}"'),
        orelse=cst.SimpleString(f'"{orelse.device}"'),
    )
    return LegacyType(body.dtype, None, choice=choice, shown=name.value)


def torch_base(
    rule: Rule, func: cst.BaseExpression, kind: LegacyType
) -> tuple[cst.BaseExpression, tuple[str, ...]]:
    """How a rewrite of a call of ``func`` spells torch (`th` in `th.FloatTensor`), and the imports needed."""
    base = func.value if isinstance(func, cst.Attribute) else None
    if kind.device == CUDA:
        # `torch.cuda.FloatTensor`: torch is the receiver's receiver.
        base = base.value if isinstance(base, cst.Attribute) else None
    if base is None:
        return cst.Name(rule.ctx.torch_name), rule.torch_imports
    return base, ()


def dtype_keyword(torch: cst.BaseExpression, kind: LegacyType, default: bool) -> list[cst.Arg]:
    """`dtype=torch.float32`; for `torch.Tensor`, `dtype=torch.get_default_dtype()` when ``default``."""
    if kind.dtype is not None:
        return [nodes.keyword("dtype", cst.Attribute(value=torch, attr=cst.Name(kind.dtype)))]
    if not default:
        return []
    get_dtype = cst.Call(func=cst.Attribute(value=torch, attr=cst.Name("get_default_dtype")))
    return [nodes.keyword("dtype", get_dtype)]


def device_value(rule: Rule, kind: LegacyType) -> cst.BaseExpression | None:
    """The `device=` a factory needs to build where the legacy constructor built, or None.

    CPU constructors ignore `torch.set_default_device` while factories follow it (probed), so modules
    that call it get `device="cpu"`.
    """
    if kind.choice is not None:
        return kind.choice
    if kind.device == CUDA:
        return cst.SimpleString(f'"{CUDA}"')
    if rule.ctx.sets_default_device:
        return cst.SimpleString(f'"{CPU}"')
    return None


def rebuild(rule: Rule, call: cst.Call, kind: LegacyType, factory: str) -> tuple[cst.Call, tuple[str, ...]]:
    """``call`` of a legacy constructor as `torch.<factory>(<its arguments>, dtype=..., device=...)`.

    A `device=` the call passes stays; `torch.empty()` gets its size, `0`.
    """
    torch, imports = torch_base(rule, call.func, kind)
    new = call.with_changes(func=cst.Attribute(value=torch, attr=cst.Name(factory)))
    if not call.args:
        new = new.with_changes(args=[cst.Arg(cst.Integer("0"))])
    extra = dtype_keyword(torch, kind, default=factory != "empty")
    device = device_value(rule, kind)
    if device is not None and not any(nodes.keyword_name(arg) == "device" for arg in call.args):
        extra.append(nodes.keyword("device", device))
    return nodes.append_args(new, extra), imports
