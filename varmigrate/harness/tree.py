"""The project tree as verify sees it: which .py files to fix, byte-preserving reads and atomic writes,
and copies of the tree for the two runs."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from varmigrate.sources.discovery import discover
from varmigrate.sources.io import DecodeError, decode, write_atomic

if TYPE_CHECKING:
    from varmigrate.config import Configuration

# Left out of the copies: version control and caches the command does not need.
_NOT_COPIED = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
# Shared with the copies through a symlink: environments the command may run from (`.venv/bin/python`).
_LINKED = frozenset({".venv", "venv", ".tox", ".nox", "node_modules"})


class TreeError(Exception):
    """A path or revision verify cannot work with."""


@dataclass(frozen=True)
class SourceFile:
    """One Python file's text with how it was stored, so it is written back byte for byte."""

    path: Path
    text: str
    encoding: str


def project_root(cwd: Path) -> Path:
    """The git work tree holding ``cwd``, or ``cwd`` itself outside git."""
    try:
        found = subprocess.run(
            ["git", "-C", str(cwd), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return cwd.resolve()
    if found.returncode == 0 and found.stdout.strip():
        return Path(found.stdout.strip()).resolve()
    return cwd.resolve()


def _is_environment(path: Path) -> bool:
    return path.name in _LINKED or (path / "pyvenv.cfg").is_file()


def python_files(
    root: Path, cwd: Path, paths: Sequence[str], configuration: Configuration | None = None
) -> list[Path]:
    """The .py files named by ``paths`` (relative to ``cwd``), as paths relative to ``root``.

    Directories are walked as `varmigrate fix` walks them, with ``configuration``'s excludes,
    ``force-exclude`` and ``respect-gitignore`` (default: the default excludes and .gitignore).
    """
    targets = []
    for name in paths:
        target = (cwd / name).resolve()
        if not target.exists():
            raise TreeError(f"{name}: no such file or directory")
        if target != root and root not in target.parents:
            raise TreeError(f"{name}: outside the project tree {root}")
        if target.is_dir() or target.suffix == ".py":
            targets.append(target)
    if configuration is None:
        found = discover(targets, suffixes=(".py",)).files
    else:
        found = discover(
            targets,
            suffixes=(".py",),
            force_exclude=configuration.force_exclude,
            respect_gitignore=configuration.respect_gitignore,
            excluder=configuration.excluder(),
        ).files
    return sorted({file.resolve().relative_to(root) for file in found if not _in_environment(file, root)})


def _in_environment(file: Path, root: Path) -> bool:
    """Whether ``file`` lies in a virtual environment inside the tree (never fixed)."""
    return any(_is_environment(parent) for parent in file.resolve().parents if root in parent.parents)


def read_source(path: Path) -> SourceFile:
    """Decode ``path`` by its PEP 263 declaration (or BOM), keeping its newlines."""
    try:
        decoded = decode(path.read_bytes())
    except DecodeError as error:
        raise TreeError(f"{path}: {error.message}") from None
    return SourceFile(path=path, text=decoded.text, encoding=decoded.encoding)


def write_source(path: Path, text: str, encoding: str) -> None:
    """Replace ``path`` atomically with ``text`` in ``encoding``, keeping its permissions."""
    write_atomic(path, text.encode(encoding))


def copy_tree(source: Path, destination: Path, special: list[Path] | None = None) -> list[Path]:
    """Copy ``source`` to ``destination`` for a run; environments are linked, not copied.

    FIFOs, sockets and devices are not copied (copying a FIFO would block); they are appended to
    ``special`` when given. Returns the linked directories (resolved), which both runs share.
    """
    linked: list[Path] = []

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {name for name in names if name in _NOT_COPIED}
        for name in names:
            path = Path(directory) / name
            if name not in skipped and _is_special(path):
                skipped.add(name)
                if special is not None:
                    special.append(path)
                continue
            if name not in skipped and path.is_dir() and not path.is_symlink() and _is_environment(path):
                skipped.add(name)
                target = destination / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(path.resolve(), target_is_directory=True)
                linked.append(path.resolve())
        return skipped

    shutil.copytree(source, destination, symlinks=True, ignore=ignore, dirs_exist_ok=True)
    return linked


def _is_special(path: Path) -> bool:
    """Whether ``path`` itself (a symlink is not followed) is a FIFO, socket or device."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))


def add_git_worktree(repository: Path, revision: str, destination: Path) -> list[Path]:
    """Check ``revision`` out into ``destination`` as a temporary git worktree.

    The environments of the work tree are linked in too (they are untracked, but the command may
    need them). Returns the linked directories.
    """
    done = subprocess.run(
        ["git", "-C", str(repository), "worktree", "add", "--detach", "--quiet", str(destination), revision],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git worktree add failed"
        raise TreeError(f"--baseline {revision}: {message}")
    linked = []
    for entry in sorted(repository.iterdir()):
        target = destination / entry.name
        if entry.is_dir() and _is_environment(entry) and not target.exists():
            target.symlink_to(entry.resolve(), target_is_directory=True)
            linked.append(entry.resolve())
    return linked


def remove_git_worktree(repository: Path, destination: Path) -> None:
    """Remove a worktree made by :func:`add_git_worktree` (and its bookkeeping in the repository)."""
    subprocess.run(
        ["git", "-C", str(repository), "worktree", "remove", "--force", str(destination)],
        capture_output=True,
        check=False,
    )
    shutil.rmtree(destination, ignore_errors=True)
    subprocess.run(["git", "-C", str(repository), "worktree", "prune"], capture_output=True, check=False)


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


def changed_lines(repository: Path, revision: str, file: str) -> list[tuple[int, int]]:
    """The line ranges (first, last; 1-based) of ``file`` in the work tree that differ from ``revision``.

    A hunk that only deletes lines is shown as the line after the deletion. Empty when git cannot say.
    """
    done = subprocess.run(
        ["git", "-C", str(repository), "diff", "-U0", "--no-color", "--no-ext-diff", revision, "--", file],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return []
    ranges = []
    for match in _HUNK.finditer(done.stdout):
        first, count = int(match[1]), int(match[2] if match[2] is not None else 1)
        ranges.append((first + 1, first + 1) if count == 0 else (first, first + count - 1))
    return ranges
