"""Where the doctest examples of a ``.py`` file are: the docstrings doctest collects, the examples in them,
and where each line of an example stands in the file (for :mod:`varmigrate.documents.docstrings`)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace

from varmigrate.documents.blocks import Line
from varmigrate.rules.cpython import blocks, character_column

# doctest's prompt: `>>>` then a space or the end of the line (doctest rejects `>>>x`).
_PS1 = re.compile(r"( *)>>>(?: |$)")
_OPENING = re.compile(r"([rRuU]*)(\"\"\"|'''|\"|')")
_LINE_BREAKS = re.compile(r"\r\n?")

_ESCAPED = "the docstring spells this example with backslash escapes or line continuations"
_TABS = "doctest expands the tabs of this example"
SHARES_QUOTES = "the example shares a line with the docstring's quotes"


@dataclass(frozen=True)
class _ValueLine:
    """A line of a docstring's value as doctest reads it (tabs expanded), and where it stands in the file."""

    text: str
    row: int  # the file row it starts on (1-based)
    column: int  # where it starts in that row (0-based characters)
    exact: bool  # whether that row spells it byte for byte, so that it can be rewritten in place


@dataclass(frozen=True)
class Example:
    """One doctest example: its code lines (at file positions) and why it is not rewritten (None: it is)."""

    lines: list[Line]
    not_rewritten: str | None


def doctest_examples(tree: ast.Module, lines: list[str]) -> list[Example]:
    """The examples of the docstrings doctest reads in the module ``tree`` (whose text is ``lines``), in the
    order of the file."""
    return [example for node in _docstrings(tree) for example in _examples(lines, node)]


# -- docstrings ----------------------------------------------------------------------------------------


def _docstrings(tree: ast.Module) -> list[ast.Constant]:
    """The docstrings doctest reads that hold a ``>>>``, in the order of the file."""
    found: list[ast.Constant] = []
    _docstring(tree, found)
    _definitions(tree.body, found)
    found += _test_strings(tree.body)
    return sorted(found, key=lambda node: (node.lineno, node.col_offset))


def _definitions(body: list[ast.stmt], found: list[ast.Constant]) -> None:
    """The docstrings of the classes and functions ``body`` binds (in its blocks too), and of their
    methods: what doctest finds in a module's or a class's namespace."""
    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _docstring(statement, found)
        elif isinstance(statement, ast.ClassDef):
            _docstring(statement, found)
            _definitions(statement.body, found)
        else:
            for block in blocks(statement):
                _definitions(block, found)


def _test_strings(body: list[ast.stmt]) -> list[ast.Constant]:
    """The string values of ``__test__ = {...}`` at module level, which doctest reads as docstrings."""
    return [
        value
        for statement in body
        if isinstance(statement, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == "__test__" for target in statement.targets)
        and isinstance(statement.value, ast.Dict)
        for value in statement.value.values
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and ">>>" in value.value
    ]


def _docstring(
    node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef, found: list[ast.Constant]
) -> None:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        value = body[0].value
        if isinstance(value.value, str) and ">>>" in value.value:
            found.append(value)


def _examples(lines: list[str], node: ast.Constant) -> Iterator[Example]:
    """The examples of the docstring ``node``, as doctest finds them in its value."""
    values = _value_lines(lines, node)
    first, last = node.lineno, node.end_lineno or node.lineno
    index = 0
    while index < len(values):
        prompt = _PS1.match(values[index].text)
        if prompt is None:
            index += 1
            continue
        members = [values[index]]
        index += 1
        while index < len(values) and _continues(values[index].text, prompt[1]):
            members.append(values[index])
            index += 1
        yield _example(lines, members, len(prompt[1]), first, last)


def _continues(text: str, indent: str) -> bool:
    """Whether ``text`` is a ``...`` line of an example whose ``>>>`` is indented by ``indent``."""
    start = len(indent) + 3
    return text.startswith(f"{indent}...") and (len(text) == start or text[start] == " ")


def _example(lines: list[str], values: list[_ValueLine], indent: int, first: int, last: int) -> Example:
    why: str | None = None
    if any(value.row in (first, last) for value in values):
        why = SHARES_QUOTES
    elif not all(value.exact for value in values):
        tabs = any("\t" in lines[value.row - 1] for value in values)
        why = _TABS if tabs else _ESCAPED
    code: list[Line] = []
    for value in values:
        width = indent + 3 + (len(value.text) > indent + 3)  # `>>> ` or `... `, or a bare prompt
        line = lines[value.row - 1]
        if why is None:
            code.append(Line(value.row, line[:width], line[width:]))
        else:
            # Never written back: the code is the docstring's text, placed after the prompt as the file
            # spells it (tabs or escapes make the columns after it approximate).
            at = line.find(value.text[indent : indent + 3], value.column)
            prefix = line[: at + width - indent] if at >= 0 else line[: value.column] + value.text[:width]
            code.append(Line(value.row, prefix, value.text[width:] + "\n"))
    return Example(code, why)


def _value_lines(lines: list[str], node: ast.Constant) -> list[_ValueLine]:
    """The lines of the docstring ``node``'s value, tabs expanded, each with its place in the file."""
    first, last = node.lineno, node.end_lineno or node.lineno
    start = character_column(lines[first - 1], node.col_offset)
    end = character_column(lines[last - 1], node.end_col_offset or 0)
    value = str(node.value).expandtabs()
    opening = _OPENING.match(lines[first - 1], start)
    if opening is not None and _one_token(lines, first, start, last, end):
        prefix, quote = opening.groups()
        found = _spelled(lines, prefix, quote, (first, opening.end()), (last, end - len(quote)))
        if found is not None and "\n".join(line.text for line in found) == value:
            return found
    # Not placed line by line: each line is taken to stand on its own row, none rewritten.
    body = opening.end() if opening is not None else start
    return [
        _ValueLine(text, min(first + i, last), body if i == 0 else 0, exact=False)
        for i, text in enumerate(value.split("\n"))
    ]


def _spelled(
    lines: list[str], prefix: str, quote: str, start: tuple[int, int], end: tuple[int, int]
) -> list[_ValueLine] | None:
    """The value's lines, from the string's body between ``start`` and ``end`` (row, column), decoded row
    by row; None when a row cannot be decoded alone."""
    raw = "r" in prefix.lower()
    found: list[_ValueLine] = []
    text, row, column, exact = "", start[0], start[1], True
    for current in range(start[0], end[0] + 1):
        content = lines[current - 1].rstrip("\r\n")
        chunk = content[
            start[1] if current == start[0] else 0 : end[1] if current == end[0] else len(content)
        ]
        more = current < end[0]
        decoded, joined = (chunk, False) if raw or "\\" not in chunk else _decoded(chunk, prefix, quote, more)
        if decoded is None:
            return None
        pieces = decoded.split("\n")  # an escaped `\n` starts a value line inside the row
        for index, piece in enumerate(pieces):
            if index:
                found.append(_ValueLine(text, row, column, exact=False))
                text, row, column, exact = "", current, column, False
            text += piece
        exact = exact and decoded == chunk and not joined
        if more and not joined:
            found.append(_ValueLine(text, row, column, exact))
            text, row, column, exact = "", current + 1, 0, True
    found.append(_ValueLine(text, row, column, exact))
    return [
        replace(line, text=line.text.expandtabs(), exact=line.exact and "\t" not in line.text)
        for line in found
    ]


def _decoded(chunk: str, prefix: str, quote: str, more: bool) -> tuple[str | None, bool]:
    """The value of one row of a string's body that holds a backslash, and whether it ends in a line
    continuation (a backslash before the line break, which joins the next row)."""
    joined = more and (len(chunk) - len(chunk.rstrip("\\"))) % 2 == 1
    body = chunk[:-1] if joined else chunk
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes stay as they are, as in the docstring
            # The space keeps a final backslash or quote of the row off the closing quotes.
            value = ast.literal_eval(f"{prefix}{quote}{body} {quote}")
    except (SyntaxError, ValueError):
        return None, joined
    return (value[:-1] if isinstance(value, str) else None), joined


def _one_token(lines: list[str], first: int, start: int, last: int, end: int) -> bool:
    """Whether the literal from (``first``, ``start``) to (``last``, ``end``) is one string token (not
    ``"a" "b"``)."""
    segment = (
        lines[first - 1][start:end]
        if first == last
        else lines[first - 1][start:] + "".join(lines[first : last - 1]) + lines[last - 1][:end]
    )
    try:
        token = next(tokenize.generate_tokens(io.StringIO(segment).readline))
    except (tokenize.TokenError, SyntaxError, StopIteration):
        return False
    return token.type == tokenize.STRING and token.string in (segment, _LINE_BREAKS.sub("\n", segment))


__all__ = ["SHARES_QUOTES", "Example", "doctest_examples"]
