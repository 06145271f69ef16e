"""``varmigrate clean``: remove the project's results cache, as ``ruff clean`` does."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from varmigrate.cache import CACHE_DIR, remove
from varmigrate.output import EXIT_CLEAN, EXIT_ERROR
from varmigrate.output.console import Stream, print_error, shown_path


def add_clean_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``clean`` subcommand."""
    clean = commands.add_parser(
        "clean",
        help=f"remove the results cache ({CACHE_DIR}/)",
        description=f"Remove the results cache: {CACHE_DIR}/ in the project's root (the directory of the "
        "configuration file `check` and `fix` would read, else the working directory).",
    )
    where = clean.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="PATH", help="the project whose configuration file this is")
    where.add_argument("--isolated", action="store_true", help="the working directory's cache")
    clean.add_argument("--cache-dir", metavar="PATH", help="remove the cache kept here (as `--cache-dir`)")
    clean.add_argument("-q", "--quiet", action="store_true", help="print nothing unless it fails")
    clean.add_argument("--no-color", action="store_true", help="no colours (also set by NO_COLOR)")
    clean.set_defaults(handler=clean_command)


def clean_command(args: argparse.Namespace) -> int:
    """Remove the cache; say what was removed."""
    # Imported here: `--help` builds this parser too, and needs no configuration.
    from varmigrate.config import ConfigError

    err = Stream(stderr=True, no_color=args.no_color)
    try:
        directory = cache_directory(args)
    except ConfigError as error:
        print_error(err, str(error))
        return EXIT_ERROR
    try:
        removed = remove(directory)
    except (ValueError, OSError) as error:
        print_error(err, str(error))
        return EXIT_ERROR
    if not args.quiet:
        err.out(f"Removed {shown_path(directory)}" if removed else f"No cache at {shown_path(directory)}")
    return EXIT_CLEAN


def cache_directory(args: argparse.Namespace) -> Path:
    """The cache ``check`` and ``fix`` use with the same ``--config``, ``--isolated`` or ``--cache-dir``.

    Only the configuration file's place matters, so a file with invalid settings does not keep the
    cache from being removed.
    """
    if args.cache_dir:
        return Path(args.cache_dir)
    if args.isolated:
        return Path.cwd() / CACHE_DIR
    from varmigrate.config import find_config_file

    config = Path(args.config) if args.config else find_config_file()
    root = Path(os.path.abspath(config)).parent if config is not None else Path.cwd()
    return root / CACHE_DIR
