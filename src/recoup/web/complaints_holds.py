"""``/holds``: contact holds not yet ended (or all) with where each came from, their lifting with a reason
(an open complaint's hold only with a second person's approval) and, for one borrower, their consents.
Permission ``complaint.handle``; the rules are :mod:`recoup.complaints.holds`. The labels are those of
:mod:`recoup.web.complaints_pages`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from recoup.auth.models import AppUser
from recoup.complaints import holds, register
from recoup.complaints.consents import list_consents
from recoup.complaints.models import Complaint
from recoup.complaints.vocab import RULE_OF
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.web.complaints_pages import Handler, masked_names, page_labels, set_flash, take_flash
from recoup.web.deps import DbId, DbSession
from recoup.web.pages import redirect, settings_of, tr
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/holds")
def holds_page(
    request: Request,
    user: Handler,
    session: DbSession,
    borrower: Annotated[str, Query(max_length=64)] = "",
    ended: Annotated[str, Query(max_length=5)] = "",
) -> Response:
    """Contact holds not yet ended (or all), where each came from, lifts awaiting approval; with a
    borrower, their consents too."""
    now = utcnow()
    key = borrower.strip() or None
    rows = holds.list_holds(session=session, now=now, borrower_key=key, include_ended=bool(ended), limit=500)
    items = []
    for h in rows:
        origin = holds.origin_of(h, session=session)
        complaint = session.get(Complaint, origin.ref) if origin.kind == "complaint" and origin.ref else None
        items.append(
            {
                "category": complaint.category if complaint else None,
                "closed_reason": register.closing_reason(complaint) if complaint else None,
                "h": h,
                "rule": RULE_OF.get(h.kind, h.kind),
                "active": holds.is_active(h, now),
                "ended": h.end_at is not None and h.end_at <= now,
                "origin": origin,
                "pending": holds.pending_lift(h.id, session=session),
                "lifts": holds.lifts_of(h.id, session=session),
            }
        )
    flash, flash_error = take_flash(request)
    ctx = {
        "items": items,
        "borrower": key or "",
        "ended": bool(ended),
        "consents": list_consents(session=session, borrower_key=key) if key else [],
        "names": masked_names({h.borrower_key for h in rows}, session=session),
        "flash": flash,
        "flash_error": flash_error,
        "watermark": True,
        **page_labels(),
    }
    return render(request, "complaints_holds.html", ctx, user=user)


def _holds_back(request: Request, borrower: str) -> str:
    key = borrower.strip()
    return f"/holds?borrower={quote(key, safe='')}" if key else "/holds"


@router.post("/holds/{hold_id}/lift")
def lift(
    hold_id: DbId,
    request: Request,
    user: Handler,
    session: DbSession,
    reason: Annotated[str, Form(max_length=500)] = "",
    borrower: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Lift a hold with a reason (an open complaint's hold waits for a second person)."""
    holds.get_hold(hold_id, session=session)
    try:
        done = holds.do_request_lift(
            hold_id, session=session, actor=user.username, reason=reason, settings=settings_of(request)
        )
    except RecoupError as exc:
        set_flash(request, exc.message, error=True)
        return redirect(request, _holds_back(request, borrower))
    if done.status == "requested":
        asked = tr(request, user, "Lift requested: another person approves it.")
        set_flash(request, f"#{hold_id} · {asked}")
    else:
        set_flash(request, f"#{hold_id} · " + tr(request, user, "Hold lifted."))
    return redirect(request, _holds_back(request, borrower))


def _decide(
    request: Request,
    user: AppUser,
    session: DbSession,
    hold_id: int,
    note: str,
    borrower: str,
    *,
    approve: bool,
) -> Response:
    holds.get_hold(hold_id, session=session)
    try:
        holds.do_decide_lift(
            hold_id,
            session=session,
            actor=user.username,
            approve=approve,
            note=note,
            settings=settings_of(request),
        )
    except RecoupError as exc:
        set_flash(request, exc.message, error=True)
        return redirect(request, _holds_back(request, borrower))
    done = (
        tr(request, user, "Hold lifted.") if approve else tr(request, user, "Lift rejected; the hold stays.")
    )
    set_flash(request, f"#{hold_id} · {done}")
    return redirect(request, _holds_back(request, borrower))


@router.post("/holds/{hold_id}/lift/approve")
def approve_lift(
    hold_id: DbId,
    request: Request,
    user: Handler,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
    borrower: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Approve another person's lift: the hold ends now."""
    return _decide(request, user, session, hold_id, note, borrower, approve=True)


@router.post("/holds/{hold_id}/lift/reject")
def reject_lift(
    hold_id: DbId,
    request: Request,
    user: Handler,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
    borrower: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Reject another person's lift: the hold stays."""
    return _decide(request, user, session, hold_id, note, borrower, approve=False)
