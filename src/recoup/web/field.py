"""The field agent's pages (外访, phone-sized): today's visits in route order, and one visit with the GPS
check-in, the photos and the structured report.

Everything goes through :mod:`recoup.cases.visits` (check-in inside the geofence, the report logged as a
contact, the day's route) and :mod:`recoup.cases.visit_photos`; the permission is the visit API's for
agents (``case.work``), and a visit of which the user is not one of the two agents is a 404 page. The
agents of an approved visit see its full address on the day (they have to get there): the first time
each agent sees it on a day goes to the audit ledger as ``pii.reveal`` with the reason ``field visit``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup import money
from recoup.auth.models import AppUser
from recoup.cases.access import get_visible_case
from recoup.cases.models import Case
from recoup.cases.promise_service import do_make_promise
from recoup.cases.visit_photos import (
    MAX_PHOTO_BYTES,
    PhotoRejectedError,
    do_store_photo,
    photo_path,
    visit_photos,
)
from recoup.cases.visits import (
    MAX_PHOTOS,
    Met,
    VisitError,
    VisitReport,
    do_check_in,
    do_plan_day,
    do_report_visit,
    get_visit,
)
from recoup.cases.work_models import FieldVisit
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.portfolio.models import CollectionAccount
from recoup.web.deps import DbId, DbSession, cipher_of
from recoup.web.field_view import day_context, visit_context
from recoup.web.labels import N_
from recoup.web.pages import Worker, settings_of, tr
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

#: What the check-in button's script may have to say (the browser's refusals), translated into the page.
_CHECK_IN_TEXTS: Final = (
    ("button", N_("Check in here")),
    ("locating", N_("Finding your position…")),
    ("denied", N_("The browser refused to give your position. Allow location for this site and try again.")),
    (
        "unavailable",
        N_("Your position is not available right now. Go outside or wait a moment and try again."),
    ),
    ("timeout", N_("Finding your position took too long. Try again.")),
    ("insecure", N_("The browser gives a position only to a secure page (https). Ask your administrator.")),
    ("unsupported", N_("This browser cannot give a position.")),
)
#: A form's file part may exceed the photo limit by this much (multipart headers) before it is refused
#: without being read.
_MULTIPART_SLACK: Final = 64 * 1024


def _today(request: Request) -> dt.date:
    return utcnow().astimezone(settings_of(request).tz).date()


def _day(
    request: Request,
    user: AppUser,
    session: Session,
    *,
    flash: str = "",
    error: bool = False,
    status: int = 200,
) -> Response:
    ctx = day_context(user, session=session, settings=settings_of(request), today=_today(request))
    ctx.update(flash=flash, flash_error=error)
    return render(request, "field_day.html", ctx, user=user, status=status)


def _visit(
    request: Request,
    user: AppUser,
    session: Session,
    visit: FieldVisit,
    *,
    flash: str = "",
    error: bool = False,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    s = settings_of(request)
    ctx = visit_context(visit, user, session=session, settings=s, today=_today(request))
    ctx.update(flash=flash, flash_error=error, form=form or {})
    ctx["texts"] = {key: tr(request, user, text) for key, text in _CHECK_IN_TEXTS}
    return render(request, "field_visit.html", ctx, user=user, status=status)


def _why(request: Request, user: AppUser, exc: RecoupError) -> str:
    """A visit refusal in the user's language (the service's own bilingual message otherwise)."""
    d = exc.details
    if exc.code == "visit.outside_geofence":
        text = tr(
            request, user, "You are %(distance)s m from the address; check in within %(radius)s m of it."
        )
        return text % {"distance": f"{float(d['distance_m']):,.0f}", "radius": f"{float(d['radius_m']):,.0f}"}
    if exc.code == "visit.wrong_day":
        return tr(request, user, "This visit is planned for %(day)s, not today.") % {
            "day": d.get("planned_on")
        }
    if exc.code == "visit.invalid_transition" and d.get("action") == "check_in":
        return tr(request, user, "This visit cannot be checked in any more.")
    if exc.code == "visit.case_stopped":
        return tr(request, user, "Collection on this case is stopped or the case is closed: do not visit.")
    if exc.code == "visit.photo_rejected":
        limit = MAX_PHOTO_BYTES // (1024 * 1024)
        by_reason = {
            "not_image": tr(request, user, "Only photos can be uploaded (JPEG, PNG, WebP or HEIC)."),
            "too_large": tr(request, user, "The photo is too large: at most %(mb)s MB.") % {"mb": limit},
            "too_many": tr(request, user, "This visit has the most photos allowed (%(n)s).")
            % {"n": MAX_PHOTOS},
            "empty": tr(request, user, "The file is empty."),
            "status": tr(request, user, "Photos are taken after checking in and before the report."),
        }
        return by_reason.get(str(d.get("reason")), exc.message)
    return exc.message


# ---------------------------------------------------------------------------------------------- the day


@router.get("/field")
def field_day(request: Request, user: Worker, session: DbSession) -> Response:
    """Today's visits of the signed-in agent in route order, with their arrival windows and addresses."""
    return _day(request, user, session)


@router.post("/field/route")
def plan_from_here(
    request: Request,
    user: Worker,
    session: DbSession,
    lat: Annotated[float, Form(ge=-90, le=90)],
    lon: Annotated[float, Form(ge=-180, le=180)],
) -> Response:
    """Plan the rest of today's route from where the agent is (the browser's position)."""
    do_plan_day(user, session=session, day=_today(request), start=(lat, lon))
    return _day(request, user, session, flash=tr(request, user, "The route starts from where you are now."))


# -------------------------------------------------------------------------------------------- one visit


@router.get("/field/visits/{visit_id}")
def field_visit(visit_id: DbId, request: Request, user: Worker, session: DbSession) -> Response:
    """One visit of the agent's: the address, the check-in, the photos and the report."""
    return _visit(request, user, session, get_visit(visit_id, user, session=session, agent=True))


@router.post("/field/visits/{visit_id}/check-in")
def check_in(
    visit_id: DbId,
    request: Request,
    user: Worker,
    session: DbSession,
    lat: Annotated[float, Form(ge=-90, le=90)],
    lon: Annotated[float, Form(ge=-180, le=180)],
) -> Response:
    """Check in with the browser's position: outside the geofence nothing is recorded and the page says
    how far the address is."""
    visit = get_visit(visit_id, user, session=session, agent=True, for_update=True)
    try:
        do_check_in(visit, user, session=session, lat=lat, lon=lon, settings=settings_of(request))
    except VisitError as exc:
        return _visit(request, user, session, visit, flash=_why(request, user, exc), error=True, status=422)
    distance = f"{visit.checkin_distance_m or 0:,.0f}"
    note = tr(request, user, "Checked in, %(distance)s m from the address.") % {"distance": distance}
    return _visit(request, user, session, visit, flash=note)


@router.post("/field/visits/{visit_id}/photos")
def upload_photo(
    visit_id: DbId,
    request: Request,
    user: Worker,
    session: DbSession,
    photo: Annotated[UploadFile, File()],
) -> Response:
    """Keep one photo of a checked-in visit (images only, size-limited); the report will carry it."""
    visit = get_visit(visit_id, user, session=session, agent=True, for_update=True)
    s = settings_of(request)
    try:
        length = request.headers.get("content-length", "")
        too_long = length.isdigit() and int(length) > MAX_PHOTO_BYTES + _MULTIPART_SLACK
        if too_long or (photo.size or 0) > MAX_PHOTO_BYTES:
            raise PhotoRejectedError("too large / 过大", details={"reason": "too_large"})
        do_store_photo(visit, photo.file, settings=s)
    except PhotoRejectedError as exc:
        return _visit(request, user, session, visit, flash=_why(request, user, exc), error=True, status=422)
    return _visit(request, user, session, visit, flash=tr(request, user, "Photo saved."))


@router.get("/field/visits/{visit_id}/photos/{name}")
def show_photo(visit_id: DbId, name: str, request: Request, user: Worker, session: DbSession) -> Response:
    """One photo of the visit, to its agents only."""
    visit = get_visit(visit_id, user, session=session, agent=True)
    found = photo_path(visit, name, settings=settings_of(request))
    if found is None:
        return render(request, "error.html", {"status": 404, "code": "not_found"}, user=user, status=404)
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


def _policy(request: Request, session: Session) -> Policy:
    s = settings_of(request)
    return Policy(
        resolve(s.jurisdiction, session=session), domains=s.link_domains, signatures=s.sms_signatures
    )


@router.post("/field/visits/{visit_id}/report")
def file_report(
    visit_id: DbId,
    request: Request,
    user: Worker,
    session: DbSession,
    met: Annotated[str, Form(max_length=20)],
    address_valid: Annotated[str, Form(max_length=5)],
    occupancy: Annotated[str, Form(max_length=20)],
    willingness: Annotated[str, Form(max_length=20)] = "",
    hardship: Annotated[str, Form(max_length=5)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    cost: Annotated[str, Form(max_length=40)] = "",
    promise_amount: Annotated[str, Form(max_length=40)] = "",
    promise_due: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """File the structured report of a checked-in visit with its photos and cost (the visit is logged as a
    contact on the address), and the promise to pay if one was made at the door."""
    s = settings_of(request)
    visit = get_visit(visit_id, user, session=session, agent=True, for_update=True)
    form = {
        "met": met,
        "address_valid": address_valid,
        "occupancy": occupancy,
        "willingness": willingness,
        "hardship": hardship,
        "note": note,
        "cost": cost,
        "promise_amount": promise_amount,
        "promise_due": promise_due,
    }

    def refused(message: str) -> Response:
        return _visit(request, user, session, visit, flash=message, error=True, status=422, form=form)

    try:
        report = VisitReport(
            met=Met(met),
            address_valid=address_valid == "yes",
            occupancy=occupancy,
            willingness=(willingness or None) if met != Met.NOBODY else None,
            hardship=bool(hardship),
            note=note.strip(),
        )
    except (ValueError, ValidationError):
        return refused(tr(request, user, "Answer every question of the report."))
    promise: tuple[int, dt.date] | None = None
    if promise_amount.strip() or promise_due.strip():
        if report.met == Met.NOBODY:
            return refused(tr(request, user, "Nobody was met, so nobody promised to pay."))
        try:
            promise = (
                money.parse_amount(promise_amount, minor_digits=s.minor_digits),
                dt.date.fromisoformat(promise_due),
            )
        except (RecoupError, ValueError):
            return refused(tr(request, user, "A promise needs both an amount and a date."))
    case = get_visible_case(visit.case_id, user, session=session)
    try:
        with session.begin_nested():  # the report and the promise stand or fall together
            done = do_report_visit(
                visit,
                case,
                user,
                session=session,
                report=report,
                photos=visit_photos(visit, settings=s),
                recording_ref=None,
                cost=cost.strip() or "0",
                policy=_policy(request, session),
                settings=s,
                cipher=cipher_of(request),
            )
            if promise is not None:
                _promise(
                    case, user, session=session, request=request, amount=promise[0], due=promise[1], met=met
                )
    except RecoupError as exc:
        return refused(_why(request, user, exc))
    session.refresh(visit)
    said = [
        tr(request, user, "Report filed and the promise recorded.")
        if promise is not None
        else tr(request, user, "Report filed."),
    ]
    if done.logged is None:
        said.append(tr(request, user, "No contact was logged: the visit has no address on file."))
    # English sentences are spaced; Chinese ones (ending in 。) are not.
    return _visit(
        request, user, session, visit, flash="".join(t if t.endswith("。") else t + " " for t in said)
    )


def _promise(
    case: Case, user: AppUser, *, session: Session, request: Request, amount: int, due: dt.date, met: str
) -> None:
    """The promise made at the door: the debtor's own, or a third party's (family, colleague)."""
    s = settings_of(request)
    dpd = session.scalar(
        select(func.max(CollectionAccount.dpd)).where(
            CollectionAccount.case_id == case.id, CollectionAccount.status == "open"
        )
    )
    do_make_promise(
        case.id,
        session=session,
        actor=user.username,
        by="debtor" if met == Met.DEBTOR else "third_party",
        amount=amount,
        due_date=due,
        made_at=utcnow(),
        tz=s.tz,
        bucket="M1" if (dpd or 0) <= 30 else "M2+",
        period_end=case.period_end,
    )
