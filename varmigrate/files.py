"""Files: discovery (default excludes, .gitignore, --exclude), reading, and checking or fixing one file.

Source text is decoded from bytes and encoded back to bytes with the file's own encoding (PEP 263 cookie,
UTF-8 BOM) and never passes through newline translation, so CRLF and mixed newlines survive a fix. Writes
are atomic and keep the file's permissions.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import io
import multiprocessing
import os
import re
import stat
import tempfile
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pathspec

from varmigrate.diagnostics import Diagnostic, Location
from varmigrate.engine import INTERNAL_ERROR, Settings, SourceParseError, check_source, fix_source
from varmigrate.noqa import NOT_COMMENTABLE, add_noqa
from varmigrate.notebook import NotebookError, NotebookFixResult, check_notebook, fix_notebook

NOTEBOOK_SUFFIX = ".ipynb"
# Suffixes a directory walk picks up. Files passed explicitly are read as Python whatever their suffix,
# except notebooks, which are read as notebooks.
SOURCE_SUFFIXES: tuple[str, ...] = (".py", NOTEBOOK_SUFFIX)

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

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


# -- results -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileError:
    """A file that could not be read, decoded, parsed or written; ``location`` when known."""

    path: str
    message: str
    location: Location | None = None
    # In a notebook: the cell (1-based position among all cells) the location is relative to.
    cell: int | None = None

    def __str__(self) -> str:
        where = self.path if self.cell is None else f"{self.path}:cell {self.cell}"
        where = where if self.location is None else f"{where}:{self.location}"
        return f"{where}: {self.message}"


@dataclass
class FileResult:
    """What checking or fixing one file found and did. Plain, picklable data."""

    path: str
    # Findings left in the file (after fixing, when fixing); internal errors are in ``errors``.
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    # Fixes applied (or, with ``diff``, that would be applied).
    fixed: int = 0
    # The file's bytes changed (or would change, with ``diff``).
    changed: bool = False
    written: bool = False
    # Unified diff of the fix, when asked for.
    diff: str = ""
    # The source lines the diagnostics point at ((cell, row) -> text without its line break; the cell
    # is None outside notebooks), for display.
    lines: dict[tuple[int | None, int], str] = field(default_factory=dict)
    # Lines that got a noqa directive or new codes in one (``check --add-noqa``).
    noqa_added: int = 0
    # Things the user should know that are not errors (e.g. a finding no noqa comment fits).
    warnings: list[FileError] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    """What to do with one file: which rules, and whether to fix (or only show the diff) or add noqa."""

    settings: Settings = field(default_factory=Settings)
    fix: bool = False
    diff: bool = False
    # Suppress the findings with noqa comments on their lines instead of fixing them.
    add_noqa: bool = False

    @property
    def writes(self) -> bool:
        """Whether the job writes changed files back."""
        return (self.fix or self.add_noqa) and not self.diff


# -- reading and writing -----------------------------------------------------------------------------


class DecodeError(Exception):
    """Bytes that are not text in the file's declared encoding."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


@dataclass(frozen=True)
class DecodedSource:
    """Text decoded from a file, and the encoding (``utf-8-sig`` when there is a BOM) to write it back."""

    text: str
    encoding: str

    def encode(self, text: str) -> bytes:
        """``text`` in this file's encoding (BOM included when the file had one)."""
        return text.encode(self.encoding)


def decode(data: bytes) -> DecodedSource:
    """Decode Python source bytes by their BOM or PEP 263 cookie, keeping every newline as it is."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        raise DecodeError(f"cannot decode: {error}") from None
    try:
        # bytes.decode never translates newlines (unlike text-mode reads), so CRLF and lone CR stay.
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise DecodeError(
            f"cannot decode: not valid {error.encoding} ({error.reason})",
            _byte_location(data, error.start, encoding),
        ) from None
    return DecodedSource(text, encoding)


def _byte_location(data: bytes, offset: int, encoding: str) -> Location:
    """The row and column (in characters, best effort) of byte ``offset``."""
    line_start = max(data.rfind(b"\n", 0, offset), data.rfind(b"\r", 0, offset)) + 1
    row = len(_LINE_BREAK.findall(data[:line_start].decode("latin-1"))) + 1
    column = len(data[line_start:offset].decode(encoding, errors="replace")) + 1
    return Location(row, column)


def read_bytes(path: Path) -> bytes:
    """The bytes of ``path``."""
    return path.read_bytes()


def write_atomic(path: Path, data: bytes) -> None:
    """Replace the contents of ``path`` (through symlinks) atomically, keeping its permissions."""
    target = Path(os.path.realpath(path))
    info = target.stat()
    # As root, os.replace would happily rewrite a read-only file; treat the mode as the owner's wish.
    if not info.st_mode & stat.S_IWUSR:
        raise PermissionError(f"{path} is read-only")
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        # Only the owner or root may hand a file to another owner; the mode is kept regardless.
        with contextlib.suppress(OSError):
            os.chown(temporary, info.st_uid, info.st_gid)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


# -- one file ------------------------------------------------------------------------------------------


def process_file(path: Path, job: Job) -> FileResult:
    """Check (or fix) the file at ``path``. Pure apart from writing the fixed file: path in, result out."""
    name = str(path)
    try:
        data = read_bytes(path)
    except OSError as error:
        return FileResult(name, errors=[FileError(name, f"cannot read: {error.strerror or error}")])
    result, new_data = process_bytes(data, name, job)
    if new_data is not None and job.writes:
        try:
            write_atomic(path, new_data)
        except OSError as error:
            result.fixed = result.noqa_added = 0
            result.errors.append(FileError(name, f"cannot write: {error.strerror or error}"))
        else:
            result.written = True
    return result


# Below this much source that mentions torch, starting worker processes (each imports LibCST, about a
# second) costs more than it saves: LibCST analyses roughly 0.1-0.5 MB of candidate code per second.
POOL_THRESHOLD_BYTES = 512 * 1024


def process_files(items: Sequence[tuple[Path, Job]], workers: int = 1) -> Iterator[FileResult]:
    """Results for ``(path, job)`` items, in order; a large batch is spread over ``workers`` processes."""
    if workers > 1 and len(items) > 1 and _worth_a_pool(item[0] for item in items):
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            yield from pool.map(_process_item, items, chunksize=4)
        return
    for path, job in items:
        yield process_file(path, job)


def _process_item(item: tuple[Path, Job]) -> FileResult:
    return process_file(*item)


def _worth_a_pool(paths: Iterable[Path]) -> bool:
    """Whether the files that can reach LibCST (they mention torch) are big enough to share out."""
    total = 0
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"torch" in data:
            total += len(data)
            if total >= POOL_THRESHOLD_BYTES:
                return True
    return False


def process_bytes(data: bytes, name: str, job: Job) -> tuple[FileResult, bytes | None]:
    """Check (or fix) source ``data`` shown as ``name``; the fixed bytes when they differ, else None."""
    result = FileResult(name)
    # Cheapest prefilter: no rule can fire in a file that never spells `torch`; skip even decoding it.
    if b"torch" not in data:
        return result, None
    if name.endswith(NOTEBOOK_SUFFIX):
        return _process_notebook(data, name, job)
    try:
        source = decode(data)
    except DecodeError as error:
        result.errors.append(FileError(name, error.message, error.location))
        return result, None
    try:
        text, diagnostics, result.fixed = _run_engine(source.text, job)
    except SourceParseError as error:
        message, location = error.message, Location(error.row, error.column)
        result.errors.append(FileError(name, f"cannot parse: {message}", location))
        return result, None
    except RecursionError:
        result.errors.append(FileError(name, "cannot parse: too deeply nested"))
        return result, None
    except Exception as error:  # one broken file must never stop the others
        result.errors.append(FileError(name, f"internal error: {type(error).__name__}: {error}"))
        return result, None
    result.diagnostics = [d for d in diagnostics if not _is_internal(d)]
    result.errors.extend(
        FileError(name, f"{d.code} {d.message}", d.start) for d in diagnostics if _is_internal(d)
    )
    if job.add_noqa:
        text, result.noqa_added, result.diagnostics = add_noqa(text, result.diagnostics)
        result.warnings.extend(
            FileError(name, f"cannot add `# noqa: {d.code}`: {NOT_COMMENTABLE}", d.start)
            for d in result.diagnostics
        )
    result.lines = {
        (None, row): line for row, line in _lines_at(text, {d.start.row for d in result.diagnostics}).items()
    }
    if text == source.text:
        return result, None
    try:
        new_data = source.encode(text)
    except UnicodeEncodeError as error:
        result.fixed = 0
        result.errors.append(
            FileError(name, f"cannot write: the fix is not representable in {error.encoding}")
        )
        return result, None
    result.changed = new_data != data
    if job.diff and result.changed:
        result.diff = unified_diff(source.text, text, name)
    return result, new_data if result.changed else None


def _process_notebook(data: bytes, name: str, job: Job) -> tuple[FileResult, bytes | None]:
    """Check (or fix) the code cells of notebook ``data``; findings and errors carry their cell."""
    result = FileResult(name)
    try:
        outcome = fix_notebook(data, job.settings) if job.fix else check_notebook(data, job.settings)
    except NotebookError as error:
        result.errors.append(FileError(name, str(error)))
        return result, None
    except Exception as error:  # one broken file must never stop the others
        result.errors.append(FileError(name, f"internal error: {type(error).__name__}: {error}"))
        return result, None
    for found in outcome.diagnostics:
        diagnostic = replace(found.diagnostic, cell=found.cell)
        if _is_internal(diagnostic):
            result.errors.append(
                FileError(name, f"{diagnostic.code} {diagnostic.message}", diagnostic.start, found.cell)
            )
        else:
            result.diagnostics.append(diagnostic)
            result.lines[(found.cell, diagnostic.start.row)] = found.line
    for bad in outcome.errors:
        location = Location(bad.row, bad.column)
        result.errors.append(FileError(name, f"cannot parse: {bad.message}", location, bad.cell))
    if job.add_noqa and result.diagnostics:
        result.warnings.append(
            FileError(
                name, f"--add-noqa does not edit notebooks; {plural_findings(result)} left unsuppressed"
            )
        )
    new_data = outcome.data if isinstance(outcome, NotebookFixResult) else None
    if new_data is None:
        return result, None
    assert isinstance(outcome, NotebookFixResult)
    result.fixed = outcome.applied
    result.changed = True
    if job.diff:
        result.diff = unified_diff(data.decode("utf-8"), new_data.decode("utf-8"), name)
    return result, new_data


def plural_findings(result: FileResult) -> str:
    """``1 finding`` / ``3 findings`` in ``result``."""
    count = len(result.diagnostics)
    return f"{count} finding{'' if count == 1 else 's'}"


def _run_engine(text: str, job: Job) -> tuple[str, list[Diagnostic], int]:
    """The text after the job (fixed, or as it was), its findings, and how many fixes were applied."""
    if job.fix:
        fixed = fix_source(text, job.settings)
        return fixed.source, fixed.diagnostics, fixed.applied
    return text, check_source(text, job.settings), 0


def _is_internal(diagnostic: Diagnostic) -> bool:
    """Whether ``diagnostic`` reports a varmigrate failure (VM9xx) rather than a finding."""
    return diagnostic.code.startswith(INTERNAL_ERROR[:3])


def _lines_at(text: str, rows: Iterable[int]) -> dict[int, str]:
    """Row -> line text (without its line break) for ``rows``, numbered as the engine numbers them."""
    wanted = set(rows)
    if not wanted:
        return {}
    lines = _LINE_BREAK.split(text)
    return {row: lines[row - 1] for row in sorted(wanted) if 0 < row <= len(lines)}


def unified_diff(before: str, after: str, name: str) -> str:
    """A unified diff of ``before`` -> ``after`` labelled with ``name``."""
    diff = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=name,
        tofile=name,
    )
    parts = []
    for line in diff:
        if not line.endswith(("\n", "\r")):
            line += "\n\\ No newline at end of file\n"
        parts.append(line)
    return "".join(parts)


# -- discovery -------------------------------------------------------------------------------------------


@dataclass
class Discovery:
    """The files to process, in a stable order, and paths that could not be used."""

    files: list[Path] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)


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
        self.groups: list[tuple[Path, pathspec.GitIgnoreSpec]] = []
        for root, lines in ((self.cwd, exclude), *anchored):
            patterns = [p for p in (pattern.strip() for pattern in lines) if p]
            if patterns:
                self.groups.append((Path(os.path.abspath(root)), pathspec.GitIgnoreSpec.from_lines(patterns)))
        self._gitignores: dict[Path, pathspec.GitIgnoreSpec | None] = {}

    def excluded_by_user(self, path: Path, *, is_dir: bool) -> bool:
        """Whether an ``--exclude`` (or configured) pattern matches ``path``."""
        suffix = "/" if is_dir else ""
        return any(spec.match_file(relative_to(path, root) + suffix) for root, spec in self.groups)

    def within(self, root: Path) -> Excluder:
        """This excluder for walking ``root``, which was asked for: patterns that exclude it are dropped."""
        clone = copy.copy(self)
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

    def gitignore_chain(self, directory: Path) -> list[tuple[Path, pathspec.GitIgnoreSpec]]:
        """The .gitignore specs that apply inside ``directory``: its own and its ancestors' in the repo."""
        directory = Path(os.path.abspath(directory))
        chain: list[tuple[Path, pathspec.GitIgnoreSpec]] = []
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

    def gitignore(self, directory: Path) -> pathspec.GitIgnoreSpec | None:
        """The parsed ``directory/.gitignore``, if there is one."""
        if directory not in self._gitignores:
            spec = None
            try:
                lines = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                pass
            else:
                spec = pathspec.GitIgnoreSpec.from_lines(lines)
            self._gitignores[directory] = spec
        return self._gitignores[directory]

    @staticmethod
    def ignored(path: Path, chain: Sequence[tuple[Path, pathspec.GitIgnoreSpec]], *, is_dir: bool) -> bool:
        """Whether the deepest .gitignore that has a say about ``path`` ignores it."""
        absolute = Path(os.path.abspath(path))
        for folder, spec in reversed(chain):
            relative = absolute.relative_to(folder).as_posix() + ("/" if is_dir else "")
            decision = spec.check_file(relative).include
            if decision is not None:
                return bool(decision)
        return False


def relative_to(path: Path, root: Path) -> str:
    """``path`` relative to the absolute directory ``root`` in POSIX form; outside it, its absolute path
    without the leading slash, so that patterns without a slash still match its name."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return absolute.as_posix().lstrip("/")


def _sparing(spec: pathspec.GitIgnoreSpec, directory: str) -> pathspec.GitIgnoreSpec:
    """``spec`` without the patterns that ignore ``directory`` (relative, ending in ``/``) or its parents."""
    kept = [p for p in spec.patterns if not (p.include and p.match_file(directory))]
    return spec if len(kept) == len(spec.patterns) else pathspec.GitIgnoreSpec(kept)


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
    seen: set[Path] = set()

    def add(file: Path) -> None:
        key = Path(os.path.abspath(file))
        if key not in seen:
            seen.add(key)
            found.files.append(file)

    for path in paths:
        if not path.exists():
            found.errors.append(FileError(str(path), "no such file or directory"))
        elif force_exclude and excluder.excluded_explicit(path):
            continue
        elif path.is_dir():
            walked = _walk(path, excluder.within(path), respect_gitignore, tuple(suffixes))
            for file in sorted(walked, key=lambda file: file.parts):
                add(file)
        else:
            add(path)
    return found


def _walk(
    root: Path, excluder: Excluder, respect_gitignore: bool, suffixes: tuple[str, ...]
) -> Iterator[Path]:
    """Source files under ``root``, pruning excluded directories as early as possible."""
    chains: dict[str, list[tuple[Path, pathspec.GitIgnoreSpec]]] = {}
    first = True
    for directory, dirnames, filenames in os.walk(root):
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
        kept = []
        for name in sorted(dirnames):
            sub = here / name
            if name in excluder.excluded_dirs or excluder.excluded_by_user(sub, is_dir=True):
                continue
            if chain and excluder.ignored(sub, chain, is_dir=True):
                continue
            kept.append(name)
            chains[os.path.join(directory, name)] = chain
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(suffixes):
                continue
            file = here / name
            if excluder.excluded_by_user(file, is_dir=False):
                continue
            if chain and excluder.ignored(file, chain, is_dir=False):
                continue
            yield file


def is_excluded(path: Path, exclude: Sequence[str]) -> bool:
    """Whether ``path`` (e.g. ``--stdin-filename``) is excluded by default directories or ``exclude``."""
    return Excluder(exclude).excluded_explicit(path)


__all__ = [
    "DEFAULT_EXCLUDED_DIRS",
    "SOURCE_SUFFIXES",
    "DecodeError",
    "DecodedSource",
    "Discovery",
    "Excluder",
    "FileError",
    "FileResult",
    "Job",
    "decode",
    "discover",
    "is_excluded",
    "process_bytes",
    "process_file",
    "relative_to",
    "unified_diff",
    "write_atomic",
]
