"""What several layers read of CPython's `ast` alike: the statement blocks of a node, and a column.

Standard library only (the first stage uses it before LibCST is imported).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator


def blocks(node: ast.AST) -> Iterator[list[ast.stmt]]:
    """The blocks of statements right inside ``node``: its body, `else` and `finally`, and the bodies of
    its `except` handlers and `case` clauses."""
    for name in ("body", "orelse", "finalbody"):
        block = getattr(node, name, None)
        if isinstance(block, list):
            yield block
    for part in [*getattr(node, "handlers", ()), *getattr(node, "cases", ())]:
        yield part.body


def character_column(line: str, offset: int) -> int:
    """The column, in characters, of CPython's ``offset`` in ``line`` (CPython counts UTF-8 bytes)."""
    return offset if line.isascii() else len(line.encode()[:offset].decode(errors="ignore"))


__all__ = ["blocks", "character_column"]
