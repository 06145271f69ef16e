"""What the analysis leaves out of a module, and that leaving it out changes no finding."""

from __future__ import annotations

from varmigrate.engine import lint, parse
from varmigrate.rules import ALL_RULES
from varmigrate.rules.context import ModuleContext

LOCAL_IMPORTS = """import torch
from torch.autograd import Variable


def load(path):
    import json
    with open(path) as handle:
        return json.load(handle)


def setup():
    global np
    import numpy as np


class Loader:
    import os

    def read(self):
        import pickle
        return pickle


x = torch.zeros(3)
y = Variable(x, requires_grad=True)
"""


def test_a_local_import_does_not_keep_its_function() -> None:
    ctx = ModuleContext.build(parse(LOCAL_IMPORTS), LOCAL_IMPORTS, ALL_RULES)
    assert "def load" in ctx.dropped_code
    assert "class Loader" in ctx.dropped_code
    # `global` carries the import out of the function: it binds a module-level name.
    assert "def setup" not in ctx.dropped_code
    assert "def setup" in ctx.module.code


def test_local_imports_left_out_change_no_finding() -> None:
    module = parse(LOCAL_IMPORTS)
    assert lint(module, LOCAL_IMPORTS, ALL_RULES) == lint(module, LOCAL_IMPORTS, ALL_RULES, reduce=False)
