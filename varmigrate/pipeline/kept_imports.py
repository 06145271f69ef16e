"""Which imports of torch's `Variable` (or of `torch.autograd`) other files of a project need.

The import clean-up removes such an import when its module no longer uses it; a module that gets the
name from there (`from model import *` where model.py does `from torch.autograd import Variable`) then
ends in a NameError. An import stays when a file that uses the name imports it from its module, by name
or by a star import, directly or through other modules. The files looked at are the run's and, on disk,
every `.py` file and notebook of the module's repository (below the nearest `.git`, else the directory
above its top-level package). Where the only such uses are in files of the same run, reached by star
imports or as attributes of the module (`model.Variable`), the import may go once every one of those
files is left without the name (the batch decides, `ProjectView.pending`); an import that names it
(`from model import Variable`) keeps it for good.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from varmigrate.sources.discovery import DEFAULT_EXCLUDED_DIRS, NOTEBOOK_SUFFIX, file_kind
from varmigrate.sources.io import read_regular

if TYPE_CHECKING:
    from varmigrate.pipeline.project import Project, _Use

    # A use of another module's name: the key of the file that uses it, the use, and the run's path for
    # that file (None when it is only on disk).
    _Importer = tuple[str, _Use, Path | None]

_File = TypeVar("_File", Path, str)

# A repository's files looked at on disk for importers of one module: beyond this, its imports all stay.
MAX_DISK_FILES = 5000


class KeptImports:
    """The imports the clean-up must keep in the modules of a run, worked out on ``project``."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._walks: dict[str, list[str] | None] = {}
        self._spells: dict[tuple[frozenset[str], str], list[Any]] = {}
        self._indexes: dict[tuple[frozenset[str], str], dict[str, list[_Importer]]] = {}
        self._roots: dict[Path, Path] = {}

    def needed(self) -> dict[Path, tuple[frozenset[str], dict[str, frozenset[Path]]]]:
        """Modules of the run with imports of torch's `Variable` that other modules use: the names kept
        for good, and those that may go once the given files (of the run) no longer spell them."""
        found: dict[Path, tuple[frozenset[str], dict[str, frozenset[Path]]]] = {}
        key = self.project.key
        # A removable import names `autograd` (`from torch.autograd import Variable`, `import torch.autograd
        # as ag`); a star import is never removed.
        for path in self.project.given:
            # Only a module can be imported (not a notebook, nor a document's code blocks).
            if path not in self.project.autograd or file_kind(path.name) != ".py":
                continue
            bindings = self.project.bindings(path)
            own = {name for name, bound in bindings.items() if key(bound.path) == key(path)}
            if own:
                kept, pending = self._needed(path, own)
                if kept or pending:
                    found[path] = (kept, pending)
        return found

    def _needed(self, origin: Path, names: set[str]) -> tuple[frozenset[str], dict[str, frozenset[Path]]]:
        kept: set[str] = set()
        users: dict[str, set[Path]] = {}
        importers = self._importers(origin, frozenset(names))
        if importers is None:
            return frozenset(names), {}
        origin_key = self.project.key(origin)
        for path_key, use, given in importers.get(origin_key, ()):
            if path_key == origin_key or use.exported not in names:
                continue
            if use.named or given is None:
                kept.add(use.exported)
            else:
                users.setdefault(use.exported, set()).add(given)
        pending = {name: frozenset(paths) for name, paths in users.items() if name not in kept}
        return frozenset(kept), pending

    def _importers(self, origin: Path, names: frozenset[str]) -> dict[str, list[_Importer]] | None:
        """The uses of other modules' names in the files that spell one of ``names``, by the key of the
        module each use comes from (None: more than `MAX_DISK_FILES` files on disk).

        The files are the run's and those on disk under the repository ``origin`` is in. The uses are
        worked out once for each set of names and repository, not once for each module asking.
        """
        root = self.project.key(self._search_root(origin))
        disk = self._disk_files(root)
        if disk is None:
            return None
        index = self._indexes.get((names, root))
        if index is None:
            index = self._indexes[names, root] = {}
            run = self.project.given
            files: list[tuple[Path, Path | None]] = [
                (path, path) for path in self._spelling(names, "", run, lambda path: run[path])
            ]
            files += [(Path(path), None) for path in self._spelling(names, root, disk, _peek)]
            key = self.project.key
            for path, given in files:
                path_key = key(path)
                for use in self.project.uses(path):
                    index.setdefault(key(use.origin), []).append((path_key, use, given))
        return index

    def _spelling(
        self, names: frozenset[str], group: str, files: Iterable[_File], read: Callable[[_File], bytes]
    ) -> list[_File]:
        """Those of ``files`` (known as ``group``, their bytes by ``read``) that spell one of ``names``,
        searched once."""
        found = self._spells.get((names, group))
        if found is None:
            words = [name.encode() for name in names]
            found = self._spells[names, group] = [path for path in files if _spells(read(path), words)]
        return found

    def _search_root(self, path: Path) -> Path:
        """Where importers of ``path`` may be: its repository (the nearest directory above with `.git`),
        else the directory it is imported from (above its top-level package). Worked out once for each
        directory."""
        found = self._roots.get(path.parent)
        if found is None:
            found = self._roots[path.parent] = self._search_root_of(path)
        return found

    def _search_root_of(self, path: Path) -> Path:
        here = path.parent.absolute()
        for folder in (here, *here.parents):
            if os.path.exists(folder / ".git"):
                return folder
        folder = path.parent
        while self.project.is_file(folder / "__init__.py") and folder.parent != folder:
            folder = folder.parent
        return folder

    def _disk_files(self, root: str) -> list[str] | None:
        """The files under ``root`` (absolute and normal, as the files found are) that are not the run's
        (None: more than `MAX_DISK_FILES`)."""
        if root not in self._walks:
            found: list[str] | None = []
            run = self.project.by_key
            for path in _walk(root):
                if path in run:
                    continue
                assert found is not None
                found.append(path)
                if len(found) > MAX_DISK_FILES:
                    found = None
                    break
            self._walks[root] = found
        return self._walks[root]


def _walk(root: str) -> Iterator[str]:
    """The `.py` files and notebooks under ``root`` (not in VCS data, environments or caches), as strings:
    a repository can hold thousands, and only those that spell a name are looked at further."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in DEFAULT_EXCLUDED_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".py", NOTEBOOK_SUFFIX)):
                yield os.path.join(directory, name)


def _spells(data: bytes, words: list[bytes]) -> bool:
    return any(word in data for word in words)


def _peek(path: str) -> bytes:
    """The bytes of the file ``path`` on disk (not kept: most are looked at once); none if unreadable."""
    try:
        # Only regular files: a FIFO in the repository would block the run forever.
        return read_regular(path)
    except OSError:
        return b""
