"""Doctest examples in the docstrings of `.py` files: found as doctest finds them, analysed with the module's
code as one program, fixed in place with every other byte unchanged, at the file's own positions. Real
files through the real pipeline and engine."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from varmigrate.engine import Settings
from varmigrate.model import Applicability
from varmigrate.pipeline import Job, Mode, process_bytes
from varmigrate.pipeline.job import FileResult

CASES = Path(__file__).parent.parent / "fixtures" / "doctests"
NAMES = sorted(path.name for path in CASES.iterdir() if (path / "input.py").exists())


def run(data: bytes, mode: Mode = Mode.CHECK, settings: Settings | None = None) -> tuple[FileResult, bytes | None]:
    return process_bytes(data, "input.py", Job(settings or Settings(), mode))


def rendered(result: FileResult) -> str:
    threshold = Settings().threshold
    return "".join(
        f"{d.start}: {d.code}{' [*]' if d.fix_for(threshold) else ''} {d.message}\n" for d in result.diagnostics
    ) + "".join(f"{e.location or '-'}: error: {e.message}\n" for e in result.errors)


def test_the_cases_include_the_negative_ones() -> None:
    assert {"tensorflow_variable", "plain_text_docstring", "crlf", "escapes_and_tabs"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_docstring_fixtures(name: str, update_fixtures: bool) -> None:
    """Each folder: input.py; diagnostics.txt (what check reports); expected.py (absent: fix changes nothing);
    a second fix changes nothing."""
    folder = CASES / name
    data = (folder / "input.py").read_bytes()
    checked, _ = run(data)
    fixed, new = run(data, Mode.FIX)
    if update_fixtures:
        (folder / "diagnostics.txt").write_text(rendered(checked))
        if new is not None:
            (folder / "expected.py").write_bytes(new)
    assert rendered(checked) == (folder / "diagnostics.txt").read_text()
    expected = folder / "expected.py"
    if not expected.exists():
        assert new is None
        return
    assert new == expected.read_bytes()
    assert new is not None
    compile(new, str(expected), "exec")
    assert run(new, Mode.FIX)[1] is None
    # What fix reports as left is what check finds in the fixed file.
    assert rendered(fixed) == rendered(run(new)[0])
