"""The engine: parse a module, run the selected rules on one metadata wrapper, apply fixes to a fixed point.

The engine knows rules and LibCST; it knows nothing about files, paths or terminals. Importing this
package is cheap: :mod:`.settings` and :mod:`.prefilter` use the standard library only, and the names
below that need LibCST load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from varmigrate._lazy import lazy_getattr
from varmigrate.engine.prefilter import could_match
from varmigrate.engine.settings import Settings
from varmigrate.model import FIX_REFUSED, INTERNAL_ERROR, SourceParseError

if TYPE_CHECKING:
    from varmigrate.engine.analysis import check_source, lint
    from varmigrate.engine.fixer import MAX_ROUNDS, FixResult, fix_source
    from varmigrate.engine.parsing import parse

_LAZY = {
    "check_source": "varmigrate.engine.analysis",
    "lint": "varmigrate.engine.analysis",
    "MAX_ROUNDS": "varmigrate.engine.fixer",
    "FixResult": "varmigrate.engine.fixer",
    "fix_source": "varmigrate.engine.fixer",
    "parse": "varmigrate.engine.parsing",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = [
    "FIX_REFUSED",
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
