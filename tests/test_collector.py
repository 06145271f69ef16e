"""The garbage collector while a run works: its youngest generation let grow (`YOUNG_OBJECTS`), in this
process and in the workers, and put back as it was afterwards; a collector someone disabled stays so."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from varmigrate.engine.settings import Settings
from varmigrate.pipeline import Job
from varmigrate.pipeline.batch import YOUNG_OBJECTS, _second_stage, fewer_collections, processing
from varmigrate.pipeline.workers import WorkerPool

LEGACY = "import torch\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2))\n"


@pytest.fixture
def default_thresholds() -> Iterator[tuple[int, int, int]]:
    """CPython's default thresholds for the test, and whatever the process had back after it."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*before)


def test_a_run_lets_the_young_generation_grow_and_puts_it_back(
    tmp_path: Path, default_thresholds: tuple[int, int, int]
) -> None:
    path = tmp_path / "legacy.py"
    path.write_text(LEGACY)
    seen = []
    with processing([(path, Job(Settings()))], workers=0) as batch:
        seen.append(gc.get_threshold())
        results = list(batch)
        seen.append(gc.get_threshold())
    assert [d.code for d in results[0].diagnostics] == ["VM001"]
    assert seen == [(YOUNG_OBJECTS, 10, 10)] * 2
    assert gc.get_threshold() == default_thresholds


def test_a_run_that_needs_no_libcst_puts_it_back_too(
    tmp_path: Path, default_thresholds: tuple[int, int, int]
) -> None:
    path = tmp_path / "clean.py"
    path.write_text("import torch\nx = torch.ones(2)\n")
    with processing([(path, Job(Settings()))]) as batch:
        assert gc.get_threshold()[0] == YOUNG_OBJECTS
        assert not batch.pending
    assert gc.get_threshold() == default_thresholds


def test_the_second_stage_alone_puts_it_back(default_thresholds: tuple[int, int, int]) -> None:
    result, _ = _second_stage(LEGACY.encode(), "legacy.py", Job(Settings()))
    assert [d.code for d in result.diagnostics] == ["VM001"]
    assert gc.get_threshold() == default_thresholds


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers")
def test_forked_workers_inherit_it(default_thresholds: tuple[int, int, int]) -> None:
    with fewer_collections(), WorkerPool(None, 1, gc.get_threshold) as pool:
        pool.start()
        pool.submit(1)
        assert pool.result(1) == (YOUNG_OBJECTS, 10, 10)
    assert gc.get_threshold() == default_thresholds


@pytest.mark.parametrize("thresholds", [(0, 10, 10), (YOUNG_OBJECTS * 2, 5, 5)])
def test_a_collector_set_to_collect_less_is_left_alone(
    thresholds: tuple[int, int, int], default_thresholds: tuple[int, int, int]
) -> None:
    gc.set_threshold(*thresholds)
    with fewer_collections():
        assert gc.get_threshold() == thresholds
    assert gc.get_threshold() == thresholds
