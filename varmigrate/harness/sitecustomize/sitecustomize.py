"""Put first on PYTHONPATH by `varmigrate verify`: start the gradient recorder, then the usual sitecustomize.

Runs at start-up of every Python process of a recorded command (subprocesses included). It loads the
recorder by file path because the command's interpreter need not have varmigrate installed.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

_RECORDER = "VARMIGRATE_RECORDER"


def _load(name: str, path: str) -> None:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def _start_recorder() -> None:
    path = os.environ.get(_RECORDER)
    if not path:
        return
    try:
        _load("_varmigrate_recorder", path)
        sys.modules["_varmigrate_recorder"].activate()
    except Exception as error:  # say so, and let the program run: the comparison will notice
        print(f"varmigrate: the gradient recorder did not start: {error!r}", file=sys.stderr)


def _chain() -> None:
    """Run the sitecustomize this file shadows (Debian's, a virtualenv's), as Python would have."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None or spec.origin == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_start_recorder()
_chain()
