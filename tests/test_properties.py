"""Property test: on generated legacy programs `fix` never crashes, output parses, a second fix is a no-op.

How many programs are generated is the Hypothesis profile's choice (tests/conftest.py): a few in
`make test`, the full search in `make test-full`.
"""

from __future__ import annotations

import ast
import re
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from varmigrate.engine import INTERNAL_ERROR, Settings, check_source, fix_source, lint, parse
from varmigrate.pipeline import Job, Mode, prepare

NAMES = st.sampled_from(["x", "h", "images", "self.weight", "batch[0]", "out.data"])
FACTORIES = st.sampled_from(
    [
        "torch.ones(2, 2)",
        "torch.randn(3)",
        "torch.zeros((2,2), dtype=torch.float64)",
        "torch.from_numpy(arr)",
        "torch.FloatTensor([1, 2])",
        "torch.Tensor(2, 3)",
        "torch.LongTensor([[1], [2]])",
        "torch.randn(3).double()",
        "torch.tensor([1.0], requires_grad=True)",
        "torch.ones(2, out=buf)",
    ]
)
FLAGS = st.sampled_from(
    [
        "",
        ", requires_grad=True",
        ", requires_grad=False",
        ", True",
        ", requires_grad=flag",
        ", requires_grad=1",
        ", volatile=True",
        ", volatile=False",
        ", False, True",
        ", requires_grad=True, volatile=True",
        ", name='w'",
        ", **kw",
    ]
)
COMMENT = re.compile(r"#[^\r\n]*")
CHAINED = st.sampled_from([".new().fill_(0)", ".double()", ".sum()"])
CALLEES = st.sampled_from(["Variable", "V", "ag.Variable", "torch.autograd.Variable"])


@st.composite
def data_expressions(draw: st.DrawFn, depth: int = 0) -> str:
    choice = draw(st.integers(0, 6 if depth < 2 else 2))
    if choice == 0:
        return draw(NAMES)
    if choice == 1:
        return draw(FACTORIES)
    if choice == 2:
        return f"{draw(NAMES)} * 2"
    if choice == 3:
        return f"{draw(variable_calls(depth + 1))}"
    if choice == 4:
        return f"-{draw(NAMES)}"
    if choice == 5:
        # A chain whose line break only the enclosing call's parentheses allow.
        return f"{draw(st.one_of(NAMES, FACTORIES))}\n        {draw(CHAINED)}"
    return f"({draw(data_expressions(depth + 1))}).cuda()"


@st.composite
def variable_calls(draw: st.DrawFn, depth: int = 0) -> str:
    callee = draw(CALLEES)
    if draw(st.integers(0, 9)) == 0:
        return f"{callee}()"
    if draw(st.integers(0, 4)) == 0:
        # Comments inside the call, the most common formatting of all: they must survive the fix.
        return f"{callee}(  # why {depth}\n    {draw(data_expressions(depth))}{draw(FLAGS)}  # how {depth}\n)"
    return f"{callee}({draw(data_expressions(depth))}{draw(FLAGS)})"


@st.composite
def statements(draw: st.DrawFn) -> str:
    call = draw(variable_calls())
    other = draw(variable_calls())
    templates = [
        f"x = {call}",
        f"y = {call}.sum()",
        f"z = ({call})",
        f"a, b = {call}, {other}",
        f"images = {call}  # trailing",
        f"loss = f({call}, k={other})",
        f"for i in range(3):\n    x = {call}\n    total += x.data[0]",
        # `.data[0]` left (unsafe) beside, around and after the fixed calls: fix carries these findings
        # over to the fixed text where it can (`fixer._carried_over`), and must agree with a fresh check.
        f"x = {call}\nloss = x.data[0]  # left",
        f"total += {call}.data[0]",
        f"y = ({call}\n     ).data[0] + {other}.data[0]",
        f"print(loss.data[0], {call}, f'{{loss.data[0]}}')",
        f"class M:\n    def forward(self, x):\n        return self.data[0] + {call}.data[0]",
        f"w = {call}\nv = (w.data\n     [0])",
        f"if ready:\n    x = {call}",
        f"def step(x):\n    return {call}",
        f"out = [{call} for x in batch]",
        f"ok = isinstance(x, Variable) and {call} is not None",
        f"value = (\n    {call}  # keep\n)",
        f"x = torch.zeros(3)\ny = {call}",
        f"def helper(a):\n    return a * 2\n    # end of helper\nz = {call}",
        f"class Net:\n    def forward(self, x):\n        return x\nnet = {call}",
    ]
    return draw(st.sampled_from(templates))


@st.composite
def programs(draw: st.DrawFn) -> str:
    header = (
        "import torch\n"
        "import torch.autograd as ag\n"
        "from torch.autograd import Variable\n"
        "from torch.autograd import Variable as V\n"
    )
    body = draw(st.lists(statements(), min_size=1, max_size=4))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return (header + "\n".join(body) + "\n").replace("\n", newline)


@given(source=programs(), unsafe=st.booleans())
def test_fix_parses_and_is_idempotent(source: str, unsafe: bool) -> None:
    options = Settings(unsafe_fixes=unsafe)
    first = fix_source(source, options)
    parse(first.source)
    assert not [d for d in first.diagnostics if d.code == INTERNAL_ERROR], first.diagnostics
    # No comment is lost (a removed import's line holds none here).
    assert sorted(COMMENT.findall(first.source)) == sorted(COMMENT.findall(source))
    second = fix_source(first.source, options)
    assert second.source == first.source
    assert second.applied == 0
    # Analysing only the statements that may hold a finding gives the same findings as the whole module.
    module = parse(source)
    assert lint(module, source, options.rules) == lint(module, source, options.rules, reduce=False)
    # Whatever is left is reported, and a check of the fixed code agrees with what fix reported.
    assert check_source(first.source, options) == [d for d in first.diagnostics if d.code != INTERNAL_ERROR]


# Imports of Variable that a star import hands to another module.
STAR_NAMES = ("Variable", "V", "ag")


@st.composite
def star_importers(draw: st.DrawFn) -> str:
    body = draw(st.lists(statements(), min_size=1, max_size=3))
    return "import torch\nfrom model import *\n" + "\n".join(body) + "\n"


@given(model=programs(), train=star_importers(), unsafe=st.booleans())
def test_two_modules_fixed_as_one_project_keep_what_the_importer_uses(
    model: str, train: str, unsafe: bool
) -> None:
    """`train.py` gets `Variable`, `V` and `ag` from `from model import *`. After `fix` over both, every one
    of them train.py still uses is still bound in model.py, the code parses, and a second fix is a no-op."""
    settings = Settings(unsafe_fixes=unsafe)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "model.py").write_bytes(model.encode())
        (root / "train.py").write_bytes(train.encode())
        items = [(root / "model.py", Job(settings, Mode.FIX)), (root / "train.py", Job(settings, Mode.FIX))]
        results = list(prepare(items))
        assert not [e for r in results for e in r.errors], [e for r in results for e in r.errors]
        fixed = {name: (root / name).read_text() for name in ("model.py", "train.py")}
        trees = {name: ast.parse(text) for name, text in fixed.items()}
        bound = {
            alias.asname or alias.name
            for node in trees["model.py"].body
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        used = {
            node.id
            for node in ast.walk(trees["train.py"])
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in STAR_NAMES
        }
        assert used <= bound, (used - bound, fixed)
        again = list(prepare(items))
        assert [r.fixed for r in again] == [0, 0]
        assert {name: (root / name).read_text() for name in fixed} == fixed


# Found by the property test. `x` is bound once at module level and used only in `Variable(x)`: the
# whole-module analysis sees a fresh temporary (SAFE: drop the wrapper). The reduced analysis leaves
# the class out; that the class's methods have parameters named `x` must not make it call `x` not
# fresh: they are other variables.
FRESH_NAME_OUTSIDE_CANDIDATES = (
    "import torch\n"
    "from torch.autograd import Variable\n"
    "class Net:\n"
    "    def forward(self, x):\n"
    "        return x\n"
    "x = torch.zeros(3)\n"
    "def step(x):\n"
    "    return Variable()\n"
    "loss = f(Variable(), k=Variable(x))\n"
)


def test_reduced_analysis_agrees_on_a_fresh_name_bound_outside_the_candidates() -> None:
    source = FRESH_NAME_OUTSIDE_CANDIDATES
    module = parse(source)
    rules = Settings().rules
    assert lint(module, source, rules) == lint(module, source, rules, reduce=False)
