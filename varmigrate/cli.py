"""The command line: parse arguments, run each file through files.py, hand the results to a Report."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.text import Text

from varmigrate import __version__
from varmigrate.config import ConfigError, Configuration, Overrides, load_configuration
from varmigrate.files import Job, discover, process_bytes, process_files
from varmigrate.report import EXIT_CLEAN, EXIT_ERROR, Mode, OutputFormat, Report
from varmigrate.rules import ALL_RULES, Rule, UnknownRuleError, rule_by_code

STDIN = "-"
# More files than this get a progress bar (on a terminal).
PROGRESS_THRESHOLD = 20
FIX_AVAILABILITY = {
    "always": "Fix is always available.",
    "sometimes": "Fix is sometimes available.",
    "never": "Fix is not available.",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run varmigrate with ``argv`` (default: the process's arguments) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse exits for --help, --version and bad arguments; callers (and tests) get a code back.
        return exit_.code if isinstance(exit_.code, int) else EXIT_ERROR
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    if args.command == "rule":
        return rule_command(args)
    if args.command == "verify":
        from varmigrate.harness.verify import verify_main

        return verify_main(args)
    if args.command == "check":
        mode = Mode.ADD_NOQA if args.add_noqa else Mode.CHECK
    else:
        mode = Mode.DIFF if args.diff else Mode.FIX
    return run(args, mode)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _flatten(groups: Iterable[list[str]] | None) -> list[str]:
    return [item for group in groups or () for item in group]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with the ``check``, ``fix`` and ``rule`` subcommands."""
    parser = argparse.ArgumentParser(
        prog="varmigrate",
        description="Find and fix Variable-era PyTorch code.",
    )
    parser.add_argument("--version", action="version", version=f"varmigrate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

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
        type=_comma_list,
        action="append",
        metavar="GLOB",
        help="skip paths matching these .gitignore-style patterns (relative to the working directory), "
        "in addition to the configured ones",
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
    common.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    common.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes for large trees (default: one per CPU; 1 to stay in one process)",
    )
    common.add_argument("--no-color", action="store_true", help="no colours (also set by NO_COLOR)")

    check = commands.add_parser(
        "check", parents=[common], help="report findings", description="Report findings."
    )
    check.add_argument(
        "--add-noqa",
        action="store_true",
        help="append `# noqa: CODE` to the lines of the findings instead of reporting them",
    )
    fix = commands.add_parser(
        "fix", parents=[common], help="apply fixes in place", description="Apply fixes in place."
    )
    fix.add_argument("--diff", action="store_true", help="print a diff of the fixes instead of writing them")

    # The harness front end imports no torch; the runs it starts do.
    from varmigrate.harness.verify import add_verify_arguments

    verify = commands.add_parser(
        "verify",
        help="run a command before and after the fixes and compare gradients",
        description="Run COMMAND on the original and on the fixed code; compare every gradient bit for bit.",
    )
    add_verify_arguments(verify)

    rule = commands.add_parser("rule", help="explain a rule", description="Show a rule's documentation.")
    rule.add_argument("code", nargs="?", metavar="RULE", help="a rule code or name, e.g. VM001")
    rule.add_argument("--all", action="store_true", help="list every rule")
    rule.add_argument("--no-color", action="store_true", help="no colours (also set by NO_COLOR)")
    return parser


def make_console(*, stderr: bool = False, no_color: bool = False, file: IO[str] | None = None) -> Console:
    """A rich console that prints text as given: no markup, emoji, highlighting or wrapping."""
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    return Console(
        file=file,
        stderr=stderr,
        color_system=None if plain else "auto",
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )


def _print_error(console: Console, message: str) -> None:
    line = Text()
    line.append("error", style="bold red")
    line.append(f": {message}")
    console.print(line)


# -- check / fix ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace, mode: Mode) -> int:
    """``varmigrate check [--add-noqa]`` / ``varmigrate fix [--diff]``."""
    err = make_console(stderr=True, no_color=args.no_color)
    try:
        configuration = load_configuration(
            config=args.config, isolated=args.isolated, overrides=overrides(args)
        )
    except (ConfigError, UnknownRuleError) as error:
        _print_error(err, str(error))
        return EXIT_ERROR
    # Like ruff, `--stdin-filename` alone means "read stdin".
    paths: list[str] = args.paths or ([STDIN] if args.stdin_filename else ["."])
    reads_stdin = STDIN in paths
    if reads_stdin and mode is Mode.ADD_NOQA:
        _print_error(err, "--add-noqa edits files in place; it cannot read stdin")
        return EXIT_ERROR
    with contextlib.ExitStack() as stack:
        if args.output_file:
            try:
                handle = stack.enter_context(_open_output(Path(args.output_file)))
            except OSError as error:
                _print_error(err, f"{args.output_file}: cannot write: {error.strerror or error}")
                return EXIT_ERROR
            out = make_console(no_color=True, file=handle)
        elif reads_stdin and mode is Mode.FIX:
            # Fixed code read from stdin goes to stdout, so everything else goes to stderr.
            out = err
        else:
            out = make_console(no_color=args.no_color)
        report = make_report(args, mode, configuration, out, err)
        job = Job(fix=mode in (Mode.FIX, Mode.DIFF), diff=mode is Mode.DIFF, add_noqa=mode is Mode.ADD_NOQA)
        found = discover(
            [Path(path) for path in paths if path != STDIN],
            force_exclude=configuration.force_exclude,
            respect_gitignore=configuration.respect_gitignore,
            excluder=configuration.excluder(),
        )
        for missing in found.errors:
            report.error(missing)
        items = [(path, replace(job, settings=configuration.settings_for(path))) for path in found.files]
        with _progress(report, len(found.files), quiet=args.quiet) as advance:
            for result in process_files(items, workers=args.jobs):
                report.add(result)
                advance()
        if reads_stdin:
            _run_stdin(args, job, configuration, report)
        return report.finish()


def overrides(args: argparse.Namespace) -> Overrides:
    """What the command line sets (None where it leaves the configuration alone)."""
    return Overrides(
        select=_flatten(args.select) if args.select is not None else None,
        extend_select=_flatten(args.extend_select),
        ignore=_flatten(args.ignore),
        exclude=_flatten(args.exclude),
        unsafe_fixes=args.unsafe_fixes,
        output_format=OutputFormat(args.output_format) if args.output_format else None,
        respect_gitignore=args.respect_gitignore,
        force_exclude=args.force_exclude,
    )


def _open_output(path: Path) -> IO[str]:
    """``path`` opened for the findings; parent directories are created, newlines written as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8", newline="")


def make_report(
    args: argparse.Namespace, mode: Mode, configuration: Configuration, out: Console, err: Console
) -> Report:
    """The Report for this run; the output format defaults to `full` on a terminal, else `concise`."""
    # FORCE_COLOR makes rich call any file a terminal; an output file still gets the concise format.
    terminal = out.is_terminal and not args.output_file
    default = OutputFormat.FULL if terminal else OutputFormat.CONCISE
    return Report(
        mode=mode,
        out=out,
        err=err,
        output_format=configuration.output_format or default,
        threshold=configuration.settings_for(None).threshold,
        quiet=args.quiet,
        exit_zero=args.exit_zero,
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
        or (to_terminal and not report.output_format.for_people)
    ):
        yield lambda: None
        return
    # Imported here: only runs on a terminal with many files need it.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=report.err,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = progress.add_task("Fixing" if report.mode in (Mode.FIX, Mode.DIFF) else "Checking", total=total)
    out = report.out
    with progress:
        if to_terminal:
            report.out = report.err
        try:
            yield lambda: progress.advance(task)
        finally:
            report.out = out


def _isatty(console: Console) -> bool:
    """Whether the console writes to a terminal (whatever FORCE_COLOR says)."""
    isatty = getattr(console.file, "isatty", None)
    return bool(isatty and isatty())


def _run_stdin(args: argparse.Namespace, job: Job, configuration: Configuration, report: Report) -> None:
    """Check or fix source from stdin; ``fix`` writes the (possibly unchanged) code to stdout."""
    data = sys.stdin.buffer.read()
    name = args.stdin_filename or STDIN
    writes_code = job.fix and not job.diff
    excluded = configuration.force_exclude and configuration.excluder().excluded_explicit(Path(name))
    if args.stdin_filename and excluded:
        if writes_code:
            _write_stdout(data)
        return
    settings = configuration.settings_for(args.stdin_filename)
    result, new_data = process_bytes(data, name, replace(job, settings=settings))
    if writes_code:
        _write_stdout(data if new_data is None else new_data)
    report.add(result)


def _write_stdout(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


# -- rule ----------------------------------------------------------------------------------------------


def rule_command(args: argparse.Namespace) -> int:
    """``varmigrate rule CODE`` prints a rule's docs; ``varmigrate rule --all`` lists the rules."""
    console = make_console(no_color=args.no_color)
    if args.all:
        _list_rules(console, ALL_RULES)
        return EXIT_CLEAN
    if not args.code:
        _print_error(
            make_console(stderr=True, no_color=args.no_color), "give a rule code (e.g. VM001) or --all"
        )
        return EXIT_ERROR
    try:
        rule = rule_by_code(args.code)
    except UnknownRuleError as unknown:
        _print_error(make_console(stderr=True, no_color=args.no_color), str(unknown))
        return EXIT_ERROR
    doc = rule_markdown(rule)
    if console.is_terminal:
        # Imported here: only `rule` on a terminal needs it, and it adds ~0.1 s to start-up.
        from rich.markdown import Markdown

        # Markdown lays itself out to the terminal width; soft wrapping would cut list items off.
        console.print(Markdown(doc), soft_wrap=False)
    else:
        console.out(doc, highlight=False)
    return EXIT_CLEAN


def rule_markdown(rule: type[Rule]) -> str:
    """A rule's documentation as Markdown: title, message, fix availability, then its docstring."""
    return (
        f"# {rule.name()} ({rule.code})\n\n"
        f"Message: {rule.message}\n\n"
        f"{FIX_AVAILABILITY[rule.fix_availability]}\n\n"
        f"{inspect.cleandoc(rule.__doc__ or '')}\n"
    )


def _list_rules(console: Console, rules: Sequence[type[Rule]]) -> None:
    width = max((len(rule.name()) for rule in rules), default=0)
    for rule in rules:
        line = Text()
        line.append(rule.code, style="bold red")
        line.append(f"  {rule.name():<{width}}  ")
        # "fix: sometimes" etc., padded so that the messages line up.
        line.append(f"fix: {rule.fix_availability:<9}", style="cyan")
        line.append(f"  {rule.message}")
        console.print(line)
