"""The pipeline for files: read, run the engine (or the notebook layer), write; many files in two stages.

Path in, result out: what to do comes in a :class:`Job`, what was found and done goes back in a
:class:`FileResult` (``job.py``). One file's bytes go through :func:`process_bytes` (``single.py``);
many files through :func:`processing` (``batch.py``), whose second stage runs in worker processes
(``workers.py``) so that one file can never stop the others.

Nothing here imports LibCST, ``multiprocessing`` or rich until a file needs it: a run that the first
stage settles starts in milliseconds.
"""

from __future__ import annotations

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
