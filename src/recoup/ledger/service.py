"""The append-only audit ledger: hash-chained entries, Merkle checkpoints, verification and proofs.

Every entry commits to its predecessor (``prev_hash``), so changing, removing or reordering a stored
entry breaks the chain at that entry; deleting the newest entries (and fixing the head) leaves a valid
but shorter chain, which only an exported checkpoint kept elsewhere can reveal. Verification names the
first entry that breaks.

**Payloads hold ids and hashes only — never personal data.** Name the borrower by internal id, a file
by its sha256, a document by its hash; never store names, phone numbers, ID numbers, addresses or
e-mail addresses. Personal data must stay erasable, and a ledger entry never can be. Keys that name such
data (``phone``, ``email``, ``id_number`` …) are refused.

Services never commit; appends lock the single ``ledger_head`` row (``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite a no-op write takes the database write lock first), and the ``seq`` primary key
rejects any racing duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Text, cast, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

# Imported as a module (not the function) so configs.service may itself write to the ledger.
from recoup.configs import service as _configs
from recoup.db import utcnow
from recoup.errors import LedgerError, LedgerIntegrityError
from recoup.ledger import merkle
from recoup.ledger.models import GENESIS_HASH, HEAD_ID, LedgerCheckpoint, LedgerEntry, LedgerHead

__all__ = [
    "GENESIS_HASH",
    "VerifyReport",
    "compute_entry_hash",
    "do_append",
    "do_append_batch",
    "do_checkpoint",
    "entry_fields",
    "entry_inclusion_proof",
    "export_checkpoint",
    "item_proof",
    "latest_checkpoint",
    "list_tail",
    "payload_hash",
    "read_checkpoints",
    "verify",
    "verify_entry_proof",
    "verify_item",
    "write_checkpoint",
]

_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
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


# --------------------------------------------------------------------------- hashing


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
) -> LedgerEntry:
    _check_names(kind, actor)
    clean = _clean_payload(payload)
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
    kind: str, payload: Mapping[str, Any], *, session: Session, actor: str = "system"
) -> LedgerEntry:
    """Append one entry (``payload``: ids and hashes only, never PII). Flushes, never commits."""
    return _append(kind, payload, session=session, actor=actor, items_root=None, item_count=0)


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
) -> LedgerEntry:
    """Append one entry standing for many ``items`` (kept by the caller) through their Merkle root.

    Prove an item later with :func:`item_proof` and :func:`verify_item` (same items, same order).
    """
    if not items:
        raise LedgerError("a ledger batch needs at least one item", details={"reason": "items"})
    root = merkle.merkle_root(item_leaves(items))
    return _append(kind, payload, session=session, actor=actor, items_root=root, item_count=len(items))


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


# --------------------------------------------------------------------------- checkpoints


def latest_checkpoint(*, session: Session) -> LedgerCheckpoint | None:
    """The stored checkpoint covering the most entries, if any."""
    return session.scalars(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.upto_seq.desc()).limit(1)
    ).first()


def export_checkpoint(cp: LedgerCheckpoint | Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready ``{upto_seq, root, head_hash, created_at}``: keep it somewhere the database is not."""
    if isinstance(cp, LedgerCheckpoint):
        return {
            "upto_seq": cp.upto_seq,
            "root": cp.root,
            "head_hash": cp.head_hash,
            "created_at": iso(cp.created_at),
        }
    return _parse_checkpoint(cp, "checkpoint")


def write_checkpoint(cp: LedgerCheckpoint | Mapping[str, Any], path: Path) -> Path:
    """Write one exported checkpoint to ``path`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(export_checkpoint(cp), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_checkpoints(path: Path) -> list[dict[str, Any]]:
    """Exported checkpoints from a JSON file holding one object or a list of them."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LedgerError(f"cannot read checkpoint file {path}: {exc}", details={"file": str(path)}) from exc
    items = data if isinstance(data, list) else [data]
    return [_parse_checkpoint(item, f"checkpoint {i} in {path}") for i, item in enumerate(items, 1)]


def _parse_checkpoint(data: Any, label: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise LedgerError(f"{label} is not a JSON object", details={"reason": "checkpoint"})
    upto, root, head = data.get("upto_seq"), data.get("root"), data.get("head_hash")
    if not isinstance(upto, int) or isinstance(upto, bool) or upto < 1:
        raise LedgerError(f"{label} has no valid upto_seq", details={"reason": "checkpoint"})
    for name, value in (("root", root), ("head_hash", head)):
        if not isinstance(value, str) or not _HEX64.match(value):
            raise LedgerError(f"{label} has no valid {name}", details={"reason": "checkpoint"})
    out = {"upto_seq": upto, "root": root, "head_hash": head}
    if isinstance(data.get("created_at"), str):
        out["created_at"] = data["created_at"]
    return out


def do_checkpoint(*, session: Session) -> LedgerCheckpoint:
    """Verify the whole ledger, then store the Merkle root over it (idempotent at the same head)."""
    report, root = _walk(session, ())
    if report.entries == 0:
        raise LedgerError("the ledger is empty: nothing to checkpoint", details={"reason": "empty"})
    existing = session.scalars(
        select(LedgerCheckpoint).where(LedgerCheckpoint.upto_seq == report.entries)
    ).first()
    if existing is not None:
        return existing
    cp = LedgerCheckpoint(upto_seq=report.entries, root=root, head_hash=report.head_hash, created_at=utcnow())
    session.add(cp)
    try:
        session.flush()
    except IntegrityError as exc:
        raise LedgerError(
            f"another checkpoint at entry {report.entries} was written at the same time; retry",
            details={"seq": report.entries, "reason": "race"},
        ) from exc
    return cp


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` checked: entries walked, checkpoints matched, and the head."""

    entries: int
    head_hash: str
    checkpoints_checked: int
    exported_checked: int

    def summary(self) -> str:
        """One line for people."""
        return (
            f"ledger OK: {self.entries} entries, {self.checkpoints_checked} stored and "
            f"{self.exported_checked} exported checkpoints match, head {self.head_hash}"
        )


class _Claim(NamedTuple):
    label: str
    root: str
    head_hash: str
    exported: bool


def _broken(seq: int, reason: str, message: str) -> LedgerIntegrityError:
    return LedgerIntegrityError(message, details={"seq": seq, "reason": reason})


def _entry_problem(
    *,
    seq: int,
    recorded_at: str,
    kind: str,
    actor: str,
    payload: Any,
    payload_sha256: str,
    item_count: int,
    items_root: str | None,
    prev_hash: str,
    entry_hash: str,
    expected_prev: str,
) -> LedgerIntegrityError | None:
    """The first thing wrong with one entry (content, then link, then own hash), if anything."""
    if payload_hash(payload) != payload_sha256:
        return _broken(seq, "payload_hash", f"ledger entry {seq} is broken: payload hash does not match")
    if item_count < 0 or (item_count == 0) != (items_root is None):
        return _broken(seq, "items", f"ledger entry {seq} is broken: item count and items root disagree")
    if prev_hash != expected_prev:
        if seq == 1:
            return _broken(1, "prev_hash", "chain broken at entry 1: prev_hash is not the genesis value")
        return _broken(
            seq, "prev_hash", f"chain broken at entry {seq}: prev_hash does not match entry {seq - 1}"
        )
    recomputed = compute_entry_hash(
        seq=seq,
        recorded_at=recorded_at,
        kind=kind,
        actor=actor,
        payload_sha256=payload_sha256,
        items_root=items_root,
        item_count=item_count,
        prev_hash=prev_hash,
    )
    if recomputed != entry_hash:
        return _broken(
            seq, "entry_hash", f"ledger entry {seq} is broken: entry hash does not match its content"
        )
    return None


def _walk(session: Session, exported: Sequence[dict[str, Any]]) -> tuple[VerifyReport, str]:
    """Walk every entry in seq order; raise on the first break; return the report and the root."""
    claims: dict[int, list[_Claim]] = defaultdict(list)
    stored = session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.upto_seq)).all()
    for cp in stored:
        if cp.upto_seq < 1:
            raise _broken(cp.upto_seq, "checkpoint", f"stored checkpoint #{cp.id} covers no entries")
        claims[cp.upto_seq].append(_Claim(f"stored checkpoint #{cp.id}", cp.root, cp.head_hash, False))
    for i, cp_data in enumerate(exported, 1):
        label = "exported checkpoint" if len(exported) == 1 else f"exported checkpoint {i}"
        claims[cp_data["upto_seq"]].append(_Claim(label, cp_data["root"], cp_data["head_hash"], True))
    # Read before the walk: anything committed by then is visible to the walk's own snapshot.
    head = session.execute(
        select(LedgerHead).where(LedgerHead.id == HEAD_ID).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    head_seq = head.seq if head else 0
    head_hash_at_head = GENESIS_HASH

    acc = merkle.MerkleAccumulator()
    prev_seq, prev_hash = 0, GENESIS_HASH
    n_stored = n_exported = 0
    rows = session.execute(
        select(
            LedgerEntry.seq,
            LedgerEntry.recorded_at,
            LedgerEntry.kind,
            LedgerEntry.actor,
            cast(LedgerEntry.payload, Text).label("payload_text"),
            LedgerEntry.payload_sha256,
            LedgerEntry.item_count,
            LedgerEntry.items_root,
            LedgerEntry.prev_hash,
            LedgerEntry.entry_hash,
        )
        .order_by(LedgerEntry.seq)
        .execution_options(yield_per=2000)
    )
    for row in rows:
        seq = row.seq
        if seq != prev_seq + 1:
            missing = prev_seq + 1
            if prev_seq == 0:
                raise _broken(missing, "missing", f"entry 1 is missing (sequence starts at {seq})")
            raise _broken(
                missing, "missing", f"entry {missing} is missing (sequence jumps from {prev_seq} to {seq})"
            )
        try:
            payload = json.loads(row.payload_text)
        except (TypeError, ValueError):
            raise _broken(
                seq, "payload", f"ledger entry {seq} is broken: payload is not valid JSON"
            ) from None
        problem = _entry_problem(
            seq=seq,
            recorded_at=iso(row.recorded_at),
            kind=row.kind,
            actor=row.actor,
            payload=payload,
            payload_sha256=row.payload_sha256,
            item_count=row.item_count,
            items_root=row.items_root,
            prev_hash=row.prev_hash,
            entry_hash=row.entry_hash,
            expected_prev=prev_hash,
        )
        if problem is not None:
            raise problem
        acc.append(bytes.fromhex(row.entry_hash))
        prev_seq, prev_hash = seq, row.entry_hash
        if seq == head_seq:
            head_hash_at_head = prev_hash
        due = claims.pop(seq, None)
        if due:
            root = acc.root()
            for claim in due:
                if claim.head_hash != prev_hash:
                    raise _broken(
                        seq,
                        "checkpoint",
                        f"entry {seq} does not match {claim.label}: head hash differs "
                        f"(the ledger was rewritten at or before entry {seq})",
                    )
                if claim.root != root:
                    raise _broken(
                        seq,
                        "checkpoint",
                        f"{claim.label} (entries 1..{seq}) does not match: Merkle root differs "
                        f"(an entry at or before {seq} was rewritten)",
                    )
                n_exported += claim.exported
                n_stored += not claim.exported

    if claims:
        upto = max(claims)
        claim = next((c for c in claims[upto] if c.exported), claims[upto][0])
        raise _broken(
            prev_seq + 1,
            "truncated",
            f"ledger has {prev_seq} entries but {claim.label} covers {upto}: newest entries were deleted",
        )
    if head_seq > prev_seq:
        raise _broken(
            prev_seq + 1,
            "truncated",
            f"ledger has {prev_seq} entries but its head records {head_seq}: newest entries were deleted",
        )
    if head is not None and head_hash_at_head != head.entry_hash:
        raise _broken(
            head_seq,
            "head",
            f"entry {head_seq} does not match the ledger head: head hash differs "
            f"(entry {head_seq} was replaced)",
        )
    report = VerifyReport(
        entries=prev_seq, head_hash=prev_hash, checkpoints_checked=n_stored, exported_checked=n_exported
    )
    return report, acc.root()


def verify(*, session: Session, checkpoints: Sequence[Mapping[str, Any]] = ()) -> VerifyReport:
    """Check every entry, the chain, the head, stored checkpoints and ``checkpoints`` exported earlier.

    Raises :class:`LedgerIntegrityError` naming the first broken entry (``details``: seq, reason).
    Without an exported checkpoint, deleting the newest entries and the head can go unnoticed.
    """
    exported = [_parse_checkpoint(cp, f"exported checkpoint {i}") for i, cp in enumerate(checkpoints, 1)]
    report, _ = _walk(session, exported)
    return report


# --------------------------------------------------------------------------- inclusion proofs


def entry_inclusion_proof(
    seq: int, *, session: Session, checkpoint: LedgerCheckpoint | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """JSON-ready proof that entry ``seq`` is in ``checkpoint``'s tree (default: the newest stored one).

    Holds the entry's fields, so a verifier recomputes its hash; check with :func:`verify_entry_proof`.
    """
    if checkpoint is None:
        newest = latest_checkpoint(session=session)
        if newest is None or newest.upto_seq < seq:
            raise LedgerError(
                f"entry {seq} is not covered by a checkpoint yet; run `recoup ledger checkpoint` first",
                details={"seq": seq, "reason": "uncovered"},
            )
        claim = export_checkpoint(newest)
    else:
        claim = export_checkpoint(checkpoint)
    upto = claim["upto_seq"]
    if not 1 <= seq <= upto:
        raise LedgerError(
            f"entry {seq} is outside the checkpoint covering entries 1..{upto}",
            details={"seq": seq, "reason": "uncovered"},
        )
    rows = session.execute(
        select(LedgerEntry.seq, LedgerEntry.entry_hash)
        .where(LedgerEntry.seq <= upto)
        .order_by(LedgerEntry.seq)
    ).all()
    mismatch = _broken(
        upto,
        "checkpoint",
        f"the checkpoint covering entries 1..{upto} does not match the ledger; run `recoup ledger verify`",
    )
    if len(rows) != upto or any(r.seq != i for i, r in enumerate(rows, 1)):
        raise mismatch
    try:
        leaves = [bytes.fromhex(r.entry_hash) for r in rows]
    except ValueError:
        raise mismatch from None
    if merkle.merkle_root(leaves) != claim["root"] or rows[-1].entry_hash != claim["head_hash"]:
        raise mismatch
    entry = session.get(LedgerEntry, seq)
    assert entry is not None  # the rows above include it
    fields = entry_fields(entry)
    problem = _entry_problem(**fields, expected_prev=entry.prev_hash)
    if problem is not None:
        raise problem
    return {
        "entry": fields,
        "leaf_index": seq - 1,
        "tree_size": upto,
        "proof": merkle.inclusion_proof(leaves, seq - 1),
        "checkpoint": claim,
    }


def verify_entry_proof(proof: Mapping[str, Any], checkpoint: Mapping[str, Any] | None = None) -> bool:
    """True when ``proof`` (from :func:`entry_inclusion_proof`) holds, against a trusted ``checkpoint``
    if given (else against the checkpoint inside the proof). Recomputes the entry's payload and hash."""
    try:
        entry = proof["entry"]
        claim = _parse_checkpoint(proof["checkpoint"], "checkpoint")
        if checkpoint is not None:
            trusted = _parse_checkpoint(checkpoint, "trusted checkpoint")
            if any(trusted[k] != claim[k] for k in ("upto_seq", "root", "head_hash")):
                return False
        seq = entry["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            return False
        if payload_hash(entry["payload"]) != entry["payload_sha256"]:
            return False
        digest = compute_entry_hash(
            seq=seq,
            recorded_at=entry["recorded_at"],
            kind=entry["kind"],
            actor=entry["actor"],
            payload_sha256=entry["payload_sha256"],
            items_root=entry["items_root"],
            item_count=entry["item_count"],
            prev_hash=entry["prev_hash"],
        )
        if digest != entry["entry_hash"]:
            return False
        if seq == claim["upto_seq"] and digest != claim["head_hash"]:
            return False
        return merkle.verify_inclusion(
            bytes.fromhex(digest), seq - 1, claim["upto_seq"], proof["proof"], claim["root"]
        )
    except (KeyError, TypeError, ValueError, LedgerError):
        return False
