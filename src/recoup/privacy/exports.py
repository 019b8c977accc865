"""Exports that need approval (PIPL): ask, approve or reject (four eyes), download once.

A user holding ``export.request`` asks for an export of the open cases they may see, as CSV or XLSX,
with a reason. Another user holding ``export.approve`` — never the requester — approves or rejects it.
The requester then downloads the file once, within :data:`DOWNLOAD_HOURS` hours of the approval; the
file is built at that moment from the cases they may see then (nothing is stored). Names and phones in
it are masked unless the requester held ``pii.unmask`` when asking and still does. Every step appends
to the audit ledger: ``export.request``, ``export.approve`` / ``export.reject``, ``export.download``
(ids, counts, the file's SHA-256 — never personal data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import AuthError, NotFoundError, RecoupError
from recoup.ledger.service import do_append
from recoup.pii import mask_text
from recoup.privacy.exportfile import COLUMNS, case_rows, count_rows, to_csv, to_xlsx
from recoup.privacy.models import ExportRequest, effective_status
from recoup.privacy.reveal import MAX_REASON, MIN_REASON

#: An approved export can be downloaded (once) for this long after its approval.
DOWNLOAD_HOURS: Final = 24
EXPORT_FORMATS: Final = ("csv", "xlsx")
EXPORT_REASONS: Final = (
    "regulator_request",
    "internal_audit",
    "agency_reconciliation",
    "management_report",
    "legal_action",
    "other",
)
#: An export of more open cases than this is refused (ask for a narrower one through the reports).
MAX_ROWS: Final = 100_000
MEDIA_TYPES: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportInvalidError(RecoupError):
    """Unknown format or reason, a reason too short, or too many rows."""

    code = "export.invalid"
    http_status = 422


class ExportForbiddenError(AuthError):
    """The user lacks the permission the step needs."""

    code = "auth.forbidden"
    http_status = 403


class ExportFourEyesError(AuthError):
    """The requester of an export may not decide it."""

    code = "export.four_eyes"
    http_status = 403


class ExportStateError(RecoupError):
    """The step is not possible from the request's status (``details["status"]``)."""

    code = "export.invalid_state"
    http_status = 409


class ExportUsedError(RecoupError):
    """The file was downloaded already: an export is downloaded once."""

    code = "export.already_downloaded"
    http_status = 410


class ExportExpiredError(RecoupError):
    """The download window after the approval has passed."""

    code = "export.expired"
    http_status = 410


@dataclass(frozen=True)
class ExportFile:
    name: str
    media_type: str
    content: bytes
    rows: int
    sha256: str


def status_of(req: ExportRequest, now: dt.datetime | None = None) -> str:
    """The request's status as the user sees it (``expired`` once the download window passed)."""
    return effective_status(req, now or utcnow(), hours=DOWNLOAD_HOURS)


def expires_at(req: ExportRequest) -> dt.datetime | None:
    """When an approved request stops being downloadable (None unless approved)."""
    if req.status != "approved" or req.decided_at is None:
        return None
    return req.decided_at + dt.timedelta(hours=DOWNLOAD_HOURS)


def _need(user: AppUser, permission: str) -> None:
    if not has_permission(user, permission):
        raise ExportForbiddenError(
            f"you do not have the permission {permission} / 您没有 {permission} 权限",
            details={"permission": permission},
        )


def _note(text: str) -> str:
    return " ".join(text.split())[:MAX_REASON]


# --- asking ----------------------------------------------------------------------------------


def check_export_request(
    user: AppUser, file_format: str, reason: str, *, reason_code: str, session: Session
) -> tuple[str, int]:
    """Validate a request; returns (the trimmed reason, the number of rows it would have now)."""
    _need(user, "export.request")
    if file_format not in EXPORT_FORMATS:
        raise ExportInvalidError(
            f"unknown export format {file_format!r}; one of {', '.join(EXPORT_FORMATS)} / 导出格式无效",
            details={"field": "format", "value": file_format, "allowed": list(EXPORT_FORMATS)},
        )
    if reason_code not in EXPORT_REASONS:
        raise ExportInvalidError(
            f"unknown reason {reason_code!r}; one of {', '.join(EXPORT_REASONS)} / 导出理由无效",
            details={"field": "reason_code", "value": reason_code, "allowed": list(EXPORT_REASONS)},
        )
    text = " ".join(reason.split())
    if not MIN_REASON <= len(text) <= MAX_REASON:
        raise ExportInvalidError(
            f"give a reason of {MIN_REASON} to {MAX_REASON} characters for the export"
            f" / 导出须填写理由（{MIN_REASON}–{MAX_REASON} 个字）",
            details={"field": "reason", "min_length": MIN_REASON, "length": len(text)},
        )
    rows = count_rows(user, session=session)
    if rows > MAX_ROWS:
        raise ExportInvalidError(
            f"the export would have {rows} rows, more than {MAX_ROWS} / 导出行数 {rows} 超过上限 {MAX_ROWS}",
            details={"field": "rows", "rows": rows, "max": MAX_ROWS},
        )
    return text, rows


def do_request_export(
    user: AppUser,
    file_format: str,
    reason: str,
    *,
    reason_code: str = "other",
    session: Session,
    settings: Settings | None = None,
) -> ExportRequest:
    """Record a pending export request (validated by :func:`check_export_request`) and audit it."""
    text, rows = check_export_request(user, file_format, reason, reason_code=reason_code, session=session)
    req = ExportRequest(
        requested_by_id=user.id,
        requested_by=user.username,
        requested_at=utcnow(),
        scope="cases",
        file_format=file_format,
        reason_code=reason_code,
        reason=text,
        unmasked=has_permission(user, "pii.unmask"),
        row_count=rows,
        status="pending",
        decision_note="",
    )
    session.add(req)
    session.flush()
    do_append(
        "export.request",
        {
            "export_id": req.id,
            "user_id": user.id,
            "scope": req.scope,
            "format": file_format,
            "rows": rows,
            "unmasked": req.unmasked,
            "reason_code": reason_code,
            "reason": mask_text(text),
        },
        session=session,
        actor=user.username,
        settings=settings,
    )
    return req


# --- reading ---------------------------------------------------------------------------------


def list_own(user: AppUser, *, session: Session, limit: int = 100) -> list[ExportRequest]:
    """``user``'s requests, newest first."""
    return list(
        session.scalars(
            select(ExportRequest)
            .where(ExportRequest.requested_by_id == user.id)
            .order_by(ExportRequest.id.desc())
            .limit(limit)
        )
    )


def list_pending(*, session: Session, limit: int = 200) -> list[ExportRequest]:
    """Requests awaiting a decision, oldest first."""
    return list(
        session.scalars(
            select(ExportRequest)
            .where(ExportRequest.status == "pending")
            .order_by(ExportRequest.id)
            .limit(limit)
        )
    )


def list_decided(*, session: Session, limit: int = 50) -> list[ExportRequest]:
    """The latest decided requests, newest decision first (for the approvers' page)."""
    return list(
        session.scalars(
            select(ExportRequest)
            .where(ExportRequest.decided_at.is_not(None))
            .order_by(ExportRequest.decided_at.desc(), ExportRequest.id.desc())
            .limit(limit)
        )
    )


def get_export(export_id: int, user: AppUser, *, session: Session) -> ExportRequest:
    """Request ``export_id`` if ``user`` made it or may decide requests; 404 otherwise."""
    req = session.get(ExportRequest, export_id)
    if req is None or (req.requested_by_id != user.id and not has_permission(user, "export.approve")):
        raise NotFoundError(
            f"no export request {export_id} / 导出申请 {export_id} 不存在", details={"export_id": export_id}
        )
    return req


# --- deciding --------------------------------------------------------------------------------


def _decide(
    export_id: int,
    approver: AppUser,
    *,
    to: str,
    note: str,
    session: Session,
    settings: Settings | None,
) -> ExportRequest:
    _need(approver, "export.approve")
    req = get_export(export_id, approver, session=session)
    if req.requested_by_id == approver.id:
        raise ExportFourEyesError(
            "the requester of an export cannot decide it / 导出申请人不能自行审批",
            details={"export_id": req.id},
        )
    now = utcnow()
    done = cast(
        CursorResult[Any],
        session.execute(
            update(ExportRequest)
            .where(ExportRequest.id == req.id, ExportRequest.status == "pending")
            .values(status=to, decided_by=approver.username, decided_at=now, decision_note=_note(note))
            .execution_options(synchronize_session=False)
        ),
    )
    session.refresh(req)
    if done.rowcount != 1:
        raise ExportStateError(
            f"export request {req.id} is {status_of(req)}, not pending / 导出申请 {req.id} 已处理",
            details={"export_id": req.id, "status": status_of(req)},
        )
    do_append(
        "export.approve" if to == "approved" else "export.reject",
        {
            "export_id": req.id,
            "requested_by_id": req.requested_by_id,
            "rows": req.row_count,
            "unmasked": req.unmasked,
            "note": mask_text(req.decision_note),
        },
        session=session,
        actor=approver.username,
        settings=settings,
    )
    return req


def do_approve_export(
    export_id: int, approver: AppUser, *, note: str = "", session: Session, settings: Settings | None = None
) -> ExportRequest:
    """Approve a pending request of someone else; its requester may then download it once within
    :data:`DOWNLOAD_HOURS` hours."""
    return _decide(export_id, approver, to="approved", note=note, session=session, settings=settings)


def do_reject_export(
    export_id: int, approver: AppUser, *, note: str = "", session: Session, settings: Settings | None = None
) -> ExportRequest:
    """Reject a pending request of someone else."""
    return _decide(export_id, approver, to="rejected", note=note, session=session, settings=settings)


# --- downloading -----------------------------------------------------------------------------


def check_download(req: ExportRequest, user: AppUser, *, now: dt.datetime) -> None:
    """The request is ``user``'s, approved, not downloaded yet and within its window."""
    if req.requested_by_id != user.id:
        raise NotFoundError(
            f"no export request {req.id} / 导出申请 {req.id} 不存在", details={"export_id": req.id}
        )
    status = effective_status(req, now, hours=DOWNLOAD_HOURS)
    if status == "downloaded":
        raise ExportUsedError(
            f"export {req.id} was downloaded already; ask for a new one / 导出 {req.id} 已下载过，请重新申请",
            details={
                "export_id": req.id,
                "downloaded_at": req.downloaded_at.isoformat() if req.downloaded_at else None,
            },
        )
    if status == "expired":
        raise ExportExpiredError(
            f"export {req.id} expired {DOWNLOAD_HOURS} h after its approval; ask for a new one"
            f" / 导出 {req.id} 已过期（批准后 {DOWNLOAD_HOURS} 小时内有效），请重新申请",
            details={"export_id": req.id, "hours": DOWNLOAD_HOURS},
        )
    if status != "approved":
        raise ExportStateError(
            f"export {req.id} is {status}: only an approved export can be downloaded"
            f" / 导出 {req.id} 尚未批准，不能下载",
            details={"export_id": req.id, "status": status},
        )


def do_download_export(
    export_id: int,
    user: AppUser,
    *,
    headers: Sequence[str],
    session: Session,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> ExportFile:
    """Build the file of an approved request for its requester — once (a second download, or one after
    the window, is refused) — and audit it. ``headers`` are the column headers in the user's language
    (one per :data:`recoup.privacy.exportfile.COLUMNS`)."""
    if len(headers) != len(COLUMNS):
        raise ValueError(f"an export needs {len(COLUMNS)} headers, got {len(headers)}")
    _need(user, "export.request")
    s = settings or get_settings()
    at = now or utcnow()
    req = get_export(export_id, user, session=session)
    check_download(req, user, now=at)
    claimed = cast(
        CursorResult[Any],
        session.execute(
            update(ExportRequest)
            .where(
                ExportRequest.id == req.id,
                ExportRequest.status == "approved",
                ExportRequest.downloaded_at.is_(None),
            )
            .values(status="downloaded", downloaded_at=at)
            .execution_options(synchronize_session=False)
        ),
    )
    session.refresh(req)
    if claimed.rowcount != 1:  # another download of the same request won the race
        check_download(req, user, now=at)
        raise ExportStateError(f"export {req.id} cannot be downloaded now", details={"export_id": req.id})
    unmasked = req.unmasked and has_permission(user, "pii.unmask")
    rows = case_rows(user, session=session, unmasked=unmasked, minor_digits=s.minor_digits)
    if req.file_format == "xlsx":
        content = to_xlsx(rows, headers, tz=s.tz, minor_digits=s.minor_digits)
    else:
        content = to_csv(rows, headers, tz=s.tz)
    digest = hashlib.sha256(content).hexdigest()
    req.file_sha256 = digest
    session.flush()
    do_append(
        "export.download",
        {
            "export_id": req.id,
            "user_id": user.id,
            "format": req.file_format,
            "rows": len(rows),
            "unmasked": unmasked,
            "sha256": digest,
        },
        session=session,
        actor=user.username,
        settings=s,
    )
    stamp = at.astimezone(s.tz).strftime("%Y%m%d-%H%M")
    return ExportFile(
        name=f"recoup-cases-{req.id}-{stamp}.{req.file_format}",
        media_type=MEDIA_TYPES[req.file_format],
        content=content,
        rows=len(rows),
        sha256=digest,
    )
