"""``recoup allocate --as-of D [--kind auto|daily|month_start] [--method …] [--dry-run] [--json]``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.table import Table

from recoup.console import make_console
from recoup.errors import RecoupError


class AllocateInputError(RecoupError):
    code = "allocation.bad_option"
    exit_code = 64  # EX_USAGE


def allocate_cmd(
    as_of: Annotated[str, typer.Option("--as-of", help="Business date YYYY-MM-DD / 分案日期")],
    kind: Annotated[
        str, typer.Option("--kind", help="auto (month_start on the 1st), daily or month_start / 分案类型")
    ] = "auto",
    method: Annotated[
        str, typer.Option("--method", help="balanced, round_robin or performance / 分配方式")
    ] = "balanced",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would happen; change nothing / 试运行")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Allocate open cases to collectors (分案 / 留案 / 回流) by the pool table, within caps."""
    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError:
        raise AllocateInputError(
            f"--as-of {as_of!r} is not a date YYYY-MM-DD / 日期格式应为 YYYY-MM-DD", details={"as_of": as_of}
        ) from None
    if kind not in ("auto", "daily", "month_start"):
        raise AllocateInputError(f"unknown --kind {kind!r} / 未知分案类型", details={"kind": kind})
    if method not in ("balanced", "round_robin", "performance"):
        raise AllocateInputError(f"unknown --method {method!r} / 未知分配方式", details={"method": method})
    from recoup.cases.allocate_flow import do_allocate
    from recoup.db import upgraded_session

    with upgraded_session() as session:
        result = do_allocate(
            day,
            session=session,
            actor="cli",
            kind=kind,  # type: ignore[arg-type]
            method=method,  # type: ignore[arg-type]
            dry_run=dry_run,
        )
        if dry_run:
            session.rollback()
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, default=str))
        return
    from recoup.i18n import _

    console = make_console()
    title = _("dry run") if dry_run else _("batch {batch}").format(batch=result.batch_id)
    head = _("allocation {kind} as of {day} ({method}, {rules}) — {title}")
    console.print(
        head.format(kind=result.kind, day=day, method=result.method, rules=result.rule_version, title=title)
    )
    c = result.counts
    console.print(
        _(
            "retained {retained} · returned {returned} · allocated {allocated} · unallocated {unallocated} · "
            "moved {moved}"
        ).format(
            retained=f"{c.get('retained', 0):,}",
            returned=f"{c.get('returned', 0):,}",
            allocated=f"{c.get('allocated', 0):,}",
            unallocated=f"{c.get('unallocated', 0):,}",
            moved=f"{result.moved:,}",
        )
    )
    if result.balance.height:
        table = Table(title=_("Balance per pool"))
        heads = (
            _("Pool"),
            _("Collectors"),
            _("Cases"),
            _("Unallocated"),
            _("Count deviation"),
            _("Amount deviation"),
        )
        for i, col in enumerate(heads):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in result.balance.iter_rows(named=True):
            table.add_row(
                str(row["pool"]),
                f"{row['collectors']:,}",
                f"{row['cases']:,}",
                f"{row['unallocated']:,}",
                "" if row["count_dev"] is None else f"{row['count_dev']:.1%}",
                "" if row["amount_dev"] is None else f"{row['amount_dev']:.1%}",
            )
        console.print(table)
    elif not c:
        console.print(_("no case to allocate"))


def register(app: typer.Typer) -> None:
    """Mount ``allocate`` on the ``recoup`` command."""
    app.command("allocate")(allocate_cmd)
