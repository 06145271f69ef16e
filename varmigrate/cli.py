"""The command line: parse arguments, run each file through files.py, hand the results to a Report."""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from rich.console import Console
from rich.text import Text

from varmigrate import __version__
from varmigrate.engine import Settings
from varmigrate.files import Job, discover, is_excluded, process_bytes, process_file
from varmigrate.report import EXIT_CLEAN, EXIT_ERROR, Mode, OutputFormat, Report
from varmigrate.rules import ALL_RULES, Rule, UnknownRuleError, rule_by_code, select_rules

STDIN = "-"
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
    mode = Mode.CHECK if args.command == "check" else Mode.DIFF if args.diff else Mode.FIX
    return run(args, mode)


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
    common.add_argument(
        "--select",
        type=_comma_list,
        action="append",
        metavar="RULES",
        help="rule codes, prefixes or names to run",
    )
    common.add_argument(
        "--ignore",
        type=_comma_list,
        action="append",
        metavar="RULES",
        help="rule codes, prefixes or names to skip",
    )
    common.add_argument(
        "--exclude",
        type=_comma_list,
        action="append",
        metavar="GLOB",
        help="skip paths matching these .gitignore-style patterns (relative to the working directory)",
    )
    common.add_argument(
        "--force-exclude", action="store_true", help="apply exclusions to paths passed explicitly too"
    )
    common.add_argument(
        "--no-respect-gitignore",
        dest="respect_gitignore",
        action="store_false",
        help="ignore .gitignore files",
    )
    common.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="allow fixes that may change behaviour (see `varmigrate rule`)",
    )
    common.add_argument(
        "--output-format",
        choices=[f.value for f in OutputFormat],
        help="`full` (default on a terminal), `concise` (default otherwise) or `json`",
    )
    common.add_argument(
        "--statistics", action="store_true", help="count findings per rule instead of listing them"
    )
    common.add_argument(
        "--stdin-filename", metavar="PATH", help="the name to show for source read from stdin"
    )
    common.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings remain")
    common.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    common.add_argument("--no-color", action="store_true", help="no colours (also set by NO_COLOR)")

    commands.add_parser("check", parents=[common], help="report findings", description="Report findings.")
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


def make_console(*, stderr: bool = False, no_color: bool = False) -> Console:
    """A rich console that prints text as given: no markup, emoji, highlighting or wrapping."""
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    return Console(
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
    """``varmigrate check`` / ``varmigrate fix [--diff]``."""
    err = make_console(stderr=True, no_color=args.no_color)
    try:
        rules = select_rules(_flatten(args.select) or None, _flatten(args.ignore))
    except UnknownRuleError as unknown:
        _print_error(err, str(unknown))
        return EXIT_ERROR
    settings = Settings(rules=rules, unsafe_fixes=args.unsafe_fixes)
    job = Job(settings, fix=mode is not Mode.CHECK, diff=mode is Mode.DIFF)
    # Like ruff, `--stdin-filename` alone means "read stdin".
    paths: list[str] = args.paths or ([STDIN] if args.stdin_filename else ["."])
    reads_stdin = STDIN in paths
    # Fixed code read from stdin goes to stdout, so everything else goes to stderr.
    out = err if reads_stdin and mode is Mode.FIX else make_console(no_color=args.no_color)
    report = make_report(args, mode, settings, out, err)
    exclude = _flatten(args.exclude)
    found = discover(
        [Path(path) for path in paths if path != STDIN],
        exclude=exclude,
        force_exclude=args.force_exclude,
        respect_gitignore=args.respect_gitignore,
    )
    for error in found.errors:
        report.error(error)
    # Sequential for now; process_file is pure (path in, result out) so a process pool can take it.
    for path in found.files:
        report.add(process_file(path, job))
    if reads_stdin:
        _run_stdin(args, job, report, exclude)
    return report.finish()


def make_report(
    args: argparse.Namespace, mode: Mode, settings: Settings, out: Console, err: Console
) -> Report:
    """The Report for this run; the output format defaults to `full` on a terminal, else `concise`."""
    default = OutputFormat.FULL if out.is_terminal else OutputFormat.CONCISE
    return Report(
        mode=mode,
        out=out,
        err=err,
        output_format=OutputFormat(args.output_format) if args.output_format else default,
        threshold=settings.threshold,
        quiet=args.quiet,
        exit_zero=args.exit_zero,
        statistics=args.statistics,
    )


def _run_stdin(args: argparse.Namespace, job: Job, report: Report, exclude: Sequence[str]) -> None:
    """Check or fix source from stdin; ``fix`` writes the (possibly unchanged) code to stdout."""
    data = sys.stdin.buffer.read()
    name = args.stdin_filename or STDIN
    writes_code = job.fix and not job.diff
    if args.stdin_filename and args.force_exclude and is_excluded(Path(name), exclude):
        if writes_code:
            _write_stdout(data)
        return
    result, new_data = process_bytes(data, name, job)
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
