"""``recoup cycle backfill --from D``: the days before the first imported extract, reconstructed from
that first full snapshot's schedules and payment history, so roll rates, the entry rate and the
bucket history work from the day a lender starts (issue 16 item 5).

Only ``account_daily`` is written for a backfilled day (the delinquency kernel over the reconstructed
book, each day chained to the one before it, as the cycle does): no case, decision, message or task
is made for a day that has passed — a backfilled day never sends. Each day is recorded in
``cycle_run`` as step ``backfill`` with the snapshot it came from; a day already backfilled is skipped
unless ``force``. What the snapshot cannot tell (:class:`recoup.delinquency.backfill.BackfillGaps`)
is counted and reported. The run holds the imports' lock, like the cycle.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import polars as pl
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from recoup.config import get_settings
from recoup.cycle.config import current_tables
from recoup.cycle.models import CycleRun
from recoup.db import session_scope, utcnow
from recoup.delinquency.backfill import BackfillGaps, gaps, installments_as_of, loans_as_of
from recoup.delinquency.kernel import DelinquencyParams, delinquency
from recoup.errors import CycleNoExtractError, UsageError
from recoup.lake import Lake, book_as_of
from recoup.lake.models import LakeImport
from recoup.lake.store import Outputs
from recoup.locks import exclusive

__all__ = ["MAX_DAYS", "BackfillOutcome", "do_backfill", "first_snapshot_day"]

STEP = "backfill"
#: A backfill reaches back at most this many days (a typo in --from must not start a decade's work).
MAX_DAYS = 1_100


@dataclass
class BackfillOutcome:
    start: dt.date
    snapshot: dt.date  # the first imported day: the snapshot the days were reconstructed from
    written: list[dt.date] = field(default_factory=list)
    skipped: list[dt.date] = field(default_factory=list)  # backfilled before (no --force)
    in_collections: dict[dt.date, int] = field(default_factory=dict)
    gaps: BackfillGaps | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "from": self.start.isoformat(),
            "snapshot": self.snapshot.isoformat(),
            "written": [d.isoformat() for d in self.written],
            "skipped": [d.isoformat() for d in self.skipped],
            "in_collections": {d.isoformat(): n for d, n in sorted(self.in_collections.items())},
            "cannot_reconstruct": self.gaps.as_dict() if self.gaps else {},
            "seconds": round(self.seconds, 2),
        }


def first_snapshot_day(*, session: Session) -> dt.date | None:
    """The day of the first imported extract (None when nothing is imported)."""
    day: dt.date | None = session.scalar(select(func.min(LakeImport.as_of)))
    return day


def _params(session: Session) -> tuple[DelinquencyParams, str]:
    tables = current_tables(session=session)
    params = replace(
        DelinquencyParams(),
        bucket_table=tables["bucket"][0],
        class_table=tables["loan_class"][0],
        transition_table=tables["transition"][0],
    )
    versions = ",".join(f"{n}=v{v}" for n, (_t, v) in tables.items())
    return params, versions


def _done_days(session: Session, start: dt.date, end: dt.date) -> set[dt.date]:
    stmt = select(CycleRun.as_of).where(
        CycleRun.step == STEP, CycleRun.status == "done", CycleRun.as_of.between(start, end)
    )
    return set(session.scalars(stmt))


def do_backfill(
    start: dt.date,
    *,
    engine: Engine,
    lake: Lake,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> BackfillOutcome:
    """Reconstruct ``account_daily`` for every day from ``start`` to the day before the first imported
    extract (see the module docstring). Refuses a start on or after that day."""
    report = progress or (lambda _m: None)
    settings = get_settings()
    t0 = time.perf_counter()
    with exclusive(
        "import",
        data_dir=settings.data_dir,
        bind=engine,
        wait_s=settings.lock_wait_seconds,
        what=f"cycle backfill from {start.isoformat()}",
    ):
        with session_scope(engine) as session:
            first = first_snapshot_day(session=session)
            if first is None:
                raise CycleNoExtractError(
                    "nothing has been imported yet: import the first full extract (recoup import DIR "
                    "--as-of D --full), then backfill the days before it. 尚未导入任何数据。",
                    details={"from": start.isoformat()},
                )
            if start >= first:
                raise UsageError(
                    f"--from {start} is not before the first imported day {first}: a backfill reconstructs "
                    f"only the days before it (days from {first} on are the daily cycle's). "
                    f"补录日期须早于首次导入日 {first}。",
                    details={"from": start.isoformat(), "first": first.isoformat()},
                )
            if (first - start).days > MAX_DAYS:
                raise UsageError(
                    f"--from {start} is {(first - start).days} days before {first}; at most {MAX_DAYS} "
                    "days can be backfilled. 补录天数过多。",
                    details={"from": start.isoformat(), "max_days": MAX_DAYS},
                )
            book = book_as_of(first, session=session, lake=lake)
            params, versions = _params(session)
            done = set() if force else _done_days(session, start, first - dt.timedelta(days=1))
        out = BackfillOutcome(start=start, snapshot=first)
        loans = book.frame("loans")
        installments = book.frame("installments")
        payments = book.frame("payments")
        out.gaps = gaps(loans, installments, payments, start)
        outputs = Outputs(lake)
        run_id = str(uuid.uuid4())
        prev: pl.DataFrame | None = None
        for day in pl.date_range(start, first - dt.timedelta(days=1), "1d", eager=True).to_list():
            if day in done:
                out.skipped.append(day)
                prev = outputs.read("account_daily", day)
                continue
            t_day = time.perf_counter()
            daily = delinquency(
                loans_as_of(loans, day),
                installments_as_of(installments, payments, day),
                as_of=day,
                prev=prev,
                params=params,
            )
            version = outputs.replace("account_daily", daily, as_of=day)
            n_coll = int(daily.get_column("in_collections").sum())
            with session_scope(engine) as session:
                session.add(
                    CycleRun(
                        run_id=run_id,
                        as_of=day,
                        step=STEP,
                        status="done",
                        rows=daily.height,
                        seconds=time.perf_counter() - t_day,
                        detail=(
                            f"reconstructed from the snapshot of {first} (manifest {book.manifest_id}); "
                            f"{n_coll} in collections; account_daily version {version}; "
                            "no cases, decisions or messages for a past day"
                        )[:2000],
                        config_version=f"{versions};{params.version()}"[:300],
                        manifest_id=book.manifest_id,
                        finished_at=utcnow(),
                    )
                )
            out.written.append(day)
            out.in_collections[day] = n_coll
            prev = daily
            report(f"{day} backfilled: {daily.height:,} loans, {n_coll:,} in collections")
    out.seconds = time.perf_counter() - t0
    return out
