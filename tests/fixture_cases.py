"""Fixture folders: ``fixtures/<CODE>/<what_it_proves>/`` (input, expected, diagnostics, case.toml)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from varmigrate.engine import Settings
from varmigrate.model import Applicability, Diagnostic

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@dataclass(frozen=True)
class Case:
    """One fixture folder."""

    folder: Path
    unsafe_fixes: bool
    gradients: str  # "identical" (the default) or "differ"
    select: tuple[str, ...] | None
    # The input runs with removed APIs given their PyTorch 0.3 meaning (`baseline = "pytorch-0.3"`).
    legacy_baseline: bool = False

    @property
    def id(self) -> str:
        return self.folder.relative_to(FIXTURES).as_posix()

    @property
    def input(self) -> Path:
        return self.folder / "input.py"

    @property
    def expected(self) -> Path:
        """expected.py when present; otherwise input.py (the fix must change nothing)."""
        path = self.folder / "expected.py"
        return path if path.exists() else self.input

    @property
    def diagnostics(self) -> Path:
        return self.folder / "diagnostics.txt"

    @property
    def settings(self) -> Settings:
        from varmigrate.rules import select_rules

        if self.select is not None:
            return Settings(rules=select_rules(self.select), unsafe_fixes=self.unsafe_fixes)
        # The default rules, and the folder's own rule when it is not among them (`--extend-select`).
        rules = {*select_rules(), *select_rules([self.folder.parent.name])}
        return Settings(
            rules=tuple(sorted(rules, key=lambda rule: rule.code)), unsafe_fixes=self.unsafe_fixes
        )

    @property
    def runnable(self) -> bool:
        return "def case(" in self.input.read_text(encoding="utf-8")


def case_settings(folder: Path) -> dict[str, object]:
    """The settings in ``folder``'s case.toml (none without one)."""
    toml = folder / "case.toml"
    return tomllib.loads(toml.read_text(encoding="utf-8")) if toml.exists() else {}


def load_cases() -> list[Case]:
    """Every fixture folder that has an input.py, sorted by id."""
    cases = []
    for input_file in sorted(FIXTURES.glob("VM*/*/input.py")):
        folder = input_file.parent
        config = case_settings(folder)
        select = config.get("select")
        cases.append(
            Case(
                folder=folder,
                unsafe_fixes=bool(config.get("unsafe_fixes", False)),
                gradients=str(config.get("gradients", "identical")),
                select=tuple(select) if isinstance(select, list) else None,
                legacy_baseline=config.get("baseline") == "pytorch-0.3",
            )
        )
    return cases


def render_diagnostic(diagnostic: Diagnostic, threshold: Applicability) -> str:
    """``line:col: CODE [*] message`` (``[*]`` when a fix applies at ``threshold``)."""
    marker = " [*]" if diagnostic.fix_for(threshold) is not None else ""
    return f"{diagnostic.start}: {diagnostic.code}{marker} {diagnostic.message}"
