"""The app factory: routers, the one error envelope for every 4xx/5xx, OpenAPI at ``/openapi.json``."""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette_csrf.middleware import CSRFMiddleware

from recoup.config import Settings, get_settings
from recoup.db import get_engine, session_scope
from recoup.errors import RecoupError
from recoup.web.deps import SessionFactory, permission_of

log = logging.getLogger("recoup.web")

API = "/api/v1"


def _envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 and not code.startswith("callback.") else None
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_CODES = {404: "not_found", 405: "http.method_not_allowed", 401: "auth.failed", 403: "auth.forbidden"}


def _is_page(request: Request) -> bool:
    """A browser page (HTML errors, sign-in redirects) rather than the JSON API."""
    path = request.url.path
    return not (path.startswith(API) or path == "/openapi.json")


def _page_error(request: Request, status: int, code: str, message: str) -> Response:
    from recoup.web.templating import render

    if code == "auth.sign_in_required":
        target = "/login?next=" + quote(request.url.path, safe="/")
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    user = getattr(request.state, "user_view", None)
    ctx = {"status": status, "code": code, "message": message}
    return render(request, "error.html", ctx, user=user, status=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RecoupError)
    async def _recoup(request: Request, exc: RecoupError) -> Response:
        if _is_page(request):
            return _page_error(request, exc.http_status, exc.code, exc.message)
        return _envelope(exc.http_status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_page(request):
            return _page_error(request, 422, "request.invalid", "the form is incomplete / 表单不完整")
        errors = [
            {
                "location": ".".join(str(p) for p in e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"location": "", "message": ""}
        return _envelope(
            422,
            "request.invalid",
            f"invalid request: {first['location']}: {first['message']} / 请求无效",
            {"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, f"http.{exc.status_code}")
        message = "not found / 未找到" if exc.status_code == 404 else str(exc.detail)
        if _is_page(request):
            return _page_error(request, exc.status_code, code, message)
        return _envelope(exc.status_code, code, message)

    async def _out_of_range(request: Request, exc: Exception) -> Response:
        # A number the database cannot hold (SQLite: beyond 64 bits; PostgreSQL: beyond the column's
        # type) can only have come from the request: a 422, not a crash. Routes bound their ids with
        # DbId; this catches what a route does not bound.
        log.warning("value out of range on %s %s (%s)", request.method, request.url.path, type(exc).__name__)
        message = "a number in the request is out of range / 请求中的数值超出范围"
        if _is_page(request):
            return _page_error(request, 422, "request.out_of_range", message)
        return _envelope(422, "request.out_of_range", message)

    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # Never a traceback to the client; the log line carries the type only (no PII from messages).
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        if _is_page(request):
            return _page_error(request, 500, "internal.error", "internal error / 内部错误")
        return _envelope(
            500, "internal.error", "internal error; the operator can find it in the log / 内部错误"
        )


def create_app(settings: Settings | None = None, *, session_factory: SessionFactory | None = None) -> FastAPI:
    """The app on ``settings``' database (or on ``session_factory``'s sessions, for tests)."""
    s = settings or get_settings()
    app = FastAPI(
        title="recoup",
        version=version("recoup"),
        description="Post-loan management and collections API · 贷后管理与催收 API",
        # Served by recoup.web.apidocs behind the api.docs permission (not open to anyone).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = s
    if session_factory is None:
        engine = get_engine(s)

        def session_factory() -> Any:
            return session_scope(engine)

    app.state.session_factory = session_factory
    _install_error_handlers(app)
    _install_pages(app, s)

    for router in api_routers():
        app.include_router(router, prefix=API)
    return app


def _install_pages(app: FastAPI, s: Settings) -> None:
    """The pages: static files, signed session cookies (HttpOnly, SameSite, expiring), CSRF on every
    unsafe request outside the token-authenticated API (double-submit cookie, starlette-csrf)."""
    from recoup.web.session import SESSION_COOKIE

    secret = base64.b64encode(s.web_secret_bytes()).decode("ascii")
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for router in page_routers():
        app.include_router(router)
    # Order: Starlette runs the last added middleware first, so CSRF is checked before the session.
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=s.web_session_minutes * 60,
        same_site="lax",
        https_only=s.web_secure_cookies,
    )
    app.add_middleware(
        CSRFMiddleware,
        secret=secret,
        exempt_urls=[re.compile(r"^/api/")],
        cookie_secure=s.web_secure_cookies,
        cookie_samesite="strict",
    )


def page_routers() -> list[APIRouter]:
    """Every server-rendered page's router (no prefix, not in the OpenAPI schema)."""
    from recoup.web.admin_home import admin_routers
    from recoup.web.agencies_detail_pages import router as agency_detail_router
    from recoup.web.agencies_pages import router as agencies_pages_router
    from recoup.web.apidocs import router as docs_router
    from recoup.web.audit_pages import router as audit_router
    from recoup.web.case_actions import router as case_actions_router
    from recoup.web.case_page import router as case_router
    from recoup.web.collateral_pages import router as collateral_pages_router
    from recoup.web.complaints_holds import router as holds_router
    from recoup.web.complaints_pages import router as complaints_router
    from recoup.web.field import router as field_router
    from recoup.web.funding_pages import router as funding_pages_router
    from recoup.web.legal_pages import router as legal_router
    from recoup.web.morning import router as morning_router
    from recoup.web.pages import router as pages_router
    from recoup.web.privacy_pages import router as privacy_router
    from recoup.web.resolutions_pages import router as resolutions_pages_router
    from recoup.web.writeback_pages import router as writeback_pages_router

    return [
        pages_router,
        case_router,
        case_actions_router,
        morning_router,
        docs_router,
        privacy_router,
        resolutions_pages_router,
        audit_router,
        complaints_router,
        holds_router,
        field_router,
        legal_router,
        agencies_pages_router,
        agency_detail_router,
        writeback_pages_router,
        funding_pages_router,
        collateral_pages_router,
        *admin_routers(),
    ]


def api_routers() -> list[APIRouter]:
    """Every domain's API router (each mounted under :data:`API`)."""
    from recoup.agencies.views import router as agencies_router
    from recoup.auth.views import router as auth_router
    from recoup.cases.allocate_views import router as allocation_router
    from recoup.cases.assist_views import router as assists_router
    from recoup.cases.stop_views import router as stops_router
    from recoup.cases.views import router as cases_router
    from recoup.cases.visit_views import router as visits_router
    from recoup.cases.work_views import router as work_router
    from recoup.complaints.views import router as complaints_router
    from recoup.contact.views import router as channels_router
    from recoup.legal.sale_views import router as legal_sales_router
    from recoup.legal.views import router as legal_router
    from recoup.privacy.views import router as privacy_router
    from recoup.resolutions.views import router as resolutions_router
    from recoup.writeback.views import router as writeback_router

    return [
        auth_router,
        cases_router,
        work_router,
        allocation_router,
        stops_router,
        assists_router,
        visits_router,
        channels_router,
        privacy_router,
        resolutions_router,
        complaints_router,
        agencies_router,
        legal_router,
        legal_sales_router,
        writeback_router,
    ]


@dataclass(frozen=True)
class RouteInfo:
    """One API operation: its method, full path and the permission it requires (None: open)."""

    method: str
    path: str
    permission: str | None


def api_operations() -> list[RouteInfo]:
    """Every operation of the API with its permission, read from the routes themselves."""
    return [
        RouteInfo(method, API + route.path, permission_of(route))
        for router in api_routers()
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods or ())
    ]
