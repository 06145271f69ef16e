"""Import clean-up gives what LibCST's RemoveImportsVisitor and AddImportsVisitor give, on many layouts."""

from __future__ import annotations

import itertools
import random

import pytest
from support import full_search

from varmigrate.engine import Settings, check_source, fix_source
from varmigrate.engine.analysis import analyse
from varmigrate.engine.imports import _clean_with_codemods, clean_imports
from varmigrate.rules import ALL_RULES

HEADS = [
    "",
    '"""Docstring."""\n',
    "#!/usr/bin/env python\n# a comment\n\n",
    "from __future__ import annotations\n",
    "__strict__ = True\n",
    '"a" "b"\n',
    '"""Trains with a Variable."""\n',
]
IMPORTS = [
    "from torch.autograd import Variable\n",
    "import numpy as np\nfrom torch.autograd import Variable, grad\n",
    "from torch.autograd import (\n    grad,  # keep\n    Variable,  # legacy\n)\n",
    "from torch.autograd import (\n    Variable,  # legacy\n    grad,\n)\n",
    "import torch.autograd as ag\nimport torch.nn as nn\n",
    "from torch import autograd\n",
    "from torch.autograd import Variable as V\nfrom torch.autograd.variable import Variable\n",
    "try:\n    from torch.autograd import Variable\nexcept ImportError:\n    pass\n",
    "try:\n    from torch.autograd import Variable\nexcept ImportError:  # old torch\n    pass\n",
    "import torch\n",
    "import torch as th\n",
    "# Variable wraps tensors\nfrom torch.autograd import Variable  # legacy\n",
    "if True:\n    import torch\n    # the old API\n    from torch.autograd import Variable\n",
]
USES = [
    "",
    "\nx = 1\n",
    "# a comment\nx = 1\n",
    "\n\ndef f(t):\n    return autograd.grad(t, [t])\n",
    "\n\ndef f(t):\n    return ag.grad(t, [t])\n",
    "\n\ndef f(t):\n    import torch.autograd as ag\n    return t\n",
    "__all__ = ['Variable']\n",
    "\n\ndef f(t: 'Variable') -> None:\n    pass\n",
    "T = TypeVar('T', bound='ag.Function')\n",
    "\n\ndef f(t):\n    Variable = t\n    return Variable\n",
    "v = V(t)\n",
    "try:\n    pass\nexcept ImportError:\n    pass\n",
    # Docstrings that spell the name: never a use (the clean-up parses none of them).
    '\n\ndef f(t):\n    """Returns a Variable."""\n    return t\n',
    '\n\nclass C:\n    """Holds a Variable."""\n\n    def f(self):\n'
    '        """:rtype: Variable"""\n        return Variable\n',
    '\n\ndef f(t):\n    """Variable"""; return Variable(t)\n',
]
NEEDED = [(), ("torch",)]


def _sources() -> list[tuple[str, tuple[str, ...]]]:
    cases = []
    for head, imports, uses, needed in itertools.product(HEADS, IMPORTS, USES, NEEDED):
        source = head + imports + uses
        cases.append((source, needed))
    # A sample of the layouts: the everyday run takes a quarter of the full search (make test-full, CI).
    sample = random.Random(0).sample(cases, 240 if full_search() else 60)
    return sample + [(s.replace("\n", "\r\n"), n) for s, n in sample[: len(sample) // 6]]


@pytest.mark.search
@pytest.mark.parametrize(("source", "needed"), _sources())
def test_clean_up_matches_libcsts_visitors(source: str, needed: tuple[str, ...]) -> None:
    expected = _clean_with_codemods(source, list(needed)).text
    assert clean_imports(source, needed).source == expected
    analysis = analyse(source, ALL_RULES)
    assert clean_imports(source, needed, analysis).source == expected


@pytest.mark.parametrize(
    "uses",
    [
        "",
        "x = 1  # Variable, in a comment only\n",
        "s = 'Variable'\n",
        # String annotations that spell the name only once their escapes are read: LibCST's visitors see
        # a use and keep the import, though no word of the statement finds it.
        "\n\ndef f(t: 'Var\\x69able') -> None:\n    pass\n",
        "\n\ndef f(t: 'Var\\\niable') -> None:\n    pass\n",
        "\n\nclass C:\n    def f(self, t: 'Var\\u0069able'):\n        pass\n\n    def g(self, Variable):\n"
        "        return Variable\n",
        # Escapes that spell something else.
        "\n\ndef f(t: 'Var\\x41able') -> None:\n    pass\n",
        "x = Variable\n",
        "from torch.autograd import Variable\n",
        # Docstrings, alone or beside a use on their line.
        '\n\ndef f(t):\n    """Returns a Variable."""\n    return t\n',
        '\n\nclass C:\n    """:rtype: torch.autograd.Variable"""\n',
        '\n\ndef f(t):\n    """Variable"""; return Variable(t)\n',
        '\n\ndef f(t):\n    x = 1\n    """Variable"""\n    return x\n',
    ],
)
def test_an_import_the_text_spells_nowhere_else_goes_as_libcst_removes_it(uses: str) -> None:
    """Where no other word or string can spell the name, the clean-up answers without scope analysis."""
    source = "import torch\nfrom torch.autograd import Variable\n" + uses
    expected = _clean_with_codemods(source, []).text
    assert clean_imports(source, ()).source == expected
    assert clean_imports(source, (), analyse(source, ALL_RULES)).source == expected


def test_an_escaped_spelling_in_a_statement_the_last_round_kept_keeps_the_import() -> None:
    # Kept for its `.data[0]`, the function's string annotation is a use once its escape is read.
    source = (
        "import torch\nfrom torch.autograd import Variable\n\n\n"
        "def f(t: 'Var\\x69able'):\n    return t.data[0]\n"
    )
    expected = _clean_with_codemods(source, []).text
    assert "from torch.autograd import Variable\n" in expected
    assert clean_imports(source, (), analyse(source, ALL_RULES)).source == expected


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nfrom torch.autograd import Variable\n\n\n"
        "w = Variable(torch.ones(2), requires_grad=True)\nprint(loss.data[0])\n",
        "import torch.nn as nn\nfrom torch.autograd import Variable\n"
        "x = Variable(torch.FloatTensor(2, 3))\ny = loss.data[0]\n",
        "import torch\ntry:\n    from torch.autograd import Variable\nexcept ImportError:\n"
        "    Variable = None\nh = Variable(t)\nz = t.data[0]\n",
    ],
)
def test_findings_after_clean_up_are_those_of_a_fresh_check(source: str) -> None:
    for unsafe in (False, True):
        result = fix_source(source, Settings(unsafe_fixes=unsafe))
        assert result.diagnostics == check_source(result.source, Settings(unsafe_fixes=unsafe))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "import torch\n\n# Variable wraps a tensor for autograd\nfrom torch.autograd import Variable\n\n"
            "w = Variable(torch.ones(2), requires_grad=True)\n",
            "import torch\n\n# Variable wraps a tensor for autograd\n\n"
            "w = torch.ones(2, requires_grad=True)\n",
        ),
        (
            "import torch\n\n\ndef f():\n    # the old API\n    from torch.autograd import Variable\n"
            "    # a leaf\n    return Variable(torch.ones(2), requires_grad=True)\n",
            "import torch\n\n\ndef f():\n    # the old API\n    # a leaf\n"
            "    return torch.ones(2, requires_grad=True)\n",
        ),
        (
            "import torch\n\n\ndef f():\n    return Variable(torch.ones(2))\n\n\n"
            "# at the end\nfrom torch.autograd import Variable\n",
            "import torch\n\n\ndef f():\n    return torch.ones(2)\n\n\n# at the end\n",
        ),
    ],
    ids=["above-a-top-level-import", "above-an-import-in-a-function", "above-the-last-statement"],
)
def test_a_comment_above_a_removed_import_stays(source: str, expected: str) -> None:
    assert fix_source(source).source == expected
