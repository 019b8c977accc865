"""Plans, waivers and settlements in the pages: the "Resolution" section of the case page (what is owed,
the case's plans and waivers with their instalments, approve / reject / withdraw for those the approval
matrix allows, forms to propose a plan, a waiver or a settlement, the agreements and settlement
certificates), and ``/resolutions``: the requests awaiting one's approval and one's own.

Permissions are those of the API (``case.work`` to ask and decide, the matrix deciding who approves;
``case.view`` to download); a case one may not see is a 404. The services are :mod:`recoup.resolutions`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup import labels_domain, money
from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.access import get_visible_case
from recoup.cases.models import Case
from recoup.config import CURRENCY_MINOR_DIGITS
from recoup.db import utcnow
from recoup.errors import MoneyError, RecoupError
from recoup.portfolio.models import CollectionAccount
from recoup.resolutions.ask import do_request
from recoup.resolutions.certificates import do_issue_certificate
from recoup.resolutions.decide import do_approve, do_reject, do_withdraw
from recoup.resolutions.models import Resolution, ResolutionDocument, ResolutionEvidence, ResolutionInstalment
from recoup.resolutions.present import decidable, may_decide, offer_packs
from recoup.resolutions.service import LIVE, _team_name, budget, do_add_evidence, get_resolution, matrix_for
from recoup.resolutions.terms import case_terms_on
from recoup.resolutions.views import latest_book, pdf_response
from recoup.web.deps import DbId, DbSession, writes
from recoup.web.labels import N_
from recoup.web.pages import Viewer, Worker, settings_of, tr
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

KIND_LABELS: Final = labels_domain.RESOLUTION_KIND
STATUS_LABELS: Final = labels_domain.RESOLUTION_STATUS
PART_LABELS: Final = {
    "penalty": N_("Penalty interest"),
    "fee": N_("Fees"),
    "interest": N_("Interest"),
    "principal": N_("Principal"),
}
ROLE_LABELS: Final = {
    "collector": N_("collector"),
    "team_lead": N_("team lead"),
    "manager": N_("manager"),
    "admin": N_("risk committee (admin)"),
}
BASIS_LABELS: Final = {
    "own_authority": N_("within the requester's authority"),
    "two_step": N_("second approver"),
}


def _owed(
    case: Case, *, session: DbSession, today: dt.date, accounts: list[CollectionAccount] | None
) -> dict[str, Any] | None:
    try:
        both = case_terms_on(("overdue", "whole"), case.id, session=session, as_of=today, accounts=accounts)
        overdue, whole = both["overdue"], both["whole"]
    except RecoupError:
        return None
    return {
        "overdue": overdue,
        "whole": whole,
        "whole_text": money.to_decimal_string(whole.total, CURRENCY_MINOR_DIGITS.get(whole.currency, 2)),
        "parts": list(PART_LABELS),
    }


def resolution_block(
    request: Request,
    user: AppUser,
    case: Case,
    *,
    session: DbSession,
    accounts: list[CollectionAccount] | None = None,
) -> dict[str, Any]:
    """The context of ``resolutions_block.html`` (the case page includes it as ``resolution``; it passes
    the case's ``accounts``, already read, in id order)."""
    s = settings_of(request)
    today = utcnow().astimezone(s.tz).date()
    matrix = matrix_for(session, s)
    rows = session.scalars(
        select(Resolution).where(Resolution.case_id == case.id).order_by(Resolution.id.desc())
    ).all()
    ids = [r.id for r in rows]
    instalments: dict[int, list[ResolutionInstalment]] = {i: [] for i in ids}
    evidence: dict[int, int] = {i: 0 for i in ids}
    if ids:  # most cases have none: spare the page two queries
        for inst in session.scalars(
            select(ResolutionInstalment)
            .where(ResolutionInstalment.resolution_id.in_(ids))
            .order_by(ResolutionInstalment.seq)
        ):
            instalments[inst.resolution_id].append(inst)
        for e in session.scalars(select(ResolutionEvidence).where(ResolutionEvidence.resolution_id.in_(ids))):
            evidence[e.resolution_id] += 1
    documents = list(
        session.scalars(
            select(ResolutionDocument)
            .where(ResolutionDocument.case_id == case.id)
            .order_by(ResolutionDocument.id)
        )
    )
    agreements = {d.resolution_id: d for d in documents if d.kind == "agreement"}
    can_work = has_permission(user, "case.work")
    items = [
        {
            "r": r,
            "instalments": instalments[r.id],
            "evidence": evidence[r.id],
            "agreement": agreements.get(r.id),
            "can_approve": can_work and may_decide(r, user, matrix, session=session),
            "can_withdraw": can_work and r.status == "pending" and r.requested_by == user.username,
        }
        for r in rows
    ]
    live = any(r.status in LIVE for r in rows)
    owed = _owed(case, session=session, today=today, accounts=accounts)
    packs = (
        offer_packs(
            matrix,
            kind=None,
            bucket=owed["overdue"].bucket,
            product=owed["overdue"].product,
            product_type=owed["overdue"].product_type,
        )
        if owed
        else []
    )
    team = _team_name(user.id, session) or _team_name(case.holder_id, session)
    if accounts is None:
        accounts = list(
            session.scalars(
                select(CollectionAccount)
                .where(CollectionAccount.case_id == case.id)
                .order_by(CollectionAccount.id)
            )
        )
    loans = [a.external_id for a in accounts]
    ended = case.close_reason in ("paid", "settled") or any(
        r.kind == "settlement" and r.status == "honoured" for r in rows
    )
    return {
        "case_id": case.id,
        "rows": items,
        "can_ask": can_work and case.status == "open" and not live and owed is not None,
        "live": live,
        "owed": owed,
        "packs": [{"id": p.id, "kind": p.kind, "title": p.title} for p in packs],
        "budget": budget(team, on=today, matrix=matrix, session=session, settings=s),
        "matrix": matrix.label,
        "today": today.isoformat(),
        "first_due": (today + dt.timedelta(days=7)).isoformat(),
        "last_first_due": (today + dt.timedelta(days=matrix.plan_first_due_days)).isoformat(),
        "last_deadline": (today + dt.timedelta(days=matrix.waiver_deadline_days)).isoformat(),
        "max_instalments": matrix.plan_max_instalments,
        "documents": documents,
        "loans": loans,
        "can_certify": can_work and ended and bool(loans),
        "kind_labels": KIND_LABELS,
        "status_labels": STATUS_LABELS,
        "part_labels": PART_LABELS,
        "role_labels": ROLE_LABELS,
        "basis_labels": BASIS_LABELS,
    }


def _case_page(
    request: Request,
    user: AppUser,
    case: Case,
    session: DbSession,
    flash: str,
    *,
    error: bool = False,
    kind: str | None = None,
) -> Response:
    """The case page again with a flash message, or a form error shown in the resolution section (with the
    form of ``kind`` open)."""
    from recoup.web.case_view import in_language, render_case
    from recoup.web.templating import request_locale

    shown = in_language(flash, request_locale(request, user)) if error else flash
    return render_case(
        request,
        user,
        case,
        session,
        flash=shown,
        error=error,
        form="resolution" if error else None,
        extra={"resolution_kind": kind},
    )


def _amount(text: str, request: Request) -> int | None:
    text = text.strip()
    return money.parse_amount(text, minor_digits=settings_of(request).minor_digits) if text else None


@router.post("/cases/{case_id}/resolutions")
def propose(
    case_id: DbId,
    request: Request,
    user: Worker,
    session: DbSession,
    kind: Annotated[str, Form(max_length=20)],
    base: Annotated[str, Form(max_length=10)] = "",
    pay: Annotated[str, Form(max_length=30)] = "",
    waive: Annotated[str, Form(max_length=30)] = "",
    instalments: Annotated[int, Form(ge=1, le=480)] = 1,
    first_due: Annotated[dt.date | None, Form()] = None,
    deadline: Annotated[dt.date | None, Form()] = None,
    pack: Annotated[str, Form(max_length=60)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    locale: Annotated[str, Form(max_length=10)] = "",
    evidence_ref: Annotated[str, Form(max_length=300)] = "",
    evidence_note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Propose a plan, waiver or settlement from the case page."""
    s = settings_of(request)
    case = get_visible_case(case_id, user, session=session)
    try:
        res = do_request(
            case,
            user,
            kind=kind,
            base=base or None,
            pay=_amount(pay, request),
            waive=_amount(waive, request),
            instalments=instalments,
            first_due=first_due,
            deadline=deadline,
            pack_id=pack or None,
            reason=reason,
            locale=locale or None,
            evidence=[(evidence_ref, evidence_note)] if evidence_ref.strip() else None,
            session=session,
            settings=s,
        )
    except (RecoupError, MoneyError) as exc:
        return _case_page(request, user, case, session, exc.message, error=True, kind=kind)
    if res.status == "active":
        done = tr(request, user, "Approved and in force; the agreement is ready to print.")
    else:
        done = tr(request, user, "Sent for approval by: {role}.").format(
            role=tr(request, user, ROLE_LABELS.get(res.required_role, res.required_role))
        )
    return _case_page(request, user, case, session, done)


def _decide(
    action: str, resolution_id: int, request: Request, user: AppUser, session: DbSession, note: str
) -> Response:
    s = settings_of(request)
    found = get_resolution(resolution_id, session=session)
    case = get_visible_case(found.case_id, user, session=session)
    fn = {"approve": do_approve, "reject": do_reject, "withdraw": do_withdraw}[action]
    try:
        fn(found.id, user, note=note, session=session, settings=s)
    except RecoupError as exc:
        return _case_page(request, user, case, session, exc.message, error=True)
    messages = {
        "approve": N_("Approved; the agreement is ready to print."),
        "reject": N_("Request rejected."),
        "withdraw": N_("Request withdrawn."),
    }
    return _case_page(request, user, case, session, tr(request, user, messages[action]))


@router.post("/resolutions/{resolution_id}/approve")
def approve(
    resolution_id: DbId,
    request: Request,
    user: Worker,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _decide("approve", resolution_id, request, user, session, note)


@router.post("/resolutions/{resolution_id}/reject")
def reject(
    resolution_id: DbId,
    request: Request,
    user: Worker,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _decide("reject", resolution_id, request, user, session, note)


@router.post("/resolutions/{resolution_id}/withdraw")
def withdraw(
    resolution_id: DbId,
    request: Request,
    user: Worker,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _decide("withdraw", resolution_id, request, user, session, note)


@router.post("/resolutions/{resolution_id}/evidence")
def evidence(
    resolution_id: DbId,
    request: Request,
    user: Worker,
    session: DbSession,
    reference: Annotated[str, Form(max_length=300)],
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    found = get_resolution(resolution_id, session=session)
    case = get_visible_case(found.case_id, user, session=session)
    try:
        do_add_evidence(found.id, user, reference, note, session=session, settings=settings_of(request))
    except RecoupError as exc:
        return _case_page(request, user, case, session, exc.message, error=True)
    return _case_page(request, user, case, session, tr(request, user, "Hardship evidence attached."))


@router.post("/cases/{case_id}/certificates")
def certificate(
    case_id: DbId,
    request: Request,
    user: Worker,
    session: DbSession,
    loan: Annotated[str, Form(max_length=64)],
    locale: Annotated[str, Form(max_length=10)] = "zh_CN",
) -> Response:
    """Issue the settlement certificate (结清证明) of one of the case's loans."""
    s = settings_of(request)
    case = get_visible_case(case_id, user, session=session)
    account = session.scalars(
        select(CollectionAccount).where(
            CollectionAccount.case_id == case.id, CollectionAccount.external_id == loan
        )
    ).first()
    try:
        if account is None:
            raise RecoupError(f"no loan {loan} on this case / 该案件没有此借款")
        doc = do_issue_certificate(
            account.id,
            session=session,
            settings=s,
            actor=user.username,
            locale=locale if locale in ("zh_CN", "en") else "zh_CN",
            book=latest_book(session, s),
        )
    except RecoupError as exc:
        return _case_page(request, user, case, session, exc.message, error=True)
    return _case_page(
        request,
        user,
        case,
        session,
        tr(request, user, "Settlement certificate issued: {number}").format(number=doc.number),
    )


@router.get("/documents/{document_id}.pdf")
@writes
def document(document_id: DbId, request: Request, user: Viewer, session: DbSession) -> Response:
    """An agreement or certificate, checked against its ledger hash (a refusal page if it was altered)."""
    doc = session.get(ResolutionDocument, document_id)
    if doc is None:
        from recoup.errors import NotFoundError

        raise NotFoundError(f"no document {document_id} / 文档不存在")
    get_visible_case(doc.case_id, user, session=session)
    return pdf_response(doc, user, session=session, settings=settings_of(request))


@router.get("/resolutions")
def inbox(request: Request, user: Worker, session: DbSession) -> Response:
    """The requests awaiting one's approval, and one's own recent requests."""
    s = settings_of(request)
    mine = session.scalars(
        select(Resolution)
        .where(Resolution.requested_by == user.username)
        .order_by(Resolution.id.desc())
        .limit(30)
    ).all()
    return render(
        request,
        "resolutions_inbox.html",
        {
            "awaiting": decidable(user, session=session, settings=s),
            "mine": mine,
            "kind_labels": KIND_LABELS,
            "status_labels": STATUS_LABELS,
            "role_labels": ROLE_LABELS,
        },
        user=user,
    )
