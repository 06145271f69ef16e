"""``varmigrate check`` and ``varmigrate fix``: discover files, run each through the pipeline, report."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from varmigrate.cache import CACHE_DIR
from varmigrate.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    positive_int,
    seconds,
    sigterm_unwinds,
    time_limit,
)
from varmigrate.model import FileError, OutputFormat

if TYPE_CHECKING:
    from rich.console import Console

    from varmigrate.cache import Cache
    from varmigrate.config import Configuration, Overrides
    from varmigrate.output.console import Stream
    from varmigrate.output.report import Report
    from varmigrate.pipeline import Job, Mode

STDIN = "-"
# More files than this get a progress bar (on a terminal).
PROGRESS_THRESHOLD = 20


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _flatten(groups: Iterable[list[str]] | None) -> list[str]:
    return [item for group in groups or () for item in group]


def common_arguments() -> argparse.ArgumentParser:
    """The options ``check`` and ``fix`` share, as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or directories (`-` for stdin); default `.`"
    )
    configuration = common.add_mutually_exclusive_group()
    configuration.add_argument(
        "--config",
        metavar="PATH",
        help="read settings from this file only (pyproject.toml, varmigrate.toml or .varmigrate.toml)",
    )
    configuration.add_argument(
        "--isolated", action="store_true", help="read no configuration file: defaults and flags only"
    )
    common.add_argument(
        "--select",
        type=_comma_list,
        action="append",
        metavar="RULES",
        help="rule codes, prefixes or names to run, instead of the configured ones",
    )
    common.add_argument(
        "--extend-select",
        type=_comma_list,
        action="append",
        metavar="RULES",
        help="rule codes, prefixes or names to run in addition to the selected ones",
    )
    common.add_argument(
        "--ignore",
        type=_comma_list,
        action="append",
        metavar="RULES",
        help="rule codes, prefixes or names to skip, in addition to the configured ones",
    )
    common.add_argument(
        "--exclude",
        "--extend-exclude",
        dest="exclude",
        type=_comma_list,
        action="append",
        metavar="GLOB",
        help="skip paths matching these .gitignore-style patterns (relative to the working directory), "
        "in addition to the configured ones",
    )
    common.add_argument(
        "--per-file-ignores",
        action="append",
        metavar="GLOB:RULES",
        help="skip these rules in the files a pattern matches (`tests/**:VM201`), in addition to the "
        "configured ones",
    )
    common.add_argument(
        "--force-exclude",
        action=argparse.BooleanOptionalAction,
        help="apply exclusions to paths passed explicitly too",
    )
    common.add_argument(
        "--respect-gitignore",
        action=argparse.BooleanOptionalAction,
        help="skip files ignored by .gitignore (default: yes)",
    )
    common.add_argument(
        "--unsafe-fixes",
        action=argparse.BooleanOptionalAction,
        help="allow fixes that may change behaviour (see `varmigrate rule`)",
    )
    common.add_argument(
        "--output-format",
        choices=[f.value for f in OutputFormat],
        help="`full` (default on a terminal), `concise` (default otherwise), `json`, `json-lines`, "
        "`github` or `sarif`",
    )
    common.add_argument(
        "-o",
        "--output-file",
        metavar="PATH",
        help="write the findings to this file (without colour) instead of stdout",
    )
    common.add_argument(
        "--statistics", action="store_true", help="count findings per rule instead of listing them"
    )
    common.add_argument(
        "--stdin-filename", metavar="PATH", help="the name to show for source read from stdin"
    )
    common.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings remain")
    common.add_argument(
        "--exit-non-zero-on-fix",
        action="store_true",
        help="exit 1 when a file was fixed, even if no findings remain",
    )
    common.add_argument(
        "--fix-only",
        action="store_true",
        help="apply fixes, report neither the findings left nor exit 1 for them (implies --fix)",
    )
    common.add_argument(
        "--show-files", action="store_true", help="list the files that would be checked, and exit"
    )
    common.add_argument("--show-settings", action="store_true", help="print the resolved settings, and exit")
    verbosity = common.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    verbosity.add_argument(
        "-s", "--silent", action="store_true", help="print nothing; the exit code still tells"
    )
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="also say which configuration and files are used"
    )
    common.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="at most this many worker processes for the files that reach LibCST (default: one per CPU)",
    )
    common.add_argument(
        "--timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="give up a file whose analysis takes longer, as an error (default 60; 0 for no limit)",
    )
    common.add_argument(
        "--no-cache",
        action="store_true",
        help=f"neither read nor write the results cache ({CACHE_DIR}/ in the project's root)",
    )
    common.add_argument(
        "--cache-dir", metavar="PATH", help=f"keep the results cache here instead of in {CACHE_DIR}/"
    )
    common.add_argument("--no-color", action="store_true", help="no colours (also set by NO_COLOR)")
    return common


def add_check_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``check`` subcommand."""
    check = commands.add_parser(
        "check", parents=[common_arguments()], help="report findings", description="Report findings."
    )
    check.add_argument(
        "--add-noqa",
        action="store_true",
        help="append `# noqa: CODE` to the lines of the findings instead of reporting them",
    )
    # As in ruff: `check --fix` is `fix`, `check --diff` is `fix --diff`.
    check.add_argument("--fix", action="store_true", help="apply fixes in place (as `varmigrate fix`)")
    check.add_argument(
        "--diff", action="store_true", help="print a diff of the fixes instead of writing them"
    )
    check.set_defaults(handler=lambda args: run(args, _check_mode(args)))


def add_fix_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``fix`` subcommand."""
    fix = commands.add_parser(
        "fix", parents=[common_arguments()], help="apply fixes in place", description="Apply fixes in place."
    )
    fix.add_argument("--diff", action="store_true", help="print a diff of the fixes instead of writing them")
    fix.set_defaults(handler=lambda args: run(args, "diff" if args.diff else "fix"))


def _check_mode(args: argparse.Namespace) -> str:
    """What ``check`` does with its flags: report, add noqa comments, or fix (as ruff's ``check``)."""
    if args.add_noqa:
        return "add-noqa"
    if args.diff:
        return "diff"
    return "fix" if args.fix or args.fix_only else "check"


def run(args: argparse.Namespace, mode_name: str) -> int:
    """``varmigrate check [--add-noqa]`` / ``varmigrate fix [--diff]``."""
    # Imported when a command runs, so that `--version`, `--help` and `rule` stay cheap.
    from varmigrate.output.console import Stream, print_error
    from varmigrate.pipeline import Mode

    mode = Mode(mode_name)
    err = Stream(stderr=True, no_color=args.no_color)
    progress = _Progress()
    try:
        with sigterm_unwinds():
            return _run(args, mode, err, progress)
    except KeyboardInterrupt:
        print_error(err, progress.interrupted(mode, "interrupted"))
        return EXIT_INTERRUPTED
    except Terminated:
        print_error(err, progress.interrupted(mode, "terminated"))
        return EXIT_TERMINATED


class _Progress:
    """How far a run got: what an interruption reports."""

    def __init__(self) -> None:
        self.files = 0
        self.done = 0
        self.written = 0

    def interrupted(self, mode: Mode, how: str) -> str:
        """The one line a run ended by a signal prints."""
        if mode.writes:
            files = "file" if self.written == 1 else "files"
            return f"{how}: {self.written} {files} written, the rest untouched"
        return f"{how}: {self.done} of {self.files} files done; nothing was written"


def _run(args: argparse.Namespace, mode: Mode, err: Stream, progress: _Progress) -> int:
    from varmigrate.config import ConfigError, load_configuration
    from varmigrate.output import EXIT_CLEAN, EXIT_ERROR
    from varmigrate.output.console import Stream, print_error
    from varmigrate.pipeline import DEFAULT_TIMEOUT, Job, Mode, processing
    from varmigrate.rules import UnknownRuleError
    from varmigrate.sources.discovery import discover
    from varmigrate.sources.io import remove_stale_temporaries

    try:
        configuration = load_configuration(
            config=args.config, isolated=args.isolated, overrides=overrides(args)
        )
    except (ConfigError, UnknownRuleError) as error:
        print_error(err, str(error))
        return EXIT_ERROR
    # Like ruff, `--stdin-filename` alone means "read stdin".
    paths: list[str] = args.paths or ([STDIN] if args.stdin_filename else ["."])
    reads_stdin = STDIN in paths
    if reads_stdin and mode is Mode.ADD_NOQA:
        print_error(err, "--add-noqa edits files in place; it cannot read stdin")
        return EXIT_ERROR
    if args.show_settings:
        Stream(no_color=True).out(_settings_text(configuration, args))
        return EXIT_CLEAN
    with contextlib.ExitStack() as stack:
        if args.output_file:
            try:
                handle = stack.enter_context(_open_output(Path(args.output_file)))
            except OSError as error:
                print_error(err, f"{args.output_file}: cannot write: {error.strerror or error}")
                return EXIT_ERROR
            out = Stream(no_color=True, file=handle)
        elif reads_stdin and mode is Mode.FIX:
            # Fixed code read from stdin goes to stdout, so everything else goes to stderr.
            out = err
        else:
            out = Stream(no_color=args.no_color)
        if args.silent:
            quiet = stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
            out = err = Stream(no_color=True, file=quiet)
        report = make_report(args, mode, configuration, out, err)
        job = Job(mode=mode)
        found = discover(
            [Path(path) for path in paths if path != STDIN],
            force_exclude=configuration.force_exclude,
            respect_gitignore=configuration.respect_gitignore,
            excluder=configuration.excluder(),
        )
        if args.show_files:
            for path in found.files:
                out.out(str(path))
            return EXIT_CLEAN
        if args.verbose:
            for line in _verbose(configuration, len(found.files)):
                err.out(line)
        for missing in found.errors:
            report.error(missing)
        for skipped in found.warnings:
            report.warning(skipped)
        if mode.writes:
            for stale in remove_stale_temporaries({path.parent for path in found.files}):
                report.warning(FileError(str(stale), "removed: a temporary file left by an interrupted run"))
        items = [(path, replace(job, settings=configuration.settings_for(path))) for path in found.files]
        cache = None if args.no_cache else _cache(args, configuration)
        progress.files = len(items)
        timeout = time_limit(args.timeout, DEFAULT_TIMEOUT)
        # The worker pool starts before the progress bar's thread: it forks this process.
        with processing(items, workers=args.jobs, cache=cache, timeout=timeout) as batch:
            # Files the first stage settled (most, and all of them on a cached run) need no bar.
            total = len(found.files) if batch.pending else 0
            with _progress(report, total, quiet=args.quiet) as advance:
                for result in batch:
                    report.add(result)
                    progress.done += 1
                    progress.written += result.written
                    advance()
        if reads_stdin:
            _run_stdin(args, job, configuration, report)
        return report.finish()


def _cache(args: argparse.Namespace, configuration: Configuration) -> Cache:
    """The results cache: ``--cache-dir``, else ``.varmigrate_cache/`` in the project's root."""
    from varmigrate.cache import Cache

    return Cache(Path(args.cache_dir)) if args.cache_dir else Cache.in_project(configuration.root)


def overrides(args: argparse.Namespace) -> Overrides:
    """What the command line sets (None where it leaves the configuration alone)."""
    from varmigrate.config import Overrides

    return Overrides(
        select=_flatten(args.select) if args.select is not None else None,
        extend_select=_flatten(args.extend_select),
        ignore=_flatten(args.ignore),
        exclude=_flatten(args.exclude),
        unsafe_fixes=args.unsafe_fixes,
        output_format=OutputFormat(args.output_format) if args.output_format else None,
        respect_gitignore=args.respect_gitignore,
        force_exclude=args.force_exclude,
        per_file_ignores=args.per_file_ignores or (),
    )


def _verbose(configuration: Configuration, files: int) -> list[str]:
    """What ``--verbose`` adds: where the settings come from and what is checked."""
    source = configuration.path or "none (defaults and flags)"
    return [
        f"configuration: {source}",
        f"rules: {', '.join(rule.code for rule in configuration.rules)}",
        f"files: {files}",
    ]


def _settings_text(configuration: Configuration, args: argparse.Namespace) -> str:
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
        f"exclude: [{', '.join([*configuration.exclude, *configuration.extra_exclude])}]",
        f"per-file-ignores: {{{', '.join(ignores)}}}",
        f"jobs: {args.jobs}",
        f"timeout: {args.timeout if args.timeout is not None else 'default (60 s)'}",
        f"cache: {'off' if args.no_cache else args.cache_dir or 'in the project root'}",
    ]
    return "\n".join(lines)


def _open_output(path: Path) -> IO[str]:
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
    )


@contextlib.contextmanager
def _progress(report: Report, total: int, *, quiet: bool) -> Iterator[Callable[[], None]]:
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


def _run_stdin(args: argparse.Namespace, job: Job, configuration: Configuration, report: Report) -> None:
    """Check or fix source from stdin; ``fix`` writes the (possibly unchanged) code to stdout."""
    from varmigrate.pipeline import Mode, in_project, process_bytes

    data = sys.stdin.buffer.read()
    name = args.stdin_filename or STDIN
    writes_code = job.mode is Mode.FIX
    excluded = configuration.force_exclude and configuration.excluder().excluded_explicit(Path(name))
    if args.stdin_filename and excluded:
        if writes_code:
            _write_stdout(data)
        return
    settings = configuration.settings_for(args.stdin_filename)
    if args.stdin_filename:
        settings = in_project(Path(args.stdin_filename), data, settings, fixes=job.mode.fixes)
    result, new_data = process_bytes(data, name, replace(job, settings=settings))
    if writes_code:
        _write_stdout(data if new_data is None else new_data)
    report.add(result)


def _write_stdout(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
