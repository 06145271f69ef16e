"""The project view: what imports between a tree's own modules mean for each of its files.

`model.py` does `from torch.autograd import Variable`; `train.py` does `from model import *` and calls
`Variable(...)`. Alone, train.py's `Variable` is an unknown name, and once `fix` has rewritten model.py
its import of `Variable` looks unused. Across the tree, train.py's `Variable` is torch's, and model.py's
import is what train.py runs on. :func:`project_view` works this out for the files of a run and gives
each file the facts as a :class:`~varmigrate.model.ProjectImports`, which the engine reads from its
settings: findings and fixes follow the name into train.py, and the import stays where another module
needs it.

Cheap by design, since every run of ``check`` pays for it:

- only files that can use such a name are looked at: those whose bytes spell `Variable` (or an alias
  another module gives it), and those that never spell `torch` but hold another rule's words
  (`.data[0]`, `volatile`), which torch may reach through a module of the project;
- of those, only the import statements are read: each line that starts an import, with its
  continuation lines, is parsed with CPython's parser, never the whole file, and never with LibCST;
- a module is read (from the run's files, else from disk) only when an import names it, and only once.

How an import is resolved: a relative import from the importer's package, as Python does; an absolute
one from the importer's directory (a script's `sys.path[0]`), the directory above its top-level package,
and the directory the run's files have in common. A module's exports are its `__all__` when present,
else its public top-level names. Names are followed through chains of modules (`from b import *` where b
does `from a import *`).

Which imports the clean-up keeps (``fix`` only) is worked out in ``kept_imports.py``; what is read of
each file, in ``import_scan.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from varmigrate.model import ProjectImports
from varmigrate.pipeline.import_scan import (
    STAR_IMPORT,
    ModuleScan,
    autograd_aliases,
    owner,
    read_module,
    rebinds,
    torch_bindings,
    variable_aliases,
)
from varmigrate.pipeline.kept_imports import KeptImports
from varmigrate.pipeline.module_files import ModuleFiles
from varmigrate.pipeline.screen import other_rule_words, spells_variable
from varmigrate.rules.torch_api import VARIABLE_STAR_MODULES

if TYPE_CHECKING:
    from varmigrate.engine.settings import Settings


@dataclass(frozen=True)
class _Use:
    """A name that is torch's `Variable` in a module, with where it comes from and how it is written."""

    # As `ProjectImports.variable` has it: a bare name from a star import, or a qualified name.
    name: str
    origin: Path
    # The name in the origin module whose import binds it there.
    exported: str
    # Written in an import statement here (`from model import Variable`): the importer's import of it
    # stays whatever is fixed, so the origin's import must stay too.
    named: bool
    spellings: tuple[str, ...]
    # Not `Variable` but `torch.autograd` itself (`import torch.autograd as ag` in the origin), which the
    # clean-up removes as well when its module no longer uses it.
    module: bool = False


@dataclass(frozen=True)
class _Origin:
    """Where a top-level name that the clean-up may remove comes from."""

    # The module whose import binds it, and its name there.
    path: Path
    name: str
    # `torch.autograd` itself, not `Variable`.
    module: bool = False


@dataclass
class ProjectView:
    """The facts :func:`project_view` found, per file of the run (by path as given)."""

    imports: dict[Path, ProjectImports] = field(default_factory=dict)
    # Modules of the run whose kept names may go after all: name -> the files of the run whose uses
    # decide (the import goes when none of them uses the name once the run has fixed them).
    pending: dict[Path, dict[str, frozenset[Path]]] = field(default_factory=dict)

    def settings_for(self, path: Path) -> ProjectImports | None:
        """The facts for ``path`` (None: nothing beyond the file itself)."""
        return self.imports.get(path)


def project_view(files: Mapping[Path, bytes], *, fixes: bool) -> ProjectView:
    """The project view of the run whose files (by path as given) hold ``files``.

    With ``fixes``, also which imports of torch's `Variable` other modules need.
    """
    project = Project(files, fixes=fixes)
    view = ProjectView()
    for path in project.candidates():
        facts = project.facts(path)
        if facts.variable or facts.reaches_torch:
            view.imports[path] = facts
    if fixes:
        for path, (kept, pending) in KeptImports(project).needed().items():
            view.imports[path] = _with_kept(view.imports.get(path), kept | frozenset(pending))
            if pending:
                view.pending[path] = pending
    return view


def in_project(path: Path, data: bytes, settings: Settings, *, fixes: bool) -> Settings:
    """``settings`` for the file ``path`` holding ``data`` (source read from stdin, say), in the project
    the modules beside it on disk make (an import other files use is kept: nothing waits for them)."""
    facts = project_view({path: data}, fixes=fixes).settings_for(path)
    return settings if facts is None else settings.in_project(facts)


def _with_kept(facts: ProjectImports | None, kept: frozenset[str]) -> ProjectImports:
    facts = facts or ProjectImports()
    return ProjectImports(facts.variable, facts.spellings, facts.reaches_torch, kept)


def without_names(facts: ProjectImports, names: Iterable[str]) -> ProjectImports:
    """``facts`` with ``names`` no longer kept for other modules."""
    kept = facts.imported_elsewhere.difference(names)
    return ProjectImports(facts.variable, facts.spellings, facts.reaches_torch, kept)


class Project(ModuleFiles):
    """The run's files, and the modules they import, read on demand."""

    def __init__(self, files: Mapping[Path, bytes], *, fixes: bool = False) -> None:
        super().__init__(files)
        self.fixes = fixes
        self._modules: dict[str, ModuleScan | None] = {}
        self._bindings: dict[str, dict[str, _Origin]] = {}
        self._torch: dict[str, bool] = {}
        self._uses: dict[str, list[_Use]] = {}
        # The run's files that spell `Variable`, and the other names `Variable as V` gives it anywhere.
        self.mentions = {path for path, data in files.items() if spells_variable(data)}
        aliases = {alias for path in self.mentions for alias in variable_aliases(files[path])}
        self.words = frozenset({"Variable", *aliases})
        # With fixes, also the names `torch.autograd` has (`import torch.autograd as ag`), which the
        # clean-up removes too: a module that uses one through a star import needs it kept.
        self.autograd = {path for path, data in files.items() if fixes and b"autograd" in data}
        modules = {alias for path in self.autograd for alias in autograd_aliases(files[path])}
        self.names = self.words | modules

    # -- which files need facts -------------------------------------------------------------------------

    def candidates(self) -> Iterator[Path]:
        """The run's files that may use a name another module binds (see the module's docstring)."""
        aliases = [word.encode() for word in self.words - {"Variable"}]
        for path, data in self.given.items():
            if path in self.mentions or any(alias in data for alias in aliases) or other_rule_words(data):
                yield path

    def facts(self, path: Path) -> ProjectImports:
        """What imports of the project's modules bind in the file ``path``."""
        uses = [use for use in self.uses(path) if not use.module]
        module = self.module(path)
        reaches = bool(uses) or (
            module is not None
            and not module.spells_torch
            and any(self._reaches_torch(target) for target in self._targets(module))
        )
        variable = tuple(sorted({(use.name, _relative(use.origin, path)) for use in uses}))
        spellings = frozenset(spelling for use in uses for spelling in use.spellings)
        return ProjectImports(variable=variable, spellings=spellings, reaches_torch=reaches)

    def uses(self, path: Path) -> list[_Use]:
        """The names torch's `Variable` has in ``path`` through imports of the project's modules."""
        key = self.key(path)
        found = self._uses.get(key)
        if found is None:
            module = self.module(path)
            found = self._uses[key] = [] if module is None else list(self._find_uses(module))
        return found

    def _find_uses(self, module: ModuleScan) -> Iterator[_Use]:
        star: dict[str, _Origin | None] = {}
        for item in module.imports:
            prefix = "." * item.level + item.module
            if item.star:
                target = self.resolve(module.path, item.module, item.level)
                if target is not None:
                    exported = self.bindings(target)
                    given = self.star_names(target)
                    for name in [*star, *given]:
                        if name in given:
                            star[name] = exported[name]
                        elif self._binds_otherwise(target, name):
                            star[name] = None
                elif item.level == 0 and item.module in VARIABLE_STAR_MODULES:
                    star["Variable"] = None  # the engine knows torch's own star import
                else:
                    star.clear()  # a module we cannot see may bind anything
            elif item.is_from:
                for _, local in item.names:
                    star.pop(local, None)
                named = [(name, local) for name, local in item.names if name in self.names]
                target = self.resolve(module.path, item.module, item.level) if named else None
                exported = self.bindings(target) if target is not None else {}
                for name, local in item.names:
                    qualified = f"{prefix}.{name}" if item.module else prefix + name
                    if name in exported:
                        bound = exported[name]
                        yield _Use(qualified, bound.path, bound.name, True, (local, name), bound.module)
                    elif self._writes_attribute(module, local):
                        # `from pkg import model`: the module's attributes (`model.Variable`).
                        sub = self.resolve(module.path, f"{item.module}.{name}".lstrip("."), item.level)
                        if sub is not None:
                            yield from self._attributes(module, sub, qualified, local)
            else:
                for part in [item.module] if item.asname else _prefixes(item.module):
                    local = item.asname or part
                    found = (
                        self.resolve(module.path, part, 0) if self._writes_attribute(module, local) else None
                    )
                    if found is not None:
                        yield from self._attributes(module, found, part, local)
        for name, origin in star.items():
            if origin is not None:
                yield _Use(name, origin.path, origin.name, False, (name,), origin.module)

    def _writes_attribute(self, module: ModuleScan, local: str) -> bool:
        """Whether ``module`` writes `<local>.Variable` (or an alias): only then is `local` looked up."""
        if module.attributes is None:
            module.attributes = set()
            text = module.text
            words = "|".join(map(re.escape, sorted(self.words)))
            for match in re.finditer(rf"(?:{words})\b", text):
                name = owner(text, match.start())
                if name:
                    module.attributes.add(name)
        return local in module.attributes

    def _attributes(self, module: ModuleScan, target: Path, qualified: str, local: str) -> Iterator[_Use]:
        """The module ``target``'s `Variable` names that ``module`` writes as its attributes (`model.Variable`
        where ``local`` is `model`); ``qualified`` is the target's qualified name there."""
        for name, bound in self.variables(target).items():
            if re.search(rf"\b{re.escape(local)}\s*\.\s*{re.escape(name)}\b", module.text):
                yield _Use(f"{qualified}.{name}", bound.path, bound.name, False, (name,))

    # -- modules ----------------------------------------------------------------------------------------

    def module(self, path: Path) -> ModuleScan | None:
        """The imports, `__all__` and torch mention of the file ``path`` (None: it cannot be read)."""
        key = self.key(path)
        if key in self._modules:
            return self._modules[key]
        data = self.data(path)
        found = None if data is None else read_module(path, data)
        self._modules[key] = found
        return found

    def variables(self, path: Path) -> dict[str, _Origin]:
        """Top-level names of the module ``path`` that are torch's `Variable`, with where they come from."""
        return {name: bound for name, bound in self.bindings(path).items() if not bound.module}

    def bindings(self, path: Path) -> dict[str, _Origin]:
        """Top-level names of the module ``path`` bound to torch's `Variable` (or, when fixing, to
        `torch.autograd`), each with its origin: the module whose import binds it, and its name there."""
        key = self.key(path)
        found = self._bindings.get(key)
        if found is not None:
            return found
        self._bindings[key] = {}  # a cycle of imports ends here
        found = {}
        data = self.data(path)
        if data is None or not (
            any(word.encode() in data for word in self.names)
            or STAR_IMPORT.search(data)
            or path in self.autograd
        ):
            return found  # it imports none of the names by name, nor anything by a star import
        module = self.module(path)
        for item in module.imports if module is not None else ():
            torch_names = torch_bindings(item, modules=self.fixes)
            if torch_names is not None:
                for local, variable in torch_names.items():
                    if variable is None:
                        found.pop(local, None)
                    else:
                        found[local] = _Origin(path, local, module=not variable)
                continue
            if not item.is_from:
                continue
            if not item.star and not any(name in self.names for name, _ in item.names):
                for _, local in item.names:
                    found.pop(local, None)
                continue
            target = self.resolve(path, item.module, item.level)
            if target is None:
                for _, local in item.names:
                    found.pop(local, None)
            elif item.star:
                exported = self.bindings(target)
                for name in self.star_names(target):
                    found[name] = exported[name]
            else:
                exported = self.bindings(target)
                for name, local in item.names:
                    if name in exported:
                        found[local] = exported[name]
                    else:
                        found.pop(local, None)
        if module is not None:
            found = {name: bound for name, bound in found.items() if not rebinds(module.text, name)}
        self._bindings[key] = found
        return found

    def star_names(self, path: Path) -> frozenset[str]:
        """The names of ``path``'s `Variable`s that a star import binds (in `__all__`, else public)."""
        module = self.module(path)
        names = self.bindings(path).keys()
        if module is not None and module.exports is not None:
            return frozenset(names & module.exports)
        return frozenset(name for name in names if not name.startswith("_"))

    def _binds_otherwise(self, path: Path, name: str) -> bool:
        """Whether the module ``path`` binds ``name`` to something other than torch's `Variable`."""
        module = self.module(path)
        if module is None:
            return False
        if module.exports is not None and name not in module.exports:
            return False
        imported = any(local == name for item in module.imports for _, local in item.names)
        return imported or rebinds(module.text, name)

    def _reaches_torch(self, path: Path, seen: frozenset[str] = frozenset()) -> bool:
        """Whether the module ``path`` spells torch, or imports a module of the project that does."""
        key = self.key(path)
        if key in self._torch:
            return self._torch[key]
        module = self.module(path)
        if module is None or key in seen:
            return False
        found = module.spells_torch or any(
            self._reaches_torch(target, seen | {key}) for target in self._targets(module)
        )
        self._torch[key] = found
        return found

    def _targets(self, module: ModuleScan) -> Iterator[Path]:
        """The project's modules that ``module`` imports."""
        for item in module.imports:
            target = self.resolve(module.path, item.module, item.level)
            if target is not None:
                yield target


def _prefixes(dotted: str) -> list[str]:
    """`a.b.c` -> `a`, `a.b`, `a.b.c`: the modules `import a.b.c` makes reachable from its name."""
    parts = dotted.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _relative(origin: Path, importer: Path) -> str:
    """``origin`` relative to ``importer``'s directory, with forward slashes."""
    return os.path.relpath(os.path.abspath(origin), os.path.abspath(importer.parent)).replace(os.sep, "/")
