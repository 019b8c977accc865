"""``recoup config prices|capacity show|set``: the lender's treatment prices and capacity as versioned
configuration (:mod:`recoup.strategy.economics`; docs/strategy.md, "Prices and capacity")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from recoup.console import make_console

__all__ = ["app", "capacity_app", "prices_app"]

app = typer.Typer(
    help="The lender's configuration: treatment prices and capacity (versioned). 价格与产能配置。",
    no_args_is_help=True,
)
prices_app = typer.Typer(
    help="Treatment prices and agency commission by bucket. 处置价格与委外佣金。", no_args_is_help=True
)
capacity_app = typer.Typer(
    help="Staff, limits and hours on duty per resource. 各资源人员、上限与值班时间。", no_args_is_help=True
)
app.add_typer(prices_app, name="prices")
app.add_typer(capacity_app, name="capacity")

_FILE = typer.Argument(..., help="A .json or .toml document (as `show --json` prints it).")
_COMMENT = typer.Option("", "--comment", help="Why this version (kept with it).")
_BY = typer.Option("cli", "--by", help="Who saves it.")
_JSON = typer.Option(False, "--json", help="Print one JSON object.")


def _version_line(kind: str, version: int) -> str:
    from recoup.i18n import _

    if version == 0:
        return _("{kind}: defaults (version 0, nothing saved)").format(kind=kind)
    return _("{kind}: version {version}").format(kind=kind, version=version)


def _saved(kind: str, version: int, before: int, as_json: bool) -> None:
    from recoup.i18n import _

    if as_json:
        typer.echo(json.dumps({"kind": kind, "version": version, "changed": version != before}))
        return
    if version == before:
        typer.echo(_("unchanged: {kind} version {version}").format(kind=kind, version=version))
    else:
        typer.echo(_("saved {kind} version {version}").format(kind=kind, version=version))


def _yuan(fen: int) -> str:
    from recoup.money import format_amount

    return format_amount(fen)


@prices_app.command("show")
def prices_show(as_json: bool = _JSON) -> None:
    """Show the prices in force: fen per treatment and the agencies' commission by bucket."""
    from recoup.db import upgraded_session
    from recoup.i18n import _
    from recoup.labels import treatment_label
    from recoup.strategy.economics import PRICES_KIND, load_prices

    with upgraded_session() as session:
        prices = load_prices(session=session)
    if as_json:
        typer.echo(
            json.dumps(
                {"kind": PRICES_KIND, "version": prices.version, **prices.payload()}, ensure_ascii=False
            )
        )
        return
    console = make_console()
    console.print(_version_line(PRICES_KIND, prices.version))
    table = Table(title=_("Treatment prices"))
    for col in (_("Treatment"), _("Price (fen)"), _("Price")):
        table.add_column(col)
    for name, fen in prices.treatments.items():
        table.add_row(f"{name} {treatment_label(name)}", f"{fen:,}", _yuan(fen))
    console.print(table)
    table = Table(title=_("Agency commission by bucket"))
    for col in (_("Bucket"), _("Commission (bp)"), _("Commission")):
        table.add_column(col)
    for bucket, bp in prices.agency_commission_bp.items():
        table.add_row(bucket, f"{bp:,}", f"{bp / 100:.2f} %")
    console.print(table)


@prices_app.command("set")
def prices_set(file: Path = _FILE, comment: str = _COMMENT, actor: str = _BY, as_json: bool = _JSON) -> None:
    """Validate a prices document and save it as the next version (entries left out keep the defaults)."""
    from recoup.db import upgraded_session
    from recoup.strategy.economics import PRICES_KIND, PricesError, load_prices, read_document, save_prices

    data = read_document(file, PricesError)
    with upgraded_session() as session:
        before = load_prices(session=session).version
        saved = save_prices(data, session=session, created_by=actor, comment=comment)
    _saved(PRICES_KIND, saved.version, before, as_json)


def _hours(entry: dict[str, Any]) -> str:
    h = entry.get("hours")
    return f"{h[0]:02d}–{h[1]:02d}" if h else ""


@capacity_app.command("show")
def capacity_show(
    loans: int | None = typer.Option(
        None, "--loans", min=1, help="Also show the day's limits for a book of N loans."
    ),
    as_json: bool = _JSON,
) -> None:
    """Show the capacity in force: per resource its limit or staff, the hours on duty, minutes per task."""
    from recoup.db import upgraded_session
    from recoup.i18n import _
    from recoup.strategy.capacity import PER_10K
    from recoup.strategy.economics import CAPACITY_KIND, load_capacity

    with upgraded_session() as session:
        staffing = load_capacity(session=session)
    payload = staffing.payload()
    limits = staffing.capacity(loans).limits() if loans is not None else None
    if as_json:
        out: dict[str, Any] = {"kind": CAPACITY_KIND, "version": staffing.version, **payload}
        if limits is not None:
            out["limits"] = {"loans": loans, **limits}
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    console = make_console()
    console.print(_version_line(CAPACITY_KIND, staffing.version))
    table = Table(title=_("Capacity per resource"))
    columns = [
        _("Resource"),
        _("Daily limit"),
        _("Staff"),
        _("Per person a day"),
        _("Hours on duty"),
        _("Staff by hour"),
    ]
    if limits is not None:
        columns.append(_("Limit for {loans} loans").format(loans=f"{loans:,}"))
    for col in columns:
        table.add_column(col)
    for name, per_10k in PER_10K.items():
        entry = payload["resources"].get(name)
        if entry is None:
            row = [name, _("{n} per 10,000 loans (default)").format(n=f"{per_10k:,}"), "", "", "", ""]
        else:
            limit = entry.get("limit")
            daily = entry["staff"] * entry["per_staff"] if "staff" in entry else limit
            by_hour = " ".join(f"{h}:{n}" for h, n in (entry.get("staff_by_hour") or {}).items())
            row = [
                name,
                _("unlimited") if daily is None else f"{daily:,}",
                str(entry.get("staff", "")),
                str(entry.get("per_staff", "")),
                _hours(entry),
                by_hour,
            ]
        if limits is not None:
            value = limits.get(name)
            row.append(_("unlimited") if value is None else f"{value:,}")
        table.add_row(*row)
    console.print(table)
    minutes = ", ".join(f"{t} {m}" for t, m in payload["minutes"].items())
    console.print(_("Agent minutes per task: {minutes}").format(minutes=minutes))


@capacity_app.command("set")
def capacity_set(
    file: Path = _FILE, comment: str = _COMMENT, actor: str = _BY, as_json: bool = _JSON
) -> None:
    """Validate a capacity document and save it as the next version (resources left out scale with the
    book, as by default)."""
    from recoup.db import upgraded_session
    from recoup.strategy.economics import (
        CAPACITY_KIND,
        CapacityError,
        load_capacity,
        read_document,
        save_capacity,
    )

    data = read_document(file, CapacityError)
    with upgraded_session() as session:
        before = load_capacity(session=session).version
        saved = save_capacity(data, session=session, created_by=actor, comment=comment)
    _saved(CAPACITY_KIND, saved.version, before, as_json)
