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

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.configs.models import ConfigVersion

T = TypeVar("T")

#: Enough for every kind × name × option a process uses; the oldest entry goes first beyond it.
MAX_ENTRIES: Final = 256

_lock = threading.Lock()
_built: OrderedDict[Hashable, Any] = OrderedDict()


def latest_stamp(kind: str, name: str, *, session: Session) -> tuple[int, str] | None:
    """(version, content hash) of the newest version of (kind, name); None when none is saved."""
    row = session.execute(
        select(ConfigVersion.version, ConfigVersion.content_sha256)
        .where(ConfigVersion.kind == kind, ConfigVersion.name == name)
        .order_by(ConfigVersion.version.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


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
