"""Nothing lost, nothing hung: encodings no byte test sees, special files, races with editors, NUL bytes,
write failures. Real files and real runs of the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest
from support import clean_env, write

from varmigrate.engine import Settings
from varmigrate.pipeline import Job, Mode, process_file
from varmigrate.rules import RuleSpec, select_rules
from varmigrate.rules._base import Rule
from varmigrate.sources.io import FileChangedError, write_atomic

pytestmark = pytest.mark.stress

LEGACY = (
    "import torch\nfrom torch.autograd import Variable\nw = Variable(torch.ones(2), requires_grad=True)\n"
)
FIXED = "import torch\nw = torch.ones(2, requires_grad=True)\n"


def varmigrate(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "varmigrate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_or_utf32_file_is_checked_and_written_back_in_its_encoding(
    tmp_path: Path, encoding: str
) -> None:
    bom = {"utf-16": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-32": b"\xff\xfe\x00\x00"}[encoding]
    body_encoding = {"utf-16": "utf-16-le", "utf-16-be": "utf-16-be", "utf-32": "utf-32-le"}[encoding]
    path = tmp_path / "wide.py"
    path.write_bytes(bom + LEGACY.encode(body_encoding))
    checked = varmigrate("check", "wide.py", cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "VM001" in checked.stdout
    fixed = varmigrate("fix", "wide.py", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert path.read_bytes() == bom + FIXED.encode(body_encoding)


@pytest.mark.slow
def test_a_fifo_in_the_tree_is_skipped_and_the_rest_is_fixed(tmp_path: Path) -> None:
    write(tmp_path / "a.py", LEGACY)
    os.mkfifo(tmp_path / "b.py")
    write(tmp_path / "c.py", LEGACY)
    done = varmigrate("fix", ".", cwd=tmp_path, timeout=60)
    assert "b.py: skipped: a FIFO, not a regular file" in done.stderr
    assert (tmp_path / "a.py").read_text() == FIXED
    assert (tmp_path / "c.py").read_text() == FIXED
    assert done.returncode == 0


@pytest.mark.slow
def test_a_symlink_to_a_device_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "a.py", LEGACY)
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    done = varmigrate("check", ".", cwd=tmp_path, timeout=60)
    assert "zero.py: skipped: a device, not a regular file" in done.stderr
    assert "MemoryError" not in done.stderr
    assert done.returncode == 1  # the finding in a.py


@pytest.mark.slow
def test_a_file_with_a_nul_byte_is_an_error_and_never_written(tmp_path: Path) -> None:
    data = (LEGACY + "x = 1\0\n").encode()
    path = tmp_path / "nul.py"
    path.write_bytes(data)
    done = varmigrate("fix", "nul.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "nul.py:4:6: cannot parse: source code cannot contain null bytes" in done.stderr
    assert path.read_bytes() == data


@pytest.mark.slow
def test_a_read_only_file_reports_its_findings_as_remaining(tmp_path: Path) -> None:
    path = write(tmp_path / "ro.py", LEGACY)
    path.chmod(0o444)
    done = varmigrate("fix", "ro.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot write" in done.stderr
    assert "Found 1 finding in 1 file; none could be fixed." in done.stdout
    assert path.read_text() == LEGACY


def test_write_atomic_refuses_when_the_file_changed(tmp_path: Path) -> None:
    path = write(tmp_path / "x.py", "old\n")
    with pytest.raises(FileChangedError):
        write_atomic(path, b"new\n", expected=b"older\n")
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.py"]
    write_atomic(path, b"new\n", expected=b"old\n")
    assert path.read_bytes() == b"new\n"


class EditorWritesMeanwhile(Rule):
    """A rule that appends to the file being fixed, as an editor saving mid-run would."""

    target: Path
    saved = False

    def visit_Module(self, node: cst.Module) -> None:
        if not EditorWritesMeanwhile.saved:
            EditorWritesMeanwhile.saved = True
            with self.target.open("a") as handle:
                handle.write("print('saved by the editor')\n")


def test_an_edit_made_while_fixing_is_never_overwritten(tmp_path: Path) -> None:
    path = write(tmp_path / "big.py", LEGACY)
    EditorWritesMeanwhile.target = path
    editor = RuleSpec("VM997", __name__, "EditorWritesMeanwhile", "test rule", triggers=("Variable",))
    job = Job(Settings(rules=(*select_rules(["VM001"]), editor)), Mode.FIX)
    result = process_file(path, job)
    assert path.read_text() == LEGACY + "print('saved by the editor')\n"
    assert [str(error) for error in result.errors] == [f"{path}: file changed while fixing; not written"]
    assert not result.written


# -- links and permissions: one rule each, as the README's reliability section states ------------------


def test_a_read_only_directory_is_respected_as_a_read_only_file_is(tmp_path: Path) -> None:
    # As root, the rename used to go through: the directory's mode was ignored, the file's was not.
    folder = tmp_path / "locked"
    path = write(folder / "x.py", LEGACY)
    folder.chmod(0o555)
    try:
        done = varmigrate("fix", "--output-format", "concise", "locked/x.py", cwd=tmp_path)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2
    assert "locked/x.py: cannot write: its directory is read-only" in done.stderr
    assert path.read_text() == LEGACY
    assert sorted(p.name for p in folder.iterdir()) == ["x.py"]


def test_a_hard_linked_file_keeps_its_links(tmp_path: Path) -> None:
    # The rename used to split the links: the other name kept the legacy code.
    path = write(tmp_path / "x.py", LEGACY)
    other = tmp_path / "elsewhere.txt"
    os.link(path, other)
    done = varmigrate("fix", "x.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert path.read_text() == other.read_text() == FIXED
    assert path.stat().st_ino == other.stat().st_ino


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "real.py", LEGACY)
    link = tmp_path / "tree" / "link.py"
    link.parent.mkdir()
    link.symlink_to(outside)
    done = varmigrate("fix", "link.py", cwd=link.parent)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    assert outside.read_text() == FIXED
