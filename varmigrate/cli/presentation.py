"""What ``check`` and ``fix`` show besides findings: the report's set-up, the progress bar, ``--verbose``
and ``--show-settings``."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from varmigrate.model import OutputFormat

if TYPE_CHECKING:
    from rich.console import Console

    from varmigrate.config import Configuration
    from varmigrate.output.console import Stream
    from varmigrate.output.report import Report
    from varmigrate.pipeline import Mode

# More files than this get a progress bar (on a terminal).
PROGRESS_THRESHOLD = 20


def verbose_lines(configuration: Configuration, files: int) -> list[str]:
    """What ``--verbose`` adds: where the settings come from and what is checked."""
    source = configuration.path or "none (defaults and flags)"
    return [
        f"configuration: {source}",
        f"rules: {', '.join(rule.code for rule in configuration.rules)}",
        f"files: {files}",
    ]


def settings_text(configuration: Configuration, args: argparse.Namespace) -> str:
    """``--show-settings``: the resolved settings, one per line, in the configuration file's terms."""
    ignores = [
        f"{entry.pattern} = [{', '.join(sorted(rule.code for rule in entry.rules))}]"
        for entry in configuration.per_file_ignores
    ]
    lines = [
        f"configuration file: {configuration.path or 'none'}",
        f"root: {configuration.root}",
        f"select: [{', '.join(rule.code for rule in configuration.rules)}]",
        f"unsafe-fixes: {str(configuration.unsafe_fixes).lower()}",
        f"output-format: {configuration.output_format.value if configuration.output_format else 'default'}",
        f"respect-gitignore: {str(configuration.respect_gitignore).lower()}",
        f"force-exclude: {str(configuration.force_exclude).lower()}",
        f"show-fixes: {str(configuration.show_fixes).lower()}",
        f"exclude: [{', '.join([*configuration.exclude, *configuration.extra_exclude])}]",
        f"per-file-ignores: {{{', '.join(ignores)}}}",
        f"jobs: {args.jobs}",
        f"timeout: {args.timeout if args.timeout is not None else 'default (60 s)'}",
        f"cache: {'off' if args.no_cache else args.cache_dir or 'in the project root'}",
    ]
    return "\n".join(lines)


def open_output(path: Path) -> IO[str]:
    """``path`` opened for the findings; parent directories are created, newlines written as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8", newline="")


def make_report(
    args: argparse.Namespace, mode: Mode, configuration: Configuration, out: Stream, err: Stream
) -> Report:
    """The Report for this run; the output format defaults to `full` on a terminal, else `concise`."""
    # FORCE_COLOR makes rich call any file a terminal; an output file still gets the concise format.
    # Otherwise the Report asks whether `out` is a terminal when it prints the first finding.
    from varmigrate.output.report import Report

    default = OutputFormat.CONCISE if args.output_file else None
    return Report(
        mode=mode,
        out=out,
        err=err,
        output_format=configuration.output_format or default,
        threshold=configuration.settings_for(None).threshold,
        quiet=args.quiet,
        silent=args.silent,
        exit_zero=args.exit_zero,
        fix_only=args.fix_only,
        exit_non_zero_on_fix=args.exit_non_zero_on_fix,
        statistics=args.statistics,
        show_fixes=configuration.show_fixes,
    )


@contextlib.contextmanager
def progress_bar(report: Report, total: int, *, quiet: bool) -> Iterator[Callable[[], None]]:
    """A transient progress bar on stderr while many files are processed, when it cannot garble output.

    Only when stderr really is a terminal (FORCE_COLOR makes rich call anything one), never with
    ``--quiet``, never when a format for programs goes to the terminal. Output that goes elsewhere (a
    pipe, a file) is left alone. When findings for people go to the terminal too, they are printed
    through the bar's console while it runs: it prints them above the bar, where a second console
    writing to the same screen would tear it.
    """
    to_terminal = _isatty(report.out)
    if (
        total <= PROGRESS_THRESHOLD
        or quiet
        or not _isatty(report.err)
        or (to_terminal and not report.for_people)
    ):
        yield lambda: None
        return
    # Imported here: only runs on a terminal with many files need it.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from varmigrate.output.console import rich_console

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=rich_console(report.err),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = progress.add_task("Fixing" if report.mode.fixes else "Checking", total=total)
    out = report.out
    with progress:
        if to_terminal:
            report.out = report.err
        try:
            yield lambda: progress.advance(task)
        finally:
            report.out = out


def _isatty(console: Stream | Console) -> bool:
    """Whether the console writes to a terminal (whatever FORCE_COLOR says)."""
    isatty = getattr(console.file, "isatty", None)
    return bool(isatty and isatty())
