"""Shared pieces of the agencies' API routes: the permission dependencies and the output shapes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup.agencies import staff
from recoup.agencies.models import Agency, AgencyContract, AgencyStatement, Placement
from recoup.agencies.queries import AgencyRow, agency_rows, placement_rows
from recoup.agencies.schemas import (
    AgencyDetailOut,
    AgencyOut,
    BucketRatesIn,
    ContractOut,
    PlacementOut,
    StaffOut,
    StatementLineOut,
    StatementOut,
)
from recoup.agencies.statement_files import statement_pdf, statement_xlsx
from recoup.auth.models import AppUser
from recoup.config import Settings
from recoup.money import to_decimal_string
from recoup.web.deps import DbSession, require

#: The one router of the agencies' API (views.py and placement_views.py add their routes to it).
router = APIRouter(tags=["agencies"])

Manager = Annotated[AppUser, require("agency.manage")]
AgencyUser = Annotated[AppUser, require("case.view")]
AgencyWorker = Annotated[AppUser, require("case.work")]
CodePath = Annotated[str, Path(min_length=1, max_length=64)]
UserPath = Annotated[str, Path(min_length=1, max_length=64)]
Locale = Annotated[str, Query(pattern=r"^(zh_CN|en)$")]


def settings_of(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def today_of(request: Request) -> dt.date:
    return dt.datetime.now(settings_of(request).tz).date()


def money(minor: int) -> str:
    return to_decimal_string(int(minor))


def agency_out(row: AgencyRow) -> AgencyOut:
    a = row.agency
    return AgencyOut(
        id=a.id,
        code=a.code,
        name=a.name,
        team=row.team,
        status=a.status,
        whitelisted_on=a.whitelisted_on,
        review_due=a.review_due,
        pipl_contract=a.pipl_contract,
        pipl_contract_ref=a.pipl_contract_ref,
        problems=[c for c, _m in row.problems],
        active_placements=row.active,
    )


def contract_out(c: AgencyContract) -> ContractOut:
    return ContractOut(
        id=c.id,
        ref=c.ref,
        start=c.start_date,
        end=c.end_date,
        rates=[BucketRatesIn.model_validate(r) for r in c.rates],
        complaint_penalty=money(c.complaint_penalty),
        qa_penalty=money(c.qa_penalty),
    )


def placements_out(items: list[Placement], *, session: DbSession) -> list[PlacementOut]:
    return [
        PlacementOut(
            id=r.placement.id,
            batch_id=r.placement.batch_id,
            case_id=r.placement.case_id,
            agency=r.agency_code,
            status=r.placement.status,
            bucket=r.placement.bucket,
            band=r.placement.band,
            placed_amount=money(r.placement.placed_amount),
            holder=r.holder,
            placed_on=r.placement.placed_on,
            start_date=r.placement.start_date,
            expires_on=r.placement.expires_on,
            ended_on=r.placement.ended_on,
            end_reason=r.placement.end_reason,
            deletion_confirmed_at=r.placement.deletion_confirmed_at,
            deletion_confirmed_by=r.placement.deletion_confirmed_by,
        )
        for r in placement_rows(items, session=session)
    ]


def statement_out(s: AgencyStatement, *, session: DbSession) -> StatementOut:
    agency = session.get(Agency, s.agency_id)
    assert agency is not None
    return StatementOut(
        id=s.id,
        agency=agency.code,
        month=s.month,
        status=s.status,
        lines=[
            StatementLineOut(
                bucket=ln["bucket"],
                placements=int(ln["placements"]),
                placed_amount=money(ln["placed_amount"]),
                collected=money(ln["collected"]),
                recovery_bp=int(ln["recovery_bp"]),
                tier_min_bp=ln.get("tier_min_bp"),
                rate_bp=int(ln["rate_bp"]),
                commission=money(ln["commission"]),
            )
            for ln in s.lines
        ],
        collected=money(s.collected),
        gross=money(s.gross),
        complaint_penalty=money(s.complaint_penalty),
        qa_penalty=money(s.qa_penalty),
        net=money(s.net),
        payable=money(s.payable),
        complaints_source=s.complaints_source,
        sha256=s.sha256,
        issued_by=s.issued_by,
        issued_at=s.issued_at,
        lender_confirmed_by=s.lender_confirmed_by,
        lender_confirmed_at=s.lender_confirmed_at,
        agency_confirmed_by=s.agency_confirmed_by,
        agency_confirmed_at=s.agency_confirmed_at,
    )


def detail(agency: Agency, request: Request, *, session: DbSession) -> AgencyDetailOut:
    today = today_of(request)
    row = next(r for r in agency_rows(today, session=session) if r.agency.id == agency.id)
    contracts = session.scalars(
        select(AgencyContract)
        .where(AgencyContract.agency_id == agency.id)
        .order_by(AgencyContract.start_date)
    ).all()
    return AgencyDetailOut(
        **agency_out(row).model_dump(),
        contracts=[contract_out(c) for c in contracts],
        staff=[StaffOut.model_validate(s) for s in staff.staff_rows(agency.id, today, session=session)],
    )


def statement_file_response(s: AgencyStatement, kind: str, locale: str, *, session: DbSession) -> Response:
    agency = session.get(Agency, s.agency_id)
    assert agency is not None
    contract = session.get(AgencyContract, s.contract_id) if s.contract_id else None
    ref = contract.ref if contract else None
    name = f"statement-{agency.code}-{s.month}"
    if kind == "pdf":
        doc = statement_pdf(s, agency, locale=locale, contract_ref=ref)
        return Response(
            doc.pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    data = statement_xlsx(s, agency, locale=locale, contract_ref=ref)
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )
