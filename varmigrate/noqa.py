"""``# noqa`` directives: which rows they suppress (the engine honours them), and ``check --add-noqa``.

``--add-noqa`` suppresses the remaining findings with ``# noqa: CODE`` comments, one line each.

For teams that migrate gradually: the comments silence what is left today, so that new legacy code
fails the check. The engine honours a directive on the row where a finding starts or the row where it
ends; the start row is preferred, unless that line ends inside a string (a comment there would be
text) or with a backslash continuation (a comment there is a syntax error), where the end row is used.
A line that already has a ``# noqa: ...`` for other codes (other tools' too) gets the new codes merged
into it. Only line ends are touched, so the encoding and line breaks of the file are kept.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from varmigrate.model import Diagnostic

# A noqa directive anywhere in a comment: bare (all codes) or followed by `: VM001, VM002`.
NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
# A doctest directive (`# doctest: +SKIP`), which doctest reads to the end of the example's line.
DOCTEST = re.compile(r"#\s*doctest:")
# Why a finding may get no directive: neither of its rows can take a comment.
NOT_COMMENTABLE = "the lines it starts and ends on end inside a string or with a backslash"
# Like ruff: two spaces between code and comment (PEP 8).
SEPARATOR = "  "


@dataclass(frozen=True)
class _Directive:
    """An existing ``# noqa: CODES`` on a row: where its codes are (columns in the line) and which."""

    start: int
    end: int
    codes: tuple[str, ...]


def noqa_lines(source: str) -> dict[int, frozenset[str] | None]:
    """Row -> codes suppressed there (None: all codes)."""
    if "noqa" not in source.lower():
        return {}
    lines: dict[int, frozenset[str] | None] = {}
    try:
        # Rows end at CRLF, LF and a lone CR, as everywhere else; the tokenizer ends them only at LF.
        text = source.replace("\r\n", "\n").replace("\r", "\n")
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.COMMENT:
                continue
            match = NOQA.search(token.string)
            if match is None:
                continue
            codes = match.group("codes")
            lines[token.start[0]] = (
                None if codes is None else frozenset(re.split(r"[\s,]+", codes.upper().strip()))
            )
    except (tokenize.TokenError, SyntaxError):
        pass
    return lines


def is_suppressed(diagnostic: Diagnostic, noqa: dict[int, frozenset[str] | None]) -> bool:
    """Whether a directive on the row where ``diagnostic`` starts or ends suppresses it."""
    for row in {diagnostic.start.row, diagnostic.end.row}:
        if row in noqa:
            codes = noqa[row]
            if codes is None or diagnostic.code in codes:
                return True
    return False


def reported(diagnostics: Iterable[Diagnostic], source: str) -> list[Diagnostic]:
    """``diagnostics`` of ``source`` (in the rules' order) less those a `# noqa` suppresses, sorted by
    position and code (a tie keeps that order)."""
    suppressed = noqa_lines(source)
    found = [d for d in diagnostics if not is_suppressed(d, suppressed)]
    return sorted(found, key=lambda d: (d.start, d.code))


def add_noqa(
    source: str, diagnostics: Sequence[Diagnostic], *, known: Mapping[int, bool] | None = None
) -> tuple[str, int, list[Diagnostic]]:
    """``source`` with a ``# noqa`` for each of ``diagnostics``, the number of lines changed, and the
    findings no directive could be placed for.

    ``known``: rows whose end the caller knows better than the tokenizer: the code lines of doctest
    examples, inside docstrings, where a comment is the example's (True), or cannot be (False).
    """
    commentable, directives = _scan(source)
    if known:
        commentable = {row for row in commentable if known.get(row, True)} | {
            r for r, ok in known.items() if ok
        }
        directives.update(_example_directives(source, [row for row, ok in known.items() if ok]))
    wanted: dict[int, list[str]] = {}
    unplaced: list[Diagnostic] = []
    for diagnostic in diagnostics:
        rows = list(dict.fromkeys((diagnostic.start.row, diagnostic.end.row)))
        row = next((r for r in rows if r in directives), None) or next(
            (r for r in rows if r in commentable), None
        )
        if row is None:
            unplaced.append(diagnostic)
            continue
        codes = wanted.setdefault(row, [])
        if diagnostic.code not in codes:
            codes.append(diagnostic.code)
    # Rows are counted by "\n" alone, as tokenize (and so the engine's noqa reader) counts them.
    lines = source.split("\n")
    changed = 0
    for row, codes in wanted.items():
        line = lines[row - 1]
        body, cr = (line[:-1], "\r") if line.endswith("\r") else (line, "")
        existing = directives.get(row)
        doctest = DOCTEST.search(body) if known and known.get(row) else None
        if existing is None and doctest is not None:
            # doctest reads its directive to the end of the line: the new comment goes before it.
            before = body[: doctest.start()].rstrip(" \t")
            body = (
                f"{before}{SEPARATOR}# noqa: {', '.join(sorted(codes))}{SEPARATOR}{body[doctest.start() :]}"
            )
        elif existing is None:
            body = body.rstrip(" \t") + f"{SEPARATOR}# noqa: {', '.join(sorted(codes))}"
        else:
            present = {code.upper() for code in existing.codes}
            merged = [*existing.codes, *sorted(code for code in codes if code not in present)]
            body = f"{body[: existing.start]}{', '.join(merged)}{body[existing.end :]}"
        if body + cr != line:
            lines[row - 1] = body + cr
            changed += 1
    return "\n".join(lines), changed, unplaced


def _example_directives(source: str, rows: Sequence[int]) -> dict[int, _Directive]:
    """The ``# noqa: CODES`` at the end of the doctest example lines ``rows`` (inside a docstring, where the
    tokenizer sees a string)."""
    lines = source.split("\n")
    found: dict[int, _Directive] = {}
    for row in rows:
        match = NOQA.search(lines[row - 1]) if row <= len(lines) else None
        if match is not None and match.group("codes") is not None:
            codes = tuple(re.split(r"[\s,]+", match.group("codes").strip()))
            found[row] = _Directive(match.start("codes"), match.end("codes"), codes)
    return found


def _scan(source: str) -> tuple[set[int], dict[int, _Directive]]:
    """Rows whose line may end with a comment, and the rows' existing ``# noqa: CODES`` directives."""
    commentable: set[int] = set()
    directives: dict[int, _Directive] = {}
    try:
        # Rows end at CRLF, LF and a lone CR, as everywhere else; the tokenizer ends them only at LF.
        text = source.replace("\r\n", "\n").replace("\r", "\n")
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            # A line ends in code (not in a string, not continued by a backslash) exactly when the
            # tokenizer emits NEWLINE or NL for it, or it already ends in a comment.
            if token.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT):
                commentable.add(token.start[0])
            if token.type == tokenize.COMMENT:
                match = NOQA.search(token.string)
                if match is not None and match.group("codes") is not None:
                    column = token.start[1]
                    codes = tuple(re.split(r"[\s,]+", match.group("codes").strip()))
                    directives[token.start[0]] = _Directive(
                        column + match.start("codes"), column + match.end("codes"), codes
                    )
    except (tokenize.TokenError, SyntaxError):
        # The engine parsed the source, so this is rare; rows seen so far are still right.
        pass
    return commentable, directives
