"""``recoup legal …``: legal matters and limitation periods from the command line.

* ``recoup legal stages`` — the stage table (moves, deadlines, what interrupts the limitation period).
* ``recoup legal matters [--status open|closed] [--stage S]`` · ``recoup legal show MATTER``
* ``recoup legal open CASE --by USER --reason TEXT [--court C] [--claim 1234.50] [--loan L …]
  [--time-barred-ok]`` · ``recoup legal move MATTER STAGE --by USER --reason TEXT [--result R]
  [--recovered AMOUNT]`` · ``recoup legal cost MATTER --by USER --kind K --amount A --on D``
* ``recoup legal deadlines [--days 30]`` — open deadlines due within the days, and past ones.
* ``recoup legal limitation refresh [--as-of D]`` · ``recoup legal limitation watch [--days 90]
  [--as-of D]`` · ``recoup legal limitation record CASE --loan L --kind K --on D --evidence REF --by USER``

``--by`` names the user acting (an active user holding the permission the API route needs:
``legal.manage``); it is who the audit ledger records. Every command takes ``--json`` (one JSON object on
stdout; errors as the JSON envelope on stderr) and exits with the error's status (docs/errors.md):
65 refused or invalid, 66 not found, 77 not allowed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import get_user, has_permission
from recoup.config import get_settings
from recoup.console import make_console
from recoup.db import upgraded_session, utcnow
from recoup.errors import AuthError, MoneyError, NotFoundError, parse_day
from recoup.i18n import _
from recoup.labels_domain import (
    legal_cost_label,
    legal_deadline_label,
    legal_stage_label,
    legal_status_label,
    limitation_event_label,
)
from recoup.legal.common import missing, refuse
from recoup.money import parse_amount, to_decimal_string

__all__ = ["acting_user", "app", "limitation_app"]

app = typer.Typer(help="Legal matters and limitation periods. 法律案件与诉讼时效。", no_args_is_help=True)
limitation_app = typer.Typer(
    help="Limitation periods (3 years, 民法典 §188): refresh, watch list, restart events. 诉讼时效。",
    no_args_is_help=True,
)
app.add_typer(limitation_app, name="limitation")
console = make_console()

JSON = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON")
BY = typer.Option(..., "--by", help="The user acting (recorded in the audit ledger) / 操作人用户名")


class CliPermissionError(AuthError):
    """The user named with ``--by`` lacks the permission the command needs."""

    code = "legal.cli_forbidden"


def acting_user(username: str, permission: str, *, session: Session) -> AppUser:
    """The active user ``username`` if they hold ``permission``."""
    user = get_user(username.strip(), session=session)
    if user is None or not user.is_active:
        raise NotFoundError(f"no active user {username!r} / 用户不存在或已停用", details={"user": username})
    if not has_permission(user, permission):
        raise CliPermissionError(
            f"{username} does not hold {permission} / {username} 没有 {permission} 权限",
            details={"user": username, "permission": permission},
        )
    return user


def emit(obj: dict[str, Any]) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, default=str))


def amount(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_amount(text, minor_digits=get_settings().minor_digits)
    except MoneyError as exc:
        raise refuse(option, f"{option}: {exc.message}", f"{option} 金额无效") from None


def yuan(minor: int | None) -> str:
    return to_decimal_string(int(minor or 0), get_settings().minor_digits)


def today() -> dt.date:
    return utcnow().astimezone(get_settings().tz).date()


def table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    t = Table(title=title, box=box.SIMPLE_HEAD)
    for h in headers:
        t.add_column(h)
    for r in rows:
        t.add_row(*(Text("" if v is None else str(v)) for v in r))
    console.print(t)


# ------------------------------------------------------------------------------------------------ matters


@app.command("stages")
def stages_cmd(as_json: bool = JSON) -> None:
    """The stages of a legal matter and the moves between them. 法律案件阶段表。"""
    from recoup.legal import stages

    data = stages.table()
    if as_json:
        emit(data)
        return
    moves: dict[str, list[str]] = data["moves"]  # type: ignore[assignment]
    table(
        _("Stages ({version})").format(version=data["version"]),
        [_("Stage"), _("May move to")],
        [[legal_stage_label(k), ", ".join(legal_stage_label(s) for s in v) or "—"] for k, v in moves.items()],
    )


def _matter_dict(m: Any) -> dict[str, Any]:
    return {
        "id": m.id,
        "case_id": m.case_id,
        "stage": m.stage,
        "status": m.status,
        "court": m.court,
        "court_case_number": m.court_case_number,
        "claim_amount": yuan(m.claim_amount),
        "result": m.result,
        "opened_by": m.opened_by,
        "limitation_date": m.limitation_date,
    }


@app.command("matters")
def matters_cmd(
    status: str = typer.Option("open", "--status", help="open or closed / 状态"),
    stage: str | None = typer.Option(None, "--stage", help="Only this stage / 仅此阶段"),
    as_json: bool = JSON,
) -> None:
    """List legal matters. 列出法律案件。"""
    from recoup.legal.matters import list_matters

    with upgraded_session() as session:
        rows = [_matter_dict(m) for m in list_matters(session=session, status=status or None, stage=stage)]
    if as_json:
        emit({"matters": rows})
        return
    if not rows:
        typer.echo(_("no legal matter"))
        return
    table(
        _("Legal matters"),
        ["ID", _("Case"), _("Stage"), _("Court"), _("Court case number"), _("Claim")],
        [
            [
                r["id"],
                r["case_id"],
                legal_stage_label(r["stage"]),
                r["court"],
                r["court_case_number"],
                r["claim_amount"],
            ]
            for r in rows
        ],
    )


@app.command("show")
def show_cmd(matter_id: int = typer.Argument(..., min=1), as_json: bool = JSON) -> None:
    """A matter with its moves, costs, documents and deadlines. 查看法律案件。"""
    from recoup.legal.matters import matter_detail
    from recoup.legal.models import LegalMatter

    with upgraded_session() as session:
        m = session.get(LegalMatter, matter_id)
        if m is None:
            raise missing("matter", matter_id)
        d = matter_detail(m, session=session)
        out = {
            **_matter_dict(m),
            "loan_ids": [a.loan_id for a in d.accounts],
            "allowed_moves": d.allowed,
            "moves": [
                {"from": x.from_stage, "to": x.to_stage, "on": x.on, "by": x.actor, "reason": x.reason}
                for x in d.moves
            ],
            "costs": [{"kind": c.kind, "amount": yuan(c.amount), "on": c.incurred_on} for c in d.costs],
            "cost_total": yuan(d.cost_total),
            "documents": [{"kind": x.kind, "title": x.title, "reference": x.reference} for x in d.documents],
            "deadlines": [
                {"id": x.id, "kind": x.kind, "due_on": x.due_on, "status": x.status} for x in d.deadlines
            ],
        }
    if as_json:
        emit({"matter": out})
        return
    text = _("matter {id} · case {case} · {stage} ({status}) · claim {claim} · costs {costs} · next: {next}")
    console.print(
        Text(
            text.format(
                id=out["id"],
                case=out["case_id"],
                stage=legal_stage_label(out["stage"]),
                status=legal_status_label(out["status"]),
                claim=out["claim_amount"],
                costs=out["cost_total"],
                next=", ".join(legal_stage_label(s) for s in out["allowed_moves"]) or "—",
            )
        )
    )
    table(
        _("Moves"),
        [_("On"), _("From stage"), _("To stage"), _("By"), _("Reason")],
        [
            [x["on"], legal_stage_label(x["from"]), legal_stage_label(x["to"]), x["by"], x["reason"]]
            for x in out["moves"]
        ],
    )
    if out["deadlines"]:
        table(
            _("Deadlines"),
            ["ID", _("Kind"), _("Due"), _("Status")],
            [
                [x["id"], legal_deadline_label(x["kind"]), x["due_on"], legal_status_label(x["status"])]
                for x in out["deadlines"]
            ],
        )


@app.command("open")
def open_cmd(
    case_id: int = typer.Argument(..., min=1),
    by: str = BY,
    reason: str = typer.Option(..., "--reason", help="Why / 立案理由"),
    court: str | None = typer.Option(None, "--court", help="Court / 法院"),
    claim: str | None = typer.Option(None, "--claim", help="Amount claimed, e.g. 12000.00 / 标的金额"),
    loans: list[str] = typer.Option([], "--loan", help="Only these debts (repeat) / 仅这些借据"),
    time_barred_ok: bool = typer.Option(
        False, "--time-barred-ok", help="Open even if time-barred / 确认已过时效"
    ),
    as_json: bool = JSON,
) -> None:
    """Open a legal matter on a case (the case moves into legal). 立案。"""
    from recoup.cases.access import get_visible_case
    from recoup.legal.matters import do_open_matter

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        case = get_visible_case(case_id, user, session=session)
        matter, tasks = do_open_matter(
            case,
            session=session,
            actor=user,
            reason=reason,
            court=court,
            claim_amount=amount(claim, "--claim"),
            loan_ids=loans or None,
            acknowledge_time_barred=time_barred_ok,
        )
        out = {**_matter_dict(matter), "tasks_completed": tasks}
    if as_json:
        emit({"matter": out})
        return
    console.print(
        Text(
            _("opened legal matter {id} on case {case} ({stage}); {n} legal review task(s) completed").format(
                id=out["id"], case=case_id, stage=legal_stage_label(out["stage"]), n=len(tasks)
            )
        )
    )


@app.command("move")
def move_cmd(
    matter_id: int = typer.Argument(..., min=1),
    stage: str = typer.Argument(..., help="The stage to move to / 目标阶段"),
    by: str = BY,
    reason: str = typer.Option(..., "--reason"),
    result: str | None = typer.Option(None, "--result", help="With stage result: paid, settled … / 结果"),
    recovered: str | None = typer.Option(
        None, "--recovered", help="Amount recovered, with a result / 回收金额"
    ),
    as_json: bool = JSON,
) -> None:
    """Move a matter to another stage. 推进阶段。"""
    from recoup.legal.matters import do_move_stage, get_matter

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        get_matter(matter_id, user, session=session)
        mv = do_move_stage(
            matter_id,
            stage,
            session=session,
            actor=user,
            reason=reason,
            result=result,
            recovered_amount=amount(recovered, "--recovered"),
        )
        out = {"matter_id": matter_id, "from": mv.from_stage, "to": mv.to_stage, "on": mv.on}
    if as_json:
        emit({"move": out})
        return
    moved = f"{legal_stage_label(out['from'])} → {legal_stage_label(out['to'])}"
    console.print(Text(_("matter {id}: {moved}").format(id=matter_id, moved=moved)))


@app.command("cost")
def cost_cmd(
    matter_id: int = typer.Argument(..., min=1),
    by: str = BY,
    kind: str = typer.Option(..., "--kind", help="court_fee, lawyer_fee, preservation … / 费用类型"),
    amount_text: str = typer.Option(..., "--amount", help="e.g. 350.00 / 金额"),
    on: str = typer.Option(..., "--on", help="YYYY-MM-DD"),
    note: str = typer.Option("", "--note"),
    as_json: bool = JSON,
) -> None:
    """Record a cost of a matter. 记录费用。"""
    from recoup.legal.matters import do_add_cost, get_matter

    day = parse_day(on, "--on")
    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        get_matter(matter_id, user, session=session)
        minor = amount(amount_text, "--amount")
        assert minor is not None
        c = do_add_cost(
            matter_id, session=session, actor=user, kind=kind, amount=minor, incurred_on=day, note=note
        )
        out = {
            "id": c.id,
            "matter_id": matter_id,
            "kind": c.kind,
            "amount": yuan(c.amount),
            "on": c.incurred_on,
        }
    if as_json:
        emit({"cost": out})
        return
    text = _("cost {id}: {kind} {amount} on matter {matter}").format(
        id=out["id"], kind=legal_cost_label(out["kind"]), amount=out["amount"], matter=matter_id
    )
    console.print(Text(text))


@app.command("deadlines")
def deadlines_cmd(
    days: int = typer.Option(30, "--days", min=0, max=3660, help="Due within this many days / 天内到期"),
    as_json: bool = JSON,
) -> None:
    """Open deadlines of legal matters, earliest first. 法律期限。"""
    from recoup.legal.matters import open_deadlines

    with upgraded_session() as session:
        rows = [
            {"id": d.id, "matter_id": d.matter_id, "kind": d.kind, "due_on": d.due_on, "note": d.note}
            for d in open_deadlines(session=session, until=today() + dt.timedelta(days=days))
        ]
    if as_json:
        emit({"deadlines": rows})
        return
    if not rows:
        typer.echo(_("no open deadline"))
        return
    table(
        _("Deadlines"),
        ["ID", _("Matter"), _("Kind"), _("Due"), _("Note")],
        [[r["id"], r["matter_id"], legal_deadline_label(r["kind"]), r["due_on"], r["note"]] for r in rows],
    )


# --------------------------------------------------------------------------------------------- limitation


@limitation_app.command("refresh")
def refresh_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD (default today) / 日期"),
    as_json: bool = JSON,
) -> None:
    """Compute every open debt's limitation date and flag time-barred borrowers (the daily cycle does it
    too). 计算诉讼时效并标记已过时效的借款人。"""
    from recoup.legal.limitation import WATCH_DAYS, do_refresh_limitations, lake_payments

    day = parse_day(as_of) if as_of else today()
    with upgraded_session() as session:
        s = get_settings()
        r = do_refresh_limitations(
            day,
            session=session,
            lake_payments=lake_payments(session=session, settings=s, as_of=day),
            actor="cli",
        )
    out = {
        "as_of": r.as_of,
        "debts": r.debts,
        "barred": r.barred,
        "approaching": r.approaching,
        "flagged": r.flagged,
        "cleared": r.cleared,
    }
    if as_json:
        emit(out)
        return
    text = _(
        "{debts} debts: {barred} time-barred, {approaching} within {days} days; "
        "flag set on {flagged}, cleared on {cleared} borrower(s)"
    )
    counts = {"flagged": len(r.flagged), "cleared": len(r.cleared), "days": WATCH_DAYS}
    console.print(
        Text(f"{day}: " + text.format(debts=r.debts, barred=r.barred, approaching=r.approaching, **counts))
    )


@limitation_app.command("watch")
def watch_cmd(
    days: int = typer.Option(90, "--days", min=0, max=3660, help="Within this many days / 天内到期"),
    as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD (default today)"),
    as_json: bool = JSON,
) -> None:
    """Debts approaching their limitation date, and those already time-barred. 诉讼时效预警清单。"""
    from recoup.legal.limitation import watch_list
    from recoup.pii import mask_name

    day = parse_day(as_of) if as_of else today()
    with upgraded_session() as session:
        rows = [
            {
                "case_id": r.case_id,
                "loan_id": r.loan_id,
                "borrower": mask_name(r.borrower_name),
                "limitation_date": r.limitation_date,
                "days_left": r.days_left,
                "time_barred": r.time_barred,
                "last_event": f"{r.last_event_kind} {r.last_event_on}",
                "overdue": yuan(r.overdue_amount),
            }
            for r in watch_list(session=session, as_of=day, within_days=days)
        ]
    if as_json:
        emit({"as_of": day, "days": days, "debts": rows})
        return
    if not rows:
        typer.echo(_("no debt reaches its limitation date within {days} days").format(days=days))
        return
    heads = [_("Case"), _("Loan"), _("Borrower"), _("Limitation date"), _("Days left"), _("Time-barred")]
    for r in rows:  # the last event as words: "demand 2026-03-01" → "催告 2026-03-01"
        kind, _sep, on = str(r["last_event"]).partition(" ")
        r.update(
            time_barred=_("yes") if r["time_barred"] else "",
            last_event=f"{limitation_event_label(kind)} {on}",
        )
    title = _("Limitation watch {day} (+{days} days)").format(day=day, days=days)
    table(title, [*heads, _("Last event"), _("Overdue")], [list(r.values()) for r in rows])


@limitation_app.command("record")
def record_cmd(
    case_id: int = typer.Argument(..., min=1),
    loan: str = typer.Option(..., "--loan", help="The debt / 借据号"),
    kind: str = typer.Option(..., "--kind", help="acknowledgement, demand, legal_action or acceleration"),
    on: str = typer.Option(..., "--on", help="YYYY-MM-DD"),
    evidence: str = typer.Option(..., "--evidence", help="Where the evidence is kept / 证据位置"),
    by: str = BY,
    note: str = typer.Option("", "--note"),
    as_json: bool = JSON,
) -> None:
    """Record an event that restarts (or starts) a debt's limitation period. 记录时效中断事件。"""
    from sqlalchemy import select

    from recoup.cases.access import get_visible_case
    from recoup.legal.limitation import do_record_event
    from recoup.portfolio.models import CollectionAccount

    day = parse_day(on, "--on")
    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        get_visible_case(case_id, user, session=session)
        account = session.scalars(
            select(CollectionAccount).where(
                CollectionAccount.case_id == case_id, CollectionAccount.external_id == loan
            )
        ).one_or_none()
        if account is None:
            raise refuse("--loan", f"{loan} is not a debt of case {case_id}", "不是本案件的借据")
        ev = do_record_event(
            account, session=session, actor=user, kind=kind, on=day, evidence_ref=evidence, note=note
        )
        out = {"id": ev.id, "loan_id": loan, "kind": ev.kind, "on": ev.on}
    if as_json:
        emit({"event": out})
        return
    text = _("recorded {kind} on {day} for {loan}; the next refresh counts it").format(
        kind=limitation_event_label(kind), day=day, loan=loan
    )
    console.print(Text(text))
