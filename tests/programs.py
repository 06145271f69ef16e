"""Python programs that use torch, run by the tests in processes forked from one that has imported torch.

Importing torch costs a process about two CPU seconds, which is most of what running a small training
script costs. The tests that run such scripts before and after a fix (the project trees, the tutorial's
code blocks, doctest on a fixed module) start them here instead: one server process per test worker
imports torch once, and forks a child for each program. The child is a real run of the program, as
``python SCRIPT``, ``python -c CODE`` or ``python -m MODULE`` would make it, in its own directory,
environment and standard streams; only ``import torch`` finds the module loaded already.

Not for what must start a fresh interpreter: the command line (``python -m varmigrate``, whose start-up
is under test) and ``varmigrate verify``'s runs, which start the command they are given.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

# The server: imports torch, then for each request (a JSON line on stdin) forks a child that runs the
# program with its streams in the files named, and answers with the child's exit status.
_SERVER = r"""
import json, os, runpy, sys, traceback
import torch, torch.nn, torch.optim  # noqa: F401  (what the children share)

requests = os.fdopen(os.dup(0), "r")
replies = os.fdopen(os.dup(1), "w")


def run(argv):
    if argv[0] == "-c":
        sys.argv = ["-c", *argv[2:]]
        sys.path[0] = ""
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(argv[1], "<string>", "exec"), namespace)
    elif argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


def child(request):
    streams = [os.open(os.devnull, os.O_RDONLY)]
    streams += [os.open(request[n], os.O_WRONLY | os.O_CREAT | os.O_TRUNC) for n in ("stdout", "stderr")]
    for fd, stream in enumerate(streams):
        os.dup2(stream, fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    try:
        run(request["argv"])
        code = 0
    except SystemExit as exit:
        if exit.code is None or isinstance(exit.code, int):
            code = exit.code or 0
        else:
            print(exit.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


for line in requests:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(request)
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps(os.waitstatus_to_exitcode(status)) + "\n")
    replies.flush()
"""


class _Server:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        atexit.register(self.close)

    def run(
        self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
    ) -> tuple[int, str, str]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        with tempfile.TemporaryDirectory(prefix="varmigrate-program-") as scratch:
            out, err = Path(scratch, "stdout"), Path(scratch, "stderr")
            request = {"argv": list(argv), "cwd": str(cwd), "env": dict(env)}
            request |= {"stdout": str(out), "stderr": str(err)}
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            if not ready:
                self.close()
                raise subprocess.TimeoutExpired(list(argv), timeout)
            reply = self.process.stdout.readline()
            if not reply:
                raise RuntimeError(f"the program server ended: exit status {self.process.wait()}")
            return int(json.loads(reply)), out.read_text(errors="replace"), err.read_text(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


_server: _Server | None = None


def run_python(
    args: Sequence[str], cwd: Path, *, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` (a script and its arguments, ``-c CODE ...`` or ``-m MODULE ...``) run in ``cwd``,
    its output captured as text: what ``subprocess.run([sys.executable, *args], ...)`` returns."""
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = _Server()
    code, stdout, stderr = _server.run(args, cwd, os.environ if env is None else env, timeout)
    return subprocess.CompletedProcess([sys.executable, *args], code, stdout, stderr)
