"""Names a package exports without importing their modules until first use (PEP 562)."""

from __future__ import annotations

# `typing` and `collections.abc` cost milliseconds at start-up; only mypy needs them (it reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


def lazy_getattr(package: str, exports: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps a name to the module that defines it.

    The value is stored in ``namespace`` (the package's globals) on first use, so it is looked up once.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__


def lazy_dir(exports: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[], list[str]]:
    """A module ``__dir__`` that lists the names ``exports`` gives besides those already defined."""

    def __dir__() -> list[str]:
        return sorted([*namespace, *exports])

    return __dir__
