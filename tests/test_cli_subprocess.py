"""The command line as a user runs it: real `python -m varmigrate` processes, a real terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from support import clean_env, run_in_terminal

LEGACY = (
    "import torch\nfrom torch.autograd import Variable\na = Variable(torch.ones((2,2)), requires_grad=True)\n"
)
FIXED = "import torch\na = torch.ones((2,2), requires_grad=True)\n"
ANSI = b"\x1b["

pytestmark = pytest.mark.slow  # each test starts `python -m varmigrate`


def run(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "varmigrate", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=clean_env(),
        check=False,
        timeout=120,
    )


def test_python_m_check_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text(LEGACY)
    checked = run("check", "a.py", cwd=tmp_path)
    assert checked.returncode == 1
    # Not a terminal: the concise format, with no colour codes.
    assert checked.stdout.decode().splitlines()[0] == (
        "a.py:3:5: VM001 [*] `Variable(...)` is deprecated and detaches its argument"
    )
    assert ANSI not in checked.stdout
    fixed = run("fix", "a.py", cwd=tmp_path)
    assert (fixed.returncode, fixed.stdout) == (0, b"Fixed 1 finding (0 remaining).\n")
    assert path.read_text() == FIXED


def test_python_m_fix_stdin_keeps_bytes(tmp_path: Path) -> None:
    source = ("# -*- coding: latin-1 -*-\r\n# d\xe9j\xe0 vu\r\n" + LEGACY.replace("\n", "\r\n")).encode(
        "latin-1"
    )
    done = run("fix", "-", cwd=tmp_path, stdin=source)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "# -*- coding: latin-1 -*-\r\n# d\xe9j\xe0 vu\r\n" + FIXED.replace("\n", "\r\n")
    ).encode("latin-1")


def test_errors_exit_2_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text("import torch\nfrom torch.autograd import Variable\nprint Variable(x)\n")
    done = run("check", "old.py", "missing.py", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "error: missing.py: no such file or directory",
        "error: old.py:3:1: cannot parse: Missing parentheses in call to 'print'. Did you mean print(...)?",
    ]
    assert done.stdout == b"2 errors (see above).\n"


def _run_python(script: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``script`` in a fresh interpreter in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        capture_output=True,
        env=clean_env(),
        check=False,
        timeout=120,
    )


def test_check_and_fix_never_import_torch(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(LEGACY)
    (tmp_path / "b.py").write_text(LEGACY)
    script = textwrap.dedent(
        """
        import sys
        from varmigrate.cli import main
        codes = (main(["check", "a.py"]), main(["fix", "b.py"]))
        print(codes, "torch" in sys.modules)
        """
    )
    done = _run_python(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[-1] == "(1, 0) False"
    assert (tmp_path / "b.py").read_text() == FIXED


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "varmigrate"
    if not script.exists():
        pytest.skip("the package is not installed with its console script in this environment")
    done = subprocess.run([str(script), "--version"], capture_output=True, check=False, timeout=120)
    assert done.returncode == 0
    assert done.stdout.startswith(b"varmigrate ")
    # It ends as `python -m varmigrate` does (the next test).
    (entry,) = entry_points(group="console_scripts", name="varmigrate")
    assert entry.value == "varmigrate.cli:script"


def test_python_m_ends_without_collecting(tmp_path: Path) -> None:
    """After the run, the collector is off and what the process holds frozen; atexit hooks still run."""
    (tmp_path / "a.py").write_text(LEGACY)
    probe = textwrap.dedent(
        """
        import atexit, gc, runpy, sys
        report = lambda: print("collector", gc.isenabled(), gc.get_freeze_count() > 0, file=sys.stderr)
        atexit.register(report)
        sys.argv = ["varmigrate", "check", "a.py"]
        runpy.run_module("varmigrate", run_name="__main__", alter_sys=True)
        """
    )
    done = _run_python(probe, tmp_path)
    assert done.returncode == 1
    assert done.stdout.decode().splitlines()[0].startswith("a.py:3:5: VM001 ")
    assert done.stderr.decode().splitlines() == ["collector False True"]


def test_terminal_gets_full_format_in_colour(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(LEGACY)
    code, output, _ = run_in_terminal(["check", "a.py"], tmp_path)
    assert code == 1
    assert ANSI in output
    assert b"= " in output
    assert b"help" in output
    assert b"^^^^" in output


def test_terminal_without_colour(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(LEGACY)
    for args, env in ((["check", "a.py"], {"NO_COLOR": "1"}), (["check", "--no-color", "a.py"], {})):
        code, output, _ = run_in_terminal(args, tmp_path, **env)
        assert code == 1
        assert ANSI not in output
        assert b"  |     ^^^^" in output


def test_rule_docs_render_as_markdown_on_a_terminal(tmp_path: Path) -> None:
    code, output, _ = run_in_terminal(["rule", "VM001"], tmp_path)
    assert code == 0
    assert b"What it does" in output
    assert b"## What it does" not in output


def test_check_fix_and_verify_without_torch_installed(tmp_path: Path) -> None:
    """With torch unimportable (as if not installed), check and fix work; verify says how to get it."""
    (tmp_path / "a.py").write_text(LEGACY)
    (tmp_path / "b.py").write_text(LEGACY)
    script = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # any `import torch` now raises ImportError
        from varmigrate.cli import main
        print(main(["check", "a.py"]), main(["fix", "b.py"]), main(["verify", "a.py"]))
        """
    )
    done = _run_python(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[-1] == "1 0 2"
    assert (tmp_path / "b.py").read_text() == FIXED
    assert "varmigrate[verify]" in done.stderr.decode() + done.stdout.decode()


def test_worker_processes_give_the_same_results_in_the_same_order(tmp_path: Path) -> None:
    # Enough source mentioning torch to be worth a pool (pipeline.POOL_THRESHOLD_BYTES).
    padding = ("# " + "torch filler " * 40 + "\n") * 160
    for index in range(8):
        (tmp_path / f"m{index}.py").write_text(padding + LEGACY)
    outputs = []
    for jobs in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-m", "varmigrate", "fix", "--diff", "--jobs", jobs, "."],
            cwd=tmp_path,
            capture_output=True,
            env=clean_env(),
            check=False,
            timeout=300,
        )
        assert done.returncode == 1, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"+a = torch.ones((2,2), requires_grad=True)") == 8


@pytest.mark.parametrize(
    ("source", "args"),
    [
        ("from torch.autograd import Variable\nv = Variable(x)\n", ["--output-format", "concise"]),
        ("from torch.autograd import Variable\nv = Variable(x)\n", ["--output-format", "json-lines"]),
        ("import torch\nx = torch.ones(2)\n", []),
    ],
    ids=["findings", "json-lines", "clean"],
)
def test_a_reader_that_went_away_ends_the_run_quietly(tmp_path: Path, source: str, args: list[str]) -> None:
    """`varmigrate check | head`: once the reader has gone, the run ends with exit 1 and no traceback."""
    (tmp_path / "a.py").write_text(source)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: the first write fails
    try:
        done = subprocess.run(
            [sys.executable, "-m", "varmigrate", "check", "--no-cache", *args, "a.py"],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr
