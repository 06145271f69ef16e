"""Reading and writing source files: decoding by BOM or PEP 263 cookie, atomic writes.

Source text is decoded from bytes and encoded back to bytes with the file's own encoding (PEP 263 cookie,
UTF-8 BOM) and never passes through newline translation, so CRLF and mixed newlines survive a fix. Writes
are atomic and keep the file's permissions.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import functools
import io
import os
import re
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from varmigrate.model import Location


class DecodeError(Exception):
    """Bytes that are not text in the file's declared encoding."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


class FileChangedError(OSError):
    """The file changed on disk between reading it and writing the fix."""


# Byte order marks of the wide Unicode encodings, longest first (UTF-32 LE starts like UTF-16 LE).
# CPython itself reads only UTF-8 (and PEP 263 encodings) as source, but editors save UTF-16 files,
# and a byte search for "torch" never matches them: they are decoded before any test.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class DecodedSource(NamedTuple):
    """Text decoded from a file, and how to write it back: the encoding (``utf-8-sig`` when there is a
    UTF-8 BOM) and, for UTF-16 and UTF-32, the byte order mark that precedes it."""

    text: str
    encoding: str
    bom: bytes = b""

    def encode(self, text: str) -> bytes:
        """``text`` in this file's encoding (BOM included when the file had one)."""
        return self.bom + text.encode(self.encoding)


def wide_encoding(data: bytes) -> tuple[bytes, str] | None:
    """The BOM and encoding of UTF-16 or UTF-32 ``data``, None for any other file."""
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            return bom, encoding
    return None


def mentions(data: bytes, word: str) -> bool:
    """Whether the file ``data`` spells ``word`` (ASCII), whatever its encoding: a byte search first."""
    if word.encode("ascii") in data:
        return True
    wide = wide_encoding(data)
    if wide is None:
        return False
    bom, encoding = wide
    return word.encode(encoding) in data[len(bom) :]


def decode(data: bytes) -> DecodedSource:
    """Decode Python source bytes by their BOM or PEP 263 cookie, keeping every newline as it is."""
    wide = wide_encoding(data)
    if wide is not None:
        bom, encoding = wide
        try:
            return DecodedSource(data[len(bom) :].decode(encoding), encoding, bom)
        except UnicodeDecodeError as error:
            raise DecodeError(f"cannot decode: not valid {encoding} ({error.reason})") from None
    if not data.startswith(codecs.BOM_UTF8) and b"coding" not in _first_lines(data):
        # No cookie, no BOM: UTF-8, as `tokenize.detect_encoding` would say (which the start-up of a run
        # need not import). Bytes that are not UTF-8 take the way below, for its errors.
        try:
            return DecodedSource(data.decode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            pass
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        raise DecodeError(f"cannot decode: {error}") from None
    try:
        # bytes.decode never translates newlines (unlike text-mode reads), so CRLF and lone CR stay.
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise DecodeError(
            f"cannot decode: not valid {error.encoding} ({error.reason})",
            _byte_location(data, error.start, encoding),
        ) from None
    return DecodedSource(text, encoding)


def _first_lines(data: bytes) -> bytes:
    """The first two lines of ``data``, where a PEP 263 cookie may be (lines end at b"\\n" here)."""
    first = data.find(b"\n") + 1
    second = data.find(b"\n", first) + 1 if first else 0
    return data[:second] if second else data


def _byte_location(data: bytes, offset: int, encoding: str) -> Location:
    """The row and column (in characters, best effort) of byte ``offset``."""
    line_start = max(data.rfind(b"\n", 0, offset), data.rfind(b"\r", 0, offset)) + 1
    row = len(re.findall(r"\r\n|\r|\n", data[:line_start].decode("latin-1"))) + 1
    column = len(data[line_start:offset].decode(encoding, errors="replace")) + 1
    return Location(row, column)


def split_lines(text: str) -> list[str]:
    """``text`` split after each ``\\r\\n``, ``\\r`` or ``\\n``, line breaks kept (``str.splitlines``
    would also split at form feeds and other characters Python's tokenizer keeps in a line)."""
    return _line().findall(text)


@functools.cache
def _line() -> re.Pattern[str]:
    """A line with its line break, if any (compiled on first use: the first stage splits no lines)."""
    return re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the regular file at ``path`` (through symlinks). Raises :class:`OSError`, also for
    FIFOs, devices and sockets, which are never read: a FIFO would block, a device never end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read()


# The temporary file a write goes through: `.NAME.varmigrate-XXXXXXXX.tmp` beside the file, renamed over
# it when complete. Only a process killed at that moment (SIGKILL, a power cut) leaves one behind.
_TEMPORARY = "varmigrate-"


@functools.cache
def _stale() -> re.Pattern[str]:
    """The name of such a file (compiled on first use: almost no directory holds one)."""
    return re.compile(r"\.(?P<name>.+)\.varmigrate-[a-z0-9_]{8}\.tmp")


# A younger one may belong to a run going on right now (they live for milliseconds).
STALE_AFTER_SECONDS = 60.0


def remove_stale_temporaries(directories: Iterable[Path], now: float | None = None) -> list[Path]:
    """Remove the temporary files an interrupted write left in ``directories``; the paths removed.

    Only files named as :func:`write_atomic` names them, beside a file of that name, and older than
    :data:`STALE_AFTER_SECONDS`, are removed.
    """
    now = time.time() if now is None else now
    removed = []
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        names = {entry.name for entry in entries}
        for entry in entries:
            match = _stale().fullmatch(entry.name) if _TEMPORARY in entry.name else None
            if match is None or match["name"] not in names:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < STALE_AFTER_SECONDS:
                    continue
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


def write_atomic(path: Path, data: bytes, *, expected: bytes | None = None) -> None:
    """Replace the contents of ``path`` atomically, keeping its permissions, owner and links.

    The rules (as ruff and black behave, plus atomicity):

    - A symlink is followed: the file it points to gets the new contents, wherever it lives, and the
      link stays a link.
    - The mode bits are the owner's wish, also for root: a file without the owner's write permission,
      or in a directory without it, is not written (:class:`PermissionError`).
    - A file with other hard links is rewritten in place, so that every name keeps seeing one file;
      such a write is not atomic. Any other file is written to a temporary file beside it, which is
      renamed over it: a reader sees the old contents or the new, never a mixture.

    With ``expected`` (the bytes the new contents were made from), raise :class:`FileChangedError`
    instead of writing when the file no longer holds them: an edit made while varmigrate worked is
    never overwritten. The check is made right before the rename.
    """
    target = Path(os.path.realpath(path))
    info = target.stat()
    if not info.st_mode & stat.S_IWUSR:
        raise PermissionError(errno.EACCES, "the file is read-only")
    if not target.parent.stat().st_mode & stat.S_IWUSR:
        raise PermissionError(errno.EACCES, "its directory is read-only")
    if info.st_nlink > 1:
        _write_in_place(target, data, expected)
        return
    import tempfile

    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{_TEMPORARY}", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        # Only the owner or root may hand a file to another owner; the mode is kept regardless.
        with contextlib.suppress(OSError):
            os.chown(temporary, info.st_uid, info.st_gid)
        _check_unchanged(target, expected)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _write_in_place(target: Path, data: bytes, expected: bytes | None) -> None:
    """Overwrite ``target`` itself (its inode, so every hard link sees the change)."""
    _check_unchanged(target, expected)
    fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())


def _check_unchanged(target: Path, expected: bytes | None) -> None:
    if expected is not None and read_regular(target) != expected:
        raise FileChangedError(errno.EBUSY, "file changed while fixing; not written")


__all__ = [
    "DecodeError",
    "DecodedSource",
    "FileChangedError",
    "decode",
    "mentions",
    "read_regular",
    "remove_stale_temporaries",
    "split_lines",
    "wide_encoding",
    "write_atomic",
]
