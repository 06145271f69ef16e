"""What `varmigrate verify` takes and gives: its options, the fixes it applied, and its result.

:mod:`.verify` runs the comparison; these types are what callers (the command line, the report, the
tests) hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from varmigrate.config import Configuration
from varmigrate.harness.compare import Comparison
from varmigrate.harness.evidence import SiteEvidence
from varmigrate.harness.runner import RunOutcome
from varmigrate.harness.tree import SourceFile
from varmigrate.model import Applicability, Location

IDENTICAL, DIVERGED, ERROR = "IDENTICAL", "DIVERGED", "ERROR"
EXIT_CODES = {IDENTICAL: 0, DIVERGED: 1, ERROR: 2}
INSTALL_HINT = (
    "varmigrate verify runs your code with PyTorch: install it with `pip install 'varmigrate[verify]'`"
)


# Generous: a training script may run for a while; a hung one must not hold CI forever.
DEFAULT_TIMEOUT = 30 * 60.0


class UsageError(Exception):
    """Options verify cannot act on."""


@dataclass(frozen=True)
class VerifyOptions:
    """Everything `varmigrate verify` is asked to do."""

    command: tuple[str, ...]
    paths: tuple[str, ...] = (".",)
    unsafe_fixes: bool = False
    write: bool = False
    baseline: str | None = None
    seed: int = 0
    output_format: str = "full"
    cwd: Path | None = None
    # What `check` and `fix` read besides `unsafe_fixes` (which is the field above): the rules, the
    # per-file ignores and the excludes, resolved in the working directory (None: the defaults).
    configuration: Configuration | None = None
    # Seconds each run may take; past it the command's process group is ended (None: no limit).
    timeout: float | None = DEFAULT_TIMEOUT
    compare_stdout: bool = False  # printed output (timings masked) decides the verdict too

    @property
    def threshold(self) -> Applicability:
        """The least trustworthy fix applied without evidence."""
        return Applicability.UNSAFE if self.unsafe_fixes else Applicability.SAFE


@dataclass(frozen=True)
class Rewrite:
    """One fix applied to the candidate (as found in the original source)."""

    file: str
    start: Location
    code: str
    title: str
    label: str  # safe, unsafe, verified

    def __str__(self) -> str:
        return f"{self.file}:{self.start} {self.code} {self.title} [{self.label}]"

    @property
    def beyond_safe(self) -> bool:
        """Whether `varmigrate fix`, which applies safe fixes, would not apply it (verified, unsafe)."""
        return self.label != Applicability.SAFE.label


@dataclass
class FileFix:
    """One file of the tree and what the candidate holds for it."""

    file: str
    original: SourceFile
    fixed: str
    rewrites: list[Rewrite] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the candidate differs from the original."""
        return self.fixed != self.original.text


@dataclass
class VerifyResult:
    """The outcome of one verify: verdict, runs, comparison, evidence, fixes, what was written."""

    options: VerifyOptions
    verdict: str = ERROR
    message: str | None = None
    failed_run: RunOutcome | None = None
    root: Path | None = None
    runs: list[RunOutcome] = field(default_factory=list)
    comparison: Comparison | None = None
    evidence: list[SiteEvidence] = field(default_factory=list)
    files: list[FileFix] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # With --baseline: the lines of the diverging call's file changed since the revision.
    changed: list[tuple[int, int]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 identical, 1 diverged, 2 could not compare."""
        return EXIT_CODES[self.verdict]

    @property
    def rewrites(self) -> list[Rewrite]:
        """Every fix applied to the candidate."""
        return [r for f in self.files for r in f.rewrites]

    @property
    def shim_fired(self) -> int:
        """How often the baseline's `.data[0]` / `.numpy()[0]` shim returned a number for a 0-dim tensor."""
        return sum(e.shim_fired for e in self.evidence)

    def rewrites_in(self, file: str | None) -> list[Rewrite]:
        """The fixes applied to ``file``."""
        return [r for r in self.rewrites if r.file == file]
