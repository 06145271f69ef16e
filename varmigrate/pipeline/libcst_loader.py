"""Importing this module imports LibCST, its node classes' generated methods compiled once per interpreter.

LibCST's nodes are dataclasses: for each of some 220 classes, ``dataclasses`` writes the source of
``__init__``, ``__repr__``, ``__eq__``, ``__setattr__`` and ``__delattr__`` and compiles it with ``exec``.
Those 1,100 compilations are about half of the CPU time of ``import libcst`` (0.15-0.2 s of 0.35 s on the
bench machine), although only about 620 of the texts differ, and they are the same on every import by the
same interpreter and LibCST. LibCST is imported within `kept_code.compiled_once`, which keeps their code.

The pipeline imports this module before anything else that uses LibCST (`pipeline.batch`); an import of
LibCST from elsewhere first simply goes without the kept code.
"""

from __future__ import annotations

import sys

from varmigrate.pipeline.kept_code import compiled, compiled_once


def load() -> int | None:
    """Import LibCST, reusing kept code objects; how many texts it compiled (None: LibCST was imported
    already, or ``dataclasses``' ``exec`` is someone else's, and this import compiled nothing itself)."""
    if "libcst" in sys.modules:
        return None
    before = compiled()
    with compiled_once() as kept:
        import libcst  # noqa: F401
    return compiled() - before if kept else None


# Texts the import compiled, as `load` returns it.
compiled_texts = load()
