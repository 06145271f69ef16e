"""Importing this module imports LibCST, its node classes' generated methods compiled once per interpreter.

LibCST's nodes are dataclasses: for each of some 220 classes, ``dataclasses`` writes the source of
``__init__``, ``__repr__``, ``__eq__``, ``__setattr__`` and ``__delattr__`` and compiles it with ``exec``.
Those 1,100 compilations are about half of the CPU time of ``import libcst`` (0.15-0.2 s of 0.35 s on the
bench machine), although only about 620 of the texts differ, and they are the same on every import by the
same interpreter and LibCST.

So while LibCST is imported, ``dataclasses``' ``exec`` looks each text up first: in a table of this
process, then in a file of compiled code objects kept beside this module's bytecode (where ``__cached__``
says, so ``PYTHONPYCACHEPREFIX`` moves it too). A text found in neither is compiled as ``exec`` compiles
it: as ``<string>``, with no ``__future__`` flag of the caller's (``dataclasses`` has none), at the
interpreter's optimisation level. The file is keyed by the interpreter's exact version and optimisation
level, and within it by the whole text, so a code object is only ever used for the very text it was
compiled from. When the texts an import used differ from the file's (another LibCST), the file is
rewritten with exactly those, atomically. As for bytecode, nothing is written under
``PYTHONDONTWRITEBYTECODE``, and a file that cannot be read, written or trusted is passed over: the
import then costs what it costs without it. The file is trusted as the bytecode beside it is: both are
code objects that ``marshal`` reads, in the package's own directory.

The pipeline imports this module before anything else that uses LibCST (`pipeline.batch`); an import of
LibCST from elsewhere first simply goes without the table.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

# Bumped when the file's layout changes.
_FORMAT = 1


def _key() -> tuple[int, str, int]:
    """What a file of code objects is valid for: its layout, the interpreter's build and ``-O`` level."""
    return _FORMAT, sys.version, sys.flags.optimize


def table_path() -> str | None:
    """Where the compiled methods are kept: beside this module's bytecode, named as it is with the suffix
    ``.dataclasses`` (``libcst_loader.cpython-311.dataclasses``), or nowhere when it has none."""
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


def load() -> int | None:
    """Import LibCST, reusing kept code objects; how many texts it compiled (None: LibCST was imported
    already, or ``dataclasses``' ``exec`` is someone else's, and this import compiled nothing itself)."""
    if "libcst" in sys.modules:
        return None
    import builtins
    import dataclasses

    namespace = vars(dataclasses)
    if "exec" in namespace:  # someone else has replaced it: leave their import alone
        import libcst

        return None
    path = table_path()
    kept = _read(path) if path else {}
    used: dict[str, CodeType] = {}
    compiled = 0

    def exec_kept(source: Any, globals: Any = None, locals: Any = None, /) -> None:
        nonlocal compiled
        if type(source) is str:
            code = used.get(source)
            if code is None:
                code = kept.get(source)
                if code is None:
                    code = compile(source, "<string>", "exec", dont_inherit=True)
                    compiled += 1
                used[source] = code
            source = code
        builtins.exec(source, globals, locals)

    namespace["exec"] = exec_kept
    try:
        import libcst  # noqa: F401
    finally:
        del namespace["exec"]
    if path and used.keys() != kept.keys():
        _write(path, used)
    return compiled


# Texts the import compiled, as `load` returns it.
compiled_texts = load()
