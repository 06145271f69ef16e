"""One finding, one rule: a finding carries its own rule's message, and selection follows its code.

`volatile=` inside torch's `Variable(...)` belongs to VM001 (one finding per call, whose fix removes both);
VM002 reports `volatile` everywhere else (issue 9).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixture_cases import load_cases
from support import write

from varmigrate.cli import main
from varmigrate.rules import ALL_RULES

CATALOG_MESSAGES = {rule.message: rule.code for rule in ALL_RULES}
# A line of a fixture's diagnostics.txt: `line:col: CODE [*] message`.
FINDING = re.compile(r"(\d+:\d+): (VM\d{3})(?: \[\*\])? (.*)")

SOURCE = """\
import torch
from torch.autograd import Variable

x = Variable(torch.randn(3), volatile=True)
y = to_var(x, volatile=True)
"""


def test_no_finding_carries_another_rules_message() -> None:
    """Read from the fixtures' diagnostics.txt, which `test_fixtures` holds to the engine's output."""
    wrong = []
    for case in load_cases():
        for line in case.diagnostics.read_text(encoding="utf-8").splitlines():
            found = FINDING.fullmatch(line)
            assert found is not None, f"{case.id}: {line!r}"
            _, code, message = found.groups()
            owner = CATALOG_MESSAGES.get(message, code)
            if owner != code:
                wrong.append(f"{case.id}: {line} ({owner}'s message)")
    assert not wrong


@pytest.mark.parametrize(
    ("argv", "reported"),
    [
        pytest.param([], ["a.py:4:5: VM001", "a.py:5:15: VM002"], id="all"),
        pytest.param(["--select", "VM002"], ["a.py:5:15: VM002"], id="select-VM002"),
        pytest.param(["--ignore", "VM002"], ["a.py:4:5: VM001"], id="ignore-VM002"),
        pytest.param(["--select", "VM001"], ["a.py:4:5: VM001"], id="select-VM001"),
        pytest.param(["--ignore", "VM001"], ["a.py:5:15: VM002"], id="ignore-VM001"),
    ],
)
def test_volatile_in_variable_is_selected_as_vm001(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], reported: list[str]
) -> None:
    write(project / "a.py", SOURCE)
    main(["check", "--output-format", "concise", *argv, "a.py"])
    lines = capsys.readouterr().out.splitlines()
    assert [" ".join(line.split()[:2]) for line in lines if line.startswith("a.py:")] == reported


def test_vm201_says_what_it_assumes() -> None:
    # `pred.data[0]` on a 5x1 tensor is a row, not an error: the message and the unsafe fix say "if 0-dim".
    from varmigrate.engine import check_source

    (finding,) = check_source("import torch\nfirst = pred.data[0]\n")
    assert "if the tensor is 0-dim" in finding.message
    assert [fix.title for fix in finding.fixes] == ["Replace with `.item()` (assumes the tensor is 0-dim)"]
