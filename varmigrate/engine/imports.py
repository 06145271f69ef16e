"""Import clean-up after fixes: unused `Variable` imports and `torch.autograd` aliases go, needed come.

The result is what LibCST's `RemoveImportsVisitor` and `AddImportsVisitor` make of the module (their
rules are restated in `import_plan`, `import_removal` and `import_usage`, with the places they come
from), at a fraction of the cost: they copy and walk the whole module (removal computes scope
analysis over all of it), while the statements an unused import could be used in are the statements
that mention its name. The last round's analysis (`Analysis`) usually holds all of them, with its
scope analysis done; otherwise those statements alone are parsed. The changes are spliced into the
text statement by statement, each merged into the statement's text where LibCST does not print it
as the text has it (`splice.merge`). What that cannot read is left to LibCST's visitors, whose
result is merged into the text.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence

import libcst as cst

from varmigrate.engine.analysis import Analysis, outline_of, parse_partial
from varmigrate.engine.import_plan import Cleanup, _Plan
from varmigrate.engine.import_removal import (
    DROP_IF_UNUSED,
    FROM_IMPORT,
    KeepsComments,
    _asname,
    _EmptyTryRemover,
    _has_empty_try,
    rename_replaced_imports,
)
from varmigrate.engine.outline import Outline, node_text
from varmigrate.engine.parsing import parse
from varmigrate.engine.splice import Change, Ledger, Merged, may_differ, merge
from varmigrate.model import SourceParseError
from varmigrate.rules import nodes
from varmigrate.rules.context import ModuleContext
from varmigrate.rules.torch_api import AUTOGRAD_MODULES, RENAMED, VARIABLE

# Where an import that may go can be: every candidate names `autograd`.
_AUTOGRAD = re.compile(r"autograd")


def clean_imports(
    source: str,
    imports: Iterable[str],
    analysis: Analysis | None = None,
    tree: ast.Module | None = None,
    *,
    keep: frozenset[str] = frozenset(),
) -> Cleanup:
    """Remove `Variable` imports (and `torch.autograd` aliases) left unused; add imports fixes need.

    ``analysis`` is the last analysis of ``source`` and ``tree`` CPython's parse of it, when known.
    Imports of the names in ``keep`` stay, used or not (other modules import them from this one).
    """
    wanted = sorted(set(imports))
    if analysis is not None and analysis.source != source:
        analysis = None
    outline = analysis.outline if analysis is not None else None
    outline = outline or outline_of(source, tree)
    if outline is None:
        return _with_codemods(source, wanted, keep)
    names = _candidate_names(outline)
    if not names and not wanted:
        return Cleanup(source, source, _identity)
    found = _context(outline, names, analysis)
    if found is None:
        return _with_codemods(source, wanted, keep)
    ctx, positions = found
    plan = _Plan(outline, ctx, positions, keep=keep)
    if not plan.schedule() and not wanted:
        return Cleanup(source, source, _identity)
    if not plan.remove() or (wanted and not plan.add(wanted)):
        return _with_codemods(source, wanted, keep)
    return _keep_line_breaks(plan.result())


def _with_codemods(source: str, wanted: Sequence[str], keep: frozenset[str]) -> Cleanup:
    merged = _clean_with_codemods(source, wanted, keep)
    return _keep_line_breaks(Cleanup(source, merged.text, None, merged.changes))


def _keep_line_breaks(cleanup: Cleanup) -> Cleanup:
    """``cleanup``, where a removal left a lone CR right before an LF, with that CR made an LF.

    ``\r`` then ``\n`` read as one line break where there were two, and every later row would be one
    less; the line before the removed import ends as the import's own line did instead.
    """
    source, changes = cleanup.before, sorted(cleanup.changes)
    if "\r" not in source or not changes:
        return cleanup
    extra: list[Change] = []
    for index, (start, stop, text) in enumerate(changes):
        after = changes[index + 1] if index + 1 < len(changes) else None
        following = after[2][:1] if after is not None and after[0] == stop else source[stop : stop + 1]
        if (
            not text
            and start > 0
            and source[start - 1] == "\r"
            and following == "\n"
            and not any(s <= start - 1 < e or s == e == start - 1 for s, e, _ in changes)
        ):
            extra.append((start - 1, start, "\n"))
    if not extra:
        return cleanup
    merged = sorted([*changes, *extra])
    ledger = Ledger(source)
    ledger.apply(merged)
    return Cleanup(source, ledger.text, cleanup.shift, merged)


def _identity(row: int) -> tuple[int, int] | None:
    return row, 0


def _candidate_names(outline: Outline) -> set[str]:
    """The names bound by imports that may be removed (read from CPython's parse; a superset)."""
    found: set[str] = set()
    for statement in outline.statements:
        if not _AUTOGRAD.search("".join(outline.lines[statement.first : statement.last + 1])):
            continue
        for top in statement.nodes:
            for node in ast.walk(top):
                if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    for alias in node.names:
                        if f"{node.module}.{alias.name}" in VARIABLE | AUTOGRAD_MODULES:
                            found.add(alias.asname or alias.name)
                elif isinstance(node, ast.Import):
                    found.update(a.asname for a in node.names if a.name in AUTOGRAD_MODULES and a.asname)
    return found


def _context(
    outline: Outline, names: set[str], analysis: Analysis | None
) -> tuple[ModuleContext, list[int | None] | None] | None:
    """A context whose module holds every statement that mentions ``names`` (or `__all__`), verbatim.

    The last round's analysis does, unless one of those statements was left out of it; otherwise
    they (and the module's imports) are parsed, the rest standing in as one string. Also says where
    each top-level statement is in the module's body (None: left out; no list: all are there).
    """
    # Each candidate import mentions the name it binds, so its statement is among them.
    words = re.compile(r"\b(?:" + "|".join(map(re.escape, ["__all__", *sorted(names)])) + r")\b")
    # A string annotation may use a name that only an escape spells: no word finds its statement.
    escaped = _spelled_by_escapes(outline, names)
    ctx = analysis.ctx if analysis is not None else None
    if analysis is not None and ctx is not None and not escaped and not words.search(ctx.dropped_code):
        return ctx, analysis.positions
    # A docstring never uses a name: the statements that mention one only there need not be parsed.
    left_out = {} if escaped else outline.left_out(words, in_docstrings=False)
    if not left_out:
        try:
            module = parse(outline.source)
        except SourceParseError:
            return None
        return ModuleContext.build(module, outline.source), None
    parsed = parse_partial(outline, left_out)
    if parsed is None:
        return None
    return ModuleContext.build(parsed[0], outline.source), parsed[2]


# A backslash that can stand for a character of a name in a string: `\x69`, `\u0069`, `\N{...}`, an octal
# escape, or one that joins two lines.
_NAME_ESCAPE = re.compile(r"\\[xuUN0-7\r\n]")


def _spelled_by_escapes(outline: Outline, names: set[str]) -> bool:
    """Whether a string of the module holds one of ``names`` where its text does not (`'Var\\x69able'`)."""
    if not names or not _NAME_ESCAPE.search(outline.source):
        return False
    for statement in outline.statements:
        if not any("\\" in line for line in outline.lines[statement.first : statement.last + 1]):
            continue
        for top in statement.nodes:
            for node in ast.walk(top):
                if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                    continue
                spelled = [name for name in names if name in node.value]
                if spelled and not all(name in node_text(outline.lines, node) for name in spelled):
                    return True
    return False


def _clean_with_codemods(source: str, imports: Sequence[str], keep: frozenset[str] = frozenset()) -> Merged:
    """The clean-up done by LibCST's own visitors, on the whole module, for what the fast path cannot read.

    What they print is merged into ``source``; a change anywhere but in a statement that mentions
    `import` or between top-level statements raises `UnpreservedText`.
    """
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

    module = parse(source)
    if module.default_indent.strip(" \t"):
        # A form feed in the first indentation: `AddImportsVisitor` cannot parse its import with it.
        module = module.with_changes(default_indent=module.default_indent.replace("\x0c", "") or "    ")
    context = CodemodContext()
    scheduled = False
    dropped = {name.removeprefix(DROP_IF_UNUSED) for name in imports if name.startswith(DROP_IF_UNUSED)}
    for node in nodes.descendants(module):
        if isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar) and node.module:
            dotted = nodes.code(node.module)
            if node.relative:
                continue
            for alias in node.names:
                full = f"{dotted}.{nodes.code(alias.name)}"
                local = alias.evaluated_alias or alias.evaluated_name
                if (full in VARIABLE or full in AUTOGRAD_MODULES or full in dropped) and local not in keep:
                    RemoveImportsVisitor.remove_unused_import(
                        context, dotted, nodes.code(alias.name), _asname(alias)
                    )
                    scheduled = True
        elif isinstance(node, cst.Import):
            for alias in node.names:
                dotted = nodes.code(alias.name)
                if dotted in AUTOGRAD_MODULES and alias.asname is not None and _asname(alias) not in keep:
                    RemoveImportsVisitor.remove_unused_import(context, dotted, asname=_asname(alias))
                    scheduled = True
    # The module as printed stays `module` (what the result is merged against); the renaming is a change.
    renamed, removals = rename_replaced_imports(module, imports, RENAMED)
    for dotted, name in removals:
        RemoveImportsVisitor.remove_unused_import(context, dotted, name)
        scheduled = True
    for name in imports:
        if name.startswith(DROP_IF_UNUSED):
            continue
        if match := FROM_IMPORT.fullmatch(name):
            AddImportsVisitor.add_needed_import(context, match[1], match[2])
        else:
            AddImportsVisitor.add_needed_import(context, name)
        scheduled = True
    if not scheduled:
        return Merged(source, [])
    base = module.code if may_differ(source) else source

    class Remover(KeepsComments, RemoveImportsVisitor):
        pass

    cleaned = Remover(context).transform_module(renamed)
    if not _has_empty_try(module):
        # `try: from torch.autograd import Variable / except ImportError: pass` is left with nothing
        # but `pass` once the import goes; the module had no such statement before, so drop them.
        cleaned = cleaned.visit(_EmptyTryRemover())
    new = AddImportsVisitor(context).transform_module(cleaned).code
    return merge(source, base, new, _import_regions(module, len(base)))


def _import_regions(module: cst.Module, length: int) -> list[tuple[int, int]]:
    """Where in LibCST's printing of ``module`` (``length`` long) the clean-up may change it.

    Imports are removed from the statements that mention `import` and added between top-level
    statements.
    """
    offset = sum(len(module.code_for_node(line)) for line in module.header)
    regions = [(offset, offset)]
    for statement in module.body:
        code = module.code_for_node(statement)
        end = min(offset + len(code), length)  # the last line may have no newline
        regions.append((offset, end) if "import" in code else (end, end))
        offset = end
    return regions
