"""``varmigrate verify``: its arguments, and the run with progress and report on the terminal.

The harness itself (:mod:`varmigrate.harness.verify`) takes options and gives a result; nothing here
imports torch (the runs it starts do).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from varmigrate.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    seconds,
    sigterm_unwinds,
    time_limit,
)

if TYPE_CHECKING:
    from varmigrate.harness.verify import VerifyOptions


def add_verify_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``verify`` subcommand."""
    parser = commands.add_parser(
        "verify",
        help="run a command before and after the fixes and compare gradients",
        description="Run COMMAND on the original and on the fixed code; compare every gradient bit for bit.",
    )
    add_verify_arguments(parser)
    parser.set_defaults(handler=verify_main)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--unsafe-fixes", action="store_true", help="apply the idiomatic rewrites that may change behaviour"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="when the runs are identical, write the verified code to the files",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="compare the working tree as it is against git revision REV (instead of fixing it)",
    )
    parser.add_argument(
        "--compare-stdout",
        action="store_true",
        help="a difference in printed output (timings, timestamps, addresses masked) is a divergence",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for random, numpy and torch in both runs")
    parser.add_argument(
        "--output-format",
        choices=("full", "json"),
        default="full",
        help="`full`: tables for people (default); `json`: the whole result for programs",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="end a run (and every process it started) after this long; default 1800, 0 for no limit",
    )


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """Add verify's options and its ``[PATH ...] [-- COMMAND ...]`` arguments to ``parser``."""
    _add_options(parser)
    parser.add_argument(
        "targets",
        nargs=argparse.REMAINDER,
        metavar="[PATH ...] [-- COMMAND [ARG ...]]",
        help="files to fix (default: .) and the command to run after `--`; `verify script.py` runs "
        "`python script.py`",
    )


def options_from_args(args: argparse.Namespace, cwd: Path | None = None) -> VerifyOptions:
    """Verify's options from a namespace filled by :func:`add_verify_arguments`."""
    # The harness is imported when verify runs, not when the command line is built.
    from varmigrate.harness.verify import DEFAULT_TIMEOUT, UsageError, VerifyOptions

    targets = list(getattr(args, "targets", None) or [])
    if "--" in targets:
        split = targets.index("--")
        head, command = targets[:split], targets[split + 1 :]
    else:
        head, command = targets, []
    if any(word.startswith("-") for word in head):
        # Options written after the paths land in the remainder: parse them here.
        late = argparse.ArgumentParser(prog="varmigrate verify", add_help=False)
        _add_options(late)
        late.add_argument("paths", nargs="*")
        try:
            args = late.parse_args(head, namespace=argparse.Namespace(**vars(args)))
        except SystemExit as error:
            raise UsageError(f"cannot parse {' '.join(head)!r}") from error
        head = list(args.paths)
    base = (cwd or Path.cwd()).resolve()
    if not command:
        if len(head) == 1 and head[0].endswith(".py"):
            # `verify script.py`: run the script with this interpreter (it has torch).
            command, head = [sys.executable, head[0]], []
        else:
            raise UsageError(
                "no command to run: give one after `--`, e.g. `varmigrate verify -- python train.py`"
            )
    if args.write and args.baseline:
        raise UsageError("--write cannot be used with --baseline (the working tree is the candidate)")
    from varmigrate.rules import UnknownRuleError, select_rules

    try:
        # Rule selection, when the command line that hosts verify offers it.
        rules = select_rules(getattr(args, "select", None), getattr(args, "ignore", None) or ())
    except UnknownRuleError as error:
        raise UsageError(str(error)) from None
    return VerifyOptions(
        command=tuple(command),
        paths=tuple(head) or (".",),
        unsafe_fixes=bool(args.unsafe_fixes),
        write=bool(args.write),
        baseline=args.baseline,
        seed=int(args.seed),
        compare_stdout=bool(getattr(args, "compare_stdout", False)),
        timeout=time_limit(getattr(args, "timeout", None), DEFAULT_TIMEOUT),
        output_format=str(args.output_format),
        cwd=base,
        rules=rules,
    )


def verify_main(args: argparse.Namespace | VerifyOptions) -> int:
    """Run verify from parsed arguments (or options) and print its report; return the exit code."""
    from varmigrate.harness.verify import ERROR, EXIT_CODES, UsageError, VerifyOptions, verify
    from varmigrate.output.verify_report import print_result, progress_reporter

    try:
        options = args if isinstance(args, VerifyOptions) else options_from_args(args)
    except UsageError as error:
        print(f"varmigrate verify: error: {error}", file=sys.stderr)
        return EXIT_CODES[ERROR]
    try:
        with sigterm_unwinds():
            result = verify(options, progress=progress_reporter(options))
    except KeyboardInterrupt:
        print("varmigrate verify: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("varmigrate verify: terminated; nothing was written", file=sys.stderr)
        return EXIT_TERMINATED
    print_result(result)
    return result.exit_code
