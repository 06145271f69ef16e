"""Run a command in a prepared tree with the gradient recorder in every Python process it starts."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from varmigrate.harness import recorder
from varmigrate.harness.recorder import ProcessRecord, read_record

_HERE = Path(__file__).resolve().parent
SITECUSTOMIZE_DIR = _HERE / "sitecustomize"
RECORDER_FILE = _HERE / "recorder.py"
_STDERR_TAIL = 30


@dataclass(frozen=True)
class RunSpec:
    """What one run needs: the command, where it runs, and how it is recorded."""

    label: str  # "baseline" or "candidate"
    command: tuple[str, ...]
    tree: Path  # the copy (or worktree) the command runs in
    cwd: Path  # relative to ``tree``: the same place in both runs
    output: Path  # directory for this run's records and captured output
    seed: int
    original: Path  # the user's tree: code imported from it means the copy was bypassed
    shared: tuple[Path, ...] = ()  # directories both runs use (linked environments)
    evidence: bool = False  # baseline: count call sites and shim `.data[0]`
    timeout: float | None = None  # seconds; the command's whole process group is ended past it


@dataclass
class RunOutcome:
    """What a run did: exit status, output, and every process's record."""

    spec: RunSpec
    returncode: int | None  # None: the command could not be started
    start_error: str | None
    stdout: bytes
    stderr: bytes
    seconds: float
    processes: list[ProcessRecord] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``baseline`` or ``candidate``."""
        return self.spec.label

    @property
    def stdout_digest(self) -> str:
        """A digest of everything the command printed on stdout."""
        return hashlib.sha256(self.stdout).hexdigest()

    def stderr_tail(self, lines: int = _STDERR_TAIL) -> str:
        """The last lines the command printed on stderr."""
        text = self.stderr.decode("utf-8", "replace").rstrip()
        return "\n".join(text.splitlines()[-lines:])

    @property
    def calls(self) -> int:
        """Backward / autograd.grad calls over all processes."""
        return sum(len(p["calls"]) for p in self.processes)

    @property
    def exception(self) -> dict[str, str] | None:
        """The uncaught exception of the first process that had one."""
        return next((p["exception"] for p in self.processes if p["exception"]), None)


def recording_environment(spec: RunSpec, base: Mapping[str, str]) -> dict[str, str]:
    """The command's environment: the user's, plus the recorder, the seeds and deterministic settings."""
    env = {k: v for k, v in base.items() if not k.startswith("VARMIGRATE_")}
    python_path = [str(SITECUSTOMIZE_DIR)]
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(python_path)
    env["VARMIGRATE_RECORDER"] = str(RECORDER_FILE)
    env[recorder.ENV_RUN] = str(spec.output / "records")
    env[recorder.ENV_ROOT] = str(spec.tree)
    env[recorder.ENV_ORIGINAL] = str(spec.original)
    env[recorder.ENV_SHARED] = os.pathsep.join(str(p) for p in spec.shared)
    env[recorder.ENV_SEED] = str(spec.seed)
    if spec.evidence:
        env[recorder.ENV_SITES] = "1"
    # Set iteration order and str hashes must not differ between the runs.
    env["PYTHONHASHSEED"] = str(spec.seed)
    # Deterministic cuBLAS on GPUs (torch.use_deterministic_algorithms asks for it).
    env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return env


def run(spec: RunSpec, environ: Mapping[str, str] | None = None) -> RunOutcome:
    """Run ``spec.command`` in ``spec.tree`` and collect what it recorded."""
    records = spec.output / "records"
    records.mkdir(parents=True, exist_ok=True)
    env = recording_environment(spec, os.environ if environ is None else environ)
    cwd = spec.tree / spec.cwd
    stdout_path = spec.output / "stdout"
    stderr_path = spec.output / "stderr"
    started = time.perf_counter()
    timed_out = False
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        try:
            # A session of its own: the command and every process it starts form one group, which
            # is ended as a whole on a time-out or when verify itself is interrupted.
            process = subprocess.Popen(
                list(spec.command),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as error:
            return RunOutcome(spec, None, _start_error(spec.command, error), b"", b"", 0.0)
        try:
            returncode = process.wait(timeout=spec.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = _end_group(process)
        except BaseException:
            _end_group(process)
            raise
    seconds = time.perf_counter() - started
    if timed_out:
        message = f"the {spec.label} timed out after {spec.timeout:g} s (see --timeout)"
        return RunOutcome(spec, None, message, stdout_path.read_bytes(), stderr_path.read_bytes(), seconds)
    return RunOutcome(
        spec=spec,
        returncode=returncode,
        start_error=None,
        stdout=stdout_path.read_bytes(),
        stderr=stderr_path.read_bytes(),
        seconds=seconds,
        processes=read_records(records),
    )


# After SIGTERM, how long the command's processes get to end before SIGKILL.
_GRACE_SECONDS = 5.0


def _end_group(process: subprocess.Popen[bytes]) -> int:
    """End ``process`` and every process of its group (SIGTERM, then SIGKILL); its exit status."""
    for sig, wait in ((signal.SIGTERM, _GRACE_SECONDS), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            return process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()


def _start_error(command: Sequence[str], error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return f"command not found: {command[0]}"
    return f"cannot run {command[0]}: {error.strerror or error}"


def read_records(directory: Path) -> list[ProcessRecord]:
    """Every process record of a run, in the order the processes started."""
    return [read_record(str(path)) for path in sorted(directory.glob("*.pkl"))]
