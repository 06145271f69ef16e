"""The Python code blocks of a Markdown or reStructuredText document, with where each line came from.

A block knows, for each of its code lines, the document line it stands on and the prefix that line
has in the document (the block's indentation, plus `>>> ` or `... ` in a console session), so that
positions map back exactly and fixed code can be written back with every other byte unchanged.

Console sessions (``pycon`` blocks, doctest blocks, ``>>>`` examples) are split into statements: a
``>>>`` line with its ``...`` continuations. Their expected output is not code and is left alone.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from varmigrate.sources.io import split_lines

# ```python / ~~~ py / ```{code-cell} ipython3 / ```{python} (Quarto)
_FENCE = re.compile(r"(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\r\n]*?)[ \t]*(?:\r\n|\r|\n)?")
_PYTHON = frozenset({"python", "py", "python3", "py3", "ipython", "ipython3", "{python}", "{ipython}"})
_CONSOLE = frozenset({"pycon", "python-console", "doctest"})
_CODE_CELL = re.compile(r"\{code-cell\}\s+(?P<language>\S+)")
# MyST options at the top of a code cell (`:tags: [hide-input]`) or a YAML block between `---` lines.
_MYST_OPTION = re.compile(r"[ \t]*:[\w-]+:")
# .. code-block:: python / .. code:: py / .. sourcecode:: pycon / .. doctest:: / .. testcode::
_DIRECTIVE = re.compile(
    r"(?P<indent>[ \t]*)\.\.[ \t]+(?P<name>code-block|code|sourcecode|doctest|testcode|ipython)::"
    r"[ \t]*(?P<language>[^\s]*)[ \t]*(?:\r\n|\r|\n)?"
)
_LITERAL_INTRO = re.compile(r".*::[ \t]*(?:\r\n|\r|\n)?")
_PROMPT = re.compile(r"(?P<prompt>>>>|\.\.\.)(?: |(?=\r\n|\r|\n|$))")


@dataclass
class Line:
    """One code line: its document line (1-based), its prefix there, and its code (with line break)."""

    row: int
    prefix: str
    code: str


@dataclass
class Statement:
    """A console statement: a ``>>>`` line and its ``...`` continuations."""

    lines: list[Line]


@dataclass
class Block:
    """A code block: either plain code (one unit) or a console session (a unit per statement)."""

    first_row: int  # the document line of the block's first line (code or output)
    indent: str
    console: bool
    lines: list[Line] = field(default_factory=list)  # plain code
    statements: list[Statement] = field(default_factory=list)  # console

    def units(self) -> list[list[Line]]:
        """The pieces of code analysed as cells: the block, or each statement of a session."""
        return [s.lines for s in self.statements] if self.console else [self.lines]


def markdown_blocks(text: str) -> list[Block]:
    """The Python code blocks of Markdown (CommonMark fences; MyST and Quarto code cells)."""
    lines = split_lines(text)
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.fullmatch(lines[index])
        if opening is None or ("`" in opening["fence"][0] and "`" in opening["info"]):
            index += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        close = re.compile(rf"[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*(?:\r\n|\r|\n)?")
        end = index + 1
        while end < len(lines) and close.fullmatch(lines[end]) is None:
            end += 1
        body = list(range(index + 1, end))
        kind = _kind(opening["info"])
        if kind is not None:
            if opening["info"].startswith("{code-cell}"):
                body = _without_myst_options(lines, body)
            block = _block(lines, body, indent, kind == "console")
            if block is not None:
                blocks.append(block)
        index = end + 1
    return blocks


def rst_blocks(text: str) -> list[Block]:
    """The Python code blocks of reStructuredText: code directives, doctest blocks, and ``::`` literal
    blocks that parse as Python."""
    lines = split_lines(text)
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE.fullmatch(line)
        if directive is not None:
            body, index = _indented_body(lines, index + 1, directive["indent"], options=True)
            kind = _directive_kind(directive["name"], directive["language"])
            indent = _common_indent(lines, body)
            if kind == "maybe" and not _parses("".join(lines[i][len(indent) :] for i in body)):
                kind = None
            if kind is not None:
                block = _block(lines, body, indent, kind == "console")
                if block is not None:
                    blocks.append(block)
            continue
        stripped = line.lstrip(" \t")
        if stripped.startswith(">>>") and _PROMPT.match(stripped):
            # A doctest block: the paragraph that starts with `>>>`.
            end = index
            while end < len(lines) and lines[end].strip():
                end += 1
            indent = line[: len(line) - len(stripped)]
            block = _block(lines, list(range(index, end)), indent, True)
            if block is not None:
                blocks.append(block)
            index = end
            continue
        if _LITERAL_INTRO.fullmatch(line) and not stripped.startswith(".."):
            indent = line[: len(line) - len(stripped)]
            body, after = _indented_body(lines, index + 1, indent, options=False)
            if body and _parses("".join(lines[i][len(_common_indent(lines, body)) :] for i in body)):
                block = _block(lines, body, _common_indent(lines, body), False)
                if block is not None:
                    blocks.append(block)
            index = max(after, index + 1)
            continue
        index += 1
    return blocks


def _kind(info: str) -> str | None:
    """``code`` or ``console`` for a fence's info string that names Python, else None."""
    cell = _CODE_CELL.match(info)
    words = info.split()
    language = cell["language"] if cell is not None else (words[0] if words else "")
    language = language.lower()
    if language in _CONSOLE:
        return "console"
    return "code" if language in _PYTHON else None


def _directive_kind(name: str, language: str) -> str | None:
    """``code``, ``console``, ``maybe`` (no language: Python if it parses) or None for a directive."""
    if name == "doctest":
        return "console"
    if name in ("testcode", "ipython"):
        return "code"
    return _kind(language) if language else "maybe"


def _without_myst_options(lines: list[str], body: list[int]) -> list[int]:
    """``body`` without a MyST code cell's leading options (``:key: value`` lines, or a ``---`` block)."""
    if body and lines[body[0]].strip() == "---":
        closing = next((k for k in range(1, len(body)) if lines[body[k]].strip() == "---"), None)
        return body[closing + 1 :] if closing is not None else body
    start = 0
    while start < len(body) and _MYST_OPTION.match(lines[body[start]]):
        start += 1
    return body[start:]


def _indented_body(lines: list[str], start: int, indent: str, *, options: bool) -> tuple[list[int], int]:
    """The lines of a directive's (or literal block's) body after ``start``: those indented deeper
    than ``indent``, blank lines inside included; and the index after the body."""
    index = start
    if options:
        while index < len(lines) and lines[index].strip().startswith(":") and _deeper(lines[index], indent):
            index += 1
    body: list[int] = []
    while index < len(lines):
        line = lines[index]
        if line.strip() and not _deeper(line, indent):
            break
        body.append(index)
        index += 1
    while body and not lines[body[0]].strip():
        body.pop(0)
    while body and not lines[body[-1]].strip():
        body.pop()
    return body, index


def _deeper(line: str, indent: str) -> bool:
    stripped = line.lstrip(" \t")
    return len(line) - len(stripped) > len(indent)


def _common_indent(lines: list[str], body: list[int]) -> str:
    """The indentation every non-blank line of ``body`` starts with."""
    found: str | None = None
    for index in body:
        line = lines[index]
        if not line.strip():
            continue
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if found is None or len(indent) < len(found):
            found = indent
    return found or ""


def _block(lines: list[str], body: list[int], indent: str, console: bool) -> Block | None:
    """The block made of the document lines ``body`` (0-based), or None when it holds no code."""
    if not body:
        return None
    if not console and lines[body[0]][len(indent) :].startswith(">>>"):
        console = True
    block = Block(body[0] + 1, indent, console)
    if not console:
        for index in body:
            line = lines[index]
            prefix = indent if line.startswith(indent) else line[: len(line) - len(line.lstrip(" \t"))]
            block.lines.append(Line(index + 1, prefix, line[len(prefix) :]))
        return block
    for index in body:
        line = lines[index]
        rest = line[len(indent) :] if line.startswith(indent) else line.lstrip(" \t")
        prompt = _PROMPT.match(rest)
        if prompt is None:
            continue  # expected output
        prefix = line[: len(line) - len(rest)] + prompt.group()
        code = rest[len(prompt.group()) :]
        if prompt["prompt"] == ">>>":
            block.statements.append(Statement([Line(index + 1, prefix, code)]))
        elif block.statements:
            block.statements[-1].lines.append(Line(index + 1, prefix, code))
    return block if block.statements else None


def _parses(code: str) -> bool:
    try:
        compile(code, "<block>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


__all__ = ["Block", "Line", "Statement", "markdown_blocks", "rst_blocks", "split_lines"]
