"""CPython's parse of a file, taken by the first stage to look for the shapes of findings, is kept for the
second stage when the file goes on to it: each file is parsed once by CPython, in this process or in a
worker forked after the first stage. Real files, real parses, a real forked pool."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from varmigrate.engine import prefilter
from varmigrate.engine.settings import Settings
from varmigrate.pipeline import Job
from varmigrate.pipeline.batch import prepare, processing

# Only rules with shapes can hold a finding here (`Variable`, `.data[0]`): the first stage parses it.
LEGACY = "import torch\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2))\ny = x.data[0]\n"
# The shapes settle this one: a dataset's own `self.data[0]` is no finding.
DATASET = "import torch\nclass D:\n    def first(self):\n        return self.data[0]\n"
# The rules about `volatile` have no shape: the first stage does not parse this one.
VOLATILE = "import torch\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2), volatile=True)\n"


@pytest.fixture(autouse=True)
def nothing_kept() -> Iterator[None]:
    prefilter.forget_trees()
    yield
    prefilter.forget_trees()


def _items(tmp_path: Path, texts: dict[str, str]) -> list[tuple[Path, Job]]:
    items = []
    for name, text in texts.items():
        path = tmp_path / name
        path.write_text(text)
        items.append((path, Job(Settings())))
    return items


def test_a_parse_is_kept_for_the_file_that_goes_on_and_taken_once(tmp_path: Path) -> None:
    batch = prepare(_items(tmp_path, {"legacy.py": LEGACY, "dataset.py": DATASET, "volatile.py": VOLATILE}))
    assert batch.pending == 2
    assert list(prefilter._KEPT) == [LEGACY]
    tree = prefilter._KEPT[LEGACY]
    results = list(batch)
    assert not prefilter._KEPT
    assert [[d.code for d in result.diagnostics] for result in results] == [
        ["VM001", "VM201"],
        [],
        ["VM001"],
    ]
    # The next parse of that text is CPython's own again.
    again = prefilter.parse_ast(LEGACY)
    assert again is not None
    assert again is not tree
    assert ast.dump(again) == ast.dump(tree)


def test_the_kept_tree_is_what_the_second_stage_parses(tmp_path: Path) -> None:
    prepare(_items(tmp_path, {"legacy.py": LEGACY}))
    kept = prefilter._KEPT[LEGACY]
    assert prefilter.parse_ast(LEGACY) is kept
    assert not prefilter._KEPT


def test_what_is_kept_is_bounded(tmp_path: Path) -> None:
    # Padding in a comment: the file stays one the first stage parses.
    large = LEGACY + "#" * (prefilter.KEPT_TREES_CHARACTERS // 2) + "\n"
    texts = {f"legacy_{index}.py": large.replace("x", f"x{index}") for index in range(3)}
    batch = prepare(_items(tmp_path, texts))
    assert batch.pending == 3
    assert len(prefilter._KEPT) == 1
    assert prefilter.kept_size() <= prefilter.KEPT_TREES_CHARACTERS


def test_a_new_batch_starts_with_none_kept(tmp_path: Path) -> None:
    prepare(_items(tmp_path, {"legacy.py": LEGACY}))
    other = LEGACY.replace("x", "z")
    prepare(_items(tmp_path, {"other.py": other}))
    assert list(prefilter._KEPT) == [other]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers")
def test_this_process_lets_go_once_the_workers_are_forked(tmp_path: Path) -> None:
    items = _items(tmp_path, {"legacy.py": LEGACY, "other.py": LEGACY.replace("x", "z")})
    with processing(items, workers=1) as batch:
        assert batch._pool is not None
        assert not prefilter._KEPT
        results = list(batch)
    assert [[d.code for d in result.diagnostics] for result in results] == [["VM001", "VM201"]] * 2
