"""Exclusive locks for the jobs that must not overlap: imports, cycle runs, dispatchers.

A lock is held by one process at a time, across processes on this machine (an ``flock`` on a file
under ``data_dir/locks``) and, when the database is PostgreSQL, across machines (a session-level
advisory lock on a connection of its own, released by PostgreSQL if the holder dies). A waiter
gives up after ``wait_s`` with :class:`LockBusyError` naming the holder, never a traceback.

Imports queue in date order: each waiter announces the as-of date it waits with (a small file it
keeps locked while it waits), and a holder asked :meth:`Held.earlier_waiting` steps aside for an
earlier day, so two imports of consecutive days started together apply in order.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from recoup.errors import ConflictError

_POLL_S = 0.1


class LockBusyError(ConflictError):
    """Another process holds the lock and did not release it in time."""

    code = "lock.busy"
    exit_code = 75  # EX_TEMPFAIL: try again later


def _pg_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"recoup:{name}".encode()).digest()[:8], "big", signed=True)


def _open_lock_file(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Held:
    """A held lock; ``earlier_waiting`` tells whether a waiter with a smaller order key is queued."""

    name: str
    directory: Path
    order: str | None

    def earlier_waiting(self) -> bool:
        return _earlier_waiter(self.directory, self.name, self.order)


def _earlier_waiter(directory: Path, name: str, order: str | None) -> bool:
    """Whether a live process waits for ``name`` with an order key smaller than ``order``."""
    if order is None:
        return False
    for p in directory.glob(f"{name}.wait.*"):
        parts = p.name.split(".")
        if len(parts) < 4 or parts[2] >= order:
            continue
        fd = None
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            if _try_flock(fd):  # nobody holds it: a waiter that died; tidy up
                with suppress(OSError):
                    p.unlink()
                continue
            return True
        except OSError:
            continue
        finally:
            if fd is not None:
                os.close(fd)
    return False


@contextmanager
def _announce(directory: Path, name: str, order: str | None) -> Iterator[None]:
    """While waiting, keep ``name.wait.<order>.<pid>`` locked so holders can see the queue."""
    if order is None:
        yield
        return
    path = directory / f"{name}.wait.{order}.{os.getpid()}"
    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with suppress(OSError):
            path.unlink()
        os.close(fd)


def _pg_connection(bind: Engine | Connection | None) -> Connection | None:
    if bind is None:
        return None
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "postgresql":
        return None
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def exclusive(
    name: str,
    *,
    data_dir: Path,
    bind: Engine | Connection | None = None,
    wait_s: float = 0.0,
    order: str | None = None,
    what: str = "",
) -> Iterator[Held]:
    """Hold the lock ``name`` for the block; wait up to ``wait_s`` seconds for it.

    ``order`` (e.g. an as-of date) queues waiters: :meth:`Held.earlier_waiting` is true while a
    waiter with a smaller ``order`` waits. ``what`` describes the holder in the busy message.
    """
    directory = Path(data_dir) / "locks"
    path = directory / f"{name}.lock"
    try:
        fd = _open_lock_file(path)
    except OSError as exc:
        from recoup.errors import ConfigError

        raise ConfigError(f"cannot create the lock file {path}: {exc.strerror}") from None
    pg: Connection | None = None
    got_pg = False
    try:
        deadline = time.monotonic() + max(0.0, wait_s)
        with _announce(directory, name, order):
            while True:
                # First come, first served — except that an earlier day waiting goes first.
                if not _earlier_waiter(directory, name, order) and _try_flock(fd):
                    if pg is None:
                        pg = _pg_connection(bind)
                    if (
                        pg is None
                        or pg.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _pg_key(name)}).scalar()
                    ):
                        got_pg = pg is not None
                        break
                    fcntl.flock(fd, fcntl.LOCK_UN)  # the other machine holds it: let go and wait
                if time.monotonic() >= deadline:
                    info = _holder(path)
                    who = (
                        f" (pid {info.get('pid')}, {info.get('what') or name}, since {info.get('since')})"
                        if info
                        else ""
                    )
                    raise LockBusyError(
                        f"another {name} is running{who}; waited {wait_s:g} s. Try again when it has "
                        f"finished. 另一个任务正在运行，请稍后再试。",
                        details={"lock": name, "holder": info, "waited_s": wait_s},
                    )
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "what": what,
                    "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            ).encode(),
            0,
        )
        yield Held(name, directory, order)
    finally:
        if pg is not None:
            with suppress(Exception):
                if got_pg:
                    pg.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _pg_key(name)})
            pg.close()
        with suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
