"""``recoup cycle run`` and ``recoup cycle status``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from recoup.console import make_console
from recoup.i18n import _
from recoup.labels import step_label, step_status_label
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
    table = Table(title=_("Daily cycle"))
    heads = (_("As of"), _("Step"), _("Status"), _("Rows"), _("Seconds"), _("Detail"))
    for i, col in enumerate(heads):
        table.add_column(col, justify="right" if i in (3, 4) else "left")
    for o in outcomes:
        for s in o.steps:
            table.add_row(
                str(o.as_of),
                step_label(s.step),
                step_status_label(s.status),
                f"{s.rows:,}",
                f"{s.seconds:.2f}",
                s.detail,
            )
    console.print(table)
    for o in outcomes:
        if o.interrupted:
            text = _("{n} step(s) of a killed run were marked interrupted and resumed.")
            console.print(f"[yellow]{text.format(n=o.interrupted)}[/]")
        if o.stale_book and o.book_as_of is not None:
            text = _(
                "{day}: ran on the book of {book} (manifest {manifest}); no extract for {day} was imported"
            )
            console.print(f"[yellow]{text.format(day=o.as_of, book=o.book_as_of, manifest=o.manifest_id)}[/]")


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
    table = Table(title=_("Daily cycle runs (cycle_run)"))
    for col in (
        _("Run"),
        _("As of"),
        _("Step"),
        _("Status"),
        _("Manifest"),
        _("Rows"),
        _("Seconds"),
        _("Finished (UTC)"),
        _("Detail"),
    ):
        table.add_column(col)
    with session_scope() as session:
        for r in status(session=session, limit=limit):
            table.add_row(
                r.run_id[:8],
                str(r.as_of),
                r.step,  # the records' own codes, as logs and alerts name them
                r.status,
                "" if r.manifest_id is None else str(r.manifest_id),
                f"{r.rows:,}",
                f"{r.seconds:.2f}",
                r.finished_at.strftime("%Y-%m-%d %H:%M:%S") if r.finished_at else "",
                r.detail,
            )
    console.print(table)


def _mount_backfill() -> None:
    from recoup.cycle.backfill_cli import backfill_cmd

    app.command("backfill")(backfill_cmd)


_mount_backfill()
