"""What the engine is asked to do: which rules, how far fixes may go, which unsafe fixes a run proved."""

from __future__ import annotations

from typing import NamedTuple

from varmigrate.model import Applicability, Location, ProjectImports, RuntimeCheck
from varmigrate.rules import DEFAULT_RULES, RuleSpec


class Settings(NamedTuple):
    """What to run and how far fixes may go."""

    rules: tuple[RuleSpec, ...] = DEFAULT_RULES
    unsafe_fixes: bool = False
    # Findings, as (code, start) in the source given to `fix_source`, with the check a run of the program
    # showed to hold there (see `RuntimeCheck`): they get the UNSAFE or DISPLAY_ONLY fix that names that
    # check even without `unsafe_fixes`.
    verified: frozenset[tuple[str, Location, RuntimeCheck]] = frozenset()
    # What the other modules of the project bind in this one (see `in_project`).
    project: ProjectImports = ProjectImports()

    @property
    def threshold(self) -> Applicability:
        """The least trustworthy applicability that may be applied."""
        return Applicability.UNSAFE if self.unsafe_fixes else Applicability.SAFE

    def in_project(self, project: ProjectImports) -> Settings:
        """These settings for a module that ``project`` describes.

        Where torch reaches the module through the project's modules, its rules' prefilter asks the text
        for neither `torch` nor `autograd`, and takes the names `Variable` has there as its triggers.
        """
        if project == self.project:
            return self
        rules = self.rules
        if project.reaches_torch or project.variable:
            rules = tuple(rule.through_project(project.spellings) for rule in rules)
        return self._replace(rules=rules, project=project)
