"""A rule as the catalog knows it before any file is parsed (:class:`RuleSpec`): code, name, message,
prefilter, and where its visitor lives. Standard library only, like the catalog (``varmigrate.rules``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Literal, NamedTuple

from varmigrate.rules.torch_api import alias_names

if TYPE_CHECKING:
    from varmigrate.rules._base import Rule
    from varmigrate.rules.context import ModuleContext

FixAvailability = Literal["always", "sometimes", "never"]


def kebab(name: str) -> str:
    """``LegacyVariableCall`` -> ``legacy-variable-call``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


# The published documentation of every rule: `varmigrate rule --all`, kept in docs/rules.md.
RULES_DOCS_URL = "https://github.com/varmigrate/varmigrate/blob/main/docs/rules.md"


class RuleSpec(NamedTuple):
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
    # Whether a finding of the rule is a node its `pattern` matches on one line, and everything about it
    # (its fixes too) follows from that node, the nodes around it and the names the module binds: what a
    # fix changes elsewhere in the module changes nothing about it. The fixer then moves such findings
    # to the fixed text instead of analysing it again (`fixer._carried_over`).
    local: bool = False

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
        return self._replace(requires=(), requires_words=(), triggers=triggers)

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
