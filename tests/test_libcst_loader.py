"""LibCST imported through `pipeline.libcst_loader`, and the second stage's modules within
`pipeline.kept_code.compiled_once`: their dataclasses' methods are exactly those a plain import makes,
whether their code was compiled in the run or read from the kept table; runs that import different modules
add up to one table; a table that cannot be trusted is passed over; nothing is written where bytecode is
not.

Each case is a fresh interpreter (LibCST is imported once per process), with ``PYTHONPYCACHEPREFIX``
pointing at a temporary directory, so the table is written there and nowhere else."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Every method ``dataclasses`` generated for a class of LibCST or varmigrate (their code is compiled from
# "<string>"), described by what running it depends on: its code, closure, annotations and defaults.
FINGERPRINT = """
import dataclasses, json, sys, types

def code(c):
    consts = [code(k) if isinstance(k, types.CodeType) else repr(k) for k in c.co_consts]
    return [c.co_code.hex(), consts, c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars,
            c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount, c.co_flags, c.co_firstlineno,
            c.co_qualname, c.co_filename, c.co_linetable.hex(), c.co_exceptiontable.hex()]

def cell(value):
    return type(value).__qualname__ if repr(value).startswith("<") else repr(value)

methods = {}
for name, module in sorted(sys.modules.items()):
    if not name.startswith(("libcst", "varmigrate")):
        continue
    for cls in vars(module).values():
        if not isinstance(cls, type) or cls.__module__ != name or not dataclasses.is_dataclass(cls):
            continue
        for attribute, fn in vars(cls).items():
            if isinstance(fn, types.FunctionType) and fn.__code__.co_filename == "<string>":
                methods[f"{name}.{cls.__qualname__}.{attribute}"] = [
                    code(fn.__code__),
                    [cell(c.cell_contents) for c in fn.__closure__ or ()],
                    repr(fn.__annotations__),
                    repr(fn.__defaults__),
                    repr(fn.__kwdefaults__),
                ]
print(json.dumps(methods))
"""
THROUGH_LOADER = "import varmigrate.pipeline.libcst_loader as loader\nprint(loader.compiled_texts)\n"
PLAIN = "print(None)\nimport libcst\n"
# Modules of the second stage with dataclasses of their own (records, results, the worker pool).
OWN = (
    "varmigrate.pipeline.single",
    "varmigrate.engine.analysis",
    "varmigrate.engine.fixer",
    "varmigrate.pipeline.workers",
    "varmigrate.pipeline.project",
)
PLAIN_OWN = "print(None)\nimport libcst\n" + "".join(f"import {module}\n" for module in OWN)


def _through_block(*modules: str) -> str:
    """A program that imports LibCST and ``modules`` in one block, then says how many texts it compiled."""
    imports = "".join(f"    import {module}\n" for module in ("varmigrate.pipeline.libcst_loader", *modules))
    return "from varmigrate.pipeline.kept_code import compiled, compiled_once\nwith compiled_once():\n" + (
        imports + "print(compiled())\n"
    )


def _bytecode_under(prefix: Path) -> dict[str, str]:
    """This environment, with bytecode (and so the loader's table) written under ``prefix``."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(prefix)
    env["PYTHONHASHSEED"] = "0"  # defaults such as `frozenset({"a", "b"})` print alike in every process
    return env


def _run(program: str, prefix: Path, *, write: bool = True) -> tuple[int | None, dict[str, object]]:
    """Run ``program`` then the fingerprint in a fresh interpreter: texts compiled, and the methods."""
    env = _bytecode_under(prefix)
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", program + FINGERPRINT],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    compiled, methods = done.stdout.splitlines()
    return (None if compiled == "None" else int(compiled)), json.loads(methods)


def _table(prefix: Path) -> Path:
    """The loader's table under the bytecode prefix ``prefix``."""
    (found,) = prefix.rglob("kept_code.*.dataclasses")
    return found


def test_kept_methods_are_the_ones_a_plain_import_makes(tmp_path: Path) -> None:
    _, plain = _run(PLAIN, tmp_path / "plain")
    assert len(plain) > 500  # LibCST's nodes were seen
    compiled, first = _run(THROUGH_LOADER, tmp_path / "loader")
    assert compiled is not None
    assert compiled > 500
    table = _table(tmp_path / "loader")
    compiled_again, second = _run(THROUGH_LOADER, tmp_path / "loader")
    assert compiled_again == 0  # every text came from the table
    assert _table(tmp_path / "loader").stat().st_mtime_ns == table.stat().st_mtime_ns  # not rewritten
    assert first == plain
    assert second == plain


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "another interpreter", "not code"],
)
def test_a_table_that_cannot_be_trusted_is_passed_over_and_rewritten(tmp_path: Path, damage: str) -> None:
    _, plain = _run(PLAIN, tmp_path / "plain")
    compiled, _ = _run(THROUGH_LOADER, tmp_path)
    table = _table(tmp_path)
    data = table.read_bytes()
    key, texts = marshal.loads(data)
    if damage == "garbage":
        table.write_bytes(b"\x00not a table")
    elif damage == "truncated":
        table.write_bytes(data[: len(data) // 2])
    elif damage == "another interpreter":
        table.write_bytes(marshal.dumps(((key[0], "3.0.0 (another build)", key[2]), texts)))
    else:
        table.write_bytes(marshal.dumps((key, dict.fromkeys(texts, "not code"))))
    compiled_after, methods = _run(THROUGH_LOADER, tmp_path)
    assert compiled_after == compiled
    assert methods == plain
    assert marshal.loads(table.read_bytes())[0] == key  # written again, whole
    assert _run(THROUGH_LOADER, tmp_path)[0] == 0


def test_nothing_is_written_where_bytecode_is_not(tmp_path: Path) -> None:
    compiled, _ = _run(THROUGH_LOADER, tmp_path, write=False)
    assert compiled is not None
    assert compiled > 500
    assert not list(tmp_path.rglob("*.dataclasses"))


def test_a_place_where_nothing_can_be_written_is_passed_over(tmp_path: Path) -> None:
    blocked = tmp_path / "a file, not a directory"
    blocked.write_text("")
    compiled, methods = _run(THROUGH_LOADER, blocked)
    assert compiled is not None
    assert compiled > 500
    assert blocked.read_text() == ""
    assert methods == _run(PLAIN, tmp_path / "plain")[1]


def test_a_check_that_reaches_libcst_keeps_the_table(tmp_path: Path) -> None:
    script = tmp_path / "legacy.py"
    script.write_text("from torch.autograd import Variable\nx = Variable(torch.ones(2))\n")
    env = _bytecode_under(tmp_path / "prefix")
    command = [sys.executable, "-m", "varmigrate", "check", "--isolated", "--no-cache", str(script)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "VM" in done.stdout
    texts = marshal.loads(_table(tmp_path / "prefix").read_bytes())[1]
    assert len(texts) > 500
    # The second stage's own modules were imported within a block too: their code is kept.
    program = _through_block("varmigrate.pipeline.single", "varmigrate.engine.analysis")
    again = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env)
    assert again.stdout.strip() == "0", again.stderr


def _texts(prefix: Path) -> set[str]:
    return set(marshal.loads(_table(prefix).read_bytes())[1])


def test_the_second_stages_own_records_keep_their_methods(tmp_path: Path) -> None:
    _, plain = _run(PLAIN_OWN, tmp_path / "plain")
    own = [name for name in plain if name.startswith("varmigrate.")]
    assert len(own) > 100  # the modules' records were seen
    compiled, first = _run(_through_block(*OWN), tmp_path / "kept")
    assert compiled is not None
    assert compiled > 600
    compiled_again, second = _run(_through_block(*OWN), tmp_path / "kept")
    assert compiled_again == 0
    assert first == plain
    assert second == plain


def test_runs_that_import_different_modules_add_up_to_one_table(tmp_path: Path) -> None:
    check, fix = _through_block("varmigrate.pipeline.workers"), _through_block("varmigrate.engine.fixer")
    first = _run(check, tmp_path)[0] or 0
    assert first > 500
    after_check = _texts(tmp_path)
    assert 0 < (_run(fix, tmp_path)[0] or 0) < first / 3  # only the fixer's modules' texts were new
    table = _table(tmp_path)
    assert _texts(tmp_path) > after_check
    written = table.stat().st_mtime_ns
    assert _run(check, tmp_path)[0] == 0
    assert _run(fix, tmp_path)[0] == 0
    assert table.stat().st_mtime_ns == written  # neither run rewrote it


@pytest.mark.parametrize(("stale", "stays"), [(10, True), (5000, False)])
def test_texts_of_no_use_stay_while_they_are_a_minority(tmp_path: Path, stale: int, stays: bool) -> None:
    # The run uses some 800 texts: 10 others stay, 5,000 would be most of the file.
    _run(THROUGH_LOADER, tmp_path)
    table = _table(tmp_path)
    key, texts = marshal.loads(table.read_bytes())
    junk = {f"# no dataclass writes this {n}\n": compile("pass", "<string>", "exec") for n in range(stale)}
    table.write_bytes(marshal.dumps((key, {**texts, **junk})))
    compiled, _ = _run(_through_block(*OWN), tmp_path)  # new texts: the file is written
    assert compiled
    kept = _texts(tmp_path)
    assert kept >= set(texts)
    if stays:
        assert kept >= set(junk)
    else:
        assert not kept & set(junk)
    assert _run(_through_block(*OWN), tmp_path)[0] == 0
