"""``varmigrate check`` and ``varmigrate fix``: discover files, run each through the pipeline, report."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

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
from varmigrate.cli.presentation import make_report, open_output, progress_bar, settings_text, verbose_lines
from varmigrate.model import FileError, OutputFormat

if TYPE_CHECKING:
    from varmigrate.cache import Cache
    from varmigrate.config import Configuration, Overrides
    from varmigrate.output.console import Stream
    from varmigrate.output.report import Report
    from varmigrate.pipeline import Job, Mode
    from varmigrate.pipeline.batch import Batch

STDIN = "-"


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _flatten(groups: Iterable[list[str]] | None) -> list[str]:
    return [item for group in groups or () for item in group]


def add_shared_arguments(shared: argparse._ActionsContainer) -> None:
    """Add the options ``check``, ``fix`` and ``verify`` share to ``shared``: the configuration file,
    which rules run on which files, whether unsafe fixes apply, and colour (resolved by
    :func:`configuration_of`)."""
    configuration = shared.add_mutually_exclusive_group()
    configuration.add_argument(
        "--config",
        metavar="PATH",
        help="read settings from this file only (pyproject.toml, varmigrate.toml or .varmigrate.toml)",
    )
    configuration.add_argument(
        "--isolated", action="store_true", help="read no configuration file: defaults and flags only"
    )
    shared.add_argument(
        "--select",
        type=_comma_list,
        action="append",
        metavar="RULES",
        help="rule codes, prefixes or names to run, instead of the configured ones",
    )
    shared.add_argument(
        "--extend-select",
        type=_comma_list,
        action="append",
        metavar="RULES",
        help="rule codes, prefixes or names to run in addition to the selected ones",
    )
    shared.add_argument(
        "--ignore",
        type=_comma_list,
        action="append",
        metavar="RULES",
        help="rule codes, prefixes or names to skip, in addition to the configured ones",
    )
    shared.add_argument(
        "--exclude",
        "--extend-exclude",
        dest="exclude",
        type=_comma_list,
        action="append",
        metavar="GLOB",
        help="skip paths matching these .gitignore-style patterns (relative to the working directory), "
        "in addition to the configured ones",
    )
    shared.add_argument(
        "--per-file-ignores",
        action="append",
        metavar="GLOB:RULES",
        help="skip these rules in the files a pattern matches (`tests/**:VM201`), in addition to the "
        "configured ones",
    )
    shared.add_argument(
        "--force-exclude",
        action=argparse.BooleanOptionalAction,
        help="apply exclusions to paths passed explicitly too",
    )
    shared.add_argument(
        "--respect-gitignore",
        action=argparse.BooleanOptionalAction,
        help="skip files ignored by .gitignore (default: yes)",
    )
    shared.add_argument(
        "--unsafe-fixes",
        action=argparse.BooleanOptionalAction,
        help="allow fixes that may change behaviour (see `varmigrate rule`)",
    )
    shared.add_argument("--no-color", action="store_true", help="no colours (also set by NO_COLOR)")


def add_common_arguments(common: argparse.ArgumentParser) -> None:
    """Add the options ``check`` and ``fix`` share to their parser ``common``.

    Added to each, not through a parent parser: one parser fewer to build (argparse looks up its
    translations for every parser) on every run.
    """
    common.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or directories (`-` for stdin); default `.`"
    )
    add_shared_arguments(common)
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
        "--show-fixes",
        action=argparse.BooleanOptionalAction,
        help="after the findings, list the fixes per file and rule: those applied (`fix`), those that "
        "would be (`--diff`) or those that can be (`check`)",
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


def add_check_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``check`` subcommand."""
    check = commands.add_parser("check", help="report findings", description="Report findings.")
    add_common_arguments(check)
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
    fix = commands.add_parser("fix", help="apply fixes in place", description="Apply fixes in place.")
    add_common_arguments(fix)
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
        # The run's batch, which counts the files written whenever asked (see `Batch.written`).
        self.batch: Batch | None = None

    @property
    def written(self) -> int:
        """How many files are written, by the time this is asked."""
        return 0 if self.batch is None else self.batch.written

    def interrupted(self, mode: Mode, how: str) -> str:
        """The one line a run ended by a signal prints."""
        if mode.writes:
            files = "file" if self.written == 1 else "files"
            return f"{how}: {self.written} {files} written, the rest untouched"
        return f"{how}: {self.done} of {self.files} files done; nothing was written"


def _run(args: argparse.Namespace, mode: Mode, err: Stream, progress: _Progress) -> int:
    from varmigrate.config import ConfigError
    from varmigrate.output import EXIT_CLEAN, EXIT_ERROR
    from varmigrate.output.console import Stream, print_error
    from varmigrate.pipeline import DEFAULT_TIMEOUT, Job, Mode, processing
    from varmigrate.rules import UnknownRuleError
    from varmigrate.sources.discovery import discover
    from varmigrate.sources.io import remove_stale_temporaries

    try:
        configuration = configuration_of(args, output_format=args.output_format)
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
        Stream(no_color=True).out(settings_text(configuration, args))
        return EXIT_CLEAN
    with contextlib.ExitStack() as stack:
        if args.output_file:
            try:
                handle = stack.enter_context(open_output(Path(args.output_file)))
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
            for line in verbose_lines(configuration, len(found.files)):
                err.out(line)
        for missing in found.errors:
            report.error(missing)
        for skipped in found.warnings:
            report.warning(skipped)
        if mode.writes:
            for stale in remove_stale_temporaries({path.parent for path in found.files}):
                report.warning(FileError(str(stale), "removed: a temporary file left by an interrupted run"))
        items = [(path, job._replace(settings=configuration.settings_for(path))) for path in found.files]
        cache = None if args.no_cache else _cache(args, configuration)
        progress.files = len(items)
        timeout = time_limit(args.timeout, DEFAULT_TIMEOUT)
        # The worker pool starts before the progress bar's thread: it forks this process.
        with processing(items, workers=args.jobs, cache=cache, timeout=timeout) as batch:
            # Files the first stage settled (most, and all of them on a cached run) need no bar.
            total = len(found.files) if batch.pending else 0
            with progress_bar(report, total, quiet=args.quiet) as advance:
                progress.batch = batch
                for result in batch:
                    report.add(result)
                    progress.done += 1
                    advance()
        if reads_stdin:
            _run_stdin(args, job, configuration, report)
        return report.finish()


def _cache(args: argparse.Namespace, configuration: Configuration) -> Cache:
    """The results cache: ``--cache-dir``, else ``.varmigrate_cache/`` in the project's root."""
    from varmigrate.cache import Cache

    return Cache(Path(args.cache_dir)) if args.cache_dir else Cache.in_project(configuration.root)


def configuration_of(args: argparse.Namespace, *, output_format: str | None = None) -> Configuration:
    """The run's configuration: the file ``--config`` names (or the one found from the working
    directory, or none with ``--isolated``) under the options of :func:`add_shared_arguments` (and
    ``output_format``, for ``check`` and ``fix``). Raises :class:`~varmigrate.config.ConfigError` and
    :class:`~varmigrate.rules.UnknownRuleError`."""
    from varmigrate.config import load_configuration

    return load_configuration(
        config=args.config, isolated=args.isolated, overrides=overrides(args, output_format=output_format)
    )


def overrides(args: argparse.Namespace, *, output_format: str | None = None) -> Overrides:
    """What the command line sets (None where it leaves the configuration alone)."""
    from varmigrate.config import Overrides

    return Overrides(
        select=_flatten(args.select) if args.select is not None else None,
        extend_select=_flatten(args.extend_select),
        ignore=_flatten(args.ignore),
        exclude=_flatten(args.exclude),
        unsafe_fixes=args.unsafe_fixes,
        output_format=OutputFormat(output_format) if output_format else None,
        respect_gitignore=args.respect_gitignore,
        force_exclude=args.force_exclude,
        show_fixes=getattr(args, "show_fixes", None),
        per_file_ignores=args.per_file_ignores or (),
    )


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
    result, new_data = process_bytes(data, name, job._replace(settings=settings))
    if writes_code:
        _write_stdout(data if new_data is None else new_data)
    report.add(result)


def _write_stdout(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
