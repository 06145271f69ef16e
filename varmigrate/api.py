"""The Python API for files and directories: :func:`check_paths`, what ``varmigrate check`` reports."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from varmigrate.config import Overrides, load_configuration
from varmigrate.model import Applicability, Diagnostic, FileError
from varmigrate.pipeline import Job, prepare
from varmigrate.sources.discovery import discover


@dataclass(frozen=True)
class CheckedFile:
    """The findings in one file, sorted by position, or the errors that kept it from being checked."""

    path: str
    diagnostics: tuple[Diagnostic, ...] = ()
    errors: tuple[FileError, ...] = ()
    # The least trustworthy fix `varmigrate fix` would apply with the same settings.
    threshold: Applicability = Applicability.SAFE

    @property
    def fixable(self) -> tuple[Diagnostic, ...]:
        """The findings that ``varmigrate fix`` (with the same ``unsafe_fixes``) would fix."""
        return tuple(d for d in self.diagnostics if d.fix_for(self.threshold) is not None)


def check_paths(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    unsafe_fixes: bool | None = None,
    config: str | os.PathLike[str] | bool = True,
) -> list[CheckedFile]:
    """Check files and directories as ``varmigrate check PATHS`` does; nothing is written.

    Directories are walked (``.py`` and ``.ipynb`` files, honouring the configured excludes and
    .gitignore); files named directly are checked whatever their name. ``select`` replaces the
    configured selection and ``ignore`` adds to the configured ignores, as ``--select``/``--ignore`` do;
    ``unsafe_fixes`` (None: as configured) decides which findings count as :attr:`CheckedFile.fixable`.
    ``config``: True reads the configuration file found from the working directory, as the command line
    does; False reads none (``--isolated``); a path reads exactly that file (``--config``).

    Returns one :class:`CheckedFile` per path that could not be used, then one per file checked, in
    the order the command line reports them. Raises :class:`~varmigrate.config.ConfigError` for an
    unusable configuration file and :class:`~varmigrate.rules.UnknownRuleError` for an unknown selector
    (both are ``ValueError``).
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    configuration = load_configuration(
        config=None if isinstance(config, bool) else config,
        isolated=config is False,
        overrides=Overrides(select=select, ignore=ignore, unsafe_fixes=unsafe_fixes),
    )
    found = discover(
        [Path(path) for path in paths],
        force_exclude=configuration.force_exclude,
        respect_gitignore=configuration.respect_gitignore,
        excluder=configuration.excluder(),
    )
    checked = [CheckedFile(error.path, errors=(error,)) for error in found.errors]
    items = [(path, Job(configuration.settings_for(path))) for path in found.files]
    # One batch, so that the files see each other's modules (the project view), as the command line does.
    for (_, job), result in zip(items, prepare(items), strict=True):
        threshold = job.settings.threshold
        checked.append(CheckedFile(result.path, tuple(result.diagnostics), tuple(result.errors), threshold))
    return checked


__all__ = ["CheckedFile", "check_paths"]
