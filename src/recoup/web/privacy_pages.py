"""Personal-data protection in the pages (PIPL): revealing a case's masked phones, ID number and addresses
with a reason (an htmx fragment replacing the masked block of the case page), the reviewers' page of
reveals and alerts (``/privacy``), and exports that another user approves (``/exports``).

Permissions are those of the API (one table): ``pii.unmask`` reveals, ``pii.review`` reviews,
``export.request`` asks and downloads, ``export.approve`` decides. The services are
:mod:`recoup.privacy.reveal` and :mod:`recoup.privacy.exports`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.access import get_visible_case
from recoup.cases.models import Case
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.pii import PiiCipher
from recoup.privacy import exports
from recoup.privacy.exportfile import count_rows
from recoup.privacy.reveal import (
    ALERT_KIND,
    ALERT_WINDOW,
    MAX_REASON,
    MIN_REASON,
    REVEAL_KIND,
    RevealReasonError,
    contact_data,
    do_reveal,
    list_events,
    reveal_counts,
)
from recoup.web.deps import DbId, DbSession, cipher_of
from recoup.web.i18n import translations
from recoup.web.labels import N_, ROLE_LABELS
from recoup.web.pages import redirect, settings_of, tr
from recoup.web.session import require_page
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

Revealer = Annotated[AppUser, require_page("pii.unmask")]
Reviewer = Annotated[AppUser, require_page("pii.review")]
Requester = Annotated[AppUser, require_page("export.request")]
Approver = Annotated[AppUser, require_page("export.approve")]

REVEAL_REASON_LABELS: Final = {
    "verify_identity": N_("verify the borrower's identity"),
    "borrower_request": N_("the borrower asked to check their details"),
    "field_visit": N_("prepare a field visit"),
    "legal_action": N_("legal action"),
    "complaint": N_("handle a complaint"),
    "other": N_("other"),
}
EXPORT_REASON_LABELS: Final = {
    "regulator_request": N_("regulator's request"),
    "internal_audit": N_("internal audit"),
    "agency_reconciliation": N_("agency reconciliation"),
    "management_report": N_("management report"),
    "legal_action": N_("legal action"),
    "other": N_("other"),
}
FIELD_LABELS: Final = {"phone": N_("phones"), "national_id": N_("ID number"), "address": N_("addresses")}
EXPORT_STATUS_LABELS: Final = {
    "pending": N_("awaiting approval"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "downloaded": N_("downloaded"),
    "expired": N_("expired"),
}
#: Column headers of an export file (one per :data:`recoup.privacy.exportfile.COLUMNS`).
EXPORT_HEADERS: Final = (
    N_("Case"),
    N_("Borrower"),
    N_("Phone"),
    N_("Overdue (yuan)"),
    N_("Days past due"),
    N_("Holder"),
    N_("Last contact"),
)
_FLASH: Final = "flash"


def export_headers(locale: str) -> list[str]:
    """The export file's column headers in ``locale``."""
    t = translations(locale)
    return [t.gettext(h) for h in EXPORT_HEADERS]


# --- the masked block of the case page and revealing it --------------------------------------


def pii_block(
    request: Request,
    case: Case,
    *,
    session: DbSession,
    cipher: PiiCipher | None = None,
    revealed: dict[str, Any] | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The context of ``privacy_block.html`` (the case page includes it as ``pii``): the masked values,
    or the clear ones with when and why they were revealed."""
    if revealed:
        data = revealed["data"]
    else:
        data = contact_data(case, session=session, cipher=cipher or cipher_of(request))
    return {
        "case_id": case.id,
        "data": data,
        "revealed": revealed,
        "error": error,
        "form": form or {"reason_code": "verify_identity", "reason": ""},
        "role_labels": ROLE_LABELS,
        "reasons": REVEAL_REASON_LABELS,
        "field_labels": FIELD_LABELS,
        "min_reason": MIN_REASON,
        "max_reason": MAX_REASON,
    }


@router.post("/cases/{case_id}/reveal")
def reveal(
    case_id: DbId,
    request: Request,
    user: Revealer,
    session: DbSession,
    reason_code: Annotated[str, Form(max_length=30)] = "other",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Reveal the case's phones, ID number and addresses for a reason: the masked block comes back with
    the clear values and "revealed for … at …, audited" (htmx), or as a page of its own without htmx.
    No reason (or a short one) comes back as the form with the error (422)."""
    s = settings_of(request)
    case = get_visible_case(case_id, user, session=session)
    cipher = cipher_of(request)
    form = {"reason_code": reason_code, "reason": reason}
    try:
        done = do_reveal(
            case, user, None, reason, reason_code=reason_code, session=session, settings=s, cipher=cipher
        )
    except RecoupError as exc:
        if isinstance(exc, RevealReasonError) and exc.details.get("min_length"):
            message = tr(request, user, "Say why you need to see the data: at least 4 characters.")
        else:
            message = exc.message
        ctx = {"pii": pii_block(request, case, session=session, cipher=cipher, error=message, form=form)}
        return _reveal_response(request, user, case, ctx, status=422)
    label = tr(request, user, REVEAL_REASON_LABELS.get(done.reason_code, done.reason_code))
    revealed = {
        "data": done.data,
        "why": f"{label} · {done.reason}",
        "at": done.at,
        "seq": done.ledger_seq,
        "alert": done.alert,
    }
    ctx = {"pii": pii_block(request, case, session=session, cipher=cipher, revealed=revealed)}
    return _reveal_response(request, user, case, ctx, status=200)


def _reveal_response(
    request: Request, user: AppUser, case: Case, ctx: dict[str, Any], *, status: int
) -> Response:
    if request.headers.get("hx-request"):
        response = render(request, "privacy_block.html", ctx, user=user, status=status)
    else:
        response = render(
            request, "privacy_reveal.html", {**ctx, "case": case, "watermark": True}, user=user, status=status
        )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the reviewers' page ---------------------------------------------------------------------


@router.get("/privacy")
def review(
    request: Request,
    user: Reviewer,
    session: DbSession,
    actor: Annotated[str | None, Query(alias="user", max_length=64)] = None,
) -> Response:
    """Who revealed personal data, when, on which case, which fields and why; the alerts on more than
    the setting's reveals in an hour; reveals per user in the last hour and day."""
    s = settings_of(request)
    now = utcnow()
    who = (actor or "").strip() or None
    alerts = list_events((ALERT_KIND,), session=session, actor=who, limit=100)
    reveals = list_events((REVEAL_KIND,), session=session, actor=who, limit=200)
    ctx = {
        "alerts": alerts,
        "reveals": reveals,
        "hour": reveal_counts(session=session, since=now - ALERT_WINDOW),
        "day": reveal_counts(session=session, since=now - dt.timedelta(days=1)),
        "limit": s.pii_reveal_alert_per_hour,
        "who": who or "",
        "reasons": REVEAL_REASON_LABELS,
        "field_labels": FIELD_LABELS,
        "watermark": True,
    }
    return render(request, "privacy_review.html", ctx, user=user)


# --- exports ---------------------------------------------------------------------------------


def _flash(request: Request, message: str, *, error: bool = False) -> None:
    request.session[_FLASH] = [message, error]


def _exports_page(request: Request, user: AppUser, session: DbSession, *, approvals: bool) -> Response:
    now = utcnow()
    flash = request.session.pop(_FLASH, None)
    can_request = has_permission(user, "export.request")
    can_approve = has_permission(user, "export.approve")
    ctx = {
        "approvals_only": approvals,
        "mine": exports.list_own(user, session=session) if can_request and not approvals else [],
        "pending": exports.list_pending(session=session) if can_approve else [],
        "decided": exports.list_decided(session=session, limit=20) if can_approve and approvals else [],
        "rows_now": count_rows(user, session=session) if can_request and not approvals else 0,
        "unmasked": has_permission(user, "pii.unmask"),
        "status_of": lambda r: exports.status_of(r, now),
        "expires_at": exports.expires_at,
        "status_labels": EXPORT_STATUS_LABELS,
        "reasons": EXPORT_REASON_LABELS,
        "formats": exports.EXPORT_FORMATS,
        "hours": exports.DOWNLOAD_HOURS,
        "min_reason": MIN_REASON,
        "max_reason": MAX_REASON,
        "flash": flash[0] if flash else None,
        "flash_error": bool(flash[1]) if flash else False,
        "watermark": True,
    }
    response = render(request, "exports.html", ctx, user=user)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/exports")
def exports_page(request: Request, user: Requester, session: DbSession) -> Response:
    """One's export requests and the form to ask for one; approvers also see what awaits a decision."""
    return _exports_page(request, user, session, approvals=False)


@router.get("/exports/approvals")
def approvals_page(request: Request, user: Approver, session: DbSession) -> Response:
    """Export requests awaiting a decision, and the latest decisions."""
    return _exports_page(request, user, session, approvals=True)


@router.post("/exports")
def ask_export(
    request: Request,
    user: Requester,
    session: DbSession,
    file_format: Annotated[str, Form(max_length=10)] = "xlsx",
    reason_code: Annotated[str, Form(max_length=30)] = "other",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Ask for an export of one's visible cases; back to /exports with what happened."""
    try:
        req = exports.do_request_export(
            user, file_format, reason, reason_code=reason_code, session=session, settings=settings_of(request)
        )
    except RecoupError as exc:
        _flash(request, exc.message, error=True)
        return redirect(request, "/exports")
    note = tr(request, user, "Export requested; it waits for another user's approval.")
    _flash(request, f"#{req.id} · {note}")
    return redirect(request, "/exports")


def _decide(
    request: Request, user: AppUser, session: DbSession, export_id: int, note: str, *, approve: bool
) -> Response:
    back = "/exports" if has_permission(user, "export.request") else "/exports/approvals"
    decide = exports.do_approve_export if approve else exports.do_reject_export
    try:
        req = decide(export_id, user, note=note, session=session, settings=settings_of(request))
    except RecoupError as exc:
        if exc.http_status == 404:
            raise
        _flash(request, exc.message, error=True)
        return redirect(request, back)
    done = tr(request, user, "Export approved.") if approve else tr(request, user, "Export rejected.")
    _flash(request, f"#{req.id} · {done}")
    return redirect(request, back)


@router.post("/exports/{export_id}/approve")
def approve(
    export_id: DbId,
    request: Request,
    user: Approver,
    session: DbSession,
    note: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    """Approve another user's export request (four eyes)."""
    return _decide(request, user, session, export_id, note, approve=True)


@router.post("/exports/{export_id}/reject")
def reject(
    export_id: DbId,
    request: Request,
    user: Approver,
    session: DbSession,
    note: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    """Reject another user's export request (four eyes)."""
    return _decide(request, user, session, export_id, note, approve=False)


@router.get("/exports/{export_id}/download")
def download(export_id: DbId, request: Request, user: Requester, session: DbSession) -> Response:
    """The approved file, once. A link followed from another site is refused (it would spend the one
    download), and a refused download goes back to /exports saying why."""
    from recoup.privacy.views import file_response

    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        _flash(request, tr(request, user, "Open the download from the exports page."), error=True)
        return redirect(request, "/exports")
    try:
        file = exports.do_download_export(
            export_id,
            user,
            headers=export_headers(user.locale),
            session=session,
            settings=settings_of(request),
        )
    except RecoupError as exc:
        if exc.http_status == 404:
            raise
        _flash(request, exc.message, error=True)
        return redirect(request, "/exports")
    return file_response(file)
