"""``varmigrate verify``: its arguments, and the run with progress and report on the terminal.

The harness itself (:mod:`varmigrate.harness.verify`) takes options and gives a result; nothing here
imports torch (the runs it starts do).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from varmigrate.cli.check_fix import add_shared_arguments, configuration_of
from varmigrate.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    RawDescriptionHelpFormatter,
    Terminated,
    seconds,
    sigterm_unwinds,
    time_limit,
)

if TYPE_CHECKING:
    from varmigrate.harness.verify import VerifyOptions, VerifyResult


def add_verify_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``verify`` subcommand."""
    parser = commands.add_parser(
        "verify",
        help="run a command before and after the fixes and compare gradients",
        description="Run COMMAND twice: on a copy of the original code and on a copy with the fixes\n"
        "applied; compare every loss and gradient bit for bit. Your files are changed only\n"
        "with --write, and only when the runs are identical.\n\n"
        "Exit status: 0 identical, 1 diverged, 2 could not compare.",
        epilog="examples:\n"
        "  varmigrate verify train.py           fix the .py files under ., run `python train.py`\n"
        "  varmigrate verify --write train.py   the same; write the fixes if the runs are identical\n"
        "  varmigrate verify src/ -- pytest -q  fix the files under src/, run the tests\n"
        "  varmigrate verify --baseline HEAD -- python train.py\n"
        "                                       compare your own edits with the last commit",
        formatter_class=RawDescriptionHelpFormatter,
        usage="%(prog)s [OPTIONS] [PATH ...] [-- COMMAND [ARG ...]]\n       %(prog)s [OPTIONS] SCRIPT.py",
    )
    add_verify_arguments(parser)
    parser.set_defaults(handler=verify_main)


def _add_options(parser: argparse.ArgumentParser) -> None:
    """verify's own options (and the ones it shares with ``check`` and ``fix``)."""
    parser.add_argument(
        "--write",
        action="store_true",
        help="when the runs are identical, write the code that ran to your files",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="instead of fixing: compare your working tree as it is (the candidate) with git revision REV",
    )
    parser.add_argument(
        "--compare-stdout",
        action="store_true",
        help="count a difference in printed output as a divergence (timings, timestamps and addresses "
        "are masked); without it, it is a warning",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed for random, numpy and torch in both runs"
    )
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
    add_shared_arguments(
        parser.add_argument_group(
            "which fixes, in which files",
            "As in `check` and `fix`: the configuration file's settings, then these options.",
        )
    )


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """Add verify's options and its ``[PATH ...] [-- COMMAND ...]`` arguments to ``parser``."""
    _add_options(parser)
    parser.add_argument(
        "targets",
        nargs=argparse.REMAINDER,
        metavar="PATH ... -- COMMAND",
        help="the files to fix (default: .) and, after `--`, the command to run; `verify SCRIPT.py` "
        "runs `python SCRIPT.py` (with this Python)",
    )


def _options_parser() -> argparse.ArgumentParser:
    """A parser of verify's options alone, for options written after the paths."""
    parser = argparse.ArgumentParser(prog="varmigrate verify", add_help=False)
    _add_options(parser)
    return parser


def options_from_args(args: argparse.Namespace, cwd: Path | None = None) -> VerifyOptions:
    """Verify's options from a namespace filled by :func:`add_verify_arguments`."""
    # The harness is imported when verify runs, not when the command line is built.
    from varmigrate.config import ConfigError
    from varmigrate.harness.verify import DEFAULT_TIMEOUT, UsageError, VerifyOptions
    from varmigrate.rules import UnknownRuleError

    head, command = _split(list(getattr(args, "targets", None) or []))
    if any(word.startswith("-") for word in head):
        # Options written after the paths land in the remainder: parse them here.
        late = _options_parser()
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
    try:
        # What `check` and `fix` would read, resolved by the same code.
        configuration = configuration_of(args)
    except (ConfigError, UnknownRuleError) as error:
        raise UsageError(str(error)) from None
    return VerifyOptions(
        command=tuple(command),
        paths=tuple(head) or (".",),
        unsafe_fixes=configuration.unsafe_fixes,
        write=bool(args.write),
        baseline=args.baseline,
        seed=int(args.seed),
        compare_stdout=bool(getattr(args, "compare_stdout", False)),
        timeout=time_limit(getattr(args, "timeout", None), DEFAULT_TIMEOUT),
        output_format=str(args.output_format),
        cwd=base,
        configuration=configuration,
    )


def _split(words: list[str]) -> tuple[list[str], list[str]]:
    """The words before the first ``--`` and the command after it (empty without one)."""
    if "--" not in words:
        return words, []
    split = words.index("--")
    return words[:split], words[split + 1 :]


def verify_main(args: argparse.Namespace | VerifyOptions) -> int:
    """Run verify from parsed arguments (or options) and print its report; return the exit code."""
    from varmigrate.harness.verify import ERROR, EXIT_CODES, UsageError, VerifyOptions, verify
    from varmigrate.output.console import make_console, print_error
    from varmigrate.output.verify_report import print_result, progress_reporter

    no_color = bool(getattr(args, "no_color", False))
    err = make_console(stderr=True, no_color=no_color)
    try:
        options = args if isinstance(args, VerifyOptions) else options_from_args(args)
    except UsageError as error:
        print_error(err, str(error))
        return EXIT_CODES[ERROR]
    try:
        with sigterm_unwinds():
            result = verify(options, progress=progress_reporter(options, no_color=no_color))
    except KeyboardInterrupt:
        print_error(err, "interrupted; nothing was written")
        return EXIT_INTERRUPTED
    except Terminated:
        print_error(err, "terminated; nothing was written")
        return EXIT_TERMINATED
    words = getattr(args, "argv", None) if isinstance(args, argparse.Namespace) else None
    print_result(result, next_command=next_command(result, words), no_color=no_color)
    return result.exit_code


def next_command(result: VerifyResult, words: Sequence[str] | None = None) -> str | None:
    """The command that writes the fixes an identical verify ran, None when there is nothing to write.

    ``words`` are the arguments verify was given after ``verify`` (None: rebuilt from the options). When
    verify applied fixes beyond `fix`'s (verified ones, unsafe ones), only ``verify --write`` writes
    exactly them: the user's own command with ``--write``. Otherwise ``varmigrate fix`` writes the same
    code: with the user's paths and the options it shares with ``check`` and ``fix``.
    """
    from varmigrate.harness.verify import IDENTICAL
    from varmigrate.output.console import shown_path

    options = result.options
    if result.verdict != IDENTICAL or options.write or options.baseline is not None:
        return None
    if not any(entry.changed for entry in result.files):
        return None
    if words is None:
        unsafe = ["--unsafe-fixes"] if options.unsafe_fixes else []
        words = [*unsafe, *options.paths, "--", *options.command]
        shared = unsafe
    else:
        shared = _shared_words(words)
    if any(rewrite.beyond_safe for rewrite in result.rewrites):
        return shlex.join(["varmigrate", "verify", "--write", *words])
    paths = [] if options.paths == (".",) else [shown_path(path, options.cwd) for path in options.paths]
    return shlex.join(["varmigrate", "fix", *shared, *paths])


def _shared_words(words: Sequence[str]) -> list[str]:
    """The options among ``words`` (as typed, before ``--``) that `check` and `fix` take too, with their
    values: `--select VM0`, `--config=ci.toml`, `--unsafe-fixes`."""
    every = _options_parser()
    shared = argparse.ArgumentParser(add_help=False)
    add_shared_arguments(shared)
    known = every._option_string_actions
    kept: list[str] = []
    remaining = iter(_split(list(words))[0])
    for word in remaining:
        if not word.startswith("--"):
            continue  # a path, or the script of `verify SCRIPT.py`
        name = word.split("=", 1)[0]
        # argparse takes unambiguous abbreviations (`--sel`); so does this.
        matches = [name] if name in known else [option for option in known if option.startswith(name)]
        action = known[matches[0]] if len(matches) == 1 else None
        value = [next(remaining, "")] if action is not None and action.nargs != 0 and "=" not in word else []
        if action is not None and action.option_strings[0] in shared._option_string_actions:
            kept += [word, *value]
    return kept
