"""What removed PyTorch APIs meant before they were removed, for the baseline of fixture cases.

Code that raises today cannot be compared with its fix as it is. A case with ``baseline = "pytorch-0.3"``
runs its input with the APIs `varmigrate verify` restores in its baseline (``varmigrate.harness.legacy_api``:
each as the last PyTorch release that had it defined it), so that the gradients of the old program, as it
used to run, are compared with the fixed program's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from varmigrate.harness.legacy_api import installed

_ASYNC_KEYWORD = re.compile(r"(?<![\w.])async(\s*=)(?!=)")


def pytorch_03_source(text: str) -> str:
    """``text`` as Python 3.6 and PyTorch 0.3-0.4 read it: `f(async=True)` passed the keyword `async`,
    which PyTorch 0.4 took as its new name `non_blocking` (`torch/csrc/utils/python_arg_parser.cpp`)."""
    return _ASYNC_KEYWORD.sub(r"non_blocking\1", text)


@contextmanager
def pytorch_03() -> Iterator[None]:
    """Run with the removed APIs the fixtures use restored to their PyTorch 0.3 meaning."""
    import torch
    import torch.utils.data

    with installed(torch):
        yield
