"""Teams and worker profiles: who holds cases, in which team, serving which allocation pools.

``check_*`` validate (pure, or reading the database); ``do_*`` write. Every function takes ``session``
as a keyword and never commits. Team creation and every profile change append an audit-ledger entry
(``team.create``, ``worker.set``) holding ids and field names only, never personal data.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.allocation import pool_order, pool_table
from recoup.cases.models import Case, Team, WorkerProfile
from recoup.cases.tables import ALLOCATION_POOLS
from recoup.errors import ConflictError, NotFoundError, RecoupError
from recoup.ledger.service import do_append

__all__ = [
    "SKILLS",
    "TEAM_KINDS",
    "WORKER_KINDS",
    "PeopleError",
    "TeamRow",
    "WorkerChange",
    "WorkerRow",
    "check_pools",
    "check_skill_values",
    "check_team_kind",
    "check_team_name",
    "check_team_name_free",
    "check_worker_kind",
    "check_worker_numbers",
    "do_create_team",
    "do_set_team_lead",
    "do_set_worker",
    "get_team",
    "get_user",
    "known_pools",
    "list_teams",
    "list_workers",
]

#: What a team does (``Team.kind``).
TEAM_KINDS: Final = ("collection", "field", "skip_trace", "legal", "verification", "agency")
#: Who a worker is (``WorkerProfile.kind``).
WORKER_KINDS: Final = ("collector", "field_agent", "agency")
#: The skill dimensions allocation matches on (keys of ``WorkerProfile.skills``).
SKILLS: Final = ("language", "product", "region")

MAX_TEAM_NAME: Final = 80  # Team.name is String(80)
MAX_AGENCY_CODE: Final = 64  # WorkerProfile.agency_code is String(64)
MAX_SKILL_VALUE: Final = 40
MAX_DAILY_MINUTES: Final = 24 * 60


class PeopleError(RecoupError):
    """A team or worker profile value is not acceptable; ``details`` name the field and the value."""

    code = "people.invalid"
    http_status = 422
    exit_code = 65  # EX_DATAERR


def _bad(field_name: str, value: object, en: str, zh: str) -> PeopleError:
    return PeopleError(f"{en} / {zh}", details={"field": field_name, "value": value})


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") for ch in text)


# ------------------------------------------------------------------------------------------------ lookups


def get_user(username: str, *, session: Session) -> AppUser:
    """The user called ``username``; NotFoundError if there is none."""
    user = session.scalars(select(AppUser).where(AppUser.username == username)).one_or_none()
    if user is None:
        raise NotFoundError(
            f"no user {username!r}; create one with `recoup user create` / 用户 {username!r} 不存在",
            details={"field": "username", "value": username},
        )
    return user


def get_team(name: str, *, session: Session) -> Team:
    """The team called ``name``; NotFoundError if there is none."""
    team = session.scalars(select(Team).where(Team.name == name)).one_or_none()
    if team is None:
        raise NotFoundError(
            f"no team {name!r}; create one with `recoup team create` / 团队 {name!r} 不存在",
            details={"field": "team", "value": name},
        )
    return team


# ------------------------------------------------------------------------------------------------ checks


def known_pools() -> list[str]:
    """The pools of the default allocation table (:data:`recoup.cases.tables.ALLOCATION_POOLS`), in order."""
    return pool_order(pool_table(ALLOCATION_POOLS))


def check_team_name(name: str) -> str:
    """A team name: 1–80 characters, no control characters, no surrounding spaces. Returns it."""
    if not name or name != name.strip() or len(name) > MAX_TEAM_NAME or _has_control(name):
        raise _bad(
            "name",
            name,
            f"a team name must be 1–{MAX_TEAM_NAME} characters without surrounding spaces or control "
            f"characters, not {name!r}",
            f"团队名称须为 1–{MAX_TEAM_NAME} 个字符，且首尾无空格",
        )
    return name


def check_team_name_free(name: str, *, session: Session) -> None:
    """ConflictError if a team is already called ``name``."""
    if session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise ConflictError(
            f"there is already a team called {name!r} / 团队 {name!r} 已存在",
            details={"field": "name", "value": name},
        )


def check_team_kind(kind: str) -> str:
    if kind not in TEAM_KINDS:
        raise _bad(
            "kind",
            kind,
            f"unknown team kind {kind!r}; one of {', '.join(TEAM_KINDS)}",
            f"未知的团队类型 {kind!r}",
        )
    return kind


def check_worker_kind(kind: str) -> str:
    if kind not in WORKER_KINDS:
        raise _bad(
            "kind",
            kind,
            f"unknown worker kind {kind!r}; one of {', '.join(WORKER_KINDS)}",
            f"未知的人员类型 {kind!r}",
        )
    return kind


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def check_pools(pools: Sequence[str], *, known: Sequence[str] | None = None) -> list[str]:
    """``pools`` (trimmed, without repeats) if each is a pool of the allocation table; else PeopleError
    naming the unknown ones and listing the known pools."""
    allowed = list(known) if known is not None else known_pools()
    wanted = _dedupe(pools)
    unknown = [p for p in wanted if p not in allowed]
    if unknown:
        raise PeopleError(
            f"unknown pool{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; the allocation table's "
            f"pools are {', '.join(allowed)} / 未知的分案池 {', '.join(unknown)}，可选：{', '.join(allowed)}",
            details={"field": "pools", "value": unknown, "known": allowed},
        )
    return wanted


def check_skill_values(skill: str, values: Sequence[str]) -> list[str]:
    """Skill values (a language, product or region code each): trimmed, without repeats, 1–40 characters."""
    if skill not in SKILLS:
        raise _bad("skills", skill, f"unknown skill {skill!r}; one of {', '.join(SKILLS)}", "未知的技能维度")
    wanted = _dedupe(values)
    for value in wanted:
        if len(value) > MAX_SKILL_VALUE or _has_control(value):
            raise _bad(
                skill,
                value[:MAX_SKILL_VALUE],
                f"a {skill} must be 1–{MAX_SKILL_VALUE} characters without control characters",
                f"{skill} 取值须为 1–{MAX_SKILL_VALUE} 个字符",
            )
    return wanted


def check_worker_numbers(
    *, cap: int | None = None, weight: float | None = None, minutes: int | None = None
) -> None:
    """Cap ≥ 0, weight > 0 (finite), daily minutes 1–1440; None means "not given"."""
    if cap is not None and cap < 0:
        raise _bad("cap", cap, f"the caseload cap must be 0 or more, not {cap}", "案件上限不能为负数")
    if weight is not None and not (math.isfinite(weight) and weight > 0):
        raise _bad("weight", weight, f"the weight must be a number above 0, not {weight}", "权重须大于 0")
    if minutes is not None and not 1 <= minutes <= MAX_DAILY_MINUTES:
        raise _bad(
            "daily_minutes",
            minutes,
            f"daily minutes must be 1–{MAX_DAILY_MINUTES}, not {minutes}",
            f"每日工作分钟数须为 1–{MAX_DAILY_MINUTES}",
        )


def _check_agency_code(code: str) -> str | None:
    code = code.strip()
    if len(code) > MAX_AGENCY_CODE or _has_control(code):
        raise _bad(
            "agency_code",
            code[:MAX_AGENCY_CODE],
            f"an agency code must be at most {MAX_AGENCY_CODE} characters without control characters",
            f"机构代码最多 {MAX_AGENCY_CODE} 个字符",
        )
    return code or None


# ------------------------------------------------------------------------------------------------ teams


def do_create_team(
    name: str, kind: str, *, lead: str | None = None, session: Session, actor: str = "cli"
) -> Team:
    """Create a team (``lead``: the team lead's username); audited as ``team.create``."""
    check_team_name(name)
    check_team_kind(kind)
    lead_user = get_user(lead, session=session) if lead is not None else None
    check_team_name_free(name, session=session)
    team = Team(name=name, kind=kind, lead_id=lead_user.id if lead_user else None)
    try:
        with session.begin_nested():  # a concurrent team of the same name fails here, not at commit
            session.add(team)
    except IntegrityError:
        raise ConflictError(
            f"there is already a team called {name!r} / 团队 {name!r} 已存在",
            details={"field": "name", "value": name},
        ) from None
    do_append(
        "team.create",
        {"team_id": team.id, "kind": kind, "lead_id": team.lead_id},
        session=session,
        actor=actor,
    )
    return team


def do_set_team_lead(name: str, lead: str | None, *, session: Session, actor: str = "cli") -> bool:
    """Make ``lead`` (a username; None: nobody) the lead of team ``name``; audited as ``team.lead``.
    Returns whether it changed."""
    team = get_team(name, session=session)
    lead_id = get_user(lead, session=session).id if lead is not None else None
    if team.lead_id == lead_id:
        return False
    before, team.lead_id = team.lead_id, lead_id
    session.flush()
    do_append(
        "team.lead",
        {"team_id": team.id, "lead_id": lead_id, "previous_lead_id": before},
        session=session,
        actor=actor,
    )
    return True


@dataclass(frozen=True)
class TeamRow:
    id: int
    name: str
    kind: str
    lead: str | None
    members: int


def list_teams(*, session: Session) -> list[TeamRow]:
    """Every team by name, with its lead's username and its number of worker profiles."""
    members = dict(
        session.execute(
            select(WorkerProfile.team_id, func.count())
            .where(WorkerProfile.team_id.is_not(None))
            .group_by(WorkerProfile.team_id)
        ).all()
    )
    rows = session.execute(
        select(Team, AppUser.username).outerjoin(AppUser, AppUser.id == Team.lead_id).order_by(Team.name)
    ).all()
    return [TeamRow(t.id, t.name, t.kind, lead, int(members.get(t.id, 0))) for t, lead in rows]


# ------------------------------------------------------------------------------------------------ workers


@dataclass(frozen=True)
class WorkerChange:
    """What :func:`do_set_worker` did: the profile, whether it was new, and the fields it changed."""

    profile: WorkerProfile
    created: bool
    changed: tuple[str, ...]


_UNSET: Any = object()


def do_set_worker(
    username: str,
    *,
    session: Session,
    actor: str = "cli",
    team: str | None = _UNSET,
    kind: str | None = None,
    pools: Sequence[str] | None = None,
    skills: Mapping[str, Sequence[str]] | None = None,
    cap: int | None = None,
    weight: float | None = None,
    daily_minutes: int | None = None,
    agency_code: str | None = None,
    active: bool | None = None,
) -> WorkerChange:
    """Create or update ``username``'s worker profile. None leaves a field as it is (a new profile gets
    the model's defaults); ``team=None`` takes the worker out of their team, an omitted ``team`` keeps it;
    ``agency_code=""`` clears it; a skill given as an empty list clears that skill.

    Audited as ``worker.set`` (user id, team id, created, the names of the changed fields) when
    anything changed."""
    user = get_user(username, session=session)
    team_row = get_team(team, session=session) if team is not _UNSET and team is not None else None
    if kind is not None:
        check_worker_kind(kind)
    clean_pools = check_pools(pools) if pools is not None else None
    clean_skills = {s: check_skill_values(s, v) for s, v in (skills or {}).items()}
    check_worker_numbers(cap=cap, weight=weight, minutes=daily_minutes)
    code = _check_agency_code(agency_code) if agency_code is not None else _UNSET

    profile = session.get(WorkerProfile, user.id)
    created = profile is None
    if profile is None:  # inserted with the model's defaults, then changed like an existing one
        profile = WorkerProfile(user_id=user.id)
        session.add(profile)
        session.flush()
    wanted: dict[str, Any] = {}
    if team is not _UNSET:
        wanted["team_id"] = team_row.id if team_row else None
    if kind is not None:
        wanted["kind"] = kind
    if clean_pools is not None:
        wanted["pools"] = clean_pools
    if clean_skills:
        merged = {k: list(v) for k, v in (profile.skills or {}).items()}
        for skill, values in clean_skills.items():
            if values:
                merged[skill] = values
            else:
                merged.pop(skill, None)
        wanted["skills"] = merged
    if cap is not None:
        wanted["cap"] = cap
    if weight is not None:
        wanted["weight"] = float(weight)
    if daily_minutes is not None:
        wanted["daily_minutes"] = daily_minutes
    if code is not _UNSET:
        wanted["agency_code"] = code
    if active is not None:
        wanted["active"] = active

    changed = [name for name, value in wanted.items() if getattr(profile, name) != value]
    for name in changed:
        setattr(profile, name, wanted[name])
    session.flush()
    if created or changed:
        do_append(
            "worker.set",
            {
                "user_id": user.id,
                "team_id": profile.team_id,
                "created": created,
                "fields": sorted(changed),
            },
            session=session,
            actor=actor,
        )
    return WorkerChange(profile=profile, created=created, changed=tuple(changed))


@dataclass(frozen=True)
class WorkerRow:
    user_id: int
    username: str
    team: str | None
    kind: str
    pools: list[str]
    skills: dict[str, list[str]] = field(default_factory=dict)
    cap: int = 0
    weight: float = 1.0
    daily_minutes: int = 0
    agency_code: str | None = None
    active: bool = True
    held: int = 0


def list_workers(*, session: Session, team: str | None = None) -> list[WorkerRow]:
    """Every worker profile by username (only ``team``'s when given), with the number of open cases each
    holds now."""
    query = (
        select(WorkerProfile, AppUser.username, Team.name)
        .join(AppUser, AppUser.id == WorkerProfile.user_id)
        .outerjoin(Team, Team.id == WorkerProfile.team_id)
        .order_by(AppUser.username)
    )
    if team is not None:
        query = query.where(WorkerProfile.team_id == get_team(team, session=session).id)
    rows = session.execute(query).all()
    ids = [p.user_id for p, _, _ in rows]
    held = (
        dict(
            session.execute(
                select(Case.holder_id, func.count())
                .where(Case.holder_id.in_(ids), Case.status == "open")
                .group_by(Case.holder_id)
            ).all()
        )
        if ids
        else {}
    )
    return [
        WorkerRow(
            user_id=p.user_id,
            username=username,
            team=team_name,
            kind=p.kind,
            pools=list(p.pools or []),
            skills={k: list(v) for k, v in (p.skills or {}).items()},
            cap=p.cap,
            weight=p.weight,
            daily_minutes=p.daily_minutes,
            agency_code=p.agency_code,
            active=p.active,
            held=int(held.get(p.user_id, 0)),
        )
        for p, username, team_name in rows
    ]
