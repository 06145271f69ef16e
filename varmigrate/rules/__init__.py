"""The rule catalog: what is known of each rule before any file is parsed, and selection by code or name.

This module imports only the standard library, so that configuration, selection, the text prefilter and
``varmigrate rule`` cost nothing: a rule's implementation (a LibCST visitor in a module of its own) is
imported by :meth:`RuleSpec.load` when a file first needs it. A rule's documentation is its class
docstring, read from the module's source without importing it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Literal

from varmigrate.rules.torch_api import (
    INIT_WITHOUT_UNDERSCORE,
    LEGACY_FUNCTION_MESSAGE,
    LEGACY_TYPE_ALIAS,
    LEGACY_TYPE_NAMES,
    VOLATILE_MESSAGE,
    alias_names,
)

if TYPE_CHECKING:
    from varmigrate.rules._base import Rule
    from varmigrate.rules.context import ModuleContext

FixAvailability = Literal["always", "sometimes", "never"]

# The rule whose findings the engine makes possible by renaming `async=` keywords before parsing.
ASYNC_KEYWORD_RULE = "VM405"


def kebab(name: str) -> str:
    """``LegacyVariableCall`` -> ``legacy-variable-call``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


# The published documentation of every rule: `varmigrate rule --all`, kept in docs/rules.md.
RULES_DOCS_URL = "https://github.com/varmigrate/varmigrate/blob/main/docs/rules.md"


@dataclass(frozen=True)
class RuleSpec:
    """One rule as the catalog knows it: code, name, message, prefilter, and where its visitor lives."""

    code: str
    # The module and class of the implementation, a `Rule` subclass.
    module: str
    class_name: str
    message: str
    fix_availability: FixAvailability = "never"
    # Prefilter, run before any parse: a module can hold a finding only if its text contains every
    # string in `requires` and, outside strings and comments, one of the words in `triggers`. Every way
    # of reaching torch's `Variable` spells "autograd" somewhere.
    requires: tuple[str, ...] = ("torch", "autograd")
    # Words the text must also hold somewhere, strings included: for a required string that is part of
    # common longer words (`init` in `__init__`).
    requires_words: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ("Variable",)
    # Instead of `triggers`: a regular expression searched in the whole text, strings included (for
    # idioms that f-strings hold as often as code). It also marks the statements to analyse.
    pattern: str | None = None
    # Whether the rule runs when no `select` names it. The deprecated aliases (VM41x) and the legacy
    # typed constructors (VM3xx) still work on today's PyTorch and are everywhere in modern code too
    # (softmax, sigmoid, `reduce=`, `torch.Tensor(...)`): on torch's own tree the aliases made a default
    # check about 11 times as costly, so they are chosen explicitly (`--extend-select VM41`,
    # `--extend-select VM3`), as ruff leaves most of its rules to `select`.
    default: bool = True
    # Instead of `pattern`, to mark the statements to analyse (a text the engine rewrote before parsing).
    statements: str | None = None
    # A regular expression whose first group is a name that a statement binds to what the rule looks
    # for (`Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor`): statements that spell
    # such a name are analysed too.
    aliased_by: str | None = None

    def name(self) -> str:
        """The rule's kebab-case name, derived from the class name."""
        return kebab(self.class_name)

    @property
    def url(self) -> str:
        """Where the rule's documentation is published (``docs/rules.md``, by its heading)."""
        return f"{RULES_DOCS_URL}#{self.name()}-{self.code.lower()}"

    def load(self) -> type[Rule]:
        """The rule's implementation (imports LibCST on first use)."""
        implementation: type[Rule] = getattr(importlib.import_module(self.module), self.class_name)
        return implementation

    def through_project(self, spellings: Iterable[str]) -> RuleSpec:
        """This rule for a module that torch reaches through its project's modules (`from model import *`).

        Its text need spell neither `torch` nor `autograd`, and `Variable` may be written ``spellings``.
        """
        triggers = self.triggers
        if "Variable" in triggers:
            triggers = tuple(sorted({*triggers, *spellings}))
        return replace(self, requires=(), requires_words=(), triggers=triggers)

    def statement_pattern(self, ctx: ModuleContext) -> str:
        """A regular expression found in the code of every top-level statement that may hold a finding."""
        if self.aliased_by is not None:
            names = sorted(alias_names(self.aliased_by, ctx.source))
            marked = self.statements or self.pattern or ""
            if names:
                marked += r"|\b(?:" + "|".join(re.escape(name) for name in names) + r")\b"
            return marked
        if self.statements is not None:
            return self.statements
        if self.pattern is not None:
            return self.pattern
        words = set(self.triggers)
        if "Variable" in words:
            words |= ctx.variable_spellings
        else:
            # A name imported under an alias (`sigmoid as sig`) is spelled by its alias where it is used.
            words |= ctx.spellings(self.triggers)
        return r"\b(?:" + "|".join(re.escape(word) for word in sorted(words)) + r")\b"

    @property
    def doc(self) -> str:
        """The rule's documentation: its class docstring, read without importing the module."""
        return _docstring(self.module, self.class_name)


@cache
def _docstring(module: str, class_name: str) -> str:
    import ast
    import importlib.util
    import inspect

    spec = importlib.util.find_spec(module)
    if spec is not None and spec.origin is not None and spec.origin.endswith(".py"):
        with open(spec.origin, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == class_name:
                return ast.get_docstring(node) or ""
    # Installed without sources (a zipped or compiled package): import it after all.
    return inspect.cleandoc(getattr(importlib.import_module(module), class_name).__doc__ or "")


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
        requires=("torch",),
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
