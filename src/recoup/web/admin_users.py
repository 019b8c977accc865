"""Administration of users (``/admin/users``): the list with roles, language and team, creating a user
with roles (and a worker profile in a team), changing roles and language, deactivating and reactivating,
resetting a password; and the role × permission table. Services: :mod:`recoup.auth.service` (create),
:mod:`recoup.auth.accounts` (change), :mod:`recoup.cases.people` (worker profiles). Each change is
audited by the service or here (``user.create``); see :mod:`recoup.web.admin_home` for the rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup import labels_domain
from recoup.auth import accounts
from recoup.auth.models import AppUser, Role
from recoup.auth.service import (
    LOCALES,
    PERMISSIONS,
    InvalidUserError,
    do_create_user,
    list_users,
)
from recoup.cases import people
from recoup.errors import ConflictError, RecoupError
from recoup.web.admin_home import AdminViewer, UserManager, admin_page, audit, done, error_page
from recoup.web.deps import DbSession
from recoup.web.labels import N_
from recoup.web.pages import tr

router = APIRouter(include_in_schema=False)

ROLE_LABELS = labels_domain.ROLE
LOCALE_LABELS = {"zh_CN": "中文", "en": "English"}
SKILL_LABELS = {"language": N_("Languages"), "product": N_("Products"), "region": N_("Regions")}
WORKER_KIND_LABELS = labels_domain.WORKER_KIND


def _roles(session: Session) -> list[Role]:
    return list(session.scalars(select(Role).order_by(Role.id)))


def _list_context(session: Session) -> dict[str, Any]:
    workers = {w.username: w for w in people.list_workers(session=session)}
    roles = _roles(session)
    matrix = [
        (perm, text, [("*" in r.permissions or perm in r.permissions) for r in roles])
        for perm, text in PERMISSIONS.items()
    ]
    return {
        "users": list_users(session=session),
        "workers": workers,
        "roles": roles,
        "matrix": matrix,
        "teams": people.list_teams(session=session),
        "locales": LOCALES,
        "locale_labels": LOCALE_LABELS,
        "role_labels": ROLE_LABELS,
        "worker_kinds": people.WORKER_KINDS,
        "worker_kind_labels": WORKER_KIND_LABELS,
        "form": {},
    }


@router.get("/admin/users")
def users_page(request: Request, user: AdminViewer, session: DbSession) -> Response:
    return admin_page(request, user, "admin_users.html", _list_context(session), section="users")


@router.post("/admin/users")
def create_user(
    request: Request,
    user: UserManager,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    roles: Annotated[list[str], Form()],
    display_name: Annotated[str, Form(max_length=120)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    locale: Annotated[str, Form(max_length=10)] = "zh_CN",
    team: Annotated[str, Form(max_length=80)] = "",
    worker_kind: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Create an active user with ``roles``; with a team or a worker kind, their worker profile too.
    All or nothing: a bad team leaves no user behind."""
    name = username.strip()
    try:
        with session.begin_nested():
            created = do_create_user(
                name,
                password,
                roles=roles,
                display_name=display_name,
                email=email,
                locale=locale,
                session=session,
            )
            audit(session, user, "user.create", {"user_id": created.id, "roles": sorted(created.role_names)})
            if team or worker_kind:
                people.do_set_worker(
                    name,
                    session=session,
                    actor=user.username,
                    team=team or None,
                    kind=worker_kind or None,
                )
    except RecoupError as exc:
        ctx = _list_context(session)
        ctx["form"] = {
            "username": name,
            "display_name": display_name,
            "email": email,
            "locale": locale,
            "roles": roles,
            "team": team,
            "worker_kind": worker_kind,
        }
        return error_page(request, user, "admin_users.html", ctx, exc, section="users", here="/admin/users")
    message = tr(request, user, "User created") + f": {name}"
    return done(request, f"/admin/users/{created.id}", message)


def _user_context(target: AppUser, session: Session) -> dict[str, Any]:
    profile = next((w for w in people.list_workers(session=session) if w.user_id == target.id), None)
    return {
        "target": target,
        "profile": profile,
        "roles": _roles(session),
        "teams": people.list_teams(session=session),
        "locales": LOCALES,
        "locale_labels": LOCALE_LABELS,
        "role_labels": ROLE_LABELS,
        "worker_kinds": people.WORKER_KINDS,
        "worker_kind_labels": WORKER_KIND_LABELS,
        "pools": people.known_pools(),
        "skills": people.SKILLS,
        "skill_labels": SKILL_LABELS,
    }


@router.get("/admin/users/{user_id}")
def user_page(user_id: int, request: Request, user: AdminViewer, session: DbSession) -> Response:
    target = accounts.get_user_by_id(user_id, session=session)
    return admin_page(request, user, "admin_user.html", _user_context(target, session), section="users")


def _target(user_id: int, username: str, session: Session) -> AppUser:
    """The user the form was about: the hidden ``username`` must still name the same account."""
    target = accounts.get_user_by_id(user_id, session=session)
    if target.username != username:
        raise ConflictError(
            "the form was for another account; reload the page / 表单与账号不一致，请刷新页面",
            details={"user_id": user_id},
        )
    return target


def _change(
    request: Request, user: AppUser, session: Session, user_id: int, username: str, action: Any
) -> Response:
    """Run ``action(target)`` in a savepoint; the user's page again with the result or the error."""
    here = f"/admin/users/{user_id}"
    try:
        with session.begin_nested():
            target = _target(user_id, username, session)
            message = action(target)
    except RecoupError as exc:
        target = accounts.get_user_by_id(user_id, session=session)
        ctx = _user_context(target, session)
        return error_page(request, user, "admin_user.html", ctx, exc, section="users", here=here)
    return done(request, here, str(message))


@router.post("/admin/users/{user_id}/profile")
def change_profile(
    user_id: int,
    request: Request,
    user: UserManager,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    locale: Annotated[str, Form(max_length=10)],
    roles: Annotated[list[str], Form()],
    display_name: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    """Display name, language and roles (never the last ``user.manage`` of the person doing it)."""

    def action(target: AppUser) -> str:
        accounts.check_not_self_lockout(target, user, session=session, roles=roles)
        fields = accounts.do_set_profile(
            target, session=session, actor=user.username, display_name=display_name, locale=locale
        )
        changed = accounts.do_set_roles(target, roles, session=session, actor=user.username)
        if not fields and not changed:
            return tr(request, user, "Nothing changed")
        return tr(request, user, "Saved")

    return _change(request, user, session, user_id, username, action)


@router.post("/admin/users/{user_id}/active")
def change_active(
    user_id: int,
    request: Request,
    user: UserManager,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    active: Annotated[bool, Form()],
) -> Response:
    """Deactivate (sessions and API tokens stop at once) or reactivate an account."""

    def action(target: AppUser) -> str:
        accounts.check_not_self_lockout(target, user, session=session, active=active)
        accounts.do_set_active(target, active, session=session, actor=user.username)
        if active:
            return tr(request, user, "Account reactivated")
        return tr(request, user, "Account deactivated")

    return _change(request, user, session, user_id, username, action)


@router.post("/admin/users/{user_id}/password")
def reset_password(
    user_id: int,
    request: Request,
    user: UserManager,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    password2: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Set a new password (typed twice); the account's API tokens are revoked."""

    def action(target: AppUser) -> str:
        if password != password2:
            raise InvalidUserError(
                "the two passwords differ / 两次输入的密码不一致", details={"field": "password2"}
            )
        accounts.do_reset_password(target, password, session=session, actor=user.username)
        return tr(request, user, "Password reset; tell the user through a separate channel")

    return _change(request, user, session, user_id, username, action)


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").replace("、", ",").split(",") if p.strip()]


@router.post("/admin/users/{user_id}/worker")
def change_worker(
    user_id: int,
    request: Request,
    user: UserManager,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    kind: Annotated[str, Form(max_length=20)],
    team: Annotated[str, Form(max_length=80)] = "",
    pools: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    language: Annotated[str, Form(max_length=200)] = "",
    product: Annotated[str, Form(max_length=200)] = "",
    region: Annotated[str, Form(max_length=200)] = "",
    cap: Annotated[int, Form(ge=0, le=1_000_000)] = 500,
    weight: Annotated[float, Form(gt=0, le=1000)] = 1.0,
    daily_minutes: Annotated[int, Form(ge=1, le=1440)] = 420,
    agency_code: Annotated[str, Form(max_length=64)] = "",
    receives_cases: Annotated[bool, Form()] = False,
) -> Response:
    """The worker profile allocation reads: team, kind, pools, skills, cap, weight, minutes, agency."""

    def action(target: AppUser) -> str:
        change = people.do_set_worker(
            target.username,
            session=session,
            actor=user.username,
            team=team or None,
            kind=kind,
            pools=pools,
            skills={"language": _split(language), "product": _split(product), "region": _split(region)},
            cap=cap,
            weight=weight,
            daily_minutes=daily_minutes,
            agency_code=agency_code,
            active=receives_cases,
        )
        if not change.created and not change.changed:
            return tr(request, user, "Nothing changed")
        return tr(request, user, "Worker profile saved")

    return _change(request, user, session, user_id, username, action)
