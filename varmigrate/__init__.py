"""varmigrate: a linter and exact codemod for Variable-era PyTorch code.

The public API: :func:`check_source` and :func:`fix_source` work on one module's text,
:func:`check_paths` on files and directories (with the project's configuration, like the command line).

``import varmigrate`` is cheap: the names below are loaded from their modules (and LibCST with them)
the first time they are used.
"""

from __future__ import annotations

from varmigrate._lazy import lazy_dir, lazy_getattr
from varmigrate._version import INFORMATION_URI, __version__

# Not `typing.TYPE_CHECKING`: importing `typing` would cost every run milliseconds (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from varmigrate.api import CheckedFile, check_paths
    from varmigrate.config import ConfigError
    from varmigrate.engine import FixResult, Settings, check_source, fix_source
    from varmigrate.model import (
        Applicability,
        Diagnostic,
        Edit,
        FileError,
        Fix,
        Location,
        RuntimeCheck,
        SourceParseError,
    )
    from varmigrate.rules import UnknownRuleError

# Public name -> the module that defines it.
_EXPORTS = {
    "CheckedFile": "varmigrate.api",
    "check_paths": "varmigrate.api",
    "ConfigError": "varmigrate.config",
    "FixResult": "varmigrate.engine",
    "Settings": "varmigrate.engine",
    "SourceParseError": "varmigrate.model",
    "check_source": "varmigrate.engine",
    "fix_source": "varmigrate.engine",
    "Applicability": "varmigrate.model",
    "Diagnostic": "varmigrate.model",
    "Edit": "varmigrate.model",
    "FileError": "varmigrate.model",
    "Fix": "varmigrate.model",
    "Location": "varmigrate.model",
    "RuntimeCheck": "varmigrate.model",
    "UnknownRuleError": "varmigrate.rules",
}


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())

__dir__ = lazy_dir(_EXPORTS, globals())


__all__ = [
    "INFORMATION_URI",
    "Applicability",
    "CheckedFile",
    "ConfigError",
    "Diagnostic",
    "Edit",
    "FileError",
    "Fix",
    "FixResult",
    "Location",
    "RuntimeCheck",
    "Settings",
    "SourceParseError",
    "UnknownRuleError",
    "__version__",
    "check_paths",
    "check_source",
    "fix_source",
]
