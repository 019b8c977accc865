"""``recoup cycle backfill --from D``: reconstruct the days before the first imported extract."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from recoup.console import make_console
from recoup.portfolio.cli import parse_as_of, progress_reporter

console = make_console()

#: What each counted gap means, for the printed summary (English · Chinese).
GAP_TEXT = {
    "written_off": (
        "written-off loans: the extract does not date the write-off, so they are written off on every day",
        "已核销借据：无核销日期，补录各日均按已核销处理",
    ),
    "unexplained_paid_loans": (
        "loans whose schedule shows more paid than the payment history explains (taken as paid before it)",
        "还款计划已还金额多于还款流水的借据（差额视为流水之前已还）",
    ),
    "overdrawn_loans": (
        "loans whose payments after --from exceed what their schedule shows paid (clipped at zero)",
        "起始日后流水多于计划已还的借据（按零截断）",
    ),
    "penalty_loans": (
        "loans with penalty posted: accrual dates are unknown, overdue penalty may be overstated",
        "有罚息的借据：罚息计提日期未知，逾期罚息可能偏高",
    ),
}


def backfill_cmd(
    start: str = typer.Option(..., "--from", help="The first day to reconstruct (YYYY-MM-DD)."),
    force: bool = typer.Option(False, "--force", help="Reconstruct days that were backfilled before."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (errors too). 输出 JSON。"),
) -> None:
    """Reconstruct the days before the first imported extract from its schedules and payment history,
    so roll rates and the entry rate work from day one. Writes only the daily account states: a past
    day never gets cases, decisions or messages. 由首次全量数据回溯补录此前各日的账户状态。"""
    from recoup import migrate
    from recoup.config import get_settings
    from recoup.cycle.backfill import do_backfill
    from recoup.db import get_engine
    from recoup.lake import get_lake

    day = parse_as_of(start, "--from")
    settings = get_settings()
    engine = get_engine(settings)
    migrate.upgrade(engine)
    with progress_reporter("cycle backfill") as prog:
        out = do_backfill(day, engine=engine, lake=get_lake(settings), force=force, progress=prog)
    if as_json:
        typer.echo(json.dumps(out.as_json(), ensure_ascii=False))
        return
    table = Table(title=f"Backfill from the snapshot of {out.snapshot} · 由 {out.snapshot} 全量数据回溯")
    for col in ("as of", "in collections"):
        table.add_column(col, justify="right" if col != "as of" else "left")
    for d, n in sorted(out.in_collections.items()):
        table.add_row(str(d), f"{n:,}")
    console.print(table)
    console.print(
        f"{len(out.written)} day(s) reconstructed, {len(out.skipped)} already backfilled "
        f"(use --force to redo) in {out.seconds:.1f}s · 补录 {len(out.written)} 天"
    )
    gaps = out.gaps.as_dict() if out.gaps else {}
    shown = [(k, v) for k, v in gaps.items() if k in GAP_TEXT and v]
    if shown:
        console.print("What the snapshot cannot tell · 无法还原的部分:")
        for key, n in shown:
            en, zh = GAP_TEXT[key]
            console.print(f"  {n:,} {en} · {zh}")
    console.print(
        "Not reconstructed: contact attempts, promises, cases and decisions of past days. "
        f"If the daily cycle ran on {out.snapshot} before this backfill, its transitions (entries, cures) "
        f"saw no previous day: rerun it with `recoup cycle run --as-of {out.snapshot} --force`. "
        "过往日期不生成催收记录、案件或决策。"
    )
