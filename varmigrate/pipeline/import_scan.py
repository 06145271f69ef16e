"""What the project view reads of one file: its import statements, `__all__`, and the words that matter.

Only the import statements are parsed (each line that starts one, with its continuation lines, by
CPython's parser): never the whole file, never with LibCST. The rest are literal searches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from varmigrate.engine.prefilter import example_code
from varmigrate.rules.torch_api import AUTOGRAD_MODULES, VARIABLE, VARIABLE_STAR_MODULES
from varmigrate.sources.discovery import NOTEBOOK_SUFFIX

if TYPE_CHECKING:
    import ast

# A line that starts an import statement (`from .m import x`, `import a.b`), at any indentation.
_IMPORT_START = re.compile(r"[ \t]*(?:from[ \t]+[.\w]|import[ \t])")
_NEWLINE = re.compile(r"\r\n|\r|\n")
# An import statement spans at most this many lines (a long parenthesised list of names).
_MAX_IMPORT_LINES = 200
# `Variable as V`; no leading `\b`, which would keep the engine from skipping ahead to the literal.
_ALIAS = re.compile(rb"Variable\s+as\s+(\w+)")
_AUTOGRAD_ALIAS = re.compile(
    rb"import\s+torch\.autograd(?:\.variable)?\s+as\s+(\w+)"
    rb"|\bimport\b[^\n]*?\b(autograd|variable)\b(?:\s+as\s+(\w+))?"
)
# `from m import a, b as c`, `from . import *` or `import a.b as c, d` on one line, nothing after it but a
# comment. What it does not match (parentheses, continuation lines, `;`) goes to CPython's parser.
_NAME = r"[A-Za-z_]\w*"
_DOTTED = rf"{_NAME}(?:\.{_NAME})*"
_ALIASED = rf"{_DOTTED}(?:[ \t]+as[ \t]+{_NAME})?"
_SIMPLE_IMPORT = re.compile(
    rf"[ \t]*(?:from[ \t]+(?P<from>\.*(?:{_DOTTED})?)[ \t]+import[ \t]+(?P<names>\*|{_ALIASED}"
    rf"(?:[ \t]*,[ \t]*{_ALIASED})*)|import[ \t]+(?P<modules>{_ALIASED}(?:[ \t]*,[ \t]*{_ALIASED})*))"
    r"[ \t]*(?:#[^\r\n]*)?(?=\r\n|\r|\n|\Z)"
)
# A star import, however it is spaced or continued.
STAR_IMPORT = re.compile(rb"\bimport[\s\\]*\*")
_F_STRING = re.compile(r"[a-zA-Z]*[fF]")


@dataclass(frozen=True)
class Import:
    """One import statement's part: ``from <module> import <names>`` (``star``), or ``import <module>``."""

    module: str
    level: int
    # (name, local name) for `from` imports; empty for `import module` and star imports.
    names: tuple[tuple[str, str], ...] = ()
    star: bool = False
    # `import a.b as c`: the local name (None: `import a.b` binds `a`).
    asname: str | None = None
    is_from: bool = True


@dataclass
class ModuleScan:
    """What the project view needs of one file: its imports in order, `__all__`, whether it spells torch."""

    path: Path
    imports: list[Import]
    exports: frozenset[str] | None
    spells_torch: bool
    text: str
    # The dotted names the text writes `.Variable` (or an alias) after, once asked (`model`, `a.b`).
    attributes: set[str] | None = None


def read_module(path: Path, data: bytes) -> ModuleScan:
    """The imports of ``data`` (a module, or a notebook's code cells), its `__all__` and torch mention."""
    text = notebook_code(data) if path.name.endswith(NOTEBOOK_SUFFIX) else _decode(data)
    return ModuleScan(path, list(_import_statements(text)), _exports(text), "torch" in text, text)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return ""  # pragma: no cover (latin-1 decodes anything)


def notebook_code(data: bytes) -> str:
    """The code cells of a notebook, one after another (nbformat 4, and 3's worksheets)."""
    import json

    try:
        content = json.loads(data)
    except ValueError:
        return ""
    if not isinstance(content, dict):
        return ""
    cells = content.get("cells")
    if not isinstance(cells, list):
        sheets = content.get("worksheets")
        cells = (
            [c for s in sheets if isinstance(s, dict) for c in s.get("cells", [])]
            if isinstance(sheets, list)
            else []
        )
    sources = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", cell.get("input", ""))
        sources.append("".join(source) if isinstance(source, list) else str(source))
    return "\n".join(sources)


def _import_statements(text: str) -> Iterator[Import]:
    """The imports of ``text``: each line that starts one, with its continuation lines, parsed.

    The plain one-line forms are read by a regular expression; the rest by CPython's parser.
    """
    import ast

    position = 0
    while (found := text.find("import", position)) >= 0:
        start = max(text.rfind("\n", 0, found), text.rfind("\r", 0, found)) + 1
        position = found + len("import")
        if not _IMPORT_START.match(text, start):
            continue
        simple = _SIMPLE_IMPORT.match(text, start)
        if simple is not None:
            position = max(position, simple.end())
            yield from _simple_imports(simple)
            continue
        end = _statement_end(text, start)
        code = text[start:end].lstrip(" \t")
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # the next lines may still start imports (an unclosed parenthesis took them)
        position = max(position, end)
        for node in tree.body:
            yield from _imports(node)


def _simple_imports(match: re.Match[str]) -> Iterator[Import]:
    """The imports of a one-line `from m import a, b as c` / `import a.b as c, d` (`_SIMPLE_IMPORT`)."""
    module = match.group("from")
    listed = match.group("names") if module is not None else match.group("modules")
    parts = [part.split() for part in listed.split(",")]
    if module is None:
        for words in parts:
            yield Import(words[0], 0, asname=words[2] if len(words) == 3 else None, is_from=False)
        return
    level = len(module) - len(module.lstrip("."))
    if listed == "*":
        yield Import(module[level:], level, star=True)
    else:
        yield Import(module[level:], level, tuple((words[0], words[-1]) for words in parts))


def _statement_end(text: str, start: int) -> int:
    """Where the logical line that starts at ``start`` ends (parentheses and backslashes continue it)."""
    depth = 0
    position = start
    for _ in range(_MAX_IMPORT_LINES):
        match = _NEWLINE.search(text, position)
        end = match.start() if match else len(text)
        code = text[position:end].split("#", 1)[0]
        depth += code.count("(") - code.count(")")
        position = match.end() if match else len(text)
        if match is None or (depth <= 0 and not code.rstrip().endswith("\\")):
            break
    return position


def _imports(node: ast.stmt) -> Iterator[Import]:
    import ast

    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if any(alias.name == "*" for alias in node.names):
            yield Import(module, node.level, star=True)
        else:
            yield Import(module, node.level, tuple((a.name, a.asname or a.name) for a in node.names))
    elif isinstance(node, ast.Import):
        for alias in node.names:
            yield Import(alias.name, 0, asname=alias.asname, is_from=False)


def _exports(text: str) -> frozenset[str] | None:
    """The names in `__all__` when the module sets it with literals at its top level; else None."""
    if "__all__" not in text:
        return None
    import ast

    names: set[str] = set()
    for match in re.finditer(r"^__all__\b", text, re.MULTILINE):
        code = text[match.start() : _statement_end(text, match.start())]
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        for node in tree.body:
            value = node.value if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) else None
            if not isinstance(value, ast.List | ast.Tuple):
                return None
            strings = [
                e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
            if len(strings) != len(value.elts):
                return None
            names.update(strings)
    return frozenset(names)


def torch_bindings(item: Import, *, modules: bool) -> dict[str, bool | None] | None:
    """What an import from torch binds that the clean-up may remove: local name -> True for `Variable`,
    False for `torch.autograd` itself (only with ``modules``), None for other names; None when the import
    is not one of torch's that matter."""
    if not item.is_from:
        if modules and item.asname is not None and item.module in AUTOGRAD_MODULES:
            return {item.asname: False}
        return None
    if item.level or item.module not in {"torch", *VARIABLE_STAR_MODULES}:
        return None
    if item.star:
        return {"Variable": True} if item.module in VARIABLE_STAR_MODULES else None
    found: dict[str, bool | None] = {}
    for name, local in item.names:
        full = f"{item.module}.{name}"
        found[local] = True if full in VARIABLE else False if modules and full in AUTOGRAD_MODULES else None
    return found


def autograd_aliases(data: bytes) -> set[str]:
    """The names `torch.autograd` may have in ``data`` (`import torch.autograd as ag`, `from torch import
    autograd`): a superset, to know which imported names are worth looking at."""
    found: set[str] = set()
    for match in _AUTOGRAD_ALIAS.finditer(data):
        alias, default = match.group(1) or match.group(3), match.group(2)
        found.add((alias or default or b"autograd").decode())
    return found


def variable_aliases(data: bytes) -> set[str]:
    """The names after `Variable as` in ``data``."""
    return {
        match.group(1).decode()
        for match in _ALIAS.finditer(data)
        if match.start() == 0
        or not (data[match.start() - 1 : match.start()].isalnum() or data[match.start() - 1] == 95)
    }


def owner(text: str, end: int) -> str:
    """The dotted name written before `.` and ``end`` (`model.Variable` -> `model`), else ""."""
    parts: list[str] = []
    position = end
    while position > 0 and text[position - 1] == ".":
        start = position - 1
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        if start == position - 1:
            break
        parts.append(text[start : position - 1])
        position = start
    return ".".join(reversed(parts))


def rebinds(text: str, name: str) -> bool:
    """Whether the module binds ``name`` at its top level otherwise than by an import (`def`, `=`)."""
    word = re.escape(name)
    pattern = rf"^(?:(?:async[ \t]+)?def|class)[ \t]+{word}\b|^{word}[ \t]*(?::[^=\n]*)?=(?!=)"
    return re.search(pattern, text, re.MULTILINE) is not None


def still_uses(path: Path, data: bytes, name: str) -> bool:
    """Whether the file ``path`` (holding ``data``) may still use ``name``: its code spells it.

    Comments, docstrings and other strings do not count, except f-strings and the code of doctest examples
    (doctest runs a docstring's examples in the module's globals); a text that cannot be read as tokens
    counts as using it.
    """
    if re.search(rb"\b" + re.escape(name.encode()) + rb"\b", data) is None:
        return False
    import io
    import tokenize

    text = notebook_code(data) if path.name.endswith(NOTEBOOK_SUFFIX) else _decode(data)
    word = re.compile(rf"\b{re.escape(name)}\b")
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NAME and token.string == name:
                return True
            if token.type == tokenize.STRING and _F_STRING.match(token.string) and name in token.string:
                return True
            if (
                token.type == tokenize.STRING
                and ">>>" in token.string
                and word.search(example_code(token.string))
            ):
                return True  # a mention in an example's comment counts too: the import stays, nothing breaks
    except (tokenize.TokenError, SyntaxError):
        return True
    return False
