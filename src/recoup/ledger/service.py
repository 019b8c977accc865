"""The append-only audit ledger: hash-chained entries, Merkle checkpoints, verification and proofs.

Every entry commits to its predecessor (``prev_hash``), so changing, removing or reordering a stored
entry breaks the chain at that entry. Every new entry is also **signed** (Ed25519, :mod:`.signing`)
with a key kept outside the database, so an entry appended or rewritten through SQL, hashes and all,
fails verification. Deleting the newest entries (and fixing the head) leaves a valid but shorter chain,
which a checkpoint kept outside the database reveals: exported by hand, or **published** signed on
every import day (:func:`do_publish`). Verification names the first entry that breaks.

**Payloads hold ids and hashes only — never personal data.** Name the borrower by internal id, a file
by its sha256, a document by its hash; never store names, phone numbers, ID numbers, addresses or
e-mail addresses. Personal data must stay erasable, and a ledger entry never can be. Keys that name such
data (``phone``, ``email``, ``id_number`` …) are refused.

Services never commit; appends lock the single ``ledger_head`` row (``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite a no-op write takes the database write lock first), and the ``seq`` primary key
rejects any racing duplicate.

Layout: this module appends (:func:`do_append`, :func:`do_append_batch`, item proofs);
:mod:`.hashing` holds canonical JSON and the hashes, :mod:`.checkpoints` reads and writes checkpoint
data, :mod:`.publish` stores and publishes checkpoints, and :mod:`.verify` verifies the ledger and
proves entries. Every public name is re-exported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import LedgerError
from recoup.ledger import merkle, signing
from recoup.ledger.checkpoints import (
    export_checkpoint,
    latest_checkpoint,
    read_checkpoints,
    read_published,
    write_checkpoint,
)
from recoup.ledger.hashing import canonical_json, compute_entry_hash, entry_fields, iso, payload_hash
from recoup.ledger.models import GENESIS_HASH, HEAD_ID, LedgerEntry, LedgerHead
from recoup.ledger.publish import PublishedCheckpoint, do_checkpoint, do_publish
from recoup.ledger.verify import VerifyReport, entry_inclusion_proof, verify, verify_entry_proof

__all__ = [
    "GENESIS_HASH",
    "PII_KEYS",
    "PublishedCheckpoint",
    "VerifyReport",
    "canonical_json",
    "compute_entry_hash",
    "do_append",
    "do_append_batch",
    "do_checkpoint",
    "do_publish",
    "entry_fields",
    "entry_inclusion_proof",
    "export_checkpoint",
    "iso",
    "item_leaves",
    "item_proof",
    "latest_checkpoint",
    "list_tail",
    "payload_hash",
    "read_checkpoints",
    "read_published",
    "verify",
    "verify_entry_proof",
    "verify_item",
    "write_checkpoint",
]

_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
#: Payload keys that would carry personal data; the ledger refuses them.
PII_KEYS = frozenset(
    {
        "phone",
        "phone_number",
        "mobile",
        "email",
        "address",
        "id_number",
        "id_no",
        "id_card",
        "national_id",
        "full_name",
        "borrower_name",
    }
)


# --------------------------------------------------------------------------- appending


def _pii_keys(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if str(key).lower() in PII_KEYS:
                found.add(str(key))
            found |= _pii_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _pii_keys(inner)
    return found


def _clean_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise LedgerError("a ledger payload must be a JSON object", details={"reason": "payload"})
    try:
        json.dumps(payload, allow_nan=False)
        clean: dict[str, Any] = json.loads(canonical_json(payload))
    except (TypeError, ValueError) as exc:
        raise LedgerError(
            f"a ledger payload must be plain JSON (ids, hashes, numbers): {exc}",
            details={"reason": "payload"},
        ) from exc
    bad = sorted(_pii_keys(clean))
    if bad:
        raise LedgerError(
            "ledger payloads hold ids and hashes, never personal data; remove: " + ", ".join(bad),
            details={"reason": "pii", "keys": bad},
        )
    return clean


def _check_names(kind: str, actor: str) -> None:
    if not (_KIND.match(kind) and len(kind) <= 60):
        raise LedgerError(
            f"ledger kind {kind!r} must be lowercase dotted words such as 'import.file' (at most 60 chars)",
            details={"reason": "kind", "kind": kind},
        )
    if not actor or len(actor) > 120:
        raise LedgerError("ledger actor must be 1 to 120 characters", details={"reason": "actor"})


def _lock_head(session: Session) -> LedgerHead:
    """The head row, locked until the unit of work ends (created when the table lacks it)."""
    if session.get_bind().dialect.name == "sqlite":
        # A no-op write takes SQLite's write lock now: a concurrent appender waits (busy timeout).
        session.execute(
            update(LedgerHead)
            .where(LedgerHead.id == HEAD_ID)
            .values(seq=LedgerHead.seq)
            .execution_options(synchronize_session=False)
        )
    head = session.execute(
        select(LedgerHead)
        .where(LedgerHead.id == HEAD_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        last = session.execute(
            select(LedgerEntry.seq, LedgerEntry.entry_hash).order_by(LedgerEntry.seq.desc()).limit(1)
        ).first()
        head = LedgerHead(
            id=HEAD_ID,
            seq=last.seq if last else 0,
            entry_hash=last.entry_hash if last else GENESIS_HASH,
        )
        session.add(head)
        session.flush()
    return head


def _append(
    kind: str,
    payload: Mapping[str, Any],
    *,
    session: Session,
    actor: str,
    items_root: str | None,
    item_count: int,
    settings: Settings | None,
) -> LedgerEntry:
    _check_names(kind, actor)
    clean = _clean_payload(payload)
    key = signing.load_signing_key(settings or get_settings())
    session.flush()  # so an integrity error below can only come from the ledger rows
    head = _lock_head(session)
    seq = head.seq + 1
    recorded_at = utcnow()
    p_hash = payload_hash(clean)
    e_hash = compute_entry_hash(
        seq=seq,
        recorded_at=iso(recorded_at),
        kind=kind,
        actor=actor,
        payload_sha256=p_hash,
        items_root=items_root,
        item_count=item_count,
        prev_hash=head.entry_hash,
    )
    entry = LedgerEntry(
        seq=seq,
        recorded_at=recorded_at,
        kind=kind,
        actor=actor,
        payload=clean,
        payload_sha256=p_hash,
        item_count=item_count,
        items_root=items_root,
        prev_hash=head.entry_hash,
        entry_hash=e_hash,
        signature=key.sign_entry(e_hash),
        key_id=key.key_id,
    )
    session.add(entry)
    head.seq, head.entry_hash = seq, e_hash
    try:
        session.flush()
    except IntegrityError as exc:
        raise LedgerError(
            f"another writer appended ledger entry {seq} at the same time; retry the unit of work",
            details={"seq": seq, "reason": "race"},
        ) from exc
    return entry


def do_append(
    kind: str,
    payload: Mapping[str, Any],
    *,
    session: Session,
    actor: str = "system",
    settings: Settings | None = None,
) -> LedgerEntry:
    """Append one signed entry (``payload``: ids and hashes only, never PII). Flushes, never commits.

    Signed with the ledger signing key of ``settings`` (default: the process's settings)."""
    return _append(
        kind, payload, session=session, actor=actor, items_root=None, item_count=0, settings=settings
    )


def item_leaves(items: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """The Merkle leaves of batch items: ``canonical_json`` of each."""
    try:
        return [canonical_json(item) for item in items]
    except (TypeError, ValueError) as exc:
        raise LedgerError(f"batch items must be plain JSON: {exc}", details={"reason": "items"}) from exc


def do_append_batch(
    kind: str,
    payload: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    *,
    session: Session,
    actor: str = "system",
    settings: Settings | None = None,
) -> LedgerEntry:
    """Append one entry standing for many ``items`` (kept by the caller) through their Merkle root.

    Prove an item later with :func:`item_proof` and :func:`verify_item` (same items, same order).
    """
    if not items:
        raise LedgerError("a ledger batch needs at least one item", details={"reason": "items"})
    root = merkle.merkle_root(item_leaves(items))
    return _append(
        kind,
        payload,
        session=session,
        actor=actor,
        items_root=root,
        item_count=len(items),
        settings=settings,
    )


def item_proof(items: Sequence[Mapping[str, Any]], index: int) -> list[str]:
    """Audit path (hex) of ``items[index]`` in its batch entry's ``items_root``."""
    return merkle.inclusion_proof(item_leaves(items), index)


def verify_item(
    item: Mapping[str, Any], index: int, entry: LedgerEntry | Mapping[str, Any], proof: Sequence[str]
) -> bool:
    """True when ``item`` is item ``index`` of batch ``entry`` (a row or :func:`entry_fields` data)."""
    root: Any
    count: Any
    if isinstance(entry, LedgerEntry):
        root, count = entry.items_root, entry.item_count
    else:
        root, count = entry.get("items_root"), entry.get("item_count")
    if not isinstance(root, str) or not isinstance(count, int) or isinstance(count, bool):
        return False
    try:
        leaf = canonical_json(item)
    except (TypeError, ValueError):
        return False
    return merkle.verify_inclusion(leaf, index, count, proof, root)


def list_tail(limit: int = 20, *, session: Session) -> list[LedgerEntry]:
    """The newest ``limit`` entries, newest first."""
    return list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(limit)))
