"""``recoup writeback …``: write-back instructions to the lender's core system (docs/writeback.md).

* ``recoup writeback export --date D [--out DIR]`` — the day's file (CSV and JSON lines); pending → sent.
* ``recoup writeback ack FILE`` — the core system's acknowledgement (``id,status,reason``).
* ``recoup writeback reconcile --as-of D [--ack FILE]`` — confirmed / stale from the extracts.
* ``recoup writeback list [--status S] [--kind K] [--date D]`` · ``recoup writeback exceptions [--xlsx F]``
* ``recoup writeback freeze LOAN --from D --reason T --by USER`` (停息) · ``recoup writeback receipt LOAN
  --amount A --received D --ref R --reason T --by USER`` (a payment received outside the core system).

Every command takes ``--json`` (one JSON object on stdout; errors as the envelope) and exits with the
error's status (docs/errors.md): 64 a bad date, 65 an invalid value or file, 66 not found, 77 not allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from recoup.config import get_settings
from recoup.db import upgraded_session
from recoup.errors import parse_day
from recoup.i18n import _
from recoup.labels_domain import writeback_kind_label, writeback_status_label
from recoup.legal.cli import BY, JSON, acting_user, amount, console, emit, table, today, yuan

__all__ = ["app"]

app = typer.Typer(
    help="Write-back instructions to the core system: file, webhook, reconciliation. 核心系统回写。",
    no_args_is_help=True,
)


def _row(r: Any) -> dict[str, Any]:
    from recoup.writeback.models import WritebackInstruction

    assert isinstance(r, WritebackInstruction)
    return {
        "instruction_id": r.instruction_id,
        "kind": r.kind,
        "loan_id": r.loan_id,
        "business_date": r.business_date.isoformat(),
        "effective_date": r.effective_date.isoformat(),
        "amount": yuan(r.amount),
        "status": r.status,
        "sent_on": r.sent_on.isoformat() if r.sent_on else None,
        "confirmed_extract": r.confirmed_extract.isoformat() if r.confirmed_extract else None,
        "stale_on": r.stale_on.isoformat() if r.stale_on else None,
        "reason": r.reason,
        "source_ref": r.source_ref,
    }


def _print(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        typer.echo(_("no instruction"))
        return
    table(
        title,
        ["ID", _("Kind"), _("Loan"), _("Date"), _("Amount"), _("Status"), _("Note")],
        [
            [
                r["instruction_id"],
                writeback_kind_label(r["kind"]),
                r["loan_id"],
                r["business_date"],
                r["amount"],
                writeback_status_label(r["status"]),
                r["reason"] or (_("stale since {day}").format(day=r["stale_on"]) if r["stale_on"] else ""),
            ]
            for r in rows
        ],
    )


@app.command("export")
def export_cmd(
    date: str = typer.Option(..., "--date", help="The business date / 业务日期 (YYYY-MM-DD)"),
    out: Path | None = typer.Option(None, "--out", help="Directory (default DATA_DIR/writeback/outgoing)"),
    as_json: bool = JSON,
) -> None:
    """Write the day's instruction file (CSV and JSON lines); its pending instructions become sent."""
    from recoup.writeback.files import do_export

    on = parse_day(date, "--date")
    with upgraded_session() as session:
        res = do_export(on, session=session, out_dir=out)
    data = {
        "date": on.isoformat(),
        "csv": str(res.csv),
        "jsonl": str(res.jsonl),
        "count": res.count,
        "newly_sent": res.newly_sent,
        "sha256": res.sha256,
    }
    if as_json:
        emit({"export": data})
        return
    text = _("{n} instruction(s) → {path} ({sent} newly sent)")
    typer.echo(text.format(n=res.count, path=res.csv, sent=res.newly_sent))


@app.command("ack")
def ack_cmd(file: Path = typer.Argument(..., help="id,status,reason CSV"), as_json: bool = JSON) -> None:
    """Apply the core system's acknowledgement file (rejected rows are rejected with their reason)."""
    from recoup.writeback.files import do_apply_ack

    with upgraded_session() as session:
        rep = do_apply_ack(file, session=session)
    data = {"rejected": rep.rejected, "accepted": rep.accepted, "ignored": rep.ignored}
    if as_json:
        emit({"ack": data})
        return
    text = _("rejected {rejected}, accepted {accepted}, ignored {ignored}")
    typer.echo(text.format(rejected=len(rep.rejected), accepted=len(rep.accepted), ignored=len(rep.ignored)))


@app.command("reconcile")
def reconcile_cmd(
    as_of: str = typer.Option(..., "--as-of", help="Reconcile against the book as of this date"),
    ack: Path | None = typer.Option(None, "--ack", help="Apply this acknowledgement file first"),
    as_json: bool = JSON,
) -> None:
    """Confirm the sent instructions the extracts show; the overdue rest become stale. 对账。"""
    from recoup.writeback.files import do_apply_ack
    from recoup.writeback.reconcile import do_reconcile

    day = parse_day(as_of)
    with upgraded_session() as session:
        rejected = do_apply_ack(ack, session=session).rejected if ack is not None else []
        rep = do_reconcile(day, session=session)
    data = {
        "as_of": day.isoformat(),
        "extract": rep.extract.isoformat() if rep.extract else None,
        **rep.counts(),
        "rejected": len(rejected),
        "confirmed_ids": rep.confirmed,
        "stale_ids": rep.stale,
        "pending_ids": rep.pending,
        "rejected_ids": rejected,
    }
    if as_json:
        emit({"reconcile": data})
        return
    text = _(
        "checked {checked} · confirmed {confirmed} · rejected {rejected} · stale {stale} · pending {pending}"
    )
    counts = {"confirmed": len(rep.confirmed), "stale": len(rep.stale), "pending": len(rep.pending)}
    typer.echo(f"{day}: " + text.format(checked=rep.checked, rejected=len(rejected), **counts))


@app.command("list")
def list_cmd(
    status: str | None = typer.Option(None, "--status", help="pending, sent, confirmed, rejected, stale"),
    kind: str | None = typer.Option(None, "--kind", help="waiver, plan, interest_freeze, write_off, …"),
    date: str | None = typer.Option(None, "--date", help="Business date"),
    as_json: bool = JSON,
) -> None:
    """Instructions, newest first. 回写指令列表。"""
    from recoup.writeback.service import list_instructions

    on = parse_day(date, "--date") if date else None
    with upgraded_session() as session:
        rows = [_row(r) for r in list_instructions(session=session, status=status, kind=kind, on=on)]
    if as_json:
        emit({"instructions": rows})
        return
    _print(_("Write-back instructions"), rows)


@app.command("exceptions")
def exceptions_cmd(
    xlsx: Path | None = typer.Option(None, "--xlsx", help="Also write the list to this XLSX file"),
    as_json: bool = JSON,
) -> None:
    """Rejected and stale instructions, for operations to chase. 回写异常清单。"""
    from recoup.writeback.service import exceptions

    with upgraded_session() as session:
        rows = [_row(r) for r in exceptions(session=session)]
    if xlsx is not None:
        _xlsx(rows, xlsx)
    if as_json:
        emit({"exceptions": rows, **({"xlsx": str(xlsx)} if xlsx else {})})
        return
    _print(_("Write-back exceptions"), rows)


def _xlsx(rows: list[dict[str, Any]], path: Path) -> None:
    import polars as pl

    from recoup.reporting.sheets import Col, Sheet, write_xlsx

    cols = [
        Col("instruction_id", "Instruction", "指令号"),
        Col("kind", "Kind", "类型"),
        Col("loan_id", "Loan", "借据号"),
        Col("business_date", "Business date", "业务日期"),
        Col("amount", "Amount", "金额"),
        Col("status", "Status", "状态"),
        Col("sent_on", "Sent on", "发送日期"),
        Col("stale_on", "Stale since", "超期日期"),
        Col("reason", "Reason", "原因"),
        Col("source_ref", "Source", "来源"),
    ]
    frame = (
        pl.DataFrame(rows, schema={c.key: pl.String for c in cols})
        if rows
        else pl.DataFrame(schema={c.key: pl.String for c in cols})
    )
    title = "Write-back exceptions / 回写异常"
    write_xlsx([Sheet("exceptions", title, cols, frame)], path, locale=get_settings().locale)


@app.command("freeze")
def freeze_cmd(
    loan: str = typer.Argument(..., help="The loan (借据号)"),
    start: str = typer.Option(..., "--from", help="No interest or penalty from this date / 停息日"),
    reason: str = typer.Option(..., "--reason"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """An interest freeze (停息) for the core system to apply. 停息指令。"""
    from recoup.writeback.emit import do_freeze

    day = parse_day(start, "--from")
    with upgraded_session() as session:
        user = acting_user(by, "plan.approve", session=session)
        out = _row(
            do_freeze(loan, session=session, start=day, reason=reason, actor=user.username, on=today())
        )
    if as_json:
        emit({"instruction": out})
        return
    console.print(
        _("{id}: interest freeze on {loan} from {day}").format(id=out["instruction_id"], loan=loan, day=day)
    )


@app.command("receipt")
def receipt_cmd(
    loan: str = typer.Argument(..., help="The loan (借据号)"),
    amt: str = typer.Option(..., "--amount", help="Amount received, e.g. 1200.00"),
    received: str = typer.Option(..., "--received", help="Date received"),
    ref: str = typer.Option(..., "--ref", help="The receipt's reference (voucher, bank reference)"),
    reason: str = typer.Option(..., "--reason"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """A manual receipt (money received outside the core system) for it to post. 线下收款回写。"""
    from recoup.writeback.emit import do_manual_receipt

    day = parse_day(received, "--received")
    minor = amount(amt, "--amount")
    assert minor is not None
    with upgraded_session() as session:
        user = acting_user(by, "plan.approve", session=session)
        row = do_manual_receipt(
            loan,
            session=session,
            amount=minor,
            received=day,
            reference=ref,
            reason=reason,
            actor=user.username,
            on=today(),
        )
        out = _row(row)
    if as_json:
        emit({"instruction": out})
        return
    text = _("{id}: receipt {amount} on {loan}")
    console.print(text.format(id=out["instruction_id"], amount=out["amount"], loan=loan))
