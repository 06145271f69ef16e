"""Small LibCST builders and predicates shared by the rules."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Sequence

import libcst as cst

from varmigrate.rules._traversal import children

# Expressions that can take `.attr`, `(...)` or `[...]` directly, without parentheses.
_ATOMS = (
    cst.Name,
    cst.Attribute,
    cst.Call,
    cst.Subscript,
    cst.Integer,
    cst.Float,
    cst.Imaginary,
    cst.SimpleString,
    cst.ConcatenatedString,
    cst.FormattedString,
    cst.List,
    cst.Dict,
    cst.Set,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.Ellipsis,
)

_EMPTY = cst.Module(body=[])


def code(node: cst.CSTNode) -> str:
    """Source text of ``node`` as LibCST would print it."""
    return _EMPTY.code_for_node(node)


def code_indented(node: cst.CSTNode, indent: str) -> str:
    """Source text of ``node`` where it stands in blocks indented by ``indent`` in all.

    A continuation line (inside brackets) that starts with its block's indentation stores only what
    follows it, and printed on its own would lose the indentation: write it out in full.
    """
    text = code(node)
    if not indent or ("\n" not in text and "\r" not in text):
        return text
    spelled = node.visit(_SpellOutIndent(indent))
    assert isinstance(spelled, cst.CSTNode)
    return code(spelled)


class _SpellOutIndent(cst.CSTTransformer):
    """Writes the block indentation a continuation or comment line inherits into its own whitespace."""

    def __init__(self, indent: str) -> None:
        super().__init__()
        self.indent = indent

    def leave_ParenthesizedWhitespace(
        self, original_node: cst.ParenthesizedWhitespace, updated_node: cst.ParenthesizedWhitespace
    ) -> cst.ParenthesizedWhitespace:
        if not updated_node.indent:
            return updated_node
        last_line = cst.SimpleWhitespace(self.indent + updated_node.last_line.value)
        return updated_node.with_changes(indent=False, last_line=last_line)

    def leave_EmptyLine(self, original_node: cst.EmptyLine, updated_node: cst.EmptyLine) -> cst.EmptyLine:
        if not updated_node.indent:
            return updated_node
        whitespace = cst.SimpleWhitespace(self.indent + updated_node.whitespace.value)
        return updated_node.with_changes(indent=False, whitespace=whitespace)


def is_atom(expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` can be a receiver (``expr.attr``) without being parenthesised."""
    if expr.lpar:
        return True
    if isinstance(expr, cst.Integer | cst.Float):
        # `1.detach()` does not parse; `(1).detach()` does. Never a tensor anyway, but stay valid.
        return False
    if isinstance(expr, cst.Tuple):
        return bool(expr.lpar)
    if isinstance(expr, cst.GeneratorExp):
        return True
    return isinstance(expr, _ATOMS)


def breaks_lines_bare(expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` breaks a line outside its own brackets, as only enclosing brackets allow.

    `x.new()` + newline + `.fill_(0)` parses as an argument, where the call's parentheses hold it, but
    not as a statement's value. Strings, backslashes and brackets make line breaks an expression may
    hold anywhere, so CPython's parser decides (only code that spans lines pays for it).
    """
    text = code(expr)
    if "\n" not in text and "\r" not in text:
        return False
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return True
    return False


def parenthesize(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` wrapped in one pair of parentheses."""
    return expr.with_changes(lpar=[cst.LeftParen(), *expr.lpar], rpar=[*expr.rpar, cst.RightParen()])


def as_receiver(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr``, parenthesised when needed so that ``.method()`` binds to all of it."""
    return expr if is_atom(expr) else parenthesize(expr)


def method_call(receiver: cst.BaseExpression, method: str, args: Sequence[cst.Arg] = ()) -> cst.Call:
    """``receiver.method(args)`` with the receiver parenthesised when needed."""
    return cst.Call(
        func=cst.Attribute(value=as_receiver(receiver), attr=cst.Name(method)),
        args=list(args),
    )


def keyword(name: str, value: cst.BaseExpression) -> cst.Arg:
    """``name=value`` with no spaces around ``=``."""
    return cst.Arg(
        keyword=cst.Name(name),
        value=value,
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )


def keyword_name(arg: cst.Arg) -> str | None:
    """The keyword of ``arg`` (``None`` for a positional or starred argument)."""
    return arg.keyword.value if arg.keyword is not None else None


def append_args(call: cst.Call, extra: Sequence[cst.Arg]) -> cst.Call:
    """``call`` with ``extra`` arguments appended, keeping a trailing comma where there was one."""
    if not extra:
        return call
    args = list(call.args)
    if not args:
        return call.with_changes(args=[*_without_comma(extra[:-1]), _bare(extra[-1])])
    last = args[-1]
    trailing = last.comma if isinstance(last.comma, cst.Comma) else None
    separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    if trailing is not None and _is_multiline(trailing.whitespace_after):
        # Multi-line call with a magic trailing comma: the new arguments go where the last one went
        # (on a line of their own, at its indentation), and the closing bracket stays where it was.
        before_last = args[-2].comma if len(args) > 1 else None
        between = (
            before_last.whitespace_after
            if isinstance(before_last, cst.Comma)
            else call.whitespace_before_args
        )
        comma = trailing.with_changes(whitespace_after=between)
        new_args = [*args[:-1], last.with_changes(comma=comma)]
        new_args += [arg.with_changes(comma=comma) for arg in extra[:-1]]
        new_args.append(extra[-1].with_changes(comma=trailing))
        return call.with_changes(args=new_args)
    args[-1] = last.with_changes(comma=separator)
    new = [*args, *_without_comma(extra[:-1], separator)]
    tail = extra[-1].with_changes(comma=trailing if trailing is not None else cst.MaybeSentinel.DEFAULT)
    return call.with_changes(args=[*new, tail])


def _without_comma(args: Sequence[cst.Arg], sep: cst.Comma | None = None) -> list[cst.Arg]:
    comma = sep or cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return [a.with_changes(comma=comma) for a in args]


def _bare(arg: cst.Arg) -> cst.Arg:
    return arg.with_changes(comma=cst.MaybeSentinel.DEFAULT)


def _is_multiline(ws: cst.BaseParenthesizableWhitespace) -> bool:
    return isinstance(ws, cst.ParenthesizedWhitespace)


def without_parens(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` without its own parentheses."""
    return expr.with_changes(lpar=[], rpar=[])


def literal_bool(expr: cst.BaseExpression) -> bool | None:
    """``True``/``False`` for a literal flag (bool or small int), ``None`` when known only at run time."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    if isinstance(expr, cst.Integer):
        try:
            value = int(expr.evaluated_value)
        except ValueError:
            return None
        # The shim parses the flag as an unsigned byte: 0..255 are accepted, others raise.
        return bool(value) if 0 <= value <= 255 else None
    return None


def count_comments(node: cst.CSTNode) -> int:
    """Number of comments inside ``node``."""
    return sum(1 for found in descendants(node) if isinstance(found, cst.Comment))


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every node under it (depth first; LibCST's matchers cost 0.2 s to import)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        # Read from the fields: LibCST's `children` rebuilds the node to collect them.
        stack.extend(reversed(children(current)))


def remove_arg(call: cst.Call, arg: cst.Arg) -> cst.Call:
    """``call`` without ``arg``; the comma after the new last argument is what followed the old one."""
    args = list(call.args)
    index = next(i for i, a in enumerate(args) if a is arg)
    del args[index]
    if index == len(args) and args:
        args[-1] = args[-1].with_changes(comma=arg.comma)
    return call.with_changes(args=args)


def block_indents(
    node: cst.CSTNode, parent: Callable[[cst.CSTNode], cst.CSTNode | None], default_indent: str
) -> list[str]:
    """The indentation of the blocks ``node`` stands in, outermost first, as printing pushes it."""
    indents: list[str] = []
    current = parent(node)
    while current is not None:
        if isinstance(current, cst.IndentedBlock):
            indents.append(default_indent if current.indent is None else current.indent)
        current = parent(current)
    indents.reverse()
    return indents
