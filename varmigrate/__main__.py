"""``python -m varmigrate``."""

from __future__ import annotations

from varmigrate.cli import script

if __name__ == "__main__":
    raise SystemExit(script())
