"""``/api/v1/cases/{id}/reveal`` and ``/api/v1/exports``: revealing a case's personal data with a reason,
and exports that another user approves (docs/privacy.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from recoup.auth.models import AppUser
from recoup.cases.access import get_visible_case
from recoup.config import Settings
from recoup.privacy import exports
from recoup.privacy.models import ExportRequest
from recoup.privacy.reveal import ContactValue, do_reveal
from recoup.privacy.schemas import ContactValueOut, DecisionIn, ExportIn, ExportOut, RevealIn, RevealOut
from recoup.web.deps import DbId, DbSession, require

router = APIRouter(tags=["privacy"])

Revealer = Annotated[AppUser, require("pii.unmask")]
Requester = Annotated[AppUser, require("export.request")]
Approver = Annotated[AppUser, require("export.approve")]


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _values(items: tuple[ContactValue, ...]) -> list[ContactValueOut]:
    return [ContactValueOut(id=v.id, role=v.role, value=v.value) for v in items]


@router.post("/cases/{case_id}/reveal", response_model=RevealOut)
def reveal(case_id: DbId, request: Request, user: Revealer, body: RevealIn, session: DbSession) -> RevealOut:
    """Reveal a case's phones, ID number and addresses with a reason (written to the audit ledger, without
    the values). Another holder's case is a 404; no reason, or one under 4 characters, a 422."""
    case = get_visible_case(case_id, user, session=session)
    done = do_reveal(
        case,
        user,
        body.fields,
        body.reason,
        reason_code=body.reason_code,
        session=session,
        settings=_settings(request),
    )
    return RevealOut(
        case_id=case.id,
        fields=list(done.fields),
        phones=_values(done.data.phones),
        national_id=done.data.national_id,
        addresses=_values(done.data.addresses),
        reason_code=done.reason_code,
        reason=done.reason,
        revealed_at=done.at,
        ledger_seq=done.ledger_seq,
        alert=done.alert,
    )


def export_out(req: ExportRequest) -> ExportOut:
    return ExportOut(
        id=req.id,
        requested_by=req.requested_by,
        requested_at=req.requested_at,
        format=req.file_format,
        reason_code=req.reason_code,
        reason=req.reason,
        rows=req.row_count,
        unmasked=req.unmasked,
        status=exports.status_of(req),
        decided_by=req.decided_by,
        decided_at=req.decided_at,
        decision_note=req.decision_note,
        expires_at=exports.expires_at(req),
        downloaded_at=req.downloaded_at,
    )


@router.post("/exports", response_model=ExportOut, status_code=201)
def request_export(request: Request, user: Requester, body: ExportIn, session: DbSession) -> ExportOut:
    """Ask for an export of the open cases one may see (CSV or XLSX) with a reason; another user with
    `export.approve` decides it."""
    req = exports.do_request_export(
        user,
        body.format,
        body.reason,
        reason_code=body.reason_code,
        session=session,
        settings=_settings(request),
    )
    return export_out(req)


@router.get("/exports", response_model=list[ExportOut])
def my_exports(user: Requester, session: DbSession) -> list[ExportOut]:
    """One's own export requests, newest first."""
    return [export_out(r) for r in exports.list_own(user, session=session)]


@router.get("/exports/pending", response_model=list[ExportOut])
def pending_exports(user: Approver, session: DbSession) -> list[ExportOut]:
    """Export requests awaiting a decision, oldest first (one's own are listed but cannot be decided)."""
    return [export_out(r) for r in exports.list_pending(session=session)]


@router.post("/exports/{export_id}/approve", response_model=ExportOut)
def approve_export(
    export_id: DbId, request: Request, user: Approver, session: DbSession, body: DecisionIn | None = None
) -> ExportOut:
    """Approve another user's export request (never one's own): they may download it once within 24 h."""
    req = exports.do_approve_export(
        export_id, user, note=body.note if body else "", session=session, settings=_settings(request)
    )
    return export_out(req)


@router.post("/exports/{export_id}/reject", response_model=ExportOut)
def reject_export(
    export_id: DbId, request: Request, user: Approver, session: DbSession, body: DecisionIn | None = None
) -> ExportOut:
    """Reject another user's export request (never one's own)."""
    req = exports.do_reject_export(
        export_id, user, note=body.note if body else "", session=session, settings=_settings(request)
    )
    return export_out(req)


@router.get(
    "/exports/{export_id}/download",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in exports.MEDIA_TYPES.values()}, "description": "the file"},
    },
)
def download_export(export_id: DbId, request: Request, user: Requester, session: DbSession) -> Response:
    """Download one's approved export — once, within 24 h of the approval (410 afterwards). Headers are in
    one's language; names and phones are masked unless one holds `pii.unmask`."""
    from recoup.web.privacy_pages import export_headers

    file = exports.do_download_export(
        export_id, user, headers=export_headers(user.locale), session=session, settings=_settings(request)
    )
    return file_response(file)


def file_response(file: exports.ExportFile) -> Response:
    """The file as an attachment that no cache keeps."""
    return Response(
        file.content,
        media_type=file.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file.name}"',
            "Cache-Control": "no-store",
            "X-Export-Rows": str(file.rows),
        },
    )
