"""The result cache in ``.varmigrate_cache/``: check results by file content, settings and version.

Layout::

    .varmigrate_cache/
      .gitignore            "*": git never sees the cache
      CACHEDIR.TAG          the standard tag (https://bford.info/cachedir/): backup tools skip it
      <settings>/           one folder per (version, installation, rule codes, unsafe-fixes)
        <content>.py.pickle   an entry: the check result of a file whose blake2b digest is <content>
                              (of its bytes, and of what other modules of its project bind in it)
        <content>.ipynb.*     the same for notebooks, .md.* and .rst.* for documents (the same bytes read
                              as another kind of file give another result)
        clean.<run>.list      the entries with no finding and no error that one run found: their names
                              (``<content>.py``, ...), one per line, after a checksum

Every file is written atomically (a temporary file, then ``os.replace``) and never changed after:
concurrent runs never see half a file and never lose an entry to a read-modify-write, and no lock is
needed. Most files of a large tree are clean; a file per clean entry made a first run over transformers
create 1,526 empty files (0.15-2 CPU s on the bench machine's disk), so a run writes the names of the
clean files it checked in one list when it is done (`Cache.flush`), and a run that reads more than
`MAX_LISTS` lists merges them into one (written before the others are removed: a run that cannot open one
of them misses, nothing more). A run lists each settings folder it uses once and reads its lists, so a
clean file costs a set lookup. Entries are never updated, only added: a key names content, so an entry
cannot go stale; ``varmigrate clean`` removes old ones.

What an entry holds is the pipeline's business (:class:`~varmigrate.pipeline.ResultCache`). It is pickled,
and read back with an unpickler that builds only the result's own classes, after a checksum over the
entry's name and bytes: a truncated, corrupt, foreign or renamed entry is a miss, never a result.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from varmigrate import _version

try:  # hashlib's own blake2b (it is the same function), without loading OpenSSL for it: 3-4 ms
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

# The pipeline, pickle and shutil are imported where they are used: `clean` needs none of them, and a
# clean file's entry is only a name, never pickled or unpickled.
if TYPE_CHECKING:
    from collections.abc import Iterator

    from varmigrate.pipeline import FileResult, Job

CACHE_DIR = ".varmigrate_cache"
# https://bford.info/cachedir/: the first line is the standard's signature.
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by varmigrate.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
GITIGNORE = "# Created by varmigrate.\n*\n"
_ENTRY = ".pickle"
_LIST = ".list"
_MAGIC = b"varmigrate-cache-1\n"
_LIST_MAGIC = b"varmigrate-clean-1\n"
# The lists of clean entries a run merges into one when it reads more.
MAX_LISTS = 16
# Clean entries a run keeps back before it writes them (a very large tree: a list now and then).
_LIST_BATCH = 20_000
_CHECKSUM_SIZE = 16
# Everything an entry may contain besides builtins: the result, the findings and the model's frozen data.
_ALLOWED = frozenset(
    {
        ("varmigrate.pipeline.job", "FileResult"),
        *(("varmigrate.diagnostics", name) for name in ("Diagnostic", "Edit", "Fix")),
        *(("varmigrate.model", name) for name in ("Applicability", "FileError", "Location", "RuntimeCheck")),
    }
)


class Cache:
    """Check results stored under ``directory`` (see the module's docstring); a ResultCache."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._folders: dict[tuple[object, ...], str] = {}
        self._listings: dict[str, set[str]] = {}
        # Per folder: the clean entries' names known, the lists they came from, those not yet written.
        self._clean: dict[str, set[str]] = {}
        self._lists: dict[str, list[str]] = {}
        self._unwritten: dict[str, list[str]] = {}
        self._read: dict[str, FileResult] = {}
        # Folders known to exist (listed, or made by this run).
        self._existing: set[str] = set()
        self._prepared = False
        # Cleared when a write fails (read-only tree, full disk): the run goes on without storing.
        self._writable = True

    @classmethod
    def in_project(cls, root: Path) -> Cache:
        """The cache of the project rooted at ``root`` (the configuration file's directory)."""
        return cls(root / CACHE_DIR)

    # -- keys -----------------------------------------------------------------------------------------

    def key(self, data: bytes, job: Job, kind: str) -> str | None:
        """``<settings>/<content><kind>`` (``kind``: how the file is read, ``.py``, ``.ipynb``, ``.md`` or
        ``.rst``: the same bytes read otherwise give another result); None when the results depend on more."""
        settings = job.settings
        if settings.verified:
            # Findings promoted by a run of the program (`varmigrate verify`): not a function of the text.
            return None
        facts = (settings.rules, settings.unsafe_fixes)
        folder = self._folders.get(facts)
        if folder is None:
            folder = self._folders[facts] = _settings_digest([rule.code for rule in settings.rules], facts[1])
        digest = blake2b(data, digest_size=20)
        project = settings.project
        if project.variable or project.reaches_torch:
            # What other modules of the project bind here is part of what the file means: a change in
            # `model.py` that changes it is a miss for `train.py`. (Which imports other modules need
            # changes only what `fix` does, never what `check` reports, so it is left out.)
            imported = (project.variable, sorted(project.spellings), project.reaches_torch)
            digest.update(b"\0project\0" + repr(imported).encode())
        return f"{folder}/{digest.hexdigest()}{kind}"

    # -- reading --------------------------------------------------------------------------------------

    def get(self, key: str) -> FileResult | None:
        """The entry stored under ``key``; None when there is none or it cannot be trusted."""
        found = self._read.get(key)
        if found is not None:
            return found
        folder, name = key.split("/")
        names = self._listing(folder)
        if name in self._clean[folder]:
            found = _clean_result()
        elif name + _ENTRY in names:
            found = self._load(folder, name)
            if found is None:
                # Rewritten by the next put, which skips names it believes are there.
                names.discard(name + _ENTRY)
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / folder / (name + _ENTRY))
        if found is not None:
            self._read[key] = found
        return found

    def _listing(self, folder: str) -> set[str]:
        """The files of ``folder``, listed once per run (and the clean entries its lists name)."""
        names = self._listings.get(folder)
        if names is None:
            try:
                names = set(os.listdir(self.directory / folder))
            except OSError:
                names = set()
            else:
                self._existing.add(folder)
            self._listings[folder] = names
            clean: set[str] = set()
            lists: list[str] = []
            for file in sorted(names):
                if file.endswith(_LIST) and not file.startswith("."):
                    read = self._read_list(folder, file)
                    if read is not None:
                        clean.update(read)
                        lists.append(file)
            self._clean[folder] = clean
            self._lists[folder] = lists
            self._unwritten[folder] = []
        return names

    def _read_list(self, folder: str, file: str) -> list[str] | None:
        """The names in the list ``file``; None when it cannot be read or trusted (a damaged one is
        removed: a miss for each of its entries, which the run writes again)."""
        path = self.directory / folder / file
        try:
            with open(path, "rb") as handle:
                blob = handle.read()
        except OSError:
            return None
        head = len(_LIST_MAGIC) + _CHECKSUM_SIZE
        if blob.startswith(_LIST_MAGIC) and blob[len(_LIST_MAGIC) : head] == _checksum(file, blob[head:]):
            try:
                return blob[head:].decode("ascii").split("\n") if len(blob) > head else []
            except UnicodeDecodeError:
                pass
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None

    def _load(self, folder: str, name: str) -> FileResult | None:
        from varmigrate.pipeline import FileResult

        try:
            with open(self.directory / folder / (name + _ENTRY), "rb") as handle:
                blob = handle.read()
        except OSError:
            return None
        head = len(_MAGIC) + _CHECKSUM_SIZE
        if not blob.startswith(_MAGIC) or blob[len(_MAGIC) : head] != _checksum(name, blob[head:]):
            return None
        try:
            result = _unpickle(blob[head:])
        except Exception:  # anything a damaged pickle raises
            return None
        return result if isinstance(result, FileResult) else None

    # -- writing --------------------------------------------------------------------------------------

    def put(self, key: str, result: FileResult) -> None:
        """Store ``result`` under ``key``, unless it is there already or the cache cannot be written."""
        if not self._writable:
            return
        folder, name = key.split("/")
        names = self._listing(folder)
        if result == _clean_result():
            clean = self._clean[folder]
            if name not in clean:
                clean.add(name)
                self._unwritten[folder].append(name)
                if len(self._unwritten[folder]) >= _LIST_BATCH:
                    self._write_list(folder)
            return
        file = name + _ENTRY
        if file in names:
            return
        try:
            self._prepare(folder)
            import pickle

            payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            _write_atomic(self.directory / folder / file, _MAGIC + _checksum(name, payload) + payload)
        except OSError:
            self._writable = False
            return
        names.add(file)
        self._read[key] = result

    def flush(self) -> None:
        """Write the clean entries this run found in one list per settings folder (see the module)."""
        for folder in self._unwritten:
            self._write_list(folder)

    def _write_list(self, folder: str) -> None:
        unwritten, lists = self._unwritten[folder], self._lists[folder]
        if not unwritten or not self._writable:
            return
        merge = len(lists) > MAX_LISTS
        names = sorted(self._clean[folder]) if merge else unwritten
        payload = "\n".join(names).encode("ascii")
        file = f"clean.{os.getpid()}-{os.urandom(6).hex()}{_LIST}"
        try:
            self._prepare(folder)
            _write_atomic(self.directory / folder / file, _LIST_MAGIC + _checksum(file, payload) + payload)
        except OSError:
            self._writable = False
            return
        self._unwritten[folder] = []
        if merge:
            for old in lists:
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / folder / old)
            self._lists[folder] = [file]
        else:
            lists.append(file)

    def _prepare(self, folder: str) -> None:
        """Create the cache directory (with its .gitignore and CACHEDIR.TAG) and ``folder`` in it."""
        if not self._prepared:
            self.directory.mkdir(parents=True, exist_ok=True)
            for name, text in (
                (".gitignore", "# Created by varmigrate.\n*\n"),
                ("CACHEDIR.TAG", CACHEDIR_TAG),
            ):
                if not (self.directory / name).exists():
                    _write_atomic(self.directory / name, text.encode())
            self._prepared = True
        if folder not in self._existing:
            (self.directory / folder).mkdir(exist_ok=True)
            self._existing.add(folder)


def remove(directory: Path) -> bool:
    """Remove the cache at ``directory``; False when there is none. Raises ValueError for a directory
    that is not a varmigrate cache (no CACHEDIR.TAG of ours), which is left alone."""
    if not directory.exists():
        return False
    try:
        tag = (directory / "CACHEDIR.TAG").read_text(encoding="utf-8", errors="replace")
    except OSError:
        tag = ""
    if tag != CACHEDIR_TAG:
        raise ValueError(f"{directory} is not a varmigrate cache (no CACHEDIR.TAG written by varmigrate)")
    import shutil

    shutil.rmtree(directory)
    return True


def _clean_result() -> FileResult:
    """The result of a file with no finding and no error: what an entry that is only a name holds."""
    from varmigrate.pipeline import FileResult

    return FileResult("")


def _unpickle(payload: bytes) -> object:
    """``payload`` unpickled into the result's own classes and builtins' containers, nothing else."""
    import io
    import pickle

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            if (module, name) not in _ALLOWED:
                raise pickle.UnpicklingError(f"{module}.{name} has no place in a cache entry")
            return super().find_class(module, name)

    return Unpickler(io.BytesIO(payload)).load()


def _checksum(name: str, payload: bytes) -> bytes:
    """Ties an entry's bytes to its name: a damaged or misplaced entry fails it."""
    return blake2b(payload, digest_size=_CHECKSUM_SIZE, person=b"varmigrate", key=name.encode()[:64]).digest()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _settings_digest(codes: list[str], unsafe_fixes: bool) -> str:
    """The folder of one set of settings: everything a result depends on besides the file's bytes."""
    facts = [
        f"varmigrate {_version.__version__}",
        *_installation(),
        f"rules {','.join(codes)}",
        f"unsafe-fixes {unsafe_fixes}",
    ]
    return blake2b("\n".join(facts).encode(), digest_size=12).hexdigest()


_INSTALLATION: list[str] = []


def _installation() -> list[str]:
    """The code behind a result: Python, and varmigrate's and LibCST's installed files (size and mtime).

    The version alone would let a changed checkout (or a reinstalled LibCST) reuse results computed by
    other code. Stat-ing the package's ~120 files costs about a millisecond when the paths stay strings.
    """
    if not _INSTALLATION:
        files = sorted(_python_files(os.path.dirname(os.path.abspath(__file__))))
        libcst = _package_directory("libcst")
        if libcst is not None:
            files += [os.path.join(libcst, "__init__.py"), os.path.join(libcst, "_version.py")]
        _INSTALLATION.append(f"python {sys.version}")
        _INSTALLATION.extend(_stamp(path) for path in files)
    return _INSTALLATION


def _python_files(folder: str) -> Iterator[str]:
    """The paths of the ``.py`` files under ``folder``."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name.endswith(".py"):
            yield entry.path
        elif entry.is_dir(follow_symlinks=False):
            yield from _python_files(entry.path)


def _stamp(path: str) -> str:
    """``path size mtime`` (``path missing`` when it cannot be read)."""
    try:
        info = os.stat(path)
    except OSError:
        return f"{path} missing"
    return f"{path} {info.st_size} {info.st_mtime_ns}"


def _package_directory(name: str) -> str | None:
    """Where the installed package ``name`` lives, without importing it."""
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None)
    if origin is None:
        import importlib.util

        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
    return os.path.dirname(origin) if origin else None


__all__ = ["CACHEDIR_TAG", "CACHE_DIR", "Cache", "remove"]
