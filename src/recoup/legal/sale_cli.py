"""``recoup writeoff …`` and ``recoup sale …``: write-offs (核销) and debt sales (个贷不良批量转让).

* ``recoup writeoff request CASE --by USER --reason TEXT [--evidence REF]`` (``legal.manage``) ·
  ``recoup writeoff approve ID --by USER [--note]`` / ``reject ID --by USER --reason`` (``plan.approve``,
  another person) · ``recoup writeoff list [--status S]`` · ``recoup writeoff recoveries --from D --to D``
  (payments split into collections, after write-off, and the buyers').
* ``recoup sale create --by USER --buyer NAME --cutoff D --transfer-date D [--case N …] [--loan L …]
  [--loans-file FILE] [--buyer-contact C] [--price A] [--note]`` · ``recoup sale approve|reject ID --by USER``
  · ``recoup sale cancel ID --by USER --reason`` · ``recoup sale transfer ID --by USER`` (the hard stop) ·
  ``recoup sale list`` · ``recoup sale show ID`` · ``recoup sale payments ID`` (after the cut-off, the
  buyer's) · ``recoup sale pack ID --by USER`` (the buyer's data pack).

``--loans-file`` is a text or CSV file with one loan id per line (a header ``loan_id`` is skipped).
``--json``, ``--by`` and the exit statuses are those of ``recoup legal`` (:mod:`recoup.legal.cli`).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from recoup.config import get_settings
from recoup.db import upgraded_session
from recoup.errors import StorageError, parse_day
from recoup.i18n import _
from recoup.labels_domain import sale_notice_label, sale_status_label
from recoup.legal.cli import BY, JSON, acting_user, amount, console, emit, table, today, yuan

__all__ = ["sale_app", "writeoff_app"]

writeoff_app = typer.Typer(help="Write-offs with four-eyes approval (账销案存). 核销。", no_args_is_help=True)
sale_app = typer.Typer(help="Debt sales (个贷不良批量转让). 债权转让。", no_args_is_help=True)


# --------------------------------------------------------------------------------------------- write-off


def _wo(w: object) -> dict[str, object]:
    from recoup.legal.models import WriteOff

    assert isinstance(w, WriteOff)
    return {
        "id": w.id,
        "case_id": w.case_id,
        "status": w.status,
        "amount": yuan(w.amount),
        "requested_by": w.requested_by,
        "decided_by": w.decided_by,
        "written_off_on": w.written_off_on,
        "reason": w.reason,
    }


@writeoff_app.command("request")
def wo_request(
    case_id: int = typer.Argument(..., min=1),
    by: str = BY,
    reason: str = typer.Option(..., "--reason"),
    evidence: str | None = typer.Option(None, "--evidence", help="Where the evidence is kept / 证据"),
    as_json: bool = JSON,
) -> None:
    """Ask for the write-off of a case's open accounts. 申请核销。"""
    from recoup.cases.access import get_visible_case
    from recoup.legal.writeoffs import do_request_write_off

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        case = get_visible_case(case_id, user, session=session)
        out = _wo(
            do_request_write_off(case, session=session, actor=user, reason=reason, evidence_ref=evidence)
        )
    if as_json:
        emit({"write_off": out})
        return
    text = _("write-off {id} of case {case} ({amount}) awaits approval")
    console.print(Text(text.format(id=out["id"], case=case_id, amount=out["amount"])))


def _decide(write_off_id: int, by: str, *, approve: bool, text: str, as_json: bool) -> None:
    from recoup.legal.writeoffs import do_approve_write_off, do_reject_write_off

    with upgraded_session() as session:
        user = acting_user(by, "plan.approve", session=session)
        if approve:
            w = do_approve_write_off(write_off_id, session=session, actor=user, note=text)
        else:
            w = do_reject_write_off(write_off_id, session=session, actor=user, reason=text)
        out = _wo(w)
    if as_json:
        emit({"write_off": out})
        return
    console.print(
        Text(_("write-off {id}: {status}").format(id=write_off_id, status=sale_status_label(out["status"])))
    )


@writeoff_app.command("approve")
def wo_approve(
    write_off_id: int = typer.Argument(..., min=1),
    by: str = BY,
    note: str = typer.Option("", "--note"),
    as_json: bool = JSON,
) -> None:
    """Approve a write-off someone else asked for (the case is closed as written off, still collectable)."""
    _decide(write_off_id, by, approve=True, text=note, as_json=as_json)


@writeoff_app.command("reject")
def wo_reject(
    write_off_id: int = typer.Argument(..., min=1),
    by: str = BY,
    reason: str = typer.Option(..., "--reason"),
    as_json: bool = JSON,
) -> None:
    """Reject a write-off someone else asked for. 驳回核销。"""
    _decide(write_off_id, by, approve=False, text=reason, as_json=as_json)


@writeoff_app.command("list")
def wo_list(
    status: str | None = typer.Option(None, "--status", help="requested, approved or rejected"),
    as_json: bool = JSON,
) -> None:
    """Write-offs, newest first. 核销列表。"""
    from recoup.legal.writeoffs import list_write_offs

    with upgraded_session() as session:
        rows = [_wo(w) for w in list_write_offs(session=session, status=status)]
    if as_json:
        emit({"write_offs": rows})
        return
    if not rows:
        typer.echo(_("no write-off"))
        return
    table(
        _("Write-offs"),
        ["ID", _("Case"), _("Status"), _("Amount"), _("Asked by"), _("Decided by"), _("Written off on")],
        [
            [
                r["id"],
                r["case_id"],
                sale_status_label(r["status"]),
                r["amount"],
                r["requested_by"],
                r["decided_by"],
                r["written_off_on"],
            ]
            for r in rows
        ],
    )


@writeoff_app.command("recoveries")
def wo_recoveries(
    start: str = typer.Option(..., "--from", help="YYYY-MM-DD"),
    end: str = typer.Option(..., "--to", help="YYYY-MM-DD"),
    as_json: bool = JSON,
) -> None:
    """Payments received in a period, split: collections, recoveries after write-off (核销后回收), the
    buyers'. 回收拆分。"""
    import polars as pl

    from recoup.legal.kernel import RecoveryKind
    from recoup.legal.limitation import lake_payments
    from recoup.legal.writeoffs import recoveries

    d0, d1 = parse_day(start, "--from"), parse_day(end, "--to")
    with upgraded_session() as session:
        frame = recoveries(
            session=session,
            start=d0,
            end=d1,
            lake_payments=lake_payments(session=session, settings=get_settings(), as_of=d1),
        )
    sums = dict(frame.group_by("recovery").agg(pl.col("amount").sum()).iter_rows()) if frame.height else {}
    totals = {k.value: yuan(int(sums.get(k.value, 0) or 0)) for k in RecoveryKind}
    if as_json:
        emit({"from": d0, "to": d1, "payments": frame.height, "totals": totals})
        return
    table(
        _("Recoveries {start} – {end}").format(start=d0, end=d1),
        [_("collections"), _("recovered after write-off"), _("after a sale's cut-off (the buyer's)")],
        [[totals["collections"], totals["after_write_off"], totals["buyer"]]],
    )


# -------------------------------------------------------------------------------------------------- sales


def _sale(sale: object, session: object) -> dict[str, object]:
    from recoup.legal.models import DebtSale
    from recoup.legal.sales import sale_accounts

    assert isinstance(sale, DebtSale)
    rows = sale_accounts(sale.id, session=session)  # type: ignore[arg-type]
    return {
        "id": sale.id,
        "buyer": sale.buyer,
        "status": sale.status,
        "cutoff_date": sale.cutoff_date,
        "transfer_date": sale.transfer_date,
        "cases": len({r.case_id for r in rows}),
        "accounts": len(rows),
        "balance": yuan(sum(r.balance for r in rows)),
        "requested_by": sale.requested_by,
        "decided_by": sale.decided_by,
        "transferred_at": sale.transferred_at,
        "pack_manifest_sha256": sale.pack_manifest_sha256,
    }


def _loans_file(path: Path) -> list[str]:
    try:
        lines = path.read_text("utf-8-sig").splitlines()
    except OSError as exc:
        raise StorageError(
            f"cannot read {path}: {exc.strerror} / 无法读取文件", details={"path": str(path)}
        ) from None
    out = []
    for line in lines:
        value = line.split(",")[0].strip().strip('"')
        if value and value.lower() != "loan_id":
            out.append(value)
    return out


@sale_app.command("create")
def sale_create(
    by: str = BY,
    buyer: str = typer.Option(..., "--buyer", help="The buyer / 受让方"),
    cutoff: str = typer.Option(..., "--cutoff", help="Cut-off date 基准日, YYYY-MM-DD"),
    transfer_date: str = typer.Option(..., "--transfer-date", help="YYYY-MM-DD"),
    cases: list[int] = typer.Option([], "--case", help="A case id (repeat) / 案件"),
    loans: list[str] = typer.Option([], "--loan", help="A loan id (repeat): brings its whole case / 借据"),
    loans_file: Path | None = typer.Option(None, "--loans-file", help="One loan id per line / 借据清单"),
    buyer_contact: str = typer.Option(
        "", "--buyer-contact", help="How borrowers reach the buyer / 受让方联系方式"
    ),
    price: str | None = typer.Option(None, "--price", help="Consideration / 转让价款"),
    note: str = typer.Option("", "--note"),
    as_json: bool = JSON,
) -> None:
    """Select whole cases for sale to a buyer. 创建债权转让。"""
    from recoup.legal.sales import do_create_sale

    d0, d1 = parse_day(cutoff, "--cutoff"), parse_day(transfer_date, "--transfer-date")
    wanted = list(loans) + (_loans_file(loans_file) if loans_file else [])
    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        sale = do_create_sale(
            session=session,
            actor=user,
            buyer=buyer,
            buyer_contact=buyer_contact,
            cutoff_date=d0,
            transfer_date=d1,
            case_ids=list(cases),
            loan_ids=wanted,
            price=amount(price, "--price"),
            note=note,
        )
        out = _sale(sale, session)
    if as_json:
        emit({"sale": out})
        return
    console.print(
        Text(
            _("debt sale {id}: {cases} case(s), {loans} loan(s), {balance} — awaits approval").format(
                id=out["id"], cases=out["cases"], loans=out["accounts"], balance=out["balance"]
            )
        )
    )


def _sale_decision(sale_id: int, by: str, move: str, text: str, as_json: bool) -> None:
    from recoup.legal import sales

    perm = "plan.approve" if move in ("approve", "reject") else "legal.manage"
    with upgraded_session() as session:
        user = acting_user(by, perm, session=session)
        if move == "approve":
            sale = sales.do_approve_sale(sale_id, session=session, actor=user, note=text)
        elif move == "reject":
            sale = sales.do_reject_sale(sale_id, session=session, actor=user, reason=text)
        else:
            sale = sales.do_cancel_sale(sale_id, session=session, actor=user, reason=text)
        out = _sale(sale, session)
    if as_json:
        emit({"sale": out})
        return
    console.print(
        Text(_("debt sale {id}: {status}").format(id=sale_id, status=sale_status_label(out["status"])))
    )


@sale_app.command("approve")
def sale_approve(
    sale_id: int = typer.Argument(..., min=1),
    by: str = BY,
    note: str = typer.Option("", "--note"),
    as_json: bool = JSON,
) -> None:
    """Approve a sale someone else selected. 批准转让。"""
    _sale_decision(sale_id, by, "approve", note, as_json)


@sale_app.command("reject")
def sale_reject(
    sale_id: int = typer.Argument(..., min=1),
    by: str = BY,
    reason: str = typer.Option(..., "--reason"),
    as_json: bool = JSON,
) -> None:
    """Reject a sale someone else selected. 驳回转让。"""
    _sale_decision(sale_id, by, "reject", reason, as_json)


@sale_app.command("cancel")
def sale_cancel(
    sale_id: int = typer.Argument(..., min=1),
    by: str = BY,
    reason: str = typer.Option(..., "--reason"),
    as_json: bool = JSON,
) -> None:
    """Cancel a sale not yet transferred. 撤销转让。"""
    _sale_decision(sale_id, by, "cancel", reason, as_json)


@sale_app.command("transfer")
def sale_transfer(sale_id: int = typer.Argument(..., min=1), by: str = BY, as_json: bool = JSON) -> None:
    """Transfer an approved sale: the hard stop on collection and the notice to each borrower. 执行转让。"""
    from recoup.legal.sales import do_transfer_sale

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        r = do_transfer_sale(sale_id, session=session, actor=user)
        out = {
            "sale": _sale(r.sale, session),
            "cases": r.cases,
            "holds": r.holds,
            "tasks_cancelled": len(r.tasks_cancelled),
            "messages_blocked": len(r.messages_blocked),
            "notices": len(r.notices),
            "no_address": r.no_address,
        }
    if as_json:
        emit(out)
        return
    console.print(
        Text(
            _(
                "debt sale {id} transferred: {cases} case(s) closed as sold, {holds} hold(s), "
                "{tasks} task(s) cancelled, {blocked} message(s) blocked, {notices} notice(s) queued, "
                "{no_address} without address"
            ).format(
                id=sale_id,
                cases=len(r.cases),
                holds=len(r.holds),
                tasks=len(r.tasks_cancelled),
                blocked=len(r.messages_blocked),
                notices=len(r.notices),
                no_address=len(r.no_address),
            )
        )
    )


_SALE_COLUMNS = ("cutoff_date", "transfer_date", "cases", "balance")


@sale_app.command("list")
def sale_list(status: str | None = typer.Option(None, "--status"), as_json: bool = JSON) -> None:
    """Debt sales, newest first. 转让列表。"""
    from recoup.legal.sales import list_sales

    with upgraded_session() as session:
        rows = [_sale(x, session) for x in list_sales(session=session, status=status)]
    if as_json:
        emit({"sales": rows})
        return
    if not rows:
        typer.echo(_("no debt sale"))
        return
    table(
        _("Debt sales"),
        ["ID", _("Buyer"), _("Status"), _("Cut-off"), _("Transfer"), _("Cases"), _("Balance")],
        [[r["id"], r["buyer"], sale_status_label(r["status"]), *(r[k] for k in _SALE_COLUMNS)] for r in rows],
    )


@sale_app.command("show")
def sale_show(sale_id: int = typer.Argument(..., min=1), as_json: bool = JSON) -> None:
    """A sale with its loans and notices. 查看转让。"""
    from recoup.legal.sales import get_sale, sale_accounts

    with upgraded_session() as session:
        sale = get_sale(sale_id, session=session)
        out = _sale(sale, session)
        items = [
            {
                "case_id": a.case_id,
                "loan_id": a.loan_id,
                "balance": yuan(a.balance),
                "notice": a.notice_status,
            }
            for a in sale_accounts(sale.id, session=session)
        ]
    if as_json:
        emit({"sale": out, "items": items})
        return
    text = _("debt sale {id} to {buyer}: {status}, cut-off {cutoff}")
    status = sale_status_label(out["status"])
    console.print(Text(text.format(id=sale_id, buyer=out["buyer"], status=status, cutoff=out["cutoff_date"])))
    rows: list[list[object]] = [
        [i["case_id"], i["loan_id"], i["balance"], sale_notice_label(i["notice"])] for i in items
    ]
    table(_("Loans"), [_("Case"), _("Loan"), _("Balance"), _("Notice")], rows)


@sale_app.command("payments")
def sale_payments(sale_id: int = typer.Argument(..., min=1), as_json: bool = JSON) -> None:
    """Payments on the sold loans after the cut-off: the buyer's, to pass on. 基准日后回款。"""
    from recoup.legal.limitation import lake_payments
    from recoup.legal.sales import buyer_payments, get_sale, sale_accounts

    with upgraded_session() as session:
        sale = get_sale(sale_id, session=session)
        loans = [a.loan_id for a in sale_accounts(sale.id, session=session)]
        lp = lake_payments(session=session, settings=get_settings(), as_of=today(), loan_ids=loans)
        frame = buyer_payments(sale, session=session, lake_payments=lp)
        cutoff = sale.cutoff_date
    rows = [
        {
            "loan_id": r["loan_id"],
            "payment_id": r["payment_id"],
            "received_date": r["received_date"],
            "amount": yuan(r["amount"]),
        }
        for r in frame.iter_rows(named=True)
    ]
    total = yuan(int(frame.get_column("amount").sum() or 0))
    if as_json:
        emit({"sale_id": sale_id, "cutoff_date": cutoff, "total": total, "payments": rows})
        return
    if not rows:
        typer.echo(_("no payment after the cut-off {cutoff}").format(cutoff=cutoff))
        return
    table(
        _("After the cut-off {cutoff}: {total}").format(cutoff=cutoff, total=total),
        [_("Loan"), _("Payment"), _("Received"), _("Amount")],
        [list(r.values()) for r in rows],
    )


@sale_app.command("pack")
def sale_pack(sale_id: int = typer.Argument(..., min=1), by: str = BY, as_json: bool = JSON) -> None:
    """Write the buyer's data pack (CSV, XLSX, manifest with hashes). 生成受让方数据包。"""
    from recoup.legal.limitation import lake_payments
    from recoup.legal.pack import do_build_pack
    from recoup.legal.sales import get_sale, sale_accounts

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        sale = get_sale(sale_id, session=session)
        loans = [a.loan_id for a in sale_accounts(sale.id, session=session)]
        lp = lake_payments(session=session, settings=get_settings(), as_of=today(), loan_ids=loans)
        r = do_build_pack(sale_id, session=session, actor=user, lake_payments=lp)
    if as_json:
        emit({"directory": str(r.directory), "manifest_sha256": r.manifest_sha256, "manifest": r.manifest})
        return
    console.print(
        Text(
            _("data pack written to {path}; manifest sha256 {sha256}").format(
                path=r.directory, sha256=r.manifest_sha256
            )
        )
    )
