"""The pipeline for files: read, run the engine (or the notebook layer), write; many files in two stages.

Path in, result out: what to do comes in a :class:`Job`, what was found and done goes back in a
:class:`FileResult` (``job.py``). One file's bytes go through :func:`process_bytes` (``single.py``);
many files through :func:`processing` (``batch.py``), whose second stage runs in worker processes
(``workers.py``) so that one file can never stop the others.

Nothing here imports LibCST, ``multiprocessing`` or rich until a file needs it, nor the project view
until a file spells what it follows: a run that the first stage settles starts in milliseconds. The
names below load their modules on first use.
"""

from __future__ import annotations

from varmigrate._lazy import lazy_dir, lazy_getattr

# Not `typing.TYPE_CHECKING`: mypy reads the block, and nothing needs it at run time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from varmigrate.pipeline.batch import (
        DEFAULT_TIMEOUT,
        POOL_THRESHOLD_BYTES,
        Batch,
        pool_size,
        prepare,
        process_file,
        process_files,
        processing,
    )
    from varmigrate.pipeline.job import FileResult, Job, Mode, ResultCache
    from varmigrate.pipeline.project import in_project
    from varmigrate.pipeline.single import plural_findings, process_bytes, unified_diff

# Public name -> the module that defines it.
_EXPORTS = {
    "DEFAULT_TIMEOUT": "varmigrate.pipeline.batch",
    "POOL_THRESHOLD_BYTES": "varmigrate.pipeline.batch",
    "Batch": "varmigrate.pipeline.batch",
    "pool_size": "varmigrate.pipeline.batch",
    "prepare": "varmigrate.pipeline.batch",
    "process_file": "varmigrate.pipeline.batch",
    "process_files": "varmigrate.pipeline.batch",
    "processing": "varmigrate.pipeline.batch",
    "FileResult": "varmigrate.pipeline.job",
    "Job": "varmigrate.pipeline.job",
    "Mode": "varmigrate.pipeline.job",
    "ResultCache": "varmigrate.pipeline.job",
    "in_project": "varmigrate.pipeline.project",
    "plural_findings": "varmigrate.pipeline.single",
    "process_bytes": "varmigrate.pipeline.single",
    "unified_diff": "varmigrate.pipeline.single",
}


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())

__dir__ = lazy_dir(_EXPORTS, globals())


__all__ = [
    "DEFAULT_TIMEOUT",
    "POOL_THRESHOLD_BYTES",
    "Batch",
    "FileResult",
    "Job",
    "Mode",
    "ResultCache",
    "in_project",
    "plural_findings",
    "pool_size",
    "prepare",
    "process_bytes",
    "process_file",
    "process_files",
    "processing",
    "unified_diff",
]
