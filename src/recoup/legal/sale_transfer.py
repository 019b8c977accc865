"""Transferring an approved debt sale: the hard stop on collection in one transaction (cases closed as
sold, contact holds, tasks cancelled, placements recalled, pending messages blocked) and the notice of
transfer by letter (split from :mod:`recoup.legal.sales`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from recoup.agencies.models import Placement
from recoup.agencies.placement import LIVE as PLACEMENT_LIVE
from recoup.agencies.recall import do_recall
from recoup.auth.models import AppUser
from recoup.cases.lifecycle import CaseState, CloseReason
from recoup.cases.models import Case
from recoup.cases.service import do_transition
from recoup.config import Settings, get_settings
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import OutboxStatus, do_enqueue
from recoup.contact.policy.model import HoldKind
from recoup.contact.service import do_add_hold
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.db import utcnow
from recoup.ledger.service import do_append
from recoup.legal.common import (
    LIFECYCLE_VERSION,
    TooEarlyError,
    business_day,
    combined_permissions,
)
from recoup.legal.models import DebtSale, DebtSaleAccount
from recoup.legal.notice import NOTICE_TEMPLATE, notice_text
from recoup.legal.sale_rules import (
    HOLD_CHANNELS,
    LIVE_TASKS,
    SaleStatus,
    check_status,
    lock_sale,
    refuse_cases,
    sale_accounts,
    user_named,
)
from recoup.pii import PiiCipher
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy.models import WorkTask

__all__ = ["TransferResult", "do_transfer_sale"]


@dataclass
class TransferResult:
    sale: DebtSale
    cases: list[int] = field(default_factory=list)
    holds: list[int] = field(default_factory=list)
    tasks_cancelled: list[int] = field(default_factory=list)
    messages_blocked: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # outbox message ids
    no_address: list[int] = field(default_factory=list)  # case ids
    placements_recalled: list[int] = field(default_factory=list)


def _address(borrower_id: int, *, session: Session) -> str | None:
    value = session.scalar(
        select(ContactPoint.value)
        .where(
            ContactPoint.borrower_id == borrower_id,
            ContactPoint.kind == "address",
            ContactPoint.role.in_(("self", "debtor")),
            ContactPoint.is_valid.is_(True),
        )
        .order_by(ContactPoint.id)
        .limit(1)
    )
    return value.strip() if value and value.strip() else None


def do_transfer_sale(
    sale_id: int,
    *,
    session: Session,
    actor: AppUser,
    settings: Settings | None = None,
    cipher: PiiCipher | None = None,
    now: dt.datetime | None = None,
) -> TransferResult:
    """Transfer an approved sale on or after its transfer date: the hard stop on collection (see the
    module docstring) and the notice of transfer to each borrower, in one transaction."""
    s = settings or get_settings()
    at = now or utcnow()
    today = business_day(at, s)
    sale = lock_sale(sale_id, session=session)
    check_status(sale, (SaleStatus.APPROVED.value,), "transferred")
    if today < sale.transfer_date:
        raise TooEarlyError(
            f"debt sale {sale.id} transfers on {sale.transfer_date}, not before / "
            f"转让日为 {sale.transfer_date}",
            details={"sale_id": sale.id, "transfer_date": sale.transfer_date.isoformat()},
        )
    rows = sale_accounts(sale.id, session=session)
    by_case: dict[int, list[DebtSaleAccount]] = defaultdict(list)
    for r in rows:
        by_case[r.case_id].append(r)
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(sorted(by_case))))}
    closed = {
        cid: ["closed / 已结案"] for cid in by_case if cases.get(cid) is None or cases[cid].status != "open"
    }
    if closed:
        raise refuse_cases(closed)
    perms = combined_permissions(
        [session.get(AppUser, sale.requested_by_id), user_named(sale.decided_by, session=session), actor]
    )
    result = TransferResult(sale)
    reason = f"sold to {sale.buyer} in debt sale {sale.id} (cut-off {sale.cutoff_date})"[:500]
    for cid, accounts in sorted(by_case.items()):
        case = cases[cid]
        do_transition(
            cid,
            CaseState.CLOSED,
            session=session,
            actor=actor.username,
            permissions=perms,
            reason=reason,
            close_reason=CloseReason.SOLD.value,
            now=at,
            settings=s,
        )
        borrower = session.get(Borrower, case.borrower_id)
        assert borrower is not None
        hold = do_add_hold(
            session=session,
            borrower_key=borrower.external_id,
            kind=HoldKind.STOP,
            start=at,
            end=None,
            channels=list(HOLD_CHANNELS),
            reason=f"debt sale {sale.id}: sold to the buyer (民法典 §546) · 债权已转让",
            evidence=f"debt sale {sale.id}",
            approved_by=sale.decided_by,
            created_by=actor.username,
            recorded_at=at,
        )
        result.holds.append(hold.id)
        tasks = list(
            session.scalars(
                select(WorkTask)
                .where(WorkTask.case_id == cid, WorkTask.status.in_(LIVE_TASKS))
                .order_by(WorkTask.id)
            )
        )
        for t in tasks:
            t.status, t.status_reason, t.updated_at = "cancelled", f"sold: debt sale {sale.id}", at
        result.tasks_cancelled += [t.id for t in tasks]
        # An agency's placement ends now (its access with it): the debt is the buyer's.
        for placement in session.scalars(
            select(Placement).where(Placement.case_id == cid, Placement.status.in_(PLACEMENT_LIVE))
        ):
            do_recall(
                placement,
                reason="closed",
                on=today,
                session=session,
                actor=actor.username,
                note=f"sold in debt sale {sale.id}",
            )
            result.placements_recalled.append(placement.id)
        blocked = session.scalars(
            update(OutboxMessage)
            .where(
                OutboxMessage.borrower_key == borrower.external_id,
                OutboxMessage.status == OutboxStatus.PENDING.value,
            )
            .values(
                status=OutboxStatus.BLOCKED.value,
                verdict="blocked",
                verdict_rules=["HOLD-STOP"],
                claimed_until=None,
                next_try_at=None,
                last_error=f"debt sold (debt sale {sale.id}): never sent · 债权已转让，不发送",
            )
            .returning(OutboxMessage.message_id)
            .execution_options(synchronize_session=False)
        ).all()
        result.messages_blocked += sorted(str(m) for m in blocked)
        for acc_row in accounts:
            acc = session.get(CollectionAccount, acc_row.account_id)
            if acc is not None:
                acc.status, acc.closed_on = "closed", today
            acc_row.hold_id = hold.id
        address = _address(case.borrower_id, session=session)
        if address is None:
            for acc_row in accounts:
                acc_row.notice_status = "no_address"
            result.no_address.append(cid)
        else:
            locale = borrower.locale or s.locale
            subject, body = notice_text(
                locale,
                borrower_name=borrower.name or "",
                lender=s.lender_name or "",
                hotline=s.hotline or "",
                buyer=sale.buyer,
                buyer_contact=sale.buyer_contact,
                cutoff=sale.cutoff_date,
                transfer=today,
                loans=[a.loan_id for a in accounts],
            )
            msg = do_enqueue(
                session=session,
                as_of=today,
                borrower_key=borrower.external_id,
                debt_key=None,
                slot=f"sale:{sale.id}:notice",
                channel=Channel.LETTER,
                party=Party.DEBTOR,
                destination=address,
                destination_kind=DestinationKind.ADDRESS,
                subject=subject,
                body=body,
                locale="en" if locale.startswith("en") else "zh_CN",
                template=NOTICE_TEMPLATE,
                decision=f"debt sale {sale.id} · 民法典 §546 notice of transfer",
                due_at=at,
                expires_at=None,
                settings=s,
                cipher=cipher,
            )
            for acc_row in accounts:
                acc_row.notice_message_id, acc_row.notice_status = msg.message_id, "queued"
            result.notices.append(msg.message_id)
        result.cases.append(cid)
    sale.status, sale.transferred_by, sale.transferred_at = SaleStatus.TRANSFERRED.value, actor.username, at
    sale.rule_version = LIFECYCLE_VERSION
    session.flush()
    do_append(
        "sale.transferred",
        {
            "sale_id": sale.id,
            "cases": result.cases,
            "accounts": len(rows),
            "holds": result.holds,
            "tasks_cancelled": len(result.tasks_cancelled),
            "messages_blocked": len(result.messages_blocked),
            "notices": result.notices,
            "no_address": result.no_address,
            "placements_recalled": result.placements_recalled,
            "rule_version": LIFECYCLE_VERSION,
        },
        session=session,
        actor=actor.username,
        settings=s,
    )
    return result
