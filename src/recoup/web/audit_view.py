"""What the audit ledger's pages read: filtered pages of entries (keyset on ``seq``), a readable and
masked summary of a payload, one entry's own checks, and the chain verification cached per process.

The ledger holds ids and hashes, never personal data; free-text values (a reveal's reason, a note) are
still passed through :func:`recoup.pii.mask_text`, so a phone or ID number typed there never shows.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Text, cast, select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.errors import RecoupError
from recoup.ledger import signing
from recoup.ledger.checkpoints import latest_checkpoint, read_published
from recoup.ledger.hashing import compute_entry_hash, iso, payload_hash
from recoup.ledger.models import GENESIS_HASH, HEAD_ID, LedgerEntry, LedgerHead
from recoup.ledger.verify import verify
from recoup.pii import mask_text

__all__ = [
    "PAGE_SIZE",
    "VERIFY_TTL_S",
    "EntryCheck",
    "Filters",
    "Page",
    "Verification",
    "check_entry",
    "head_seq",
    "iter_filtered",
    "known_kinds",
    "last_verification",
    "load_page",
    "local_time",
    "pretty_payload",
    "summarize",
    "verification",
]

#: Entries per page.
PAGE_SIZE: Final = 100
#: Seconds a process reuses a chain verification of an unchanged ledger head.
VERIFY_TTL_S: Final = 300.0
#: Payload keys naming a row by id that the case / borrower filters look for.
CASE_KEY: Final = "case_id"
BORROWER_KEY: Final = "borrower_id"
_SUMMARY_MAX: Final = 240
_HEX64_LEN: Final = 64


@dataclass(frozen=True)
class Filters:
    """The list's filters as the query string carries them (invalid ones dropped, with a note)."""

    kind: str = ""
    actor: str = ""
    start: dt.date | None = None
    end: dt.date | None = None
    case_id: int | None = None
    borrower_id: int | None = None
    invalid: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, *, kind: str, actor: str, start: str, end: str, case: str, borrower: str) -> Filters:
        invalid: list[str] = []

        def day(text: str, name: str) -> dt.date | None:
            text = text.strip()
            if not text:
                return None
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                invalid.append(name)
                return None

        def ident(text: str, name: str) -> int | None:
            text = text.strip()
            if not text:
                return None
            if text.isascii() and text.isdigit() and 0 < int(text) < 2**31:
                return int(text)
            invalid.append(name)
            return None

        return cls(
            kind=kind.strip(),
            actor=actor.strip(),
            start=day(start, "from"),
            end=day(end, "to"),
            case_id=ident(case, "case"),
            borrower_id=ident(borrower, "borrower"),
            invalid=tuple(invalid),
        )

    def params(self) -> dict[str, str]:
        """The non-empty filters as query parameters."""
        out = {
            "kind": self.kind,
            "actor": self.actor,
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
            "case": str(self.case_id) if self.case_id else "",
            "borrower": str(self.borrower_id) if self.borrower_id else "",
        }
        return {k: v for k, v in out.items() if v}

    def query(self, **extra: int | None) -> str:
        """``?…`` with the filters and ``extra`` (None dropped); empty when there is nothing."""
        params = self.params() | {k: str(v) for k, v in extra.items() if v is not None}
        return "?" + urlencode(params) if params else ""

    @property
    def active(self) -> bool:
        return bool(self.params())

    def conditions(self, tz: ZoneInfo) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.kind:
            conds.append(LedgerEntry.kind.startswith(self.kind, autoescape=True))
        if self.actor:
            conds.append(LedgerEntry.actor == self.actor)
        if self.start:
            conds.append(LedgerEntry.recorded_at >= _midnight(self.start, tz))
        if self.end:
            conds.append(LedgerEntry.recorded_at < _midnight(self.end + dt.timedelta(days=1), tz))
        for key, value in ((CASE_KEY, self.case_id), (BORROWER_KEY, self.borrower_id)):
            if value is not None:
                # ->> on PostgreSQL, json_extract on SQLite; as text, so 12 and "12" both match.
                conds.append(cast(LedgerEntry.payload[key].as_string(), Text) == str(value))
        return conds


def _midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def local_time(value: dt.datetime, tz: ZoneInfo) -> str:
    """``value`` in the installation's timezone, to the second (``2026-12-07 09:15:02``)."""
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Page:
    """One page of entries, newest first, and the seqs bounding it for the newer / older links."""

    entries: list[LedgerEntry]
    newer: bool
    older: bool
    head: int

    @property
    def first(self) -> int | None:
        return self.entries[0].seq if self.entries else None

    @property
    def last(self) -> int | None:
        return self.entries[-1].seq if self.entries else None


def head_seq(*, session: Session) -> int:
    head = session.get(LedgerHead, HEAD_ID)
    if head is not None:
        return head.seq
    last = session.scalar(select(LedgerEntry.seq).order_by(LedgerEntry.seq.desc()).limit(1))
    return last or 0


def load_page(
    filters: Filters,
    *,
    session: Session,
    tz: ZoneInfo,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """Entries matching ``filters`` older than ``before`` (or, with ``after``, the next newer ones)."""
    conds = filters.conditions(tz)
    if after is not None and before is None:
        rows = list(
            session.scalars(
                select(LedgerEntry)
                .where(*conds, LedgerEntry.seq > after)
                .order_by(LedgerEntry.seq)
                .limit(size)
            )
        )
        rows.reverse()
    else:
        query = select(LedgerEntry).where(*conds)
        if before is not None:
            query = query.where(LedgerEntry.seq < before)
        rows = list(session.scalars(query.order_by(LedgerEntry.seq.desc()).limit(size)))

    def exists(*extra: ColumnElement[bool]) -> bool:
        return session.scalar(select(LedgerEntry.seq).where(*conds, *extra).limit(1)) is not None

    newer = bool(rows) and exists(LedgerEntry.seq > rows[0].seq)
    older = bool(rows) and exists(LedgerEntry.seq < rows[-1].seq)
    if not rows and (before is not None or after is not None):
        newer = exists()  # an empty page past the end: a way back to the newest entries
    return Page(rows, newer=newer, older=older, head=head_seq(session=session))


def iter_filtered(filters: Filters, *, session: Session, tz: ZoneInfo, limit: int) -> Iterator[LedgerEntry]:
    """Up to ``limit`` matching entries, newest first, read in chunks."""
    query = (
        select(LedgerEntry)
        .where(*filters.conditions(tz))
        .order_by(LedgerEntry.seq.desc())
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    yield from session.scalars(query)


def known_kinds(*, session: Session) -> list[str]:
    """Every kind in the ledger (for the filter's suggestions)."""
    return list(session.scalars(select(LedgerEntry.kind).distinct().order_by(LedgerEntry.kind)))


# --------------------------------------------------------------------------- payloads for people


def _short(value: Any) -> str:
    if isinstance(value, str):
        if len(value) == _HEX64_LEN and all(c in "0123456789abcdef" for c in value):
            return value[:12] + "…"  # a sha256: its start identifies it
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        if not value:
            return "[]"
        if len(value) <= 4 and all(isinstance(v, (str, int, float)) for v in value):
            return "[" + ", ".join(_short(v) for v in value) + "]"
        return f"[{len(value)}×]"
    if isinstance(value, Mapping):
        inner = [f"{k} {_short(v)}" for k, v in value.items() if v not in (0, None, "", [], {})]
        return "{" + ", ".join(inner) + "}" if inner else "{}"
    return str(value)


def summarize(payload: Mapping[str, Any] | Any) -> str:
    """A payload on one line (``case_id 12 · reason …``), masked and cut at a readable length."""
    if not isinstance(payload, Mapping):
        text = _short(payload)
    else:
        text = " · ".join(f"{k} {_short(v)}" for k, v in payload.items())
    text = mask_text(text)
    return text if len(text) <= _SUMMARY_MAX else text[: _SUMMARY_MAX - 1] + "…"


def pretty_payload(payload: Any) -> str:
    """The whole payload as indented JSON, masked."""
    return mask_text(json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True))


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class EntryCheck:
    """One entry's own checks: its payload hash, its hash, the link to its predecessor, its signature
    (None: unsigned)."""

    payload_ok: bool
    hash_ok: bool
    link_ok: bool
    signature_ok: bool | None

    @property
    def ok(self) -> bool:
        return self.payload_ok and self.hash_ok and self.link_ok and self.signature_ok is not False


def check_entry(entry: LedgerEntry, *, session: Session, settings: Settings) -> EntryCheck:
    """Recompute what ``entry`` commits to (the whole chain is :func:`verification`'s job)."""
    recomputed = compute_entry_hash(
        seq=entry.seq,
        recorded_at=iso(entry.recorded_at),
        kind=entry.kind,
        actor=entry.actor,
        payload_sha256=entry.payload_sha256,
        items_root=entry.items_root,
        item_count=entry.item_count,
        prev_hash=entry.prev_hash,
    )
    if entry.seq == 1:
        link_ok = entry.prev_hash == GENESIS_HASH
    else:
        prev = session.scalar(select(LedgerEntry.entry_hash).where(LedgerEntry.seq == entry.seq - 1))
        link_ok = prev == entry.prev_hash
    signature_ok: bool | None = None
    if entry.signature is not None:
        try:
            key = signing.default_trusted_keys(settings).get(entry.key_id or "")
        except RecoupError:
            key = None
        signature_ok = key is not None and key.verify_entry(entry.entry_hash, entry.signature)
    return EntryCheck(
        payload_ok=payload_hash(entry.payload) == entry.payload_sha256,
        hash_ok=recomputed == entry.entry_hash,
        link_ok=link_ok,
        signature_ok=signature_ok,
    )


@dataclass(frozen=True)
class Verification:
    """The chain verification's outcome: entries walked, checkpoints, and the first broken entry."""

    ok: bool
    checked_at: dt.datetime
    seconds: float
    entries: int = 0
    head_hash: str = ""
    checkpoints: int = 0
    published: int = 0
    published_upto: int = 0
    signed: int = 0
    unsigned: int = 0
    checkpoint_upto: int | None = None
    checkpoint_at: dt.datetime | None = None
    broken_seq: int | None = None
    reason: str = ""
    message: str = ""
    cached: bool = False

    def covers(self, seq: int) -> bool | None:
        """True when the chain verified up to ``seq``, False when it breaks at or before it, None when
        the verification did not reach it (a newer entry)."""
        if self.ok:
            return True if seq <= self.entries else None
        if self.broken_seq is None:
            return False
        return seq < self.broken_seq


def _run(session: Session, settings: Settings) -> Verification:
    start = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    newest = latest_checkpoint(session=session)
    cp_upto = newest.upto_seq if newest else None
    cp_at = newest.created_at if newest else None
    try:
        publish_dir = settings.ledger_publish_dir
        claims = read_published(publish_dir) if publish_dir is not None and publish_dir.is_dir() else []
        report = verify(session=session, published=claims, public_keys=signing.default_trusted_keys(settings))
    except RecoupError as exc:
        seq = exc.details.get("seq")
        return Verification(
            ok=False,
            checked_at=now,
            seconds=time.monotonic() - start,
            checkpoint_upto=cp_upto,
            checkpoint_at=cp_at,
            broken_seq=seq if isinstance(seq, int) else None,
            reason=str(exc.details.get("reason") or exc.code),
            message=mask_text(exc.message),
        )
    return Verification(
        ok=True,
        checked_at=now,
        seconds=time.monotonic() - start,
        entries=report.entries,
        head_hash=report.head_hash,
        checkpoints=report.checkpoints_checked,
        published=report.published_checked,
        published_upto=report.published_upto,
        signed=report.signed,
        unsigned=report.unsigned,
        checkpoint_upto=cp_upto,
        checkpoint_at=cp_at,
    )


def last_verification(cache: dict[str, Any]) -> Verification | None:
    """This process's latest verification if it is recent (whatever the head), without running one."""
    hit: tuple[tuple[int, str], float, Verification] | None = cache.get("verification")
    if hit is None or time.monotonic() - hit[1] >= VERIFY_TTL_S:
        return None
    return hit[2]


def verification(
    cache: dict[str, Any], *, session: Session, settings: Settings, fresh: bool = False
) -> Verification:
    """The chain verification, reused for :data:`VERIFY_TTL_S` while the ledger head is unchanged
    (``cache``: a dict kept per process, e.g. on the app's state); ``fresh`` runs it again."""
    head = session.get(LedgerHead, HEAD_ID)
    key = (head.seq, head.entry_hash) if head is not None else (0, GENESIS_HASH)
    now = time.monotonic()
    hit: tuple[tuple[int, str], float, Verification] | None = cache.get("verification")
    if not fresh and hit is not None and hit[0] == key and now - hit[1] < VERIFY_TTL_S:
        return replace(hit[2], cached=True)
    result = _run(session, settings)
    cache["verification"] = (key, time.monotonic(), result)
    return result
