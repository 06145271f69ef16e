"""Notebooks: findings per cell, fixes that touch only the edited `source` lines, IPython syntax kept."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import pytest
from fixture_cases import FIXTURES, render_diagnostic

from varmigrate.engine import Settings
from varmigrate.notebook import NotebookError, NotebookResult, check_notebook, fix_notebook
from varmigrate.notebook.cells import Program
from varmigrate.notebook.json_spans import NotebookFile

NOTEBOOKS = FIXTURES / "notebooks"
CASES = sorted(path.name for path in NOTEBOOKS.iterdir() if (path / "input.ipynb").exists())
THRESHOLD = Settings().threshold


def _input(case: str) -> bytes:
    return (NOTEBOOKS / case / "input.ipynb").read_bytes()


def _expected(case: str) -> bytes:
    """expected.ipynb when present; otherwise the input (the fix must change nothing)."""
    path = NOTEBOOKS / case / "expected.ipynb"
    return path.read_bytes() if path.exists() else _input(case)


def render(result: NotebookResult) -> str:
    """One line per finding or unparsed cell, in cell order: ``cell N:row:col: CODE [*] message``."""
    lines: list[tuple[tuple[int, int, int], str]] = []
    for found in result.diagnostics:
        start = found.diagnostic.start
        text = f"cell {found.cell}:{render_diagnostic(found.diagnostic, THRESHOLD)}"
        lines.append(((found.cell, start.row, start.column), text))
    for error in result.errors:
        text = f"cell {error.cell}:{error.row}:{error.column}: not valid Python 3; left alone"
        lines.append(((error.cell, error.row, error.column), text))
    skipped = [f"skipped: {result.skipped}\n"] if result.skipped else []
    return "".join(skipped + [f"{text}\n" for _, text in sorted(lines)])


def jupyter_format(content: Any) -> bytes:
    """The bytes Jupyter (nbformat) writes for ``content``."""
    return (json.dumps(content, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def notebook(*sources: str) -> bytes:
    """A notebook of code cells, as Jupyter writes it."""
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": s.splitlines(True),
        }
        for s in sources
    ]
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return jupyter_format(
        {"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}
    )


def code_sources(data: bytes) -> dict[int, str]:
    """Cell position (1-based, all cells) -> source of each code cell, for nbformat 4 and 3."""
    content = json.loads(data, strict=False)
    cells = content.get("cells") or [c for sheet in content.get("worksheets", []) for c in sheet["cells"]]
    found = {}
    for index, cell in enumerate(cells, 1):
        if cell["cell_type"] == "code":
            value = cell.get("source", cell.get("input"))
            found[index] = value if isinstance(value, str) else "".join(value)
    return found


def without_code(data: bytes) -> Any:
    """The notebook's content with the code of code cells taken out."""
    content = json.loads(data, strict=False)
    for cell in content.get("cells") or [
        c for sheet in content.get("worksheets", []) for c in sheet["cells"]
    ]:
        if cell["cell_type"] == "code":
            cell.pop("source", None)
            cell.pop("input", None)
    return content


# --- Every fixture ---------------------------------------------------------------------------------------


def test_every_notebook_fixture_folder_is_a_case() -> None:
    """A folder the cases would skip (no input.ipynb) or a misspelt file fails here, not silently."""
    problems = []
    folders = sorted(path.name for path in NOTEBOOKS.iterdir() if path.is_dir())
    for name in folders:
        files = {path.name for path in (NOTEBOOKS / name).iterdir()}
        problems += [
            f"{name}: no {missing}" for missing in sorted({"input.ipynb", "diagnostics.txt"} - files)
        ]
        known = {"input.ipynb", "expected.ipynb", "diagnostics.txt"}
        problems += [f"{name}: unknown file {unknown}" for unknown in sorted(files - known)]
    assert not problems
    assert folders == CASES


@pytest.mark.parametrize("case", CASES)
def test_diagnostics(case: str, update_fixtures: bool) -> None:
    actual = render(check_notebook(_input(case)))
    path = NOTEBOOKS / case / "diagnostics.txt"
    if update_fixtures:
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES)
def test_fix(case: str, update_fixtures: bool) -> None:
    result = fix_notebook(_input(case))
    if update_fixtures and result.data is not None:
        (NOTEBOOKS / case / "expected.ipynb").write_bytes(result.data)
    expected = _expected(case)
    if expected == _input(case):
        assert result.data is None, "a notebook without fixes must not be rewritten"
        assert result.applied == 0
    else:
        assert result.data == expected
        assert result.applied > 0


@pytest.mark.parametrize("case", CASES)
def test_second_fix_changes_nothing(case: str) -> None:
    again = fix_notebook(_expected(case))
    assert again.data is None
    assert again.applied == 0


@pytest.mark.parametrize("case", CASES)
def test_check_after_fix_leaves_only_unfixable(case: str) -> None:
    fixed = fix_notebook(_input(case))
    after = check_notebook(_expected(case))
    assert after.diagnostics == fixed.diagnostics
    assert all(d.diagnostic.fix_for(THRESHOLD) is None for d in after.diagnostics)
    # Cells are parsed only while the notebook can hold a finding (as .py files are): errors may go.
    assert set(after.errors) <= set(fixed.errors)


@pytest.mark.parametrize("case", CASES)
def test_fix_changes_only_source_lines(case: str) -> None:
    before, after = _input(case), _expected(case)
    assert without_code(before) == without_code(after)
    old_lines = before.decode("utf-8").splitlines(keepends=True)
    new_lines = after.decode("utf-8").splitlines(keepends=True)
    old_code = "".join(code_sources(before).values())
    new_code = "".join(code_sources(after).values())
    # Each changed line of the file is one JSON string (a line of a list-form source, or a whole
    # string-form source) whose text is code of the notebook on that side of the diff.
    string_line = re.compile(r'\s*(?:"(?:source|input)": )?("(?:[^"\\]|\\.)*")(?:,)?(?:\r\n|\n)?', re.DOTALL)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, old_lines, new_lines, autojunk=False
    ).get_opcodes():
        if tag == "equal":
            continue
        for line, code in [(line, old_code) for line in old_lines[i1:i2]] + [
            (line, new_code) for line in new_lines[j1:j2]
        ]:
            match = string_line.fullmatch(line)
            assert match is not None, f"a line outside `source` changed: {line!r}"
            assert json.loads(match.group(1), strict=False) in code


# --- The autograd tutorial: cells, magics, outputs, a Python 2 cell, imports across cells -----------------

TUTORIAL = "autograd_tutorial"


def test_findings_name_their_cell() -> None:
    result = check_notebook(_input(TUTORIAL))
    first = result.diagnostics[0]
    assert first.location("nb.ipynb") == "nb.ipynb:cell 5:1:5"
    assert first.diagnostic.code == "VM001"
    # Counting every cell: the markdown cells 1, 4 and 8 are counted, the Python 2 cell is 10.
    assert {d.cell for d in result.diagnostics} == {5, 11, 12, 15}
    [error] = result.errors
    assert error.location("nb.ipynb").startswith("nb.ipynb:cell 10:1:")
    assert "Missing parentheses in call to 'print'" in error.message


def test_fix_edits_carry_cell_offsets() -> None:
    source = code_sources(_input(TUTORIAL))[12]
    found = next(d for d in check_notebook(_input(TUTORIAL)).diagnostics if d.cell == 12)
    fix = found.diagnostic.fix_for(THRESHOLD)
    assert fix is not None
    [edit] = fix.edits
    assert source[edit.start_offset : edit.end_offset] == "Variable(torch.zeros(1))"
    assert (edit.start.row, edit.start.column) == (4, 7)


def test_import_removed_across_cells() -> None:
    before, after = code_sources(_input(TUTORIAL)), code_sources(_expected(TUTORIAL))
    assert "from torch.autograd import Variable" in before[3]
    assert after[3] == "from __future__ import print_function\nimport torch"
    # The last use was in cell 15; only the shell cell, which we do not touch, still says `Variable`.
    assert [cell for cell, source in after.items() if "Variable" in source] == [13]


def test_magics_survive_byte_identical() -> None:
    before, after = code_sources(_input(TUTORIAL)), code_sources(_expected(TUTORIAL))
    magic = re.compile(r"\s*[%!]|.*\?$|\w+ = !")
    kept = 0
    for cell, source in before.items():
        for line in source.splitlines(keepends=True):
            if magic.match(line):
                assert line in after[cell].splitlines(keepends=True)
                kept += 1
    assert kept == 7
    assert after[11].startswith("%%time\n")
    assert after[11] != before[11]
    assert after[13] == before[13]


def test_outputs_execution_counts_and_metadata_untouched() -> None:
    before = json.loads(_input(TUTORIAL))
    after = json.loads(_expected(TUTORIAL))
    for old, new in zip(before["cells"], after["cells"], strict=True):
        assert {k: v for k, v in old.items() if k != "source"} == {
            k: v for k, v in new.items() if k != "source"
        }
    assert before["metadata"] == after["metadata"]


def test_python2_cell_left_alone() -> None:
    assert code_sources(_expected(TUTORIAL))[10] == code_sources(_input(TUTORIAL))[10]


def test_fixed_file_is_what_jupyter_would_write() -> None:
    """The tutorial is in Jupyter's own format; after the fix it still is, to the byte."""
    fixed = _expected(TUTORIAL)
    assert fixed == jupyter_format(json.loads(fixed))
    assert _input(TUTORIAL) == jupyter_format(json.loads(_input(TUTORIAL)))


def test_ensure_ascii_false_kept() -> None:
    fixed = _expected(TUTORIAL).decode("utf-8")
    assert '"w = torch.randn(3, requires_grad=True)  # poids → weights\\n"' in fixed


def _run_cells(data: bytes) -> dict[str, Any]:
    """Run the Python code cells of a notebook in one namespace; the tensors it leaves behind."""
    import contextlib
    import io

    import torch

    namespace: dict[str, Any] = {}
    torch.manual_seed(0)
    shell = re.compile(r"\s*[%!]|.*\?$|\w+ = !")
    for source in code_sources(data).values():
        if source.startswith("%%bash") or source.startswith("print x"):
            continue
        code = "".join(line for line in source.splitlines(keepends=True) if not shell.match(line))
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "<cell>", "exec"), namespace)
    tensors = {k: v for k, v in namespace.items() if isinstance(v, torch.Tensor)}
    return {
        k: (
            t.tolist(),
            t.requires_grad,
            t.is_leaf,
            t.grad.tolist() if t.is_leaf and t.grad is not None else None,
        )
        for k, t in tensors.items()
    }


def test_fixed_tutorial_computes_the_same() -> None:
    before = _run_cells(_input(TUTORIAL))
    after = _run_cells(_expected(TUTORIAL))
    assert set(before) == {"x", "y", "z", "out", "w", "h", "loss", "gpu", "gradients", "v"}
    assert after == before


# --- File formats ---------------------------------------------------------------------------------------


def test_string_form_source_and_ascii_escapes_kept() -> None:
    before = _input("string_sources_ascii_escaped").decode("ascii")
    after = _expected("string_sources_ascii_escaped").decode("ascii")
    assert '"source": "import torch\\n\\nt = torch.zeros(3)  # temp\\u00e9rature\\nprint(t)"' in after
    assert after.count("\\u00e9") == before.count("\\u00e9")


def test_unchanged_text_keeps_its_escapes() -> None:
    """A writer that escapes `/` as `\\/`: unchanged lines and the unchanged ends of a string keep it."""
    listed = r'["from torch.autograd import Variable\n", "url = \"http:\/\/a\"\n", "v = Variable(t)"]'
    string = r'"url = \"http:\/\/b\"\nw = Variable(t)\nend = \"\/\""'
    cells = ",".join(
        f'{{"cell_type": "code", "metadata": {{}}, "outputs": [], "source": {source}}}'
        for source in ('"import torch\\nt = torch.ones(1)"', listed, string)
    )
    data = f'{{"cells": [{cells}], "metadata": {{}}, "nbformat": 4, "nbformat_minor": 5}}'.encode()
    fixed = fix_notebook(data).data
    assert fixed is not None
    assert code_sources(fixed)[3] == 'url = "http://b"\nw = t.detach()\nend = "/"'
    assert fixed.count(rb"\/") == data.count(rb"\/") == 5
    assert rb'"url = \"http:\/\/b\"\nw = t.detach()\nend = \"\/\""' in fixed


def test_crlf_file_keeps_crlf() -> None:
    before, after = _input("crlf_line_endings"), _expected("crlf_line_endings")
    assert before.count(b"\n") == before.count(b"\r\n") > 0
    assert after.count(b"\n") == after.count(b"\r\n") > 0
    assert after != before


def test_non_strict_json_round_trips() -> None:
    before, after = _input("non_strict_json"), _expected("non_strict_json")
    for data in (before, after):
        with pytest.raises(json.JSONDecodeError, match="Invalid control character"):
            json.loads(data)
    # The edited line is written the way the file writes strings: with a raw tab.
    assert b'"\tv = torch.ones(1, requires_grad=True)\\n",' in after
    assert b'"\\t' not in after


def test_nbformat3_worksheets_handled() -> None:
    after = json.loads(_expected("nbformat3_worksheets"))
    cells = after["worksheets"][0]["cells"]
    assert cells[1]["input"] == ["import torch"]
    assert cells[3]["input"] == ["%matplotlib inline\n", "w = torch.zeros(4, requires_grad=True)"]
    assert cells[0]["source"] == ["Variables, 2017"]


def test_nbformat3_cells_numbered_through_worksheets() -> None:
    sheet = {
        "cells": [{"cell_type": "markdown", "source": "x"}, {"cell_type": "code", "input": "import torch"}]
    }
    second = {
        "cells": [
            {"cell_type": "code", "input": "from torch.autograd import Variable\nv = Variable(torch.ones(1))"}
        ]
    }
    data = json.dumps({"nbformat": 3, "metadata": {}, "worksheets": [sheet, second]}).encode()
    assert [(d.cell, str(d.diagnostic.start)) for d in check_notebook(data).diagnostics] == [(3, "2:5")]
    fixed = fix_notebook(data).data
    assert fixed is not None
    assert json.loads(fixed)["worksheets"][1]["cells"][0]["input"] == "v = torch.ones(1)"


def test_non_python_kernel_skipped() -> None:
    result = fix_notebook(_input("kernel_not_python"))
    assert result.skipped == "the notebook's kernel language is 'R', not Python"
    assert result.data is None
    assert not result.diagnostics


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"{not json", "invalid JSON", id="not_json"),
        pytest.param(b"\xff\xfe{}", "not UTF-8", id="not_utf8"),
        pytest.param(b"[1, 2]", "not an object", id="top_level_list"),
        pytest.param(b'{"nbformat": 2, "worksheets": []}', "nbformat 2", id="nbformat2"),
        pytest.param(b'{"nbformat": 4}', "missing `cells`", id="no_cells"),
        pytest.param(b'{"cells": {}}', "`cells` is not a list", id="cells_not_a_list"),
        pytest.param(
            b'{"cells": [{"cell_type": "code", "source": [1]}]}',
            "source of cell 1 is not text",
            id="source_not_text",
        ),
    ],
)
def test_not_a_notebook(data: bytes, message: str) -> None:
    with pytest.raises(NotebookError, match=re.escape(message)):
        check_notebook(data)
    with pytest.raises(NotebookError, match=re.escape(message)):
        fix_notebook(data)


def test_byte_order_mark_kept() -> None:
    data = b"\xef\xbb\xbf" + notebook(
        "from torch.autograd import Variable\nv = Variable(torch.ones(1))\nimport torch"
    )
    fixed = fix_notebook(data).data
    assert fixed is not None
    assert fixed.startswith(b"\xef\xbb\xbf{")
    assert '"v = torch.ones(1)\\n"' in fixed.decode("utf-8-sig")


# --- Cells: IPython syntax, cell magics, unparsed cells ---------------------------------------------------

VARIABLE_LINE = "v = Variable(torch.ones(1))"
PRELUDE = "import torch\nfrom torch.autograd import Variable"


@pytest.mark.parametrize(
    "syntax",
    [
        pytest.param("%load_ext autoreload", id="line_magic"),
        pytest.param("!pip install torch==0.3.1", id="shell"),
        pytest.param("files = !ls -l", id="shell_assignment"),
        pytest.param("a, b = %sx echo 1", id="magic_assignment"),
        pytest.param("torch.ones??", id="help_suffix"),
        pytest.param("?torch.ones  # why?", id="help_prefix"),
        pytest.param("%env A=1 \\\n  B=2", id="magic_continued_by_backslash"),
        pytest.param("if True:\n    !echo hi\n    %time 1 + 1", id="escapes_inside_a_block"),
        pytest.param("/print 1", id="autocall"),
        pytest.param("!echo x² 0x1f if", id="words_that_are_not_names"),
    ],
)
def test_ipython_syntax_kept_byte_identical(syntax: str) -> None:
    data = notebook(PRELUDE, f"{syntax}\n{VARIABLE_LINE}\n{syntax}")
    result = fix_notebook(data)
    assert not result.errors
    assert result.data is not None
    assert code_sources(result.data)[2] == f"{syntax}\nv = torch.ones(1)\n{syntax}"
    found = check_notebook(data).diagnostics
    assert [(d.cell, str(d.diagnostic.start)) for d in found] == [(2, f"{syntax.count(chr(10)) + 2}:5")]


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("y = (Variable(torch.ones(1))\n% 2)", id="modulo_on_a_continuation_line"),
        pytest.param("y = Variable(torch.ones(1)) \\\n% 2", id="not_after_a_backslash"),
        pytest.param('s = """\n%s\n""" % Variable(torch.ones(1))', id="percent_inside_a_string"),
        pytest.param("y = Variable(torch.ones(1)) % 2  # a question?", id="question_mark_in_a_comment"),
    ],
)
def test_python_that_looks_like_ipython_is_analysed(code: str) -> None:
    result = check_notebook(notebook(PRELUDE, code))
    assert not result.errors
    assert [d.cell for d in result.diagnostics] == [2]


@pytest.mark.parametrize(
    "code",
    [
        pytest.param('s = "a\\"b"', id="escaped_quote"),
        pytest.param("s = '''\n%s\n'''", id="triple_quoted_string"),
        pytest.param("s = f(1,\n    2)", id="closed_brackets"),
        pytest.param("s = 1 + \\\n    2", id="backslash_continuation"),
    ],
)
def test_ipython_syntax_found_after_python(code: str) -> None:
    data = notebook(PRELUDE, f"{code}\n%time 1\n{VARIABLE_LINE}")
    result = fix_notebook(data)
    assert not result.errors
    assert result.data is not None
    assert code_sources(result.data)[2] == f"{code}\n%time 1\nv = torch.ones(1)"


def test_help_inside_brackets_is_a_parse_error() -> None:
    # IPython sees `?` only at the end of a logical line; inside brackets it is a syntax error.
    result = check_notebook(notebook(PRELUDE, "f(torch?\n)"))
    assert [e.cell for e in result.errors] == [2]


@pytest.mark.parametrize(
    "magic", ["bash", "html", "writefile model.py", "javascript", "script python", "python"]
)
def test_non_python_cell_magic_skipped(magic: str) -> None:
    data = notebook(PRELUDE, f"%%{magic}\n{VARIABLE_LINE}", VARIABLE_LINE)
    result = check_notebook(data)
    assert not result.errors
    assert [d.cell for d in result.diagnostics] == [3]
    fixed = fix_notebook(data).data
    assert fixed is not None
    assert code_sources(fixed)[2] == f"%%{magic}\n{VARIABLE_LINE}"
    assert "from torch.autograd import Variable" not in code_sources(fixed)[1]


@pytest.mark.parametrize("magic", ["time", "timeit -n 10", "capture captured", "prun"])
def test_python_cell_magic_analysed(magic: str) -> None:
    data = notebook(PRELUDE, f"\n%%{magic}\n{VARIABLE_LINE}")
    assert [str(d.diagnostic.start) for d in check_notebook(data).diagnostics] == ["3:5"]
    fixed = fix_notebook(data).data
    assert fixed is not None
    assert code_sources(fixed)[2] == f"\n%%{magic}\nv = torch.ones(1)"


def test_cell_magic_stays_the_first_line() -> None:
    """A fix that needs `import torch` puts it at the top of the first code cell, below its `%%time`."""
    before = code_sources(_input("cell_magic_keeps_first_line"))[1]
    after = code_sources(_expected("cell_magic_keeps_first_line"))[1]
    assert before.startswith("%%time\nfrom torch.autograd import Variable\n")
    assert after == "%%time\nimport torch\n\nempty = torch.empty(0)"


def test_unparsed_cell_keeps_the_names_it_uses() -> None:
    """The Python 2 cell says `Variable`: its import stays although every other use was fixed."""
    result = fix_notebook(_input("python2_cell_keeps_import"))
    assert [(e.cell, e.row) for e in result.errors] == [(4, 1)]
    assert result.data is not None
    sources = code_sources(result.data)
    assert sources[2] == PRELUDE
    assert sources[3] == "a = torch.ones(2)"
    assert sources[4] == "print Variable(a).size()"


def test_unparsed_cells_reported_and_others_analysed() -> None:
    result = check_notebook(notebook(PRELUDE, "print x", "def half(:", VARIABLE_LINE))
    assert [(e.cell, e.row) for e in result.errors] == [(2, 1), (3, 1)]
    assert [d.cell for d in result.diagnostics] == [4]


def test_notebook_without_torch_is_not_parsed() -> None:
    # As for .py files: the text prefilter skips a notebook that cannot hold a finding.
    result = check_notebook(notebook("print 'hello'"))
    assert not result.errors
    assert not result.diagnostics


def test_unchanged_unfixable_finding_remains() -> None:
    result = fix_notebook(_input("unfixable_keeps_import"))
    assert [(d.cell, str(d.diagnostic.start)) for d in result.diagnostics] == [(2, "3:8")]
    assert result.data is not None
    assert code_sources(result.data)[1] == PRELUDE


def test_one_line_source_grows_in_jupyter_layout() -> None:
    data = notebook("import numpy as np", "from torch.autograd import Variable\nempty = Variable()")
    fixed = fix_notebook(data).data
    assert fixed is not None
    assert code_sources(fixed) == {1: "import numpy as np\nimport torch", 2: "empty = torch.empty(0)"}
    assert fixed == jupyter_format(json.loads(fixed))


@pytest.mark.parametrize("use", ["%timeit Variable(t)", "Variable?", "!echo {Variable}"])
def test_import_used_by_ipython_syntax_kept(use: str) -> None:
    data = notebook(PRELUDE, "t = torch.ones(1)\n" + VARIABLE_LINE, use)
    fixed = fix_notebook(data).data
    assert fixed is not None
    assert code_sources(fixed) == {1: PRELUDE, 2: "t = torch.ones(1)\nv = torch.ones(1)", 3: use}


def test_noqa_in_a_cell() -> None:
    data = notebook(PRELUDE, f"{VARIABLE_LINE}  # noqa: VM001")
    assert not check_notebook(data).diagnostics
    assert fix_notebook(data).data is None


def test_placeholder_names_cannot_collide() -> None:
    data = notebook(PRELUDE, "__vm_0__ = 1\n__vm_cell1__ = 2\n%time 1\n" + VARIABLE_LINE)
    fixed = fix_notebook(data).data
    assert fixed is not None
    assert code_sources(fixed)[2] == "__vm_0__ = 1\n__vm_cell1__ = 2\n%time 1\nv = torch.ones(1)"


def test_code_moved_between_cells_is_refused() -> None:
    notebook_ = NotebookFile(notebook(PRELUDE, VARIABLE_LINE, VARIABLE_LINE))
    program = Program.build(notebook_.cells, Settings())
    assert program is not None
    lost_marker = re.sub(r"^__vm_cell1__\(\)\n", "", program.source, flags=re.MULTILINE)
    with pytest.raises(NotebookError, match="cannot map the fixed code back to its cells"):
        program.restore(lost_marker)


def test_lost_ipython_line_is_refused() -> None:
    program = Program.build(NotebookFile(notebook(PRELUDE, "%time 1\n" + VARIABLE_LINE)).cells, Settings())
    assert program is not None
    lost = re.sub(r"^__vm_0__\(time\)\n", "", program.source, flags=re.MULTILINE)
    with pytest.raises(NotebookError, match="cell 2: IPython syntax was lost"):
        program.restore(lost)


def test_applicability_threshold_respected() -> None:
    data = notebook(PRELUDE, "h = torch.ones(1)\nh2 = h * 2\nv = Variable(h2)\nw = Variable(h2)")
    safe = fix_notebook(data)
    unsafe = fix_notebook(data, Settings(unsafe_fixes=True))
    assert safe.data is not None
    assert unsafe.data is not None
    assert "v = h2.detach()" in code_sources(safe.data)[2]
    assert "v = h2\n" in code_sources(unsafe.data)[2]


def test_a_cell_the_import_clean_up_would_empty_keeps_its_content() -> None:
    # Before, both cells became empty: the comment went with the import it described.
    data = notebook(
        "import torch",
        "# import Variable this way\nfrom torch.autograd import Variable",
        "from torch.autograd import Variable",
        "x = Variable(torch.ones(2), requires_grad=True)\ny = (x * 2).sum()",
    )
    result = fix_notebook(data)
    assert result.data is not None
    assert list(code_sources(result.data).values()) == [
        "import torch",
        "# import Variable this way",
        "from torch.autograd import Variable",
        "x = torch.ones(2, requires_grad=True)\ny = (x * 2).sum()",
    ]
    assert fix_notebook(result.data).data is None
