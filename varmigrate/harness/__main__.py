"""``python -m varmigrate.harness verify ...``: the verify command on its own."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from varmigrate.harness.verify import add_verify_arguments, verify_main


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m varmigrate.harness")
    commands = parser.add_subparsers(dest="subcommand", required=True)
    add_verify_arguments(
        commands.add_parser(
            "verify", help="run a command before and after the fixes and compare every gradient"
        )
    )
    return verify_main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
