"""Settlements negotiated by the demo's agencies (委外): an agency that holds a case calls the borrower with
a settlement offer, the way agencies work M4+ debts — and, as the approval matrix says, asks the lender
to approve it (an agency may request a waiver, never approve one).

On the days :data:`OFFER_ON_DAYS` of each active placement the agency user holding the case calls the
borrower — unless a plan or settlement is already pending or running — asking the contact policy first like
any collector, and offers to settle the whole debt at a discount: the terms come from
:func:`recoup.resolutions.terms.propose` before the call, within what the lender's manager may approve
(:func:`recoup.simulate.floor_offers.choose_offer`); the world hears exactly that amount.
The calls are :class:`~recoup.simulate.floor.PlannedCall` s like the collectors' and are
logged by :meth:`~recoup.simulate.floor.FloorTwin.record_day`: an accepted offer is requested by the
agency user, the recorded call is attached as hardship evidence, and the demo's manager approves it.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.agencies.models import Placement
from recoup.auth.models import AppUser
from recoup.cases.contact_log import precheck_contact
from recoup.cases.models import Case
from recoup.contact.vocab import Party, Treatment
from recoup.resolutions.models import Resolution
from recoup.simulate.events import Action
from recoup.simulate.floor import FloorDay, FloorTwin, PlannedCall, call_target
from recoup.simulate.floor_offers import choose_offer

__all__ = ["OFFER_ON_DAYS", "plan_agency_offers"]

#: The days of a placement (day 1 = its start date) on which the agency calls with a settlement offer.
OFFER_ON_DAYS: Final = (5, 15)
#: The agencies' calls start at this local time, :data:`CALL_MINUTES` apart per agency user.
AGENCY_START: Final = dt.time(10, 0)
CALL_MINUTES: Final = 10


def plan_agency_offers(
    twin: FloorTwin, day: dt.date, *, session: Session, out: FloorDay
) -> list[PlannedCall]:
    """The agencies' settlement calls of ``day`` (see the module docstring); nothing is logged yet."""
    starts = [day - dt.timedelta(days=n - 1) for n in OFFER_ON_DAYS]
    live = select(Resolution.case_id).where(Resolution.status.in_(("pending", "active")))
    rows = session.execute(
        select(Placement.case_id, AppUser)
        .join(AppUser, AppUser.id == Placement.holder_id)
        .where(
            Placement.status == "active",
            Placement.start_date.in_(starts),
            Placement.case_id.not_in(live),
        )
        .order_by(AppUser.username, Placement.case_id)
    ).all()
    policy = twin._policy(session)
    used: dict[str, int] = {}
    calls: list[PlannedCall] = []
    for case_id, user in rows:
        case = session.get(Case, case_id)
        if case is None or case.status != "open":
            continue
        target = call_target(case, session=session)
        if target is None:
            continue
        phone, loan, max_dpd = target
        minutes = used.get(user.username, 0)
        local = dt.datetime.combine(day, AGENCY_START, tzinfo=twin.settings.tz) + dt.timedelta(
            minutes=minutes
        )
        at = local.astimezone(dt.UTC)
        verdict = precheck_contact(
            case, point=phone, channel="call", at=at, policy=policy, session=session, cipher=twin.cipher
        )
        if verdict.verdict != "allowed":
            out.skipped_by_policy += 1
            continue
        offer = choose_offer(
            case, Treatment.AGENT_CALL.value, max_dpd, day, session=session, settings=twin.settings
        )
        if offer is None or offer.kind != "settlement":
            continue  # nothing the lender's manager could approve: the agency works it without an offer
        used[user.username] = minutes + CALL_MINUTES
        action = Action(
            loan_id=loan,
            treatment=offer.treatment,
            hour=local.hour,
            party=Party.DEBTOR,
            amount=offer.each,
            installments=offer.instalments,
        )
        out.offers += 1
        out.settle_offers += 1
        calls.append(PlannedCall(action, user.username, case.id, None, phone.id, at, offer))
    return calls
