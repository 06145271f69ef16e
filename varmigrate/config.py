"""Configuration files, and their merge with the command line into the settings of one run.

Where: the first of ``.varmigrate.toml``, ``varmigrate.toml`` (keys at the top level) and
``pyproject.toml`` (keys under ``[tool.varmigrate]``; a pyproject.toml without that table is passed
over) found in the working directory or, failing that, the nearest of its parents. ``--config PATH``
reads exactly that file; ``--isolated`` reads none. Paths and globs in a file are relative to the file's
directory.

Precedence, lowest first: defaults, the file, the command line. Rule selection works in layers, like
ruff's: within a layer ``select`` (when given) replaces what earlier layers chose, ``extend-select``
adds, ``ignore`` removes (and wins over that layer's selections); so ``--ignore`` adds to the file's
ignores, and ``--select`` starts afresh, dropping the file's selection and ignores alike.
``per-file-ignores`` then removes rules per file, whatever was selected.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from varmigrate._lazy import lazy_getattr
from varmigrate.engine import Settings
from varmigrate.model import OutputFormat
from varmigrate.rules import DEFAULT_RULES, RuleSpec, UnknownRuleError, select_rules
from varmigrate.sources.discovery import DEFAULT_EXCLUDED_DIRS, Excluder, relative_to

if TYPE_CHECKING:
    from varmigrate.per_file_ignores import PerFileIgnore

# `PerFileIgnore` is loaded from its module on first use: only a run with per-file ignores needs it.
__getattr__ = lazy_getattr(__name__, {"PerFileIgnore": "varmigrate.per_file_ignores"}, globals())

# Searched in this order in each directory; the first that applies wins (ruff's order).
CONFIG_FILES = (".varmigrate.toml", "varmigrate.toml", "pyproject.toml")
PYPROJECT = "pyproject.toml"
TABLE = ("tool", "varmigrate")


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


# -- one file --------------------------------------------------------------------------------------


class FileOptions(NamedTuple):
    """The options one configuration file sets, validated; None (or empty) where it sets nothing."""

    path: Path
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[PerFileIgnore, ...] = ()
    unsafe_fixes: bool | None = None
    output_format: OutputFormat | None = None
    respect_gitignore: bool | None = None
    force_exclude: bool | None = None
    show_fixes: bool | None = None

    @property
    def root(self) -> Path:
        """The directory that paths and globs in the file are relative to."""
        return Path(os.path.abspath(self.path)).parent


def _strings(name: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"`{name}` must be a list of strings, not {_describe(value)}")
    return tuple(value)


def _selectors(name: str, value: object) -> tuple[str, ...]:
    selectors = _strings(name, value)
    try:
        select_rules(selectors)
    except UnknownRuleError as error:
        raise TypeError(f"`{name}`: {error}") from None
    return selectors


def _boolean(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be true or false, not {_describe(value)}")
    return value


def _output_format(name: str, value: object) -> OutputFormat:
    choices = ", ".join(f.value for f in OutputFormat)
    if not isinstance(value, str) or value not in {f.value for f in OutputFormat}:
        raise TypeError(f"`{name}` must be one of {choices}, not {_describe(value)}")
    return OutputFormat(value)


def _per_file_ignores(name: str, value: object) -> tuple[PerFileIgnore, ...]:
    if not isinstance(value, dict):
        raise TypeError(f"`{name}` must be a table of glob = [rules], not {_describe(value)}")
    from varmigrate.per_file_ignores import PerFileIgnore

    return tuple(
        PerFileIgnore.build(pattern, frozenset(select_rules(_selectors(f'{name}."{pattern}"', rules))))
        for pattern, rules in value.items()
    )


def _command_line_ignores(entries: Sequence[str]) -> tuple[PerFileIgnore, ...]:
    """``--per-file-ignores PATTERN:RULES`` entries; raises :class:`ValueError` for a malformed one."""
    found = []
    for entry in entries:
        pattern, colon, rules = entry.rpartition(":")
        if not colon or not pattern or not rules.strip():
            raise ConfigError(
                f"--per-file-ignores: expected PATTERN:RULES (e.g. 'tests/**:VM201'), not {entry!r}"
            )
        selectors = [rule.strip() for rule in rules.split(",") if rule.strip()]
        from varmigrate.per_file_ignores import PerFileIgnore

        found.append(PerFileIgnore.build(pattern, frozenset(select_rules(selectors))))
    return tuple(found)


def _describe(value: object) -> str:
    """The TOML type of ``value`` (and the value, when short), for error messages."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, list):
        return "an array"
    return "a table" if isinstance(value, dict) else f"a {type(value).__name__}"


# Each key: the FileOptions field it sets and the reader that validates its value.
_KEYS: dict[str, tuple[str, Callable[[str, object], Any]]] = {
    "select": ("select", _selectors),
    "extend-select": ("extend_select", _selectors),
    "ignore": ("ignore", _selectors),
    "exclude": ("exclude", _strings),
    "extend-exclude": ("extend_exclude", _strings),
    "per-file-ignores": ("per_file_ignores", _per_file_ignores),
    "unsafe-fixes": ("unsafe_fixes", _boolean),
    "output-format": ("output_format", _output_format),
    "respect-gitignore": ("respect_gitignore", _boolean),
    "force-exclude": ("force_exclude", _boolean),
    "show-fixes": ("show_fixes", _boolean),
}


def _read_toml(path: Path) -> dict[str, Any]:
    # Imported here: a run without a configuration file (or with --isolated) parses no TOML.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib

    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except OSError as error:
        raise ConfigError(f"{_display(path)}: cannot read: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{_display(path)}: invalid TOML: {error}") from None


def _table(path: Path, data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The varmigrate table of a parsed file: [tool.varmigrate] of a pyproject.toml, else the file."""
    if path.name != PYPROJECT:
        return data
    tool = data.get(TABLE[0])
    table = tool.get(TABLE[1]) if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{_display(path)}: `tool.varmigrate` must be a table")
    return table


def read_options(path: Path) -> FileOptions:
    """The options in the configuration file at ``path``. Raises :class:`ConfigError`."""
    table = _table(path, _read_toml(path)) or {}
    prefix = "tool.varmigrate." if path.name == PYPROJECT else ""
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KEYS:
            raise ConfigError(f"{_display(path)}: unknown key `{prefix}{key}`{_hint(path, key)}")
        name, reader = _KEYS[key]
        try:
            values[name] = reader(prefix + key, value)
        except TypeError as error:
            raise ConfigError(f"{_display(path)}: {error}") from None
    return FileOptions(path, **values)


def _hint(path: Path, key: str) -> str:
    if key == TABLE[0] and path.name != PYPROJECT:
        return f" ({path.name} takes the keys at the top level, without [tool.varmigrate])"
    import difflib

    close = difflib.get_close_matches(key, list(_KEYS), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def find_config_file(start: Path | None = None) -> Path | None:
    """The configuration file for a run in ``start`` (default: the working directory): the first file
    of :data:`CONFIG_FILES` that applies in ``start`` or, failing that, its nearest parent."""
    directory = Path(os.path.abspath(start or Path.cwd()))
    for folder in (directory, *directory.parents):
        for name in CONFIG_FILES:
            candidate = folder / name
            if not candidate.is_file():
                continue
            if name != PYPROJECT or _table(candidate, _read_toml(candidate)) is not None:
                return candidate
    return None


# -- the run ---------------------------------------------------------------------------------------


class Overrides(NamedTuple):
    """What the command line (or a caller of the API) sets; None (or empty) where it sets nothing."""

    select: Sequence[str] | None = None
    extend_select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    # .gitignore-style patterns relative to the working directory, added to the configured ones.
    exclude: Sequence[str] = ()
    unsafe_fixes: bool | None = None
    output_format: OutputFormat | None = None
    respect_gitignore: bool | None = None
    force_exclude: bool | None = None
    show_fixes: bool | None = None
    # `PATTERN:RULES` entries (`--per-file-ignores 'tests/**:VM201'`), added to the configured ones.
    per_file_ignores: Sequence[str] = ()


class Configuration(NamedTuple):
    """The resolved settings of one run: the file's options under the command line's."""

    # The directory patterns of the file are relative to (the working directory without a file).
    root: Path
    # The configuration file read, if any.
    path: Path | None = None
    rules: tuple[RuleSpec, ...] = DEFAULT_RULES
    per_file_ignores: tuple[PerFileIgnore, ...] = ()
    unsafe_fixes: bool = False
    # None: the command line decides by the terminal (`full` on one, else `concise`).
    output_format: OutputFormat | None = None
    respect_gitignore: bool = True
    force_exclude: bool = False
    # List the fixes per file and rule after the findings (`--show-fixes`).
    show_fixes: bool = False
    excluded_dirs: frozenset[str] = DEFAULT_EXCLUDED_DIRS
    # Patterns relative to ``root`` (from the file) and to the working directory (command line).
    exclude: tuple[str, ...] = ()
    extra_exclude: tuple[str, ...] = ()

    def settings_for(self, path: str | os.PathLike[str] | None) -> Settings:
        """The engine settings for the file at ``path``: the run's rules minus its per-file ignores."""
        rules = self.rules
        if path is not None and self.per_file_ignores:
            relative = relative_to(Path(path), self.root)
            entries = [entry for entry in self.per_file_ignores if entry.matches(relative)]
            ignored = {rule for entry in entries for rule in entry.rules}
            rules = tuple(rule for rule in rules if rule not in ignored)
        return Settings(rules=rules, unsafe_fixes=self.unsafe_fixes)

    def excluder(self) -> Excluder:
        """The excluder for discovery: default directory names, the file's and the command line's patterns."""
        return Excluder(
            self.extra_exclude, anchored=[(self.root, self.exclude)], excluded_dirs=self.excluded_dirs
        )


# A layer of rule selection: (select, extend-select, ignore).
_Layer = tuple[Sequence[str] | None, Sequence[str], Sequence[str]]


def _chosen(layers: Sequence[_Layer]) -> tuple[RuleSpec, ...]:
    """The rules selected by layers of (select, extend-select, ignore), later layers on top."""
    chosen = set(select_rules())
    for select, extend, ignore in layers:
        if select is not None:
            chosen = set(select_rules(select))
        chosen |= set(select_rules(extend))
        chosen -= set(select_rules(ignore))
    return tuple(sorted(chosen, key=lambda rule: rule.code))


def resolve(options: FileOptions | None, overrides: Overrides = Overrides()) -> Configuration:
    """Merge a file's options (None: no file) and the command line's into the run's configuration.

    Raises :class:`~varmigrate.rules.UnknownRuleError` for an unknown selector in ``overrides``.
    """
    file = options or FileOptions(Path.cwd() / PYPROJECT)
    rules = _chosen(
        [
            (file.select, file.extend_select, file.ignore),
            (overrides.select, overrides.extend_select, overrides.ignore),
        ]
    )

    def pick(cli: Any, configured: Any, default: Any) -> Any:
        return cli if cli is not None else configured if configured is not None else default

    return Configuration(
        path=options.path if options else None,
        root=file.root,
        rules=rules,
        per_file_ignores=(*file.per_file_ignores, *_command_line_ignores(overrides.per_file_ignores)),
        unsafe_fixes=pick(overrides.unsafe_fixes, file.unsafe_fixes, False),
        output_format=pick(overrides.output_format, file.output_format, None),
        respect_gitignore=pick(overrides.respect_gitignore, file.respect_gitignore, True),
        force_exclude=pick(overrides.force_exclude, file.force_exclude, False),
        show_fixes=pick(overrides.show_fixes, file.show_fixes, False),
        # `exclude` replaces the default list (ruff's meaning); `extend-exclude` adds to it.
        excluded_dirs=DEFAULT_EXCLUDED_DIRS if file.exclude is None else frozenset(),
        exclude=(*(file.exclude or ()), *file.extend_exclude),
        extra_exclude=tuple(overrides.exclude),
    )


def load_configuration(
    *,
    config: str | os.PathLike[str] | None = None,
    isolated: bool = False,
    overrides: Overrides = Overrides(),
) -> Configuration:
    """The configuration of a run: ``config`` if given, else the file found from the working directory
    (none with ``isolated``), under ``overrides``. Raises :class:`ConfigError` for an unusable file and
    :class:`~varmigrate.rules.UnknownRuleError` for an unknown selector in ``overrides``."""
    if isolated:
        return resolve(None, overrides)
    path = Path(config) if config is not None else find_config_file()
    if path is not None and config is not None and not path.is_file():
        raise ConfigError(f"{config}: no such configuration file")
    return resolve(read_options(path) if path is not None else None, overrides)


__all__ = [
    "CONFIG_FILES",
    "ConfigError",
    "Configuration",
    "FileOptions",
    "Overrides",
    "PerFileIgnore",
    "find_config_file",
    "load_configuration",
    "read_options",
    "resolve",
]
