"""varmigrate: a linter and exact codemod for Variable-era PyTorch code.

The public API: :func:`check_source` and :func:`fix_source` work on one module's text,
:func:`check_paths` on files and directories (with the project's configuration, like the command line).
"""

from __future__ import annotations

__version__ = "0.1.0"
# Where to read about varmigrate (SARIF's `informationUri`).
INFORMATION_URI = "https://pypi.org/project/varmigrate/"

from varmigrate.api import CheckedFile, check_paths  # noqa: E402
from varmigrate.config import ConfigError  # noqa: E402
from varmigrate.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, RuntimeCheck  # noqa: E402
from varmigrate.engine import FixResult, Settings, SourceParseError, check_source, fix_source  # noqa: E402
from varmigrate.files import FileError  # noqa: E402
from varmigrate.rules import UnknownRuleError  # noqa: E402

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
