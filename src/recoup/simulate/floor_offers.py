"""Plans and settlements on the simulated floor (issue 15 item 10): the twin's collectors offer them
the way a lender's collectors do, within the approval matrix's pre-approved offer packs.

- A ``plan_offer`` task (the strategy's ``mild-plan`` row), or a call on a case in M2 (31–60 days past due),
  offers the overdue amount in :data:`PLAN_INSTALMENTS` monthly instalments under the pre-approved pack
  ``M1M2-PLAN-3``: the collector's own authority, approved at once.
- A call on a case :data:`SETTLE_FROM_DPD` or more days past due offers to settle the whole debt at a
  :data:`SETTLE_DISCOUNT_BP` discount, subject to approval: the matrix sends it to the manager (a principal
  waiver also needs hardship evidence: the recorded call's reference), and the demo's manager approves it
  the same day — or it is not recorded. Terms above the manager's authority are not offered.

The terms are worked out by recoup (:func:`recoup.resolutions.terms.propose`) before the call, and the
world hears exactly that amount; a borrower who accepts is recorded through
:func:`recoup.resolutions.ask.do_request` with the first due date the borrower named, so recoup's plan or
settlement is active (approved by the pack) and the cycle judges it from later extracts — honoured,
broken or lapsed — like anyone's. Terms the matrix refuses are never offered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import get_user
from recoup.cases.models import Case
from recoup.config import Settings
from recoup.contact.vocab import Treatment
from recoup.errors import NotFoundError, RecoupError
from recoup.resolutions.ask import do_request
from recoup.resolutions.decide import do_approve
from recoup.resolutions.service import do_add_evidence, matrix_for
from recoup.resolutions.terms import assess, case_terms, pack_misfits, propose

__all__ = ["PLAN_DPD", "PLAN_INSTALMENTS", "SETTLE_FROM_DPD", "Offer", "choose_offer", "do_record_accepted"]

PLAN_INSTALMENTS: Final = 3
PLAN_PACK: Final = "M1M2-PLAN-3"
#: Days past due on which a plain call offers the plan pack (M2).
PLAN_DPD: Final = (31, 60)
#: Days past due from which a call offers a settlement (M4 and later).
SETTLE_FROM_DPD: Final = 91
#: The discount a settlement offers on the whole debt (waived penalty first, then fees, interest and
#: principal — the matrix's principal rule allows up to 30 % on M4+ debts, with hardship evidence).
SETTLE_DISCOUNT_BP: Final = 2_500
#: Days a settlement's agreed sum has to arrive.
SETTLE_DAYS: Final = 14
#: Who approves what the collector may not (a demo user; the matrix names the role).
APPROVER: Final = "manager"


@dataclass(frozen=True)
class Offer:
    """What a call offers: the kind, the pack, the instalments and each payment the world is told."""

    kind: str  # plan | settlement
    pack_id: str  # "" when the offer needs approval
    instalments: int
    pay: int | None  # a settlement's agreed sum (minor units); None for a plan
    each: int  # the largest instalment: what the borrower pays each time

    @property
    def treatment(self) -> Treatment:
        return Treatment.PLAN_OFFER if self.kind == "plan" else Treatment.SETTLEMENT_OFFER


def choose_offer(
    case: Case, treatment: str, max_dpd: int, day: dt.date, *, session: Session, settings: Settings
) -> Offer | None:
    """The offer a call on ``case`` carries today, or None (a plain call): a plan for a ``plan_offer``
    task or an M2 case, a settlement on an old debt; only terms the matrix accepts (checked before the
    call, so the world hears exactly what recoup would record)."""
    if treatment == "plan_offer" or PLAN_DPD[0] <= max_dpd <= PLAN_DPD[1]:
        kind, pack_id, base = "plan", PLAN_PACK, "overdue"
    elif max_dpd >= SETTLE_FROM_DPD:
        kind, pack_id, base = "settlement", "", "whole"
    else:
        return None
    matrix = matrix_for(session, settings)
    pack = matrix.pack(pack_id) if pack_id else None
    if pack_id and pack is None:  # a lender's own matrix without the demo's packs: no plan offers
        return None
    try:
        owed = case_terms(case.id, base=base, session=session, as_of=day)
        waive: int | None = None
        if kind == "settlement":
            waive = owed.total * SETTLE_DISCOUNT_BP // 10_000
            if waive <= 0:
                return None
        terms = propose(
            matrix,
            owed,
            kind=kind,
            today=day,
            waive=waive,
            instalments=PLAN_INSTALMENTS if kind == "plan" else 1,
            first_due=day + dt.timedelta(days=7) if kind == "plan" else None,
            deadline=day + dt.timedelta(days=SETTLE_DAYS) if kind == "settlement" else None,
        )
    except RecoupError:
        return None
    if pack is not None and pack_misfits(pack, terms):
        return None
    if pack is None and matrix.rank(assess(matrix, terms).required_role) > matrix.rank(APPROVER):
        return None  # above the manager's authority: not offered on a call
    return Offer(
        kind=kind,
        pack_id=pack_id,
        instalments=len(terms.instalments),
        pay=terms.agreed if kind == "settlement" else None,
        each=max(i.amount for i in terms.instalments),
    )


def do_record_accepted(
    case: Case,
    user: AppUser,
    offer: Offer,
    first_date: dt.date | None,
    at: dt.datetime,
    *,
    session: Session,
    settings: Settings,
) -> bool:
    """Record an offer the borrower accepted on the call: a plan whose first instalment falls on the day
    the borrower named, or a settlement due in :data:`SETTLE_DAYS` (approved by the manager when the
    matrix asks for it). False when it is refused now — the collector then records nothing."""
    today = at.astimezone(settings.tz).date()
    try:
        with session.begin_nested():  # all or nothing: a request the manager cannot approve is not kept
            res = do_request(
                case,
                user,
                kind=offer.kind,
                session=session,
                settings=settings,
                base="overdue" if offer.kind == "plan" else "whole",
                pay=offer.pay,
                instalments=offer.instalments,
                first_due=first_date if offer.kind == "plan" else None,
                deadline=today + dt.timedelta(days=SETTLE_DAYS) if offer.kind == "settlement" else None,
                pack_id=offer.pack_id or None,
                reason="accepted on the call · 电话中客户同意",
                now=at,
            )
            if res.status == "pending":
                if res.waived.get("principal"):  # the matrix asks for hardship evidence
                    do_add_evidence(
                        res.id,
                        user,
                        f"call-recording:{case.id}:{at:%Y%m%dT%H%M}",
                        "hardship stated on the recorded call · 通话录音中客户陈述经济困难",
                        session=session,
                        settings=settings,
                    )
                approver = get_user(APPROVER, session=session)
                if approver is None:
                    raise NotFoundError(f"no user {APPROVER} to approve the offer")
                do_approve(res.id, approver, session=session, settings=settings, now=at)
    except RecoupError:
        return False
    return True
