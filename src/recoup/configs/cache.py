"""Per-process caches of what is built from versioned configuration (approval matrices, contact-policy
presets, decision tables): the pages ask for them on every request, and building one from its payload
costs milliseconds while asking the database which version is the latest costs one indexed query.

The key is the latest version's content hash, so a new version (saved by this process or any other)
is seen at the next request, and two databases (tests) never share an entry by accident. Built objects
are shared between requests and threads: callers must treat them as read-only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Final, TypeVar

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from recoup.configs.models import ConfigVersion

T = TypeVar("T")

#: Enough for every kind × name × option a process uses; the oldest entry goes first beyond it.
MAX_ENTRIES: Final = 256

_lock = threading.Lock()
_built: OrderedDict[Hashable, Any] = OrderedDict()


#: ``session.info`` key of the stamps read once per unit of work (see :func:`latest_stamp`).
STAMPS_KEY: Final = "recoup.config_stamps"


def latest_stamp(kind: str, name: str, *, session: Session) -> tuple[int, str] | None:
    """(version, content hash) of the newest version of (kind, name); None when none is saved.

    A page asks for several (the matrix, the contact preset, the decision table): the first call in a
    unit of work reads the newest stamp of every (kind, name) in one query and keeps them in
    ``session.info`` — the unit of work sees one snapshot, like its transaction. Saving a version
    in the unit of work, or its transaction's end, forgets them."""
    return _stamps(session).get((kind, name))


def saved_names(kind: str, *, session: Session) -> list[str]:
    """The names of ``kind`` with at least one saved version, sorted (from the same snapshot)."""
    return sorted(n for k, n in _stamps(session) if k == kind)


def _stamps(session: Session) -> dict[tuple[str, str], tuple[int, str]]:
    stamps: dict[tuple[str, str], tuple[int, str]] | None = session.info.get(STAMPS_KEY)
    if stamps is None:
        newest = (
            select(ConfigVersion.kind, ConfigVersion.name, func.max(ConfigVersion.version).label("v"))
            .group_by(ConfigVersion.kind, ConfigVersion.name)
            .subquery()
        )
        rows = session.execute(
            select(
                ConfigVersion.kind, ConfigVersion.name, ConfigVersion.version, ConfigVersion.content_sha256
            ).join(
                newest,
                (newest.c.kind == ConfigVersion.kind)
                & (newest.c.name == ConfigVersion.name)
                & (newest.c.v == ConfigVersion.version),
            )
        ).all()
        stamps = {(str(k), str(n)): (int(v), str(h)) for k, n, v, h in rows}
        session.info[STAMPS_KEY] = stamps
    return stamps


@event.listens_for(Session, "after_flush")
def _saved(session: Session, _flush: Any) -> None:
    """A version written (or removed) in this unit of work: read the stamps again."""
    if any(isinstance(o, ConfigVersion) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(STAMPS_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    """A new transaction (a long-lived session's next unit of work) sees the versions saved meanwhile."""
    if transaction.parent is None:
        session.info.pop(STAMPS_KEY, None)


def memo(key: Hashable, build: Callable[[], T]) -> T:
    """``build()`` once per ``key`` in this process (two threads may both build it; either is kept)."""
    with _lock:
        if key in _built:
            _built.move_to_end(key)
            found: T = _built[key]
            return found
    value = build()
    with _lock:
        _built[key] = value
        while len(_built) > MAX_ENTRIES:
            _built.popitem(last=False)
    return value


def latest_built(
    kind: str,
    name: str,
    *,
    session: Session,
    build: Callable[[dict[str, Any], int], T],
    options: Hashable = None,
) -> T | None:
    """``build(payload, version)`` of the newest saved version of (kind, name), cached by its content hash
    (and ``options``, what else ``build`` depends on); None when no version is saved. One kind has one
    builder (the key does not name it)."""
    stamp = latest_stamp(kind, name, session=session)
    if stamp is None:
        return None
    version, digest = stamp

    def load() -> T:
        payload = session.scalar(
            select(ConfigVersion.payload).where(
                ConfigVersion.kind == kind, ConfigVersion.name == name, ConfigVersion.version == version
            )
        )
        return build(dict(payload or {}), version)

    return memo(("config", kind, name, version, digest, options), load)


def clear() -> None:
    """Forget everything (tests that change what a builder does)."""
    with _lock:
        _built.clear()
