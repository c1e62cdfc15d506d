"""Reading local inputs (plans, keys, zone, password and CA files) safely: one helper for all.

A FIFO, a device or a directory is refused before anything blocks on it (the file is opened
with O_NONBLOCK and checked with fstat), the size is bounded, and bytes that do not decode
give one line naming the file and the line, never a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import BadInput

#: Default bound: far above any plan, key or password file, far below what would hurt.
MAX_BYTES = 16 * 1024 * 1024
_KIND = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def _refuse(path: Path | str, mode: int, what: str) -> None:
    if not stat.S_ISREG(mode):
        kind = _KIND.get(stat.S_IFMT(mode), "not a regular file")
        raise BadInput(f"{what} {path}: is {kind}; give a regular file")


def check_regular(path: Path | str, what: str = "file") -> Path:
    """``path`` if it names a regular file; BadInput (one line) for FIFOs, devices, dirs, errors.

    Does not open the file, so it never blocks: for inputs another library opens (CA files).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    _refuse(path, mode, what)
    return Path(path)


def exposed(path: Path | str, what: str, consequence: str) -> str | None:
    """A warning when the secret file ``path`` can be read or written by group or others
    (key and password files alike), saying what a reader could do with it; else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
        return None
    return (
        f"{what} {path} is readable by group/others (mode {stat.S_IMODE(mode):o}): "
        f"{consequence}; chmod 600 {path}"
    )


def open_regular(path: Path | str, what: str = "file") -> BinaryIO:
    """A regular file opened for reading as a stream (inputs read line by line, never whole);
    FIFOs, devices and directories are refused as ``read_bytes`` refuses them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        _refuse(path, os.fstat(fd).st_mode, what)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_bytes(path: Path | str, what: str = "file", max_bytes: int = MAX_BYTES) -> bytes:
    """The whole content of a regular file of at most ``max_bytes``; BadInput otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        _refuse(path, st.st_mode, what)
        if st.st_size > max_bytes:
            raise BadInput(f"{what} {path}: {st.st_size} bytes, over the {max_bytes}-byte limit")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 1 << 20):  # bounded: stops past max_bytes
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise BadInput(f"{what} {path}: over the {max_bytes}-byte limit")
        return b"".join(chunks)
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def decode(data: bytes, path: Path | str, what: str = "file", line: int = 1) -> str:
    """UTF-8 text (a BOM is dropped); BadInput naming the line of the first bad byte
    (``line``: the number of the first line in ``data``, for text read line by line)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line += data.count(b"\n", 0, exc.start)
        raise BadInput(
            f"{what} {path}:{line}: byte 0x{data[exc.start]:02x} is not UTF-8 text"
        ) from None


def read_text(path: Path | str, what: str = "file", max_bytes: int = MAX_BYTES) -> str:
    """``read_bytes`` then ``decode``: the one way commands read a local text input."""
    return decode(read_bytes(path, what, max_bytes), path, what)
