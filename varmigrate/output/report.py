"""The Report: counts what was found and fixed, renders it in the chosen format, decides the exit code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from varmigrate.model import Applicability, FileError, OutputFormat
from varmigrate.output import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS
from varmigrate.pipeline import FileResult, Mode

if TYPE_CHECKING:
    from rich.console import Console

    from varmigrate.model import Diagnostic
    from varmigrate.output.console import Stream


def _dumps(payload: object, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """``payload`` as JSON text (json is imported when a format for programs first prints)."""
    import json

    return json.dumps(payload, indent=indent, sort_keys=sort_keys, ensure_ascii=False)


# The sign in --show-fixes' `2 x VM001` (ruff's).
TIMES = "\N{MULTIPLICATION SIGN}"


def plural(count: int, word: str) -> str:
    """``1 finding`` / ``2 findings``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


class CodeStatistics:
    """Findings of one rule across the run."""

    __slots__ = ("count", "fixable", "name")

    def __init__(self, name: str, count: int = 0, fixable: int = 0) -> None:
        self.name = name
        self.count = count
        self.fixable = fixable


class Report:
    """Counters for one run, the rendering of each file's result and the summary, and the exit code."""

    mode: Mode
    out: Stream | Console
    err: Stream | Console
    # None: `full` when `out` is a terminal, else `concise` (decided when the first finding is printed,
    # so that a clean run never asks, and never loads rich).
    output_format: OutputFormat | None
    threshold: Applicability
    quiet: bool
    # Print nothing at all (`--silent`); the exit code still tells.
    silent: bool
    exit_zero: bool
    # Fix, and neither report nor exit 1 for what is left (`--fix-only`).
    fix_only: bool
    # Exit 1 when a file was fixed (`--exit-non-zero-on-fix`).
    exit_non_zero_on_fix: bool
    statistics: bool
    # After the findings, list the fixes applied (`fix`), that would be (`--diff`) or that can be
    # (`check`), per file and rule (`--show-fixes`, as ruff's).
    show_fixes: bool

    files: int
    findings: int
    files_with_findings: int
    # Findings whose fix applies at the threshold, and those that only `--unsafe-fixes` would fix.
    fixable: int
    unsafe_fixable: int
    fixed: int
    changed_files: int
    noqa_added: int
    errors: int
    warnings: int
    by_code: dict[str, CodeStatistics]
    _json: list[dict[str, Any]]
    _sarif: list[tuple[str, Diagnostic]]
    _error_list: list[FileError]
    # For --show-fixes: path -> rule code -> how many fixes.
    _fixes: dict[str, dict[str, int]]

    def __init__(
        self,
        mode: Mode,
        out: Stream | Console,
        err: Stream | Console,
        output_format: OutputFormat | None = OutputFormat.CONCISE,
        threshold: Applicability = Applicability.SAFE,
        quiet: bool = False,
        silent: bool = False,
        exit_zero: bool = False,
        fix_only: bool = False,
        exit_non_zero_on_fix: bool = False,
        statistics: bool = False,
        show_fixes: bool = False,
    ) -> None:
        self.mode = mode
        self.out = out
        self.err = err
        self.output_format = output_format
        self.threshold = threshold
        self.quiet = quiet
        self.silent = silent
        self.exit_zero = exit_zero
        self.fix_only = fix_only
        self.exit_non_zero_on_fix = exit_non_zero_on_fix
        self.statistics = statistics
        self.show_fixes = show_fixes
        self.files = self.findings = self.files_with_findings = 0
        self.fixable = self.unsafe_fixable = self.fixed = self.changed_files = self.noqa_added = 0
        self.errors = self.warnings = 0
        self.by_code = {}
        self._json = []
        self._sarif = []
        self._error_list = []
        self._fixes = {}

    # -- collecting -----------------------------------------------------------------------------------

    def add(self, result: FileResult) -> None:
        """Count and render one file's result."""
        self.files += 1
        for error in result.errors:
            self.error(error)
        for warning in result.warnings:
            self.warning(warning)
        self.fixed += result.fixed
        self.changed_files += result.changed
        self.noqa_added += result.noqa_added
        if self.mode is Mode.ADD_NOQA:
            # What is left could not be suppressed; the warnings say so.
            return
        if result.diagnostics:
            self.files_with_findings += 1
        for diagnostic in result.diagnostics:
            self._count(diagnostic)
        if self.show_fixes:
            self._note_fixes(result)
        if self.mode is Mode.DIFF:
            self._print_diff(result.diff)
        elif not (self.statistics or self.fix_only):
            self._render(result)

    def _render(self, result: FileResult) -> None:
        """Print (or keep, for formats printed at the end) the findings of one file."""
        if not result.diagnostics:
            return
        from varmigrate.output.console import print_styled
        from varmigrate.output.formats import json_record, render_concise, render_full, render_github

        path, threshold, found = result.path, self.threshold, result.diagnostics
        if self.output_format is None:
            self.output_format = OutputFormat.FULL if self.out.is_terminal else OutputFormat.CONCISE
        if self.output_format is OutputFormat.JSON:
            self._json.extend(json_record(d, path, threshold) for d in found)
        elif self.output_format is OutputFormat.SARIF:
            self._sarif.extend((path, d) for d in found)
        elif self.output_format is OutputFormat.JSON_LINES:
            for d in found:
                record = json_record(d, path, threshold)
                self._print_raw(_dumps(record, sort_keys=True))
        elif self.output_format is OutputFormat.GITHUB:
            for d in found:
                self._print_raw(render_github(d, path))
        elif self.output_format is OutputFormat.FULL:
            for d in found:
                print_styled(self.out, render_full(d, path, result.lines, threshold))
        else:
            for d in found:
                print_styled(self.out, render_concise(d, path, threshold))

    @property
    def for_people(self) -> bool:
        """Whether the output is read by people (and so gets the summary and a progress bar)."""
        return self.output_format is None or self.output_format.for_people

    def _print_raw(self, line: str) -> None:
        """Print ``line`` for a program to read: no styling, no wrapping, no highlighting."""
        self.out.out(line, highlight=False)

    def _count(self, diagnostic: Diagnostic) -> None:
        self.findings += 1
        fixable = diagnostic.fix_for(self.threshold) is not None
        if fixable:
            self.fixable += 1
        elif diagnostic.fix_for(Applicability.UNSAFE) is not None:
            self.unsafe_fixable += 1
        stats = self.by_code.setdefault(diagnostic.code, CodeStatistics(diagnostic.name))
        stats.count += 1
        stats.fixable += fixable

    def error(self, error: FileError) -> None:
        """Count and print (to stderr) a file that could not be processed."""
        from varmigrate.output.console import print_error
        from varmigrate.output.formats import render_github_error

        self.errors += 1
        self._error_list.append(error)
        print_error(self.err, str(error))
        if self.output_format is OutputFormat.GITHUB and self.mode is not Mode.DIFF:
            # A file CI could not check deserves an annotation as much as a finding does.
            self._print_raw(render_github_error(error))

    def warning(self, warning: FileError) -> None:
        """Count and print (to stderr) something the user should know that is not an error."""
        from varmigrate.output.console import Styled, print_styled

        self.warnings += 1
        line = Styled("warning", "bold yellow")
        line.append(f": {warning}")
        print_styled(self.err, line)

    # -- finishing ------------------------------------------------------------------------------------

    def finish(self) -> int:
        """Print what is printed once (JSON, SARIF, statistics, the summary) and return the exit code."""
        fmt = self.output_format
        if self.mode in (Mode.CHECK, Mode.FIX):
            if self.statistics and fmt in (OutputFormat.JSON, OutputFormat.JSON_LINES):
                self._print_json(self._statistics_json(), lines=fmt is OutputFormat.JSON_LINES)
                return self.exit_code
            if self.statistics:
                self._print_statistics()
            elif fmt is OutputFormat.JSON:
                self._print_json(self._json)
            elif fmt is OutputFormat.SARIF:
                self._print_raw(_dumps(self.sarif(), indent=2))
            if not (fmt is None or fmt.for_people or self.statistics):
                return self.exit_code
        if not self.quiet:
            console = self.err if self.mode is Mode.DIFF else self.out
            for line in self.fix_summary():
                console.out(line)
            for line in self.summary():
                console.out(line)
        return self.exit_code

    def _note_fixes(self, result: FileResult) -> None:
        """Keep, for :meth:`fix_summary`, the fixes of ``result`` by rule."""
        if self.mode.fixes:
            counts = dict(result.fixed_codes)
        else:
            counts = {}
            for d in result.diagnostics:
                if d.fix_for(self.threshold) is not None:
                    counts[d.code] = counts.get(d.code, 0) + 1
        if counts:
            self._fixes[result.path] = counts

    def fix_summary(self) -> list[str]:
        """``--show-fixes``: the fixes per file and rule, between blank lines (nothing without fixes):
        ``Fixed 3 findings:``, then per file ``- train.py:`` and lines such as ``    2 x VM001
        (legacy-variable-call)``, with :data:`TIMES` for the x, as ruff prints them."""
        if not self._fixes or self.mode is Mode.ADD_NOQA:
            return []
        from varmigrate.rules import ALL_RULES

        names = {rule.code: rule.name() for rule in ALL_RULES}
        total = plural(sum(n for counts in self._fixes.values() for n in counts.values()), "finding")
        if self.mode is Mode.FIX:
            heading = f"Fixed {total}:"
        elif self.mode is Mode.DIFF:
            heading = f"Would fix {total}:"
        else:
            heading = f"{total} fixable with `{self._fix_command}`:"
        lines = ["", heading]
        width = max(len(str(n)) for counts in self._fixes.values() for n in counts.values())
        for path in sorted(self._fixes):
            lines.append(f"- {path}:")
            for code, count in sorted(self._fixes[path].items(), key=lambda item: (-item[1], item[0])):
                name = f" ({names[code]})" if code in names else ""
                lines.append(f"    {count:>{width}} {TIMES} {code}{name}")
        return [*lines, ""]

    def sarif(self) -> dict[str, Any]:
        """The findings and errors of the run as a SARIF log."""
        from varmigrate.output.sarif import sarif_log

        return sarif_log(self._sarif, self._error_list, self.threshold)

    def _print_json(self, payload: Sequence[dict[str, Any]], *, lines: bool = False) -> None:
        if lines:
            for item in payload:
                self._print_raw(_dumps(item, sort_keys=True))
        else:
            self._print_raw(_dumps(payload, indent=2, sort_keys=True))

    def summary(self) -> list[str]:
        """The closing lines, e.g. ``Found 3 findings in 2 files.``."""
        lines: list[str] = []
        if self.mode is Mode.ADD_NOQA:
            lines.append(f"Added {plural(self.noqa_added, 'noqa directive')}.")
            if self.errors:
                lines.append(f"{plural(self.errors, 'error')} (see above).")
            return lines
        if self.fix_only and self.mode is Mode.FIX:
            lines += [f"Fixed {plural(self.fixed, 'finding')}."] if self.fixed else []
            lines += [f"{plural(self.errors, 'error')} (see above)."] if self.errors else []
            return lines
        found = f"{plural(self.findings, 'finding')} in {plural(self.files_with_findings, 'file')}"
        if self.mode is Mode.CHECK:
            if self.findings:
                lines.append(f"Found {found}.")
            elif not self.errors:
                lines.append("All checks passed!")
            if self.fixable:
                lines.append(f"[*] {self.fixable} fixable with `{self._fix_command}`.")
        elif self.mode is Mode.FIX:
            if self.fixed:
                lines.append(f"Fixed {plural(self.fixed, 'finding')} ({self.findings} remaining).")
            elif self.findings:
                lines.append(f"Found {found}; none could be fixed.")
            elif not self.errors:
                lines.append("All checks passed!")
        elif self.fixed:
            lines.append(
                f"Would fix {plural(self.fixed, 'finding')} in {plural(self.changed_files, 'file')}"
                f" ({self.findings} remaining)."
            )
        elif not self.errors:
            lines.append("Nothing to fix.")
        if self.unsafe_fixable:
            more = " more" if self.fixable and self.mode is Mode.CHECK else ""
            lines.append(f"{self.unsafe_fixable}{more} fixable with `varmigrate fix --unsafe-fixes`.")
        if self.errors:
            lines.append(f"{plural(self.errors, 'error')} (see above).")
        return lines

    @property
    def _fix_command(self) -> str:
        return "varmigrate fix --unsafe-fixes" if self.threshold is Applicability.UNSAFE else "varmigrate fix"

    @property
    def exit_code(self) -> int:
        """2 on any error; else 1 when findings remain (or ``--diff`` would change a file); else 0."""
        if self.errors:
            return EXIT_ERROR
        if self.exit_non_zero_on_fix and self.changed_files and self.mode is not Mode.DIFF:
            return EXIT_FINDINGS
        if self.exit_zero or self.fix_only or self.mode is Mode.ADD_NOQA:
            return EXIT_CLEAN
        if self.mode is Mode.DIFF:
            return EXIT_FINDINGS if self.changed_files else EXIT_CLEAN
        return EXIT_FINDINGS if self.findings else EXIT_CLEAN

    def _print_statistics(self) -> None:
        from varmigrate.output.console import Styled, print_styled

        rows = sorted(self.by_code.items(), key=lambda item: (-item[1].count, item[0]))
        width = max((len(str(stats.count)) for _, stats in rows), default=1)
        for code, stats in rows:
            line = Styled(f"{stats.count:>{width}}  ")
            line.append(code, style="bold red")
            line.append("  [*] " if stats.fixable else "      ", style="cyan")
            line.append(stats.name)
            if 0 < stats.fixable < stats.count:
                line.append(f" ({stats.fixable} fixable)", style="cyan")
            print_styled(self.out, line)

    def _statistics_json(self) -> list[dict[str, Any]]:
        return [
            {"code": code, "name": stats.name, "count": stats.count, "fixable": stats.fixable}
            for code, stats in sorted(self.by_code.items())
        ]

    def _print_diff(self, diff: str) -> None:
        from rich.text import Text

        if not diff:
            return
        if not (self.out.is_terminal and self.out.color_system):
            # Raw, so that CRs of CRLF files survive and the output applies with `patch`/`git apply`.
            self.out.file.write(diff)
            self.out.file.flush()
            return
        for line in diff.splitlines():
            style = ""
            if line.startswith(("+++", "---")):
                style = "bold"
            elif line.startswith("@@"):
                style = "cyan"
            elif line.startswith("+"):
                style = "green"
            elif line.startswith("-"):
                style = "red"
            self.out.print(Text(line, style=style))
