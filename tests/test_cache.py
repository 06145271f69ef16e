"""The results cache: a hit is the same report, any change of content, settings or version misses, a damaged
entry is a miss, and `clean` removes it. Real files, real runs of `main([...])`.

Where a test must tell a hit from a miss, it plants an entry the engine could never produce (a VM999
finding) under the key of the file's content: seeing it proves the cache was read, not seeing it proves
it was not.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import write

import varmigrate._version
from varmigrate.cache import CACHE_DIR, CACHEDIR_TAG, MAX_LISTS, Cache, _checksum
from varmigrate.cli import main
from varmigrate.config import load_configuration
from varmigrate.model import Applicability, Diagnostic, Edit, FileError, Fix, Location
from varmigrate.pipeline import FileResult, Job, Mode
from varmigrate.sources.discovery import file_kind

FIXTURES = Path(__file__).parent.parent / "fixtures"
LEGACY = (
    "import torch\nfrom torch.autograd import Variable\na = Variable(torch.ones((2,2)), requires_grad=True)\n"
)
FIXED = "import torch\na = torch.ones((2,2), requires_grad=True)\n"
# A finding whose only fix is unsafe: `fix` without --unsafe-fixes changes nothing.
DATA_INDEX = "import torch\ntotal = loss.data[0]\n"
PY2 = "import torch\nfrom torch.autograd import Variable\nprint Variable(x)\n"
CLEAN = "import torch\nx = torch.ones(2)\n"
PLANTED = "planted by the test"


def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main([*args, "--isolated", "--output-format", "concise"])
    return code, capsys.readouterr().out


def entries(root: Path) -> list[Path]:
    return sorted(path for path in (root / CACHE_DIR).glob("*/*") if not path.name.startswith("."))


def plant(root: Path, path: Path, *, fix: Applicability | None = None, mode: Mode = Mode.CHECK) -> None:
    """Store a VM999 finding (with a fix of ``fix``'s kind, if given) as the result of ``path``'s content."""
    settings = load_configuration(isolated=True).settings_for(path)
    fixes = ()
    if fix is not None:
        edit = Edit("planted", Location(1, 1), Location(1, 1), 0, 0)
        fixes = (Fix("Plant", fix, (edit,)),)
    finding = Diagnostic("VM999", "planted", PLANTED, Location(1, 1), Location(1, 2), fixes)
    cache = Cache.in_project(root)
    key = cache.key(path.read_bytes(), Job(settings, mode), file_kind(path.name))
    assert key is not None
    cache.put(key, FileResult("", diagnostics=[finding], lines={(None, 1): "import torch"}))


# -- hits ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["full", "json"])
def test_a_cached_run_gives_the_identical_report(
    project: Path, capsys: pytest.CaptureFixture[str], output_format: str
) -> None:
    write(project / "a.py", LEGACY)
    write(project / "pkg" / "b.py", DATA_INDEX)
    write(project / "py2.py", PY2)
    write(project / "clean.py", CLEAN)
    write(project / "no_torch.py", "x = 1\n")
    # Latin-1 without a coding cookie: a decode error, cached like a finding.
    (project / "latin.py").write_bytes("import torch\n# caf\xe9\n".encode("latin-1"))
    shutil.copy(FIXTURES / "notebooks" / "autograd_tutorial" / "input.ipynb", project / "nb.ipynb")
    argv = ["check", "--isolated", "--output-format", output_format, "--unsafe-fixes"]

    outputs = []
    for _ in range(2):
        assert main(argv) == 2  # py2.py does not parse
        outputs.append(capsys.readouterr())
    assert outputs[0] == outputs[1]
    assert "VM201" in outputs[0].out
    assert "cell" in outputs[0].out
    assert main([*argv, "--no-cache"]) == 2
    assert capsys.readouterr() == outputs[0]
    # One entry per file that spells torch (clean ones included), none for no_torch.py.
    assert len(entries(project)) == 6


def test_a_planted_entry_is_what_check_reports(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project / "a.py", LEGACY)
    plant(project, path)
    assert run("check", "a.py", capsys=capsys) == (
        1,
        f"a.py:1:1: VM999 {PLANTED}\nFound 1 finding in 1 file.\n",
    )


def test_an_entry_reads_back_as_the_result_stored(project: Path) -> None:
    edit = Edit("x", Location(2, 1), Location(2, 4), 14, 17)
    fixes = (Fix("Plant", Applicability.UNSAFE, (edit,)),)
    finding = Diagnostic("VM999", "planted", PLANTED, Location(2, 1), Location(2, 9), fixes, cell=3)
    error = FileError("", "cannot parse: invalid syntax", Location(4, 7), cell=2)
    stored = FileResult(
        "",
        diagnostics=[finding],
        errors=[error],
        fixed=2,
        fixed_codes={"VM001": 2},
        changed=True,
        written=True,
        diff="--- a.py\n+++ a.py\n",
        lines={(3, 2): "import torch", (None, 4): "print x"},
        noqa_added=1,
        warnings=[error._replace(location=None, cell=None)],
        internal_error=True,
    )
    key = f"{'0' * 24}/{'1' * 40}.py"
    Cache.in_project(project).put(key, stored)
    # A fresh cache, so that the entry is unpickled from its file, not served from memory.
    assert Cache.in_project(project).get(key) == stored


def test_identical_files_share_one_entry_and_keep_their_names(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in ("x", "y", "z"):
        write(project / folder / "a.py", LEGACY)
    first = run("check", ".", capsys=capsys)
    assert [line.split(":")[0] for line in first[1].splitlines()[:3]] == ["x/a.py", "y/a.py", "z/a.py"]
    assert len(entries(project)) == 1
    assert run("check", ".", capsys=capsys) == first


# -- clean entries -------------------------------------------------------------------------------------


def clean_key(number: int) -> str:
    return f"{'0' * 24}/{number:040x}.py"


def test_clean_entries_are_kept_back_and_written_in_one_list(project: Path) -> None:
    cache = Cache.in_project(project)
    keys = [clean_key(n) for n in range(50)]
    for key in keys:
        cache.put(key, FileResult(""))
    assert not (project / CACHE_DIR).exists()
    cache.flush()
    [listed] = entries(project)
    assert listed.name.startswith("clean.")
    assert listed.suffix == ".list"
    fresh = Cache.in_project(project)
    assert [fresh.get(key) for key in keys] == [FileResult("")] * len(keys)
    assert fresh.get(clean_key(99)) is None


def test_a_run_over_clean_files_writes_one_list_and_the_next_reads_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for number in range(5):
        write(project / f"m{number}.py", f"import torch\nx = torch.ones({number + 1})\n")
    assert run("check", ".", capsys=capsys)[0] == 0
    [listed] = entries(project)
    assert listed.suffix == ".list"
    # Every file a hit: nothing new to write.
    assert run("check", ".", capsys=capsys)[0] == 0
    assert entries(project) == [listed]
    write(project / "m5.py", "import torch\nx = torch.zeros(2)\n")
    assert run("check", ".", capsys=capsys)[0] == 0
    assert len(entries(project)) == 2


def test_lists_are_merged_once_a_run_reads_more_than_the_limit(project: Path) -> None:
    runs = MAX_LISTS + 2
    for number in range(runs):
        cache = Cache.in_project(project)
        assert [cache.get(clean_key(n)) for n in range(number)] == [FileResult("")] * number
        cache.put(clean_key(number), FileResult(""))
        cache.flush()
        # This run read `number` lists: more than the limit, and it wrote one holding them all.
        assert len(entries(project)) == (number + 1 if number <= MAX_LISTS else 1)
    fresh = Cache.in_project(project)
    assert [fresh.get(clean_key(n)) for n in range(runs)] == [FileResult("")] * runs


@pytest.mark.parametrize("damage", ["flip", "rename"])
def test_a_damaged_or_renamed_list_is_a_miss(project: Path, damage: str) -> None:
    cache = Cache.in_project(project)
    cache.put(clean_key(1), FileResult(""))
    cache.flush()
    [listed] = entries(project)
    if damage == "flip":
        blob = listed.read_bytes()
        listed.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    else:
        listed.rename(listed.with_name("clean.other.list"))
    fresh = Cache.in_project(project)
    assert fresh.get(clean_key(1)) is None
    assert entries(project) == []
    fresh.put(clean_key(1), FileResult(""))
    fresh.flush()
    assert Cache.in_project(project).get(clean_key(1)) == FileResult("")


# -- misses --------------------------------------------------------------------------------------------


def test_a_one_byte_change_misses(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project / "a.py", LEGACY)
    plant(project, path)
    path.write_text(LEGACY.replace("(2,2)", "(2,3)"))
    code, out = run("check", "a.py", capsys=capsys)
    assert (code, PLANTED in out) == (1, False)
    assert "a.py:3:5: VM001" in out


@pytest.mark.parametrize("flags", [["--select", "VM0"], ["--unsafe-fixes"]], ids=["select", "unsafe-fixes"])
def test_a_changed_setting_misses(
    project: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    path = write(project / "a.py", LEGACY)
    plant(project, path)
    code, out = run("check", "a.py", *flags, capsys=capsys)
    assert (code, PLANTED in out) == (1, False)
    assert "a.py:3:5: VM001" in out


def test_a_new_version_misses(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(project / "a.py", LEGACY)
    plant(project, path)
    monkeypatch.setattr(varmigrate._version, "__version__", "99.0.0")
    code, out = run("check", "a.py", capsys=capsys)
    assert (code, PLANTED in out) == (1, False)


def test_an_edited_module_of_the_installed_code_misses(tmp_path: Path) -> None:
    """A checkout edited in place keeps its version: results of the old code must not be reused."""
    site = tmp_path / "site"
    package = site / "varmigrate"
    shutil.copytree(Path(varmigrate.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    project = tmp_path / "project"
    write(project / "a.py", LEGACY)
    env = {**os.environ, "PYTHONPATH": str(site)}

    def settings_folders() -> set[str]:
        done = subprocess.run(
            [sys.executable, "-m", "varmigrate", "check", "a.py", "--isolated"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        return {path.name for path in (project / CACHE_DIR).iterdir() if path.is_dir()}

    first = settings_folders()
    assert settings_folders() == first
    # A module two folders down that no check imports.
    module = package / "harness" / "sitecustomize" / "sitecustomize.py"
    module.write_text(module.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    second = settings_folders()
    assert len(first) == 1
    assert len(second) == 2
    assert first < second


def test_no_cache_neither_reads_nor_writes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project / "a.py", LEGACY)
    assert run("check", "a.py", "--no-cache", capsys=capsys)[0] == 1
    assert not (project / CACHE_DIR).exists()
    plant(project, path)
    code, out = run("check", "a.py", "--no-cache", capsys=capsys)
    assert (code, PLANTED in out) == (1, False)


def test_stdin_is_never_cached(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(LEGACY.encode())))
    assert run("check", "-", capsys=capsys)[0] == 1
    assert not (project / CACHE_DIR).exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[: len(blob) // 2],
        lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]),
        lambda blob: b"",
    ],
    ids=["truncated", "one-bit-flipped", "empty"],
)
def test_a_damaged_entry_is_a_miss_and_is_rewritten(
    project: Path, capsys: pytest.CaptureFixture[str], damage
) -> None:
    write(project / "a.py", LEGACY)
    first = run("check", "a.py", capsys=capsys)
    [entry] = entries(project)
    good = entry.read_bytes()
    entry.write_bytes(damage(good))
    assert run("check", "a.py", capsys=capsys) == first
    assert entry.read_bytes() == good


class _Mkdir:
    """Unpickles to a call of os.mkdir: what a hostile entry would try."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.path),)


def test_an_entry_that_builds_other_objects_is_a_miss(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", LEGACY)
    first = run("check", "a.py", capsys=capsys)
    [entry] = entries(project)
    marker = project / "pwned"
    payload = pickle.dumps(_Mkdir(marker))
    # A well-formed entry (magic and checksum right): only the unpickler stands in the way.
    name = entry.name.removesuffix(".pickle")
    entry.write_bytes(b"varmigrate-cache-1\n" + _checksum(name, payload) + payload)
    assert run("check", "a.py", capsys=capsys) == first
    assert not marker.exists()


# -- fix and --add-noqa --------------------------------------------------------------------------------


def test_fix_reuses_an_entry_with_nothing_to_apply(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project / "a.py", LEGACY)
    plant(project, path, fix=Applicability.UNSAFE)
    code, out = run("fix", "a.py", capsys=capsys)
    assert (code, out.splitlines()[0]) == (1, f"a.py:1:1: VM999 {PLANTED}")
    assert path.read_text() == LEGACY


def test_fix_ignores_an_entry_with_a_fix_to_apply(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project / "a.py", LEGACY)
    plant(project, path, fix=Applicability.SAFE)
    code, out = run("fix", "a.py", capsys=capsys)
    assert (code, PLANTED in out) == (0, False)
    assert path.read_text() == FIXED


def test_fix_caches_the_content_it_wrote(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project / "a.py", LEGACY + DATA_INDEX.splitlines()[1] + "\n")
    assert run("fix", "a.py", capsys=capsys)[0] == 1  # the unsafe .data[0] is left
    fixed = path.read_bytes()
    cache = Cache.in_project(project)
    key = cache.key(fixed, Job(load_configuration(isolated=True).settings_for(path)), ".py")
    assert key is not None
    assert cache.get(key) is not None
    assert run("check", "a.py", capsys=capsys) == run("check", "a.py", "--no-cache", capsys=capsys)


def test_diff_reuses_entries_and_stores_only_unchanged_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "a.py", LEGACY)
    write(project / "b.py", DATA_INDEX)
    first = run("fix", "--diff", ".", capsys=capsys)
    assert first[0] == 1
    assert "+a = torch.ones" in first[1]
    # b.py (nothing to apply) is cached; a.py's fix was only shown: nothing describes what is on disk.
    assert len(entries(project)) == 1
    assert run("fix", "--diff", ".", capsys=capsys) == first


def test_add_noqa_reuses_only_entries_without_findings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(project / "a.py", LEGACY)
    plant(project, path)
    assert main(["check", "--isolated", "--add-noqa", "a.py"]) == 0
    assert path.read_text().splitlines()[2].endswith("# noqa: VM001")


# -- where it lives ------------------------------------------------------------------------------------


def test_the_cache_is_tagged_and_ignored_by_git(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    write(project / "a.py", LEGACY)
    run("check", "a.py", capsys=capsys)
    assert (project / CACHE_DIR / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (project / CACHE_DIR / "CACHEDIR.TAG").read_text() == CACHEDIR_TAG
    assert CACHEDIR_TAG.startswith("Signature: 8a477f597d28d172789f06886806bc55\n")
    status = subprocess.run(
        ["git", "-C", str(project), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout.splitlines() == ["?? a.py"]


def test_the_cache_lives_in_the_configuration_files_directory(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project / "pyproject.toml", "[tool.varmigrate]\n")
    write(project / "src" / "a.py", LEGACY)
    monkeypatch.chdir(project / "src")
    assert main(["check", "a.py"]) == 1
    assert len(entries(project)) == 1
    assert not (project / "src" / CACHE_DIR).exists()
    capsys.readouterr()
    assert main(["clean"]) == 0
    assert capsys.readouterr().err == f"Removed {project / CACHE_DIR}\n"
    assert not (project / CACHE_DIR).exists()


def test_cache_dir_puts_it_elsewhere(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    run("check", "a.py", "--cache-dir", "elsewhere", capsys=capsys)
    assert not (project / CACHE_DIR).exists()
    assert len(list((project / "elsewhere").glob("*/*.pickle"))) == 1
    assert main(["clean", "--cache-dir", "elsewhere"]) == 0
    assert not (project / "elsewhere").exists()


def test_clean_removes_the_cache_and_says_so(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.py", LEGACY)
    run("check", "a.py", capsys=capsys)
    assert main(["clean"]) == 0
    assert capsys.readouterr().err == "Removed .varmigrate_cache\n"
    assert sorted(path.name for path in project.iterdir()) == ["a.py"]
    assert main(["clean"]) == 0
    assert capsys.readouterr().err == "No cache at .varmigrate_cache\n"


def test_clean_leaves_a_directory_that_is_not_a_cache(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep = write(project / "important" / "notes.txt", "keep me\n")
    assert main(["clean", "--cache-dir", "important"]) == 2
    assert "not a varmigrate cache" in capsys.readouterr().err
    assert keep.read_text() == "keep me\n"
