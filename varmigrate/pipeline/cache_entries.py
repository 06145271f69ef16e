"""Which results the cache may hold and serve: the check result of a file's content, path-free."""

from __future__ import annotations

from varmigrate.pipeline.job import FileResult, Job, Mode, ResultCache


def store(cache: ResultCache, key: str, result: FileResult, job: Job) -> None:
    """Cache ``result`` under ``key`` when it is the check result of the file's content now on disk."""
    entry = entry_for(result, job)
    if entry is not None:
        cache.put(key, entry)


def entry_for(result: FileResult, job: Job) -> FileResult | None:
    """``result`` as the check result of the file's content now on disk, when it provably is that."""
    if result.internal_error or result.warnings or (result.changed and not result.written):
        return None
    if job.mode is not Mode.CHECK:
        # What fixing left (or what --add-noqa saw) is what `check` reports on the content now on disk
        # only when nothing more would be done to it.
        if job.mode is Mode.ADD_NOQA and result.changed:
            return None
        if not reusable(result, job):
            return None
    return FileResult(
        "",
        diagnostics=list(result.diagnostics),
        errors=[error._replace(path="") for error in result.errors],
        lines=dict(result.lines),
    )


def reusable(entry: FileResult, job: Job) -> bool:
    """Whether the check result ``entry`` is also what ``job`` gives: it would change nothing."""
    if job.mode is Mode.CHECK:
        return True
    if job.mode is Mode.ADD_NOQA:
        return not entry.diagnostics
    threshold = job.settings.threshold
    return all(diagnostic.fix_for(threshold) is None for diagnostic in entry.diagnostics)


def named(entry: FileResult, name: str) -> FileResult:
    """A copy of the path-free ``entry`` for the file ``name``."""
    if not (entry.diagnostics or entry.errors or entry.warnings):
        # Most files of a large tree; a copy costs more than the rest of a cache hit.
        return FileResult(name, lines=dict(entry.lines))
    import copy  # only for entries with findings: a clean run does not load it

    found = copy.copy(entry)
    found.path = name
    found.diagnostics = list(entry.diagnostics)
    found.errors = [error._replace(path=name) for error in entry.errors]
    found.lines = dict(entry.lines)
    found.warnings = [warning._replace(path=name) for warning in entry.warnings]
    return found
