"""How fast varmigrate is, as ratios against its peers (ruff; TorchFix when installed) in the same run.

    python bench/speed.py [--quick] [--repeat N] [--only NAME[,NAME]] [--json PATH] [--prepare]
                          [--varmigrate-python PYTHON] [--torchfix CMD] [--torchfix-trees]

Every command runs as a child process; its CPU time (user + sys, from ``os.wait4``) and peak memory
(``ru_maxrss``) are the child's own, its wall time comes from ``time.perf_counter``. Each measurement is
repeated (``--repeat``, default 3; 7 for the single-file rows) and the median is reported. varmigrate and its
peers take turns within every repetition (A, B, A, B, ...) so that the load of a shared machine falls on
both: compare the ratios, not the absolute figures.

The corpora live in bench/data/ (git-ignored) and are prepared on first use, or with ``--prepare``:

- torch: the installed package, located with ``importlib.util.find_spec`` in the python running this script;
- transformers: its wheel (``pip download --no-deps transformers``), unzipped;
- pyro, torchtext: two legacy sdists (``pip download --no-deps --no-binary :all: pyro-ppl==0.1.2
  torchtext==0.2.3``), unpacked;
- fairseq: its sdist, unpacked. fairseq declares torch as a build requirement, so it is downloaded without
  build isolation, by a small tool venv in bench/data/ that has ``setuptools`` and ``wheel``;
- a ~5 kB legacy script, 200 copies of it, a ~5 kB clean script and a ~1.4 MB module (bench/samples.py).

varmigrate runs from bench/data/installed-venv, where the working tree is installed as users install it
(``pip install .``; reinstalled on every run): the development venv's editable install adds an import
finder to every start-up (about 30 ms of CPU). ``--varmigrate-python`` picks another python.

A corpus that cannot be had is reported as skipped. ruff is the one next to the varmigrate python (else
next to the python running this script), or on
PATH. TorchFix pins its own libcst, so it is best kept in a venv of its own: pass ``--torchfix
/path/to/venv/bin/torchfix``; otherwise it is looked for next to the python, on PATH, then as a module.
On the three large trees TorchFix takes CPU minutes per run, so it runs there only with ``--torchfix-trees``.
Both tools run with ``--isolated`` and ``--no-respect-gitignore`` from a scratch directory, so neither
reads this repository's configuration; ruff uses its default rules and skips ``*.pyi`` (varmigrate reads
``.py`` and ``.ipynb`` only), so both read the same files. PYTHONDONTWRITEBYTECODE is not passed on: an
editable install's bytecode is then cached as an installed package's is. ruff's cache (0.17 at least) keeps
no result for a file that has findings, so its cached run of a tree full of findings is close to its cold run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
DOWNLOADS = DATA / "downloads"
SCRATCH = DATA / "tmp"

sys.path.insert(0, str(HERE))
import samples  # noqa: E402

SMALL_REPEAT = 7
COPIES = 200
TIMEOUT_S = 3600.0
OK_CODES = frozenset({0, 1})  # 1: findings (varmigrate, ruff) or files TorchFix could not process


# Machine and tools ------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def neutral_directory() -> Path:
    """Where a probe runs: ``python -m varmigrate`` in this repository would import the working tree's."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    return SCRATCH


def quiet_output(argv: Sequence[str]) -> str:
    """The first line a command prints (stdout, else stderr), or why it could not run."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=120, cwd=neutral_directory()
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unavailable ({error})"
    lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return lines[0] if lines else f"exit {done.returncode}"


def find_in_python(python: str, module: str) -> str | None:
    """Where ``module`` would be imported from by ``python`` (a subprocess: nothing is imported here)."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.find_spec({module!r})\n"
        "print(spec.origin if spec is not None and spec.origin else '')\n"
    )
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    origin = done.stdout.strip()
    return origin if done.returncode == 0 and origin else None


def beside(python: str, name: str) -> str | None:
    """``name`` in the same bin directory as ``python`` (not resolved: a venv's python is a symlink)."""
    candidate = Path(python).parent / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def find_ruff(python: str) -> list[str] | None:
    found = beside(python, "ruff") or shutil.which("ruff")
    return [found] if found else None


def find_torchfix(python: str, given: str | None) -> list[str] | None:
    if given:
        return [given]
    found = beside(python, "torchfix") or shutil.which("torchfix")
    if found:
        return [found]
    if find_in_python(python, "torchfix"):
        return [python, "-m", "torchfix"]
    return None


@dataclass
class Tools:
    python: str
    varmigrate: list[str]
    script: list[str] | None  # the console script pip made beside the python, when there is one
    ruff: list[str] | None
    torchfix: list[str] | None
    varmigrate_cache: bool  # `check --no-cache` exists, so there is a cache to measure


def find_tools(python: str, torchfix: str | None, ruff_python: str | None = None) -> Tools:
    varmigrate = [python, "-m", "varmigrate"]
    try:
        check_help = subprocess.run(
            [*varmigrate, "check", "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            cwd=neutral_directory(),
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SystemExit(f"{python} -m varmigrate does not run: {error}") from error
    if check_help.returncode != 0:
        raise SystemExit(f"{python} -m varmigrate does not run:\n{check_help.stderr}")
    return Tools(
        python=python,
        varmigrate=varmigrate,
        script=[found] if (found := beside(python, "varmigrate")) else None,
        ruff=find_ruff(python) or (find_ruff(ruff_python) if ruff_python else None),
        torchfix=find_torchfix(python, torchfix)
        or (find_torchfix(ruff_python, None) if ruff_python else None),
        varmigrate_cache="--no-cache" in check_help.stdout,
    )


def machine(tools: Tools) -> dict[str, str]:
    try:
        usable = str(len(os.sched_getaffinity(0)))
    except AttributeError:
        usable = "?"
    done = subprocess.run(
        [tools.python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "cores": f"{os.cpu_count()} ({usable} usable)",
        "cpu": cpu_model(),
        "python": done.stdout.strip() or "?",
        "varmigrate": quiet_output([*tools.varmigrate, "--version"]),
        "ruff": quiet_output([*tools.ruff, "--version"]) if tools.ruff else "not installed",
        "torchfix": "TorchFix "
        + (quiet_output([*tools.torchfix, "--version"]) if tools.torchfix else "not installed"),
    }


# Corpora ----------------------------------------------------------------------------------------------


@dataclass
class Corpus:
    name: str
    path: Path | None  # None: skipped
    note: str = ""  # why it was skipped, or where it came from
    files: int = 0
    megabytes: float = 0.0

    def describe(self) -> str:
        return f"{self.files:,} files, {self.megabytes:.1f} MB" if self.path else f"skipped: {self.note}"


def measure_tree(path: Path) -> tuple[int, float]:
    """The number of .py/.ipynb files under ``path`` (a file counts as one) and their size in MB."""
    if path.is_file():
        return 1, path.stat().st_size / 1e6
    count, size = 0, 0
    for file in source_files(path):
        count += 1
        size += file.stat().st_size
    return count, size / 1e6


def source_files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.suffix in (".py", ".ipynb") and p.is_file()]


def warm_page_cache(path: Path) -> None:
    """Read every source file once, so the first measured run does not pay for the disk."""
    for file in [path] if path.is_file() else source_files(path):
        with contextlib.suppress(OSError):
            file.read_bytes()


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def pip_download(python: str, args: Sequence[str]) -> tuple[bool, str]:
    """Run ``python -m pip download -d bench/data/downloads ARGS``; whether it worked, and its last line."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    argv = [python, "-m", "pip", "download", "--no-deps", "-d", str(DOWNLOADS), *args]
    print(f"  $ {' '.join(argv)}", file=sys.stderr)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    return done.returncode == 0, last_line(done.stderr if done.returncode else done.stdout)


def downloaded(prefixes: Sequence[str], suffixes: Sequence[str]) -> Path | None:
    """The newest download whose name starts with one of ``prefixes`` and ends with one of ``suffixes``."""
    if not DOWNLOADS.is_dir():
        return None
    found = [
        p
        for p in DOWNLOADS.iterdir()
        if p.name.lower().startswith(tuple(x.lower() for x in prefixes)) and p.name.endswith(tuple(suffixes))
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def unpack(archive: Path, target: Path) -> None:
    """Unpack ``archive`` (wheel, zip or tarball) to ``target``, through a temporary directory."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(partial)
    else:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(partial, filter="data")
            else:  # Python without extraction filters: the archives come from the package index
                tar.extractall(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def installed_venv(python: str) -> str:
    """A venv in bench/data/ with this working tree installed as users install it; its python.

    An editable install (the development venv's) puts an import finder in every start-up, about
    30 ms of CPU that no user pays: the rows measure `pip install .` instead. The project is
    reinstalled (without its dependencies) on every run, so the venv measures the working tree.
    """
    venv = DATA / "installed-venv"
    bin_python = venv / "bin" / "python"
    # Dependencies are installed again when pyproject.toml changes.
    stamp, wanted = venv / ".ready", (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if not stamp.is_file() or stamp.read_text(encoding="utf-8") != wanted:
        print(f"  creating {venv} (pip install {ROOT}, with its dependencies)", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        run_checked([python, "-m", "venv", str(venv)], "could not create the installed venv")
        install = [str(bin_python), "-m", "pip", "install", "-q", str(ROOT)]
        run_checked(install, "could not install varmigrate")
        stamp.write_text(wanted, encoding="utf-8")
    else:
        run_checked(
            [str(bin_python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)],
            "could not reinstall varmigrate",
        )
    return str(bin_python)


def run_checked(argv: list[str], failure: str) -> None:
    """Run a set-up command; stop the benchmark with its error output when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SystemExit(f"{failure}: {error}") from error
    if done.returncode != 0:
        raise SystemExit(f"{failure}:\n{done.stderr}")


def tool_venv(python: str) -> tuple[str | None, str]:
    """A venv in bench/data/ with pip, setuptools and wheel, for sdists that must skip build isolation."""
    venv = DATA / "pip-tools-venv"
    bin_python = venv / "bin" / "python"
    if (venv / ".ready").is_file():
        return str(bin_python), ""
    print(f"  creating {venv} (pip, setuptools, wheel)", file=sys.stderr)
    shutil.rmtree(venv, ignore_errors=True)
    try:
        made = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True, text=True, check=False)
        if made.returncode != 0:
            return None, "could not create a tool venv: " + last_line(made.stderr)
        installed = subprocess.run(
            [str(bin_python), "-m", "pip", "install", "-q", "setuptools", "wheel"],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"could not set up a tool venv: {error}"
    if installed.returncode != 0:
        return None, "could not install setuptools and wheel: " + last_line(installed.stderr)
    (venv / ".ready").touch()
    return str(bin_python), ""


@dataclass
class Download:
    """A corpus fetched with pip download and unpacked into bench/data/NAME."""

    name: str
    pip_args: list[str]
    prefixes: list[str]
    suffixes: list[str]
    isolated_build: bool = True


DOWNLOADED = {
    "transformers": Download("transformers", ["transformers"], ["transformers-"], [".whl"]),
    "pyro": Download(
        "pyro",
        ["--no-binary", ":all:", "pyro-ppl==0.1.2", "torchtext==0.2.3"],
        ["pyro-ppl-0.1.2", "pyro_ppl-0.1.2"],
        [".tar.gz", ".zip"],
    ),
    "torchtext": Download(
        "torchtext",
        ["--no-binary", ":all:", "pyro-ppl==0.1.2", "torchtext==0.2.3"],
        ["torchtext-0.2.3"],
        [".tar.gz", ".zip"],
    ),
    # fairseq's build requirements include torch: with build isolation pip would install one just to read
    # the sdist's metadata. Without it, pip needs setuptools and wheel, hence the tool venv.
    "fairseq": Download(
        "fairseq",
        ["--no-binary", ":all:", "--no-build-isolation", "fairseq"],
        ["fairseq-"],
        [".tar.gz", ".zip"],
        isolated_build=False,
    ),
}


def prepare_download(spec: Download, python: str) -> Corpus:
    target = DATA / spec.name
    if target.is_dir():
        return Corpus(spec.name, target)
    archive = downloaded(spec.prefixes, spec.suffixes)
    if archive is None:
        print(f"preparing {spec.name}", file=sys.stderr)
        pip_python: str | None = python
        if not spec.isolated_build:
            pip_python, why = tool_venv(python)
            if pip_python is None:
                return Corpus(spec.name, None, why)
        assert pip_python is not None
        ok, line = pip_download(pip_python, spec.pip_args)
        archive = downloaded(spec.prefixes, spec.suffixes)
        if not ok or archive is None:
            return Corpus(spec.name, None, f"pip download failed: {line}")
    try:
        unpack(archive, target)
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as error:
        return Corpus(spec.name, None, f"could not unpack {archive.name}: {error}")
    return Corpus(spec.name, target)


def prepare_torch(python: str) -> Corpus:
    origin = find_in_python(python, "torch")
    if origin is None:
        return Corpus("torch", None, f"torch is not installed for {python}")
    return Corpus("torch", Path(origin).parent, "the installed package")


def prepare_repository(tree: Corpus) -> Corpus:
    """``tree`` as a user's project holds it: in a git repository with a .gitignore at its root (the
    files hard-linked, or copied where links cannot be made)."""
    name = f"{tree.name}-repo"
    if tree.path is None:
        return Corpus(name, None, tree.note)
    root = DATA / name
    inside = root / tree.path.name
    if not inside.is_dir():
        shutil.rmtree(root, ignore_errors=True)
        (root / ".git").mkdir(parents=True)
        try:
            shutil.copytree(tree.path, inside, copy_function=os.link)
        except OSError:
            shutil.rmtree(inside, ignore_errors=True)
            shutil.copytree(tree.path, inside)
    write_if_changed(root / ".gitignore", samples.GITIGNORE)
    return Corpus(name, root, f"{tree.name} in a repository with a .gitignore")


def write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def prepare_samples() -> dict[str, Corpus]:
    folder = DATA / "samples"
    files = {
        "clean-file": "clean.py",
        "modern-file": "modern.py",
        "legacy-file": "legacy.py",
        "big-file": "big.py",
    }
    write_if_changed(folder / "clean.py", samples.CLEAN)
    write_if_changed(folder / "modern.py", samples.MODERN)
    write_if_changed(folder / "legacy.py", samples.LEGACY)
    write_if_changed(folder / "big.py", samples.big_module())
    copies = DATA / f"copies-{COPIES}"
    if len(list(copies.glob("*.py"))) != COPIES or any(
        p.read_text(encoding="utf-8") != samples.LEGACY for p in copies.glob("*.py")
    ):
        shutil.rmtree(copies, ignore_errors=True)
        copies.mkdir(parents=True)
        for i in range(COPIES):
            (copies / f"train_{i:03d}.py").write_text(samples.LEGACY, encoding="utf-8")
    corpora = {name: Corpus(name, folder / file) for name, file in files.items()}
    corpora["copies"] = Corpus("copies", copies)
    return corpora


def prepare(python: str, wanted: set[str]) -> dict[str, Corpus]:
    """The corpora named in ``wanted`` (all when empty), fetched and unpacked where missing."""
    DATA.mkdir(parents=True, exist_ok=True)
    corpora = prepare_samples()
    if not wanted or "torch" in wanted:
        corpora["torch"] = prepare_torch(python)
    for name, spec in DOWNLOADED.items():
        if not wanted or name in wanted:
            corpora[name] = prepare_download(spec, python)
    if "transformers" in corpora:
        corpora["transformers-repo"] = prepare_repository(corpora["transformers"])
    for corpus in corpora.values():
        if corpus.path is not None:
            corpus.files, corpus.megabytes = measure_tree(corpus.path)
    return corpora


# Measuring --------------------------------------------------------------------------------------------


@dataclass
class Run:
    cpu: float  # user + sys seconds of the child and the children it waited for
    wall: float
    maxrss_mb: float
    code: int
    error: str = ""


def run_once(argv: Sequence[str], cwd: Path, ok: frozenset[int] = OK_CODES) -> Run:
    """Run ``argv`` in ``cwd`` and measure it with ``os.wait4``; output goes to /dev/null (errors kept)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True
        )
        timer = threading.Timer(TIMEOUT_S, lambda: os.killpg(process.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        process.returncode = code  # reaped here: Popen must not wait for it again
        error = ""
        if code not in ok:
            stderr.seek(0)
            error = last_line(stderr.read().decode("utf-8", "replace"))
    return Run(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, code, error)


@dataclass
class Command:
    """One side of a comparison: a tool's argv for a given corpus path."""

    label: str
    argv: Callable[[Path], list[str]]
    fresh: bool = False  # works on a fresh copy of the corpus in every repetition (it writes)
    ok: frozenset[int] = OK_CODES
    role: str = ""  # what targets call it (its label unless the tool is missing); set from the label
    runs: list[Run] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.role = self.role or self.label

    def median_cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    def median_wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    def median_rss(self) -> float:
        return statistics.median(r.maxrss_mb for r in self.runs)

    def failure(self) -> str:
        """``exit N`` for the worst exit code outside 0/1, or ''."""
        bad = [r for r in self.runs if r.code not in self.ok]
        return f"exit {max(r.code for r in bad)}" if bad else ""


def fresh_copy(source: Path) -> tuple[Path, Path]:
    """A scratch directory holding a copy of ``source``; returns (scratch dir, the copy).

    The scratch directory is a git repository of its own, as a user's project is. `fix` looks for other
    modules importing a fixed one as far as its repository reaches. Inside varmigrate's own repository,
    that would be every file of bench/data: its corpora and venvs.
    """
    SCRATCH.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=SCRATCH))
    git = shutil.which("git")
    if git is None or subprocess.run([git, "init", "-q", str(scratch)], check=False).returncode != 0:
        (scratch / ".git").mkdir(exist_ok=True)
    copy = scratch / source.name
    if source.is_dir():
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    else:
        shutil.copy2(source, copy)
    return scratch, copy


def measure(commands: Sequence[Command], corpus: Path, repeat: int, warmup: bool) -> None:
    """Run the commands in turn, ``repeat`` rounds; fresh copies are made outside the measurement."""
    warm_page_cache(corpus)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    idle = Path(tempfile.mkdtemp(prefix="cwd-", dir=SCRATCH))  # reads no configuration
    try:
        for round_ in range(repeat + (1 if warmup else 0)):
            for command in commands:
                scratch: Path | None = None
                target = corpus
                if command.fresh:
                    scratch, target = fresh_copy(corpus)
                try:
                    result = run_once(command.argv(target), scratch or idle, command.ok)
                finally:
                    if scratch is not None:
                        shutil.rmtree(scratch, ignore_errors=True)
                if warmup and round_ == 0:
                    continue
                command.runs.append(result)
    finally:
        shutil.rmtree(idle, ignore_errors=True)


# Cases ------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """A goal for one row of a case: on the varmigrate command's wall time, or its ratio to a peer."""

    text: str
    kind: str  # "wall": varmigrate wall <= limit; "ratio": CPU ratio to ``peer`` <= limit
    limit: float
    peer: str | None = None  # the row it belongs to (None: the first)

    def met(self, subject: Command, peer: Command | None) -> bool | None:
        if self.kind == "wall":
            return subject.median_wall() <= self.limit
        if peer is None or not peer.runs or peer.median_cpu() <= 0:
            return None
        return subject.median_cpu() / peer.median_cpu() <= self.limit


@dataclass
class Case:
    name: str
    work: str
    corpus: str
    subject: Command
    peers: list[Command]
    targets: list[Target]
    small: bool = False
    note: str = ""  # printed instead of measuring (e.g. "no cache yet")


class Argv:
    """Builds the command lines of the tools."""

    def __init__(self, tools: Tools) -> None:
        self.tools = tools

    def varmigrate(
        self, verb: str, *, cache: bool = False, script: bool = False, gitignore: bool = False
    ) -> Callable[[Path], list[str]]:
        """`varmigrate VERB`, run as `python -m varmigrate` (``script``: as its console script; ``gitignore``:
        respecting .gitignore files, as by default)."""
        flags = ["--isolated"] if gitignore else ["--isolated", "--no-respect-gitignore"]
        if self.tools.varmigrate_cache and not cache:
            flags.append("--no-cache")
        program = (self.tools.script or []) if script else self.tools.varmigrate
        return lambda path: [*program, verb, *flags, str(path)]

    def ruff(self, *, cache: bool = False, gitignore: bool = False) -> Callable[[Path], list[str]] | None:
        ruff = self.tools.ruff
        if ruff is None:
            return None
        flags = ["--isolated", "--extend-exclude", "*.pyi"]
        if not gitignore:
            flags.insert(1, "--no-respect-gitignore")
        if not cache:
            flags.append("--no-cache")
        return lambda path: [*ruff, "check", *flags, str(path)]

    def torchfix(self) -> Callable[[Path], list[str]] | None:
        torchfix = self.tools.torchfix
        return None if torchfix is None else (lambda path: [*torchfix, str(path)])


def peers(argv: Argv, *, torchfix: bool = True, gitignore: bool = False) -> list[Command]:
    """ruff and TorchFix checking the corpus; a missing or skipped tool gets a command with no argv."""
    found: list[Command] = []
    ruff = argv.ruff(gitignore=gitignore)
    found.append(
        Command("ruff check", ruff) if ruff else Command("ruff: not installed", _absent, role="ruff check")
    )
    tf = argv.torchfix()
    if tf is None:
        found.append(Command("torchfix: not installed", _absent, role="torchfix"))
    elif torchfix:
        found.append(Command("torchfix", tf))
    else:
        found.append(Command("torchfix: skipped (--torchfix-trees)", _absent, role="torchfix"))
    return found


def stdlib_floor(python: str) -> Command:
    """A python that imports what the command line is built on (argparse, pathlib, re, typing), no more."""
    code = "import argparse, pathlib, re, typing"
    return Command(f"python -c '{code}'", lambda _: [python, "-c", code], ok=frozenset({0}))


def _absent(path: Path) -> list[str]:
    return []


def build_cases(argv: Argv, tools: Tools, torchfix_trees: bool) -> list[Case]:
    check, fix = argv.varmigrate("check"), argv.varmigrate("fix")
    ruff, script = tools.ruff, tools.script
    version_peer = (
        Command("ruff --version", lambda _: [*ruff, "--version"])
        if ruff
        else Command("ruff: not installed", _absent, role="ruff --version")
    )
    ruff_row = "ruff check"
    cases = [
        Case(
            "version",
            "`--version`",
            "clean-file",
            Command("varmigrate --version", lambda _: [*tools.varmigrate, "--version"]),
            [version_peer],
            [Target("≤ 0.060 s wall", "wall", 0.060)],
            small=True,
        ),
        Case(
            "version-script",
            "`--version`, console script",
            "clean-file",
            Command("varmigrate --version", lambda _: [*script, "--version"])
            if script
            else Command("varmigrate: no console script", _absent),
            [version_peer],
            [Target("≤ 0.060 s wall", "wall", 0.060)],
            small=True,
            note="" if script else "skipped: no console script beside the python",
        ),
        Case(
            "clean-file",
            "check clean 5 kB file",
            "clean-file",
            Command("varmigrate check", check),
            # Its floor: a python that only imports the standard modules the command line is built on.
            [*peers(argv), stdlib_floor(tools.python)],
            [Target("≤ 0.060 s wall", "wall", 0.060)],
            small=True,
        ),
        # As pre-commit's hook runs it: the console script, without `runpy`.
        Case(
            "clean-file-script",
            "check clean 5 kB file, console script",
            "clean-file",
            Command("varmigrate check", argv.varmigrate("check", script=True))
            if script
            else Command("varmigrate: no console script", _absent),
            [*peers(argv)[:1], stdlib_floor(tools.python)],
            [Target("≤ 0.060 s wall", "wall", 0.060)],
            small=True,
            note="" if script else "skipped: no console script beside the python",
        ),
        # No finding either, but `.data[0]` that only CPython's parse tells from the old idiom.
        Case(
            "modern-file",
            "check modern 5 kB file, no finding (a dataset's `self.data[0]`)",
            "modern-file",
            Command("varmigrate check", check),
            [*peers(argv), stdlib_floor(tools.python)],
            [],
            small=True,
        ),
        Case(
            "legacy-file",
            "check legacy 5 kB file",
            "legacy-file",
            Command("varmigrate check", check),
            # Its floor: a python that only imports LibCST, as every such check must.
            [
                *peers(argv),
                Command(
                    "python -c 'import libcst'",
                    lambda _: [tools.python, "-c", "import libcst"],
                    ok=frozenset({0}),
                ),
            ],
            [Target("≤ 0.400 s wall", "wall", 0.400)],
            small=True,
        ),
        Case(
            "fix-legacy-file",
            "fix legacy 5 kB file",
            "legacy-file",
            Command("varmigrate fix", fix, fresh=True),
            [Command("varmigrate check", check, fresh=True)],
            [
                Target("≤ 0.500 s wall", "wall", 0.500),
                Target("≤ 1.5x check", "ratio", 1.5, "varmigrate check"),
            ],
            small=True,
        ),
    ]
    for tree in ("torch", "transformers", "fairseq"):
        cases.append(
            Case(
                tree,
                f"check {tree}",
                tree,
                Command("varmigrate check", check),
                peers(argv, torchfix=torchfix_trees),
                [Target("≤ 1.0x ruff", "ratio", 1.0, ruff_row)],
            )
        )
    # A user's first run over a project, with both tools' defaults: its .gitignore respected, the cache
    # written (each run on a fresh copy, so each cache starts empty).
    ruff_first = argv.ruff(cache=True, gitignore=True)
    cases.append(
        Case(
            "transformers-repo",
            "first check of transformers as a repository, defaults (.gitignore respected, cache written)",
            "transformers-repo",
            Command("varmigrate check", argv.varmigrate("check", cache=True, gitignore=True), fresh=True),
            [
                Command("ruff check", ruff_first, fresh=True)
                if ruff_first
                else Command("ruff: not installed", _absent, role="ruff check")
            ],
            [Target("≤ 1.0x ruff", "ratio", 1.0, ruff_row)],
        )
    )
    for tree in ("pyro", "torchtext"):
        cases.append(Case(tree, f"check {tree}", tree, Command("varmigrate check", check), peers(argv), []))
    cases += [
        Case(
            "fix-pyro",
            "fix pyro",
            "pyro",
            Command("varmigrate fix", fix, fresh=True),
            [Command("varmigrate check", check, fresh=True)],
            [Target("≤ 1.5x check", "ratio", 1.5, "varmigrate check")],
        ),
        Case(
            f"copies-{COPIES}",
            f"check {COPIES} legacy 5 kB files",
            "copies",
            Command("varmigrate check", check),
            peers(argv),
            [],
        ),
        Case(
            f"fix-copies-{COPIES}",
            f"fix {COPIES} legacy 5 kB files",
            "copies",
            Command("varmigrate fix", fix, fresh=True),
            [Command("varmigrate check", check, fresh=True)],
            [Target("≤ 25 s wall", "wall", 25.0), Target("≤ 1.5x check", "ratio", 1.5, "varmigrate check")],
        ),
    ]
    cache_case = Case(
        "cache",
        "second check, cached",
        "cache",
        Command("varmigrate check (cached)", argv.varmigrate("check", cache=True)),
        [],
        [Target("≤ 2x ruff cached", "ratio", 2.0, "ruff check (cached)")],
    )
    ruff_cached = argv.ruff(cache=True)
    if ruff_cached is None:
        cache_case.peers.append(Command("ruff: not installed", _absent, role="ruff check (cached)"))
    else:
        cache_case.peers.append(Command("ruff check (cached)", ruff_cached))
    if not tools.varmigrate_cache:
        cache_case.note = "no cache yet"
    cases.append(cache_case)
    return cases


def add_baseline(cases: list[Case], baseline_cases: list[Case], version: str) -> None:
    """Give each case the same work by the baseline varmigrate as its last peer (``version`` in its label).

    Last, so that the targets keep the peers they name (or the first).
    """
    theirs = {case.name: case.subject for case in baseline_cases}
    for case in cases:
        subject = theirs.get(case.name)
        if subject is not None and not case.note:
            label = subject.label.replace("varmigrate", version, 1)
            case.peers.append(Command(label, subject.argv, fresh=subject.fresh, ok=subject.ok))


CACHE_TREES = ("transformers", "pyro", "torchtext", "copies")


def run_case(case: Case, corpora: dict[str, Corpus], repeat: int) -> None:
    """Measure ``case`` in place (its commands collect runs)."""
    if case.note:
        return
    if case.name == "cache":
        run_cached(case, corpora, repeat)
        return
    corpus = corpora.get(case.corpus)
    if corpus is None or corpus.path is None:
        case.note = f"skipped: {corpus.note if corpus else 'not prepared'}"
        return
    commands = [case.subject, *(p for p in case.peers if p.argv(corpus.path))]
    print(f"measuring {case.name} ({', '.join(c.label for c in commands)})", file=sys.stderr)
    measure(commands, corpus.path, repeat, warmup=case.small)


def run_cached(case: Case, corpora: dict[str, Corpus], repeat: int) -> None:
    """Both tools check a scratch copy of a tree once to fill their caches, then are measured on it."""
    corpus = next((corpora[n] for n in CACHE_TREES if n in corpora and corpora[n].path is not None), None)
    if corpus is None or corpus.path is None:
        case.note = "skipped: no tree to cache"
        return
    case.work = f"second check of {corpus.name}, cached"
    case.corpus = corpus.name
    scratch, copy = fresh_copy(corpus.path)
    try:
        commands = [case.subject, *(p for p in case.peers if p.argv(copy))]
        print(f"measuring cache on a copy of {corpus.name}", file=sys.stderr)
        for command in commands:  # warm: fills the cache in the copy (the scratch dir is the cwd)
            run_once(command.argv(copy), scratch)
        for _ in range(repeat):
            for command in commands:
                command.runs.append(run_once(command.argv(copy), scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


PARSE_ONLY = (
    "import sys, libcst\nwith open(sys.argv[1], encoding='utf-8') as f:\n    libcst.parse_module(f.read())\n"
)


@dataclass
class Memory:
    file_mb: float
    varmigrate: Command
    libcst: Command


def run_memory(tools: Tools, corpora: dict[str, Corpus], repeat: int) -> Memory:
    """Peak RSS of `varmigrate check` on the ~1.4 MB module against a process that only parses it."""
    big = corpora["big-file"]
    assert big.path is not None
    python = tools.python
    memory = Memory(
        big.megabytes,
        Command("varmigrate check", Argv(tools).varmigrate("check")),
        Command("libcst.parse_module", lambda path: [python, "-c", PARSE_ONLY, str(path)], ok=frozenset({0})),
    )
    print("measuring memory", file=sys.stderr)
    measure([memory.varmigrate, memory.libcst], big.path, repeat, warmup=False)
    return memory


# Report -----------------------------------------------------------------------------------------------


def seconds(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def table(cases: Sequence[Case], corpora: dict[str, Corpus]) -> list[str]:
    lines = [
        "| work | varmigrate CPU s | wall s | peer | peer CPU s | ratio (CPU) | target | met |",
        "| --- | ---: | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for case in cases:
        corpus = corpora.get(case.corpus)
        work = case.work + (f" ({corpus.describe()})" if corpus and corpus.path and corpus.files > 1 else "")
        if case.note or not case.subject.runs:
            note = case.note or "not measured"
            lines.append(f"| {work} | {note} | | | | | {'; '.join(t.text for t in case.targets)} | |")
            continue
        subject = case.subject
        failure = subject.failure()
        cpu = seconds(subject.median_cpu()) + (f" ({failure})" if failure else "")
        wall = seconds(subject.median_wall())
        for index, peer in enumerate(case.peers):
            targets = [t for t in case.targets if t.peer == peer.role or (t.peer is None and index == 0)]
            if peer.runs:
                peer_failure = peer.failure()
                peer_cpu = seconds(peer.median_cpu()) + (f" ({peer_failure})" if peer_failure else "")
                ratio = f"{subject.median_cpu() / peer.median_cpu():.2f}x" if peer.median_cpu() > 0 else "—"
            else:
                peer_cpu, ratio = "—", "—"
            verdicts = [None if failure else t.met(subject, peer if peer.runs else None) for t in targets]
            met = "; ".join("—" if v is None else ("yes" if v else "**no**") for v in verdicts)
            target = "; ".join(t.text for t in targets) or "—"
            lines.append(
                f"| {work} | {cpu} | {wall} | {peer.label} | {peer_cpu} | {ratio} | {target} | {met or '—'} |"
            )
    return lines


def memory_line(memory: Memory | None) -> str | None:
    if memory is None:
        return None
    ours, theirs = memory.varmigrate, memory.libcst
    failures = [f"{c.label}: {c.failure()} ({c.runs[-1].error})" for c in (ours, theirs) if c.failure()]
    if failures:
        return "Peak memory: not measured; " + "; ".join(failures)
    ratio = ours.median_rss() / theirs.median_rss()
    verdict = "yes" if ratio <= 1.0 else "**no**"
    return (
        f"Peak memory (RSS) on a {memory.file_mb:.1f} MB module with one `Variable` call: varmigrate check "
        f"{ours.median_rss():.0f} MB, libcst.parse_module alone {theirs.median_rss():.0f} MB: "
        f"ratio {ratio:.2f}x (target ≤ 1.0x): met {verdict}"
    )


def command_json(c: Command) -> dict[str, object]:
    out: dict[str, object] = {"label": c.label, "runs": [asdict(r) for r in c.runs]}
    if c.runs:
        out |= {"cpu_s": c.median_cpu(), "wall_s": c.median_wall(), "maxrss_mb": c.median_rss()}
    return out


def to_json(
    info: dict[str, str],
    corpora: dict[str, Corpus],
    cases: Sequence[Case],
    memory: Memory | None,
    repeat: int,
) -> dict[str, object]:
    return {
        "machine": info,
        "repeat": repeat,
        "corpora": {
            n: {"path": str(c.path) if c.path else None, "files": c.files, "mb": c.megabytes, "note": c.note}
            for n, c in corpora.items()
        },
        "cases": [
            {
                "name": case.name,
                "work": case.work,
                "note": case.note,
                "varmigrate": command_json(case.subject),
                "peers": [command_json(p) for p in case.peers],
                "targets": [
                    {
                        "text": t.text,
                        "peer": t.peer,
                        "met": t.met(
                            case.subject,
                            next((p for p in case.peers if p.role == t.peer and p.runs), None),
                        )
                        if case.subject.runs
                        else None,
                    }
                    for t in case.targets
                ],
            }
            for case in cases
        ],
        "memory": (
            {
                "file_mb": memory.file_mb,
                "varmigrate": command_json(memory.varmigrate),
                "libcst": command_json(memory.libcst),
            }
            if memory
            else None
        ),
    }


# Main -------------------------------------------------------------------------------------------------

NAMES = (
    "version",
    "version-script",
    "clean-file",
    "clean-file-script",
    "modern-file",
    "legacy-file",
    "fix-legacy-file",
    "torch",
    "transformers",
    "fairseq",
    "transformers-repo",
    "pyro",
    "torchtext",
    "fix-pyro",
    f"copies-{COPIES}",
    f"fix-copies-{COPIES}",
    "memory",
    "cache",
)


def corpora_for(names: set[str]) -> set[str]:
    """The downloadable corpora the selected rows need (empty: all)."""
    if not names:
        return set()
    needed = {n for n in names if n in ("torch", *DOWNLOADED)}
    if "fix-pyro" in names:
        needed.add("pyro")
    if "cache" in names or "transformers-repo" in names:
        needed.add("transformers")
    return needed or {"none"}


def main(args_list: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--varmigrate-python",
        help="python that runs varmigrate (default: a venv in bench/data/ with this tree pip-installed)",
    )
    parser.add_argument(
        "--baseline-python",
        help="python of another varmigrate (a release, installed in a venv of its own) measured as a peer "
        "of every varmigrate row, taking turns with this one",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median; default 3)")
    parser.add_argument("--quick", action="store_true", help="one run per measurement (and per small case)")
    parser.add_argument("--only", default="", help="comma-separated rows: " + ", ".join(NAMES))
    parser.add_argument("--json", type=Path, help="also save the raw numbers here")
    parser.add_argument("--prepare", action="store_true", help="fetch and unpack the corpora, then stop")
    parser.add_argument("--torchfix", help="the torchfix command (default: beside the python, on PATH)")
    parser.add_argument(
        "--torchfix-trees",
        action="store_true",
        help="run TorchFix on torch, transformers and fairseq too (CPU minutes per run)",
    )
    args = parser.parse_args(args_list)

    only = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - set(NAMES)
    if unknown:
        parser.error(f"unknown row(s) {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}")
    repeat = 1 if args.quick else max(1, args.repeat)
    small_repeat = 1 if args.quick else max(repeat, SMALL_REPEAT)

    # Absolute, not resolved: the commands run from a scratch directory, and a venv's python is a symlink.
    # torch is found where this script runs (the development venv has it; the installed one need not).
    corpora = prepare(sys.executable, set() if args.prepare else corpora_for(only))
    if args.prepare:
        for corpus in corpora.values():
            print(f"{corpus.name}: {corpus.path or ''} ({corpus.describe()})")
        return 0
    given = args.varmigrate_python
    python = os.path.abspath(given) if given else installed_venv(sys.executable)
    tools = find_tools(python, args.torchfix, ruff_python=sys.executable)

    info = machine(tools)
    print(
        f"Machine: {info['cores']} cores, {info['cpu']}; Python {info['python']}; {info['varmigrate']}; "
        f"{info['ruff']}; {info['torchfix']}",
        flush=True,
    )
    mode = "quick, 1 run each" if args.quick else f"median of {repeat} runs ({small_repeat} for single files)"
    print(f"Figures: {mode}; CPU = user+sys of the child; ratio = varmigrate CPU / peer CPU.\n", flush=True)

    cases = [c for c in build_cases(Argv(tools), tools, args.torchfix_trees) if not only or c.name in only]
    if args.baseline_python:
        other = os.path.abspath(args.baseline_python)
        baseline = find_tools(other, args.torchfix, ruff_python=sys.executable)
        version = quiet_output([*baseline.varmigrate, "--version"])
        print(f"Baseline: {version}, a peer of every row.\n", flush=True)
        add_baseline(cases, build_cases(Argv(baseline), baseline, args.torchfix_trees), version)
    for case in cases:
        run_case(case, corpora, small_repeat if case.small else repeat)
    memory = run_memory(tools, corpora, repeat) if not only or "memory" in only else None

    print("\n".join(table(cases, corpora)))
    line = memory_line(memory)
    if line:
        print(f"\n{line}")
    skipped = [c for c in corpora.values() if c.path is None]
    for corpus in skipped:
        print(f"\nSkipped {corpus.name}: {corpus.note}")
    if args.json:
        args.json.write_text(json.dumps(to_json(info, corpora, cases, memory, repeat), indent=2) + "\n")
        print(f"\nRaw numbers: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
