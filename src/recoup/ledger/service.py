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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Text, cast, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

# Imported as a module (not the function) so configs.service may itself write to the ledger.
from recoup.config import Settings, get_settings
from recoup.configs import service as _configs
from recoup.db import utcnow
from recoup.errors import LedgerError, LedgerIntegrityError
from recoup.ledger import merkle, signing
from recoup.ledger.models import GENESIS_HASH, HEAD_ID, LedgerCheckpoint, LedgerEntry, LedgerHead

__all__ = [
    "GENESIS_HASH",
    "PublishedCheckpoint",
    "VerifyReport",
    "compute_entry_hash",
    "do_append",
    "do_append_batch",
    "do_checkpoint",
    "do_publish",
    "entry_fields",
    "entry_inclusion_proof",
    "export_checkpoint",
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


def read_published(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Published checkpoints as ``(label, raw data)``: one file, or every ``*.json`` file of a directory
    (``checkpoint-*.json`` and ``latest.json`` in the publish directory; duplicates dropped).
    Signatures are checked by :func:`verify`."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.is_file())
    elif path.exists():
        files = [path]
    else:
        raise LedgerError(
            f"no published checkpoint at {path}", details={"file": str(path), "reason": "published"}
        )
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[bytes] = set()
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LedgerError(
                f"cannot read published checkpoint {file}: {exc}", details={"file": str(file)}
            ) from exc
        items = data if isinstance(data, list) else [data]
        for item in items:
            ident = canonical_json(item)
            if ident not in seen:
                seen.add(ident)
                out.append((f"published checkpoint {file}", item))
    return out


def _published_claims(
    published: Sequence[Mapping[str, Any] | tuple[str, Mapping[str, Any]]],
    public_keys: Mapping[str, signing.PublicKey] | None,
) -> list[tuple[str, dict[str, Any]]]:
    """Each published checkpoint checked (signature by a trusted key, then its fields)."""
    if not published:
        return []
    trusted = public_keys if public_keys is not None else signing.default_trusted_keys(get_settings())
    out = []
    for i, item in enumerate(published, 1):
        label, data = item if isinstance(item, tuple) else (f"published checkpoint {i}", item)
        body = signing.check_signed_checkpoint(data, trusted, label)
        claim = _parse_checkpoint(body, label)
        signed_from = body.get("signed_from")
        if isinstance(signed_from, int) and not isinstance(signed_from, bool) and signed_from >= 1:
            claim["signed_from"] = signed_from
        out.append((label, claim))
    return out


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


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` checked: entries walked, checkpoints matched, signatures, and the head."""

    entries: int
    head_hash: str
    checkpoints_checked: int
    exported_checked: int
    published_checked: int = 0
    signed: int = 0
    unsigned: int = 0
    #: Entries from this seq on must be (and are) signed; None while none is.
    signed_from: int | None = None
    #: The highest entry a published checkpoint covers (0: none was checked).
    published_upto: int = 0

    def summary(self) -> str:
        """One line for people."""
        text = (
            f"ledger OK: {self.entries} entries, {self.checkpoints_checked} stored and "
            f"{self.exported_checked} exported checkpoints match, "
            f"{self.published_checked} signed published checkpoints match"
        )
        if self.published_checked:
            text += f" (latest covers 1..{self.published_upto})"
        text += f", {self.signed} entries signed"
        if self.unsigned:
            text += f", {self.unsigned} older entries unsigned"
        return text + f", head {self.head_hash}"


class _Claim(NamedTuple):
    label: str
    root: str
    head_hash: str
    source: str  # "stored", "exported" or "published"


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


def _walk(
    session: Session,
    exported: Sequence[dict[str, Any]],
    published: Sequence[tuple[str, dict[str, Any]]] = (),
    public_keys: Mapping[str, signing.PublicKey] | None = None,
    *,
    all_signatures: bool = True,
) -> tuple[VerifyReport, str]:
    """Walk every entry in seq order; raise on the first break; return the report and the root.

    ``published``: checkpoints whose signatures were already checked (:func:`_published_claims`).
    Without ``all_signatures``, entries a published checkpoint covers get only the cheap signature
    checks (present, trusted key id, 128 hex): the signed Merkle root there authenticates their hashes
    (and the walk raises at that checkpoint if any differs); Ed25519 runs on the newer entries only.
    """
    trusted = public_keys if public_keys is not None else signing.default_trusted_keys(get_settings())
    claims: dict[int, list[_Claim]] = defaultdict(list)
    stored = session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.upto_seq)).all()
    for cp in stored:
        if cp.upto_seq < 1:
            raise _broken(cp.upto_seq, "checkpoint", f"stored checkpoint #{cp.id} covers no entries")
        claims[cp.upto_seq].append(_Claim(f"stored checkpoint #{cp.id}", cp.root, cp.head_hash, "stored"))
    for i, cp_data in enumerate(exported, 1):
        label = "exported checkpoint" if len(exported) == 1 else f"exported checkpoint {i}"
        claims[cp_data["upto_seq"]].append(_Claim(label, cp_data["root"], cp_data["head_hash"], "exported"))
    # Entries from ``must_sign`` on must carry a valid signature: from the first signed entry, from any
    # published checkpoint's ``signed_from``, and after any published checkpoint (signing software made
    # it). Stripping the signatures in the database therefore cannot turn signed entries into "old" ones.
    must_sign: int | None = None
    published_upto = 0
    for label, pub in published:
        claims[pub["upto_seq"]].append(_Claim(label, pub["root"], pub["head_hash"], "published"))
        published_upto = max(published_upto, pub["upto_seq"])
        for start in (pub["upto_seq"] + 1, pub.get("signed_from")):
            if start is not None and (must_sign is None or start < must_sign):
                must_sign = start
    must_sign_why = "published checkpoints require it"
    # Read before the walk: anything committed by then is visible to the walk's own snapshot.
    head = session.execute(
        select(LedgerHead).where(LedgerHead.id == HEAD_ID).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    head_seq = head.seq if head else 0
    head_hash_at_head = GENESIS_HASH

    acc = merkle.MerkleAccumulator()
    prev_seq, prev_hash = 0, GENESIS_HASH
    n_stored = n_exported = n_published = n_signed = n_unsigned = 0
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
            LedgerEntry.signature,
            LedgerEntry.key_id,
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
        if row.signature is None:
            if must_sign is not None and seq >= must_sign:
                raise _broken(
                    seq,
                    "signature",
                    f"ledger entry {seq} is not signed, but entries from {must_sign} on must be "
                    f"({must_sign_why}): it was forged or its signature removed",
                )
            n_unsigned += 1
        else:
            key = trusted.get(row.key_id or "")
            if key is None:
                raise _broken(
                    seq,
                    "signature",
                    f"ledger entry {seq} is signed by key {row.key_id!r}, which is not a trusted public "
                    f"key (trusted: {', '.join(sorted(trusted)) or 'none'}): it was forged",
                )
            if (all_signatures or seq > published_upto or len(row.signature) != 128) and not (
                key.verify_entry(row.entry_hash, row.signature)
            ):
                raise _broken(
                    seq, "signature", f"ledger entry {seq} has a bad signature: it was forged or altered"
                )
            n_signed += 1
            if must_sign is None or seq < must_sign:
                must_sign, must_sign_why = seq, f"entry {seq} is the first signed one"
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
                n_exported += claim.source == "exported"
                n_published += claim.source == "published"
                n_stored += claim.source == "stored"

    if claims:
        upto = max(claims)
        claim = next((c for c in claims[upto] if c.source != "stored"), claims[upto][0])
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
        entries=prev_seq,
        head_hash=prev_hash,
        checkpoints_checked=n_stored,
        exported_checked=n_exported,
        published_checked=n_published,
        signed=n_signed,
        unsigned=n_unsigned,
        signed_from=must_sign if n_signed else None,
        published_upto=published_upto,
    )
    return report, acc.root()


def verify(
    *,
    session: Session,
    checkpoints: Sequence[Mapping[str, Any]] = (),
    published: Sequence[Mapping[str, Any] | tuple[str, Mapping[str, Any]]] = (),
    public_keys: Mapping[str, signing.PublicKey] | None = None,
    all_signatures: bool = False,
) -> VerifyReport:
    """Check every entry, its signature, the chain, the head, stored checkpoints, ``checkpoints``
    exported earlier and signed ``published`` checkpoints (raw data or ``(label, data)`` from
    :func:`read_published`).

    ``public_keys`` (by key id) are the trusted signing keys; default: the installation's
    ``signing.pub``. A published checkpoint not signed by one of them raises
    :class:`~recoup.errors.LedgerSignatureError` (``ledger.bad_signature``); anything else broken raises
    :class:`LedgerIntegrityError` naming the first broken entry (``details``: seq, reason). Deleting
    the newest entries is caught down to the newest checkpoint kept outside the database.

    Entries covered by a published checkpoint have their signatures verified cryptographically only
    with ``all_signatures`` (their hashes are authenticated by the signed root anyway); when such a
    checkpoint does not match, the walk is repeated with every signature to name the forged entry.
    """
    exported = [_parse_checkpoint(cp, f"exported checkpoint {i}") for i, cp in enumerate(checkpoints, 1)]
    trusted = public_keys if public_keys is not None else signing.default_trusted_keys(get_settings())
    claims = _published_claims(published, trusted)
    try:
        report, _ = _walk(session, exported, claims, trusted, all_signatures=all_signatures)
    except LedgerIntegrityError as exc:
        if all_signatures or not claims or exc.details.get("reason") != "checkpoint":
            raise
        _walk(session, exported, claims, trusted, all_signatures=True)  # raises, naming the entry
        raise
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
