"""Save and read versioned configuration. Services take ``session`` and never commit."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.configs.models import ConfigVersion
from recoup.errors import NotFoundError


def canonical_json(payload: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces, UTF-8) used for every content hash."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def do_save_version(
    kind: str,
    name: str,
    payload: dict[str, Any],
    *,
    session: Session,
    created_by: str = "system",
    comment: str = "",
) -> ConfigVersion:
    """Store ``payload`` as the next version of (kind, name); an unchanged payload returns the latest."""
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    latest = get_latest(kind, name, session=session, missing_ok=True)
    if latest is not None and latest.content_sha256 == digest:
        return latest
    row = ConfigVersion(
        kind=kind,
        name=name,
        version=(latest.version + 1) if latest else 1,
        payload=payload,
        content_sha256=digest,
        created_by=created_by,
        comment=comment,
    )
    session.add(row)
    session.flush()
    return row


def get_latest(kind: str, name: str, *, session: Session, missing_ok: bool = False) -> ConfigVersion | None:
    """The newest version of (kind, name)."""
    stmt = (
        select(ConfigVersion)
        .where(ConfigVersion.kind == kind, ConfigVersion.name == name)
        .order_by(ConfigVersion.version.desc())
        .limit(1)
    )
    row = session.scalars(stmt).first()
    if row is None and not missing_ok:
        raise NotFoundError(f"no configuration {kind}/{name}")
    return row


def count_versions(kind: str, name: str, *, session: Session) -> int:
    stmt = select(func.count()).where(ConfigVersion.kind == kind, ConfigVersion.name == name)
    return int(session.scalar(stmt) or 0)
