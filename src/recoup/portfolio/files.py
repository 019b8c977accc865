"""Opening files in a drop folder safely: only a regular file — never a symbolic link, FIFO,
device or socket — and never more than :data:`MAX_FILE_BYTES`."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from recoup.errors import ImportFileError

#: Largest file read, in bytes, as stored (CSV, XLSX or Parquet).
MAX_FILE_BYTES = 1 << 30


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _regular_stat(path: Path) -> os.stat_result:
    """``lstat`` of ``path``, refusing anything but a regular file (a symlink is not followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file", details={"file": str(path)}) from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read ({exc.strerror})", details={"file": str(path)}) from None
    if stat.S_ISLNK(st.st_mode):
        raise ImportFileError(
            f"{path}: is a symbolic link; only regular files are read (copy the file itself into the "
            f"folder) / 不读取符号链接",
            details={"file": str(path), "reason": "symlink"},
        )
    if stat.S_ISDIR(st.st_mode):
        raise ImportFileError(
            f"{path}: is a directory; give a file or use `recoup import DIR`",
            details={"file": str(path), "reason": "directory"},
        )
    if not stat.S_ISREG(st.st_mode):
        raise ImportFileError(
            f"{path}: is {_kind(st.st_mode)}, not a regular file; only regular files are read / 不是普通文件",
            details={"file": str(path), "reason": "not_regular"},
        )
    return st


def _too_large(path: Path, size: int | None, limit: int) -> ImportFileError:
    got = f"{size:,} bytes" if size is not None else "larger than that"
    return ImportFileError(
        f"{path.name}: the file is {got}; at most {limit:,} bytes are read / 文件过大",
        details={"file": str(path), "bytes": size, "limit": limit},
    )


def read_regular_file(path: Path, *, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` (default :data:`MAX_FILE_BYTES`).

    A symlink, FIFO, device, socket or directory is refused before anything is opened; the file is
    opened with ``O_NOFOLLOW | O_NONBLOCK`` (so a symlink or FIFO swapped in meanwhile cannot
    redirect or block the read) and must still be the same regular file once open.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    st = _regular_stat(path)
    if st.st_size > limit:
        raise _too_large(path, st.st_size, limit)
    flags = os.O_RDONLY
    for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC", "O_BINARY", "O_NOCTTY"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImportFileError(
                f"{path}: is a symbolic link; only regular files are read / 不读取符号链接",
                details={"file": str(path), "reason": "symlink"},
            ) from None
        raise ImportFileError(f"{path}: cannot read ({exc.strerror})", details={"file": str(path)}) from None
    with os.fdopen(fd, "rb", closefd=True) as fh:
        now = os.fstat(fh.fileno())
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise ImportFileError(
                f"{path}: the file was replaced while it was being opened; try again",
                details={"file": str(path), "reason": "replaced"},
            )
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _too_large(path, None, limit)
    return data
