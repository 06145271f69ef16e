"""The command line: ``varmigrate check | fix | verify | rule``.

Each subcommand lives in a module of its own and registers its parser with a ``handler``; ``main``
parses and hands the namespace to it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from varmigrate._version import __version__
from varmigrate.cli.check_fix import add_check_parser, add_fix_parser
from varmigrate.cli.clean import add_clean_parser
from varmigrate.cli.rule import add_rule_parser
from varmigrate.cli.verify import add_verify_parser
from varmigrate.output import EXIT_ERROR

# The subcommands, in the order `--help` lists them.
SUBCOMMANDS = (add_check_parser, add_fix_parser, add_verify_parser, add_rule_parser, add_clean_parser)


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
    code: int = args.handler(args)
    return code


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="varmigrate",
        description="Find and fix Variable-era PyTorch code.",
    )
    parser.add_argument("--version", action="version", version=f"varmigrate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(commands)
    return parser


__all__ = ["build_parser", "main"]
