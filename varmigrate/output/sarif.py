"""SARIF 2.1.0 output (``--output-format sarif``), for code-scanning dashboards.

One run; every rule is described in ``tool.driver.rules`` (documentation from its docstring); every
finding is a result at the finding's region, with the fix that ``varmigrate fix`` would apply (under the
same ``--unsafe-fixes``) as a SARIF fix. Paths under the working directory are relative URIs against
``%SRCROOT%``, which ``originalUriBaseIds`` maps to the working directory; others are ``file:`` URIs.
Columns count Unicode code points (``columnKind``), as varmigrate's do.

Notebooks: rows and columns of a notebook finding are relative to a code cell, not to the lines of the
``.ipynb`` file, so the location names only the file and the result's ``properties`` hold the ``cell``
and the ``cellRegion``; the message starts with ``cell N:row:col:``; fixes are not included (their
regions would not be the file's).
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from varmigrate._version import INFORMATION_URI, __version__
from varmigrate.model import Applicability, Diagnostic, FileError, Location
from varmigrate.rules import ALL_RULES, RuleSpec

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
VERSION = "2.1.0"
SRCROOT = "%SRCROOT%"
# Findings block `varmigrate check` (exit code 1), so they are errors rather than warnings.
LEVEL = "error"

_SECTION = re.compile(r"^## (?P<title>.+)$", re.MULTILINE)


def sarif_log(
    findings: Sequence[tuple[str, Diagnostic]],
    errors: Sequence[FileError],
    threshold: Applicability,
    cwd: Path | None = None,
) -> dict[str, Any]:
    """The SARIF log of a run: ``findings`` as (path, diagnostic), ``errors`` as tool notifications."""
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    index = {rule.code: position for position, rule in enumerate(ALL_RULES)}
    return {
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "varmigrate",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [rule_descriptor(rule) for rule in ALL_RULES],
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": cwd.as_uri().rstrip("/") + "/"}},
                "columnKind": "unicodeCodePoints",
                "invocations": [
                    {
                        "executionSuccessful": not errors,
                        "toolExecutionNotifications": [_notification(error, cwd) for error in errors],
                    }
                ],
                "results": [
                    _result(diagnostic, path, threshold, cwd, index.get(diagnostic.code))
                    for path, diagnostic in findings
                ],
            }
        ],
    }


def rule_descriptor(rule: RuleSpec) -> dict[str, Any]:
    """A rule as a SARIF ``reportingDescriptor``: documentation from its docstring."""
    doc = rule.doc
    what = _section(doc, "What it does") or rule.message
    return {
        "id": rule.code,
        "name": rule.name(),
        "shortDescription": {"text": rule.message},
        "fullDescription": {"text": what, "markdown": what},
        "help": {"text": doc or rule.message, "markdown": doc or rule.message},
        "defaultConfiguration": {"level": LEVEL},
        "properties": {"fixAvailability": rule.fix_availability},
    }


def _section(doc: str, title: str) -> str:
    """The body of the docstring section ``## title`` (empty when there is none)."""
    matches = list(_SECTION.finditer(doc))
    for position, match in enumerate(matches):
        if match.group("title").strip() == title:
            end = matches[position + 1].start() if position + 1 < len(matches) else len(doc)
            return doc[match.end() : end].strip()
    return ""


def artifact_location(path: str, cwd: Path) -> dict[str, str]:
    """``path`` relative to ``%SRCROOT%`` (the working directory) when inside it, else a ``file:`` URI."""
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(cwd)
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": urllib.parse.quote(relative.as_posix()), "uriBaseId": SRCROOT}


def region(start: Location, end: Location) -> dict[str, int]:
    """A SARIF region; ``end`` is exclusive, like SARIF's ``endColumn``."""
    return {
        "startLine": start.row,
        "startColumn": start.column,
        "endLine": end.row,
        "endColumn": end.column,
    }


def _result(
    diagnostic: Diagnostic, path: str, threshold: Applicability, cwd: Path, rule_index: int | None
) -> dict[str, Any]:
    location = artifact_location(path, cwd)
    span = region(diagnostic.start, diagnostic.end)
    result: dict[str, Any] = {"ruleId": diagnostic.code}
    if rule_index is not None:
        result["ruleIndex"] = rule_index
    result["level"] = LEVEL
    if diagnostic.cell is None:
        result["message"] = {"text": diagnostic.message}
        result["locations"] = [{"physicalLocation": {"artifactLocation": location, "region": span}}]
    else:
        result["message"] = {"text": f"cell {diagnostic.cell}:{diagnostic.start}: {diagnostic.message}"}
        result["locations"] = [{"physicalLocation": {"artifactLocation": location}}]
        result["properties"] = {"cell": diagnostic.cell, "cellRegion": span}
    fix = diagnostic.fix_for(threshold)
    # A fix that needs an import varmigrate adds separately would leave a NameError if applied as is.
    if fix is not None and diagnostic.cell is None and not fix.imports:
        result["fixes"] = [
            {
                "description": {"text": fix.title},
                "artifactChanges": [
                    {
                        "artifactLocation": location,
                        "replacements": [
                            {
                                "deletedRegion": region(edit.start, edit.end),
                                "insertedContent": {"text": edit.content},
                            }
                            for edit in fix.edits
                        ],
                    }
                ],
            }
        ]
    return result


def _notification(error: FileError, cwd: Path) -> dict[str, Any]:
    """A file varmigrate could not process, as a tool execution notification."""
    physical: dict[str, Any] = {"artifactLocation": artifact_location(error.path, cwd)}
    if error.location is not None and error.cell is None:
        physical["region"] = {"startLine": error.location.row, "startColumn": error.location.column}
    return {"level": "error", "message": {"text": str(error)}, "locations": [{"physicalLocation": physical}]}
