"""``recoup funding …`` and ``recoup report creditors``: funding partners, guarantor payouts (代偿), each
loan's creditor, and collections split by creditor.

* ``recoup funding partner add CODE --name N --kind own|bank|trust|guarantor [--no-waivers]
  [--waiver-limit 500.00] [--waiver-max 20%] [--share 70%] [--update] --by USER`` (``config.edit``)
* ``recoup funding partner list``
* ``recoup funding payout LOAN --guarantor G --amount 12000.00 --date 2026-12-01 [--reference R] --by USER``
  (``legal.manage``)
* ``recoup funding creditor LOAN`` — the loan's creditor history and payouts
* ``recoup funding sync --by USER`` — record every mirrored loan's first-sight creditor
* ``recoup report creditors --month 2026-11 [--json] [--xlsx FILE]``

Every command takes ``--json``; errors exit with their status (docs/errors.md): 65 refused, 66 not found,
77 not allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from recoup.db import upgraded_session
from recoup.errors import MoneyError, parse_day
from recoup.funding.service import FundingInputError
from recoup.i18n import _, cli_locale
from recoup.labels_domain import creditor_source_label, funder_kind_label
from recoup.legal.cli import BY, JSON, acting_user, amount, emit, table, today, yuan
from recoup.money import parse_rate_bp

__all__ = ["app", "mount", "report_creditors"]

app = typer.Typer(
    help="Funding partners, guarantor payouts and each loan's creditor. 资金方、代偿与债权人。",
    no_args_is_help=True,
)
partner_app = typer.Typer(help="The funding-partner register. 资金方名册。", no_args_is_help=True)
app.add_typer(partner_app, name="partner")


def _pct(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    t = text.strip()
    try:
        return parse_rate_bp(t if t.endswith(("%", "bp")) else f"{t}%")
    except MoneyError as exc:
        raise FundingInputError(
            f"{option}: {exc.message} / {option} 比例无效", details={"field": option}
        ) from None


def _partner(p: Any) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "kind": p.kind,
        "permits_waivers": p.permits_waivers,
        "waiver_limit": yuan(p.waiver_limit) if p.waiver_limit is not None else None,
        "waiver_max_pct": p.waiver_max_bp / 100 if p.waiver_max_bp is not None else None,
        "recovery_share_pct": p.recovery_share_bp / 100,
        "note": p.note,
    }


@partner_app.command("add")
def partner_add(
    code: str = typer.Argument(..., help="The code (the extract's funding_partner value) / 代码"),
    name: str | None = typer.Option(None, "--name", help="The name / 名称"),
    kind: str | None = typer.Option(None, "--kind", help="own, bank, trust or guarantor / 类型"),
    no_waivers: bool = typer.Option(False, "--no-waivers", help="It permits no waiver / 不允许减免"),
    waivers: bool = typer.Option(False, "--waivers", help="It permits waivers (with --update) / 允许减免"),
    waiver_limit: str | None = typer.Option(
        None, "--waiver-limit", help="Most waived per request / 减免上限"
    ),
    waiver_max: str | None = typer.Option(None, "--waiver-max", help="Most waived, % of what is owed"),
    share: str | None = typer.Option(None, "--share", help="Its share of recoveries, e.g. 70% / 回收分成"),
    note: str | None = typer.Option(None, "--note"),
    update: bool = typer.Option(False, "--update", help="Change an existing partner / 修改"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Register (or change) a funding partner. 登记资金方。"""
    from recoup.funding.service import do_save_partner

    permits = False if no_waivers else True if waivers or not update else None
    with upgraded_session() as session:
        user = acting_user(by, "config.edit", session=session)
        p = do_save_partner(
            code,
            session=session,
            actor=user.username,
            name=name,
            kind=kind,
            permits_waivers=permits,
            waiver_limit=amount(waiver_limit, "--waiver-limit"),
            waiver_max_bp=_pct(waiver_max, "--waiver-max"),
            recovery_share_bp=_pct(share, "--share"),
            note=note,
            update=update,
        )
        out = _partner(p)
    if as_json:
        emit({"partner": out})
        return
    text = _("funding partner {code} ({name}, {kind}) saved")
    typer.echo(text.format(code=out["code"], name=out["name"], kind=funder_kind_label(out["kind"])))


@partner_app.command("list")
def partner_list(as_json: bool = JSON) -> None:
    """The funding-partner register. 资金方名册。"""
    from recoup.funding.service import list_partners

    with upgraded_session() as session:
        rows = [_partner(p) for p in list_partners(session=session)]
    if as_json:
        emit({"partners": rows})
        return
    if not rows:
        typer.echo(_("no funding partner registered: `recoup funding partner add`"))
        return
    table(
        _("Funding partners"),
        [_("Code"), _("Name"), _("Kind"), _("Waivers"), _("Waiver limit"), _("Max %"), _("Share")],
        [
            [
                r["code"],
                r["name"],
                funder_kind_label(r["kind"]),
                _("yes") if r["permits_waivers"] else _("no"),
                r["waiver_limit"] or "—",
                "—" if r["waiver_max_pct"] is None else f"{r['waiver_max_pct']:g}%",
                f"{r['recovery_share_pct']:g}%",
            ]
            for r in rows
        ],
    )


@app.command("payout")
def payout_cmd(
    loan_id: str = typer.Argument(..., help="The loan / 借据号"),
    guarantor: str = typer.Option(..., "--guarantor", help="The guarantor's code / 担保公司代码"),
    amount_text: str = typer.Option(..., "--amount", help="Amount paid, e.g. 12000.00 / 代偿金额"),
    date: str = typer.Option(..., "--date", help="When it paid (YYYY-MM-DD) / 代偿日期"),
    reference: str = typer.Option("", "--reference", help="The payout's reference / 凭证号"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Record a guarantor's payout (代偿): from its date the guarantor is the loan's creditor. 登记代偿。"""
    from recoup.funding.service import do_record_payout

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        p = do_record_payout(
            loan_id,
            guarantor=guarantor,
            amount=amount(amount_text, "--amount") or 0,
            paid_on=parse_day(date, "--date"),
            reference=reference,
            session=session,
            actor=user.username,
        )
        out = {
            "id": p.id,
            "loan_id": p.loan_id,
            "guarantor": p.guarantor,
            "previous_creditor": p.previous_creditor,
            "amount": yuan(p.amount),
            "paid_on": p.paid_on,
        }
    if as_json:
        emit({"payout": out})
        return
    text = _("payout {id}: {guarantor} paid {amount} on {paid_on}; creditor of {loan} was {previous}")
    typer.echo(text.format(loan=loan_id, previous=out["previous_creditor"], **out))


@app.command("creditor")
def creditor_cmd(loan_id: str = typer.Argument(..., help="The loan / 借据号"), as_json: bool = JSON) -> None:
    """A loan's creditor today, its history and the guarantors' payouts. 借据的债权人及其变更。"""
    from recoup.funding.service import creditor_on, history_frame, list_payouts, partner_of
    from recoup.legal.common import missing

    with upgraded_session() as session:
        hist = history_frame(session=session, loan_ids=[loan_id])
        if hist.is_empty():
            raise missing("loan", loan_id)
        now = creditor_on(loan_id, today(), session=session)
        p = partner_of(now, session=session)
        out: dict[str, Any] = {
            "loan_id": loan_id,
            "creditor": now,
            "creditor_name": p.name if p is not None else None,
            "registered": p is not None,
            "history": [
                {"creditor": r["creditor"], "since": r["since"], "source": r["source"]}
                for r in hist.iter_rows(named=True)
            ],
            "payouts": [
                {"id": x.id, "guarantor": x.guarantor, "amount": yuan(x.amount), "paid_on": x.paid_on}
                for x in list_payouts(session=session, loan_id=loan_id)
            ],
        }
    if as_json:
        emit(out)
        return
    name = f" ({out['creditor_name']})" if p is not None else " " + _("(unregistered)")
    typer.echo(_("{loan}: creditor {creditor}").format(loan=loan_id, creditor=now) + name)
    table(
        _("Creditor history"),
        [_("Since"), _("Creditor"), _("Source")],
        [[h["since"], h["creditor"], creditor_source_label(h["source"])] for h in out["history"]],
    )


@app.command("sync")
def sync_cmd(by: str = BY, as_json: bool = JSON) -> None:
    """Record the first-sight creditor of every loan in the mirror that has none. 记录借据的初始债权人。"""
    from recoup.funding.service import do_sync_creditors

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        n = do_sync_creditors(session=session, actor=user.username)
    if as_json:
        emit({"recorded": n})
        return
    typer.echo(_("{n} loans' creditor recorded").format(n=n))


def report_creditors(
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="Also write a formatted workbook. 导出 Excel。"),
    as_json: bool = JSON,
) -> None:
    """Collections of a month split by the creditor on each payment's date (资金方 / 代偿后归担保公司),
    with each creditor's share and the lender's. 按债权人拆分的回款。"""
    from recoup.config import get_settings
    from recoup.funding.report import creditor_sheet
    from recoup.funding.service import recoveries_by_creditor
    from recoup.legal.limitation import lake_payments
    from recoup.reporting.collectors import parse_month
    from recoup.reporting.sheets import rich_table, write_xlsx

    s = get_settings()
    start, end = parse_month(month)
    with upgraded_session() as session:
        lake = lake_payments(session=session, settings=s, as_of=end)
        frame = recoveries_by_creditor(session=session, start=start, end=end, lake_payments=lake)
    locale = cli_locale()  # --lang, else RECOUP_LOCALE
    sheet = creditor_sheet(frame, month, locale)
    if xlsx is not None:
        write_xlsx([sheet], xlsx, locale=locale)
    if as_json:
        emit(
            {
                "month": month,
                "creditors": [
                    {**r, **{k: yuan(r[k]) for k in ("collected", "to_creditor", "to_lender")}}
                    for r in frame.iter_rows(named=True)
                ],
                "total": yuan(int(frame.get_column("collected").sum() or 0)),
                "xlsx": str(xlsx) if xlsx is not None else None,
            }
        )
        return
    from recoup.console import make_console

    console = make_console()
    if frame.is_empty():
        typer.echo(_("no collections in {month}").format(month=month))
        return
    console.print(rich_table(sheet, locale))
    if xlsx is not None:
        console.print(_("written {path}").format(path=xlsx))


def mount(root: typer.Typer) -> None:
    """Add ``recoup funding`` and ``recoup report creditors`` (once)."""
    from recoup.reporting.cli import app as report_app

    if not any(g.name == "funding" for g in root.registered_groups):
        root.add_typer(app, name="funding")
    if not any(c.name == "creditors" for c in report_app.registered_commands):
        report_app.command("creditors")(report_creditors)
