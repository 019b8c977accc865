"""Agencies (委外) in the pages: ``/agencies`` for the lender (``agency.manage``: the register and white
list, placement batches and placements with recall, the month's ranking, statements), ``/agencies/{code}``
(an agency's contracts, reviews, PIPL contract, staff register and training), and ``/agency`` for an
agency's own users (their placed cases — worked through the ordinary queue and case pages —, the
recalled ones whose data deletion they confirm, and their statements to confirm and download).

The services are :mod:`recoup.agencies`; every refusal comes back as a flash message on the page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup import labels_domain
from recoup.agencies import ranking, recall, register, staff, statements
from recoup.agencies.kernel import band_ranges
from recoup.agencies.models import Agency, Placement
from recoup.agencies.placement import RECALL_REASONS, do_place_batch
from recoup.agencies.queries import agency_rows, batches, list_placements, placement_rows
from recoup.auth.models import AppUser
from recoup.errors import NotFoundError, RecoupError
from recoup.web.deps import DbId, DbSession, cipher_of
from recoup.web.labels import N_
from recoup.web.pages import redirect, settings_of, tr
from recoup.web.session import require_page
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

Manager = Annotated[AppUser, require_page("agency.manage")]
AgencyReader = Annotated[AppUser, require_page("case.view")]
AgencyWorker = Annotated[AppUser, require_page("case.work")]
_FLASH: Final = "flash"

STATUS_LABELS: Final = labels_domain.AGENCY_STATUS
PROBLEM_LABELS: Final = labels_domain.AGENCY_PROBLEM
REASON_LABELS: Final = labels_domain.RECALL_REASON


def flash(request: Request, message: str, *, error: bool = False) -> None:
    request.session[_FLASH] = [message, error]


def business_day(request: Request) -> dt.date:
    return dt.datetime.now(settings_of(request).tz).date()


def last_month(request: Request) -> str:
    return (business_day(request).replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")


def page_base(request: Request) -> dict[str, Any]:
    flash = request.session.pop(_FLASH, None)
    return {
        "flash": flash[0] if flash else None,
        "flash_error": bool(flash[1]) if flash else False,
        "status_labels": STATUS_LABELS,
        "problem_labels": PROBLEM_LABELS,
        "reason_labels": REASON_LABELS,
        "pct_bp": lambda bp: None if bp is None else bp / 10_000,
        "watermark": True,
    }


def attempt(request: Request, user: AppUser, back: str, action: Callable[[], str]) -> Response:
    """Run ``action`` (it returns the message to flash) and go back to ``back``; a refusal is flashed."""
    try:
        message = action()
    except RecoupError as exc:
        if exc.http_status == 404:
            raise
        flash(request, exc.message, error=True)
        return redirect(request, back)
    flash(request, tr(request, user, message))
    return redirect(request, back)


# --- the lender's pages ---------------------------------------------------------------------------------


@router.get("/agencies")
def agencies_page(
    request: Request,
    user: Manager,
    session: DbSession,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
) -> Response:
    """The register (white list), placements, the month's ranking and the statements."""
    today, m = business_day(request), month or last_month(request)
    live = list_placements(session=session, status=("active", "pending_notice"), limit=300)
    ctx = {
        **page_base(request),
        "today": today,
        "month": m,
        "rows": agency_rows(today, session=session),
        "placements": placement_rows(live, session=session),
        "batches": batches(session=session, limit=8),
        "ranking": ranking.agency_report(m, session=session, tz=settings_of(request).tz),
        "waiting": ranking.awaiting_placement(session=session),
        "statements": statements.list_statements(session=session, month=m),
        "codes": dict(session.execute(select(Agency.id, Agency.code)).all()),
        "bands": band_ranges(),
        "recall_reasons": [
            r for r in RECALL_REASONS if r not in ("expired", "delisted", "closed", "stopped")
        ],
    }
    return render(request, "agencies_list.html", ctx, user=user)


@router.post("/agencies/new")
def new_agency(
    request: Request,
    user: Manager,
    session: DbSession,
    code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    team: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    """Register an agency (a white-list candidate)."""

    def act() -> str:
        register.do_register_agency(
            code.strip(), name, team=team.strip() or None, session=session, actor=user.username
        )
        return N_("Agency registered: a candidate until its yearly review passes.")

    return attempt(request, user, f"/agencies/{code.strip()}" if code.strip() else "/agencies", act)


@router.post("/agencies/place")
def place(
    request: Request,
    user: Manager,
    session: DbSession,
    days: Annotated[int, Form(ge=1, le=366)] = 30,
    seed: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Place a batch today: the cases with open agency_placement tasks, by this month's shares."""

    def act() -> str:
        res = do_place_batch(
            business_day(request),
            session=session,
            actor=user,
            settings=settings_of(request),
            seed=int(seed) if seed.strip().isdigit() else None,
            days=days,
            cipher=cipher_of(request),
        )
        c = res.counts()
        done = tr(request, user, "Batch placed: {n} cases ({a} active, {p} awaiting the borrower's notice).")
        return done.format(n=c["placed"], a=c["active"], p=c["pending_notice"])

    return attempt(request, user, "/agencies", act)


@router.post("/agencies/placements/{placement_id}/recall")
def recall_one(
    placement_id: DbId,
    request: Request,
    user: Manager,
    session: DbSession,
    reason: Annotated[str, Form(max_length=30)] = "manual",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Recall one placement now: the agency's access ends at once."""
    p = session.get(Placement, placement_id)
    if p is None:
        raise NotFoundError(f"no placement {placement_id} / 委外 {placement_id} 不存在")

    def act() -> str:
        recall.do_recall(
            p, reason=reason, note=note, on=business_day(request), session=session, actor=user.username
        )
        return N_("Recalled: the agency no longer sees the case.")

    return attempt(request, user, "/agencies", act)


@router.post("/agencies/day")
def run_day(request: Request, user: Manager, session: DbSession) -> Response:
    """Now what the cycle does each day: activate notified placements, recall expired ones."""

    def act() -> str:
        out = recall.do_agency_day(business_day(request), session=session, actor=user.username)
        n = sum(out.recalled.values())
        text = tr(request, user, "{a} placement(s) activated, {c} cancelled, {r} recalled.")
        return text.format(a=out.activated, c=out.cancelled, r=n)

    return attempt(request, user, "/agencies", act)


@router.post("/agencies/statements")
def issue(
    request: Request,
    user: Manager,
    session: DbSession,
    code: Annotated[str, Form(max_length=64)] = "",
    month: Annotated[str, Form(max_length=7)] = "",
) -> Response:
    """Issue (or reissue, before any confirmation) an agency's statement of a finished month."""

    def act() -> str:
        agency = register.get_agency(code, session=session)
        statements.do_issue_statement(
            agency,
            month,
            session=session,
            actor=user,
            tz=settings_of(request).tz,
            today=business_day(request),
        )
        return N_("Statement issued: both sides now confirm it.")

    return attempt(request, user, f"/agencies?month={month}" if len(month) == 7 else "/agencies", act)


@router.post("/agencies/statements/{statement_id}/confirm")
def confirm_lender(statement_id: DbId, request: Request, user: Manager, session: DbSession) -> Response:
    """The lender's confirmation of a statement."""
    s = statements.get_statement(statement_id, session=session)

    def act() -> str:
        statements.do_confirm_statement(s, user, "lender", session=session)
        return N_("Statement confirmed for the lender.")

    return attempt(request, user, f"/agencies?month={s.month}", act)


@router.get("/agencies/statements/{statement_id}/file")
def lender_file(
    statement_id: DbId,
    user: Manager,
    session: DbSession,
    kind: Annotated[str, Query(pattern=r"^(pdf|xlsx)$")] = "xlsx",
    locale: Annotated[str, Query(pattern=r"^(zh_CN|en)$")] = "zh_CN",
) -> Response:
    """The statement as XLSX or PDF."""
    from recoup.agencies.api_common import statement_file_response

    return statement_file_response(
        statements.get_statement(statement_id, session=session), kind, locale, session=session
    )


# --- an agency's own users --------------------------------------------------------------------------------


def _mine(user: AppUser, *, session: DbSession) -> Agency:
    agency = staff.agency_of_user(user.id, session=session)
    if agency is None:
        raise NotFoundError("you are not on an agency's staff register / 您不在委外机构人员名册中")
    return agency


@router.get("/agency")
def own_page(request: Request, user: AgencyReader, session: DbSession) -> Response:
    """One's agency: the cases placed with it now (worked through the queue), the recalled ones whose
    data deletion it confirms, and its statements."""
    agency = _mine(user, session=session)
    ctx = {
        **page_base(request),
        "a": agency,
        "placed": placement_rows(
            list_placements(session=session, agency_id=agency.id, status="active", limit=2_000),
            session=session,
        ),
        "awaiting": placement_rows(
            list_placements(session=session, agency_id=agency.id, awaiting_deletion=True, limit=2_000),
            session=session,
        ),
        "statements": statements.list_statements(session=session, agency_id=agency.id),
    }
    return render(request, "agencies_own.html", ctx, user=user)


@router.post("/agency/deletion")
def own_deletion(
    request: Request,
    user: AgencyWorker,
    session: DbSession,
    placement_ids: Annotated[list[int], Form()],
    ref: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Confirm that the agency deleted the data of recalled cases."""
    agency = _mine(user, session=session)
    items = [session.get(Placement, i) for i in placement_ids if 1 <= i < 2**31]
    found = [p for p in items if p is not None and p.agency_id == agency.id]

    def act() -> str:
        recall.do_confirm_deletion(found, by=user, ref=ref, session=session)
        return N_("Deletion confirmed.")

    return attempt(request, user, "/agency", act)


@router.post("/agency/statements/{statement_id}/confirm")
def own_confirm(statement_id: DbId, request: Request, user: AgencyWorker, session: DbSession) -> Response:
    """The agency's confirmation of its statement."""
    agency = _mine(user, session=session)
    s = statements.get_statement(statement_id, session=session)
    if s.agency_id != agency.id:
        raise NotFoundError(f"no statement {statement_id} / 结算单不存在")

    def act() -> str:
        statements.do_confirm_statement(s, user, "agency", session=session)
        return N_("Statement confirmed for the agency.")

    return attempt(request, user, "/agency", act)


@router.get("/agency/statements/{statement_id}/file")
def own_file(
    statement_id: DbId,
    user: AgencyReader,
    session: DbSession,
    kind: Annotated[str, Query(pattern=r"^(pdf|xlsx)$")] = "xlsx",
    locale: Annotated[str, Query(pattern=r"^(zh_CN|en)$")] = "zh_CN",
) -> Response:
    """One's agency's statement as XLSX or PDF."""
    from recoup.agencies.api_common import statement_file_response

    agency = _mine(user, session=session)
    s = statements.get_statement(statement_id, session=session)
    if s.agency_id != agency.id:
        raise NotFoundError(f"no statement {statement_id} / 结算单不存在")
    return statement_file_response(s, kind, locale, session=session)
