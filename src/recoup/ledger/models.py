"""Tables of the append-only audit ledger: hash-chained entries, the head, and Merkle checkpoints.

**Payloads hold ids and hashes only, never personal data** (no names, phone numbers, ID numbers,
addresses, e-mail addresses): personal data must stay erasable when its retention period ends, and an
entry can never be changed or removed without breaking the chain.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow

#: ``prev_hash`` of the genesis entry (seq 1).
GENESIS_HASH = "0" * 64

#: The one row of ``ledger_head``.
HEAD_ID = 1


class LedgerEntry(Base):
    """One audit record; ``seq`` runs 1..n without gaps and ``entry_hash`` chains to ``prev_hash``.

    ``entry_hash`` = sha256(canonical_json({seq, recorded_at ISO, kind, actor, payload_sha256,
    items_root, item_count, prev_hash})). A batch entry carries the Merkle root of its items (which the
    writer keeps) in ``items_root`` and their number in ``item_count``; a single entry has 0 and null.

    ``signature`` is the Ed25519 signature (128 hex) of the entry hash by the key ``key_id``
    (see :mod:`recoup.ledger.signing`); entries written before signing existed have neither.
    """

    __tablename__ = "ledger_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(60), index=True)  # "import.file", "pii.unmask", …
    actor: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # ids and hashes only — never PII
    payload_sha256: Mapped[str] = mapped_column(String(64))
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    items_root: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
    signature: Mapped[str | None] = mapped_column(String(128), nullable=True, default=None)
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)


class LedgerHead(Base):
    """The single row (id 1) naming the newest entry; appenders lock it, so appends are serialised."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))


class LedgerCheckpoint(Base):
    """The Merkle root over ``entry_hash`` of entries 1..``upto_seq``; export it to keep it off-site."""

    __tablename__ = "ledger_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upto_seq: Mapped[int] = mapped_column(Integer, unique=True)
    root: Mapped[str] = mapped_column(String(64))
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
