"""Per-file ignores: rules not run on the files a .gitignore-style pattern matches.

Read from a configuration file's ``per-file-ignores`` and from ``--per-file-ignores`` (``config.py``); in a
module of its own, loaded only by a run that has some.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from varmigrate.sources.discovery import gitignore_spec

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

    from varmigrate.rules import RuleSpec


@dataclass(frozen=True)
class PerFileIgnore:
    """Rules not run on the files a .gitignore-style pattern matches (``!pattern``: on all others)."""

    pattern: str
    rules: frozenset[RuleSpec]
    spec: GitIgnoreSpec = field(compare=False, repr=False)
    negated: bool = False

    @classmethod
    def build(cls, pattern: str, rules: frozenset[RuleSpec]) -> PerFileIgnore:
        """The entry for ``pattern`` (as written in the file)."""
        negated = pattern.startswith("!")
        spec = gitignore_spec([pattern[1:] if negated else pattern])
        return cls(pattern, rules, spec, negated)

    def matches(self, relative: str) -> bool:
        """Whether the entry applies to a file at ``relative`` (POSIX, relative to the file's directory)."""
        return bool(self.spec.match_file(relative)) != self.negated


__all__ = ["PerFileIgnore"]
