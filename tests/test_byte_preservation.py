"""`fix` changes the fixed spans and nothing else: every other byte of the file is written back as it was.

LibCST does not print every module back as it parsed it (form feeds in indentation, a lone carriage
return at the end, a byte order mark...); the engine splices what it prints into the original text,
maps LibCST's positions into it, and refuses to write a file whose other bytes would change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from varmigrate.cli import main
from varmigrate.engine import INTERNAL_ERROR, Settings, SourceParseError, check_source, fix_source
from varmigrate.engine import fixer as fixer_module
from varmigrate.engine.splice import Alignment, Ledger, UnpreservedText, may_differ, merge, row_shift
from varmigrate.model import FIX_REFUSED, Location

HEADER = "import torch\nfrom torch.autograd import Variable\n"
# The example of issue 12: a form feed that starts a top-level line after a block, and one in a block.
FORM_FEED_AFTER_BLOCK = (
    HEADER
    + "\ndef f():\n    a = 1\n\x0cb = Variable(torch.ones(2))\nclass C:\n    x = 1\n    \x0c\n    y = 2\n"
)

# name -> (file text, arguments after `fix`, fixed text)
CASES = {
    "lone_cr": (
        "import torch\rfrom torch.autograd import Variable\rx = Variable(torch.ones(2))\ry = x * 2\r",
        [],
        "import torch\rx = torch.ones(2)\ry = x * 2\r",
    ),
    "crlf_and_lone_cr": (
        "import torch\r\nfrom torch.autograd import Variable\rx = Variable(torch.ones(2))\r\ny = x * 2\r",
        [],
        "import torch\r\nx = torch.ones(2)\r\ny = x * 2\r",
    ),
    "form_feed_top_level": (
        HEADER + "\x0cx = Variable(torch.ones(2))\n",
        [],
        "import torch\n\x0cx = torch.ones(2)\n",
    ),
    "form_feed_before_dedent": (
        FORM_FEED_AFTER_BLOCK,
        [],
        FORM_FEED_AFTER_BLOCK.replace("from torch.autograd import Variable\n", "").replace(
            "Variable(torch.ones(2))", "torch.ones(2)"
        ),
    ),
    "form_feed_in_block": (
        HEADER + "\ndef f():\n    a = 1\n\x0c    b = Variable(torch.ones(2))\n    return b\n",
        [],
        "import torch\n\ndef f():\n    a = 1\n\x0c    b = torch.ones(2)\n    return b\n",
    ),
    # LibCST takes the first line's indentation (form feed included) for every line of the block.
    "form_feed_starts_a_block": (
        HEADER + "\ndef f(x):\n  \x0c    y = 1\n    x = Variable(x)\n    return x * y\n",
        ["--unsafe-fixes"],
        "import torch\n\ndef f(x):\n  \x0c    y = 1\n    return x * y\n",
    ),
    # The removed statement goes; the page break that preceded it stays where it was.
    "form_feed_before_removed_statement": (
        HEADER + "\ndef f(x):\n    y = 1\n\x0c    x = Variable(x)\n    return x * y\n",
        ["--unsafe-fixes"],
        "import torch\n\ndef f(x):\n    y = 1\n\x0c    return x * y\n",
    ),
    "form_feed_before_removed_import": (
        "import torch\n\x0cfrom torch.autograd import Variable\nx = Variable(torch.ones(2))\n",
        [],
        "import torch\n\x0cx = torch.ones(2)\n",
    ),
    "vertical_tab_and_form_feed_in_comments": (
        HEADER
        + "x = Variable(torch.ones(2))  # a\x0bb\x0cc\n\x0c# page\ndef f():\n    \x0c# note\n    pass\n",
        [],
        "import torch\nx = torch.ones(2)  # a\x0bb\x0cc\n\x0c# page\ndef f():\n    \x0c# note\n    pass\n",
    ),
    "no_final_newline": (
        HEADER + "x = Variable(torch.ones(2))",
        [],
        "import torch\nx = torch.ones(2)",
    ),
    "whitespace_last_line_without_newline": (
        HEADER + "x = Variable(torch.ones(2))\n  ",
        [],
        "import torch\nx = torch.ones(2)\n  ",
    ),
    "backslash_line": (
        "import torch\n\\\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2))\n",
        [],
        "import torch\n\\\nx = torch.ones(2)\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fix_changes_only_the_fixed_spans(name: str, project: Path) -> None:
    text, flags, fixed = CASES[name]
    path = project / "a.py"
    path.write_bytes(text.encode())
    assert main(["fix", *flags, "a.py"]) == 0
    assert path.read_bytes() == fixed.encode()
    assert main(["fix", *flags, "a.py"]) == 0
    assert path.read_bytes() == fixed.encode()


def test_a_file_with_a_byte_order_mark_keeps_it(project: Path) -> None:
    path = project / "a.py"
    source = b"from torch.autograd import Variable\nimport torch\n\x0cx = Variable(torch.ones(2))\n"
    path.write_bytes(b"\xef\xbb\xbf" + source)
    assert main(["fix", "a.py"]) == 0
    assert path.read_bytes() == b"\xef\xbb\xbfimport torch\n\x0cx = torch.ones(2)\n"


def test_fix_source_keeps_a_byte_order_mark_in_the_text() -> None:
    source = "\ufefffrom torch.autograd import Variable\nimport torch\nx = Variable(torch.ones(2))\n"
    result = fix_source(source)
    assert result.source == "\ufeffimport torch\nx = torch.ones(2)\n"
    assert fix_source(result.source).source == result.source


def test_positions_count_a_form_feed_as_a_character() -> None:
    """CPython's `col_offset` and ruff count the form feed, as an editor does: the call is at column 6."""
    [finding] = check_source(FORM_FEED_AFTER_BLOCK)
    assert (finding.start, finding.end) == (Location(6, 6), Location(6, 29))
    [edit] = finding.fixes[0].edits
    assert FORM_FEED_AFTER_BLOCK[edit.start_offset : edit.end_offset] == "Variable(torch.ones(2))"
    assert (edit.start, edit.end) == (Location(6, 6), Location(6, 29))


def test_positions_after_a_backslash_line_are_the_files() -> None:
    """LibCST prints a line that is only a backslash continuation as nothing: the rows after it move."""
    source = "import torch\n\\\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2))\n"
    [finding] = check_source(source)
    assert finding.start == Location(4, 5)
    [edit] = finding.fixes[0].edits
    assert source[edit.start_offset : edit.end_offset] == "Variable(torch.ones(2))"


def test_a_statement_libcst_cannot_read_may_still_be_left_out() -> None:
    """Only what LibCST parses must print back exactly: a function it rejects is left out as before."""
    rejected = "def g(x):\n    # c\n\x0c    if x:\n        return 1\n    return 2\n"
    source = HEADER + "\n\n" + rejected + "\n\nx = Variable(torch.ones(2))\n"
    assert fix_source(source).source == "import torch\n\n\n" + rejected + "\n\nx = torch.ones(2)\n"


def test_a_change_outside_the_fixed_spans_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a step gets wrong, the file is not written: its findings stay, with the reason."""
    source = HEADER + "x = Variable(torch.ones(2))\ny = 1\n"
    real = fixer_module.clean_imports

    def sloppy(*args: object, **kwargs: object) -> object:
        cleanup = real(*args, **kwargs)  # type: ignore[arg-type]
        return type(cleanup)(cleanup.before, cleanup.source.replace("y = 1", "y = 2"), None, cleanup.changes)

    monkeypatch.setattr(fixer_module, "clean_imports", sloppy)
    result = fix_source(source)
    assert result.source == source
    assert result.applied == 0
    assert [d.code for d in result.diagnostics] == ["VM001", FIX_REFUSED]
    refusal = result.diagnostics[1]
    assert refusal.start == Location(4, 5)
    assert "outside the fixed code" in refusal.message


def test_the_command_line_refuses_and_writes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refusing(source: str, *args: object, **kwargs: object) -> object:
        raise UnpreservedText(source, len(HEADER))

    monkeypatch.setattr(fixer_module, "clean_imports", refusing)
    path = project / "a.py"
    path.write_bytes((HEADER + "x = Variable(torch.ones(2))\n").encode())
    assert main(["fix", "a.py"]) == 2
    assert path.read_bytes() == (HEADER + "x = Variable(torch.ones(2))\n").encode()
    assert f"{FIX_REFUSED} fixes not applied" in capsys.readouterr().err


# -- the parts --------------------------------------------------------------------------------------------


def test_may_differ_finds_what_libcst_prints_differently() -> None:
    for name, (text, _, _) in CASES.items():
        assert may_differ(text) == (name != "no_final_newline"), name
    assert not may_differ(HEADER + "x = Variable(y)  # comment\n")
    assert not may_differ("x = 1 + \\\n    2\n")


def test_merge_keeps_what_only_the_original_has() -> None:
    original = "\ufeffa = 1\n\x0cb = 2\nc = 3\r"
    base = "a = 1\nb = 2\nc = 3"
    merged = merge(original, base, "a = 1\nb = 20\nc = 3")
    assert merged.text == "\ufeffa = 1\n\x0cb = 20\nc = 3\r"
    assert merged.changes == [(13, 13, "0")]


def test_merge_keeps_a_page_break_before_a_removed_line() -> None:
    merged = merge("a = 1\n\x0cb = 2\nc = 3\n", "a = 1\nb = 2\nc = 3\n", "a = 1\nc = 3\n")
    assert merged.text == "a = 1\n\x0cc = 3\n"


def test_merge_refuses_a_change_outside_the_regions() -> None:
    with pytest.raises(UnpreservedText):
        merge("a = 1\nb = 2\n", "a = 1\nb = 2\n", "a = 10\nb = 20\n", regions=[(6, 12)])
    within = merge("a = 1\nb = 2\n", "a = 1\nb = 2\n", "a = 1\nb = 20\n", regions=[(6, 12)])
    assert within.text == "a = 1\nb = 20\n"


def test_alignment_maps_printed_offsets_into_the_text() -> None:
    alignment = Alignment("x = 1\nb = f(x)\n", "x = 1\n\x0cb = f(x)\n")
    assert (alignment.start(6), alignment.start(10), alignment.end(14)) == (7, 11, 15)


def test_row_shift_moves_the_rows_changes_leave_and_drops_those_they_touch() -> None:
    text = "a\r\nb = x\r\nc\rd\ne\n"
    # Two changes on row 2 (one adds a line), whole lines inserted before row 4, row 5 removed.
    shift = row_shift(text, [(7, 8, "y\r\n"), (3, 4, "B"), (12, 12, "new\nlines\n"), (14, 16, "")])
    assert [shift(row) for row in range(1, 7)] == [(1, 0), None, (4, 2), (7, 12), None, (8, 10)]


def test_ledger_tracks_the_kept_pieces() -> None:
    ledger = Ledger("abcdef")
    ledger.apply([(1, 2, "XY")])
    ledger.apply([(0, 1, ""), (4, 6, "")])
    assert ledger.text == "XYcf"
    assert ledger.original_offset(2) == 2


# -- the property ---------------------------------------------------------------------------------------

FIXTURES = Path(__file__).parent.parent / "fixtures"
LEGACY_SOURCES = sorted(
    text
    for path in FIXTURES.glob("VM*/*/input.py")
    if "\r" not in (text := path.read_bytes().decode()) and "\x0c" not in text and "Variable" in text
)
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


@st.composite
def noisy_sources(draw: st.DrawFn) -> tuple[str, str]:
    """A legacy fixture, and the same with form feeds at some line starts and lone CRs ending some lines."""
    clean = draw(st.sampled_from(LEGACY_SOURCES))
    lines = _LINE.findall(clean)
    indices = st.integers(0, len(lines) - 1)
    feeds = draw(st.sets(indices, max_size=4))
    returns = draw(st.sets(indices, max_size=3))
    noisy = []
    for index, line in enumerate(lines):
        if index in feeds:
            line = "\x0c" + line
        # (Not before an empty line: the two would read as one CRLF.)
        if index in returns and line.endswith("\n") and lines[index + 1 : index + 2] != ["\n"]:
            line = line[:-1] + "\r"
        noisy.append(line)
    return clean, "".join(noisy)


@given(sources=noisy_sources(), unsafe=st.booleans())
def test_form_feeds_and_lone_crs_survive_a_fix(sources: tuple[str, str], unsafe: bool) -> None:
    clean, noisy = sources
    settings = Settings(unsafe_fixes=unsafe)
    expected = fix_source(clean, settings)
    try:
        result = fix_source(noisy, settings)
    except SourceParseError:
        # LibCST's tokenizer rejects a form feed before the first statement of a block after a comment.
        assume(False)
        raise
    assert not [d for d in result.diagnostics if d.code in (INTERNAL_ERROR, FIX_REFUSED)], result.diagnostics
    assert result.source.replace("\x0c", "").replace("\r", "\n") == expected.source
    assert result.applied == expected.applied
    # Findings are where they were, a form feed at the start of their line counted.
    lines = _LINE.findall(result.source.replace("\r", "\n"))
    moved = [
        (d.code, d.start.row, d.start.column - lines[d.start.row - 1].startswith("\x0c"))
        for d in result.diagnostics
    ]
    assert moved == [(d.code, d.start.row, d.start.column) for d in expected.diagnostics]
    again = fix_source(result.source, settings)
    assert (again.source, again.applied) == (result.source, 0)


def test_noqa_counts_rows_as_the_findings_do_after_a_lone_cr() -> None:
    # Found by the property above: the directives' rows ended only at LF, so after a lone CR they
    # suppressed the line above them.
    head = "import torch\rfrom torch.autograd import Variable\n"
    source = head + "a = Variable(x)\nb = Variable(y)  # noqa: VM001\n"
    assert fix_source(source).source == head + "a = x.detach()\nb = Variable(y)  # noqa: VM001\n"


def test_removing_an_import_after_a_lone_cr_keeps_every_line_break() -> None:
    # Found by the property above: the removal left `\r` right before `\n`, one line break instead of two.
    noisy = (
        "import torch\nimport torch.nn as nn\rfrom torch.autograd import Variable\n\n\n"
        "def f(x):\n    return Variable(x)\n\n\ny = f(torch.ones(1)).volatile\n"
    )
    clean = fix_source(noisy.replace("\r", "\n"))
    result = fix_source(noisy)
    assert result.source == clean.source
    assert [(d.code, d.start) for d in result.diagnostics] == [(d.code, d.start) for d in clean.diagnostics]
