"""Signing in to the pages: a signed, HttpOnly, SameSite session cookie (Starlette's SessionMiddleware,
itsdangerous), expiry, login throttling, and the page counterpart of :func:`recoup.web.deps.require`.

A page that needs a user and finds none redirects to ``/login?next=…``; a user without the page's
permission sees a 403 page. The permission is declared exactly as for the API (one table).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import PERMISSIONS, has_permission
from recoup.auth.tokens import TokenError, resolve_token
from recoup.errors import AuthError, RecoupError
from recoup.web.deps import DbSession, ForbiddenError, bearer

SESSION_COOKIE: Final = "recoup_session"


@dataclass(frozen=True)
class UserView:
    """What a page shows of the signed-in user, independent of the database session."""

    id: int
    username: str
    display_name: str
    locale: str


#: Failed sign-ins allowed per username (and per client address) within :data:`THROTTLE_WINDOW_S`.
THROTTLE_MAX: Final = 5
THROTTLE_WINDOW_S: Final = 15 * 60


class SignInRequired(RecoupError):
    """A page needs a signed-in user (the handler redirects to /login)."""

    code = "auth.sign_in_required"
    http_status = 401


class TooManyAttemptsError(AuthError):
    code = "auth.throttled"
    http_status = 429


class LoginThrottle:
    """Failed sign-ins per key (username, client address) in a sliding window, per process."""

    def __init__(self, limit: int = THROTTLE_MAX, window_s: float = THROTTLE_WINDOW_S) -> None:
        self.limit, self.window = limit, window_s
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        """:class:`TooManyAttemptsError` when any key had ``limit`` failures in the window."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                q = self._recent(key, now)
                if len(q) >= self.limit:
                    wait = int(q[0] + self.window - now) + 1
                    raise TooManyAttemptsError(
                        f"too many failed sign-ins; try again in {wait // 60 + 1} min"
                        " / 登录失败次数过多，请稍后再试",
                        details={"retry_after_s": wait},
                    )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._fails.pop(key, None)


def sign_in(request: Request, user: AppUser, *, minutes: int) -> None:
    """Start a session for ``user`` (a fresh session: nothing of the anonymous one is kept)."""
    request.session.clear()
    request.session.update({"uid": user.id, "exp": int(time.time()) + minutes * 60, "v": 1})


def sign_out(request: Request) -> None:
    request.session.clear()


def _page_user(request: Request, session: DbSession) -> AppUser:
    data = request.session
    uid, exp = data.get("uid"), data.get("exp")
    if not isinstance(uid, int) or not isinstance(exp, int) or exp < time.time():
        data.clear()
        raise SignInRequired("sign in first / 请先登录")
    user = session.get(AppUser, uid)
    if user is None or not user.is_active:
        data.clear()
        raise SignInRequired("sign in first / 请先登录")
    request.state.user = user
    # A plain copy for error pages rendered after the unit of work ended (the ORM row is then expired).
    request.state.user_view = UserView(user.id, user.username, user.display_name, user.locale)
    return user


PageUser = Annotated[AppUser, Depends(_page_user)]


def require_page(permission: str) -> Any:
    """The signed-in user if they hold ``permission`` (403 page otherwise; the sign-in page if nobody)."""
    if permission not in PERMISSIONS:
        raise RecoupError(f"unknown permission {permission!r} in a page declaration")

    def _check(user: PageUser) -> AppUser:
        if not has_permission(user, permission):
            raise ForbiddenError(
                f"you do not have the permission {permission} / 您没有 {permission} 权限",
                details={"permission": permission},
            )
        return user

    _check.permission = permission  # type: ignore[attr-defined]
    return Depends(_check)


def session_user(request: Request, session: Session) -> AppUser | None:
    """The signed-in user of ``request`` if any (for pages that also serve anonymous visitors)."""
    try:
        return _page_user(request, session)
    except SignInRequired:
        return None


def require_reader(permission: str, *, api: bool = False) -> Any:
    """Like :func:`require_page`, but a bearer token (the API's sign-in) is accepted too — for what both
    browsers and API clients read (the OpenAPI document and its docs page). With neither, an ``api``
    route answers 401 ``auth.invalid_token`` like the API; a page sends the browser to sign in."""
    if permission not in PERMISSIONS:
        raise RecoupError(f"unknown permission {permission!r} in a page declaration")

    def _check(
        request: Request, session: DbSession, token: Annotated[str | None, Depends(bearer)]
    ) -> AppUser:
        if token:
            user = resolve_token(token, session=session)
            request.state.user = user
        elif api and "uid" not in request.session:
            raise TokenError("sign in first: send `Authorization: Bearer <token>` / 请先登录")
        else:
            user = _page_user(request, session)
        if not has_permission(user, permission):
            raise ForbiddenError(
                f"you do not have the permission {permission} / 您没有 {permission} 权限",
                details={"permission": permission},
            )
        return user

    _check.permission = permission  # type: ignore[attr-defined]
    return Depends(_check)
