"""Administration of teams (``/admin/teams``): the teams with their lead and members, creating one,
changing its lead, adding and removing members, and every worker profile with the cases held now.

Agencies are not a table of their own in this version: an agency is a team of the kind ``agency``
(:data:`recoup.cases.people.TEAM_KINDS`) whose members are worker profiles of the kind ``agency``
carrying the agency's code. The page lists them as a section of their own and says so. Services:
:mod:`recoup.cases.people` (the same functions as ``recoup team`` and ``recoup staff``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from recoup import labels_domain
from recoup.auth.service import list_users
from recoup.cases import people
from recoup.cases.models import Team
from recoup.errors import ConflictError, NotFoundError, RecoupError
from recoup.web.admin_home import AdminViewer, UserManager, admin_page, done, error_page
from recoup.web.admin_users import WORKER_KIND_LABELS
from recoup.web.deps import DbSession
from recoup.web.pages import tr

router = APIRouter(include_in_schema=False)

TEAM_KIND_LABELS = labels_domain.TEAM_KIND


def _list_context(session: Session) -> dict[str, Any]:
    teams = people.list_teams(session=session)
    return {
        "teams": [t for t in teams if t.kind != "agency"],
        "agencies": [t for t in teams if t.kind == "agency"],
        "workers": people.list_workers(session=session),
        "users": [u for u in list_users(session=session) if u.is_active],
        "team_kinds": people.TEAM_KINDS,
        "team_kind_labels": TEAM_KIND_LABELS,
        "worker_kind_labels": WORKER_KIND_LABELS,
        "form": {},
    }


@router.get("/admin/teams")
def teams_page(request: Request, user: AdminViewer, session: DbSession) -> Response:
    return admin_page(request, user, "admin_teams.html", _list_context(session), section="teams")


@router.post("/admin/teams")
def create_team(
    request: Request,
    user: UserManager,
    session: DbSession,
    name: Annotated[str, Form(max_length=80)],
    kind: Annotated[str, Form(max_length=20)],
    lead: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A new team (or agency, kind ``agency``) with an optional lead; audited as ``team.create``."""
    try:
        with session.begin_nested():
            team = people.do_create_team(
                name.strip(), kind, lead=lead or None, session=session, actor=user.username
            )
    except RecoupError as exc:
        ctx = _list_context(session)
        ctx["form"] = {"name": name, "kind": kind, "lead": lead}
        return error_page(request, user, "admin_teams.html", ctx, exc, section="teams", here="/admin/teams")
    return done(request, f"/admin/teams/{team.id}", tr(request, user, "Team created") + f": {team.name}")


def _team(team_id: int, session: Session) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFoundError(f"no team with id {team_id} / 团队不存在", details={"team_id": team_id})
    return team


def _team_context(team: Team, session: Session) -> dict[str, Any]:
    row = next(t for t in people.list_teams(session=session) if t.id == team.id)
    members = people.list_workers(session=session, team=team.name)
    in_team = {m.username for m in members}
    return {
        "team": row,
        "members": members,
        "candidates": [u for u in list_users(session=session) if u.is_active and u.username not in in_team],
        "users": [u for u in list_users(session=session) if u.is_active],
        "team_kind_labels": TEAM_KIND_LABELS,
        "worker_kind_labels": WORKER_KIND_LABELS,
    }


@router.get("/admin/teams/{team_id}")
def team_page(team_id: int, request: Request, user: AdminViewer, session: DbSession) -> Response:
    team = _team(team_id, session)
    return admin_page(request, user, "admin_team.html", _team_context(team, session), section="teams")


def _team_change(
    request: Request, user: Any, session: Session, team_id: int, team_name: str, action: Any
) -> Response:
    here = f"/admin/teams/{team_id}"
    try:
        with session.begin_nested():
            team = _team(team_id, session)
            if team.name != team_name:
                raise ConflictError(
                    "the form was for another team; reload the page / 表单与团队不一致，请刷新页面",
                    details={"team_id": team_id},
                )
            message = action(team)
    except RecoupError as exc:
        team = _team(team_id, session)
        ctx = _team_context(team, session)
        return error_page(request, user, "admin_team.html", ctx, exc, section="teams", here=here)
    return done(request, here, str(message))


@router.post("/admin/teams/{team_id}/lead")
def set_lead(
    team_id: int,
    request: Request,
    user: UserManager,
    session: DbSession,
    team_name: Annotated[str, Form(max_length=80)],
    lead: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The team lead (who gets the team's overdue-deadline tasks); empty: nobody."""

    def action(team: Team) -> str:
        changed = people.do_set_team_lead(team.name, lead or None, session=session, actor=user.username)
        return tr(request, user, "Team lead saved") if changed else tr(request, user, "Nothing changed")

    return _team_change(request, user, session, team_id, team_name, action)


@router.post("/admin/teams/{team_id}/members")
def add_member(
    team_id: int,
    request: Request,
    user: UserManager,
    session: DbSession,
    team_name: Annotated[str, Form(max_length=80)],
    username: Annotated[str, Form(max_length=64)],
) -> Response:
    """Put a user in the team (their worker profile is created with the defaults if they had none; an
    agency team's new member is of the kind agency)."""

    def action(team: Team) -> str:
        kind = "agency" if team.kind == "agency" else None
        change = people.do_set_worker(
            username, session=session, actor=user.username, team=team.name, kind=kind
        )
        if not change.created and not change.changed:
            return tr(request, user, "Nothing changed")
        return tr(request, user, "Member added") + f": {username}"

    return _team_change(request, user, session, team_id, team_name, action)


@router.post("/admin/teams/{team_id}/members/remove")
def remove_member(
    team_id: int,
    request: Request,
    user: UserManager,
    session: DbSession,
    team_name: Annotated[str, Form(max_length=80)],
    username: Annotated[str, Form(max_length=64)],
) -> Response:
    """Take a user out of the team (their worker profile stays, without a team)."""

    def action(team: Team) -> str:
        members = {w.username for w in people.list_workers(session=session, team=team.name)}
        if username not in members:
            raise NotFoundError(f"{username} is not in team {team.name} / 该用户不在此团队")
        people.do_set_worker(username, session=session, actor=user.username, team=None)
        return tr(request, user, "Member removed") + f": {username}"

    return _team_change(request, user, session, team_id, team_name, action)
