"""Where a project's modules are: the run's own files first, then the disk, each read at most once."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from varmigrate.sources.io import read_regular


class ModuleFiles:
    """The run's files (path -> bytes), and how an import of one of them finds the file it names."""

    def __init__(self, files: Mapping[Path, bytes]) -> None:
        self.given = dict(files)
        self._read: dict[str, bytes | None] = {}
        self._exists: dict[str, bool] = {}
        self._keys: dict[Path | str, str] = {}

    @functools.cached_property
    def by_key(self) -> dict[str, Path]:
        """The run's files by absolute path (worked out only when an import is resolved)."""
        return {self.key(path): path for path in self.given}

    def key(self, path: Path | str) -> str:
        """`file_key` of ``path``, worked out once per path: the project view asks it of the same paths
        over and over (each module's uses, for each module whose imports may go)."""
        found = self._keys.get(path)
        if found is None:
            found = self._keys[path] = file_key(path)
        return found

    @functools.cached_property
    def root(self) -> Path:
        """The directory the run's files have in common."""
        return _common_directory(self.given)

    def resolve(self, importer: Path, module: str, level: int) -> Path | None:
        """The file of the project's module ``module`` (``level`` dots) as ``importer`` imports it."""
        parts = module.split(".") if module else []
        if level:
            base = importer.parent
            for _ in range(level - 1):
                base = base.parent
            return self._module_file(base, parts) if parts else self._package(base)
        if not parts or parts[0] in ("torch", "__future__"):
            return None
        for base in self._bases(importer):
            found = self._module_file(base, parts)
            if found is not None:
                return found
        return None

    def _package(self, directory: Path) -> Path | None:
        init = directory / "__init__.py"
        return init if self.is_file(init) else None

    def _module_file(self, base: Path, parts: list[str]) -> Path | None:
        folder = base.joinpath(*parts)
        module = folder.with_name(folder.name + ".py")
        if self.is_file(module):
            return module
        return self._package(folder)

    def _bases(self, importer: Path) -> list[Path]:
        """Where an absolute import of ``importer`` is looked for: its directory, the directory above its
        top-level package, the run's common directory."""
        bases = [importer.parent]
        folder = importer.parent
        while self.is_file(folder / "__init__.py") and folder.parent != folder:
            folder = folder.parent
        if folder not in bases:
            bases.append(folder)
        if self.root not in bases and self.key(importer).startswith(os.path.join(self.key(self.root), "")):
            bases.append(self.root)
        return bases

    def is_file(self, path: Path) -> bool:
        key = self.key(path)
        if key in self.by_key:
            return True
        found = self._exists.get(key)
        if found is None:
            found = self._exists[key] = os.path.isfile(path)
        return found

    def data(self, path: Path) -> bytes | None:
        key = self.key(path)
        given = self.by_key.get(key)
        if given is not None:
            return self.given[given]
        if key not in self._read:
            try:
                # Only regular files: a FIFO named like a module would block the run forever.
                self._read[key] = read_regular(path)
            except OSError:
                self._read[key] = None
        return self._read[key]


def file_key(path: Path | str) -> str:
    """How the project view knows a file: its path, absolute and normal."""
    return os.path.abspath(path)


def _common_directory(files: Iterable[Path]) -> Path:
    directories = {os.path.dirname(os.path.abspath(path)) for path in files}
    if not directories:
        return Path(os.getcwd())
    try:
        return Path(os.path.commonpath(sorted(directories)))
    except ValueError:  # paths on different drives
        return Path(os.getcwd())
