"""``recoup cycle run`` and ``recoup cycle status``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from recoup.console import make_console
from recoup.portfolio.cli import parse_as_of, progress_reporter

if TYPE_CHECKING:
    from recoup.cycle.runner import CycleOutcome

app = typer.Typer(
    help="The daily cycle: delinquency, classification, case intake. 每日批处理。", no_args_is_help=True
)
console = make_console()


@app.command("run")
def run_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="Run the cycle for this date (YYYY-MM-DD)."),
    start: str | None = typer.Option(None, "--from", help="Replay a range from this date …"),
    end: str | None = typer.Option(None, "--to", help="… to this date, in order."),
    force: bool = typer.Option(False, "--force", help="Rerun steps that already finished for the date."),
    allow_stale_book: bool = typer.Option(
        False,
        "--allow-stale-book",
        help="Run even if the day's extract is not imported yet, on the last imported book "
        "(recorded; a rerun after the import redoes the steps).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (errors too). 输出 JSON。"),
) -> None:
    """Run the daily cycle over the book as of a date (or replay a range); finished steps are skipped.

    Refuses (exit 66, ``cycle.no_extract``) when the day's extract has not been imported, and waits
    up to ``RECOUP_LOCK_WAIT_SECONDS`` for a running import or cycle (then exit 75, ``lock.busy``).
    """
    from recoup import migrate
    from recoup.config import get_settings
    from recoup.cycle.runner import Cycle, run_range
    from recoup.db import get_engine
    from recoup.errors import UsageError
    from recoup.lake import get_lake

    if as_of is not None and (start or end):
        raise UsageError("give either --as-of or --from/--to")
    if as_of is None and not (start and end):
        raise UsageError("give --as-of D, or --from D1 --to D2")
    # Dates are checked before anything is opened: a bad one is a usage error (exit 64).
    day = parse_as_of(as_of) if as_of is not None else None
    first = parse_as_of(start, "--from") if start else None
    last = parse_as_of(end, "--to") if end else None
    settings = get_settings()
    engine = get_engine(settings)
    migrate.upgrade(engine)
    with progress_reporter("cycle") as prog:
        cycle = Cycle(engine=engine, lake=get_lake(settings), progress=prog)
        if day is not None:
            outcomes = [cycle.run(day, force=force, allow_stale_book=allow_stale_book)]
        else:
            assert first is not None and last is not None
            outcomes = run_range(cycle, first, last, force=force, allow_stale_book=allow_stale_book)
    if as_json:
        import json

        typer.echo(json.dumps({"runs": [_outcome_json(o) for o in outcomes]}, ensure_ascii=False))
        return
    table = Table(title="Daily cycle · 每日批处理")
    for col in ("as of", "step", "status", "rows", "seconds", "detail"):
        table.add_column(col, justify="right" if col in {"rows", "seconds"} else "left")
    for o in outcomes:
        for s in o.steps:
            table.add_row(str(o.as_of), s.step, s.status, f"{s.rows:,}", f"{s.seconds:.2f}", s.detail)
    console.print(table)
    for o in outcomes:
        if o.interrupted:
            console.print(
                f"[yellow]{o.interrupted} step(s) of a killed run were marked interrupted and resumed.[/]"
            )
        if o.stale_book and o.book_as_of is not None:
            console.print(
                f"[yellow]{o.as_of}: ran on the book of {o.book_as_of} (manifest {o.manifest_id}); "
                f"no extract for {o.as_of} was imported · 使用了 {o.book_as_of} 的数据[/]"
            )


def _outcome_json(o: CycleOutcome) -> dict[str, object]:
    return {
        "as_of": o.as_of.isoformat(),
        "run_id": o.run_id,
        "manifest_id": o.manifest_id,
        "book_as_of": o.book_as_of.isoformat() if o.book_as_of is not None else None,
        "stale_book": o.stale_book,
        "interrupted": o.interrupted,
        "steps": [
            {
                "step": s.step,
                "status": s.status,
                "rows": s.rows,
                "seconds": round(s.seconds, 3),
                "detail": s.detail,
            }
            for s in o.steps
        ],
    }


@app.command("status")
def status_cmd(
    limit: int = typer.Option(30, "-n", min=1, max=100_000, help="How many step records to show."),
) -> None:
    """Show the most recent cycle steps with status, row counts and timing."""
    from recoup import migrate
    from recoup.cycle.runner import status
    from recoup.db import get_engine, session_scope

    migrate.upgrade(get_engine())
    table = Table(title="cycle_run")
    for col in ("run", "as of", "step", "status", "manifest", "rows", "seconds", "finished (UTC)", "detail"):
        table.add_column(col)
    with session_scope() as session:
        for r in status(session=session, limit=limit):
            table.add_row(
                r.run_id[:8],
                str(r.as_of),
                r.step,
                r.status,
                "" if r.manifest_id is None else str(r.manifest_id),
                f"{r.rows:,}",
                f"{r.seconds:.2f}",
                r.finished_at.strftime("%Y-%m-%d %H:%M:%S") if r.finished_at else "",
                r.detail,
            )
    console.print(table)
