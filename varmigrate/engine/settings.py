"""What the engine is asked to do: which rules, how far fixes may go, which unsafe fixes a run proved."""

from __future__ import annotations

from dataclasses import dataclass

from varmigrate.model import Applicability, Location
from varmigrate.rules import ALL_RULES, RuleSpec


@dataclass(frozen=True)
class Settings:
    """What to run and how far fixes may go."""

    rules: tuple[RuleSpec, ...] = ALL_RULES
    unsafe_fixes: bool = False
    # Findings, as (code, start) in the source given to `fix_source`, whose UNSAFE fix a run of the
    # program has shown to be exact (see `RuntimeCheck`): they get that fix even without `unsafe_fixes`.
    verified: frozenset[tuple[str, Location]] = frozenset()

    @property
    def threshold(self) -> Applicability:
        """The least trustworthy applicability that may be applied."""
        return Applicability.UNSAFE if self.unsafe_fixes else Applicability.SAFE
