"""Revealing a case's masked personal data with a reason (PIPL), and the alert on too many reveals.

Phones, the ID number and addresses are masked everywhere by default. A user holding ``pii.unmask`` who
may see the case reveals them for that case by giving a reason — one of :data:`REVEAL_REASONS` and a
free text of at least :data:`MIN_REASON` characters. Each reveal appends ``pii.reveal`` to the audit
ledger (who, which case, which fields, why — never the values). More than
``Settings.pii_reveal_alert_per_hour`` reveals by one user within a rolling hour append one
``pii.reveal_alert`` (at most one per user per hour) for the reviewers of ``pii.review``; reveals keep
working, the alert is for review.

Where the values live: the ID number is encrypted in ``borrower.national_id_enc`` (decrypted with the
installation's :class:`recoup.pii.PiiCipher`); phones and addresses are the ``value`` of the borrower's
valid contact points.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.models import Case
from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import AuthError, PiiError, RecoupError
from recoup.ledger.models import LedgerEntry
from recoup.ledger.service import do_append
from recoup.pii import PiiCipher, cipher_from_settings, mask, mask_text
from recoup.portfolio.models import Borrower, ContactPoint

#: What can be revealed, in display order.
REVEAL_FIELDS: Final = ("phone", "national_id", "address")
#: Why (the select of the forms); ``other`` needs the free text to say it all.
REVEAL_REASONS: Final = (
    "verify_identity",
    "borrower_request",
    "field_visit",
    "legal_action",
    "complaint",
    "other",
)
#: The free text of a reason: at least this many characters (after trimming), at most :data:`MAX_REASON`.
MIN_REASON: Final = 4
MAX_REASON: Final = 300
#: The rolling window of the alert.
ALERT_WINDOW: Final = dt.timedelta(hours=1)
REVEAL_KIND: Final = "pii.reveal"
ALERT_KIND: Final = "pii.reveal_alert"
PHONE_KINDS: Final = ("phone", "mobile")


class RevealInvalidError(RecoupError):
    """The reveal names an unknown field or reason."""

    code = "pii.reveal_invalid"
    http_status = 422


class RevealReasonError(RevealInvalidError):
    """No reason, or one shorter than :data:`MIN_REASON` characters."""

    code = "pii.reason_required"


class RevealForbiddenError(AuthError):
    """The user lacks ``pii.unmask``."""

    code = "auth.forbidden"
    http_status = 403


@dataclass(frozen=True)
class ContactValue:
    """One phone or address of the borrower (masked or clear), with the contact point's id and role."""

    id: int
    role: str
    value: str


@dataclass(frozen=True)
class ContactData:
    """A case's phones, ID number and addresses, either all masked or (``clear``) as revealed."""

    phones: tuple[ContactValue, ...]
    national_id: str | None
    addresses: tuple[ContactValue, ...]
    clear: bool
    fields: tuple[str, ...] = REVEAL_FIELDS


@dataclass(frozen=True)
class Reveal:
    """What :func:`do_reveal` returns: the clear values and what was written to the ledger."""

    case_id: int
    data: ContactData
    fields: tuple[str, ...]
    reason_code: str
    reason: str
    at: dt.datetime
    ledger_seq: int
    reveals_in_window: int
    alert: bool


# --- reading ---------------------------------------------------------------------------------


def _points(case: Case, session: Session) -> list[ContactPoint]:
    return list(
        session.scalars(
            select(ContactPoint)
            .where(ContactPoint.borrower_id == case.borrower_id, ContactPoint.is_valid)
            .order_by(ContactPoint.id)
        )
    )


def _national_id(borrower: Borrower | None, cipher: PiiCipher | None) -> str | None:
    if borrower is None or not borrower.national_id_enc or cipher is None:
        return None
    return cipher.decrypt(borrower.national_id_enc)


def contact_data(
    case: Case,
    *,
    session: Session,
    cipher: PiiCipher | None,
    clear: bool = False,
    fields: Sequence[str] = REVEAL_FIELDS,
) -> ContactData:
    """The borrower's valid phones, ID number and addresses: masked (the default), or in clear for the
    ``fields`` asked (only :func:`do_reveal` asks for clear values; it audits them). A masked ID number
    that cannot be decrypted (wrong key) shows as unreadable rather than breaking the page."""
    wanted = set(fields)
    points = _points(case, session)
    borrower = session.get(Borrower, case.borrower_id)

    def show(kind: str, value: str, field: str) -> str:
        return value if clear and field in wanted else mask(kind, value)

    phones = tuple(
        ContactValue(p.id, p.role, show("phone", p.value, "phone")) for p in points if p.kind in PHONE_KINDS
    )
    addresses = tuple(
        ContactValue(p.id, p.role, show("address", p.value, "address")) for p in points if p.kind == "address"
    )
    if clear and "national_id" in wanted:
        national_id = _national_id(borrower, cipher)
    else:
        try:
            plain = _national_id(borrower, cipher)
        except PiiError:
            national_id = "******"
        else:
            national_id = mask("national_id", plain) if plain else None
    shown = tuple(f for f in REVEAL_FIELDS if f in wanted) if clear else ()
    return ContactData(phones, national_id, addresses, clear, shown)


# --- revealing -------------------------------------------------------------------------------


def check_reveal(
    user: AppUser, fields: Iterable[str] | None, reason: str, *, reason_code: str = "other"
) -> tuple[tuple[str, ...], str]:
    """Validate a reveal: ``user`` holds ``pii.unmask`` (403), the fields and reason code are known and
    the reason is at least :data:`MIN_REASON` characters (422). Returns (fields in display order, the
    trimmed reason). The case's visibility is the caller's (:func:`recoup.cases.access.get_visible_case`)."""
    if not has_permission(user, "pii.unmask"):
        raise RevealForbiddenError(
            "you do not have the permission pii.unmask / 您没有 pii.unmask 权限",
            details={"permission": "pii.unmask"},
        )
    asked = list(fields) if fields is not None else list(REVEAL_FIELDS)
    unknown = sorted(set(asked) - set(REVEAL_FIELDS))
    if unknown or not asked:
        raise RevealInvalidError(
            f"unknown field(s) to reveal: {', '.join(unknown) or '(none given)'}; one or more of"
            f" {', '.join(REVEAL_FIELDS)} / 要查看的字段无效",
            details={"field": "fields", "unknown": unknown, "allowed": list(REVEAL_FIELDS)},
        )
    if reason_code not in REVEAL_REASONS:
        raise RevealInvalidError(
            f"unknown reason {reason_code!r}; one of {', '.join(REVEAL_REASONS)} / 查看理由无效",
            details={"field": "reason_code", "value": reason_code, "allowed": list(REVEAL_REASONS)},
        )
    text = " ".join(reason.split())
    if len(text) < MIN_REASON:
        raise RevealReasonError(
            f"give a reason of at least {MIN_REASON} characters for revealing personal data"
            f" / 查看个人信息须填写理由（至少 {MIN_REASON} 个字）",
            details={"field": "reason", "min_length": MIN_REASON, "length": len(text)},
        )
    if len(text) > MAX_REASON:
        raise RevealReasonError(
            f"the reason is too long: at most {MAX_REASON} characters / 理由过长：最多 {MAX_REASON} 个字",
            details={"field": "reason", "max_length": MAX_REASON, "length": len(text)},
        )
    return tuple(f for f in REVEAL_FIELDS if f in asked), text


def reveals_in_window(username: str, *, session: Session, now: dt.datetime | None = None) -> int:
    """How many ``pii.reveal`` entries ``username`` wrote within the rolling hour up to ``now``."""
    since = (now or utcnow()) - ALERT_WINDOW
    return int(
        session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(
                LedgerEntry.kind == REVEAL_KIND,
                LedgerEntry.actor == username,
                LedgerEntry.recorded_at >= since,
            )
        )
        or 0
    )


def _alerted_in_window(username: str, *, session: Session, now: dt.datetime) -> bool:
    return (
        session.scalar(
            select(LedgerEntry.seq)
            .where(
                LedgerEntry.kind == ALERT_KIND,
                LedgerEntry.actor == username,
                LedgerEntry.recorded_at >= now - ALERT_WINDOW,
            )
            .limit(1)
        )
        is not None
    )


def do_reveal(
    case: Case,
    user: AppUser,
    fields: Iterable[str] | None,
    reason: str,
    *,
    reason_code: str = "other",
    session: Session,
    settings: Settings | None = None,
    cipher: PiiCipher | None = None,
) -> Reveal:
    """Reveal ``fields`` of ``case`` to ``user`` for ``reason`` (validated by :func:`check_reveal`): the
    clear values, after appending ``pii.reveal`` to the ledger (ids, fields and the reason with any
    phone or ID number in it masked — never the values). Appends ``pii.reveal_alert`` when this is more
    than the setting's reveals by ``user`` in the rolling hour and none was raised in it yet."""
    shown, text = check_reveal(user, fields, reason, reason_code=reason_code)
    s = settings or get_settings()
    data = contact_data(
        case, session=session, cipher=cipher or cipher_from_settings(s), clear=True, fields=shown
    )
    entry = do_append(
        REVEAL_KIND,
        {
            "case_id": case.id,
            "borrower_id": case.borrower_id,
            "user_id": user.id,
            "fields": list(shown),
            "contact_point_ids": [p.id for p in data.phones if "phone" in shown]
            + [p.id for p in data.addresses if "address" in shown],
            "reason_code": reason_code,
            "reason": mask_text(text),
        },
        session=session,
        actor=user.username,
        settings=s,
    )
    now = entry.recorded_at
    count = reveals_in_window(user.username, session=session, now=now)
    limit = s.pii_reveal_alert_per_hour
    alert = count > limit and not _alerted_in_window(user.username, session=session, now=now)
    if alert:
        do_append(
            ALERT_KIND,
            {
                "user_id": user.id,
                "reveals": count,
                "limit": limit,
                "window_minutes": int(ALERT_WINDOW.total_seconds() // 60),
                "last_case_id": case.id,
            },
            session=session,
            actor=user.username,
            settings=s,
        )
    return Reveal(
        case_id=case.id,
        data=data,
        fields=shown,
        reason_code=reason_code,
        reason=text,
        at=now,
        ledger_seq=entry.seq,
        reveals_in_window=count,
        alert=alert,
    )


# --- review ----------------------------------------------------------------------------------


def list_events(
    kinds: Sequence[str] = (REVEAL_KIND, ALERT_KIND),
    *,
    session: Session,
    actor: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 200,
) -> list[LedgerEntry]:
    """Reveal and alert entries of the ledger, newest first (optionally one user's, or since a time)."""
    query = select(LedgerEntry).where(LedgerEntry.kind.in_(list(kinds)))
    if actor:
        query = query.where(LedgerEntry.actor == actor)
    if since is not None:
        query = query.where(LedgerEntry.recorded_at >= since)
    return list(session.scalars(query.order_by(LedgerEntry.seq.desc()).limit(limit)))


def reveal_counts(*, session: Session, since: dt.datetime) -> list[tuple[str, int]]:
    """Reveals per user since ``since``, most first."""
    rows = session.execute(
        select(LedgerEntry.actor, func.count())
        .where(LedgerEntry.kind == REVEAL_KIND, LedgerEntry.recorded_at >= since)
        .group_by(LedgerEntry.actor)
        .order_by(func.count().desc(), LedgerEntry.actor)
    ).all()
    return [(str(actor), int(n)) for actor, n in rows]
