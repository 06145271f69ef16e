"""varmigrate: a linter and exact codemod for Variable-era PyTorch code.

The small public API: :func:`check_source` and :func:`fix_source` work on one module's text.
"""

from __future__ import annotations

__version__ = "0.1.0"

from varmigrate.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, RuntimeCheck
from varmigrate.engine import FixResult, Settings, SourceParseError, check_source, fix_source

__all__ = [
    "Applicability",
    "Diagnostic",
    "Edit",
    "Fix",
    "FixResult",
    "Location",
    "RuntimeCheck",
    "Settings",
    "SourceParseError",
    "__version__",
    "check_source",
    "fix_source",
]
