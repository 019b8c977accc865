"""Request dependencies: the unit of work, the signed-in user and the permission a route needs.

Every route that needs a user names ONE permission with :func:`require`; :func:`permission_of` reads it
back from the route, so the tests walk every route against every role of the permission table
(:data:`recoup.auth.service.PERMISSIONS` × :data:`recoup.auth.service.DEFAULT_ROLES`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated, Any, Final, TypeVar

from annotated_types import Ge, Le
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import PERMISSIONS, has_permission
from recoup.auth.tokens import TokenError, resolve_token
from recoup.db import writing
from recoup.errors import AuthError, RecoupError
from recoup.pii import PiiCipher, cipher_from_settings

SessionFactory = Callable[[], AbstractContextManager[Session]]

#: The largest row id (the tables' ``INTEGER`` keys; PostgreSQL's int4).
MAX_ID: Final = 2**31 - 1
#: A row id in a path or a body: 1 … :data:`MAX_ID` (a larger number is a 422, never a database error).
DbId = Annotated[int, Ge(1), Le(MAX_ID)]

bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class ForbiddenError(AuthError):
    """The signed-in user lacks the permission the route requires."""

    code = "auth.forbidden"
    http_status = 403


SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITES = "recoup_writes"

E = TypeVar("E", bound=Callable[..., Any])


def writes(endpoint: E) -> E:
    """Mark a GET route that writes (an audit record, a setting), so its unit of work takes the write
    lock up front like every POST does (see :func:`recoup.db.writing`)."""
    setattr(endpoint, _WRITES, True)
    return endpoint


#: Seconds a process reuses the PII cipher (its key is checked against the database's fingerprint
#: when made; a rotated key is picked up within this time).
CIPHER_TTL_S: Final = 60.0


def cipher_of(request: Request) -> PiiCipher:
    """The installation's PII cipher, made once per :data:`CIPHER_TTL_S` per process (making it reads
    the key files and the database's key fingerprint, which is too slow for every page)."""
    state = request.app.state
    cached: tuple[float, PiiCipher] | None = getattr(state, "pii_cipher", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > CIPHER_TTL_S:
        cached = (now, cipher_from_settings(state.settings))
        state.pii_cipher = cached
    return cached[1]


def _unit_of_work(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the route returns, rolled back on any error.
    Declared with ``scope="function"`` so the commit happens before the response is sent. A request
    that may write (any unsafe method, or a route marked :func:`writes`) declares it before its first
    read, so on SQLite concurrent writers queue for the lock instead of failing on a stale snapshot."""
    factory: SessionFactory = request.app.state.session_factory
    with factory() as session:
        endpoint = getattr(request.scope.get("route"), "endpoint", None)
        if request.method not in SAFE_METHODS or getattr(endpoint, _WRITES, False):
            writing(session)
        yield session


DbSession = Annotated[Session, Depends(_unit_of_work, scope="function")]


def _current_user(
    request: Request, session: DbSession, token: Annotated[str | None, Depends(bearer)]
) -> AppUser:
    if not token:
        raise TokenError("sign in first: send `Authorization: Bearer <token>` / 请先登录")
    user = resolve_token(token, session=session)
    request.state.user = user
    return user


CurrentUser = Annotated[AppUser, Depends(_current_user)]


def require(permission: str) -> Any:
    """A dependency giving the signed-in user if they hold ``permission``; 403 ``auth.forbidden`` if not."""
    if permission not in PERMISSIONS:
        raise RecoupError(f"unknown permission {permission!r} in a route declaration")

    def _check(user: CurrentUser) -> AppUser:
        if not has_permission(user, permission):
            raise ForbiddenError(
                f"you do not have the permission {permission} / 您没有 {permission} 权限",
                details={"permission": permission},
            )
        return user

    _check.permission = permission  # type: ignore[attr-defined]
    return Depends(_check)


def permission_of(route: Any) -> str | None:
    """The permission a route declared through :func:`require` (None for open routes)."""
    dependant = getattr(route, "dependant", None)
    for dep in dependant.dependencies if dependant is not None else []:
        perm = getattr(dep.call, "permission", None)
        if perm:
            return str(perm)
    return None
