"""files.py: discovery, decoding, byte-exact fixing, atomic writes."""

from __future__ import annotations

import io
import os
import stat
import tokenize
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from varmigrate.pipeline import Job, Mode, process_bytes, process_file
from varmigrate.sources.discovery import DEFAULT_EXCLUDED_DIRS, Excluder, discover
from varmigrate.sources.io import DecodeError, decode, wide_encoding

LEGACY = (
    "import torch\nfrom torch.autograd import Variable\na = Variable(torch.ones((2,2)), requires_grad=True)\n"
)
FIXED = "import torch\na = torch.ones((2,2), requires_grad=True)\n"
CALL = b"Variable(torch.ones((2,2)), requires_grad=True)"
NEW_CALL = b"torch.ones((2,2), requires_grad=True)"
IMPORT = b"from torch.autograd import Variable"
FIX = Job(mode=Mode.FIX)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode())
    else:
        path.write_bytes(content)
    return path


def names(files: list[Path], root: Path) -> list[str]:
    """Discovered paths relative to ``root`` (the working directory, so they come back relative)."""
    return [(root / file).relative_to(root).as_posix() for file in files]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- decoding --------------------------------------------------------------------------------------------


def test_decode_utf8_bom_is_kept_for_writing() -> None:
    data = b"\xef\xbb\xbfx = 1\n"
    source = decode(data)
    assert source.text == "x = 1\n"
    assert source.encode(source.text) == data


def test_decode_latin1_cookie() -> None:
    data = "# -*- coding: latin-1 -*-\ns = 'caf\xe9'\n".encode("latin-1")
    source = decode(data)
    assert "caf\xe9" in source.text
    assert source.encode(source.text) == data


def test_decode_keeps_crlf_and_lone_cr() -> None:
    data = b"a = 1\r\nb = 2\rc = 3\n"
    assert decode(data).text == "a = 1\r\nb = 2\rc = 3\n"


def test_undecodable_bytes_name_their_position() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(b"import torch\nx = '\xff'\n")
    assert caught.value.location is not None
    assert (caught.value.location.row, caught.value.location.column) == (2, 6)


def _decoded_by_tokenize(data: bytes) -> tuple[str, str, bytes] | str:
    """What `decode` gives for 8-bit ``data``, defined by `tokenize.detect_encoding`: (text, encoding,
    BOM), or the error's message and position."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        return f"cannot decode: {error}"
    try:
        return data.decode(encoding), encoding, b""
    except UnicodeDecodeError as error:
        return f"cannot decode: not valid {error.encoding} ({error.reason})"


# Lines that hold a cookie or only look like one, lines that are not UTF-8, a UTF-8 BOM, line ends.
_PIECES = [
    b"# -*- coding: latin-1 -*-",
    b"# vim: set fileencoding=utf-8 :",
    b"# coding=ascii",
    b"# coding: no-such-codec",
    b"x = 'coding: latin-1'",
    b"# a comment",
    b"import torch",
    b"",
    b"  ",
    b"\xff\xfe",
    b"caf\xc3\xa9",
    b"caf\xe9",
    b"\xef\xbb\xbf",
    b"\n",
    b"\r\n",
    b"\r",
]


@given(st.lists(st.sampled_from(_PIECES), max_size=8).map(b"".join))
@example(b"#!/usr/bin/env python\n# -*- coding: latin-1 -*-\ncaf\xe9\n")  # the cookie's second line
@example(b"#!/usr/bin/env python\n\n# -*- coding: latin-1 -*-\ncaf\xe9\n")  # too late: not UTF-8
@example(b"\xef\xbb\xbf# coding: latin-1\n")  # a BOM says UTF-8, the cookie does not
def test_decoding_is_what_tokenize_declares(data: bytes) -> None:
    assume(wide_encoding(data) is None)  # UTF-16 and UTF-32 go by their BOM alone
    expected = _decoded_by_tokenize(data)
    if isinstance(expected, str):
        with pytest.raises(DecodeError) as caught:
            decode(data)
        assert str(caught.value) == expected
    else:
        source = decode(data)
        assert (source.text, source.encoding, source.bom) == expected


# -- byte-exact fixing -----------------------------------------------------------------------------------


def test_fix_plain_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.py", LEGACY)
    result = process_file(path, FIX)
    assert (result.fixed, result.written, result.errors) == (1, True, [])
    assert path.read_text() == FIXED


def test_crlf_is_preserved(tmp_path: Path) -> None:
    data = LEGACY.replace("\n", "\r\n").encode()
    path = write(tmp_path / "crlf.py", data)
    process_file(path, FIX)
    assert path.read_bytes() == FIXED.replace("\n", "\r\n").encode()


def test_mixed_newlines_are_preserved(tmp_path: Path) -> None:
    data = b"import torch\n" + IMPORT + b"\r\nx = 1\ra = " + CALL + b"\r\n\r\ny = 2  # end\n"
    path = write(tmp_path / "mixed.py", data)
    process_file(path, FIX)
    assert path.read_bytes() == b"import torch\nx = 1\ra = " + NEW_CALL + b"\r\n\r\ny = 2  # end\n"


def test_bom_is_preserved(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.py", b"\xef\xbb\xbf" + LEGACY.encode())
    process_file(path, FIX)
    assert path.read_bytes() == b"\xef\xbb\xbf" + FIXED.encode()


def test_latin1_file_with_non_ascii_text_is_preserved(tmp_path: Path) -> None:
    text = (
        "# -*- coding: latin-1 -*-\nimport torch\nfrom torch.autograd import Variable\n"
        "# caf\xe9 na\xefve\n"
        "a = Variable(torch.ones((2,2)), requires_grad=True)  # \xe9t\xe9\ns = '\xe0 la'\n"
    )
    path = write(tmp_path / "latin.py", text.encode("latin-1"))
    process_file(path, FIX)
    expected = text.replace("from torch.autograd import Variable\n", "").replace(
        CALL.decode(), NEW_CALL.decode()
    )
    assert path.read_bytes() == expected.encode("latin-1")


def test_python2_file_is_reported_and_left_byte_identical(tmp_path: Path) -> None:
    data = b"import torch\nfrom torch.autograd import Variable\r\nprint Variable(x)\nx = " + CALL + b"\n"
    path = write(tmp_path / "py2.py", data)
    result = process_file(path, FIX)
    assert path.read_bytes() == data
    assert not result.written
    [error] = result.errors
    assert str(error).startswith(f"{path}:3:1: cannot parse: ")
    assert "print" in error.message


def test_async_parameter_is_a_parse_error_at_its_column(tmp_path: Path) -> None:
    data = (
        b"import torch\nfrom torch.autograd import Variable\ndef f(t, async=True):\n    return Variable(t)\n"
    )
    path = write(tmp_path / "asy.py", data)
    [error] = process_file(path, FIX).errors
    assert error.location is not None
    assert (error.location.row, error.location.column) == (3, 10)
    assert path.read_bytes() == data


def test_async_keyword_argument_is_renamed_in_place(tmp_path: Path) -> None:
    data = b"import torch\r\nfrom torch.autograd import Variable\r\nx = Variable(t.cuda(async=True))\r\n"
    path = write(tmp_path / "asy.py", data)
    result = process_file(path, FIX)
    assert result.errors == []
    assert path.read_bytes() == b"import torch\r\nx = t.cuda(non_blocking=True).detach()\r\n"


def test_undecodable_file_is_an_error_and_untouched(tmp_path: Path) -> None:
    data = LEGACY.encode() + b"s = '\xff'\n"
    path = write(tmp_path / "bad.py", data)
    [error] = process_file(path, FIX).errors
    assert str(error).startswith(f"{path}:4:6: cannot decode")
    assert path.read_bytes() == data


def test_file_without_torch_is_not_parsed(tmp_path: Path) -> None:
    # Unparseable (Python 2), but it cannot hold a finding: the byte prefilter skips it.
    path = write(tmp_path / "other.py", b"print 'cafe'\n")
    result = process_file(path, FIX)
    assert (result.errors, result.diagnostics, result.changed) == ([], [], False)


def test_file_without_torch_that_cannot_be_decoded_is_an_error(tmp_path: Path) -> None:
    # Before, it passed unseen: the byte prefilter skipped it before decoding.
    path = write(tmp_path / "other.py", b"print 'caf\xe9'\n")
    result = process_file(path, FIX)
    assert [str(error) for error in result.errors] == [
        f"{path}: cannot decode: invalid or missing encoding declaration"
    ]
    assert not result.changed


def test_unchanged_files_keep_their_mtime(tmp_path: Path) -> None:
    clean = write(tmp_path / "clean.py", "import torch\nx = torch.ones(2)\n")
    unfixable = write(
        tmp_path / "named.py", "from torch.autograd import Variable\nv = Variable(t, name='v')\n"
    )
    for path in (clean, unfixable):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
        result = process_file(path, FIX)
        assert not result.written
        assert path.stat().st_mtime_ns == 1_000_000_000


def test_permissions_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "script.py", LEGACY)
    path.chmod(0o751)
    process_file(path, FIX)
    assert path.read_text() == FIXED
    assert stat.S_IMODE(path.stat().st_mode) == 0o751


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = write(tmp_path / "a.py", LEGACY)
    process_file(path, FIX)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]


def test_read_only_file_is_an_error_and_untouched(tmp_path: Path) -> None:
    path = write(tmp_path / "ro.py", LEGACY)
    path.chmod(0o444)
    result = process_file(path, FIX)
    [error] = result.errors
    assert "cannot write" in error.message
    assert result.fixed == 0
    assert path.read_text() == LEGACY


def test_fix_through_a_symlink_rewrites_the_target(tmp_path: Path) -> None:
    target = write(tmp_path / "real.py", LEGACY)
    link = tmp_path / "link.py"
    link.symlink_to(target)
    process_file(link, FIX)
    assert link.is_symlink()
    assert target.read_text() == FIXED


def test_diff_job_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "a.py", LEGACY)
    result = process_file(path, Job(mode=Mode.DIFF))
    assert path.read_text() == LEGACY
    assert result.changed
    assert not result.written
    assert "-a = Variable(torch.ones((2,2)), requires_grad=True)\n" in result.diff
    assert "+a = torch.ones((2,2), requires_grad=True)\n" in result.diff


def test_process_bytes_returns_fixed_bytes_only_on_change() -> None:
    result, new = process_bytes(LEGACY.encode(), "-", FIX)
    assert new == FIXED.encode()
    assert result.fixed == 1
    assert process_bytes(FIXED.encode(), "-", FIX)[1] is None


def test_remaining_findings_carry_their_source_lines() -> None:
    source = "from torch.autograd import Variable\nif t:\r\tv = Variable(t, name='v')\r\n"
    result, _ = process_bytes(source.encode(), "x.py", Job())
    assert result.lines == {(None, 3): "\tv = Variable(t, name='v')"}


def test_missing_file_is_a_read_error(tmp_path: Path) -> None:
    [error] = process_file(tmp_path / "gone.py", FIX).errors
    assert "cannot read" in error.message


# -- discovery ---------------------------------------------------------------------------------------------


def test_walk_finds_python_files_sorted_and_skips_default_dirs(in_tmp: Path) -> None:
    for name in ("b.py", "a.py", "pkg/c.py", "notes.txt", "pkg/data.json"):
        write(in_tmp / name, "")
    for folder in DEFAULT_EXCLUDED_DIRS:
        write(in_tmp / folder / "x.py", "")
        write(in_tmp / "pkg" / folder / "y.py", "")
    found = discover([Path(".")])
    assert names(found.files, in_tmp) == ["a.py", "b.py", "pkg/c.py"]
    assert found.errors == []


def test_walk_enters_no_symlinked_directory_and_keeps_symlinked_files(in_tmp: Path) -> None:
    write(in_tmp / "real" / "a.py", "")
    (in_tmp / "linked").symlink_to(in_tmp / "real", target_is_directory=True)
    (in_tmp / "b.py").symlink_to(in_tmp / "real" / "a.py")
    (in_tmp / "gone.py").symlink_to(in_tmp / "missing.py")
    os.mkfifo(in_tmp / "pipe.py")
    found = discover([Path(".")])
    # As `os.walk`: the link to a directory is not entered; links to files are files (a broken one is
    # the reader's to report), and a FIFO is skipped with a warning.
    assert names(found.files, in_tmp) == ["b.py", "gone.py", "real/a.py"]
    assert [str(w) for w in found.warnings] == ["pipe.py: skipped: a FIFO, not a regular file"]
    assert found.errors == []


def test_explicit_file_in_excluded_dir_is_checked_unless_force_exclude(in_tmp: Path) -> None:
    write(in_tmp / "build" / "gen.py", "")
    assert names(discover([Path("build/gen.py")]).files, in_tmp) == ["build/gen.py"]
    assert discover([Path("build/gen.py")], force_exclude=True).files == []


def test_explicit_directory_is_walked_even_if_its_name_is_excluded(in_tmp: Path) -> None:
    write(in_tmp / "build" / "gen.py", "")
    assert names(discover([Path("build")]).files, in_tmp) == ["build/gen.py"]


def test_explicit_non_python_file_is_kept(in_tmp: Path) -> None:
    write(in_tmp / "script", "")
    assert names(discover([Path("script")]).files, in_tmp) == ["script"]


def test_missing_path_is_an_error_and_others_go_on(in_tmp: Path) -> None:
    write(in_tmp / "a.py", "")
    found = discover([Path("nope.py"), Path("a.py")])
    assert names(found.files, in_tmp) == ["a.py"]
    assert [str(e) for e in found.errors] == ["nope.py: no such file or directory"]


def test_duplicates_are_processed_once(in_tmp: Path) -> None:
    write(in_tmp / "a.py", "")
    assert len(discover([Path("a.py"), Path("."), Path("./a.py")]).files) == 1


def test_gitignore_root_and_nested(in_tmp: Path) -> None:
    write(in_tmp / ".gitignore", "generated/\n*_pb2.py\n")
    write(in_tmp / "sub" / ".gitignore", "/local.py\nskip_*.py\n!skip_keep.py\n")
    for name in (
        "keep.py",
        "generated/x.py",
        "api_pb2.py",
        "sub/local.py",
        "sub/deeper/local.py",
        "sub/skip_me.py",
        "sub/skip_keep.py",
        "sub/api_pb2.py",
        "local.py",
    ):
        write(in_tmp / name, "")
    found = discover([Path(".")])
    assert names(found.files, in_tmp) == ["keep.py", "local.py", "sub/deeper/local.py", "sub/skip_keep.py"]


def test_gitignore_can_be_turned_off(in_tmp: Path) -> None:
    write(in_tmp / ".gitignore", "*.py\n")
    write(in_tmp / "a.py", "")
    assert discover([Path(".")]).files == []
    assert names(discover([Path(".")], respect_gitignore=False).files, in_tmp) == ["a.py"]


def test_parent_gitignore_applies_inside_a_repository(in_tmp: Path) -> None:
    (in_tmp / ".git").mkdir()
    write(in_tmp / ".gitignore", "src/gen/\n")
    write(in_tmp / "src" / "gen" / "x.py", "")
    write(in_tmp / "src" / "ok.py", "")
    assert names(discover([Path("src")]).files, in_tmp) == ["src/ok.py"]


def test_parent_gitignore_outside_a_repository_is_not_used(in_tmp: Path) -> None:
    write(in_tmp / ".gitignore", "src/gen/\n")
    write(in_tmp / "src" / "gen" / "x.py", "")
    assert names(discover([Path("src")]).files, in_tmp) == ["src/gen/x.py"]


_PATTERN_PARTS = ["a", "b", "ab", "*", "**", "?", "[ab]", "x.py", "*.py", "\\!a", "a b", "\\*"]
_PATH_PARTS = ["a", "b", "ab", "x.py", "a.py", "!a", "a b", "*", "c"]


@given(
    lines=st.lists(
        st.builds(
            lambda negated, rooted, parts, directory: (
                ("!" if negated else "")
                + ("/" if rooted else "")
                + "/".join(parts)
                + ("/" if directory else "")
            ),
            st.booleans(),
            st.booleans(),
            st.lists(st.sampled_from(_PATTERN_PARTS), min_size=1, max_size=3),
            st.booleans(),
        )
        | st.sampled_from(["", "# a comment", "a/**/b", "**/a", "a/**"]),
        max_size=8,
    ),
    path=st.lists(st.sampled_from(_PATH_PARTS), min_size=1, max_size=4),
    directory=st.booleans(),
)
@example(lines=["*.py", "!x.py"], path=["x.py"], directory=False)
@example(lines=["a/", "!a/x.py"], path=["a", "x.py"], directory=False)
@example(lines=["b", "*.py"], path=["a", "x.py"], directory=False)
@example(lines=["/b", "a/"], path=["b", "a"], directory=True)
@settings(max_examples=500)  # cheap: no file is read
def test_gitignore_patterns_decide_as_pathspec(lines: list[str], path: list[str], directory: bool) -> None:
    """One expression for all of a .gitignore's patterns tells the paths none matches; pathspec decides
    the rest: the decision is pathspec's, for every path, negated patterns and directories included."""
    import pathspec

    from varmigrate.sources.discovery import Patterns

    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    patterns = Patterns(spec)
    assert patterns.joined
    relative = "/".join(path) + ("/" if directory else "")
    include = spec.check_file(relative).include
    assert patterns.decision(relative) == (None if include is None else bool(include))


def test_exclude_patterns(in_tmp: Path) -> None:
    for name in (
        "a.py",
        "legacy_old.py",
        "pkg/legacy_new.py",
        "fixtures/x/expected.py",
        "fixtures/x/input.py",
    ):
        write(in_tmp / name, "")
    found = discover([Path(".")], exclude=["legacy_*.py", "fixtures/**/expected.py"])
    assert names(found.files, in_tmp) == ["a.py", "fixtures/x/input.py"]
    found = discover([Path(".")], exclude=["pkg/"])
    assert "pkg/legacy_new.py" not in names(found.files, in_tmp)


def test_exclude_applies_to_explicit_files_only_with_force_exclude(in_tmp: Path) -> None:
    write(in_tmp / "legacy_old.py", "")
    assert len(discover([Path("legacy_old.py")], exclude=["legacy_*"]).files) == 1
    assert discover([Path("legacy_old.py")], exclude=["legacy_*"], force_exclude=True).files == []


def test_is_excluded_for_stdin_filename(in_tmp: Path) -> None:
    assert Excluder([]).excluded_explicit(Path(".venv/lib/x.py"))
    assert Excluder(["gen/"]).excluded_explicit(Path("gen/x.py"))
    assert not Excluder(["gen/"]).excluded_explicit(Path("src/x.py"))


def test_explicit_directory_that_is_ignored_is_walked_with_the_other_patterns(in_tmp: Path) -> None:
    (in_tmp / ".git").mkdir()
    write(in_tmp / ".gitignore", "vendor/\n*_pb2.py\n")
    for name in ("vendor/lib/a.py", "vendor/lib/api_pb2.py", "vendor/skip/b.py"):
        write(in_tmp / name, "")
    found = discover([Path("vendor")], exclude=["vendor", "skip/"])
    assert names(found.files, in_tmp) == ["vendor/lib/a.py"]
    assert discover([Path(".")]).files == []


def test_a_file_renamed_into_place_before_its_result_is_recorded_counts_as_written(tmp_path: Path) -> None:
    """What an interruption reports is what is on disk: a signal may land between the rename that writes
    a fixed file and the statement that records it; the count then asks the file itself."""
    from varmigrate.pipeline import processing
    from varmigrate.sources.io import write_atomic

    paths = [tmp_path / "a.py", tmp_path / "b.py"]
    for path in paths:
        path.write_text(LEGACY)
    with processing([(path, Job(mode=Mode.FIX)) for path in paths], workers=0) as batch:
        first, second = batch.tasks
        batch._result(first)
        assert batch.written == 1
        _, new_data = batch._second_stage(second)
        assert new_data is not None
        batch._writing = (second, new_data)  # as `_result` sets it, just before writing
        assert batch.written == 1  # not renamed yet
        write_atomic(second.path, new_data, expected=second.data)
        assert batch.written == 2  # renamed, its result not recorded
