"""``recoup agency …`` (the register, placements, recalls, statements) and ``recoup report agencies``.

:func:`mount` adds the ``agency`` group to the ``recoup`` app and the ``agencies`` command to the
``report`` group. Changes made here are recorded with the actor ``cli`` (the lender's operator), or the
user named with ``--by`` where a person must be named (confirmations). Every error is a
:class:`~recoup.errors.RecoupError` with its code and exit status; with ``--json`` the main CLI prints
it as the JSON envelope on stderr.
"""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from recoup.agencies.cli_common import (
    ACTOR,
    JSON_OPT,
    app,
    console,
    emit,
    parse_date,
    staff_app,
    today,
)
from recoup.agencies.placement_cli import report_agencies
from recoup.db import upgraded_session
from recoup.i18n import _, ngettext
from recoup.labels_domain import agency_problem_label, agency_status_label

__all__ = ["app", "mount", "report_agencies"]

# --- the register -------------------------------------------------------------------------------------


@app.command("register")
def register_cmd(
    code: str = typer.Argument(..., help="The agency's code / 机构代码"),
    name: str = typer.Option(..., "--name", help="The agency's name / 机构名称"),
    team: str | None = typer.Option(
        None, "--team", help="An existing team of the kind agency / 已有委外团队"
    ),
    note: str = typer.Option("", "--note"),
    as_json: bool = JSON_OPT,
) -> None:
    """Register an agency (a white-list candidate) with its team. 登记委外机构。"""
    from recoup.agencies.register import do_register_agency

    with upgraded_session() as session:
        a = do_register_agency(code, name, team=team, note=note, session=session, actor=ACTOR)
        out = {"id": a.id, "code": a.code, "name": a.name, "status": a.status, "team_id": a.team_id}
    if as_json:
        emit({"agency": out})
        return
    console.print(
        Text(_("registered agency {code} ({name}): a white-list candidate").format(code=code, name=name))
    )


@app.command("list")
def list_cmd(as_json: bool = JSON_OPT) -> None:
    """The agency register with each agency's standing today. 机构名册（白名单）。"""
    from recoup.agencies.queries import agency_rows

    with upgraded_session() as session:
        rows: list[dict[str, Any]] = [
            {
                "code": r.agency.code,
                "name": r.agency.name,
                "team": r.team,
                "status": r.agency.status,
                "review_due": r.agency.review_due,
                "pipl_contract": r.agency.pipl_contract,
                "active": r.active,
                "pending_notice": r.pending,
                "problems": [c for c, _m in r.problems],
            }
            for r in agency_rows(today(), session=session)
        ]
    if as_json:
        emit({"agencies": rows})
        return
    if not rows:
        typer.echo(_("no agency yet: `recoup agency register CODE --name …`"))
        return
    table = Table(title=_("Agencies"), box=box.SIMPLE_HEAD)
    for h in (_("Code"), _("Name"), _("Status"), _("Review due"), "PIPL", _("Placed"), _("May place?")):
        table.add_column(h)
    for r in rows:
        table.add_row(
            Text(r["code"]),
            Text(r["name"]),
            agency_status_label(r["status"]),
            str(r["review_due"] or "—"),
            "✓" if r["pipl_contract"] else "✗",
            str(r["active"]),
            _("yes") if not r["problems"] else ", ".join(agency_problem_label(p) for p in r["problems"]),
        )
    console.print(table)


@app.command("pipl")
def pipl_cmd(
    code: str = typer.Argument(...),
    ref: str = typer.Option("", "--ref", help="The processing contract's reference / 协议编号"),
    signed_on: str = typer.Option(..., "--signed-on", help="YYYY-MM-DD"),
    withdraw: bool = typer.Option(False, "--withdraw", help="The contract ended: no new placement"),
) -> None:
    """Record the PIPL Art. 21 personal-information processing contract. 个人信息委托处理协议。"""
    from recoup.agencies.register import do_set_pipl_contract, get_agency

    on = parse_date(signed_on, "--signed-on")
    assert on is not None
    with upgraded_session() as session:
        a = get_agency(code, session=session)
        do_set_pipl_contract(a, ref=ref, signed_on=on, signed=not withdraw, session=session, actor=ACTOR)
    text = (
        _("{code}: PIPL processing contract withdrawn")
        if withdraw
        else _("{code}: PIPL processing contract recorded")
    )
    typer.echo(text.format(code=code))


@app.command("contract")
def contract_cmd(
    code: str = typer.Argument(...),
    ref: str = typer.Option(..., "--ref"),
    start: str = typer.Option(..., "--start", help="YYYY-MM-DD"),
    end: str = typer.Option(..., "--end", help="YYYY-MM-DD"),
    rate: list[str] = typer.Option(..., "--rate", help="BUCKET:FROM=RATE,… e.g. M4:0=10%,20%=15% (repeat)"),
    complaint_penalty: str = typer.Option("0", "--complaint-penalty", help="per complaint, e.g. 500.00"),
    qa_penalty: str = typer.Option("0", "--qa-penalty", help="per red-line QA finding, e.g. 200.00"),
) -> None:
    """Add a service contract with its rate card (tiers by recovery rate) and penalties. 委外合同。"""
    from recoup.agencies.register import do_add_contract, get_agency, parse_rate_specs
    from recoup.money import parse_amount

    s, e = parse_date(start, "--start"), parse_date(end, "--end")
    assert s is not None and e is not None
    rates = parse_rate_specs(rate)
    with upgraded_session() as session:
        a = get_agency(code, session=session)
        c = do_add_contract(
            a,
            ref=ref,
            start=s,
            end=e,
            rates=rates,
            complaint_penalty=parse_amount(complaint_penalty),
            qa_penalty=parse_amount(qa_penalty),
            session=session,
            actor=ACTOR,
        )
        cid = c.id
    typer.echo(
        _("{code}: contract {ref} ({start} – {end}) recorded, id {id}").format(
            code=code, ref=ref, start=s, end=e, id=cid
        )
    )


@app.command("review")
def review_cmd(
    code: str = typer.Argument(...),
    outcome: str = typer.Option(..., "--outcome", help="pass or fail"),
    on: str | None = typer.Option(None, "--on", help="YYYY-MM-DD (default today)"),
    note: str = typer.Option("", "--note"),
) -> None:
    """The yearly review: pass white-lists the agency for a year; fail suspends it. 年度评估。"""
    from recoup.agencies.register import do_review, get_agency

    day = parse_date(on, "--on") or today()
    with upgraded_session() as session:
        a = get_agency(code, session=session)
        do_review(a, outcome=outcome, on=day, note=note, session=session, actor=ACTOR)
        status, due = a.status, a.review_due
    typer.echo(
        f"{code}: {agency_status_label(status)}"
        + (_(", next review due {due}").format(due=due) if due else "")
    )


@app.command("status")
def status_cmd(
    code: str = typer.Argument(...),
    status: str = typer.Argument(..., help="suspended or removed"),
    reason: str = typer.Option(..., "--reason"),
) -> None:
    """Suspend an agency, or remove it from the white list (its placements are recalled). 暂停/移出。"""
    from recoup.agencies.register import do_set_status, get_agency

    with upgraded_session() as session:
        a = get_agency(code, session=session)
        recalled = do_set_status(a, status, reason=reason, on=today(), session=session, actor=ACTOR)
    n = ngettext("{n} placement recalled", "{n} placements recalled", len(recalled)).format(n=len(recalled))
    typer.echo(f"{code}: {agency_status_label(status)}; {n}")


@staff_app.command("add")
def staff_add(
    code: str = typer.Argument(...),
    username: str = typer.Argument(...),
    joined: str | None = typer.Option(None, "--joined", help="YYYY-MM-DD (default today)"),
    title: str = typer.Option("collector", "--title"),
    certificate: str | None = typer.Option(None, "--certificate", help="qualification certificate no."),
) -> None:
    """Put a user of the role agency on the agency's staff register. 登记委外人员。"""
    from recoup.agencies.register import get_agency
    from recoup.agencies.staff import do_add_staff

    with upgraded_session() as session:
        a = get_agency(code, session=session)
        do_add_staff(
            a,
            username,
            joined_on=parse_date(joined, "--joined") or today(),
            title=title,
            certificate_no=certificate,
            session=session,
            actor=ACTOR,
        )
    typer.echo(_("{username} is on {code}'s staff register").format(username=username, code=code))


@staff_app.command("leave")
def staff_leave(
    code: str = typer.Argument(...),
    username: str = typer.Argument(...),
    on: str | None = typer.Option(None, "--on", help="YYYY-MM-DD (default today)"),
) -> None:
    """Take a staff member off the register (their access ends at once). 人员离岗。"""
    from recoup.agencies.register import get_agency
    from recoup.agencies.staff import do_end_staff

    with upgraded_session() as session:
        a = get_agency(code, session=session)
        do_end_staff(a, username, left_on=parse_date(on, "--on") or today(), session=session, actor=ACTOR)
    typer.echo(_("{username} left {code}'s register").format(username=username, code=code))


@staff_app.command("train")
def staff_train(
    code: str = typer.Argument(...),
    username: str = typer.Argument(...),
    course: str = typer.Option(..., "--course"),
    completed: str | None = typer.Option(None, "--completed", help="YYYY-MM-DD (default today)"),
    expires: str | None = typer.Option(None, "--expires", help="YYYY-MM-DD"),
    certificate_ref: str | None = typer.Option(None, "--certificate-ref"),
) -> None:
    """Record a training a staff member completed. 记录培训。"""
    from recoup.agencies.register import get_agency
    from recoup.agencies.staff import do_record_training

    with upgraded_session() as session:
        a = get_agency(code, session=session)
        do_record_training(
            a,
            username,
            course=course,
            completed_on=parse_date(completed, "--completed") or today(),
            expires_on=parse_date(expires, "--expires"),
            certificate_ref=certificate_ref,
            session=session,
            actor=ACTOR,
        )
    typer.echo(_("{username}: training recorded").format(username=username))


@staff_app.command("list")
def staff_list(code: str = typer.Argument(...), as_json: bool = JSON_OPT) -> None:
    """The agency's staff register with each one's latest training. 人员名册。"""
    from recoup.agencies.register import get_agency
    from recoup.agencies.staff import staff_rows

    with upgraded_session() as session:
        rows = staff_rows(get_agency(code, session=session).id, today(), session=session)
    if as_json:
        emit({"staff": rows})
        return
    table = Table(title=_("{code} staff register").format(code=code), box=box.SIMPLE_HEAD)
    for h in (_("User"), _("Title"), _("Certificate"), _("Joined"), _("Training"), _("Valid")):
        table.add_column(h)
    for r in rows:
        table.add_row(
            Text(r["username"]),
            Text(r["title"]),
            Text(r["certificate_no"] or "—"),
            str(r["joined_on"]),
            Text(f"{r['course'] or '—'} ({r['trained_on'] or '—'} → {r['training_expires'] or '∞'})"),
            "✓" if r["trained"] else "✗",
        )
    console.print(table)


def mount(root: typer.Typer) -> None:
    """Add ``recoup agency`` and ``recoup report agencies`` (once)."""
    from recoup.reporting.cli import app as report_app

    if not any(g.name == "agency" for g in root.registered_groups):
        root.add_typer(app, name="agency")
    if not any(c.name == "agencies" for c in report_app.registered_commands):
        report_app.command("agencies")(report_agencies)
