"""How a module binds the names the rules resolve: `torch` itself, star imports, `Variable`'s aliases.

Also the patterns that tell, from a statement's code, whether it may bind a name for the rest of the
module (an import, a `global` declaration).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

import libcst as cst

from varmigrate.rules import nodes
from varmigrate.rules._traversal import walk
from varmigrate.rules.torch_api import VARIABLE_STAR_MODULES

# Every top-level import is analysed: qualified names (of `Variable`, of `typing` generics, of
# builtins shadowed by an import) depend on them.
IMPORT = re.compile(r"\bimport\b")
# A star import, however it is spaced or continued (`from m import *`, `import \` + `*`).
STAR_IMPORT = re.compile(r"\bimport[\s\\]*\*")
_LOOSE_STAR_IMPORT = re.compile(r"import[\s\\]*\*")
# A function or class binds its local imports in its own scope, where nothing outside can see
# them; only a `global` (or `nonlocal`) declaration carries an import out.
DECLARATION = re.compile(r"\b(?:global|nonlocal)\b")


def star_imports_variable(module: cst.Module, source: str) -> bool:
    """Whether a module-level star import from torch.autograd is the last star import in the module."""
    if not any(_word_starts(source, m.start()) for m in _LOOSE_STAR_IMPORT.finditer(source)):
        return False
    result = False
    for node in walk(module)[0]:
        if isinstance(node, cst.ImportFrom) and isinstance(node.names, cst.ImportStar):
            name = _dotted(node.module) if node.module is not None else ""
            result = not node.relative and name in VARIABLE_STAR_MODULES
    return result


def variable_aliases(source: str) -> list[str]:
    """The names after `Variable as` in ``source`` (every `as` alias `Variable` may have)."""
    return aliases(source, ("Variable",))


def aliases(source: str, words: Iterable[str]) -> list[str]:
    """The names after `word as` in ``source``, for each of ``words`` (every `as` alias they may have)."""
    found: list[str] = []
    for word in words:
        pattern = _alias_pattern(word)
        position = 0
        while (match := pattern.search(source, position)) is not None:
            if _word_starts(source, match.start()):
                found.append(match.group(1))
                position = match.end()
            else:
                position = match.start() + 1
    return found


@cache
def _alias_pattern(word: str) -> re.Pattern[str]:
    """`word as NAME` (any spaces), the word boundary before `word` checked by the caller.

    A leading word boundary in the pattern keeps the regular expression engine from skipping ahead to
    the literal (some forty times slower on a large module).
    """
    return re.compile(re.escape(word) + r"\s+as\s+(\w+)")


def _word_starts(text: str, index: int) -> bool:
    """Whether a word starting at ``index`` starts there (`\b`): no word character before it."""
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_")


def _dotted(expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return f"{_dotted(expr.value)}.{expr.attr.value}"
    return ""


def torch_binding(module: cst.Module) -> tuple[str, bool]:
    """The module-level name bound to ``torch`` itself, and whether there is one."""
    found: str | None = None
    for node in _module_level_statements(module.body):
        for small in node.body if isinstance(node, cst.SimpleStatementLine) else ():
            if not isinstance(small, cst.Import):
                continue
            for alias in small.names:
                dotted = nodes.code(alias.name)
                if alias.asname is not None and dotted == "torch":
                    asname = alias.asname.name
                    if isinstance(asname, cst.Name) and found is None:
                        found = asname.value
                elif alias.asname is None and (dotted == "torch" or dotted.startswith("torch.")):
                    return "torch", True
    return (found, True) if found is not None else ("torch", False)


def _module_level_statements(body: Sequence[cst.BaseStatement]) -> Iterable[cst.BaseStatement]:
    """Statements run at module level: the body, and blocks of `if`/`try`/`with` inside it."""
    for statement in body:
        yield statement
        if isinstance(statement, cst.If | cst.Try | cst.With | cst.TryStar):
            for block in walk(statement)[0]:
                if isinstance(block, cst.IndentedBlock):
                    yield from (s for s in block.body if not isinstance(s, cst.FunctionDef | cst.ClassDef))
