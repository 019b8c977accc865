"""The demo's agencies (委外): two white-listed agencies whose users are the demo's ``agency1`` and
``agency2``, receiving 赛马 batches of the cases the strategy sends to agencies, through recoup's services
as a lender's operations team would run them.

- :func:`do_setup_agencies` registers the agencies (PIPL processing contract, a service contract with a
  rate card by bucket and recovery tier, a passed yearly review, the staff register and training).
- :func:`do_agency_morning`, each simulated day after the cycle: every Monday a placement batch takes
  the open ``agency_placement`` tasks (the borrower's notice goes out first under the ``cn`` preset; the
  next day's cycle activates the placements whose notice was sent, and recalls them at expiry); on the
  1st of a month last month's ranking sets this month's shares and last month's statements are issued
  and confirmed by the lender. It returns the twin's ``agency_placement`` actions for the accounts that
  became the agencies' that day, so the simulated agencies work them (:mod:`recoup.simulate.dynamics`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.agencies.errors import NothingToPlaceError, StatementError
from recoup.agencies.models import Agency, Placement
from recoup.agencies.placement import do_place_batch
from recoup.agencies.ranking import do_set_next_shares
from recoup.agencies.register import (
    do_add_contract,
    do_register_agency,
    do_review,
    do_set_pipl_contract,
    get_agency,
)
from recoup.agencies.staff import do_add_staff, do_record_training
from recoup.agencies.statements import do_confirm_statement, do_issue_statement
from recoup.auth import service as auth
from recoup.config import Settings
from recoup.contact.vocab import Party, Treatment
from recoup.portfolio.models import CollectionAccount
from recoup.simulate.events import Action

__all__ = ["DEMO_AGENCIES", "do_agency_morning", "do_setup_agencies"]

#: (code, name, the demo user on its staff register, its rate card)
DEMO_AGENCIES: Final = (
    (
        "HXCS",
        "华信催收服务有限公司",
        "agency1",
        ["*:0=12%,15%=15%", "M4:0=15%,15%=18%", "M5:0=18%,10%=22%", "M6:0=20%,10%=25%", "M7+:0=25%,8%=30%"],
    ),
    (
        "JDZG",
        "金盾资产管理有限公司",
        "agency2",
        ["*:0=13%,15%=16%", "M4:0=16%,15%=19%", "M5:0=19%,10%=23%", "M6:0=21%,10%=26%", "M7+:0=26%,8%=31%"],
    ),
)
PLACEMENT_DAYS: Final = 30
ACTOR: Final = "manager"


def do_setup_agencies(start: dt.date, *, session: Session, password: str) -> list[str]:
    """The demo's agencies and their staff (idempotent); their codes."""
    from recoup.agencies.register import parse_rate_specs

    auth.do_ensure_default_roles(session=session)
    codes = []
    for code, name, username, card in DEMO_AGENCIES:
        codes.append(code)
        if session.scalars(select(Agency.id).where(Agency.code == code)).first() is not None:
            continue
        if auth.get_user(username, session=session) is None:
            auth.do_create_user(username, password, roles=["agency"], display_name=name[:4], session=session)
        agency = do_register_agency(code, name, session=session, actor=ACTOR)
        do_set_pipl_contract(agency, ref=f"PIPL-{code}-2026", signed_on=start, session=session, actor=ACTOR)
        do_add_contract(
            agency,
            ref=f"WW-{code}-2026",
            start=start,
            end=start + dt.timedelta(days=365),
            rates=parse_rate_specs(card),
            complaint_penalty=50_000,
            qa_penalty=20_000,
            session=session,
            actor=ACTOR,
        )
        do_review(agency, outcome="pass", on=start, note="demo: on-site review", session=session, actor=ACTOR)
        do_add_staff(
            agency, username, joined_on=start, certificate_no=f"CERT-{code}-01", session=session, actor=ACTOR
        )
        do_record_training(
            agency,
            username,
            course="委外催收合规与个人信息保护培训",
            completed_on=start,
            expires_on=start + dt.timedelta(days=365),
            session=session,
            actor=ACTOR,
        )
    return codes


def do_agency_morning(day: dt.date, *, session: Session, settings: Settings) -> list[Action]:
    """The agencies' part of the demo's ``day`` (see the module docstring): the twin's actions for the
    accounts placed with an agency from ``day``."""
    manager = auth.get_user(ACTOR, session=session)
    if manager is None:
        return []
    if day.day == 1:
        last = (day - dt.timedelta(days=1)).strftime("%Y-%m")
        do_set_next_shares(last, session=session, actor=ACTOR, tz=settings.tz)
        for code, *_rest in DEMO_AGENCIES:
            try:
                statement = do_issue_statement(
                    get_agency(code, session=session),
                    last,
                    session=session,
                    actor=manager,
                    tz=settings.tz,
                    today=day,
                )
            except StatementError:  # confirmed already (a rerun): it stands
                continue
            do_confirm_statement(statement, manager, "lender", session=session)
    if day.weekday() == 0:
        with contextlib.suppress(NothingToPlaceError):
            do_place_batch(
                day,
                session=session,
                actor=manager,
                settings=settings,
                seed=day.toordinal() % 2**31,
                days=PLACEMENT_DAYS,
            )
    loans = session.scalars(
        select(CollectionAccount.external_id)
        .join(Placement, Placement.case_id == CollectionAccount.case_id)
        .where(Placement.start_date == day, Placement.status == "active", CollectionAccount.status == "open")
    ).all()
    return [Action(loan_id=loan, treatment=Treatment.AGENCY_PLACEMENT, party=Party.DEBTOR) for loan in loans]
