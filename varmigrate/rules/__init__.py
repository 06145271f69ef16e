"""The rule registry and rule selection by code, code prefix or kebab name."""

from __future__ import annotations

from collections.abc import Iterable

from varmigrate.rules._base import Rule
from varmigrate.rules.context import ModuleContext
from varmigrate.rules.data_index_zero import DataIndexZero
from varmigrate.rules.legacy_variable_annotation import LegacyVariableAnnotation
from varmigrate.rules.legacy_variable_call import LegacyVariableCall
from varmigrate.rules.legacy_variable_reference import LegacyVariableReference
from varmigrate.rules.legacy_variable_type_check import LegacyVariableTypeCheck
from varmigrate.rules.legacy_volatile import LegacyVolatile

ALL_RULES: tuple[type[Rule], ...] = (
    LegacyVariableCall,
    LegacyVolatile,
    LegacyVariableTypeCheck,
    LegacyVariableAnnotation,
    LegacyVariableReference,
    DataIndexZero,
)

__all__ = ["ALL_RULES", "ModuleContext", "Rule", "UnknownRuleError", "rule_by_code", "select_rules"]


class UnknownRuleError(ValueError):
    """A selector that matches no rule."""


def _matches(rule: type[Rule], selector: str) -> bool:
    selector = selector.strip()
    if selector.upper() == "ALL":
        return True
    return rule.code.startswith(selector.upper()) or rule.name() == selector.lower()


def _expand(selectors: Iterable[str]) -> set[type[Rule]]:
    chosen: set[type[Rule]] = set()
    for selector in selectors:
        found = {rule for rule in ALL_RULES if _matches(rule, selector)}
        if not found:
            raise UnknownRuleError(f"unknown rule selector: {selector!r}")
        chosen |= found
    return chosen


def select_rules(select: Iterable[str] | None = None, ignore: Iterable[str] = ()) -> tuple[type[Rule], ...]:
    """The rules chosen by ``select`` (all when None) minus ``ignore``, in code order."""
    chosen = set(ALL_RULES) if select is None else _expand(select)
    chosen -= _expand(ignore)
    return tuple(sorted(chosen, key=lambda rule: rule.code))


def rule_by_code(selector: str) -> type[Rule]:
    """The one rule named by a code or kebab name."""
    for rule in ALL_RULES:
        if rule.code == selector.upper() or rule.name() == selector.lower():
            return rule
    raise UnknownRuleError(f"unknown rule: {selector!r}")
