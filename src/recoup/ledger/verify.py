"""Verifying the audit ledger (chain, hashes, signatures, head, checkpoints) and entry inclusion proofs."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from recoup.config import get_settings
from recoup.errors import LedgerError, LedgerIntegrityError
from recoup.ledger import merkle, signing
from recoup.ledger.checkpoints import (
    _parse_checkpoint,
    _published_claims,
    export_checkpoint,
    latest_checkpoint,
)
from recoup.ledger.hashing import compute_entry_hash, entry_fields, iso, payload_hash
from recoup.ledger.models import GENESIS_HASH, HEAD_ID, LedgerCheckpoint, LedgerEntry, LedgerHead

__all__ = ["VerifyReport", "entry_inclusion_proof", "verify", "verify_entry_proof"]


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
