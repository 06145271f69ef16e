"""What the user sees: findings in every format, the summary, verify's report, and the exit codes."""

from __future__ import annotations

# The exit codes of every command (verify has its own meanings for 0, 1 and 2; see cli/verify.py).
EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
