"""``recoup collateral …``: collateral items, valuations, repossession and disposal.

* ``recoup collateral list [--loan L] [--status held|repossessed|disposed]`` · ``recoup collateral show ITEM``
* ``recoup collateral add LOAN --kind vehicle --description TEXT [--value 68000.00 --on D] --by USER``
* ``recoup collateral sync [--as-of D] --by USER`` — the lake's ``collateral`` rows of loans in collections
* ``recoup collateral value ITEM --value 60000.00 --on D [--source appraisal] --by USER``
* ``recoup collateral repossess ITEM --on D [--location TEXT] [--costs 800.00] --by USER``
* ``recoup collateral dispose request ITEM --method auction|sale|amc_transfer --reason TEXT
  [--reserve 50000.00] --by USER`` · ``… approve ID --by USER`` · ``… reject ID --reason TEXT --by USER``
  · ``… complete ID --on D --proceeds 62000.00 --costs 1500.00 [--buyer NAME] --by USER`` ·
  ``… cancel ID --reason TEXT --by USER``

``--by`` needs ``legal.manage``, except approving and rejecting a disposal (``plan.approve``, never the
requester). Descriptions are shown masked. Every command takes ``--json``; errors exit with their status
(docs/errors.md): 65 refused, 66 not found, 77 not allowed.
"""

from __future__ import annotations

from typing import Any

import typer

from recoup.db import upgraded_session
from recoup.errors import parse_day
from recoup.i18n import _
from recoup.labels_domain import (
    collateral_kind_label,
    collateral_status_label,
    disposal_method_label,
    valuation_source_label,
)
from recoup.legal.cli import BY, JSON, acting_user, amount, emit, table, yuan

__all__ = ["app"]

app = typer.Typer(
    help="Collateral: valuations, repossession, disposal. 抵质押物：估值、收回、处置。", no_args_is_help=True
)
dispose_app = typer.Typer(
    help="Disposal: request, approve (four eyes), complete. 押品处置（双人复核）。", no_args_is_help=True
)
app.add_typer(dispose_app, name="dispose")


def _item(item: Any, values: dict[str, Any] | None = None) -> dict[str, Any]:
    from recoup.collateral.service import masked_description

    out = {
        "id": item.id,
        "loan_id": item.loan_id,
        "kind": item.kind,
        "description": masked_description(item.kind, item.description),
        "status": item.status,
        "source": item.source,
        "external_id": item.external_id,
    }
    if values is not None:
        out.update(values)
    return out


def _disposal(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "item_id": d.item_id,
        "method": d.method,
        "status": d.status,
        "reserve_price": yuan(d.reserve_price) if d.reserve_price is not None else None,
        "requested_by": d.requested_by,
        "decided_by": d.decided_by,
        "disposed_on": d.disposed_on,
        "proceeds": yuan(d.proceeds),
        "costs": yuan(d.costs),
        "net_recovered": yuan(d.net_recovered),
        "payment_id": d.payment_id,
    }


@app.command("list")
def list_cmd(
    loan: str | None = typer.Option(None, "--loan", help="Only this loan / 仅此借据"),
    status: str | None = typer.Option(None, "--status", help="held, repossessed, disposed / 状态"),
    as_json: bool = JSON,
) -> None:
    """Collateral items with each loan's collateral value, loan-to-value and shortfall. 押品清单。"""
    from recoup.collateral.service import list_items, loan_value_rows

    with upgraded_session() as session:
        items = list_items(session=session, loan_id=loan, status=status)
        values = {
            r["loan_id"]: r
            for r in loan_value_rows(session=session, loan_ids={i.loan_id for i in items}).iter_rows(
                named=True
            )
        }
        rows = [_item(i) for i in items]
        loans = [
            {
                "loan_id": k,
                "items": v["items"],
                "collateral_value": yuan(v["collateral_value"]),
                "balance": yuan(v["balance"]),
                "ltv_pct": None if v["ltv_bp"] is None else v["ltv_bp"] / 100,
                "shortfall": yuan(v["shortfall"]),
            }
            for k, v in sorted(values.items())
        ]
    if as_json:
        emit({"items": rows, "loans": loans})
        return
    if not rows:
        typer.echo(_("no collateral"))
        return
    table(
        _("Collateral"),
        ["ID", _("Loan"), _("Kind"), _("Description"), _("Status")],
        [
            [
                r["id"],
                r["loan_id"],
                collateral_kind_label(r["kind"]),
                r["description"],
                collateral_status_label(r["status"]),
            ]
            for r in rows
        ],
    )
    table(
        _("By loan"),
        [_("Loan"), _("Collateral value"), _("Balance"), "LTV", _("Shortfall")],
        [
            [
                x["loan_id"],
                x["collateral_value"],
                x["balance"],
                "—" if x["ltv_pct"] is None else f"{x['ltv_pct']:.2f}%",
                x["shortfall"],
            ]
            for x in loans
        ],
    )


@app.command("show")
def show_cmd(item_id: int = typer.Argument(..., min=1), as_json: bool = JSON) -> None:
    """An item: its valuations, repossession and disposals. 押品详情。"""
    from recoup.collateral.disposal import item_disposals
    from recoup.collateral.service import get_item, item_valuations, loan_value_rows, repossession_of

    with upgraded_session() as session:
        item = get_item(item_id, session=session)
        v = loan_value_rows(session=session, loan_ids=[item.loan_id])
        rep = repossession_of(item.id, session=session)
        out = _item(item)
        out["valuations"] = [
            {"on": x.valued_on, "value": yuan(x.value), "source": x.source}
            for x in item_valuations(item.id, session=session)
        ]
        out["repossession"] = (
            None
            if rep is None
            else {"on": rep.repossessed_on, "location": rep.location, "costs": yuan(rep.costs)}
        )
        out["disposals"] = [_disposal(d) for d in item_disposals(item.id, session=session)]
        if not v.is_empty():
            r = v.row(0, named=True)
            out["loan"] = {
                "collateral_value": yuan(r["collateral_value"]),
                "balance": yuan(r["balance"]),
                "ltv_pct": None if r["ltv_bp"] is None else r["ltv_bp"] / 100,
                "shortfall": yuan(r["shortfall"]),
            }
    if as_json:
        emit({"item": out})
        return
    kind, status = collateral_kind_label(out["kind"]), collateral_status_label(out["status"])
    text = _("item {id} · loan {loan} · {kind} · {status} · {description}")
    typer.echo(
        text.format(
            id=out["id"], loan=out["loan_id"], kind=kind, status=status, description=out["description"]
        )
    )
    table(
        _("Valuations"),
        [_("On"), _("Value"), _("Source")],
        [[x["on"], x["value"], valuation_source_label(x["source"])] for x in out["valuations"]],
    )
    if out["disposals"]:
        table(
            _("Disposals"),
            ["ID", _("Method"), _("Status"), _("Net recovered")],
            [
                [
                    d["id"],
                    disposal_method_label(d["method"]),
                    collateral_status_label(d["status"]),
                    d["net_recovered"],
                ]
                for d in out["disposals"]
            ],
        )


@app.command("add")
def add_cmd(
    loan_id: str = typer.Argument(..., help="The loan / 借据号"),
    kind: str = typer.Option(..., "--kind", help="vehicle, property, equipment, deposit, receivable, other"),
    description: str = typer.Option("", "--description", help="What it is / 描述"),
    value: str | None = typer.Option(None, "--value", help="A first valuation / 初始估值"),
    on: str | None = typer.Option(None, "--on", help="Its date (YYYY-MM-DD) / 估值日期"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Add a collateral item to a loan by hand. 手工登记押品。"""
    from recoup.collateral.service import do_add_item

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        item = do_add_item(
            loan_id,
            kind=kind,
            description=description,
            session=session,
            actor=user.username,
            value=amount(value, "--value"),
            valued_on=parse_day(on, "--on") if on else None,
        )
        out = _item(item)
    if as_json:
        emit({"item": out})
        return
    typer.echo(_("collateral item {id} added to {loan}").format(id=out["id"], loan=loan_id))


@app.command("sync")
def sync_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="The book's date (default the latest) / 账簿日期"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Take the lake's collateral rows of the loans in collections. 从数据湖同步押品。"""
    from recoup.collateral.service import do_sync_from_lake
    from recoup.config import get_settings
    from recoup.lake import book_as_of, get_lake
    from recoup.legal.cli import today

    s = get_settings()
    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        book = book_as_of(parse_day(as_of) if as_of else today(), session=session, lake=get_lake(s))
        added, valued = do_sync_from_lake(book.frame("collateral"), session=session, actor=user.username)
    if as_json:
        emit({"items": added, "valuations": valued, "as_of": book.manifest_as_of})
        return
    typer.echo(_("{added} items and {valued} valuations taken").format(added=added, valued=valued))


@app.command("value")
def value_cmd(
    item_id: int = typer.Argument(..., min=1),
    value: str = typer.Option(..., "--value", help="The value, e.g. 60000.00 / 估值"),
    on: str = typer.Option(..., "--on", help="YYYY-MM-DD / 估值日期"),
    source: str = typer.Option("appraisal", "--source", help="appraisal, market, auction, manual / 来源"),
    note: str = typer.Option("", "--note"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Record a valuation of an item. 登记估值。"""
    from recoup.collateral.service import do_value

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        v = do_value(
            item_id,
            value=amount(value, "--value") or 0,
            valued_on=parse_day(on, "--on"),
            source=source,
            note=note,
            session=session,
            actor=user.username,
        )
        out = {"id": v.id, "item_id": item_id, "value": yuan(v.value), "on": v.valued_on, "source": v.source}
    if as_json:
        emit({"valuation": out})
        return
    text = _("item {id} valued {value} on {on} ({source})")
    typer.echo(
        text.format(id=item_id, value=out["value"], on=out["on"], source=valuation_source_label(source))
    )


@app.command("repossess")
def repossess_cmd(
    item_id: int = typer.Argument(..., min=1),
    on: str = typer.Option(..., "--on", help="YYYY-MM-DD / 收回日期"),
    location: str = typer.Option("", "--location", help="Where it is kept / 存放地点"),
    costs: str | None = typer.Option(None, "--costs", help="Towing, storage … / 收回费用"),
    note: str = typer.Option("", "--note"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Record the repossession (收回) of a held item. 登记收回。"""
    from recoup.collateral.service import do_repossess

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        r = do_repossess(
            item_id,
            on=parse_day(on, "--on"),
            location=location,
            costs=amount(costs, "--costs") or 0,
            note=note,
            session=session,
            actor=user.username,
        )
        out = {"item_id": item_id, "on": r.repossessed_on, "costs": yuan(r.costs)}
    if as_json:
        emit({"repossession": out})
        return
    typer.echo(_("item {id} repossessed on {on}").format(id=item_id, on=out["on"]))


def _done(d: Any, as_json: bool, what: str) -> None:
    out = _disposal(d)
    if as_json:
        emit({"disposal": out})
        return
    # ``what`` (the action) is what the state says already; the state is shown as words.
    typer.echo(
        _("disposal {id}: {status}").format(id=out["id"], status=collateral_status_label(out["status"]))
    )


@dispose_app.command("request")
def dispose_request(
    item_id: int = typer.Argument(..., min=1),
    method: str = typer.Option(..., "--method", help="auction, sale or amc_transfer / 处置方式"),
    reason: str = typer.Option(..., "--reason", help="Why / 理由"),
    reserve: str | None = typer.Option(None, "--reserve", help="Reserve price / 保留价"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Ask to dispose of an item; another person approves. 申请处置。"""
    from recoup.collateral.disposal import do_request_disposal

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        d = do_request_disposal(
            item_id,
            method=method,
            reason=reason,
            reserve_price=amount(reserve, "--reserve"),
            session=session,
            actor=user,
        )
        _done(d, as_json, "requested")


@dispose_app.command("approve")
def dispose_approve(
    disposal_id: int = typer.Argument(..., min=1),
    note: str = typer.Option("", "--note"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Approve another person's disposal request. 审批处置。"""
    from recoup.collateral.disposal import do_approve_disposal

    with upgraded_session() as session:
        user = acting_user(by, "plan.approve", session=session)
        _done(do_approve_disposal(disposal_id, session=session, actor=user, note=note), as_json, "approved")


@dispose_app.command("reject")
def dispose_reject(
    disposal_id: int = typer.Argument(..., min=1),
    reason: str = typer.Option(..., "--reason"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Reject another person's disposal request. 驳回处置。"""
    from recoup.collateral.disposal import do_reject_disposal

    with upgraded_session() as session:
        user = acting_user(by, "plan.approve", session=session)
        _done(
            do_reject_disposal(disposal_id, session=session, actor=user, reason=reason), as_json, "rejected"
        )


@dispose_app.command("complete")
def dispose_complete(
    disposal_id: int = typer.Argument(..., min=1),
    on: str = typer.Option(..., "--on", help="YYYY-MM-DD / 处置日期"),
    proceeds: str = typer.Option(..., "--proceeds", help="What it fetched / 处置收入"),
    costs: str = typer.Option("0", "--costs", help="Auction fee, taxes … / 处置费用"),
    buyer: str = typer.Option("", "--buyer", help="The buyer / 买受人"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Record an approved disposal's outcome; the net recovery is applied to the account. 登记处置结果。"""
    from recoup.collateral.disposal import do_complete_disposal

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        d = do_complete_disposal(
            disposal_id,
            disposed_on=parse_day(on, "--on"),
            proceeds=amount(proceeds, "--proceeds") or 0,
            costs=amount(costs, "--costs") or 0,
            buyer=buyer,
            session=session,
            actor=user,
        )
        _done(d, as_json, "completed")


@dispose_app.command("cancel")
def dispose_cancel(
    disposal_id: int = typer.Argument(..., min=1),
    reason: str = typer.Option(..., "--reason"),
    by: str = BY,
    as_json: bool = JSON,
) -> None:
    """Cancel a disposal that will not happen. 取消处置。"""
    from recoup.collateral.disposal import do_cancel_disposal

    with upgraded_session() as session:
        user = acting_user(by, "legal.manage", session=session)
        _done(
            do_cancel_disposal(disposal_id, session=session, actor=user, reason=reason), as_json, "cancelled"
        )
