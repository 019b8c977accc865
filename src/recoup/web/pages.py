"""The server-rendered pages of the collector's workbench: sign-in, the language switch, the queue
(the case page is :mod:`recoup.web.case_page`). Permissions and visibility are those of the API
(:mod:`recoup.web.session` declares them the same way)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from recoup.auth.models import AppUser
from recoup.auth.service import AuthenticationError, authenticate, has_permission
from recoup.cases.models import Case
from recoup.cases.tasks import queue_for
from recoup.config import Settings
from recoup.db import utcnow, writing
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.pii import mask, mask_name
from recoup.portfolio.models import Borrower, ContactPoint
from recoup.web.deps import DbSession, SessionFactory, writes
from recoup.web.i18n import LOCALES, translations
from recoup.web.labels import MUST_LABELS, TREATMENT_LABELS
from recoup.web.session import LoginThrottle, PageUser, require_page, sign_in, sign_out
from recoup.web.templating import render, request_locale

router = APIRouter(include_in_schema=False)
THROTTLE = LoginThrottle()

Worker = Annotated[AppUser, require_page("case.work")]
Viewer = Annotated[AppUser, require_page("case.view")]


def tr(request: Request, user: AppUser | None, text: str) -> str:
    """``text`` in the request's language (for messages built in code, not in a template)."""
    return translations(request_locale(request, user)).gettext(text)


def settings_of(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _safe_next(value: str | None) -> str:
    """Only a local path (never another site) after signing in."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


def redirect(request: Request, to: str) -> Response:
    """A redirect that also works for htmx requests (HX-Redirect)."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": to})
    return RedirectResponse(to, status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": _safe_next(next)})


#: The answer when the account was disabled while its password was checked (as for a wrong password).
_DISABLED: Final = "invalid username or password / 用户名或密码错误"


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the password (throttled per username and client address) and start a session.

    Two units of work: the check only reads, so on SQLite simultaneous sign-ins do not queue their
    password hashing (~100 ms each) behind the write lock; the sign-in's ledger entry is the second."""
    client = request.client.host if request.client else "?"
    keys = (f"user:{username}", f"ip:{client}")
    factory: SessionFactory = request.app.state.session_factory
    try:
        THROTTLE.check(*keys)
        with factory() as session:
            user_id = authenticate(username, password, session=session).id
    except AuthenticationError as exc:
        THROTTLE.failed(*keys)
        ctx = {"error": exc.message, "username": username, "next": _safe_next(next)}
        return render(request, "login.html", ctx, status=401)
    except RecoupError as exc:  # throttled
        ctx = {"error": exc.message, "username": username, "next": _safe_next(next)}
        return render(request, "login.html", ctx, status=exc.http_status)
    THROTTLE.succeeded(f"user:{username}")
    with factory() as session:
        writing(session)
        user = session.get(AppUser, user_id)
        if user is None or not user.is_active:  # disabled meanwhile
            ctx = {"error": _DISABLED, "username": username, "next": _safe_next(next)}
            return render(request, "login.html", ctx, status=401)
        sign_in(request, user, minutes=settings_of(request).web_session_minutes)
        do_append("auth.web_sign_in", {"user_id": user.id}, session=session, actor=user.username)
    return redirect(request, _safe_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    sign_out(request)
    return redirect(request, "/login")


@router.get("/lang/{locale}")
@writes
def switch_language(locale: str, request: Request, session: DbSession, next: str | None = None) -> Response:
    """Switch the pages' language (remembered for the user, and in a cookie for the sign-in page)."""
    target = locale if locale in LOCALES else "zh_CN"
    uid = request.session.get("uid")
    if isinstance(uid, int):
        user = session.get(AppUser, uid)
        if user is not None:
            user.locale = target
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie("lang", target, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


@router.get("/")
def home(user: PageUser) -> Response:
    """Directors start with the morning view, field agents with their visits, everyone else with their
    queue."""
    field = "field_agent" in user.role_names and has_permission(user, "case.work")
    start = "/morning" if has_permission(user, "report.view") else "/field" if field else "/queue"
    return RedirectResponse(start, status_code=303)


@router.get("/queue")
def queue_page(request: Request, user: Worker, session: DbSession) -> Response:
    """The collector's workbench: must-do first, then by expected value."""
    s = settings_of(request)
    today = utcnow().astimezone(s.tz).date()
    q = queue_for(user, session=session, today=today)
    rows: list[dict[str, Any]] = []
    if q.height:
        case_ids = q.get_column("case_id").unique().to_list()
        names = dict(
            session.execute(
                select(Case.id, Borrower.name)
                .join(Borrower, Borrower.id == Case.borrower_id)
                .where(Case.id.in_(case_ids))
            ).all()
        )
        phones: dict[int, ContactPoint] = {}
        for cid, point in session.execute(
            select(Case.id, ContactPoint)
            .join(ContactPoint, ContactPoint.borrower_id == Case.borrower_id)
            .where(Case.id.in_(case_ids), ContactPoint.kind.in_(("phone", "mobile")), ContactPoint.is_valid)
            .order_by(ContactPoint.id)
        ).all():
            phones.setdefault(cid, point)
        for r in q.iter_rows(named=True):
            first = phones.get(r["case_id"])
            rows.append(
                {
                    **r,
                    "borrower": mask_name(names.get(r["case_id"], "")),
                    "overdue": r["balance"],
                    "phone": mask("phone", first.value) if first else None,
                    "phone_dial": f"/dial/{r['case_id']}/{first.id}" if first else None,
                    "last_contact": r["last_contact"],
                }
            )
    ctx = {
        "rows": rows,
        "today": today,
        "must_labels": MUST_LABELS,
        "treatment_labels": TREATMENT_LABELS,
        "watermark": True,
    }
    return render(request, "queue.html", ctx, user=user)
