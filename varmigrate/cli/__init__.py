"""The command line: ``varmigrate check | fix | verify | rule | clean``.

Each subcommand lives in a module of its own and registers its parser with a ``handler``; ``main``
parses and hands the namespace to it. Start-up is most of what a run that no file gets past the
prefilter costs, so only the module of the subcommand being run is imported (every one only for
``--help`` or an unknown command), and ``--version`` alone builds no parser at all.
"""

from __future__ import annotations

import sys

from varmigrate._version import __version__
from varmigrate.output import EXIT_CLEAN, EXIT_ERROR

# `typing` costs milliseconds to import and nothing here needs it at run time (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

# The subcommands, in the order `--help` lists them: name -> (module, the function that adds its parser).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "check": ("varmigrate.cli.check_fix", "add_check_parser"),
    "fix": ("varmigrate.cli.check_fix", "add_fix_parser"),
    "verify": ("varmigrate.cli.verify", "add_verify_parser"),
    "rule": ("varmigrate.cli.rule", "add_rule_parser"),
    "clean": ("varmigrate.cli.clean", "add_clean_parser"),
}
VERSION = f"varmigrate {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run varmigrate with ``argv`` (default: the process's arguments) and return the exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments == ["--version"]:
        # What argparse's version action prints.
        print(VERSION)
        return EXIT_CLEAN
    # Options cannot come before the subcommand (the parser itself has only --help and --version), so
    # the first argument names the one parser that parsing needs.
    command = arguments[0] if arguments and arguments[0] in SUBCOMMANDS else None
    parser = build_parser(command)
    try:
        if command is None and arguments and not arguments[0].startswith("-"):
            parser.error(f"unknown command {arguments[0]!r}{_hint(arguments[0], list(SUBCOMMANDS))}")
        args, unknown = parser.parse_known_args(arguments)
        if unknown:
            # The subcommand's usage, not the top level's: `check --fxi` is a mistake in `check`.
            subparser = _subparser(parser, command) if command else parser
            options = [o for action in subparser._actions for o in action.option_strings]
            first = next((word for word in unknown if word.startswith("-")), unknown[0])
            hint = _hint(first.split("=")[0], options)
            subparser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    except SystemExit as exit_:
        # argparse exits for --help, --version and bad arguments; callers (and tests) get a code back.
        return exit_.code if isinstance(exit_.code, int) else EXIT_ERROR
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    # The words after the subcommand, as typed: for messages that repeat the command (verify's).
    args.argv = tuple(arguments[1:])
    code: int = args.handler(args)
    _flush_stdout()
    return code


def script() -> int:
    """`main` for a process that exists for one run: the console script and ``python -m varmigrate``.

    Once the run is done, the garbage collector is switched off and what the process holds is frozen out
    of its reach: at exit, Python's own collections would traverse every object still held (LibCST's
    classes and tables among them), a fifth of the CPU of checking one legacy file, to free what the
    process's end frees anyway. Everything else at exit happens as usual: `atexit` hooks run, files are
    flushed and closed. A program that calls `main` keeps its collector as it was.
    """
    import gc

    try:
        return main()
    finally:
        gc.disable()
        gc.freeze()


def _flush_stdout() -> None:
    """Write out what stdout still holds now, while a reader that went away (`| head`) can be told quietly
    (at exit, Python would print a traceback for it)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        from varmigrate.output.console import reader_gone

        reader_gone(sys.stdout)


def _hint(word: str, choices: list[str]) -> str:
    """`` (did you mean 'check'?)`` when one of ``choices`` is close to ``word``."""
    import difflib

    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of the subcommand ``command`` inside ``parser``."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[command]
            return found
    return parser


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: with every subcommand, or with ``command``'s only."""
    import importlib

    from varmigrate.cli.common import ArgumentParser

    parser = ArgumentParser(
        prog="varmigrate",
        description="Find and fix Variable-era PyTorch code.",
    )
    parser.add_argument("--version", action="version", version=VERSION)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, function) in SUBCOMMANDS.items():
        if command is None or name == command:
            getattr(importlib.import_module(module), function)(commands)
    return parser


__all__ = ["build_parser", "main"]
