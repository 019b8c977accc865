"""Bearer tokens for API clients: short-lived access tokens from a password sign-in, and named personal
tokens for integrations. Services take ``session`` and never commit.

A token is 32 random bytes (URL-safe base64) behind a kind prefix (``rca_`` access, ``rcp_`` personal);
only its SHA-256 is stored, so a database read does not leak usable tokens. Lookup is by that hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Final, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from recoup.auth.models import ApiToken, AppUser
from recoup.auth.service import AuthenticationError, authenticate
from recoup.db import utcnow
from recoup.errors import AuthError, NotFoundError
from recoup.ledger.service import do_append

Kind = Literal["access", "personal"]
PREFIX: Final[dict[str, str]] = {"access": "rca_", "personal": "rcp_"}
MAX_PERSONAL_DAYS: Final = 366
#: ``last_used_at`` is written at most this often per token (a busy integration must not write per call).
_TOUCH_EVERY: Final = dt.timedelta(minutes=5)


class TokenError(AuthError):
    """A missing, unknown, expired or revoked bearer token (one message for all)."""

    code = "auth.invalid_token"
    http_status = 401


@dataclass(frozen=True)
class IssuedToken:
    """A token as issued: ``token`` is shown once and never stored."""

    id: int
    token: str
    kind: str
    name: str
    expires_at: dt.datetime | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _issue(
    user: AppUser, kind: Kind, name: str, expires_at: dt.datetime | None, *, session: Session
) -> IssuedToken:
    token = PREFIX[kind] + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        kind=kind,
        name=name,
        token_hash=_digest(token),
        prefix=token[:12],
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return IssuedToken(id=row.id, token=token, kind=kind, name=name, expires_at=expires_at)


def do_sign_in(username: str, password: str, *, minutes: int, session: Session) -> IssuedToken:
    """Check the password (:func:`~recoup.auth.service.authenticate`) and issue an access token valid for
    ``minutes``. Old expired access tokens of the user are removed on the way."""
    user = authenticate(username, password, session=session)
    now = utcnow()
    session.execute(
        delete(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.kind == "access", ApiToken.expires_at < now
        )
    )
    return _issue(user, "access", "sign-in", now + dt.timedelta(minutes=minutes), session=session)


def check_personal_token(name: str, days: int | None) -> None:
    """A personal token needs a name (1–80 characters) and at most :data:`MAX_PERSONAL_DAYS` of validity."""
    if not 1 <= len(name.strip()) <= 80:
        raise AuthError(
            "a personal token needs a name of 1–80 characters / 个人令牌需要 1–80 个字符的名称",
            details={"field": "name"},
        )
    if days is not None and not 1 <= days <= MAX_PERSONAL_DAYS:
        raise AuthError(
            f"validity must be 1–{MAX_PERSONAL_DAYS} days / 有效期须为 1–{MAX_PERSONAL_DAYS} 天",
            details={"field": "days", "value": days},
        )


def do_issue_personal_token(user: AppUser, name: str, *, days: int | None, session: Session) -> IssuedToken:
    """A named token for an integration (expires after ``days``, or never when None); audited."""
    check_personal_token(name, days)
    expires = utcnow() + dt.timedelta(days=days) if days else None
    issued = _issue(user, "personal", name.strip(), expires, session=session)
    do_append(
        "auth.token_issued",
        {"user_id": user.id, "token_id": issued.id, "kind": "personal"},
        session=session,
        actor=user.username,
    )
    return issued


def list_tokens(user: AppUser, *, session: Session) -> list[ApiToken]:
    """The user's personal tokens, newest first (never the token itself)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.kind == "personal")
            .order_by(ApiToken.id.desc())
        )
    )


def do_revoke_token(user: AppUser, token_id: int, *, session: Session, actor: str) -> ApiToken:
    """Revoke one of ``user``'s tokens (NotFoundError when it is not theirs); audited."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError(f"no token {token_id} / 令牌 {token_id} 不存在", details={"token_id": token_id})
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        do_append(
            "auth.token_revoked", {"user_id": user.id, "token_id": row.id}, session=session, actor=actor
        )
    return row


def resolve_token(token: str, *, session: Session) -> AppUser:
    """The active user a bearer token belongs to; :class:`TokenError` when it is unknown, expired,
    revoked or its user is disabled."""
    bad = TokenError("invalid or expired token; sign in again / 令牌无效或已过期，请重新登录")
    if not token.startswith(tuple(PREFIX.values())) or len(token) > 100:
        raise bad
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token))).one_or_none()
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise bad
    user = session.get(AppUser, row.user_id)
    if user is None or not user.is_active:
        raise bad
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return user


__all__ = [
    "AuthenticationError",
    "IssuedToken",
    "TokenError",
    "check_personal_token",
    "do_issue_personal_token",
    "do_revoke_token",
    "do_sign_in",
    "list_tokens",
    "resolve_token",
]
