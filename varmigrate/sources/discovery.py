"""Finding the files to process: directory walks, default excludes, ``--exclude`` globs and .gitignore."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
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
        self.groups: list[tuple[Path, Patterns]] = []
        for root, lines in ((self.cwd, exclude), *anchored):
            patterns = [p for p in (pattern.strip() for pattern in lines) if p]
            if patterns:
                self.groups.append((Path(os.path.abspath(root)), Patterns(gitignore_spec(patterns))))
        self._gitignores: dict[Path, Patterns | None] = {}

    def excluded_by_user(self, path: Path | str, *, is_dir: bool) -> bool:
        """Whether an ``--exclude`` (or configured) pattern matches ``path``."""
        suffix = "/" if is_dir else ""
        return any(patterns.matches(relative_to(path, root) + suffix) for root, patterns in self.groups)

    def within(self, root: Path) -> Excluder:
        """This excluder for walking ``root``, which was asked for: patterns that exclude it are dropped."""
        clone = object.__new__(type(self))  # a shallow copy (`copy` would cost every run its import)
        clone.__dict__.update(vars(self))
        clone.groups = []
        for base, patterns in self.groups:
            relative = relative_to(root, base)
            clone.groups.append((base, patterns if relative == "." else patterns.sparing(relative + "/")))
        return clone

    def excluded_explicit(self, path: Path) -> bool:
        """Whether a path passed on the command line is excluded (``--force-exclude``)."""
        relative = Path(relative_to(path, self.cwd))
        if any(part in self.excluded_dirs for part in relative.parts[:-1]):
            return True
        return self.excluded_by_user(path, is_dir=path.is_dir())

    # .gitignore -------------------------------------------------------------------------------------

    def gitignore_chain(self, directory: Path) -> list[tuple[str, Patterns]]:
        """The .gitignore files that apply inside ``directory``: its own and its ancestors' in the repo,
        outermost first, each with its directory (absolute)."""
        directory = Path(os.path.abspath(directory))
        chain: list[tuple[str, Patterns]] = []
        for folder in (directory, *directory.parents):
            patterns = self.gitignore(folder)
            if patterns is not None:
                if folder != directory:
                    # `directory` was asked for explicitly: what ignores it (or a parent) does not apply.
                    patterns = patterns.sparing(directory.relative_to(folder).as_posix() + "/")
                chain.append((os.fspath(folder), patterns))
            # The repository's root ends the climb: .gitignore files above it are not the project's.
            if (folder / ".git").exists():
                break
        else:
            # Not inside a repository: only the directory's own .gitignore counts.
            chain = [(folder, patterns) for folder, patterns in chain if folder == os.fspath(directory)]
        chain.reverse()
        return chain

    def gitignore(self, directory: Path, *, present: bool = True) -> Patterns | None:
        """The parsed ``directory/.gitignore``, if there is one (``present`` False: a listing of the
        directory showed none)."""
        if directory not in self._gitignores:
            patterns = None
            if present:
                try:
                    text = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace")
                except OSError:
                    pass
                else:
                    patterns = Patterns(gitignore_spec(text.splitlines()))
            self._gitignores[directory] = patterns
        return self._gitignores[directory]

    @staticmethod
    def ignored(absolute: str, chain: Sequence[tuple[str, Patterns]], *, is_dir: bool) -> bool:
        """Whether the deepest .gitignore that has a say about ``absolute`` (a normalised absolute path
        inside each directory of ``chain``) ignores it."""
        for folder, patterns in reversed(chain):
            relative = absolute[len(folder.rstrip(os.sep)) + 1 :].replace(os.sep, "/")
            decision = patterns.decision(relative + "/" if is_dir else relative)
            if decision is not None:
                return decision
        return False


class Patterns:
    """Patterns in .gitignore syntax: pathspec's reading of them (``spec``), and one regular expression
    that matches wherever any of them does.

    Most paths of a walk match none of a .gitignore's patterns, and pathspec tries each pattern's own
    expression in turn: with a template of some 80 patterns, a walk of 3,000 files spent 0.4 s there. A
    single search of the expression all of them make up tells those paths at once; the few it matches
    get pathspec's answer, which weighs which pattern matched (the last, a file's over a directory's).
    """

    __slots__ = ("_any", "spec")

    def __init__(self, spec: GitIgnoreSpec) -> None:
        self.spec = spec
        self._any = _any_of(spec.patterns)

    @property
    def joined(self) -> bool:
        """Whether one expression stands for all the patterns (else pathspec tries each in turn)."""
        return self._any is not None

    def decision(self, relative: str) -> bool | None:
        """Whether the patterns ignore ``relative`` (POSIX, a directory's ending in ``/``): None when
        none of them has a say."""
        if self._any is not None and self._any(relative) is None:
            return None
        include = self.spec.check_file(relative).include
        return None if include is None else bool(include)

    def matches(self, relative: str) -> bool:
        """Whether the patterns ignore ``relative`` (no say: not ignored)."""
        return bool(self.decision(relative))

    def sparing(self, directory: str) -> Patterns:
        """These patterns without those that ignore ``directory`` (relative, ending in ``/``) or its
        parents."""
        spec = self.spec
        kept = [p for p in spec.patterns if not (p.include and p.match_file(directory))]
        return self if len(kept) == len(spec.patterns) else Patterns(_spec_of(kept))


# Where a pattern's expression refers back to what it captured: such an expression cannot join the
# others (its groups' names and numbers would change), and its patterns are tried one by one. (These two
# are compiled, and kept by `re`, when a run first reads patterns: a run that reads none compiles neither.)
_BACK_REFERENCE = r"\\(?:[1-9]|g<)|\(\?P="
# A named group (not an escaped parenthesis): pathspec names the directory mark of each pattern alike.
_NAMED_GROUP = r"(?<!\\)\(\?P<\w+>"
# How pathspec begins the expression of a pattern without a slash (it matches in any directory).
_ANY_DIRECTORY = "(?:.+/)?"


def _any_of(patterns: Sequence[Any]) -> Callable[[str], re.Match[str] | None] | None:
    """A function that finds a match wherever one of ``patterns``' own expressions does (`re.search`),
    or None when their expressions cannot be joined.

    The groups pathspec names (``ps_d``, the directory mark) become plain groups: only pathspec's own
    match reads them, and naming one twice is an error. Expressions anchored at the start (all of a
    .gitignore's) are matched at the start alone, and those for any directory share that prefix: tried
    once, rather than once per pattern, it is what makes the one expression faster than the many.
    """
    parts: list[str] = []
    flags: set[int] = set()
    for pattern in patterns:
        if getattr(pattern, "include", None) is None:
            continue  # a blank line or a comment: it matches nothing
        regex = getattr(pattern, "regex", None)
        if not isinstance(regex, re.Pattern) or not isinstance(regex.pattern, str):
            return None
        if re.search(_BACK_REFERENCE, regex.pattern):
            return None
        parts.append(re.sub(_NAMED_GROUP, "(?:", regex.pattern))
        flags.add(regex.flags)
    if len(flags) > 1:
        return None
    flag = flags.pop() if flags else 0
    try:
        if not parts:
            return re.compile(r"(?!)").match
        if flag & re.MULTILINE or not all(part.startswith("^") for part in parts):
            return re.compile("|".join(f"(?:{part})" for part in parts), flag).search
        anywhere = [part[1 + len(_ANY_DIRECTORY) :] for part in parts if part[1:].startswith(_ANY_DIRECTORY)]
        rooted = [part[1:] for part in parts if not part[1:].startswith(_ANY_DIRECTORY)]
        joined = [f"(?:{part})" for part in rooted]
        if anywhere:
            joined.append(_ANY_DIRECTORY + "(?:" + "|".join(f"(?:{part})" for part in anywhere) + ")")
        return re.compile("|".join(joined), flag).match
    except re.error:
        return None


def gitignore_spec(lines: Iterable[str]) -> GitIgnoreSpec:
    """Patterns in .gitignore syntax, compiled (pathspec is imported on first use: only walks need it)."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _spec_of(patterns: Sequence[Any]) -> GitIgnoreSpec:
    import pathspec

    return pathspec.GitIgnoreSpec(patterns)


def relative_to(path: Path | str, root: Path) -> str:
    """``path`` relative to the absolute directory ``root`` in POSIX form; outside it, its absolute path
    without the leading slash, so that patterns without a slash still match its name."""
    if os.sep == "/":
        # As `PurePosixPath.relative_to` and `as_posix` make it, on strings: a walk asks for every entry.
        absolute, base = os.path.abspath(path), os.fspath(root)
        if absolute == base:
            return "."
        inside = base if base.endswith("/") else base + "/"
        return absolute[len(inside) :] if absolute.startswith(inside) else absolute.lstrip("/")
    absolute_path = Path(os.path.abspath(path))
    try:
        return absolute_path.relative_to(root).as_posix()
    except ValueError:
        return absolute_path.as_posix().lstrip("/")


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
    chains: dict[str, list[tuple[str, Patterns]]] = {}
    first = True
    pending = [os.fspath(root)]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError:
            continue
        absolute = os.path.abspath(directory)
        chain: list[tuple[str, Patterns]] = []
        if respect_gitignore:
            if first:
                first = False
                chain = excluder.gitignore_chain(Path(directory))
            else:
                chain = list(chains.pop(directory, []))
                present = any(entry.name == ".gitignore" for entry in entries)
                patterns = excluder.gitignore(Path(absolute), present=present)
                if patterns is not None:
                    chain.append((absolute, patterns))
        # Paths are made only for the files kept, and patterns are matched against absolute paths as
        # strings: a tree's worth of `Path` objects costs more than the listing.
        user = bool(excluder.groups)
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
            if user or chain:
                inside = os.path.join(absolute, name)
                if user and excluder.excluded_by_user(inside, is_dir=True):
                    continue
                if chain and excluder.ignored(inside, chain, is_dir=True):
                    continue
            if not entry.is_symlink():
                below = os.path.join(directory, name)
                chains[below] = chain
                pending.append(below)
        here = Path(directory)
        for entry in files:
            name = entry.name
            if not name.endswith(suffixes):
                continue
            if user or chain:
                inside = os.path.join(absolute, name)
                if (user and excluder.excluded_by_user(inside, is_dir=False)) or (
                    chain and excluder.ignored(inside, chain, is_dir=False)
                ):
                    continue
            try:
                regular = entry.is_file(follow_symlinks=False)
            except OSError:
                regular = False
            yield here / name, regular


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
