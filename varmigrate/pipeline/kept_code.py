"""Dataclasses' generated methods compiled once per interpreter, not on every start.

For each dataclass, ``dataclasses`` writes the source of ``__init__``, ``__repr__``, ``__eq__`` (and, when
frozen, ``__setattr__``, ``__delattr__`` and ``__hash__``) and compiles it with ``exec``: about a
millisecond per class. LibCST's nodes are some 220 dataclasses, 1,100 compilations (half of the CPU time
of ``import libcst``); the second stage's own records are some 30 more (about 35 ms). The texts are the
same on every start of the same interpreter with the same code.

So within :func:`compiled_once`, ``dataclasses``' ``exec`` looks each text up first: in a table of this
process, then in a file of compiled code objects kept beside this module's bytecode (where ``__cached__``
says, so ``PYTHONPYCACHEPREFIX`` moves it too). A text found in neither is compiled as ``exec`` compiles
it: as ``<string>``, with no ``__future__`` flag of the caller's (``dataclasses`` has none), at the
interpreter's optimisation level. The file is keyed by the interpreter's exact version and optimisation
level, and within it by the whole text, so a code object is only ever used for the very text it was
compiled from.

A block that compiled texts the file lacks writes the file again, atomically: the texts it held and those
this process used, or only the latter once the old ones would be most of it (another LibCST, another
varmigrate). Runs that import different modules (a check, a fix, a notebook) so add up to one table that
none of them rewrites. As for bytecode, nothing is written under ``PYTHONDONTWRITEBYTECODE``, and a file
that cannot be read, written or trusted is passed over: the imports then cost what they cost without it.
The file is trusted as the bytecode beside it is: both are code objects that ``marshal`` reads, in the
package's own directory.
"""

from __future__ import annotations

import builtins
import contextlib
import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import CodeType
    from typing import Any

# Bumped when the file's layout changes.
_FORMAT = 1


def _key() -> tuple[int, str, int]:
    """What a file of code objects is valid for: its layout, the interpreter's build and ``-O`` level."""
    return _FORMAT, sys.version, sys.flags.optimize


def table_path() -> str | None:
    """Where the compiled methods are kept: beside this module's bytecode, named as it is with the suffix
    ``.dataclasses`` (``kept_code.cpython-311.dataclasses``), or nowhere when it has none."""
    cached: str | None = globals().get("__cached__")
    if not cached:
        return None
    return os.path.splitext(cached)[0] + ".dataclasses"


def _read(path: str) -> dict[str, CodeType]:
    """The table kept at ``path`` when it holds code objects for this interpreter, else an empty one."""
    try:
        with open(path, "rb") as file:
            data = file.read()
        key, table = marshal.loads(data)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    code_type = type(_read.__code__)
    if key != _key() or type(table) is not dict:
        return {}
    if not all(type(text) is str and type(code) is code_type for text, code in table.items()):
        return {}
    return table


def _write(path: str, table: dict[str, CodeType]) -> None:
    """Keep ``table`` at ``path``: written beside it, then moved over it; any failure leaves things be."""
    if sys.dont_write_bytecode:
        return
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as file:
            file.write(marshal.dumps((_key(), table)))
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


class _Table:
    """The texts of this process and their code: the file's (read at the first text), and those compiled."""

    def __init__(self) -> None:
        self.path = table_path()
        self.kept: dict[str, CodeType] | None = None  # the file's, once read
        self.used: dict[str, CodeType] = {}  # every text looked up in this process
        self.compiled = 0  # texts compiled in this process
        self.unsaved = False  # whether `used` holds a text the file lacks

    def code(self, text: str) -> CodeType:
        code = self.used.get(text)
        if code is not None:
            return code
        if self.kept is None:
            self.kept = _read(self.path) if self.path else {}
        code = self.kept.get(text)
        if code is None:
            code = compile(text, "<string>", "exec", dont_inherit=True)
            self.compiled += 1
            self.unsaved = True
        self.used[text] = code
        return code

    def save(self) -> None:
        """Write the file when this process compiled texts it lacks (see the module's docstring)."""
        if not self.unsaved or not self.path:
            return
        self.unsaved = False
        kept = self.kept or {}
        stale = kept.keys() - self.used.keys()
        # Texts of no use to this process stay while they are at most half of the file (reading it costs
        # about 12 ms a MB).
        table = {**kept, **self.used} if len(stale) <= len(self.used) else self.used
        self.kept = dict(table)
        _write(self.path, table)


_table = _Table()


def _exec_kept(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    """``exec`` as ``dataclasses`` calls it, with each text's code looked up in the table first."""
    if type(source) is str:
        source = _table.code(source)
    builtins.exec(source, globals, locals)


@contextlib.contextmanager
def compiled_once() -> Iterator[bool]:
    """Within the block, the dataclasses that imports create reuse their methods' kept code; the block's
    value says whether they do (not where ``dataclasses``' ``exec`` is someone else's). Blocks nest."""
    import dataclasses

    namespace = vars(dataclasses)
    current = namespace.get("exec")
    if current is not None:  # an enclosing block's, or someone else's: left alone
        yield current is _exec_kept
        return
    namespace["exec"] = _exec_kept
    try:
        yield True
    finally:
        del namespace["exec"]
        _table.save()


def compiled() -> int:
    """How many texts this process has compiled within the blocks so far."""
    return _table.compiled


__all__ = ["compiled", "compiled_once", "table_path"]
