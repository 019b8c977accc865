"""Run the daily cycle for a date: each step recorded in ``cycle_run``; finished steps are skipped on a
rerun, and every step is idempotent for its date, so a crash followed by a rerun completes the day
without counting anything twice.

Steps:

0. ``facts`` — copy the DB facts as of D that kernels use into the lake: the day's contact attempts
   (``contact_attempts``) and the promises to pay pending or due in the last 90 days, with their status
   as last judged (``promise_facts``), so a replay reads the same facts. (Plans and holds: later.)
1. ``delinquency`` — the delinquency kernel over the book as of D and the previous day's
   ``account_daily``; D's partition of ``account_daily`` is replaced in one commit.
2. ``features`` — scoring features per loan (``recoup.scoring.features``), D's partition of
   ``features`` replaced in one commit.
3. ``scoring`` — accounts in collections scored with the champion self-cure model (if one is
   promoted), with their top 3 reasons and the model version, and segmented (mild / severe / extremely
   severe) by the ``segment`` decision table; D's partition of ``scores`` replaced in one commit.
4. ``intake`` — the stored promises to pay, then the active plans, waivers and settlements
   (:mod:`recoup.resolutions.judge`) are judged against D's book, then accounts in collections
   are mirrored into the DB; one case per borrower opens, is graded, or closes with its reason; agency
   placements whose notice was sent become active, expired ones are recalled, and placed cases that
   closed, went to legal, got a complaint or were stopped are recalled early (:mod:`recoup.agencies`);
   every open debt's limitation period is computed and time-barred borrowers flagged to the contact
   engine (:mod:`recoup.legal.limitation`); each mirrored loan's first creditor (资金方,
   :mod:`recoup.funding`) and the collateral of loans in collections (:mod:`recoup.collateral`) are
   recorded. Loans sold in a transferred debt sale are left out of this
   step and the next (:func:`recoup.legal.sales.without_sold`): they are the buyer's.
5. ``decisions`` — every account in collections gets its decision from the current strategy version
   (and experiment arm), with ``has_promise`` and ``broken_promises`` from D's ``promise_facts``: D's
   partition of ``decisions`` is replaced in one commit, then, in one DB transaction, messages are
   enqueued in the outbox and calls, visits, letters, legal reviews and placements become
   ``work_task`` rows (``recoup.strategy``).

**One cycle at a time, never beside an import.** A run holds the lock named ``import`` (see
:mod:`recoup.locks`) from before it reads the manifest until its last step has committed: the same
lock the imports take, rather than a ``cycle`` lock of its own. The cycle reads the manifest and the
lake that an import writes, and both write the database (on SQLite one writer at a time): with one
lock a cycle never sees a day half-imported or re-imported under it, an import never fails on a
database the cycle keeps busy, and two runs (of one day or of two days: D+1 reads D's
``account_daily``) never overlap. Cron runs the import and then the cycle, so nothing waits in the
ordinary day; a second run waits up to ``lock_wait_seconds`` and then finds the finished steps done,
or gives up with ``lock.busy``.

**Recovery.** Holding the lock, a run knows that no other process is running a step: a ``running``
row left by a killed process is marked ``interrupted``, and the run resumes at the first step that
is not done (finished steps are skipped, as after any crash).

**The day's book.** The book is resolved once per run, under the lock, and every step reads that
book; each step's ``cycle_run`` row records the ``lake_import`` manifest id it read. A step done on
another manifest (the day was re-imported or corrected since, or the run used the previous day's
book) is run again, with every step after it. The CLI refuses a day whose extract has not been
imported yet (:class:`~recoup.errors.CycleNoExtractError`) unless asked for ``--allow-stale-book``;
the library's ``allow_stale_book`` defaults to true for replays and tests.

**Steps as data.** The steps are :data:`recoup.cycle.steps.STEPS`: each names what it reads and writes
and its function, which gets one :class:`~recoup.cycle.steps.CycleContext` (settings read once per run,
the database, the lake, the day and its pinned book). A partition a step needs and does not find is
:class:`~recoup.errors.CycleMissingPartitionError` (``cycle.missing_partition``, exit 66).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from recoup import rules
from recoup.cases.tables import CASE_GRADE
from recoup.config import Settings, get_settings
from recoup.cycle import steps as cycle_steps
from recoup.cycle.config import current_tables
from recoup.cycle.models import CycleRun
from recoup.cycle.steps import CycleContext, CycleStep
from recoup.db import session_scope, utcnow
from recoup.delinquency.kernel import DelinquencyParams
from recoup.errors import CycleNoExtractError
from recoup.lake import Lake, book_as_of, latest_manifest
from recoup.lake.store import Outputs
from recoup.locks import exclusive
from recoup.scoring.segments import SEGMENTS

#: The names of the steps, in order (``cycle_run.step``).
STEPS = cycle_steps.step_names()
#: The steps that read the book (directly or through an earlier step's output): rerun on a new manifest.
BOOK_STEPS = cycle_steps.BOOK_STEPS
#: The lock a run holds: the imports' lock (see the module docstring).
LOCK = "import"
Progress = Callable[[str], None]


@dataclass
class StepOutcome:
    step: str
    status: str
    rows: int = 0
    seconds: float = 0.0
    detail: str = ""


@dataclass
class CycleOutcome:
    as_of: dt.date
    run_id: str
    steps: list[StepOutcome] = field(default_factory=list)
    manifest_id: int | None = None
    book_as_of: dt.date | None = None  # the day of the extract the run read (earlier if stale)
    interrupted: int = 0  # stale ``running`` rows of killed runs marked ``interrupted``

    @property
    def stale_book(self) -> bool:
        return self.book_as_of is not None and self.book_as_of < self.as_of


def _last_done(session: Session, as_of: dt.date, step: str) -> CycleRun | None:
    stmt = (
        select(CycleRun)
        .where(CycleRun.as_of == as_of, CycleRun.step == step, CycleRun.status == "done")
        .order_by(CycleRun.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def check_extract(session: Session, as_of: dt.date, *, allow_stale_book: bool) -> None:
    """Refuse a day whose extract has not been imported (the newest manifest is older than it).

    A past day without an extract of its own (a later day has been imported) can never get one,
    since imports go in date order: it reads the previous book without complaint.
    """
    newest = latest_manifest(session=session)
    if newest is None:
        raise CycleNoExtractError(
            f"no extract has been imported yet: import the extract for {as_of.isoformat()} first "
            f"(recoup import DIR --as-of {as_of.isoformat()}). 尚未导入任何数据。",
            details={"as_of": as_of.isoformat(), "last": None},
        )
    if newest.as_of < as_of and not allow_stale_book:
        raise CycleNoExtractError(
            f"the extract for {as_of.isoformat()} has not been imported; the last imported day is "
            f"{newest.as_of.isoformat()}. Import it first (recoup import DIR --as-of {as_of.isoformat()}), "
            f"or run on the {newest.as_of.isoformat()} book with --allow-stale-book. "
            f"当日数据尚未导入（最近一次导入：{newest.as_of.isoformat()}）。",
            details={"as_of": as_of.isoformat(), "last": newest.as_of.isoformat()},
        )


class Cycle:
    def __init__(
        self,
        *,
        engine: Engine,
        lake: Lake,
        params: DelinquencyParams | None = None,
        progress: Progress | None = None,
        steps: tuple[CycleStep, ...] = cycle_steps.STEPS,
    ) -> None:
        self.engine = engine
        self.lake = lake
        self.out = Outputs(lake)
        self.params = params or DelinquencyParams()
        self.progress = progress or (lambda _m: None)
        self.steps = steps
        self.book_steps = cycle_steps.book_steps(steps)
        self.case_grade = rules.load_table(CASE_GRADE)
        self.segment_table = rules.load_table(SEGMENTS)
        self.table_versions = ""

    def _load_tables(self) -> None:
        """Use the stored versions of the decision tables (saving the defaults the first time)."""
        with session_scope(self.engine) as session:
            t = current_tables(session=session)
        self.params = replace(
            self.params,
            bucket_table=t["bucket"][0],
            class_table=t["loan_class"][0],
            transition_table=t["transition"][0],
        )
        self.case_grade = t["case_grade"][0]
        self.segment_table = t["segment"][0]
        self.table_versions = ",".join(f"{n}=v{v}" for n, (_t, v) in t.items())

    def run(self, as_of: dt.date, *, force: bool = False, allow_stale_book: bool = True) -> CycleOutcome:
        """Run the day's steps holding the cycle lock; finished steps on the same book are skipped.

        ``allow_stale_book=False`` (the CLI's default) refuses a day whose extract is not imported.
        """
        settings = get_settings()  # once per run: every step reads it from the context
        with exclusive(
            LOCK,
            data_dir=settings.data_dir,
            bind=self.engine,
            wait_s=settings.lock_wait_seconds,
            what=f"cycle run as of {as_of.isoformat()}",
        ):
            return self._run(as_of, settings, force=force, allow_stale_book=allow_stale_book)

    def _recover(self, run_id: str) -> int:
        """Mark ``running`` rows ``interrupted``: the caller holds the lock, so their process is gone."""
        with session_scope(self.engine) as session:
            stale = list(session.scalars(select(CycleRun).where(CycleRun.status == "running")))
            for rec in stale:
                rec.status = "interrupted"
                rec.finished_at = utcnow()
                rec.detail = (
                    f"interrupted: the process running this step stopped; found by run {run_id[:8]}"
                    + (f"; {rec.detail}" if rec.detail else "")
                )[:2000]
        for rec in stale:
            self.progress(f"{rec.as_of} {rec.step}: an interrupted run (killed) is resumed")
        return len(stale)

    def _context(self, as_of: dt.date, settings: Settings, *, allow_stale_book: bool) -> CycleContext:
        """The run's context: the book resolved once, under the lock, and the stored decision tables."""
        with session_scope(self.engine) as session:
            check_extract(session, as_of, allow_stale_book=allow_stale_book)
            book = book_as_of(as_of, session=session, lake=self.lake)
        self._load_tables()
        return CycleContext(
            engine=self.engine,
            lake=self.lake,
            settings=settings,
            as_of=as_of,
            book=book,
            params=self.params,
            case_grade=self.case_grade,
            segment_table=self.segment_table,
        )

    def _run(
        self, as_of: dt.date, settings: Settings, *, force: bool, allow_stale_book: bool
    ) -> CycleOutcome:
        result = CycleOutcome(as_of, str(uuid.uuid4()))
        result.interrupted = self._recover(result.run_id)
        ctx = self._context(as_of, settings, allow_stale_book=allow_stale_book)
        book = ctx.book
        result.manifest_id, result.book_as_of = book.manifest_id, book.manifest_as_of
        rerun = force  # once a step runs, every later step runs too: it reads that step's output
        for step in self.steps:
            note = ""
            with session_scope(self.engine) as session:
                if not rerun:
                    prev = _last_done(session, as_of, step.name)
                    if prev is not None and (
                        step.name not in self.book_steps or prev.manifest_id in (None, book.manifest_id)
                    ):
                        result.steps.append(
                            StepOutcome(step.name, "skipped", detail="done in an earlier run")
                        )
                        continue
                    if prev is not None:
                        note = f"; rerun: the book changed (manifest {prev.manifest_id} → {book.manifest_id})"
                rerun = True
                record = CycleRun(
                    run_id=result.run_id,
                    as_of=as_of,
                    step=step.name,
                    status="running",
                    config_version=f"{self.table_versions};{self.params.version()}"[:300],
                    manifest_id=book.manifest_id,
                )
                session.add(record)
            self.progress(f"{as_of} {step.name}")
            t0 = time.perf_counter()
            try:
                rows, detail = step.fn(ctx)
            except Exception as exc:
                with session_scope(self.engine) as session:
                    rec = session.get(CycleRun, record.id)
                    assert rec is not None
                    rec.status, rec.detail, rec.finished_at = ("failed", _failure_detail(exc), utcnow())
                    rec.seconds = time.perf_counter() - t0
                raise
            seconds = time.perf_counter() - t0
            detail = f"{detail}{note}"[:2000]
            with session_scope(self.engine) as session:
                rec = session.get(CycleRun, record.id)
                assert rec is not None
                rec.status, rec.rows, rec.seconds, rec.detail, rec.finished_at = (
                    "done",
                    rows,
                    seconds,
                    detail,
                    utcnow(),
                )
            result.steps.append(StepOutcome(step.name, "done", rows, seconds, detail))
        return result


def run_range(
    cycle: Cycle, start: dt.date, end: dt.date, *, force: bool = False, allow_stale_book: bool = True
) -> list[CycleOutcome]:
    """Replay every day from ``start`` to ``end`` in order (each day under the lock on its own).

    Without ``allow_stale_book`` a range reaching past the last imported day is refused before any
    day runs.
    """
    if end < start:
        raise ValueError("--to is before --from")
    if not allow_stale_book:
        with session_scope(cycle.engine) as session:
            check_extract(session, end, allow_stale_book=False)
    days = pl.date_range(start, end, "1d", eager=True).to_list()
    return [cycle.run(d, force=force, allow_stale_book=allow_stale_book) for d in days]


def status(*, session: Session, limit: int = 50) -> list[CycleRun]:
    stmt = select(CycleRun).order_by(CycleRun.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def _failure_detail(exc: BaseException) -> str:
    """What a failed step records: the error's first line with personal data masked — never a SQL
    statement's bound parameters (borrower names, phones) that a database error's text carries."""
    from recoup.pii import error_line

    return f"{type(exc).__name__}: {error_line(exc)}"[:500]
