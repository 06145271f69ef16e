"""What the pipeline is asked to do to a file (:class:`Job`, :class:`Mode`) and what it gives back
(:class:`FileResult`): plain, picklable data that the output layer renders and the cache stores."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, NamedTuple, Protocol

from varmigrate.engine.settings import Settings

if TYPE_CHECKING:
    from varmigrate.model import Diagnostic, FileError


class FileResult:
    """What checking or fixing one file found and did. Plain, picklable data."""

    path: str
    # Findings left in the file (after fixing, when fixing); internal errors are in ``errors``.
    diagnostics: list[Diagnostic]
    errors: list[FileError]
    # Fixes applied (or, with ``diff``, that would be applied), and how many of them each rule's
    # findings gave, by code.
    fixed: int
    fixed_codes: dict[str, int]
    # The file's bytes changed (or would change, with ``diff``).
    changed: bool
    written: bool
    # Unified diff of the fix, when asked for.
    diff: str
    # The source lines the diagnostics point at ((cell, row) -> text without its line break; the cell
    # is None outside notebooks), for display.
    lines: dict[tuple[int | None, int], str]
    # Lines that got a noqa directive or new codes in one (``check --add-noqa``).
    noqa_added: int
    # Things the user should know that are not errors (e.g. a finding no noqa comment fits).
    warnings: list[FileError]
    # Among the errors is a failure of varmigrate itself (a crash, a fix that did not parse): such a
    # result is never cached, so that the next run (or a fixed varmigrate) tries again.
    internal_error: bool

    def __init__(
        self,
        path: str,
        diagnostics: list[Diagnostic] | None = None,
        errors: list[FileError] | None = None,
        fixed: int = 0,
        fixed_codes: dict[str, int] | None = None,
        changed: bool = False,
        written: bool = False,
        diff: str = "",
        lines: dict[tuple[int | None, int], str] | None = None,
        noqa_added: int = 0,
        warnings: list[FileError] | None = None,
        internal_error: bool = False,
    ) -> None:
        self.path = path
        self.diagnostics = [] if diagnostics is None else diagnostics
        self.errors = [] if errors is None else errors
        self.fixed = fixed
        self.fixed_codes = {} if fixed_codes is None else fixed_codes
        self.changed = changed
        self.written = written
        self.diff = diff
        self.lines = {} if lines is None else lines
        self.noqa_added = noqa_added
        self.warnings = [] if warnings is None else warnings
        self.internal_error = internal_error

    # Field by field: the cache tells a clean result so (`Cache.put`), and tests compare results.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileResult):
            return NotImplemented
        return vars(self) == vars(other)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Mode(enum.Enum):
    """What a run does to files."""

    CHECK = "check"
    FIX = "fix"
    # Fix, but only show the diff: nothing is written.
    DIFF = "diff"
    # Suppress the findings with noqa comments on their lines instead of fixing them.
    ADD_NOQA = "add-noqa"

    @property
    def fixes(self) -> bool:
        """Whether the engine applies fixes (written, or shown as a diff)."""
        return self in (Mode.FIX, Mode.DIFF)

    @property
    def writes(self) -> bool:
        """Whether changed files are written back."""
        return self in (Mode.FIX, Mode.ADD_NOQA)


class Job(NamedTuple):
    """What to do with one file: which rules, and what to do with their findings."""

    settings: Settings = Settings()
    mode: Mode = Mode.CHECK


class ResultCache(Protocol):
    """Check results by file content and settings (``varmigrate.cache.Cache`` is the one on disk).

    An entry is the result ``check`` gives for the content: path-free (the pipeline names it), with no
    trace of fixing. Which entries a job may use, and which results may be stored, the pipeline decides.
    """

    def key(self, data: bytes, job: Job, kind: str) -> str | None:
        """The key of ``data`` read as ``kind`` (a suffix) under ``job`` (None: do not cache)."""

    def get(self, key: str) -> FileResult | None:
        """The entry stored under ``key``, or None."""

    def put(self, key: str, result: FileResult) -> None:
        """Store ``result`` under ``key`` (best effort: a cache that cannot be written is skipped)."""

    def flush(self) -> None:
        """Store what `put` has kept back so far (the pipeline calls it once a run is done)."""
