"""Hashing for the audit ledger: canonical JSON, payload and entry hashes, and an entry's hashed fields.

Every hash in the ledger (entries, batch items, checkpoints) is sha256 over :func:`canonical_json`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

# Imported as a module (not the function) so configs.service may itself write to the ledger.
from recoup.configs import service as _configs
from recoup.ledger.models import LedgerEntry

__all__ = ["canonical_json", "compute_entry_hash", "entry_fields", "iso", "payload_hash"]


def canonical_json(payload: Any) -> bytes:
    """The project's canonical JSON (sorted keys, compact, UTF-8) used for every hash here."""
    return _configs.canonical_json(payload)


def payload_hash(payload: Any) -> str:
    """Hex sha256 of ``canonical_json(payload)``."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def iso(ts: dt.datetime) -> str:
    """The one ISO form of a timestamp inside hashes: UTC, microseconds, ``+00:00``."""
    return ts.astimezone(dt.UTC).isoformat(timespec="microseconds")


def compute_entry_hash(
    *,
    seq: int,
    recorded_at: str,
    kind: str,
    actor: str,
    payload_sha256: str,
    items_root: str | None,
    item_count: int,
    prev_hash: str,
) -> str:
    """sha256 of canonical_json of the chained fields (``recorded_at`` given as :func:`iso`)."""
    fields = {
        "seq": seq,
        "recorded_at": recorded_at,
        "kind": kind,
        "actor": actor,
        "payload_sha256": payload_sha256,
        "items_root": items_root,
        "item_count": item_count,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def entry_fields(entry: LedgerEntry) -> dict[str, Any]:
    """An entry as JSON-ready data holding everything needed to recompute its hash."""
    return {
        "seq": entry.seq,
        "recorded_at": iso(entry.recorded_at),
        "kind": entry.kind,
        "actor": entry.actor,
        "payload": entry.payload,
        "payload_sha256": entry.payload_sha256,
        "item_count": entry.item_count,
        "items_root": entry.items_root,
        "prev_hash": entry.prev_hash,
        "entry_hash": entry.entry_hash,
    }
