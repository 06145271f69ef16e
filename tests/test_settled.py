"""VM201's findings as CPython's parse settles them are LibCST's: wherever `settled_check` answers, its
findings (positions, messages, fixes and their edits) are those of LibCST's analysis; where it cannot
be certain it says so, and LibCST decides. A check whose candidates it settles runs no LibCST."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fixture_cases import FIXTURES
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from varmigrate.engine import Settings, check_source
from varmigrate.engine.prefilter import forget_trees, kept_size, settled_check
from varmigrate.model import Location, RuntimeCheck
from varmigrate.pipeline import Job, Mode, prepare
from varmigrate.pipeline.job import FileResult
from varmigrate.pipeline.single import process_bytes

HEADER = "import torch\n"


def libcst_findings(source: str) -> list[object]:
    """What LibCST's analysis finds in ``source`` (the settled path not taken)."""
    return list(check_source(source, settle=False))


def assert_settled_as_libcst(source: str) -> bool:
    """``settled_check`` either declines or gives LibCST's findings; whether it answered."""
    settled = settled_check(source)
    forget_trees()
    if settled is None:
        return False
    assert settled == libcst_findings(source), source
    return True


# Receivers as written, the dot and index as spaced, where the read stands, and what holds it.
RECEIVERS = st.sampled_from(
    [
        "loss",
        "self",
        "cls",
        "x",
        "(a + b)",
        "( loss )",
        "f(self)",
        "self.loss",
        "out[1]",
        "x.data[0]",
        "[t][0]",
        "1",
        "'s'",
        "torch.tensor([1.0])",
        "(x\n    )",
    ]
)
READS = st.sampled_from(
    [".data[0]", ".data[0]", ".data [ 0 ]", " .data[0]", ".data[0,]", ".data[(0)]", ".data[00]", ".data[1]"]
)
PARENTHESES = st.sampled_from(["{r}{d}", "({r}{d})", "({r}.data)[0]", "{r}{d}\\\n    "])
PLACES = st.sampled_from(
    [
        "total += {e}",
        "y = {e}.cpu()",
        "y = {e}[1]",
        "y = {e}(1)",
        "print('%.4f' % {e})",
        "print('{{}}'.format({e}))",
        "{e} = 1",
        "del {e}",
        "y = g({e}, k={e})",
        "y = [{e} for _ in z]",
        "y = lambda self: {e}",
        'print(f"{{{e}}}")',
        "y = {e}  # noqa",
        "y = {e}  # noqa: VM201",
        "y = {e}  # noqa: VM001",
        "y = {e}; s = 'caf\u00e9'",
    ]
)
FUNCTIONS = st.sampled_from(
    [
        "",
        "def f(x):\n",
        "def f(self):\n",
        "def f(loss, /):\n",
        "async def f(*, self):\n",
        "class A:\n    def m(self):\n",
        "class A:\n    @staticmethod\n    def m(self):\n",
        "def outer(self):\n    def inner(y):\n",
        "class A:\n",
    ]
)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    shape = draw(PARENTHESES)
    return shape.format(r=draw(RECEIVERS), d=draw(READS))


@st.composite
def modules(draw: st.DrawFn) -> str:
    function = draw(FUNCTIONS)
    indent = "    " * function.count(":\n")
    lines = [HEADER.rstrip("\n")]
    if function:
        lines.append(function.rstrip("\n"))
    for _ in range(draw(st.integers(1, 3))):
        statement = draw(PLACES).format(e=draw(expressions()))
        lines.append(indent + statement.replace("\n", "\n" + indent))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    return newline.join(lines) + newline


def _valid(source: str) -> bool:
    try:
        compile(source, "<test>", "exec", dont_inherit=True)
    except SyntaxError:
        return False
    return True


@settings(max_examples=1000, deadline=None)
@given(source=modules())
@example(source=HEADER + "total += loss.data[0]\n")
@example(source=HEADER + "y = x.data[0].data[0]\n")
@example(source=HEADER + "class A:\n    def m(self):\n        return f(self).data[0]\n")
def test_a_settled_check_is_libcsts(source: str) -> None:
    if _valid(source):
        event("settled" if assert_settled_as_libcst(source) else "left to LibCST")
    else:
        event("not Python")


@pytest.mark.parametrize(
    ("code", "settles"),
    [
        # Read as a number: `.item()`, spelled with the receiver as written; a receiver of more: no fix.
        ("total += loss.data[0]\n", True),
        ("y = (a + b).data[0]\ny = ( loss ) .data [ 0 ]\n", True),
        ("y = x.data[0].cpu()\nz = x.data[0][1]\nw = x.data[0](1)\n", True),
        # Two findings that start at one place, the outer first.
        ("y = x.data[0].data[0]\n", True),
        # Characters before the finding that take more than a byte; CRLF line ends.
        ("s = 'caf\u00e9'; total += loss.data[0]\n", True),
        ("total += loss.data[0]\r\nprint(loss.data[0])\r\n", True),
        # Assigned to, deleted: no finding, nothing to decide.
        ("emb.weight.data[0] = 0\ndel w.data[0]\ntotal += loss.data[0]\n", True),
        # Suppressed by a directive on its line.
        ("total += loss.data[0]  # noqa: VM201\nprint(loss.data[0])\n", True),
        # In a method, a receiver that is not the first parameter.
        ("class A:\n    def m(self, loss):\n        return loss.data[0]\n", True),
        # What only LibCST can tell: is `self` the method's own (scope analysis)?
        ("class A:\n    def m(self):\n        print(loss.data[0], self.data[0])\n", False),
        ("def f(loss):\n    return loss.data[0]\n", False),
        # Parentheses around `x.data`, an index not written `0`, a literal receiver, an f-string.
        ("y = (x.data)[0]\nz = x.data[0]\n", False),
        ("y = x.data[(0)]\nz = x.data[0]\n", False),
        ("y = x.data[0,]\n", False),
        ("y = 1 .data[0]\n", False),
        ('print(f"{loss.data[0]}")\n', False),
        # Over more than one line.
        ("y = (x\n     ).data[0]\n", False),
        ("y = x.data[\n    0]\n", False),
        # Another rule possible too; doctest examples; a lone carriage return.
        ("from torch.autograd import Variable\ny = Variable(x).data[0]\n", False),
        ('def f():\n    """\n    >>> x.data[0]\n    """\n    return loss.data[0]\n', False),
        ("y = loss.data[0]\rz = 1\n", False),
    ],
)
def test_what_is_settled_and_what_is_left_to_libcst(code: str, settles: bool) -> None:
    assert assert_settled_as_libcst(HEADER + code) is settles


def test_an_unsettled_parse_is_kept_for_libcsts_analysis() -> None:
    """The parse `settled_check` took is the one the analysis then reads (CPython parses once)."""
    source = HEADER + "class A:\n    def m(self):\n        print(loss.data[0], self.data[0])\n"
    forget_trees()
    assert settled_check(source) is None
    assert kept_size() == len(source)
    forget_trees()


def test_the_fixtures_settled_are_libcsts() -> None:
    """Every fixture module whose findings CPython's parse settles gets LibCST's findings; and some do."""
    settled = 0
    for path in sorted(FIXTURES.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        try:
            settled += assert_settled_as_libcst(source)
        except SyntaxError:
            continue
    assert settled >= 3


def test_the_first_stage_settles_a_check_as_the_second_stage_would(tmp_path: Path) -> None:
    source = HEADER + "s = 'caf\u00e9'\ntotal += loss.data[0]\nprint(out.data[0].cpu())  # loss\n"
    path = tmp_path / "train.py"
    path.write_text(source, encoding="utf-8")
    batch = prepare([(path, Job(mode=Mode.CHECK))])
    (slot,) = batch.slots
    assert isinstance(slot, FileResult), "settled in the first stage, no task for LibCST"
    assert slot.diagnostics == libcst_findings(source)
    expected, _ = process_bytes(path.read_bytes(), str(path), Job(mode=Mode.CHECK))
    assert slot == expected
    assert slot.lines == {(None, 3): "total += loss.data[0]", (None, 4): "print(out.data[0].cpu())  # loss"}
    # A fix that applies none of their fixes (`.item()` is unsafe) gives what LibCST's fix gives.
    for mode in (Mode.FIX, Mode.DIFF):
        (slot,) = prepare([(path, Job(mode=mode))]).slots
        assert isinstance(slot, FileResult)
        assert slot == process_bytes(path.read_bytes(), str(path), Job(mode=mode))[0]
    # With `--unsafe-fixes`, or where a run of the program verified one, it applies them: LibCST's fixer,
    # in the second stage.
    verified = frozenset({("VM201", Location(3, 10), RuntimeCheck.RECEIVER_IS_ZERO_DIM)})
    for applies in (Settings(unsafe_fixes=True), Settings(verified=verified)):
        (task,) = prepare([(path, Job(applies, Mode.FIX))]).tasks
        assert task.name == str(path)
        assert process_bytes(task.data, task.name, task.job)[0].fixed == 1
    forget_trees()


@pytest.mark.slow
def test_a_check_whose_findings_are_settled_never_imports_libcst(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(HEADER + "total += loss.data[0]\n")
    dataset = HEADER + "class D:\n    def first(self):\n        return self.data[0]\n"
    (tmp_path / "dataset.py").write_text(dataset)
    program = (
        "import sys\nfrom varmigrate.cli import main\n"
        "code = main(['check', '--no-cache', '--output-format', 'concise', '.'])\n"
        "print(code, 'libcst' in sys.modules)\n"
    )

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        return done.stdout.splitlines()

    lines = run()
    assert lines[-1] == "1 False"
    assert lines[0].startswith("train.py:2:10: VM201 ")
    # The test can fail: a finding that only LibCST settles imports it.
    (tmp_path / "format.py").write_text(HEADER + 'print(f"{loss.data[0]}")\n')
    assert run()[-1] == "1 True"
