"""Making checkpoints of the audit ledger: store one after verifying (:func:`do_checkpoint`) and
publish it signed outside the database (:func:`do_publish`)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import LedgerError
from recoup.ledger import signing
from recoup.ledger.checkpoints import _published_claims, export_checkpoint, read_published
from recoup.ledger.models import LedgerCheckpoint
from recoup.ledger.verify import VerifyReport, _walk

__all__ = ["PublishedCheckpoint", "do_checkpoint", "do_publish"]


def do_checkpoint(
    *,
    session: Session,
    published: Sequence[Mapping[str, Any] | tuple[str, Mapping[str, Any]]] = (),
    public_keys: Mapping[str, signing.PublicKey] | None = None,
) -> LedgerCheckpoint:
    """Verify the whole ledger (signatures, and ``published`` checkpoints if given), then store the
    Merkle root over it (idempotent at the same head)."""
    cp, _ = _checkpoint(session, published, public_keys)
    return cp


def _checkpoint(
    session: Session,
    published: Sequence[Mapping[str, Any] | tuple[str, Mapping[str, Any]]],
    public_keys: Mapping[str, signing.PublicKey] | None,
) -> tuple[LedgerCheckpoint, VerifyReport]:
    report, root = _walk(
        session, (), _published_claims(published, public_keys), public_keys, all_signatures=False
    )
    if report.entries == 0:
        raise LedgerError("the ledger is empty: nothing to checkpoint", details={"reason": "empty"})
    existing = session.scalars(
        select(LedgerCheckpoint).where(LedgerCheckpoint.upto_seq == report.entries)
    ).first()
    if existing is not None:
        return existing, report
    cp = LedgerCheckpoint(upto_seq=report.entries, root=root, head_hash=report.head_hash, created_at=utcnow())
    session.add(cp)
    try:
        session.flush()
    except IntegrityError as exc:
        raise LedgerError(
            f"another checkpoint at entry {report.entries} was written at the same time; retry",
            details={"seq": report.entries, "reason": "race"},
        ) from exc
    return cp, report


# --------------------------------------------------------------------------- published checkpoints


@dataclass(frozen=True)
class PublishedCheckpoint:
    """A signed checkpoint just published: its data, its file and whether ``latest.json`` now names it."""

    data: dict[str, Any]
    path: Path
    latest: Path | None


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # signed hashes and ids: no PII, meant to be copied elsewhere
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def do_publish(*, session: Session, settings: Settings | None = None) -> PublishedCheckpoint:
    """Verify the ledger (against the checkpoints published before too), store a checkpoint and
    publish it signed as ``checkpoint-<upto_seq>.json`` and ``latest.json`` in the publish directory.

    Call it in its own unit of work, **after** the one that appended the entries has committed: a
    checkpoint must never cover entries that a rollback could still remove.
    """
    s = settings or get_settings()
    key = signing.load_signing_key(s)
    trusted = signing.default_trusted_keys(s)
    if key.key_id not in trusted:
        raise LedgerError(
            f"the ledger signing key ({key.key_id}) is not the public key in "
            f"{signing.public_key_path(s)} ({', '.join(trusted)}): restore the key, or replace the "
            "public key file and pass the old one to `ledger verify --public-key`",
            details={"reason": "key_mismatch", "key_id": key.key_id},
        )
    pub_dir = s.ledger_publish_dir
    assert pub_dir is not None  # set by Settings
    earlier = read_published(pub_dir) if pub_dir.is_dir() else []
    cp, report = _checkpoint(session, earlier, trusted)
    signed_from = report.signed_from if report.signed_from and report.signed_from <= cp.upto_seq else None
    data = signing.sign_checkpoint(
        {**export_checkpoint(cp), "signed_from": signed_from},
        key,
    )
    path = pub_dir / f"checkpoint-{cp.upto_seq:010d}.json"
    _write_json_atomic(path, data)
    latest: Path | None = pub_dir / "latest.json"
    assert latest is not None
    try:
        current = json.loads(latest.read_text(encoding="utf-8")).get("upto_seq", 0)
    except (OSError, ValueError, AttributeError):
        current = 0
    if isinstance(current, int) and current > cp.upto_seq:
        latest = None  # a newer one was published meanwhile: keep it
    else:
        _write_json_atomic(latest, data)
    return PublishedCheckpoint(data=data, path=path, latest=latest)
