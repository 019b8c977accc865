"""``recoup agency place|recall|day|deletion|shares|statement|confirm`` and ``recoup report agencies``."""

from __future__ import annotations

from pathlib import Path
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
    parse_month,
    pct,
    today,
    user_named,
    yuan,
)
from recoup.db import upgraded_session
from recoup.errors import NotFoundError, UsageError
from recoup.i18n import _, ngettext
from recoup.labels_domain import agency_status_label, recall_reason_label

__all__ = ["report_agencies"]

# --- placements ----------------------------------------------------------------------------------------


@app.command("place")
def place_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="the placement day (default today)"),
    agency: list[str] = typer.Option([], "--agency", help="agency code (repeat; default every eligible one)"),
    case: list[int] = typer.Option(
        [], "--case", help="a case id (repeat; default: open agency_placement tasks)"
    ),
    seed: int | None = typer.Option(None, "--seed", help="random seed (recorded on the batch)"),
    days: int = typer.Option(30, "--days", help="days until the placements expire"),
    as_json: bool = JSON_OPT,
) -> None:
    """Place a random, stratified batch (赛马) by this month's shares. 分批委外。"""
    from recoup.agencies.placement import do_place_batch
    from recoup.config import get_settings

    day = parse_date(as_of, "--as-of") or today()
    with upgraded_session() as session:
        res = do_place_batch(
            day,
            session=session,
            actor=ACTOR,
            settings=get_settings(),
            case_ids=case or None,
            agencies=agency or None,
            seed=seed,
            days=days,
        )
        out = {
            "batch_id": res.batch.id,
            "as_of": day.isoformat(),
            "expires_on": res.batch.expires_on.isoformat(),
            "seed": res.batch.seed,
            "shares": res.batch.shares,
            "notice_required": res.batch.notice_required,
            **res.counts(),
        }
    if as_json:
        emit({"batch": out})
        return
    console.print(
        Text(
            _(
                "batch {batch_id} ({day}, seed {seed}, expires {expires_on}): {placed} placed — {active} "
                "active, {pending_notice} awaiting the borrower's notice, {cancelled} cancelled; shares "
                "{shares}; {tasks_done} agency placement task(s) done"
            ).format(day=day, **out)
        )
    )


@app.command("recall")
def recall_cmd(
    placement: list[int] = typer.Argument(None, help="placement ids"),
    expired: bool = typer.Option(False, "--expired", help="recall every placement past its expiry"),
    reason: str = typer.Option("manual", "--reason", help="complaint, death, lawsuit, manual …"),
    note: str = typer.Option("", "--note"),
    on: str | None = typer.Option(None, "--on", help="YYYY-MM-DD (default today)"),
    as_json: bool = JSON_OPT,
) -> None:
    """Recall placements now (access revoked at once), or every expired one. 召回。"""
    from recoup.agencies.models import Placement
    from recoup.agencies.recall import do_recall, do_recall_expired

    day = parse_date(on, "--on") or today()
    if not placement and not expired:
        raise UsageError(
            "name placement ids or --expired · 请指定委外编号或 --expired", details={"option": "--expired"}
        )
    with upgraded_session() as session:
        done = do_recall_expired(day, session=session, actor=ACTOR) if expired else []
        for pid in placement or []:
            p = session.get(Placement, pid)
            if p is None:
                raise NotFoundError(f"no placement {pid} / 委外 {pid} 不存在", details={"placement_id": pid})
            do_recall(p, reason=reason, note=note, on=day, session=session, actor=ACTOR)
            done.append(pid)
    if as_json:
        emit({"recalled": done})
        return
    typer.echo(ngettext("{n} placement recalled", "{n} placements recalled", len(done)).format(n=len(done)))


@app.command("day")
def day_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD (default today)"),
    as_json: bool = JSON_OPT,
) -> None:
    """What the cycle does each day: activate notified placements, recall expired and early ones.
    日终处理。"""
    from recoup.agencies.recall import do_agency_day

    with upgraded_session() as session:
        res = do_agency_day(parse_date(as_of, "--as-of") or today(), session=session, actor=ACTOR)
    if as_json:
        emit({"activated": res.activated, "cancelled": res.cancelled, "recalled": res.recalled})
        return
    rec = ", ".join(f"{n} {recall_reason_label(r)}" for r, n in sorted(res.recalled.items())) or _("none")
    text = _("placements: {activated} activated, {cancelled} cancelled, recalled: {recalled}")
    typer.echo(text.format(activated=res.activated, cancelled=res.cancelled, recalled=rec))


@app.command("deletion")
def deletion_cmd(
    placement: list[int] = typer.Argument(..., help="recalled placement ids"),
    ref: str = typer.Option(..., "--ref", help="the agency's reference for the deletion"),
    by: str = typer.Option(..., "--by", help="who records it (the agency's user, or the lender's)"),
) -> None:
    """Record the agency's confirmation that it deleted recalled cases' data. 确认数据删除。"""
    from recoup.agencies.models import Placement
    from recoup.agencies.recall import do_confirm_deletion

    with upgraded_session() as session:
        items = []
        for pid in placement:
            p = session.get(Placement, pid)
            if p is None:
                raise NotFoundError(f"no placement {pid} / 委外 {pid} 不存在", details={"placement_id": pid})
            items.append(p)
        do_confirm_deletion(items, by=user_named(by, session), ref=ref, session=session)
    typer.echo(_("deletion confirmed for {n} placement(s)").format(n=len(placement)))


@app.command("shares")
def shares_cmd(
    month: str | None = typer.Option(None, "--month", help="YYYY-MM ranked (default last month)"),
    as_json: bool = JSON_OPT,
) -> None:
    """Rank the agencies on a month and set their shares of the month after (赛马). 设定下月份额。"""
    from recoup.agencies.ranking import do_set_next_shares
    from recoup.config import get_settings

    m = parse_month(month)
    with upgraded_session() as session:
        made = do_set_next_shares(m, session=session, actor=ACTOR, tz=get_settings().tz)
        rows: list[dict[str, Any]] = [
            {"month": s.month, "agency_id": s.agency_id, "share_bp": s.share_bp, "rank": s.rank} for s in made
        ]
    if as_json:
        emit({"shares": rows})
        return
    for r in rows:
        text = _("{month}: agency {agency} rank {rank} share {share}")
        typer.echo(
            text.format(month=r["month"], agency=r["agency_id"], rank=r["rank"], share=pct(r["share_bp"]))
        )


@app.command("statement")
def statement_cmd(
    code: str = typer.Argument(...),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (default last month)"),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="write the statement as XLSX here"),
    pdf: Path | None = typer.Option(None, "--pdf", help="write the statement as PDF here"),
    locale: str = typer.Option("zh_CN", "--locale", help="zh_CN or en"),
    as_json: bool = JSON_OPT,
) -> None:
    """Issue (or reissue, before any confirmation) an agency's monthly commission statement. 佣金结算单。"""
    from recoup.agencies.models import AgencyContract
    from recoup.agencies.register import get_agency
    from recoup.agencies.statement_files import statement_pdf, statement_xlsx
    from recoup.agencies.statements import do_issue_statement
    from recoup.config import get_settings

    if locale not in ("zh_CN", "en"):
        raise UsageError(
            f"--locale {locale!r}: zh_CN or en · 语言须为 zh_CN 或 en", details={"option": "--locale"}
        )
    m = parse_month(month)
    with upgraded_session() as session:
        a = get_agency(code, session=session)
        s = do_issue_statement(a, m, session=session, actor=ACTOR, tz=get_settings().tz, today=today())
        contract = session.get(AgencyContract, s.contract_id) if s.contract_id else None
        ref = contract.ref if contract else None
        if xlsx is not None:
            xlsx.write_bytes(statement_xlsx(s, a, locale=locale, contract_ref=ref))
        if pdf is not None:
            pdf.write_bytes(statement_pdf(s, a, locale=locale, contract_ref=ref).pdf)
        out: dict[str, Any] = {
            "id": s.id,
            "agency": a.code,
            "month": m,
            "lines": s.lines,
            "collected": s.collected,
            "gross": s.gross,
            "complaint_penalty": s.complaint_penalty,
            "qa_penalty": s.qa_penalty,
            "net": s.net,
            "payable": s.payable,
            "sha256": s.sha256,
            "status": s.status,
        }
    if as_json:
        emit({"statement": out})
        return
    title = _("{code} {month} commission statement (statement {id})").format(code=code, month=m, id=out["id"])
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column(_("Bucket"))
    for h in (_("Placed"), _("Collected"), _("Recovery rate"), _("Commission rate"), _("Commission")):
        table.add_column(h, justify="right")
    for ln in out["lines"]:
        table.add_row(
            ln["bucket"],
            yuan(ln["placed_amount"]),
            yuan(ln["collected"]),
            pct(ln["recovery_bp"]),
            pct(ln["rate_bp"]),
            yuan(ln["commission"]),
        )
    console.print(table)
    console.print(
        _(
            "gross {gross} − complaints {complaints} − QA {qa} = net {net}; payable {payable}; "
            "sha256 {sha256}…"
        ).format(
            gross=yuan(out["gross"]),
            complaints=yuan(out["complaint_penalty"]),
            qa=yuan(out["qa_penalty"]),
            net=yuan(out["net"]),
            payable=yuan(out["payable"]),
            sha256=out["sha256"][:16],
        )
    )


@app.command("confirm")
def confirm_cmd(
    statement: int = typer.Argument(..., help="statement id"),
    side: str = typer.Option(..., "--side", help="lender or agency"),
    by: str = typer.Option(..., "--by", help="the confirming user / 确认人"),
) -> None:
    """One side's confirmation of a statement (both sides confirm). 确认结算单。"""
    from recoup.agencies.statements import do_confirm_statement, get_statement

    with upgraded_session() as session:
        s = do_confirm_statement(
            get_statement(statement, session=session), user_named(by, session), side, session=session
        )
        status = s.status
    who = _("the lender") if side == "lender" else _("the agency") if side == "agency" else side
    text = _("statement {id}: confirmed by {side} ({by}); {status}")
    typer.echo(text.format(id=statement, side=who, by=by, status=agency_status_label(status)))


def report_agencies(
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (default last month)"),
    as_json: bool = JSON_OPT,
) -> None:
    """Recovery, commission and complaints per agency for a month, ranked (赛马). 委外机构报表。"""
    from recoup.agencies.ranking import agency_report, awaiting_placement
    from recoup.config import get_settings

    m = parse_month(month)
    with upgraded_session() as session:
        rows = agency_report(m, session=session, tz=get_settings().tz)
        waiting = awaiting_placement(session=session)
    if as_json:
        emit({"month": m, "agencies": rows, "awaiting_placement": waiting})
        return
    if not rows:
        typer.echo(_("no agency registered: `recoup agency register`"))
        return
    title = _("Agencies {month} (`recoup report agencies`)").format(month=m)
    table = Table(title=title, box=box.SIMPLE_HEAD)
    heads = (
        _("Rank"),
        _("Agency"),
        _("Cases placed"),
        _("Amount placed"),
        _("Collected"),
        _("Recovery rate"),
        _("Commission"),
        _("Penalties"),
        _("Payable"),
        _("Complaints"),
        _("Complaints per 10k"),
        _("Next month's share"),
    )
    for i, h in enumerate(heads):
        table.add_column(h, justify="left" if i == 1 else "right", no_wrap=True)
    for r in rows:
        table.add_row(
            str(r["rank"]),
            Text(f"{r['code']} {r['name']}" + (" ✗" if r["vetoed"] else "")),
            f"{r['placements']:,}",
            yuan(r["placed_amount"]),
            yuan(r["collected"]),
            pct(r["recovery_bp"]),
            yuan(r["gross"]),
            yuan(r["complaint_penalty"] + r["qa_penalty"]),
            yuan(r["payable"]),
            str(r["complaints"]),
            f"{r['complaints_per_10k']:.0f}",
            pct(r["next_share_bp"]),
        )
    console.print(table)
    typer.echo(
        _(
            "{n} case(s) with an open agency placement task await the next batch (`recoup agency place`); "
            "✗ = over the complaints veto"
        ).format(n=waiting)
    )
