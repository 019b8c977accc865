"""The legal pages: ``/legal`` (open matters by stage with their deadlines, and opening a matter from a
case), ``/legal/matters/{id}`` (a matter: stage moves, court and case number, costs, documents,
deadlines) and ``/legal/limitation`` (the limitation watch list). Write-offs, debt sales and their
approvals are :mod:`recoup.web.legal_sale_pages` (mounted on this router).

Permission: ``legal.manage`` (the API's, one table); approving write-offs and sales is ``plan.approve``.
The rules are the services' (:mod:`recoup.legal`); a refusal comes back as a flash message.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup import labels_domain
from recoup.auth.models import AppUser
from recoup.cases.access import get_visible_case
from recoup.errors import NotFoundError, RecoupError
from recoup.legal import limitation, matters, stages
from recoup.legal.common import refuse
from recoup.legal.models import LegalDeadline, LegalMatter, LimitationStatus
from recoup.pii import mask_name
from recoup.web.deps import DbId, DbSession
from recoup.web.labels import N_
from recoup.web.legal_common import borrower_names, flash, minor, take_flash, today_of
from recoup.web.pages import redirect, settings_of, tr
from recoup.web.session import require_page
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

Lawyer = Annotated[AppUser, require_page("legal.manage")]

STAGE_LABELS: Final = labels_domain.LEGAL_STAGE
RESULT_LABELS: Final = labels_domain.LEGAL_RESULT
COST_LABELS: Final = labels_domain.LEGAL_COST
DOCUMENT_LABELS: Final = {
    "lawyer_letter": N_("lawyer's letter"),
    "complaint": N_("statement of claim"),
    "evidence": N_("evidence"),
    "service_proof": N_("proof of service"),
    "mediation_agreement": N_("mediation agreement"),
    "payment_order": N_("payment order"),
    "ruling": N_("ruling"),
    "judgment": N_("judgment"),
    "enforcement": N_("enforcement document"),
    "other": N_("other"),
}
DEADLINE_LABELS: Final = labels_domain.LEGAL_DEADLINE
#: The basis of the deadlines the stage table sets (its ``basis`` text, in the reader's language).
BASIS_LABELS: Final = {
    "review": N_("internal: decide the route within 30 days"),
    "mediation_ends": N_("pre-suit mediation usually lasts 30 days"),
    "objection_window": N_("Civil Procedure Law §227: 15 days after service (counted from the move)"),
    "appeal_window": N_("Civil Procedure Law §171: 15 days after service (counted from the move)"),
    "enforcement_application": N_("Civil Procedure Law §250: apply for enforcement within 2 years"),
}
EVENT_LABELS: Final = {
    "start": N_("last instalment due"),
    "payment": N_("payment"),
    "acknowledgement": N_("acknowledgement"),
    "demand": N_("demand"),
    "legal_action": N_("legal action"),
}
WATCH_CHOICES: Final = (30, 90, 180, 365)


def labels() -> dict[str, Any]:
    return {
        "stage_labels": STAGE_LABELS,
        "result_labels": RESULT_LABELS,
        "cost_labels": COST_LABELS,
        "document_labels": DOCUMENT_LABELS,
        "deadline_labels": DEADLINE_LABELS,
        "event_labels": EVENT_LABELS,
        "basis_labels": BASIS_LABELS,
    }


def _visible(rows: list[LegalMatter], user: AppUser, session: DbSession) -> list[LegalMatter]:
    out = []
    for m in rows:
        try:
            get_visible_case(m.case_id, user, session=session)
        except NotFoundError:
            continue
        out.append(m)
    return out


@router.get("/legal")
def overview(
    request: Request,
    user: Lawyer,
    session: DbSession,
    stage: Annotated[str | None, Query(max_length=30)] = None,
) -> Response:
    """Open matters by stage (counts, then the matters of the chosen stage or all), the deadlines of the
    next 30 days and past ones, and the form to open a matter from a case."""
    today = today_of(request)
    open_rows = _visible(matters.list_matters(session=session, status="open"), user, session)
    counts = Counter(m.stage for m in open_rows)
    chosen = stage if stage in STAGE_LABELS else None
    shown = [m for m in open_rows if chosen is None or m.stage == chosen]
    ids = [m.id for m in open_rows]
    deadlines = matters.open_deadlines(session=session, matter_ids=ids, until=today + dt.timedelta(days=30))
    next_of: dict[int, Any] = {}
    for d in matters.open_deadlines(session=session, matter_ids=ids):
        next_of.setdefault(d.matter_id, d)
    names = borrower_names({m.case_id for m in open_rows}, session=session)
    case_of = {m.id: m.case_id for m in open_rows}
    message, error = take_flash(request)
    ctx = {
        **labels(),
        "stages": [s.value for s in stages.Stage if s is not stages.Stage.RESULT],
        "counts": counts,
        "total": len(open_rows),
        "stage": chosen,
        "rows": shown,
        "next_of": next_of,
        "names": names,
        "case_of": case_of,
        "deadlines": deadlines,
        "today": today,
        "closed_recent": _visible(matters.list_matters(session=session, status="closed"), user, session)[:10],
        "flash": message,
        "flash_error": error,
        "section": "matters",
        "watermark": True,
    }
    return render(request, "legal_overview.html", ctx, user=user)


@router.post("/legal/matters")
def open_matter(
    request: Request,
    user: Lawyer,
    session: DbSession,
    case_id: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    court: Annotated[str, Form(max_length=200)] = "",
    claim: Annotated[str, Form(max_length=40)] = "",
    time_barred_ok: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Open a matter on a case (its number typed in the form); back to the matter, or to /legal saying
    what stopped it."""
    try:
        if not case_id.strip().isdigit():
            raise NotFoundError(tr(request, user, "Give the case number."))
        case = get_visible_case(int(case_id.strip()), user, session=session)
        with session.begin_nested():
            matter, done = matters.do_open_matter(
                case,
                session=session,
                actor=user,
                reason=reason,
                court=court.strip() or None,
                claim_amount=minor(request, claim, "claim"),
                acknowledge_time_barred=bool(time_barred_ok),
                settings=settings_of(request),
            )
    except RecoupError as exc:
        flash(request, exc.message, error=True)
        return redirect(request, "/legal")
    note = tr(request, user, "Legal matter opened; the case is now in legal.")
    if done:
        note += " " + tr(request, user, "The legal review task was completed.")
    flash(request, f"#{matter.id} · {note}")
    return redirect(request, f"/legal/matters/{matter.id}")


@router.get("/legal/matters/{matter_id}")
def matter_page(matter_id: DbId, request: Request, user: Lawyer, session: DbSession) -> Response:
    """A matter: its debts, stage moves, court and case number, costs, documents and deadlines."""
    matter = matters.get_matter(matter_id, user, session=session)
    d = matters.matter_detail(matter, session=session)
    message, error = take_flash(request)
    ctx = {
        **labels(),
        "m": matter,
        "d": d,
        "borrower": borrower_names({matter.case_id}, session=session).get(matter.case_id, ""),
        "limits": {x.loan_id: x for x in limitation.case_limitations(matter.case_id, session=session)},
        "today": today_of(request),
        "results": [r.value for r in stages.Result],
        "cost_kinds": [k.value for k in stages.CostKind],
        "document_kinds": [k.value for k in stages.DocumentKind],
        "deadline_kinds": [k.value for k in stages.DeadlineKind],
        "flash": message,
        "flash_error": error,
        "section": "matters",
        "watermark": True,
    }
    return render(request, "legal_matter.html", ctx, user=user)


def _change(request: Request, session: DbSession, matter_id: int, run: Any, done: str) -> Response:
    try:
        with session.begin_nested():
            run()
    except RecoupError as exc:
        if exc.http_status == 404:
            raise
        flash(request, exc.message, error=True)
    else:
        flash(request, done)
    return redirect(request, f"/legal/matters/{matter_id}")


@router.post("/legal/matters/{matter_id}/stage")
def move_stage(
    matter_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    to_stage: Annotated[str, Form(max_length=30)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    result: Annotated[str, Form(max_length=30)] = "",
    recovered: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    matters.get_matter(matter_id, user, session=session)

    def run() -> None:
        matters.do_move_stage(
            matter_id,
            to_stage,
            session=session,
            actor=user,
            reason=reason,
            result=result or None,
            recovered_amount=minor(request, recovered, "recovered"),
            settings=settings_of(request),
        )

    label = tr(request, user, STAGE_LABELS.get(to_stage, to_stage))
    return _change(
        request, session, matter_id, run, tr(request, user, "Moved to {stage}.").format(stage=label)
    )


@router.post("/legal/matters/{matter_id}/details")
def update_details(
    matter_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    court: Annotated[str, Form(max_length=200)] = "",
    court_case_number: Annotated[str, Form(max_length=100)] = "",
    claim: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    matters.get_matter(matter_id, user, session=session)

    def run() -> None:
        matters.do_update_matter(
            matter_id,
            session=session,
            actor=user,
            court=court.strip() or None,
            court_case_number=court_case_number.strip() or None,
            claim_amount=minor(request, claim, "claim"),
            settings=settings_of(request),
        )

    return _change(request, session, matter_id, run, tr(request, user, "Saved."))


@router.post("/legal/matters/{matter_id}/costs")
def add_cost(
    matter_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    kind: Annotated[str, Form(max_length=30)] = "other",
    amount: Annotated[str, Form(max_length=40)] = "",
    incurred_on: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    matters.get_matter(matter_id, user, session=session)

    def run() -> None:
        value = minor(request, amount, "amount")
        if value is None:
            raise refuse("amount", "give the amount", "请填写金额")
        matters.do_add_cost(
            matter_id,
            session=session,
            actor=user,
            kind=kind,
            amount=value,
            incurred_on=_day(incurred_on, today_of(request)),
            note=note,
            settings=settings_of(request),
        )

    return _change(request, session, matter_id, run, tr(request, user, "Cost recorded."))


def _day(text: str, default: dt.date) -> dt.date:
    if not text.strip():
        return default
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise refuse("date", f"{text!r} is not a date (YYYY-MM-DD)", "日期格式应为 YYYY-MM-DD") from None


@router.post("/legal/matters/{matter_id}/documents")
def add_document(
    matter_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    kind: Annotated[str, Form(max_length=30)] = "other",
    title: Annotated[str, Form(max_length=200)] = "",
    reference: Annotated[str, Form(max_length=300)] = "",
    sha256: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    matters.get_matter(matter_id, user, session=session)

    def run() -> None:
        matters.do_add_document(
            matter_id,
            session=session,
            actor=user,
            kind=kind,
            title=title,
            reference=reference,
            sha256=sha256 or None,
            settings=settings_of(request),
        )

    return _change(request, session, matter_id, run, tr(request, user, "Document recorded."))


@router.post("/legal/matters/{matter_id}/deadlines")
def add_deadline(
    matter_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    kind: Annotated[str, Form(max_length=30)] = "other",
    due_on: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    matters.get_matter(matter_id, user, session=session)

    def run() -> None:
        if not due_on.strip():
            raise refuse("due_on", "give the date", "请填写日期")
        matters.do_add_deadline(
            matter_id,
            session=session,
            actor=user,
            kind=kind,
            due_on=_day(due_on, today_of(request)),
            note=note,
            settings=settings_of(request),
        )

    return _change(request, session, matter_id, run, tr(request, user, "Deadline added."))


@router.post("/legal/deadlines/{deadline_id}/close")
def close_deadline(
    deadline_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    status: Annotated[str, Form(max_length=10)] = "done",
) -> Response:
    row = session.get(LegalDeadline, deadline_id)
    if row is None:
        raise NotFoundError(f"no deadline {deadline_id}")
    matter_id = row.matter_id

    def run() -> None:
        matters.do_close_deadline(
            deadline_id, user, session=session, status=status, settings=settings_of(request)
        )

    return _change(request, session, matter_id, run, tr(request, user, "Deadline closed."))


# ---------------------------------------------------------------------------------------------- limitation


@router.get("/legal/limitation")
def limitation_page(
    request: Request,
    user: Lawyer,
    session: DbSession,
    days: Annotated[int, Query(ge=0, le=3660)] = limitation.WATCH_DAYS,
) -> Response:
    """Debts approaching their limitation date within the chosen days, and those already time-barred."""
    today = today_of(request)
    rows = limitation.watch_list(session=session, as_of=today, within_days=days)
    last = session.scalar(
        select(LimitationStatus.computed_at).order_by(LimitationStatus.computed_at.desc()).limit(1)
    )
    message, error = take_flash(request)
    ctx = {
        **labels(),
        "rows": rows,
        "names": {r.loan_id: mask_name(r.borrower_name) for r in rows},
        "days": days,
        "choices": WATCH_CHOICES,
        "today": today,
        "barred": sum(r.time_barred for r in rows),
        "last": last,
        "flash": message,
        "flash_error": error,
        "section": "limitation",
        "watermark": True,
    }
    return render(request, "legal_limitation.html", ctx, user=user)


@router.post("/legal/limitation/refresh")
def refresh_limitation(request: Request, user: Lawyer, session: DbSession) -> Response:
    """Compute every open debt's limitation date now (the daily cycle does it every day)."""
    s = settings_of(request)
    today = today_of(request)
    r = limitation.do_refresh_limitations(
        today,
        session=session,
        lake_payments=limitation.lake_payments(session=session, settings=s, as_of=today),
        settings=s,
        actor=user.username,
    )
    flash(
        request,
        tr(request, user, "{n} debts computed: {b} time-barred, {a} within 90 days.").format(
            n=r.debts, b=r.barred, a=r.approaching
        ),
    )
    return redirect(request, "/legal/limitation")


from recoup.web import legal_sale_pages as _sale_pages  # noqa: E402  (the sale pages join this router)

router.include_router(_sale_pages.router)
