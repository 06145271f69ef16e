"""The version, in a module of its own so that anything may import it without loading the package's API."""

from __future__ import annotations

__version__ = "0.4.10"
# Where to read about varmigrate (SARIF's `informationUri`).
INFORMATION_URI = "https://pypi.org/project/varmigrate/"
