"""``recoup team`` and ``recoup staff``: the teams and the worker profiles allocation deals cases to.

``team_app`` and ``worker_app`` are mounted by :mod:`recoup.cli_mount` as ``team`` and ``staff`` (``recoup
worker`` is the outbox dispatcher).

* ``recoup team create NAME --kind KIND [--lead USERNAME] [--json]`` · ``recoup team list [--json]``
* ``recoup staff set USERNAME [--team NAME | --no-team] [--kind …] [--pools m1,m2m3] [--language zh,yue]
  [--product …] [--region …] [--cap N] [--weight W] [--minutes N] [--agency-code C]
  [--active/--inactive] [--json]`` creates the profile (model defaults for what is not given) or
  changes only the options given.
* ``recoup staff list [--team NAME] [--json]`` shows each worker with the open cases they hold now.

Lists given as options are comma-separated; an empty value (``--language ""``) clears the list. Every
error is a :class:`~recoup.errors.RecoupError` (``people.invalid``, ``not_found``, ``conflict``); with
``--json`` it is printed as the JSON envelope on stdout by the main CLI. The services are in
:mod:`recoup.cases.people`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from recoup.cases import people
from recoup.console import make_console
from recoup.db import upgraded_session
from recoup.i18n import _
from recoup.labels_domain import team_kind_label, worker_kind_label

__all__ = ["team_app", "worker_app"]

team_app = typer.Typer(
    help="Teams of collectors, field agents and agencies. 团队管理。", no_args_is_help=True
)
worker_app = typer.Typer(
    help="Worker profiles: team, pools, skills, caseload cap. 催收人员档案（团队、分案池、技能、上限）。",
    no_args_is_help=True,
)
console = make_console()

#: The actor recorded in the audit ledger for changes made from the command line.
ACTOR = "cli"
_SEPARATORS = re.compile(r"[,，、]")
_SKILL_LABEL = {"language": "lang", "product": "prod", "region": "region"}


def _split(text: str | None) -> list[str] | None:
    """``"m1, m2m3"`` → ``["m1", "m2m3"]``; ``""`` → ``[]`` (clear); None → None (not given)."""
    if text is None:
        return None
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


def _cell(value: object) -> Text:
    """A table cell shown as plain text (a name such as ``[red]`` is not Rich markup)."""
    return Text("" if value is None else str(value))


def _emit_json(obj: dict[str, Any]) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False))


# ---------------------------------------------------------------------------------------------- teams


@team_app.command("create")
def team_create(
    name: str = typer.Argument(..., help="Team name, unique (1–80 characters) / 团队名称（唯一）"),
    kind: str = typer.Option(
        ...,
        "--kind",
        help="collection, field, skip_trace, legal, verification or agency / 团队类型",
    ),
    lead: str | None = typer.Option(None, "--lead", help="The team lead's username / 组长用户名"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON"),
) -> None:
    """Create a team (audited). 创建团队。"""
    people.check_team_name(name)
    people.check_team_kind(kind)
    with upgraded_session() as session:
        team = people.do_create_team(name, kind, lead=lead, session=session, actor=ACTOR)
        team_id = team.id
    if as_json:
        _emit_json({"team": {"id": team_id, "name": name, "kind": kind, "lead": lead}})
        return
    led = _(", lead {lead}").format(lead=lead) if lead else ""
    text = _("created team {name} ({kind}{led}), id {id}").format(
        name=name, kind=team_kind_label(kind), led=led, id=team_id
    )
    console.print(Text(text), highlight=False)


@team_app.command("list")
def team_list(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON"),
) -> None:
    """List teams with their lead and number of workers. 列出团队。"""
    with upgraded_session() as session:
        rows = people.list_teams(session=session)
    if as_json:
        _emit_json(
            {
                "teams": [
                    {"id": r.id, "name": r.name, "kind": r.kind, "lead": r.lead, "members": r.members}
                    for r in rows
                ]
            }
        )
        return
    if not rows:
        typer.echo(_("no teams yet; create one with `recoup team create`"))
        return
    table = Table(title=_("Teams"), box=box.SIMPLE_HEAD)
    for header, right in (("ID", True), (_("Name"), False), (_("Kind"), False), (_("Lead"), False)):
        table.add_column(header, justify="right" if right else "left")
    table.add_column(_("Workers"), justify="right")
    for r in rows:
        kind = team_kind_label(r.kind)
        table.add_row(_cell(r.id), _cell(r.name), _cell(kind), _cell(r.lead or "—"), _cell(r.members))
    console.print(table)


# --------------------------------------------------------------------------------------------- workers


@worker_app.command("set")
def worker_set(
    username: str = typer.Argument(..., help="The user (see `recoup user list`) / 用户名"),
    team: str | None = typer.Option(None, "--team", help="Team name / 所属团队"),
    no_team: bool = typer.Option(False, "--no-team", help="Take the worker out of their team / 移出团队"),
    kind: str | None = typer.Option(None, "--kind", help="collector, field_agent or agency / 人员类型"),
    pools: str | None = typer.Option(
        None, "--pools", help="Allocation pools served, comma-separated (e.g. m1,m2m3) / 分案池"
    ),
    language: str | None = typer.Option(None, "--language", help="Languages, e.g. zh,yue / 语言"),
    product: str | None = typer.Option(None, "--product", help="Products, comma-separated / 产品"),
    region: str | None = typer.Option(None, "--region", help="Regions, comma-separated / 地区"),
    cap: int | None = typer.Option(None, "--cap", help="Caseload cap, ≥ 0 / 持案上限"),
    weight: float | None = typer.Option(None, "--weight", help="Performance weight, > 0 / 绩效权重"),
    minutes: int | None = typer.Option(None, "--minutes", help="Working minutes a day, 1–1440 / 每日工时"),
    agency_code: str | None = typer.Option(
        None, "--agency-code", help='The agency\'s code ("" clears it) / 委外机构代码'
    ),
    active: bool | None = typer.Option(
        None, "--active/--inactive", help="Whether the worker receives cases / 是否接案"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON"),
) -> None:
    """Create or update a worker profile; only the options given change (audited). 设置人员档案。"""
    if team is not None and no_team:
        raise people.PeopleError(
            "give --team or --no-team, not both / --team 与 --no-team 不能同时使用",
            details={"field": "team", "value": team},
        )
    skills = {
        skill: values
        for skill, values in (
            ("language", _split(language)),
            ("product", _split(product)),
            ("region", _split(region)),
        )
        if values is not None
    }
    pool_list = _split(pools)
    # Fail on bad values before touching (or creating) the database.
    if kind is not None:
        people.check_worker_kind(kind)
    if pool_list is not None:
        people.check_pools(pool_list)
    for skill, values in skills.items():
        people.check_skill_values(skill, values)
    people.check_worker_numbers(cap=cap, weight=weight, minutes=minutes)
    options: dict[str, Any] = {}
    if team is not None or no_team:
        options["team"] = None if no_team else team
    with upgraded_session() as session:
        change = people.do_set_worker(
            username,
            session=session,
            actor=ACTOR,
            kind=kind,
            pools=pool_list,
            skills=skills or None,
            cap=cap,
            weight=weight,
            daily_minutes=minutes,
            agency_code=agency_code,
            active=active,
            **options,
        )
        result = {"username": username, "created": change.created, "changed": sorted(change.changed)}
    if as_json:
        _emit_json(result)
        return
    if change.created:
        message = _("created the worker profile of {username}").format(username=username)
    elif change.changed:
        fields = ", ".join(change.changed)
        message = _("updated {username}: {fields}").format(username=username, fields=fields)
    else:
        message = _("{username} unchanged").format(username=username)
    console.print(Text(message), highlight=False)


@worker_app.command("list")
def worker_list(
    team: str | None = typer.Option(None, "--team", help="Only this team's workers / 仅列出该团队"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON"),
) -> None:
    """List worker profiles with the open cases each holds now. 列出人员及当前持案数。"""
    with upgraded_session() as session:
        rows = people.list_workers(session=session, team=team)
    if as_json:
        _emit_json(
            {
                "workers": [
                    {
                        "username": r.username,
                        "team": r.team,
                        "kind": r.kind,
                        "pools": r.pools,
                        "skills": r.skills,
                        "cap": r.cap,
                        "weight": r.weight,
                        "daily_minutes": r.daily_minutes,
                        "agency_code": r.agency_code,
                        "active": r.active,
                        "held": r.held,
                    }
                    for r in rows
                ]
            }
        )
        return
    if not rows:
        typer.echo(_("no worker profiles yet; add one with `recoup staff set`"))
        return
    table = Table(title=_("Workers"), box=box.SIMPLE_HEAD, pad_edge=False)
    for header, right, no_wrap in (
        (_("User"), False, False),
        (_("Team"), False, False),
        (_("Kind"), False, False),
        (_("Pools"), False, False),
        (_("Skills"), False, False),
        (_("Held/cap"), True, True),
        (_("Weight"), True, True),
        (_("Minutes"), True, True),
        (_("Takes cases"), False, True),
    ):
        table.add_column(header, justify="right" if right else "left", no_wrap=no_wrap, overflow="fold")
    for r in rows:
        skills = " ".join(
            f"{_SKILL_LABEL[s]}:{','.join(r.skills[s])}" for s in people.SKILLS if r.skills.get(s)
        )
        table.add_row(
            _cell(r.username),
            _cell(r.team or "—"),
            _cell(worker_kind_label(r.kind) + (f" ({r.agency_code})" if r.agency_code else "")),
            _cell(",".join(r.pools)),
            _cell(skills),
            _cell(f"{r.held}/{r.cap}"),
            _cell(f"{r.weight:g}"),
            _cell(r.daily_minutes),
            _cell(_("yes") if r.active else _("no")),
        )
    console.print(table)
