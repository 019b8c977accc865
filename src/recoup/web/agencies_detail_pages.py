"""One agency's page (``/agencies/{code}``, ``agency.manage``): its standing on the white list, the PIPL
processing contract, service contracts and rate cards, yearly reviews, the staff register and training,
and its placements — with the forms that record each. Shares the helpers of
:mod:`recoup.web.agencies_pages`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup.agencies import register, staff
from recoup.agencies.errors import invalid
from recoup.agencies.models import AgencyContract, AgencyReview
from recoup.agencies.queries import agency_rows, list_placements, placement_rows
from recoup.money import parse_amount
from recoup.web.agencies_pages import Manager, attempt, business_day, page_base
from recoup.web.deps import DbSession
from recoup.web.labels import N_
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/agencies/{code}")
def agency_page(
    code: Annotated[str, Path(max_length=64)], request: Request, user: Manager, session: DbSession
) -> Response:
    """One agency: standing, PIPL contract, contracts and rate cards, reviews, staff and training."""
    agency = register.get_agency(code, session=session)
    today = business_day(request)
    row = next(r for r in agency_rows(today, session=session) if r.agency.id == agency.id)
    ctx = {
        **page_base(request),
        "a": agency,
        "row": row,
        "today": today,
        "contracts": session.scalars(
            select(AgencyContract)
            .where(AgencyContract.agency_id == agency.id)
            .order_by(AgencyContract.start_date.desc())
        ).all(),
        "reviews": session.scalars(
            select(AgencyReview)
            .where(AgencyReview.agency_id == agency.id)
            .order_by(AgencyReview.reviewed_on.desc())
        ).all(),
        "staff": staff.staff_rows(agency.id, today, session=session),
        "placed": placement_rows(
            list_placements(session=session, agency_id=agency.id, limit=100), session=session
        ),
    }
    return render(request, "agencies_detail.html", ctx, user=user)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise invalid("date", text, "is not a date (YYYY-MM-DD)", "日期格式应为 YYYY-MM-DD") from None


@router.post("/agencies/{code}/review")
def review(
    code: Annotated[str, Path(max_length=64)],
    request: Request,
    user: Manager,
    session: DbSession,
    outcome: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Record the yearly review today."""
    agency = register.get_agency(code, session=session)

    def act() -> str:
        register.do_review(
            agency, outcome=outcome, on=business_day(request), note=note, session=session, actor=user.username
        )
        return N_("Review recorded.")

    return attempt(request, user, f"/agencies/{agency.code}", act)


@router.post("/agencies/{code}/pipl")
def pipl(
    code: Annotated[str, Path(max_length=64)],
    request: Request,
    user: Manager,
    session: DbSession,
    ref: Annotated[str, Form(max_length=100)] = "",
    signed_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Record the PIPL Art. 21 processing contract."""
    agency = register.get_agency(code, session=session)

    def act() -> str:
        register.do_set_pipl_contract(
            agency, ref=ref, signed_on=_date(signed_on), session=session, actor=user.username
        )
        return N_("Processing contract recorded.")

    return attempt(request, user, f"/agencies/{agency.code}", act)


@router.post("/agencies/{code}/contract")
def contract(
    code: Annotated[str, Path(max_length=64)],
    request: Request,
    user: Manager,
    session: DbSession,
    ref: Annotated[str, Form(max_length=100)] = "",
    start: Annotated[str, Form(max_length=10)] = "",
    end: Annotated[str, Form(max_length=10)] = "",
    rates: Annotated[str, Form(max_length=2000)] = "",
    complaint_penalty: Annotated[str, Form(max_length=30)] = "0",
    qa_penalty: Annotated[str, Form(max_length=30)] = "0",
) -> Response:
    """Add a service contract; the rate card is one bucket a line, ``M4:0=10%,20%=15%``."""
    agency = register.get_agency(code, session=session)

    def act() -> str:
        register.do_add_contract(
            agency,
            ref=ref,
            start=_date(start),
            end=_date(end),
            rates=register.parse_rate_specs([line for line in rates.splitlines() if line.strip()]),
            complaint_penalty=parse_amount(complaint_penalty or "0"),
            qa_penalty=parse_amount(qa_penalty or "0"),
            session=session,
            actor=user.username,
        )
        return N_("Contract recorded.")

    return attempt(request, user, f"/agencies/{agency.code}", act)


@router.post("/agencies/{code}/staff")
def add_staff(
    code: Annotated[str, Path(max_length=64)],
    request: Request,
    user: Manager,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)] = "",
    title: Annotated[str, Form(max_length=60)] = "collector",
    certificate_no: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Put a user of the role agency on the staff register."""
    agency = register.get_agency(code, session=session)

    def act() -> str:
        staff.do_add_staff(
            agency,
            username.strip(),
            joined_on=business_day(request),
            title=title or "collector",
            certificate_no=certificate_no or None,
            session=session,
            actor=user.username,
        )
        return N_("Staff member registered.")

    return attempt(request, user, f"/agencies/{agency.code}", act)


@router.post("/agencies/{code}/training")
def training(
    code: Annotated[str, Path(max_length=64)],
    request: Request,
    user: Manager,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)] = "",
    course: Annotated[str, Form(max_length=200)] = "",
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Record a training completed today."""
    agency = register.get_agency(code, session=session)

    def act() -> str:
        staff.do_record_training(
            agency,
            username,
            course=course,
            completed_on=business_day(request),
            expires_on=_date(expires_on) if expires_on.strip() else None,
            session=session,
            actor=user.username,
        )
        return N_("Training recorded.")

    return attempt(request, user, f"/agencies/{agency.code}", act)
