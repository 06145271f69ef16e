"""Rendering one finding: for people (full, concise) and for programs (JSON, GitHub annotations)."""

from __future__ import annotations

import unicodedata
from typing import Any

from varmigrate.model import Applicability, Diagnostic, Edit, FileError, Fix, Location
from varmigrate.output.console import Styled

MARKERS = {
    Applicability.SAFE: "",
    Applicability.UNSAFE: " (unsafe)",
    Applicability.DISPLAY_ONLY: " (display only)",
}


def _header(diagnostic: Diagnostic, path: str, threshold: Applicability) -> Styled:
    """``path:line:col: CODE [*] message``."""
    text = Styled()
    text.append(path, style="bold")
    if diagnostic.cell is not None:
        text.append(f":cell {diagnostic.cell}")
    text.append(f":{diagnostic.start}: ")
    text.append(diagnostic.code, style="bold red")
    if diagnostic.fix_for(threshold) is not None:
        text.append(" [*]", style="cyan")
    text.append(f" {diagnostic.message}")
    return text


def render_concise(diagnostic: Diagnostic, path: str, threshold: Applicability) -> Styled:
    """One line per finding: ``path:line:col: CODE [*] message``."""
    return _header(diagnostic, path, threshold)


def render_full(
    diagnostic: Diagnostic, path: str, lines: dict[tuple[int | None, int], str], threshold: Applicability
) -> Styled:
    """The finding's line, its source line with a caret underline, and the fixes on offer."""
    text = _header(diagnostic, path, threshold)
    row = diagnostic.start.row
    source = lines.get((diagnostic.cell, row))
    gutter = " " * len(str(row))
    if source is not None:
        start = diagnostic.start.column - 1
        end = diagnostic.end.column - 1 if diagnostic.end.row == row else len(source)
        padding = "".join("\t" if char == "\t" else " " * _cells(char) for char in source[:start])
        carets = "^" * max(1, sum(_cells(char) for char in source[start:end]))
        text.append(f"\n{gutter} |\n")
        text.append(f"{row}", style="blue")
        text.append(f" | {source}\n{gutter} | {padding}")
        text.append(f"{carets} {diagnostic.code}", style="bold red")
        text.append(f"\n{gutter} |")
    for fix in _fixes_in_order(diagnostic, threshold):
        text.append(f"\n{gutter} = ")
        text.append("help", style="bold cyan")
        text.append(f": {fix.title}{MARKERS[fix.applicability]}")
    text.append("\n")
    return text


def _fixes_in_order(diagnostic: Diagnostic, threshold: Applicability) -> list[Fix]:
    """The fix that applies (or the best one shown) first, then the alternatives."""
    first = diagnostic.fix_for(threshold) or diagnostic.shown_fix
    if first is None:
        return []
    return [first, *(fix for fix in diagnostic.fixes if fix is not first)]


def _cells(char: str) -> int:
    """Terminal cells taken by ``char`` (2 for wide East Asian characters)."""
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _location_json(location: Location) -> dict[str, int]:
    return {"row": location.row, "column": location.column}


def _edit_json(edit: Edit) -> dict[str, Any]:
    return {
        "content": edit.content,
        "location": _location_json(edit.start),
        "end_location": _location_json(edit.end),
    }


def _escape_data(text: str) -> str:
    """Escape a workflow command's message (GitHub's toolkit ``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """Escape a workflow command's property value (GitHub's toolkit ``escapeProperty``)."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diagnostic: Diagnostic, path: str) -> str:
    """A GitHub Actions ``::error`` workflow command that annotates the finding.

    A notebook finding's rows are relative to its cell, not to the file's lines, so it annotates the
    file as a whole and names the cell and position in the message.
    """
    properties = {"title": f"varmigrate ({diagnostic.code})", "file": path}
    message = f"{diagnostic.code} {diagnostic.message}"
    if diagnostic.cell is None:
        properties.update(
            line=str(diagnostic.start.row),
            col=str(diagnostic.start.column),
            endLine=str(diagnostic.end.row),
            endColumn=str(diagnostic.end.column),
        )
    else:
        message = f"cell {diagnostic.cell}:{diagnostic.start}: {message}"
    return _workflow_command(properties, message)


def render_github_error(error: FileError) -> str:
    """A GitHub Actions ``::error`` workflow command for a file that could not be processed."""
    properties = {"title": "varmigrate (error)", "file": error.path}
    if error.location is not None and error.cell is None:
        properties.update(line=str(error.location.row), col=str(error.location.column))
    message = error.message if error.cell is None else str(error).removeprefix(f"{error.path}:")
    return _workflow_command(properties, message)


def _workflow_command(properties: dict[str, str], message: str) -> str:
    joined = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    return f"::error {joined}::{_escape_data(message)}"


def json_record(diagnostic: Diagnostic, path: str, threshold: Applicability) -> dict[str, Any]:
    """One finding with ruff's JSON field names; ``fix`` is the one `fix` would apply, else the best shown."""
    fix = diagnostic.fix_for(threshold) or diagnostic.shown_fix
    return {
        "cell": diagnostic.cell,
        "code": diagnostic.code,
        "message": diagnostic.message,
        "filename": path,
        "location": _location_json(diagnostic.start),
        "end_location": _location_json(diagnostic.end),
        "fix": None
        if fix is None
        else {
            "applicability": fix.applicability.label,
            "message": fix.title,
            "edits": [_edit_json(edit) for edit in fix.edits],
        },
        "noqa_row": diagnostic.start.row,
        "url": _url(diagnostic.code),
    }


def _url(code: str) -> str | None:
    """The documentation of the rule ``code`` (None for varmigrate's own errors, which have none)."""
    from varmigrate.rules import UnknownRuleError, rule_by_code

    try:
        return rule_by_code(code).url
    except UnknownRuleError:
        return None
