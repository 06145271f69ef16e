"""The rule catalog: what is known of each rule before any file is parsed, and selection by code or name.

This module imports only the standard library, so that configuration, selection, the text prefilter and
``varmigrate rule`` cost nothing: a rule's implementation (a LibCST visitor in a module of its own) is
imported by :meth:`RuleSpec.load` when a file first needs it. A rule's documentation is its class
docstring, read from the module's source without importing it.
"""

from __future__ import annotations

from collections.abc import Iterable

from varmigrate.rules.spec import RULES_DOCS_URL, FixAvailability, RuleSpec, kebab
from varmigrate.rules.torch_api import (
    INIT_WITHOUT_UNDERSCORE,
    LEGACY_FUNCTION_MESSAGE,
    LEGACY_TYPE_ALIAS,
    LEGACY_TYPE_NAMES,
    VOLATILE_MESSAGE,
)

# The rule whose findings the engine makes possible by renaming `async=` keywords before parsing.
ASYNC_KEYWORD_RULE = "VM405"


def _legacy_type(*more: str) -> str:
    """A legacy type's name (`FloatTensor`, ...) or ``more`` after `Tensor`, as a search that starts
    with a literal (as fast as `str.find`): each alternative looks back at a fixed width."""
    kinds = LEGACY_TYPE_NAMES[len("(?:") : -len(")Tensor")].split("|")
    return "Tensor(?:" + "|".join([*(rf"(?<=\b{kind}Tensor)\b" for kind in kinds), *more]) + ")"


# The linear-algebra names PyTorch removed that no other library uses (VM403).
_REMOVED_LINALG = r"gesv|trtrs|gels|potr[fsi]|pstrf|btrifact|btrifact_with_info|btrisolve|btriunpack|symeig"

ALL_RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "VM001",
        "varmigrate.rules.legacy_variable_call",
        "LegacyVariableCall",
        "`Variable(...)` is deprecated and detaches its argument",
        fix_availability="sometimes",
    ),
    RuleSpec(
        "VM002",
        "varmigrate.rules.legacy_volatile",
        "LegacyVolatile",
        VOLATILE_MESSAGE,
        requires=("torch",),
        triggers=("volatile",),
    ),
    RuleSpec(
        "VM003",
        "varmigrate.rules.volatile_parameter",
        "VolatileParameter",
        "`volatile` has had no effect since PyTorch 0.4: remove the parameter and its arguments by hand",
        requires=("torch",),
        triggers=("volatile",),
    ),
    RuleSpec(
        "VM101",
        "varmigrate.rules.legacy_variable_type_check",
        "LegacyVariableTypeCheck",
        "`isinstance(x, Variable)` checks for `torch.Tensor` through a deprecated shim",
        fix_availability="sometimes",
    ),
    RuleSpec(
        "VM102",
        "varmigrate.rules.legacy_variable_annotation",
        "LegacyVariableAnnotation",
        "`Variable` used as a type: no value has had this type since PyTorch 0.4",
        fix_availability="always",
    ),
    RuleSpec(
        "VM103",
        "varmigrate.rules.legacy_variable_reference",
        "LegacyVariableReference",
        "`Variable` used as a value: it is a deprecated shim that detaches tensors",
    ),
    RuleSpec(
        "VM201",
        "varmigrate.rules.data_index_zero",
        "DataIndexZero",
        "`.data[0]` raises `IndexError` if the tensor is 0-dim, as losses now are: use `.item()`",
        fix_availability="sometimes",
        requires=("torch",),
        triggers=(".data",),
        pattern=r"\.data\s*\[\s*0\s*\]",
        local=True,
    ),
    RuleSpec(
        "VM202",
        "varmigrate.rules.numpy_index_zero",
        "NumpyIndexZero",
        "`.numpy()[0]` raises `IndexError` if the tensor is 0-dim, as losses now are: use `.item()`",
        fix_availability="sometimes",
        requires=("torch", ".numpy("),
        pattern=r"\.numpy\(\s*\)\s*\[\s*0\s*\]",
    ),
    # -- VM3xx: legacy typed constructors and types (off by default, like VM41x) ------------------------
    RuleSpec(
        "VM301",
        "varmigrate.rules.legacy_tensor_constructor",
        "LegacyTensorConstructor",
        "legacy typed constructor: build tensors with `torch.tensor` / `torch.empty` and `dtype=`",
        fix_availability="sometimes",
        default=False,
        requires=("torch", "Tensor"),
        # A typed name (`FloatTensor`), or a call of something spelled `Tensor` (`torch.Tensor(3)`, an
        # alias): `torch.Tensor` in annotations and `isinstance` checks alone does not make a file pass.
        pattern=_legacy_type(r"(?<!\wTensor)\s*\("),
        aliased_by=LEGACY_TYPE_ALIAS,
    ),
    RuleSpec(
        "VM302",
        "varmigrate.rules.legacy_type_conversion",
        "LegacyTypeConversion",
        "`.type(torch.FloatTensor)` converts through a legacy tensor type: use a dtype",
        fix_availability="sometimes",
        default=False,
        requires=("torch", "Tensor", ".type"),
        # Every finding spells a typed name: in its argument, in a string, or where its alias is bound.
        pattern=_legacy_type(),
        statements=r"\.type\s*\(",
    ),
    RuleSpec(
        "VM303",
        "varmigrate.rules.legacy_tensor_new",
        "LegacyTensorNew",
        "`.new(...)` is the legacy constructor: use `new_empty`, `new_tensor`, `new_zeros` or `new_full`",
        fix_availability="sometimes",
        # `new` is a common method name (`hashlib.new`, `Image.new`): chosen explicitly, as VM41x.
        default=False,
        requires=("torch", ".new("),
        pattern=r"\.new\(",
    ),
    RuleSpec(
        "VM401",
        "varmigrate.rules.backward_retain_variables",
        "BackwardRetainVariables",
        "`retain_variables=` was removed in PyTorch 0.4 and raises `TypeError`: use `retain_graph=`",
        fix_availability="sometimes",
        requires=("torch",),
        triggers=("retain_variables",),
    ),
    RuleSpec(
        "VM402",
        "varmigrate.rules.tensor_dataset_keywords",
        "TensorDatasetKeywords",
        "`TensorDataset(data_tensor=..., target_tensor=...)` raises `TypeError` since PyTorch 0.4: "
        "pass the tensors positionally",
        fix_availability="sometimes",
        # A call of torch's `TensorDataset` spells its name somewhere (an import, `data.TensorDataset`,
        # the call itself); `target_tensor` alone is a common variable name (three of torch's modules).
        requires=("torch", "TensorDataset"),
        triggers=("data_tensor", "target_tensor"),
    ),
    RuleSpec(
        "VM403",
        "varmigrate.rules.removed_linalg_function",
        "RemovedLinalgFunction",
        "a linear-algebra function PyTorch removed (`AttributeError` or `RuntimeError` today)",
        fix_availability="sometimes",
        requires=("torch",),
        # A search that starts with a literal costs about as much as `str.find`: files are looked at
        # where they spell `torch.` and a removed name; there, other spellings (`th.potrf`, `a.potrf()`)
        # are found too.
        pattern=r"torch\.(?:" + _REMOVED_LINALG + r"|eig|solve|lstsq|matrix_rank)\b",
        statements=r"\b(?:" + _REMOVED_LINALG + r")\b|torch\.(?:eig|solve|lstsq|matrix_rank)\b",
    ),
    RuleSpec(
        "VM404",
        "varmigrate.rules.legacy_autograd_function",
        "LegacyAutogradFunction",
        LEGACY_FUNCTION_MESSAGE,
        requires=("torch", "Function", "def forward(self"),
        # Files with a class whose base is named `Function` and a `def forward(self` in its body (the
        # lines after it, up to one at its own indentation); in them, those classes and their `forward`.
        pattern=r"(?m)^([ \t]*)class\s+\w+\s*\([^)]*\bFunction\b[^\n]*(?:\n(?!\1\S)[^\n]*)*?"
        r"\n\1[ \t]+def\s+forward\s*\(\s*self\b",
        statements=r"class\s+\w+\s*\([^)]*\bFunction\b|\bdef\s+forward\b",
    ),
    RuleSpec(
        ASYNC_KEYWORD_RULE,
        "varmigrate.rules.async_keyword_argument",
        "AsyncKeywordArgument",
        "`async=` is a syntax error since Python 3.7: PyTorch 0.4 renamed it `non_blocking=`",
        fix_availability="always",
        requires=("torch", "async"),
        # `(` or `,`, maybe a line break, then `async=`; spelled to start with the literal, which makes
        # the search several times faster (a space before it is let through: the parse decides).
        pattern=r"async(?<=[(,\s]async)\s*=(?!=)",
        # The engine analyses such a module with the keywords renamed (`engine.parsing`).
        statements=r"\bnon_blocking\s*=",
    ),
    # -- VM410-VM419: deprecated aliases of the 0.3 -> 2.x upgrade ---------------------------------------
    RuleSpec(
        "VM410",
        "varmigrate.rules.functional_activation_alias",
        "FunctionalActivationAlias",
        "`F.sigmoid` and `F.tanh` are deprecated aliases of `torch.sigmoid` and `torch.tanh`",
        fix_availability="sometimes",
        default=False,
        # Every way of reaching `torch.nn.functional` spells "functional".
        requires=("torch", "functional"),
        triggers=("sigmoid", "tanh"),
    ),
    RuleSpec(
        "VM411",
        "varmigrate.rules.init_without_underscore",
        "InitWithoutUnderscore",
        "`nn.init` functions without a trailing underscore are deprecated: use `xavier_uniform_` etc.",
        fix_availability="sometimes",
        default=False,
        # Every way of reaching `torch.nn.init` spells the word "init".
        requires=("torch",),
        requires_words=("init",),
        triggers=tuple(sorted(name.rpartition(".")[2] for name in INIT_WITHOUT_UNDERSCORE)),
    ),
    RuleSpec(
        "VM412",
        "varmigrate.rules.clip_grad_norm_without_underscore",
        "ClipGradNormWithoutUnderscore",
        "`clip_grad_norm` is deprecated: use `clip_grad_norm_`",
        fix_availability="sometimes",
        default=False,
        # Every way of reaching `torch.nn.utils` spells "utils".
        requires=("torch", "utils"),
        triggers=("clip_grad_norm",),
    ),
    RuleSpec(
        "VM413",
        "varmigrate.rules.legacy_reduction_flags",
        "LegacyReductionFlags",
        "`size_average=` and `reduce=` are deprecated: use `reduction=`",
        fix_availability="sometimes",
        default=False,
        requires=("torch",),
        triggers=("size_average", "reduce"),
        # Every finding passes one of them as a keyword; `functools.reduce(...)` does not.
        pattern=r"\b(?:size_average|reduce)\s*=(?!=)",
    ),
    RuleSpec(
        "VM414",
        "varmigrate.rules.implicit_softmax_dim",
        "ImplicitSoftmaxDim",
        "softmax without `dim` picks dim 0 for 0-, 1- and 3-dim input, else 1: pass `dim=`",
        default=False,
        requires=("torch",),
        triggers=("softmax", "log_softmax", "softmin", "Softmax", "LogSoftmax", "Softmin"),
    ),
)
# What runs when no `select` is given (see `RuleSpec.default`).
DEFAULT_RULES: tuple[RuleSpec, ...] = tuple(rule for rule in ALL_RULES if rule.default)

__all__ = [
    "ALL_RULES",
    "ASYNC_KEYWORD_RULE",
    "DEFAULT_RULES",
    "RULES_DOCS_URL",
    "FixAvailability",
    "RuleSpec",
    "UnknownRuleError",
    "kebab",
    "rule_by_code",
    "select_rules",
]


class UnknownRuleError(ValueError):
    """A selector that matches no rule."""


def _matches(rule: RuleSpec, selector: str) -> bool:
    selector = selector.strip()
    if selector.upper() == "ALL":
        return True
    return rule.code.startswith(selector.upper()) or rule.name() == selector.lower()


def _expand(selectors: Iterable[str]) -> set[RuleSpec]:
    chosen: set[RuleSpec] = set()
    for selector in selectors:
        found = {rule for rule in ALL_RULES if _matches(rule, selector)}
        if not found:
            raise UnknownRuleError(f"unknown rule selector: {selector!r}{_closest(selector)}")
        chosen |= found
    return chosen


def select_rules(select: Iterable[str] | None = None, ignore: Iterable[str] = ()) -> tuple[RuleSpec, ...]:
    """The rules chosen by ``select`` (the default ones when None) minus ``ignore``, in code order."""
    chosen = set(DEFAULT_RULES) if select is None else _expand(select)
    chosen -= _expand(ignore)
    return tuple(sorted(chosen, key=lambda rule: rule.code))


def rule_by_code(selector: str) -> RuleSpec:
    """The one rule named by a code or kebab name."""
    for rule in ALL_RULES:
        if rule.code == selector.upper() or rule.name() == selector.lower():
            return rule
    raise UnknownRuleError(f"unknown rule: {selector!r}{_closest(selector)}")


def _closest(selector: str) -> str:
    """`` (did you mean VM001?)`` when a rule's code or name is close to ``selector``."""
    import difflib

    names = {rule.code: rule.code for rule in ALL_RULES} | {rule.name(): rule.name() for rule in ALL_RULES}
    guess = selector.strip()
    close = difflib.get_close_matches(guess.upper(), list(names), n=1, cutoff=0.7)
    close = close or difflib.get_close_matches(guess.lower(), list(names), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""
