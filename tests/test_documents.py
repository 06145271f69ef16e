"""Python in Markdown and reStructuredText: blocks found, analysed as one program, fixed in place with every
other byte unchanged, positions on the document's own lines. Real documents, the real engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from programs import run_python
from support import clean_env, write

from varmigrate.cli import main
from varmigrate.documents import check_document, fix_document
from varmigrate.documents.blocks import markdown_blocks, rst_blocks
from varmigrate.engine import Settings

TUTORIAL = Path(__file__).parent.parent / "fixtures" / "documents" / "tutorial"
IMPORTS = "import torch\nfrom torch.autograd import Variable\n"


def findings(text: str, suffix: str = ".md", **settings: bool) -> list[str]:
    result = check_document(text, suffix, Settings(**settings))
    return [f"{d.start} {d.code}" for d in result.diagnostics] + [
        f"{e.row}:{e.column} error: {e.message}" for e in result.errors
    ]


def fixed(text: str, suffix: str = ".md", **settings: bool) -> str | None:
    return fix_document(text, suffix, Settings(**settings)).text


# -- the tutorial fixture ------------------------------------------------------------------------------


DOCUMENTS = sorted(path.parent.name for path in (TUTORIAL.parent).glob("*/input.*"))


def _case(name: str) -> tuple[Path, Path]:
    (source,) = (TUTORIAL.parent / name).glob("input.*")
    return source, source.with_name(f"expected{source.suffix}")


def test_every_document_fixture_folder_is_a_case() -> None:
    kinds = {"tutorial", "quarto_page", "myst_notebook", "sphinx_page_crlf", "other_libraries"}
    assert kinds <= set(DOCUMENTS)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_fixtures(name: str, update_fixtures: bool) -> None:
    """Each folder: input.<ext>; diagnostics.txt (what check reports); expected.<ext> (absent: fix changes
    nothing); a second fix changes nothing."""
    source, expected_path = _case(name)
    text = source.read_bytes().decode()
    result = check_document(text, source.suffix, Settings())
    rendered = "".join(
        f"{d.start}: {d.code}{' [*]' if d.fix_for(Settings().threshold) else ''} {d.message}\n"
        for d in result.diagnostics
    ) + "".join(f"{e.row}:{e.column}: error: {e.message}\n" for e in result.errors)
    diagnostics = source.with_name("diagnostics.txt")
    new = fixed(text, source.suffix)
    if update_fixtures:
        diagnostics.write_text(rendered)
        if new is not None:
            expected_path.write_bytes(new.encode())
    assert rendered == (diagnostics.read_text() if diagnostics.exists() else "")
    if expected_path.exists():
        assert new == expected_path.read_bytes().decode()
        assert fixed(new, source.suffix) is None
    else:
        assert new is None


def python_blocks(text: str) -> str:
    return "".join(
        "".join(line.code for line in block.lines) for block in markdown_blocks(text) if not block.console
    )


@pytest.mark.slow
def test_the_fixed_tutorial_computes_the_same_gradients(tmp_path: Path) -> None:
    outputs = []
    for name in ("input.md", "expected.md"):
        program = write(tmp_path / f"{name}.py", python_blocks((TUTORIAL / name).read_text()))
        done = run_python([str(program)], tmp_path, env=clean_env())
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert "tensor([3., 9.], dtype=torch.float64)" in outputs[0]
    assert outputs[1] == outputs[0]


# -- Markdown ------------------------------------------------------------------------------------------

MARKDOWN = f"""# Title

```python
{IMPORTS}```

Some prose that says Variable(x) is old.

~~~py
a = Variable(torch.ones(2), requires_grad=True)
~~~

- a list item:

  ```python3
  b = Variable(a * 2)
  ```

```text
c = Variable(a)
```
"""


def test_markdown_blocks_are_one_program_at_document_positions() -> None:
    # The import in the first block serves the others; the text block and the prose are not code.
    assert findings(MARKDOWN) == ["11:5 VM001", "17:7 VM001"]
    assert fixed(MARKDOWN) == MARKDOWN.replace("from torch.autograd import Variable\n", "").replace(
        "a = Variable(torch.ones(2), requires_grad=True)", "a = torch.ones(2, requires_grad=True)"
    ).replace("  b = Variable(a * 2)", "  b = (a * 2).detach()")


def test_a_crlf_document_keeps_every_other_byte() -> None:
    text = MARKDOWN.replace("\n", "\r\n")
    result = fixed(text)
    assert result is not None
    assert result == fixed(MARKDOWN).replace("\n", "\r\n")  # type: ignore[union-attr]


def test_a_block_that_does_not_parse_is_reported_and_left_alone() -> None:
    text = MARKDOWN + "\n```python\nprint Variable(a)\n```\n"
    assert (
        findings(text)[-1] == "25:1 error: Missing parentheses in call to 'print'. Did you mean print(...)?"
    )
    result = fixed(text)
    assert result is not None
    assert result.endswith("\n```python\nprint Variable(a)\n```\n")
    # Its names stay in use: the import it needs is kept.
    assert "from torch.autograd import Variable" in result


def test_myst_and_quarto_code_cells() -> None:
    text = (
        "```{code-cell} ipython3\n:tags: [hide-output]\n%matplotlib inline\n" + IMPORTS + "```\n\n"
        "```{python}\nx = Variable(torch.zeros(3))\n```\n"
    )
    assert findings(text) == ["9:5 VM001"]
    assert fixed(text) == (
        "```{code-cell} ipython3\n:tags: [hide-output]\n%matplotlib inline\nimport torch\n```\n\n"
        "```{python}\nx = torch.zeros(3)\n```\n"
    )


def test_console_sessions_are_fixed_statement_by_statement_and_output_stays() -> None:
    text = (
        "```pycon\n>>> import torch\n>>> from torch.autograd import Variable\n"
        ">>> for i in range(2):\n...     w = Variable(torch.ones(i), requires_grad=True)\n...\n"
        ">>> w\ntensor([1.], requires_grad=True)\n>>> print(w.sum().data[0])\n1.0\n```\n"
    )
    assert findings(text) == ["5:13 VM001", "9:11 VM201"]
    assert fixed(text, unsafe_fixes=True) == (
        "```pycon\n>>> import torch\n"
        ">>> for i in range(2):\n...     w = torch.ones(i, requires_grad=True)\n...\n"
        ">>> w\ntensor([1.], requires_grad=True)\n>>> print(w.sum().item())\n1.0\n```\n"
    )


def test_comments_moved_by_a_fix_get_the_block_prefix() -> None:
    text = (
        "  ```python\n  import torch\n  from torch.autograd import Variable\n"
        "  w = Variable(\n      torch.ones(2),  # ones\n  )\n  ```\n"
    )
    assert fixed(text) == "  ```python\n  import torch\n  # ones\n  w = torch.ones(2)\n  ```\n"
    (finding,) = check_document(text, ".md").diagnostics
    (edit,) = finding.fixes[0].edits
    # The edit, applied to the document, gives the same text.
    assert text[: edit.start_offset] + edit.content + text[edit.end_offset :] == (
        "  ```python\n  import torch\n  from torch.autograd import Variable\n"
        "  # ones\n  w = torch.ones(2)\n  ```\n"
    )


# -- reStructuredText ------------------------------------------------------------------------------------

RST = f"""Title
=====

.. code-block:: python
   :linenos:

{re.sub("(?m)^", "   ", IMPORTS)}
A literal block that is Python::

    a = Variable(torch.ones(2), requires_grad=True)

A literal block that is not::

    $ pip install torch

.. code:: bash

   b = Variable(a)

A doctest block:

>>> c = Variable(a * 2)
>>> c.requires_grad
False

.. sourcecode:: pycon

   >>> d = Variable(a)
"""


def test_rst_code_blocks_doctests_and_python_literal_blocks() -> None:
    assert [block.first_row for block in rst_blocks(RST)] == [7, 12, 24, 30]
    assert findings(RST, ".rst") == ["12:9 VM001", "24:9 VM001", "30:12 VM001"]
    assert fixed(RST, ".rst") == RST.replace("   from torch.autograd import Variable\n", "").replace(
        "    a = Variable(torch.ones(2), requires_grad=True)", "    a = torch.ones(2, requires_grad=True)"
    ).replace(">>> c = Variable(a * 2)", ">>> c = (a * 2).detach()").replace(
        "   >>> d = Variable(a)", "   >>> d = a.detach()"
    )


# -- the command line ------------------------------------------------------------------------------------


def test_a_directory_walk_checks_and_fixes_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "docs" / "tutorial.md", (TUTORIAL / "input.md").read_text())
    write(tmp_path / "docs" / "api.rst", RST)
    # The same bytes read as Python: a different result, never a cache hit of the document's.
    write(tmp_path / "same.py", RST)
    assert main(["check", "--output-format", "concise", "."]) == 2
    out = capsys.readouterr()
    assert "docs/tutorial.md:17:11: VM001" in out.out
    assert "docs/api.rst:30:12: VM001" in out.out
    assert "error: same.py:2:1: cannot parse: invalid syntax" in out.err
    assert main(["fix", "--output-format", "concise", "docs"]) == 1
    assert (tmp_path / "docs" / "tutorial.md").read_text() == (TUTORIAL / "expected.md").read_text()
