"""A file that passed the first stage (see ``batch.py``): what the second stage needs of it, and its outcome.

In a module of its own, loaded when a file first passes: a run that the first stage settles never creates
the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from varmigrate.pipeline.job import FileResult, Job


@dataclass(eq=False)
class Task:
    """A file that passed the first stage: its bytes (read once), its job and its cache key."""

    path: Path
    name: str
    kind: str  # how the file is read: `sources.discovery.file_kind`
    data: bytes
    job: Job
    key: str | None
    # An earlier task with the same key (``check`` only): its result serves this file too.
    same_as: Task | None = None
    result: FileResult | None = None
    # The file's bytes once the run is done with it (the fixed ones, when written or shown as a diff).
    final: bytes | None = None
