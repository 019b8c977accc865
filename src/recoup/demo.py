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

import polars as pl
import typer
from rich.table import Table

from recoup.console import is_terminal, log_line, make_console
from recoup.money import format_amount

console = make_console()


def _table(title: str, frame: pl.DataFrame, key: str, key_title: str, currency: str) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column(key_title)
    for col, justify in (
        ("loans · 借据", "right"),
        ("borrowers · 借款人", "right"),
        ("outstanding principal · 剩余本金", "right"),
        ("overdue · 逾期金额", "right"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in frame.iter_rows(named=True):
        t.add_row(
            str(r[key]),
            f"{r['loans']:,}",
            f"{r['borrowers']:,}",
            format_amount(r["outstanding_principal"], currency),
            format_amount(r["overdue_amount"], currency),
        )
    tot = frame.select(pl.col("loans", "outstanding_principal", "overdue_amount").sum()).row(0, named=True)
    t.add_row(
        "[b]total · 合计[/]",
        f"[b]{tot['loans']:,}[/]",
        "",
        f"[b]{format_amount(tot['outstanding_principal'], currency)}[/]",
        f"[b]{format_amount(tot['overdue_amount'], currency)}[/]",
    )
    return t


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
    from recoup.portfolio.flows import import_dir
    from recoup.simulate.floor import FloorDay, do_plan_field_visits
    from recoup.simulate.world import World

    directory = settings.data_dir / "simulated" / f"{loans}-loans-{days}-days-seed-{seed}-live"
    console.rule(f"recoup demo · 演示 — a simulated lender: {loans:,} loans, {days} days from {SIM_START}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    zone = ZoneInfo(settings.timezone)
    cycle = Cycle(engine=engine, lake=lake)
    floor = _floor(loans, settings=settings, engine=engine)
    world = World(None, loans, SIM_START, seed, horizon_days=days)
    outcome = None
    log = not is_terminal(sys.stderr)
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(
            "simulate + import + daily cycle + the floor + dispatch · 模拟、导入、批处理、作业与发送",
            total=days,
        )
        for i in range(days):
            day = world.today
            d = world.write_extract(directory / day.isoformat(), full=i == 0, chinese_headers=True)
            if any(p.suffix == ".csv" for p in d.iterdir()):  # a day when nothing changed has no file
                with session_scope(engine) as session:
                    import_dir(d, as_of=day, settings=settings, lake=lake, session=session, full=i == 0)
            outcome = cycle.run(day)
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
                events = world.step([p.action for p in planned] + placed)
                with session_scope(engine) as session:
                    floor.twin.record_day(planned, events, session=session, out=did)
                floor.total.add(did)
            bar.update(task, advance=1)
            if log:  # not a terminal: the bar never shows, so one timestamped line per simulated day
                done = f"imported, cycle run, {sent.sent:,} messages sent so far"
                log_line("demo", f"day {i + 1}/{days} {day}: {done}")
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
        for name in ("allocated", "tasks_done", "calls", "right_party", "promises", "skipped_by_policy"):
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
    from recoup.lake import book_as_of, get_lake
    from recoup.lake.store import Outputs
    from recoup.ledger.service import verify
    from recoup.portfolio.cli import print_outcome, progress_reporter
    from recoup.portfolio.flows import import_dir
    from recoup.portfolio.kernel import summary_by
    from recoup.reporting.book import entry_rate_window
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
        as_of, cycle, floor = _simulated_history(
            loans, days, seed, settings=settings, engine=engine, lake=lake, sent=sent
        )
    else:
        console.rule(f"recoup demo · 演示 — extract {directory} as of {as_of}")
        with session_scope(engine) as session, progress_reporter("import") as prog:
            out = import_dir(
                directory, as_of=as_of, settings=settings, lake=lake, session=session, progress=prog
            )
        print_outcome(out)
        with progress_reporter("cycle") as prog:
            cycle = Cycle(engine=engine, lake=lake, progress=prog).run(as_of)
        zone = ZoneInfo(settings.timezone)
        _dispatch(engine, dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(10), tzinfo=zone), sent)
    intake = next(s for s in cycle.steps if s.step == "intake")
    positions = Outputs(lake).read("account_daily", as_of)
    assert positions is not None
    with session_scope(engine) as session:
        book = book_as_of(as_of, session=session, lake=lake)
    with session_scope(engine) as session:
        report = verify(session=session)

    cur = settings.currency
    n_borrowers = book.frame("borrowers").height
    in_coll = int(positions.get_column("in_collections").sum())
    console.print(
        f"\n[b]Portfolio as of {as_of} · 资产组合[/]  loans 借据 {positions.height:,} · borrowers 借款人 "
        f"{n_borrowers:,} · in collections 在催账户 {in_coll:,}"
    )
    console.print(f"cases · 案件: {intake.detail}")
    console.print(
        _table(
            "By product · 按产品",
            summary_by(positions, "product_type"),
            "product_type",
            "product · 产品",
            cur,
        )
    )
    console.print(
        _table(
            "By days past due · 按逾期阶段 (C = current, M1 = 1–30 days, …)",
            summary_by(positions, "bucket", order="bucket_rank"),
            "bucket",
            "bucket · 账龄",
            cur,
        )
    )
    console.print(
        _table(
            "Five-category class · 五级分类",
            summary_by(positions, "loan_class_zh", order="class_rank"),
            "loan_class_zh",
            "class · 分类",
            cur,
        )
    )
    entry = entry_rate_window(
        book.frame("installments"), start=as_of - dt.timedelta(days=30), end=as_of - dt.timedelta(days=1)
    ).row(0, named=True)
    due, unpaid = entry["amount_due"], entry["amount_unpaid"]
    rate = "—" if entry["rate"] is None else f"{entry['rate']:.1%}"
    console.print(
        f"entry rate · 入催率 (due {as_of - dt.timedelta(days=30)} – {as_of - dt.timedelta(days=1)}): {rate} "
        f"({format_amount(unpaid, cur)} unpaid of {format_amount(due, cur)} due)"
    )
    _print_roll_rates(lake, as_of)
    _print_contact(engine, lake, as_of, sent, settings)
    if floor is not None:
        _print_floor(engine, as_of, floor)
        _print_agencies(as_of)
    console.print(f"audit ledger · 审计账本: {report.summary()}")
    console.print(f"data · 数据: database {settings.database_url} · lake {settings.lake_uri}")


def _print_floor(engine: Any, as_of: dt.date, floor: _FloorRun) -> None:
    """What the simulated collectors did, and the collector KPI table for the month to date."""
    from recoup.db import session_scope
    from recoup.reporting.collectors import collector_report
    from recoup.simulate.floor import DEMO_PASSWORD

    t = floor.total.sum
    console.print(
        "\n[b]The floor · 催收作业[/] (simulated collectors working their queues through recoup's services): "
        f"cases allocated 分案 {t.allocated:,} · calls 拨打 {t.calls:,} · "
        f"right-party 接通本人 {t.right_party:,} · "
        f"promises 承诺 {t.promises:,} · tasks done 完成任务 {t.tasks_done:,} · "
        f"calls the policy held back 合规拦截 {t.skipped_by_policy:,}"
    )
    start = as_of.replace(day=1)
    with session_scope(engine) as session:
        report = collector_report(start, as_of, session=session)
    table = Table(title=f"Collectors {start} – {as_of} · 催收员绩效 (`recoup report collectors`)")
    heads = (
        ("username", "collector\n催收员"),
        ("attempts", "calls\n拨打"),
        ("rpc_rate", "RPC\n接通率"),
        ("coverage", "coverage\n覆盖率"),
        ("promise_rate", "promise\n承诺率"),
        ("kept_rate", "kept\n兑现率"),
        ("collected", "credited\n回款"),
    )
    for key, title in heads:
        table.add_column(title, no_wrap=True, justify="left" if key == "username" else "right")
    for row in report.iter_rows(named=True):
        cells = []
        for key, _title in heads:
            v = row.get(key)
            if key == "username":
                cells.append(v or "all · 合计")
            elif key == "collected":
                cells.append(format_amount(int(v or 0), "CNY"))
            elif key.endswith("rate") or key == "coverage":
                cells.append("—" if v is None else f"{v:.1%}")
            else:
                cells.append(f"{int(v or 0):,}")
        table.add_row(*cells)
    console.print(table)
    console.print(f"demo logins · 演示账号: {', '.join(floor.logins)} (password · 密码 {DEMO_PASSWORD})")


def _print_agencies(as_of: dt.date) -> None:
    """The agencies' month to date as `recoup report agencies` prints it: recovery, commission, complaints."""
    from recoup.agencies.cli import report_agencies

    console.print("\n[b]Agencies · 委外机构[/] (赛马 batches every Monday; sign in as agency1 or agency2)")
    report_agencies(month=as_of.strftime("%Y-%m"), as_json=False)


def _print_roll_rates(lake: Any, as_of: dt.date) -> None:
    """Last complete month's roll-rate matrix, when the cycle ran at both of its month ends."""
    from recoup.lake.store import Outputs
    from recoup.reporting.cli import _matrix_table, snapshot_on_or_before
    from recoup.reporting.metrics import roll_rate_matrix

    daily = Outputs(lake).scan("account_daily")
    end = as_of.replace(day=1) - dt.timedelta(days=1)
    start = end.replace(day=1) - dt.timedelta(days=1)
    days = set() if daily is None else set(daily.select("as_of").unique().collect().get_column("as_of"))
    if start not in days or end not in days:
        console.print("roll rates · 迁徙率: need cycle runs at two month ends — try `make demo LOANS=2000`")
        return
    m = roll_rate_matrix(snapshot_on_or_before(daily, start), snapshot_on_or_before(daily, end))  # type: ignore[arg-type]
    console.print(_matrix_table(f"Roll rates · 迁徙率 {start} → {end} (balance-weighted)", m, "balance"))


def _print_contact(engine: Any, lake: Any, as_of: dt.date, sent: Any, settings: Any) -> None:
    """The last day's decisions, what the dispatcher did with the messages, and the policy audit."""
    from recoup.contact.policy.audit import audit
    from recoup.db import session_scope
    from recoup.lake.store import Outputs

    decisions = Outputs(lake).read("decisions", as_of)
    if decisions is not None and decisions.height:
        counts = (
            decisions.group_by("segment", "treatment")
            .len()
            .pivot(on="segment", index="treatment", values="len")
            .fill_null(0)
            .sort("treatment")
        )
        ladder = [c for c in ("mild", "severe", "extremely_severe") if c in counts.columns]
        counts = counts.select("treatment", *ladder, pl.exclude("treatment", *ladder))
        table = Table(
            title=f"Decisions for {as_of} · 当日策略决策 (strategy {decisions['strategy'][0]} "
            f"v{decisions['strategy_version'][0]})"
        )
        for col in counts.columns:
            table.add_column(col, justify="left" if col == "treatment" else "right")
        for row in counts.iter_rows():
            table.add_row(*(str(v) for v in row))
        console.print(table)
    c = sent.counts()
    console.print(
        f"dispatcher · 发送 (policy re-checked at send time · 发送时复核合规): sent 已发送 {c['sent']:,} · "
        f"deferred 顺延 {c['deferred']:,} · blocked 拦截 {c['blocked']:,} · "
        f"failed 失败 {c['failed'] + c['dead']:,}"
    )
    start = as_of - dt.timedelta(days=60)
    with session_scope(engine) as session:
        found = list(
            audit(
                session=session,
                start=start,
                end=as_of + dt.timedelta(days=1),
                preset=settings.jurisdiction,
                timezone=settings.timezone,
                domains=settings.link_domains,
                signatures=settings.sms_signatures,
            )
        )
    console.print(
        f"policy audit · 合规稽核 {start} – {as_of + dt.timedelta(days=1)}: "
        f"{len(found)} violation(s) · 违规 {len(found)} 次 (independent replay of every recorded attempt)"
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
