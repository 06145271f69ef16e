from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests: a few examples in the everyday run, the full search in `make test-full` (and CI).
# HYPOTHESIS_PROFILE picks one; generated programs are slow to fix twice, so no deadline.
PROPERTY_SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("default", max_examples=20, **PROPERTY_SETTINGS)
settings.register_profile("full", max_examples=200, **PROPERTY_SETTINGS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-fixtures",
        action="store_true",
        default=False,
        help="rewrite fixtures' expected.py and diagnostics.txt from the current output (review the diff)",
    )


def pytest_report_header() -> str:
    return f"hypothesis profile: {settings.get_current_profile_name()} ({settings().max_examples} examples)"


@pytest.fixture
def update_fixtures(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-fixtures"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory for the run, without colour settings leaking in from the outside."""
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first (pre-commit's group, then every test that starts a program), so that the
    workers finish together on short ones instead of one of them ending the run alone on a long one."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("xdist_group") is not None:
            return 0
        return 1 if item.get_closest_marker("slow") is not None else 2

    items.sort(key=rank)
