"""``recoup demo``: the newcomer's first run, on the embedded defaults (SQLite + a local lake).

It migrates the database, imports an extract (the shipped sample — GBK, Chinese headers, a
mapping file — or, with ``--loans N``, a synthetic portfolio of N loans), mirrors the accounts in
collections into the database, verifies the audit ledger and shows the portfolio as of the
extract date.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer

from recoup.console import is_terminal, log_line, make_console
from recoup.i18n import _

console = make_console()


#: The simulated history of ``make demo LOANS=N`` starts here, so that it spans two month ends.
SIM_START = dt.date(2026, 9, 25)


def _dispatch(engine: Any, now: dt.datetime, total: Any) -> None:
    """Send every message due at ``now`` (batches until none is left)."""
    from recoup.contact.dispatch import run_once

    while True:
        rep = run_once(engine, now=now, batch=500)
        total.add(rep)
        if rep.claimed == 0:
            return


def _simulated_history(
    loans: int, days: int, seed: int, *, settings: Any, engine: Any, lake: Any, sent: Any
) -> tuple[dt.date, Any, _FloorRun]:
    """Run a simulated lender live for ``days`` days: each day's extract is imported and the cycle runs on
    it; the next morning the simulated collectors work their queues and the twin's borrowers answer
    their calls (and pay, or not) during that day, which the next extract brings back."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from recoup.cycle.runner import Cycle
    from recoup.db import session_scope, utcnow
    from recoup.demo_scores import SelfCureChampion
    from recoup.portfolio.flows import import_dir
    from recoup.simulate.agency_offers import plan_agency_offers
    from recoup.simulate.floor import FloorDay, do_plan_field_visits
    from recoup.simulate.world import World

    directory = settings.data_dir / "simulated" / f"{loans}-loans-{days}-days-seed-{seed}-live"
    console.rule(
        _("recoup demo — a simulated lender: {loans} loans, {days} days from {start}").format(
            loans=f"{loans:,}", days=days, start=SIM_START
        )
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    zone = ZoneInfo(settings.timezone)
    cycle = Cycle(engine=engine, lake=lake)
    floor = _floor(loans, settings=settings, engine=engine)
    world = World(None, loans, SIM_START, seed, horizon_days=days)
    outcome = None
    last = SIM_START + dt.timedelta(days=days - 1)
    champion = SelfCureChampion(engine=engine, lake=lake, start=SIM_START, last=last)  # scores from day 41
    log = not is_terminal(sys.stderr)
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(_("simulate + import + daily cycle + the floor + dispatch"), total=days)
        for i in range(days):
            day = world.today
            d = world.write_extract(directory / day.isoformat(), full=i == 0, chinese_headers=True)
            if any(p.suffix == ".csv" for p in d.iterdir()):  # a day when nothing changed has no file
                with session_scope(engine) as session:
                    import_dir(d, as_of=day, settings=settings, lake=lake, session=session, full=i == 0)
            outcome = cycle.run(day)
            if (note := champion.after_day(day)) is not None:
                console.print(note)
            placed = _agency_day(engine, settings, day)  # 委外: 赛马 batches, shares, statements
            # The next morning at 10:00 the dispatcher sends what the day's decisions planned, each
            # message judged by the contact policy at that moment (channels default to CSV files).
            _dispatch(engine, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(10), tzinfo=zone), sent)
            if i < days - 1:
                # That morning the floor allocates and the collectors decide whom to call; the world's
                # borrowers answer during the day; the calls and promises are logged as they happened.
                tomorrow, did = day + dt.timedelta(days=1), FloorDay()
                with session_scope(engine) as session:
                    planned = floor.twin.plan_day(tomorrow, session=session, out=did)
                    planned += plan_agency_offers(floor.twin, tomorrow, session=session, out=did)
                events = world.step([p.action for p in planned] + placed)
                with session_scope(engine) as session:
                    floor.twin.record_day(planned, events, session=session, out=did)
                floor.total.add(did)
            bar.update(task, advance=1)
            if log:  # not a terminal: the bar never shows, so one timestamped line per simulated day
                done = _("day {n}/{days} {day}: imported, cycle run, {sent} messages sent so far")
                log_line("demo", done.format(n=i + 1, days=days, day=day, sent=f"{sent.sent:,}"))
    with session_scope(engine) as session:  # today's approved visits for the field agents' phone pages
        do_plan_field_visits(utcnow().astimezone(zone).date(), session=session, settings=settings)
    assert outcome is not None
    return outcome.as_of, outcome, floor


def _agency_day(engine: Any, settings: Any, day: dt.date) -> list[Any]:
    """The demo's two agencies (set up on the first day): Monday 赛马 batches, monthly shares and
    statements (:mod:`recoup.simulate.agency_floor`); the twin's actions for accounts placed today."""
    from recoup.db import session_scope
    from recoup.simulate.agency_floor import do_agency_morning, do_setup_agencies
    from recoup.simulate.floor import DEMO_PASSWORD

    with session_scope(engine) as session:
        do_setup_agencies(SIM_START, session=session, password=DEMO_PASSWORD)
        return do_agency_morning(day, session=session, settings=settings)


class _FloorRun:
    """The simulated floor of the demo and what it did over all days."""

    def __init__(self, twin: Any, logins: list[str]) -> None:
        from recoup.simulate.floor import FloorDay

        self.twin, self.logins, self.total = twin, logins, _Totals(FloorDay())


class _Totals:
    def __init__(self, day: Any) -> None:
        self.sum = day

    def add(self, day: Any) -> None:
        names = ("allocated", "tasks_done", "calls", "right_party", "promises", "skipped_by_policy")
        for name in (*names, "offers", "settle_offers", "plans", "settlements"):
            setattr(self.sum, name, getattr(self.sum, name) + getattr(day, name))


def _floor(loans: int, *, settings: Any, engine: Any) -> _FloorRun:
    """Demo users (a team lead and one collector per 500 loans, at least two) and their simulated selves."""
    from recoup.db import session_scope
    from recoup.pii import cipher_from_settings
    from recoup.simulate.floor import FloorTwin, do_setup_floor

    with session_scope(engine) as session:
        logins = do_setup_floor(max(2, loans // 500), session=session)
    return _FloorRun(FloorTwin(settings=settings, cipher=cipher_from_settings(settings)), logins)


def run_demo(loans: int, *, seed: int = 7, days: int = 60) -> None:
    from recoup import migrate
    from recoup.config import get_settings
    from recoup.contact.dispatch import DispatchReport
    from recoup.cycle.runner import Cycle
    from recoup.db import allow_database_creation, get_engine, session_scope
    from recoup.demo_report import print_results
    from recoup.demo_scores import scores_line
    from recoup.lake import book_as_of, get_lake
    from recoup.lake.store import Outputs
    from recoup.ledger.service import verify
    from recoup.portfolio.cli import print_outcome, progress_reporter
    from recoup.portfolio.flows import import_dir
    from recoup.sample import SAMPLE_AS_OF, SAMPLE_DIR

    settings = get_settings()
    allow_database_creation()
    engine = get_engine(settings)
    migrate.upgrade(engine)
    lake = get_lake(settings)
    sent = DispatchReport()
    as_of = SAMPLE_AS_OF
    directory: Path = SAMPLE_DIR
    floor: _FloorRun | None = None
    if loans > 0:
        as_of, _outcome, floor = _simulated_history(
            loans, days, seed, settings=settings, engine=engine, lake=lake, sent=sent
        )
    else:
        console.rule(
            _("recoup demo — extract {directory} as of {as_of}").format(directory=directory, as_of=as_of)
        )
        with session_scope(engine) as session, progress_reporter("import") as prog:
            out = import_dir(
                directory, as_of=as_of, settings=settings, lake=lake, session=session, progress=prog
            )
        print_outcome(out)
        with progress_reporter("cycle") as prog:
            Cycle(engine=engine, lake=lake, progress=prog).run(as_of)
        zone = ZoneInfo(settings.timezone)
        _dispatch(engine, dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(10), tzinfo=zone), sent)
    positions = Outputs(lake).read("account_daily", as_of)
    assert positions is not None
    with session_scope(engine) as session:
        book = book_as_of(as_of, session=session, lake=lake)
    with session_scope(engine) as session:
        report = verify(session=session)
    console.print(scores_line(engine=engine, lake=lake, as_of=as_of))  # issue 14: scores in decisions
    print_results(
        as_of=as_of,
        positions=positions,
        book=book,
        ledger=report,
        sent=sent,
        floor=floor,
        settings=settings,
        engine=engine,
        lake=lake,
    )


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        loans: int = typer.Option(
            0, help="Size knob: simulate a lender with this many loans (0 = the sample)."
        ),
        serve: int = typer.Option(0, help="1 = serve the web app on http://127.0.0.1:8000 afterwards."),
        seed: int = typer.Option(7, help="Random seed of the simulated lender."),
        days: int = typer.Option(60, help="Days of simulated history (with --loans)."),
    ) -> None:
        """Set up the embedded database and lake, import an extract, and show the portfolio.

        演示：建库、导入样例数据并展示资产组合。
        """
        run_demo(loans, seed=seed, days=days)
        if serve:
            from recoup.web.cli import run_server

            run_server("127.0.0.1", 8000)


__all__ = ["register", "run_demo"]
