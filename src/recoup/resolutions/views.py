"""``/api/v1/cases/{id}/resolutions``, ``/api/v1/resolutions/…`` and the documents: asking for plans,
waivers and settlements, approving them as the approval matrix allows, the agreements and settlement
certificates (docs/resolutions.md). A case one may not see is a 404; a decision above one's role a 403
``resolution.not_authorised`` that names the role the matrix requires."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from recoup import money
from recoup.auth.models import AppUser
from recoup.cases.access import get_visible_case
from recoup.cases.views import Viewer, VisibleCase, Worker
from recoup.config import Settings
from recoup.db import utcnow
from recoup.errors import NotFoundError, RecoupError
from recoup.lake import Book, book_as_of, get_lake
from recoup.ledger.service import do_append
from recoup.portfolio.models import CollectionAccount
from recoup.resolutions.ask import do_request
from recoup.resolutions.certificates import do_issue_certificate
from recoup.resolutions.decide import do_approve, do_reject, do_withdraw
from recoup.resolutions.documents import read_document, verify_document
from recoup.resolutions.models import Resolution, ResolutionDocument
from recoup.resolutions.present import decidable, document_out, offer_packs, pack_out, resolution_out
from recoup.resolutions.schemas import (
    BudgetOut,
    CertificateIn,
    DecisionIn,
    DocumentOut,
    EvidenceIn,
    EvidenceOut,
    PackOut,
    ResolutionIn,
    ResolutionOut,
)
from recoup.resolutions.service import (
    _team_name,
    budget,
    do_add_evidence,
    get_resolution,
    matrix_for,
)
from recoup.resolutions.terms import case_terms
from recoup.web.deps import DbId, DbSession, writes

router = APIRouter(tags=["resolutions"])


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _visible_resolution(resolution_id: DbId, user: Viewer, session: DbSession) -> Resolution:
    """The path's resolution if the caller sees its case; 404 before the body is read."""
    res = get_resolution(resolution_id, session=session)
    get_visible_case(res.case_id, user, session=session)
    return res


VisibleResolution = Annotated[Resolution, Depends(_visible_resolution)]


def _amount(text: str | None, settings: Settings) -> int | None:
    return (
        None
        if text is None or not text.strip()
        else money.parse_amount(text, minor_digits=settings.minor_digits)
    )


def latest_book(session: DbSession, settings: Settings) -> Book | None:
    """The newest book (to see whether a loan is paid off), or None before any extract."""
    try:
        return book_as_of(utcnow().astimezone(settings.tz).date(), session=session, lake=get_lake(settings))
    except NotFoundError:
        return None


def pdf_response(
    doc: ResolutionDocument, user: AppUser, *, session: DbSession, settings: Settings
) -> Response:
    """The stored PDF, checked against its ledger hash first (409 ``document.altered`` if it was changed);
    the download is written to the ledger (the document names the borrower)."""
    verify_document(doc, session=session, settings=settings)
    data = read_document(doc, settings)
    do_append(
        "document.downloaded",
        {"document_id": doc.id, "number": doc.number, "kind": doc.kind, "case_id": doc.case_id},
        session=session,
        actor=user.username,
        settings=settings,
    )
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{doc.number}.pdf"'},
    )


_PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}, "description": "the PDF"}}


@router.get("/cases/{case_id}/resolutions", response_model=list[ResolutionOut])
def case_resolutions(
    request: Request, user: Viewer, case: VisibleCase, session: DbSession
) -> list[ResolutionOut]:
    """A case's plans, waivers and settlements, newest first."""
    rows = session.scalars(
        select(Resolution).where(Resolution.case_id == case.id).order_by(Resolution.id.desc())
    ).all()
    return [resolution_out(r, session=session, settings=_settings(request)) for r in rows]


@router.post("/cases/{case_id}/resolutions", response_model=ResolutionOut, status_code=201)
def request_resolution(
    request: Request, user: Worker, case: VisibleCase, body: ResolutionIn, session: DbSession
) -> ResolutionOut:
    """Ask for a plan, waiver or settlement. Approved at once (``status: active``) within the requester's
    own authority or a pre-approved pack (never for an agency); else ``pending`` for the role the matrix
    names. 422 ``resolution.refused`` names the broken rule; ``resolution.budget_exceeded`` says what is
    left of the team's monthly waiver budget."""
    s = _settings(request)
    res = do_request(
        case,
        user,
        kind=body.kind,
        base=body.base,
        pay=_amount(body.pay, s),
        waive=_amount(body.waive, s),
        instalments=body.instalments,
        first_due=body.first_due,
        deadline=body.deadline,
        pack_id=body.pack,
        reason=body.reason,
        locale=body.locale,
        evidence=[(e.reference, e.note) for e in body.evidence],
        session=session,
        settings=s,
    )
    return resolution_out(res, session=session, settings=s)


@router.get("/cases/{case_id}/offers", response_model=list[PackOut])
def case_offers(request: Request, user: Viewer, case: VisibleCase, session: DbSession) -> list[PackOut]:
    """The pre-approved offer packs that fit the case's bucket and product now."""
    s = _settings(request)
    try:
        terms = case_terms(case.id, base="overdue", session=session, as_of=utcnow().astimezone(s.tz).date())
    except RecoupError:
        return []
    packs = offer_packs(
        matrix_for(session, s),
        kind=None,
        bucket=terms.bucket,
        product=terms.product,
        product_type=terms.product_type,
    )
    return [pack_out(p, locale=user.locale, settings=s) for p in packs]


@router.post("/cases/{case_id}/certificates", response_model=DocumentOut, status_code=201)
def issue_certificate(
    request: Request, user: Worker, case: VisibleCase, body: CertificateIn, session: DbSession
) -> DocumentOut:
    """The settlement certificate (结清证明) of one of the case's loans once it is paid off or settled
    (422 ``certificate.refused`` before); asked again, the same certificate."""
    s = _settings(request)
    account = session.scalars(
        select(CollectionAccount).where(
            CollectionAccount.case_id == case.id, CollectionAccount.external_id == body.loan_id
        )
    ).first()
    if account is None:
        raise NotFoundError(
            f"no loan {body.loan_id} on case {case.id} / 该案件没有此借款", details={"loan": body.loan_id}
        )
    doc = do_issue_certificate(
        account.id,
        session=session,
        settings=s,
        actor=user.username,
        locale=body.locale,
        book=latest_book(session, s),
    )
    return document_out(doc)


@router.get("/cases/{case_id}/documents", response_model=list[DocumentOut])
def case_documents(user: Viewer, case: VisibleCase, session: DbSession) -> list[DocumentOut]:
    """The agreements and certificates made for a case, newest first."""
    rows = session.scalars(
        select(ResolutionDocument)
        .where(ResolutionDocument.case_id == case.id)
        .order_by(ResolutionDocument.id.desc())
    ).all()
    return [document_out(d) for d in rows]


@router.get("/resolutions/pending", response_model=list[ResolutionOut])
def pending_resolutions(request: Request, user: Worker, session: DbSession) -> list[ResolutionOut]:
    """The requests awaiting approval that one may approve (on cases one sees, not one's own), oldest
    first."""
    s = _settings(request)
    return [
        resolution_out(r, session=session, settings=s) for r in decidable(user, session=session, settings=s)
    ]


@router.get("/resolutions/budget", response_model=BudgetOut)
def waiver_budget(request: Request, user: Worker, session: DbSession) -> BudgetOut:
    """One's team's waiver budget for this month: the limit, what approved waivers used, what is left."""
    s = _settings(request)
    b = budget(
        _team_name(user.id, session),
        on=utcnow().astimezone(s.tz).date(),
        matrix=matrix_for(session, s),
        session=session,
        settings=s,
    )
    d = s.minor_digits
    return BudgetOut(
        team=b.team,
        month=b.month,
        limit=money.to_decimal_string(b.limit, d),
        used=money.to_decimal_string(b.used, d),
        left=money.to_decimal_string(b.left, d),
    )


@router.get("/resolutions/{resolution_id}", response_model=ResolutionOut)
def show_resolution(
    request: Request, user: Viewer, found: VisibleResolution, session: DbSession
) -> ResolutionOut:
    """One plan, waiver or settlement with its instalments, evidence and agreement."""
    return resolution_out(found, session=session, settings=_settings(request))


@router.post("/resolutions/{resolution_id}/approve", response_model=ResolutionOut)
def approve_resolution(
    request: Request,
    user: Worker,
    found: VisibleResolution,
    session: DbSession,
    body: DecisionIn | None = None,
) -> ResolutionOut:
    """Approve a pending request (the second step): one's role must be at least the one the matrix names
    (403 ``resolution.not_authorised`` otherwise, saying who may), never one's own request, never an
    agency."""
    s = _settings(request)
    res = do_approve(found.id, user, note=body.note if body else "", session=session, settings=s)
    return resolution_out(res, session=session, settings=s)


@router.post("/resolutions/{resolution_id}/reject", response_model=ResolutionOut)
def reject_resolution(
    request: Request,
    user: Worker,
    found: VisibleResolution,
    session: DbSession,
    body: DecisionIn | None = None,
) -> ResolutionOut:
    """Reject a pending request (by someone who could approve it)."""
    s = _settings(request)
    res = do_reject(found.id, user, note=body.note if body else "", session=session, settings=s)
    return resolution_out(res, session=session, settings=s)


@router.post("/resolutions/{resolution_id}/withdraw", response_model=ResolutionOut)
def withdraw_resolution(
    request: Request,
    user: Worker,
    found: VisibleResolution,
    session: DbSession,
    body: DecisionIn | None = None,
) -> ResolutionOut:
    """Withdraw a pending request (its requester, or someone who could approve it)."""
    s = _settings(request)
    res = do_withdraw(found.id, user, note=body.note if body else "", session=session, settings=s)
    return resolution_out(res, session=session, settings=s)


@router.post("/resolutions/{resolution_id}/evidence", response_model=EvidenceOut, status_code=201)
def add_evidence(
    request: Request, user: Worker, found: VisibleResolution, body: EvidenceIn, session: DbSession
) -> EvidenceOut:
    """Attach hardship evidence: a reference to a document kept elsewhere, and a note."""
    e = do_add_evidence(
        found.id, user, body.reference, body.note, session=session, settings=_settings(request)
    )
    return EvidenceOut(id=e.id, reference=e.reference, note=e.note, added_by=e.added_by, added_at=e.added_at)


@router.get("/resolutions/{resolution_id}/agreement", response_class=Response, responses=_PDF)
@writes
def agreement_pdf(request: Request, user: Viewer, found: VisibleResolution, session: DbSession) -> Response:
    """The signed agreement's PDF, checked against its hash in the audit ledger first."""
    doc = session.scalars(
        select(ResolutionDocument)
        .where(ResolutionDocument.resolution_id == found.id, ResolutionDocument.kind == "agreement")
        .order_by(ResolutionDocument.id.desc())
    ).first()
    if doc is None:
        raise NotFoundError(
            f"resolution {found.id} has no agreement yet / 该方案尚无协议",
            details={"resolution_id": found.id},
        )
    return pdf_response(doc, user, session=session, settings=_settings(request))


@router.get("/documents/{document_id}/pdf", response_class=Response, responses=_PDF)
@writes
def document_pdf(request: Request, document_id: DbId, user: Viewer, session: DbSession) -> Response:
    """An agreement or settlement certificate as PDF (checked against the ledger first)."""
    doc = session.get(ResolutionDocument, document_id)
    if doc is None:
        raise NotFoundError(f"no document {document_id} / 文档不存在", details={"document_id": document_id})
    get_visible_case(doc.case_id, user, session=session)
    return pdf_response(doc, user, session=session, settings=_settings(request))
