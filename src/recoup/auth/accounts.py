"""Changing existing users: roles, language and display name, deactivation, password resets.

:mod:`recoup.auth.service` creates users and checks passwords; this module changes them afterwards (the
administration pages call it). Every function takes ``session`` as a keyword, never commits and appends
an audit-ledger entry (``user.*``) holding the user's id, the field names and the acting username —
never the password, its hash, or the e-mail address.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from recoup.auth.models import ApiToken, AppUser
from recoup.auth.service import (
    LOCALES,
    InvalidUserError,
    check_password,
    check_roles,
    hash_password,
)
from recoup.db import utcnow
from recoup.errors import NotFoundError
from recoup.ledger.service import do_append

__all__ = [
    "check_not_self_lockout",
    "do_reset_password",
    "do_set_active",
    "do_set_profile",
    "do_set_roles",
    "get_user_by_id",
]

#: A user may not take this permission from themselves (nobody would be left to give it back).
MANAGE = "user.manage"


def get_user_by_id(user_id: int, *, session: Session) -> AppUser:
    """The user with id ``user_id``; NotFoundError if there is none."""
    user = session.get(AppUser, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id} / 用户不存在", details={"user_id": user_id})
    return user


def check_not_self_lockout(
    user: AppUser,
    actor: AppUser,
    *,
    session: Session,
    active: bool = True,
    roles: Sequence[str] | None = None,
) -> None:
    """Refuse a change that would leave ``actor`` (changing their own account) unable to manage users:
    deactivating themselves, or keeping no role that grants :data:`MANAGE`."""
    if user.id != actor.id:
        return
    if not active:
        raise InvalidUserError(
            "you cannot deactivate your own account / 不能停用自己的账号", details={"field": "active"}
        )
    if roles is not None:
        grants = ("*", MANAGE, MANAGE.split(".")[0] + ".*")
        if not any(p in grants for r in check_roles(roles, session=session) for p in r.permissions):
            raise InvalidUserError(
                f"you cannot take {MANAGE} from yourself / 不能移除自己的 {MANAGE} 权限",
                details={"field": "roles"},
            )


def do_set_roles(user: AppUser, roles: Sequence[str], *, session: Session, actor: str) -> bool:
    """Give ``user`` exactly ``roles`` (at least one, each existing); audited as ``user.roles``.
    Returns whether anything changed."""
    if not roles:
        raise InvalidUserError(
            "a user needs at least one role / 至少需要一个角色", details={"field": "roles"}
        )
    found = check_roles(roles, session=session)
    before = sorted(user.role_names)
    after = sorted(r.name for r in found)
    if before == after:
        return False
    user.roles = found
    session.flush()
    do_append(
        "user.roles",
        {"user_id": user.id, "before": before, "after": after},
        session=session,
        actor=actor,
    )
    return True


def do_set_active(user: AppUser, active: bool, *, session: Session, actor: str) -> bool:
    """Deactivate (sign-in refused, sessions and API tokens stop working at once: tokens are revoked) or
    reactivate ``user``; audited as ``user.deactivate`` / ``user.reactivate``. Returns whether it changed."""
    if user.is_active == active:
        return False
    user.is_active = active
    revoked = 0
    if not active:
        result = session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        revoked = int(getattr(result, "rowcount", 0) or 0)
    session.flush()
    do_append(
        "user.reactivate" if active else "user.deactivate",
        {"user_id": user.id, "tokens_revoked": revoked},
        session=session,
        actor=actor,
    )
    return True


def do_reset_password(user: AppUser, password: str, *, session: Session, actor: str) -> None:
    """Set a new password (checked like a new user's); audited as ``user.password_reset`` (never the
    password). The user's API tokens are revoked: a reset usually means the old secret is not trusted."""
    check_password(password)
    user.password_hash = hash_password(password)
    tokens = list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
    )
    now = utcnow()
    for token in tokens:
        token.revoked_at = now
    session.flush()
    do_append(
        "user.password_reset",
        {"user_id": user.id, "tokens_revoked": len(tokens)},
        session=session,
        actor=actor,
    )


def do_set_profile(
    user: AppUser, *, session: Session, actor: str, display_name: str | None = None, locale: str | None = None
) -> tuple[str, ...]:
    """Change the display name and/or the pages' language; audited as ``user.profile`` with the names of
    the changed fields. Returns them."""
    changed: list[str] = []
    if display_name is not None:
        name = display_name.strip()
        if len(name) > 120 or any(not ch.isprintable() for ch in name):
            raise InvalidUserError(
                "a display name is at most 120 printable characters / 显示名称最多 120 个字符",
                details={"field": "display_name"},
            )
        if name != user.display_name:
            user.display_name = name
            changed.append("display_name")
    if locale is not None:
        if locale not in LOCALES:
            raise InvalidUserError(
                f"unsupported locale {locale!r}; one of {', '.join(LOCALES)} / 不支持的语言",
                details={"field": "locale", "value": locale},
            )
        if locale != user.locale:
            user.locale = locale
            changed.append("locale")
    if changed:
        session.flush()
        do_append("user.profile", {"user_id": user.id, "fields": changed}, session=session, actor=actor)
    return tuple(changed)
