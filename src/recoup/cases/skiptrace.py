"""Lost contact and its repair (失联修复).

A case is *lost* when none of the borrower's own phone numbers is valid any more (the contact log marks
numbers invalid after repeated wrong-number results) or when a collector says so. A new number or
address may be added only with its source and legal basis — the borrower's own update, another product
of the same lender, a court order — never from address books or social networks (MISSION.md). Adding a
valid own number to a lost case repairs it. The repair rate of a period is the share of the cases lost
in it that were repaired by its end. Services take ``session`` and never commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.cases.models import Case
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.pii import mask, normalise
from recoup.portfolio.models import ContactPoint

OWN_ROLES: Final = ("self", "debtor")
PHONE_KINDS: Final = ("phone", "mobile")


class Source(StrEnum):
    """Where a number added after intake may come from (the only lawful sources recoup accepts)."""

    BORROWER_UPDATE = "borrower_update"  # the borrower's own update (call, portal, branch)
    LENDER_PRODUCT = "lender_product"  # the borrower's details held for another product of the lender
    COURT_ORDER = "court_order"  # disclosed under a court order


#: Sources asked for by name that recoup refuses, with why (so the refusal can say it).
REFUSED_SOURCES: Final[dict[str, str]] = {
    "address_book": "address-book scraping is unlawful (PIPL) / 通讯录数据不得使用",
    "social": "social-network data is not a lawful source / 社交网络数据不得使用",
    "data_broker": "purchased personal data is not a lawful source / 购买的个人信息不得使用",
}


class SkipTraceError(RecoupError):
    code = "skiptrace.invalid"
    http_status = 422
    exit_code = 65


@dataclass(frozen=True)
class RepairRate:
    start: dt.date
    end: dt.date
    lost: int
    repaired: int

    @property
    def rate(self) -> float | None:
        return self.repaired / self.lost if self.lost else None


def own_valid_phones(case: Case, *, session: Session) -> int:
    """How many valid phone numbers of the borrower's own the case still has."""
    n = session.scalar(
        select(func.count())
        .select_from(ContactPoint)
        .where(
            ContactPoint.borrower_id == case.borrower_id,
            ContactPoint.kind.in_(PHONE_KINDS),
            ContactPoint.role.in_(OWN_ROLES),
            ContactPoint.is_valid,
        )
    )
    return int(n or 0)


def do_mark_lost(case: Case, *, session: Session, actor: str, on: dt.date, reason: str) -> bool:
    """Mark ``case`` lost from ``on`` (no change if it already is); True when it changed. Audited."""
    if case.contact_status == "lost":
        return False
    case.contact_status, case.lost_since = "lost", on
    do_append("case.contact_lost", {"case_id": case.id, "reason": reason}, session=session, actor=actor)
    return True


def check_new_contact(kind: str, value: str, source: str, legal_basis: str) -> tuple[str, Source]:
    """Validate a number or address to add: kind, a value that normalises, a lawful source and a stated
    legal basis. Returns the normalised value and the source."""
    if source in REFUSED_SOURCES:
        raise SkipTraceError(
            f"source {source!r} refused: {REFUSED_SOURCES[source]}",
            details={"field": "source", "value": source},
        )
    if source not in {s.value for s in Source}:
        raise SkipTraceError(
            f"unknown source {source!r}; one of {', '.join(s.value for s in Source)} / 来源无效",
            details={"field": "source", "allowed": [s.value for s in Source]},
        )
    if not 3 <= len(legal_basis.strip()) <= 200:
        raise SkipTraceError(
            "state the legal basis (3–200 characters) / 请写明合法依据", details={"field": "legal_basis"}
        )
    if kind not in ("phone", "address", "email"):
        raise SkipTraceError(f"unknown kind {kind!r} / 类型无效", details={"field": "kind", "value": kind})
    clean = normalise("phone" if kind == "phone" else kind, value).strip()
    if not clean or len(clean) > 200:
        raise SkipTraceError("the value is empty or too long / 号码或地址无效", details={"field": "value"})
    return clean, Source(source)


def do_add_contact(
    case: Case,
    *,
    session: Session,
    actor: str,
    kind: str,
    value: str,
    source: str,
    legal_basis: str,
    on: dt.date,
) -> tuple[ContactPoint, bool]:
    """Add the borrower's own number or address with its source and legal basis; a valid phone added to
    a lost case repairs it (returned flag). The ledger records ids, kind and source — never the value."""
    clean, src = check_new_contact(kind, value, source, legal_basis)
    existing = session.scalars(
        select(ContactPoint).where(
            ContactPoint.borrower_id == case.borrower_id,
            ContactPoint.kind == kind,
            ContactPoint.value == clean,
        )
    ).first()
    if existing is not None and existing.is_valid:
        raise SkipTraceError(
            f"the borrower already has this {kind} ({mask(kind, clean)}) / 已有该联系方式",
            details={"field": "value", "contact_point_id": existing.id},
        )
    point = ContactPoint(
        external_id=f"ST-{uuid.uuid4().hex[:20]}",
        borrower_id=case.borrower_id,
        kind=kind,
        value=clean,
        role="self",
        consent_channels="call,sms" if src is Source.BORROWER_UPDATE else "call",
        consent_source=src.value,
        consent_date=on,
        is_valid=True,
        source=src.value,
        legal_basis=legal_basis.strip(),
        added_by=actor,
        added_at=utcnow(),
    )
    session.add(point)
    session.flush()
    repaired = case.contact_status == "lost" and kind == "phone"
    if repaired:
        case.contact_status = "reachable"
    do_append(
        "case.contact_added",
        {
            "case_id": case.id,
            "contact_point_id": point.id,
            "kind": kind,
            "source": src.value,
            "repaired": repaired,
        },
        session=session,
        actor=actor,
    )
    return point, repaired


def repair_rate(start: dt.date, end: dt.date, *, session: Session) -> RepairRate:
    """Cases lost on or before ``end`` (and still lost at ``start`` or lost during the period) and how
    many of them got a valid own phone from a lawful source after they were lost, by ``end``."""
    lost_cases = list(
        session.execute(
            select(Case.id, Case.borrower_id, Case.lost_since).where(
                Case.lost_since.is_not(None), Case.lost_since <= end
            )
        )
    )
    lost = [(cid, b, since) for cid, b, since in lost_cases if since is not None]
    if not lost:
        return RepairRate(start, end, 0, 0)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    added = session.execute(
        select(ContactPoint.borrower_id, func.min(ContactPoint.added_at))
        .where(
            ContactPoint.borrower_id.in_({b for _, b, _ in lost}),
            ContactPoint.source.is_not(None),
            ContactPoint.kind.in_(PHONE_KINDS),
            ContactPoint.added_at < until,
        )
        .group_by(ContactPoint.borrower_id)
    ).all()
    first_added = {b: at for b, at in added if at is not None}
    in_period = [
        (b, since)
        for _cid, b, since in lost
        if since >= start or first_added.get(b) is None or first_added[b].date() >= start
    ]
    repaired = sum(1 for b, since in in_period if b in first_added and first_added[b].date() >= since)
    return RepairRate(start, end, len(in_period), repaired)
