"""Findings and their fixes: a :class:`Diagnostic`, its ranked :class:`Fix` es and their :class:`Edit` s.

Plain, frozen data, no LibCST, no terminals. Imported as ``varmigrate.model``'s names too (which loads this
module on first use: only a file that reaches the engine needs it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from varmigrate.model import Applicability, Location, RuntimeCheck


@dataclass(frozen=True)
class Edit:
    """Replace ``source[start_offset:end_offset]`` with ``content``."""

    content: str
    start: Location
    end: Location
    start_offset: int
    end_offset: int


@dataclass(frozen=True)
class Fix:
    """One way to resolve a finding: a titled, labelled set of non-overlapping edits."""

    title: str
    applicability: Applicability
    edits: tuple[Edit, ...]
    # Modules the edits refer to that the file may not import yet (e.g. ``torch``), or names, as
    # ``from torch.nn.init import normal_`` (an unused import of the name it replaces is renamed);
    # ``-torch.nn.functional.sigmoid``: the edits no longer refer to that import, which goes if unused.
    imports: tuple[str, ...] = ()
    # For an UNSAFE (or DISPLAY_ONLY) fix: the one run-time fact that would make it exact, when there is one.
    verified_by: RuntimeCheck | None = None

    def allowed(self, threshold: Applicability) -> bool:
        """Whether the fix may be applied when fixes down to ``threshold`` are allowed."""
        return self.applicability is not Applicability.DISPLAY_ONLY and self.applicability >= threshold


@dataclass(frozen=True)
class Diagnostic:
    """A finding: rule code, message, source range and ranked fixes (best first)."""

    code: str
    name: str
    message: str
    start: Location
    end: Location
    fixes: tuple[Fix, ...] = field(default=())
    # In a notebook: the 1-based position of the cell among all cells; rows and columns are the cell's.
    cell: int | None = None

    def fix_for(self, threshold: Applicability) -> Fix | None:
        """The first fix allowed at ``threshold``, if any."""
        for fix in self.fixes:
            if fix.allowed(threshold):
                return fix
        return None

    @property
    def shown_fix(self) -> Fix | None:
        """The fix to describe to the user when none applies: the first one, whatever its label."""
        return self.fixes[0] if self.fixes else None


__all__ = ["Diagnostic", "Edit", "Fix"]
