"""Doctest examples in the docstrings of `.py` files: found as doctest finds them, analysed with the module's
code as one program, fixed in place with every other byte unchanged, at the file's own positions. Real
files through the real pipeline and engine."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from programs import run_python
from support import clean_env, write

from varmigrate.cli import main
from varmigrate.engine import Settings, fix_source
from varmigrate.engine.prefilter import could_match, could_match_examples
from varmigrate.model import Applicability, Location
from varmigrate.noqa import NOT_COMMENTABLE
from varmigrate.pipeline import Job, Mode, process_bytes
from varmigrate.pipeline.job import FileResult
from varmigrate.rules import select_rules

CASES = Path(__file__).parent.parent / "fixtures" / "doctests"
IMPORTS = "import torch\nfrom torch.autograd import Variable\n"
NAMES = sorted(path.name for path in CASES.iterdir() if (path / "input.py").exists())


def run(
    data: bytes, mode: Mode = Mode.CHECK, settings: Settings | None = None
) -> tuple[FileResult, bytes | None]:
    return process_bytes(data, "input.py", Job(settings or Settings(), mode))


def rendered(result: FileResult) -> str:
    threshold = Settings().threshold
    return "".join(
        f"{d.start}: {d.code}{' [*]' if d.fix_for(threshold) else ''} {d.message}\n"
        for d in result.diagnostics
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


def codes_at(source: str, settings: Settings | None = None) -> list[str]:
    result, _ = run(source.encode(), settings=settings)
    return [f"{d.start} {d.code}" for d in result.diagnostics] + [
        f"{e.location} error: {e.message}" for e in result.errors
    ]


def fixed_text(source: str, settings: Settings | None = None) -> str | None:
    _, new = run(source.encode(), Mode.FIX, settings)
    return None if new is None else new.decode()


# -- which docstrings ------------------------------------------------------------------------------------

KINDS = '''"""Module.

>>> a = Variable(torch.ones(1))
"""
import torch
from torch.autograd import Variable

if torch.cuda.is_available():
    def conditional():
        """>>> print("on the line of the opening quotes")
        >>> b = Variable(torch.ones(1))
        """
else:
    class Fallback:
        """
        >>> c = Variable(torch.ones(1))
        """

        @staticmethod
        def static():
            """
            >>> d = Variable(torch.ones(1))
            """

        @property
        def prop(self):
            """
            >>> e = Variable(torch.ones(1))
            """

        class Inner:
            async def method(self):
                """
                >>> f = Variable(torch.ones(1))
                """


def outer():
    def nested():
        """
        >>> g = Variable(torch.ones(1))
        """
    x = 1
    """
    >>> h = Variable(torch.ones(1))
    """


__test__ = {"doc": """
>>> i = Variable(torch.ones(1))
"""}
'''


def test_docstrings_are_those_doctest_collects() -> None:
    # Module, conditionally defined function and class, static method, property, nested class, async
    # method; not a function nested in a function (doctest never reaches it), not a string that is no
    # docstring; the strings of `__test__`.
    found = {row for row, code in (item.split() for item in codes_at(KINDS)) if code == "VM001"}
    assert found == {"3:9", "11:17", "16:17", "22:21", "28:21", "34:25", "50:9"}


# -- one program with the module --------------------------------------------------------------------------

MODULE_IMPORT = '''"""
>>> x = Variable(torch.ones(2), requires_grad=True)
"""
import torch
from torch.autograd import Variable
'''


def test_the_module_import_serves_the_examples_and_goes_only_with_their_last_use() -> None:
    # The only use of `Variable` is in the docstring: found through the module's import, and the import
    # goes once the example is fixed.
    assert codes_at(MODULE_IMPORT) == ["2:9 VM001"]
    assert fixed_text(MODULE_IMPORT) == '"""\n>>> x = torch.ones(2, requires_grad=True)\n"""\nimport torch\n'
    # An example whose fix is display only keeps the import it needs, here through a tab doctest expands.
    tabbed = MODULE_IMPORT.replace(">>> x", "\t>>> x")
    assert codes_at(tabbed) == ["2:10 VM001"]
    assert fixed_text(tabbed) is None


def test_an_example_without_the_import_is_not_torchs() -> None:
    # Without an import of torch's Variable in the module or the example, `Variable` is not torch's.
    assert codes_at('"""\n>>> x = Variable(torch.ones(2))\n"""\nimport torch\n') == []
    own = '"""\n>>> from torch.autograd import Variable\n>>> x = Variable(torch.ones(2))\n"""\n'
    assert codes_at(own) == ["3:9 VM001"]
    # The example's own import goes with its last use, and its `>>>` line with it.
    assert fixed_text(own) == '"""\n>>> x = torch.ones(2).detach()\n"""\n'


def test_an_example_cpython_rejects_never_reaches_libcst() -> None:
    # Nesting deeper than CPython accepts can crash LibCST's native parser: CPython's message, at the
    # example's line, and the other examples go on.
    deep = "(" * 300 + "1" + ")" * 300
    source = f'"""\n>>> y = {deep}\n>>> x = Variable(torch.ones(2))\n"""\n{IMPORTS}'
    assert codes_at(source) == [
        "3:9 VM001",
        "2:209 error: cannot parse: too many nested parentheses (doctest example)",
    ]
    fixed = fixed_text(source)
    assert fixed is not None
    assert ">>> x = torch.ones(2)\n" in fixed
    assert f">>> y = {deep}\n" in fixed


def test_fixes_that_cannot_be_written_in_place_are_display_only_and_say_why() -> None:
    result, _ = run((CASES / "escapes_and_tabs" / "input.py").read_bytes())
    titles = {d.start.row: d.fixes[0].title for d in result.diagnostics}
    assert all(
        d.fixes[0].applicability is Applicability.DISPLAY_ONLY
        for d in result.diagnostics
        if d.start.row != 15
    )
    assert titles[4].endswith(
        "(not applied: the docstring spells this example with backslash escapes or line continuations)"
    )
    assert titles[22].endswith("(not applied: doctest expands the tabs of this example)")
    assert titles[27].endswith("(not applied: the example shares a line with the docstring's quotes)")
    # A raw docstring is spelled as doctest reads it.
    assert "not applied" not in titles[15]
    # Edits are described only where their offsets are the file's.
    edits = {d.start.row: d.fixes[0].edits for d in result.diagnostics}
    assert edits[4] == edits[22] == ()
    (on_quotes,) = edits[27]
    assert (on_quotes.start, on_quotes.end) == (Location(27, 16), Location(27, 59))
    source = (CASES / "escapes_and_tabs" / "input.py").read_text()
    assert (
        source[on_quotes.start_offset : on_quotes.end_offset] == "Variable(torch.ones(1), requires_grad=True)"
    )


def test_select_ignore_and_noqa_apply_to_examples() -> None:
    source = '''"""
>>> x = Variable(torch.ones(2))
>>> isinstance(x, Variable)
>>> y = Variable(x)  # noqa: VM001
"""
import torch
from torch.autograd import Variable
'''
    assert codes_at(source) == ["2:9 VM001", "3:19 VM101"]
    assert codes_at(source, Settings(rules=select_rules(["VM101"]))) == ["3:19 VM101"]
    assert codes_at(source, Settings(rules=select_rules(ignore=["VM101"]))) == ["2:9 VM001"]
    # The noqa'd example keeps using `Variable`: the import stays.
    fixed = fixed_text(source)
    assert fixed is not None
    assert "from torch.autograd import Variable" in fixed
    assert ">>> y = Variable(x)  # noqa: VM001" in fixed


def test_add_noqa_comments_the_example_lines() -> None:
    source = '''"""
>>> x = Variable(torch.ones(2))
>>> isinstance(x, Variable)  # noqa: VM001
>>> x.data[0]  # doctest: +SKIP
"""
import torch
from torch.autograd import Variable


def f():
    """>>> Variable(torch.ones(2))"""
'''
    result, new = run(source.encode(), Mode.ADD_NOQA)
    assert new is not None
    lines = new.decode().splitlines()
    assert lines[1:4] == [
        ">>> x = Variable(torch.ones(2))  # noqa: VM001",
        ">>> isinstance(x, Variable)  # noqa: VM001, VM101",
        # doctest reads its directive to the end of the line: the noqa goes before it.
        ">>> x.data[0]  # noqa: VM201  # doctest: +SKIP",
    ]
    # An example on the docstring's quotes' line cannot take it (after the quotes, it would be the module's).
    assert lines[10] == '    """>>> Variable(torch.ones(2))"""'
    assert [(w.location, w.message) for w in result.warnings] == [
        (Location(11, 12), "cannot add `# noqa: VM001`: " + NOT_COMMENTABLE)
    ]
    assert codes_at(new.decode()) == ["11:12 VM001"]


def test_a_file_whose_only_findings_are_in_docstrings_passes_the_first_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mod.py"
    path.write_text(MODULE_IMPORT)
    assert main(["check", str(tmp_path), "--no-cache", "--output-format", "concise"]) == 1
    assert f"{path}:2:9: VM001" in capsys.readouterr().out
    assert main(["fix", str(tmp_path), "--no-cache", "-q"]) == 0
    assert path.read_text() == fixed_text(MODULE_IMPORT)


def test_an_example_in_another_module_keeps_the_import_it_gets_by_a_star_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, train = tmp_path / "model.py", tmp_path / "train.py"
    code = "import torch\nfrom torch.autograd import Variable\n\n\ndef leaf(h):\n    return Variable(h)\n"
    # A tab: doctest expands it, so the example is not rewritten and still needs model's `Variable`.
    for indent, kept in (("\t", True), ("    ", False)):
        model.write_text(code)
        train.write_text(
            f'from model import *\n\n\ndef f():\n    """\n{indent}>>> x = Variable(torch.ones(1))\n    """\n'
        )
        assert main(["fix", str(model), str(train), "--no-cache", "-q"]) == int(kept)
        assert "return h.detach()" in model.read_text()
        # Once the example is rewritten too, no file uses the import: it goes.
        assert ("from torch.autograd import Variable" in model.read_text()) is kept
        assert (">>> x = torch.ones(1).detach()" in train.read_text()) is not kept
    capsys.readouterr()


def test_the_examples_prefilter() -> None:
    imports = "import torch\nfrom torch.autograd import Variable\n"
    assert not could_match_examples(imports + "x = Variable(y)\n")  # no `>>>`: no examples
    assert could_match_examples(imports + '"""\n    >>> x = Variable(y)\n"""\n')
    assert could_match_examples(imports + '"""\n>>> x = f(\n...     Variable(y))\n"""\n')
    # Prose and strings in examples are not code; the required `autograd` may be anywhere in the file.
    assert not could_match_examples(imports + '"""\nVariable(y) was the old way\n>>> y = 1\n"""\n')
    assert not could_match_examples(imports + '"""\n>>> s = "Variable(y)"\n"""\n')
    assert not could_match_examples('"""\n>>> x = Variable(y)\n"""\n')
    # The first stage's test: words in code, or else in the code of examples.
    in_example = 'import torch\n"""\n>>> from torch.autograd import Variable\n>>> x = Variable(y)\n"""\n'
    assert not could_match(in_example)
    assert could_match(in_example, examples=True)
    assert not could_match(in_example.replace(">>> ", ""), examples=True)  # prose, not examples


# -- byte for byte ---------------------------------------------------------------------------------------


def test_crlf_and_every_byte_outside_the_examples_code_stay() -> None:
    before = (CASES / "crlf" / "input.py").read_bytes().split(b"\r\n")
    after = (CASES / "crlf" / "expected.py").read_bytes().split(b"\r\n")
    assert b"\n" not in b"".join(before + after)  # every line break is CRLF, before and after
    diff = difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
    changed = [(before[a0:a1], after[b0:b1]) for tag, a0, a1, b0, b1 in diff if tag != "equal"]
    assert changed == [
        (
            [b">>> x = Variable(torch.zeros(2), requires_grad=True)"],
            [b">>> x = torch.zeros(2, requires_grad=True)"],
        ),
        ([b"from torch.autograd import Variable"], []),
        ([b"    >>> isinstance(y, Variable)"], [b"    >>> isinstance(y, torch.Tensor)"]),
        (
            [b"    return Variable(torch.zeros(n), requires_grad=True)"],
            [b"    return torch.zeros(n, requires_grad=True)"],
        ),
    ]


@pytest.mark.slow
def test_doctest_passes_on_the_fixed_module_and_not_on_a_fix_blind_to_its_docstrings(tmp_path: Path) -> None:
    """The fixed examples run under doctest with the import gone; fixing the code alone breaks them."""
    case = CASES / "module_and_docstrings"
    blind = fix_source((case / "input.py").read_text(), Settings()).source
    for name, text in (
        ("input", (case / "input.py").read_text()),
        ("expected", (case / "expected.py").read_text()),
        ("blind", blind),
    ):
        path = write(tmp_path / f"{name}.py", text)
        done = run_python(["-m", "doctest", str(path)], tmp_path, env=clean_env())
        if name == "blind":
            assert done.returncode == 1
            assert "NameError: name 'Variable' is not defined" in done.stdout
        else:
            assert done.returncode == 0, done.stdout + done.stderr
