"""Reading and writing source files: decoding by BOM or PEP 263 cookie, atomic writes.

Source text is decoded from bytes and encoded back to bytes with the file's own encoding (PEP 263 cookie,
UTF-8 BOM) and never passes through newline translation, so CRLF and mixed newlines survive a fix. Writes
are atomic and keep the file's permissions.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from varmigrate.model import Location

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class DecodeError(Exception):
    """Bytes that are not text in the file's declared encoding."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


@dataclass(frozen=True)
class DecodedSource:
    """Text decoded from a file, and the encoding (``utf-8-sig`` when there is a BOM) to write it back."""

    text: str
    encoding: str

    def encode(self, text: str) -> bytes:
        """``text`` in this file's encoding (BOM included when the file had one)."""
        return text.encode(self.encoding)


def decode(data: bytes) -> DecodedSource:
    """Decode Python source bytes by their BOM or PEP 263 cookie, keeping every newline as it is."""
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


def _byte_location(data: bytes, offset: int, encoding: str) -> Location:
    """The row and column (in characters, best effort) of byte ``offset``."""
    line_start = max(data.rfind(b"\n", 0, offset), data.rfind(b"\r", 0, offset)) + 1
    row = len(_LINE_BREAK.findall(data[:line_start].decode("latin-1"))) + 1
    column = len(data[line_start:offset].decode(encoding, errors="replace")) + 1
    return Location(row, column)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace the contents of ``path`` (through symlinks) atomically, keeping its permissions."""
    target = Path(os.path.realpath(path))
    info = target.stat()
    # As root, os.replace would happily rewrite a read-only file; treat the mode as the owner's wish.
    if not info.st_mode & stat.S_IWUSR:
        raise PermissionError(f"{path} is read-only")
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        # Only the owner or root may hand a file to another owner; the mode is kept regardless.
        with contextlib.suppress(OSError):
            os.chown(temporary, info.st_uid, info.st_gid)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


__all__ = ["DecodeError", "DecodedSource", "decode", "write_atomic"]
