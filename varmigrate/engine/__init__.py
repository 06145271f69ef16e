"""The engine: parse a module, run the selected rules on one metadata wrapper, apply fixes to a fixed point.

The engine knows rules and LibCST; it knows nothing about files, paths or terminals.
"""

from __future__ import annotations

from varmigrate.engine.analysis import Settings, check_source, lint
from varmigrate.engine.fixer import INTERNAL_ERROR, MAX_ROUNDS, FixResult, fix_source
from varmigrate.engine.parsing import SourceParseError, could_match, parse

__all__ = [
    "INTERNAL_ERROR",
    "MAX_ROUNDS",
    "FixResult",
    "Settings",
    "SourceParseError",
    "check_source",
    "could_match",
    "fix_source",
    "lint",
    "parse",
]
