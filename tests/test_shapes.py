"""The shapes of VM201's and VM202's findings in CPython's `ast` hide no finding: wherever they leave a
rule out, LibCST's analysis of the whole module finds nothing of it; and they do leave out the
candidates modern code is full of (a dataset's `self.data[0]`, a string, an assignment)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from varmigrate.engine import check_source, lint, parse
from varmigrate.engine.prefilter import parse_ast, shaped_out
from varmigrate.pipeline import Job, Mode, prepare
from varmigrate.pipeline.batch import SHAPES_HERE_BYTES
from varmigrate.rules import ALL_RULES, RuleSpec
from varmigrate.rules.shapes import has_shape, shaped_rules

SHAPED = tuple(rule for rule in ALL_RULES if has_shape(rule))
VARIABLE_RULES = {"VM001", "VM101", "VM102", "VM103"}
HEADER = "import torch\n"
# `self` to CPython (NFKC), another name to LibCST: a fullwidth s.
WIDE_SELF = "\uff53elf"


def left_out(source: str) -> set[str]:
    """The codes of the rules with a shape that the module ``source`` does not hold."""
    tree = ast.parse(source)
    kept = shaped_rules(source, tree, SHAPED)
    return {rule.code for rule in SHAPED if rule not in kept}


def found(source: str, rules: tuple[RuleSpec, ...] = SHAPED) -> set[str]:
    """The codes LibCST's analysis of the whole module (no statement left out) finds."""
    return {d.code for d in lint(parse(source), source, rules, reduce=False)}


def assert_hides_nothing(source: str) -> set[str]:
    """Every rule the shapes leave out finds nothing in ``source``; the rules left out."""
    gone = left_out(source)
    assert not gone & found(source), source
    return gone


# Receivers, the steps between a receiver and the index, the index, and where the expression stands.
RECEIVERS = st.sampled_from(
    [
        "self",
        "loss",
        "x",
        "cls",
        "other",
        WIDE_SELF,
        "(self)",
        "self.loss",
        "s[1]",
        "'a loss'",
        "f()",
        "y.sum()",
    ]
)
STEPS = st.lists(st.sampled_from([".data", ".cpu()", ".detach()", ".sum()", ".numpy()", "()"]), max_size=4)
INDEXES = st.sampled_from(
    ["[0]", "[0]", "[0]", "[0,]", "[(0)]", "[ 0 ]", "[00]", "[False]", "[1]", "[0, 1]", "[0:]"]
)
FINALS = st.sampled_from([".data", ".numpy()", ".data.numpy()", ".cpu().numpy()", ".data.cpu().numpy()", ""])
STATEMENTS = st.sampled_from(
    [
        "y = {e}",
        "{e} = 1",
        "{e} += 1",
        "del {e}",
        "for {e} in z: pass",
        "with z as {e}: pass",
        'print(f"{{{e}}}")',
        "g(lambda: {e})",
        "[{e} for _ in z]",
        "s = '{e}'  # {e}",
        "return {e}",
    ]
)
# What a method's body holds besides the statement: ways to bind `self` again, or none.
REBINDINGS = st.sampled_from(
    [
        "",
        "self = other",
        "global self",
        "(self := 1)",
        "for self in z: pass",
        "import self",
        "def self(): pass",
        "[(self := v) for v in z]",
        "try: pass\n        except E as self: pass",
        "def inner(self): pass",
        "del self",
    ]
)
DECORATORS = st.sampled_from(
    ["", "@staticmethod", "@property", "@sm", "@builtins.staticmethod", "@classmethod", "@functools.cache"]
)
PARAMETERS = st.sampled_from(
    ["self", "self, a", "self, /", "*, self", "*self", "cls", "a, self", WIDE_SELF, ""]
)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    text = draw(RECEIVERS)
    for step in draw(STEPS):
        text = f"({text})" if step == "()" else text + step
    if draw(st.booleans()):
        text = f"({text}{draw(FINALS)})"
    else:
        text += draw(FINALS)
    return text + draw(INDEXES)


@st.composite
def modules(draw: st.DrawFn) -> str:
    statement = draw(STATEMENTS).format(e=draw(expressions()))
    imports = (
        "import builtins, functools\nfrom builtins import staticmethod as sm\n" if draw(st.booleans()) else ""
    )
    place = draw(st.integers(0, 4))
    if place == 0:
        body = statement
    elif place == 1:
        body = f"def f({draw(PARAMETERS)}):\n    {statement}"
    else:
        decorator = draw(DECORATORS)
        rebinding = draw(REBINDINGS)
        lines = [f"    {decorator}"] if decorator else []
        head = "async def" if place == 3 else "def"
        lines.append(f"    {head} m({draw(PARAMETERS)}):")
        lines += [f"        {rebinding}"] if rebinding else []
        lines.append(f"        {statement}")
        method = "\n".join(lines)
        if place == 4:
            # A method under an `if` of the class body, or a function nested in a method.
            method = "    if True:\n" + "\n".join("    " + line for line in method.splitlines())
        body = f"class A:\n{method}"
    return HEADER + imports + body + "\n"


# Where `Variable` can stand: imports, docstrings (of the module, a class, a function, one beside code),
# and code that uses it or only looks as if it did.
VARIABLE_IMPORTS = st.sampled_from(
    [
        "from torch.autograd import Variable\n",
        "from torch.autograd import Variable as V\n",
        "from torch.autograd import Variable as Variable\n",
        "import torch.autograd as ag\n",
        "from torch.autograd import *\n",
        "from torch.autograd.variable import Variable\n",
        "try:\n    from torch.autograd import Variable\nexcept ImportError:\n    pass\n",
        "from torch import autograd\n",
    ]
)
DOCSTRINGS = st.sampled_from(
    ['"""A Variable."""', '""":rtype: torch.autograd.Variable"""', "'Variable'", '"""No mention."""', ""]
)
VARIABLE_USES = st.sampled_from(
    [
        "return x",
        "return Variable(x)",
        "return V(x)",
        "return ag.Variable(x)",
        "return autograd.Variable(x)",
        "return isinstance(x, Variable)",
        "s = 'Variable'; return s",
        "return x  # Variable",
        "return f'{Variable}'",
        "y: Variable = x; return y",
        '"""Variable"""; return Variable(x)',
        'x = 1; """Variable"""; return x',
    ]
)


@st.composite
def variable_modules(draw: st.DrawFn) -> str:
    head = draw(DOCSTRINGS)
    lines = [head] if head else []
    lines += [HEADER.rstrip("\n"), draw(VARIABLE_IMPORTS).rstrip("\n"), "", ""]
    docstring = draw(DOCSTRINGS)
    use = draw(VARIABLE_USES)
    body = [f"    {docstring}"] if docstring else []
    if draw(st.booleans()):
        lines.append("class C:")
        if (class_docstring := draw(DOCSTRINGS)) != "":
            lines.append(f"    {class_docstring}")
        lines.append("    def f(self, x):")
        lines += ["    " + line for line in body] + [f"        {use}"]
    else:
        lines.append("def f(x):")
        lines += [*body, f"    {use}"]
    return "\n".join(lines) + "\n"


def _valid(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(source=modules() | variable_modules())
@example(source=HEADER + "class A:\n    def m(self):\n        return (self.cpu()).data.numpy()[0]\n")
@example(source=HEADER + "class A:\n    def m(self):\n        return (self.data).data.numpy()[0]\n")
@example(source=HEADER + "class A:\n    @sm\n    def m(self):\n        return self.data[0]\n")
@example(source=HEADER + f"class A:\n    def m({WIDE_SELF}):\n        return self.data[0]\n")
@example(source=HEADER + "class A:\n    def m(self):\n        return 'my loss'.numpy()[0]\n")
@example(source=HEADER + "x.data[0,]\n")
@example(source=HEADER + "from torch.autograd import Variable as V\n\n\ndef f(x):\n    return V(x)\n")
@example(
    source=HEADER
    + 'from torch.autograd import Variable\n\n\ndef f(x):\n    """Variable"""; return Variable(x)\n'
)
def test_a_rule_left_out_finds_nothing(source: str) -> None:
    if not _valid(source):
        return
    assert_hides_nothing(source)


@pytest.mark.parametrize(
    ("code", "gone"),
    [
        # A dataset's own `data`, in an ordinary method, a property, a class method.
        ("class A:\n    def first(self):\n        return self.data[0]\n", {"VM201", "VM202"}),
        (
            "class A:\n    @property\n    def first(self):\n        return self.data.numpy()[0]\n",
            {"VM201", "VM202"},
        ),
        ("class A:\n    @classmethod\n    def first(cls):\n        return cls.data[0]\n", {"VM201", "VM202"}),
        # Only in a string and a comment; assigned to; deleted.
        ("text = 'loss.data[0]'  # loss.data.numpy()[0]\n", {"VM201", "VM202"}),
        ("emb.weight.data[0] = 0\nx.data.numpy()[0] = 1\n", {"VM201", "VM202"}),
        ("del w.data[0]\n", {"VM201", "VM202"}),
        # Another index; a NumPy array that is no loss.
        ("row = x.data[1]\nfirst = batch.numpy()[0]\n", {"VM201", "VM202"}),
    ],
    ids=["own-data", "property", "classmethod", "string-comment", "assigned", "deleted", "other-index"],
)
def test_modern_candidates_are_left_out(code: str, gone: set[str]) -> None:
    source = HEADER + code
    assert assert_hides_nothing(source) & {"VM201", "VM202"} == gone
    assert check_source(source) == []
    assert shaped_out(source)


@pytest.mark.parametrize(
    "code",
    [
        "total += loss.data[0]\n",
        "print(f'{loss.data[0]:.4f}')\n",
        # The text's pattern is only in the string; LibCST finds `[0,]` too.
        "s = 'loss.data[0]'\nx.data[0,]\n",
        "value = loss.data.numpy()[0]\n",
        "value = loss.numpy()[0]\n",
        # Not certainly the method's own `self`: static, rebound, declared global, nested, or another
        # name to LibCST than to CPython.
        "class A:\n    @staticmethod\n    def m(self):\n        return self.data[0]\n",
        "class A:\n    def m(self):\n        self = other\n        return self.data[0]\n",
        "class A:\n    def m(self):\n        global self\n        return self.data[0]\n",
        "class A:\n    def m(self):\n        return [self.data[0] for _ in z]\n",
        f"class A:\n    def m({WIDE_SELF}):\n        return self.data[0]\n",
        "def f(self):\n    return self.data[0]\n",
        # Where CPython's positions need care: a decorator (before its `def`), a subscript over lines,
        # code in an f-string.
        "class A:\n    @register(loss.data[0])\n    def m(self):\n        pass\n",
        "@register(loss.data[0])\nclass A:\n    pass\n",
        "total = (loss\n    .data\n    [0])\n",
        'print(f"""{\n  loss.data[0]\n}""")\n',
        # LibCST's walk stops at the parentheses and finds `.data` on another receiver.
        "class A:\n    def m(self):\n        return (self.cpu()).data.numpy()[0]\n",
    ],
    ids=[
        "loss",
        "f-string",
        "trailing-comma",
        "numpy-data",
        "numpy-loss",
        "static",
        "rebound",
        "global",
        "comprehension",
        "fullwidth",
        "function",
        "method-decorator",
        "class-decorator",
        "lines",
        "f-string-lines",
        "parentheses",
    ],
)
def test_candidates_that_may_be_findings_stay(code: str) -> None:
    source = HEADER + code
    assert_hides_nothing(source)
    assert not shaped_out(source)


def test_a_lone_carriage_return_is_not_read_by_cpython() -> None:
    """CPython reads a lone carriage return inside a comment, LibCST ends the line there: no shape."""
    source = HEADER + "# a comment\rtotal = loss.data[0]\n"
    assert found(source) == {"VM201"}
    assert not shaped_out(source)


@pytest.mark.parametrize(
    "example",
    [">>> total = loss.data[0]", ">>> from torch.autograd import Variable\n    >>> v = Variable(x)"],
    ids=["shaped-rule", "other-rule"],
)
def test_doctest_examples_are_not_shaped_out(example: str) -> None:
    """The examples in a docstring are code to the pipeline, not to CPython's parse of the module."""
    source = HEADER + f'def f():\n    """\n    {example}\n    """\n'
    assert parse_ast(source) is not None
    assert not shaped_out(source)


@pytest.mark.slow
def test_a_run_whose_candidates_are_all_shaped_out_never_imports_libcst(tmp_path: Path) -> None:
    (tmp_path / "dataset.py").write_text(
        HEADER + "class Window:\n    def first(self):\n        return self.data[0]\n"
    )
    (tmp_path / "comment.py").write_text(HEADER + "total = 0  # was: total += loss.data[0]\n")
    # What `fix` leaves of pre-0.4 code: the import, and a docstring that names `Variable`.
    (tmp_path / "fixed.py").write_text(
        HEADER
        + 'from torch.autograd import Variable\n\n\ndef f(x):\n    """:rtype: Variable"""\n    return x\n'
    )
    program = (
        "import sys\nfrom varmigrate.cli import main\n"
        "code = main(['check', '--no-cache', '.'])\n"
        "print(code, 'libcst' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "0 False"
    # The test can fail: the same run with a finding that LibCST must look at does import it.
    (tmp_path / "legacy.py").write_text(HEADER + 'print(f"{loss.data[0]}")\n')
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "1 True"


def test_code_in_an_f_string_is_looked_at_whatever_its_positions() -> None:
    """Before Python 3.12 the positions CPython gives the code inside an f-string are not always right
    (here: moved by hand): the walk looks at all of it."""
    source = HEADER + 'print(f"{loss.data[0]}")\n'
    tree = ast.parse(source)
    for string in [node for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)]:
        for inner in ast.walk(string):
            if inner is not string and hasattr(inner, "lineno"):
                inner.lineno = inner.end_lineno = 99
    assert shaped_rules(source, tree, SHAPED) == tuple(r for r in SHAPED if r.code == "VM201")


@pytest.mark.parametrize(
    ("padding", "settled_here"), [(0, True), (SHAPES_HERE_BYTES, False)], ids=["small", "large"]
)
def test_a_large_file_is_shaped_out_by_the_second_stage(
    tmp_path: Path, padding: int, settled_here: bool
) -> None:
    """The main process parses files up to a size; a larger one gets the same answer from the engine."""
    path = tmp_path / "dataset.py"
    filler = "# " + "x" * 78 + "\n"
    body = "class Window:\n    def first(self):\n        return self.data[0]\n"
    path.write_text(HEADER + filler * (padding // len(filler) + 1) + body)
    batch = prepare([(path, Job(mode=Mode.CHECK))])
    assert (batch.pending == 0) is settled_here
    [result] = list(batch)
    assert result.diagnostics == []
    assert not result.errors


@pytest.mark.parametrize(
    ("code", "gone"),
    [
        # Once `fix` has rewritten the uses: the import, and docstrings of the pre-0.4 kind.
        (
            'from torch.autograd import Variable\n\n\ndef f(x):\n    """:rtype: Variable"""\n    return x\n',
            True,
        ),
        ('from torch.autograd import Variable\n\n\nclass C:\n    """Holds a Variable."""\n', True),
        # A use, an alias whose uses do not spell it, a string that is no docstring.
        ("from torch.autograd import Variable\nv = Variable(x)\n", False),
        ("from torch.autograd import Variable as V\nv = V(x)\n", False),
        ("from torch.autograd import Variable\n__all__ = ['Variable']\n", False),
    ],
    ids=["docstring", "class-docstring", "use", "alias", "all"],
)
def test_rules_about_variable_go_only_with_every_use(code: str, gone: bool) -> None:
    source = HEADER + code
    assert (assert_hides_nothing(source) >= VARIABLE_RULES) is gone
