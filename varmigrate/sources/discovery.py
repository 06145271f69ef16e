"""Finding the files to process: directory walks, default excludes, ``--exclude`` globs and .gitignore."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from varmigrate.model import FileError

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

NOTEBOOK_SUFFIX = ".ipynb"
# Documents whose Python code blocks are checked: Markdown (MyST, Quarto too) and reStructuredText.
MARKDOWN_SUFFIXES: tuple[str, ...] = (".md", ".markdown", ".qmd")
RST_SUFFIXES: tuple[str, ...] = (".rst",)
DOCUMENT_SUFFIXES: tuple[str, ...] = MARKDOWN_SUFFIXES + RST_SUFFIXES
# Suffixes a directory walk picks up. Files passed explicitly are read as Python whatever their suffix,
# except notebooks and documents, which are read as what they are.
SOURCE_SUFFIXES: tuple[str, ...] = (".py", NOTEBOOK_SUFFIX, *DOCUMENT_SUFFIXES)


def file_kind(name: str) -> str:
    """How a file is read, by its name: ``.ipynb``, ``.md`` (any Markdown), ``.rst``, else ``.py``."""
    if name.endswith(NOTEBOOK_SUFFIX):
        return NOTEBOOK_SUFFIX
    if name.endswith(MARKDOWN_SUFFIXES):
        return ".md"
    return ".rst" if name.endswith(RST_SUFFIXES) else ".py"


# Directory names never walked into (unless passed explicitly): VCS data, environments, caches, builds.
DEFAULT_EXCLUDED_DIRS: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".eggs",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
        "__pycache__",
        "build",
        "dist",
        "node_modules",
        "site-packages",
    }
)


class Discovery:
    """The files to process, in a stable order, paths that could not be used, and paths skipped."""

    __slots__ = ("errors", "files", "warnings")

    def __init__(
        self,
        files: list[Path] | None = None,
        errors: list[FileError] | None = None,
        warnings: list[FileError] | None = None,
    ) -> None:
        self.files = [] if files is None else files
        self.errors = [] if errors is None else errors
        # Special files (FIFOs, devices, sockets): never read, and said so.
        self.warnings = [] if warnings is None else warnings


class Excluder:
    """Decides which paths to skip: default directory names, ``--exclude`` globs and ``.gitignore`` files.

    ``--exclude`` patterns use .gitignore syntax relative to the working directory: a pattern without a
    slash matches a file or directory name at any depth (``legacy_*.py``), one with a slash is anchored
    (``fixtures/**/expected.py``). Each .gitignore applies to its own directory, deeper files overriding
    shallower ones as in git.
    """

    def __init__(
        self,
        exclude: Sequence[str] = (),
        *,
        cwd: Path | None = None,
        anchored: Sequence[tuple[Path, Sequence[str]]] = (),
        excluded_dirs: frozenset[str] = DEFAULT_EXCLUDED_DIRS,
    ) -> None:
        self.cwd = (cwd or Path.cwd()).resolve()
        self.excluded_dirs = excluded_dirs
        # (directory the patterns are relative to, their spec): ``exclude`` is relative to the working
        # directory, ``anchored`` patterns (a configuration file's) to their own directory.
        self.groups: list[tuple[Path, GitIgnoreSpec]] = []
        for root, lines in ((self.cwd, exclude), *anchored):
            patterns = [p for p in (pattern.strip() for pattern in lines) if p]
            if patterns:
                self.groups.append((Path(os.path.abspath(root)), gitignore_spec(patterns)))
        self._gitignores: dict[Path, GitIgnoreSpec | None] = {}

    def excluded_by_user(self, path: Path, *, is_dir: bool) -> bool:
        """Whether an ``--exclude`` (or configured) pattern matches ``path``."""
        suffix = "/" if is_dir else ""
        return any(spec.match_file(relative_to(path, root) + suffix) for root, spec in self.groups)

    def within(self, root: Path) -> Excluder:
        """This excluder for walking ``root``, which was asked for: patterns that exclude it are dropped."""
        clone = object.__new__(type(self))  # a shallow copy (`copy` would cost every run its import)
        clone.__dict__.update(vars(self))
        clone.groups = []
        for base, spec in self.groups:
            relative = relative_to(root, base)
            clone.groups.append((base, spec if relative == "." else _sparing(spec, relative + "/")))
        return clone

    def excluded_explicit(self, path: Path) -> bool:
        """Whether a path passed on the command line is excluded (``--force-exclude``)."""
        relative = Path(relative_to(path, self.cwd))
        if any(part in self.excluded_dirs for part in relative.parts[:-1]):
            return True
        return self.excluded_by_user(path, is_dir=path.is_dir())

    # .gitignore -------------------------------------------------------------------------------------

    def gitignore_chain(self, directory: Path) -> list[tuple[Path, GitIgnoreSpec]]:
        """The .gitignore specs that apply inside ``directory``: its own and its ancestors' in the repo."""
        directory = Path(os.path.abspath(directory))
        chain: list[tuple[Path, GitIgnoreSpec]] = []
        for folder in (directory, *directory.parents):
            spec = self.gitignore(folder)
            if spec is not None:
                if folder != directory:
                    # `directory` was asked for explicitly: what ignores it (or a parent) does not apply.
                    spec = _sparing(spec, directory.relative_to(folder).as_posix() + "/")
                chain.append((folder, spec))
            # The repository's root ends the climb: .gitignore files above it are not the project's.
            if (folder / ".git").exists():
                break
        else:
            # Not inside a repository: only the directory's own .gitignore counts.
            chain = [(folder, spec) for folder, spec in chain if folder == directory]
        chain.reverse()
        return chain

    def gitignore(self, directory: Path) -> GitIgnoreSpec | None:
        """The parsed ``directory/.gitignore``, if there is one."""
        if directory not in self._gitignores:
            spec = None
            try:
                lines = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                pass
            else:
                spec = gitignore_spec(lines)
            self._gitignores[directory] = spec
        return self._gitignores[directory]

    @staticmethod
    def ignored(path: Path, chain: Sequence[tuple[Path, GitIgnoreSpec]], *, is_dir: bool) -> bool:
        """Whether the deepest .gitignore that has a say about ``path`` ignores it."""
        absolute = Path(os.path.abspath(path))
        for folder, spec in reversed(chain):
            relative = absolute.relative_to(folder).as_posix() + ("/" if is_dir else "")
            decision = spec.check_file(relative).include
            if decision is not None:
                return bool(decision)
        return False


def gitignore_spec(lines: Iterable[str]) -> GitIgnoreSpec:
    """Patterns in .gitignore syntax, compiled (pathspec is imported on first use: only walks need it)."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _spec_of(patterns: Sequence[Any]) -> GitIgnoreSpec:
    import pathspec

    return pathspec.GitIgnoreSpec(patterns)


def relative_to(path: Path, root: Path) -> str:
    """``path`` relative to the absolute directory ``root`` in POSIX form; outside it, its absolute path
    without the leading slash, so that patterns without a slash still match its name."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return absolute.as_posix().lstrip("/")


def _sparing(spec: GitIgnoreSpec, directory: str) -> GitIgnoreSpec:
    """``spec`` without the patterns that ignore ``directory`` (relative, ending in ``/``) or its parents."""
    kept = [p for p in spec.patterns if not (p.include and p.match_file(directory))]
    return spec if len(kept) == len(spec.patterns) else _spec_of(kept)


def discover(
    paths: Sequence[Path],
    *,
    exclude: Sequence[str] = (),
    force_exclude: bool = False,
    respect_gitignore: bool = True,
    suffixes: Sequence[str] = SOURCE_SUFFIXES,
    excluder: Excluder | None = None,
) -> Discovery:
    """The source files under ``paths``: directories are walked, files passed directly are kept.

    A file passed directly is processed even if it would be excluded, unless ``force_exclude``.
    ``excluder`` (e.g. a configuration's) replaces the one built from ``exclude``.
    """
    excluder = excluder or Excluder(exclude)
    found = Discovery()
    # Absolute paths as strings: a tree's worth of Path objects costs more than the walk that found them.
    seen: set[str] = set()

    def add(file: Path, regular: bool = False) -> None:
        key = os.path.abspath(file)
        if key in seen:
            return
        seen.add(key)
        kind = None if regular else _special_kind(key)
        if kind is not None:
            found.warnings.append(FileError(str(file), f"skipped: a {kind}, not a regular file"))
        else:
            found.files.append(file)

    for path in paths:
        if not path.exists():
            found.errors.append(FileError(str(path), "no such file or directory"))
        elif force_exclude and excluder.excluded_explicit(path):
            continue
        elif path.is_dir():
            walked = _walk(path, excluder.within(path), respect_gitignore, tuple(suffixes))
            for file, regular in sorted(walked, key=lambda item: item[0].parts):
                add(file, regular)
        else:
            add(path)
    return found


def _special_kind(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` (through symlinks) is when it is not a regular file; None for regular files.

    A FIFO would block a read forever and a device would never end, so they are never read. A path
    that cannot be looked at is left to the reader, which says why.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _walk(
    root: Path, excluder: Excluder, respect_gitignore: bool, suffixes: tuple[str, ...]
) -> Iterator[tuple[Path, bool]]:
    """Source files under ``root``, each with whether the listing showed it to be a regular file (not a
    symlink, which is looked at again), pruning excluded directories as early as possible.

    As `os.walk` walks, reading each directory once with `os.scandir`, whose entries tell a regular file
    from a symlink, a FIFO or a device without a `stat` of each: a directory that cannot be listed is
    passed over, and a symlink to a directory is not entered.
    """
    chains: dict[str, list[tuple[Path, GitIgnoreSpec]]] = {}
    first = True
    pending = [os.fspath(root)]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError:
            continue
        here = Path(directory)
        if respect_gitignore:
            if first:
                first = False
                chain = excluder.gitignore_chain(here)
            else:
                chain = list(chains.pop(directory, []))
                spec = excluder.gitignore(Path(os.path.abspath(here)))
                if spec is not None:
                    chain.append((Path(os.path.abspath(here)), spec))
        else:
            chain = []
        # Paths are made only where a pattern is matched against them: a tree's worth costs more than
        # the listing.
        patterns = bool(chain or excluder.groups)
        folders: list[os.DirEntry[str]] = []
        files: list[os.DirEntry[str]] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            (folders if is_dir else files).append(entry)
        for entry in folders:
            name = entry.name
            if name in excluder.excluded_dirs:
                continue
            if patterns:
                sub = here / name
                if excluder.excluded_by_user(sub, is_dir=True):
                    continue
                if chain and excluder.ignored(sub, chain, is_dir=True):
                    continue
            if not entry.is_symlink():
                below = os.path.join(directory, name)
                chains[below] = chain
                pending.append(below)
        for entry in files:
            name = entry.name
            if not name.endswith(suffixes):
                continue
            file = here / name
            if patterns and (
                excluder.excluded_by_user(file, is_dir=False)
                or (chain and excluder.ignored(file, chain, is_dir=False))
            ):
                continue
            try:
                regular = entry.is_file(follow_symlinks=False)
            except OSError:
                regular = False
            yield file, regular


__all__ = [
    "DEFAULT_EXCLUDED_DIRS",
    "DOCUMENT_SUFFIXES",
    "MARKDOWN_SUFFIXES",
    "NOTEBOOK_SUFFIX",
    "RST_SUFFIXES",
    "SOURCE_SUFFIXES",
    "Discovery",
    "Excluder",
    "discover",
    "file_kind",
    "gitignore_spec",
    "relative_to",
]
