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
   engine (:mod:`recoup.legal.limitation`). Loans sold in a transferred debt sale are left out of this
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
from recoup.agencies.recall import do_agency_day
from recoup.cases.deadlines import do_raise_deadline_tasks
from recoup.cases.promise_service import do_judge_promises, promise_facts
from recoup.cases.service import case_facts, do_intake
from recoup.cases.stops import do_expire_stops
from recoup.cases.tables import CASE_GRADE
from recoup.config import get_settings
from recoup.contact.service import attempt_facts
from recoup.cycle.config import current_tables
from recoup.cycle.models import CycleRun
from recoup.db import session_scope, utcnow
from recoup.delinquency.kernel import DelinquencyParams, delinquency
from recoup.errors import ConfigError, CycleNoExtractError
from recoup.lake import Book, Lake, book_as_of, latest_manifest
from recoup.lake.store import Outputs
from recoup.legal.limitation import do_refresh_limitations
from recoup.legal.sales import without_sold
from recoup.locks import exclusive
from recoup.resolutions.judge import do_judge_resolutions
from recoup.scoring.features import FEATURES, features
from recoup.scoring.service import score_accounts
from recoup.strategy import cycle_value
from recoup.strategy import flows as strategy_flows
from recoup.strategy import kernel as strategy_kernel
from recoup.strategy.capacity import Capacity
from recoup.strategy.service import load_plan

STEPS = ("facts", "delinquency", "features", "scoring", "intake", "decisions")
#: The steps that read the book (directly or through an earlier step's output): rerun on a new manifest.
BOOK_STEPS = frozenset(STEPS) - {"facts"}
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
    ) -> None:
        self.engine = engine
        self.lake = lake
        self.out = Outputs(lake)
        self.params = params or DelinquencyParams()
        self.progress = progress or (lambda _m: None)
        self.case_grade = rules.load_table(CASE_GRADE)
        self.table_versions = ""
        self._pinned: Book | None = None

    def _book(self, as_of: dt.date, session: Session) -> Book:
        """The book this run pinned for ``as_of`` (resolved once, under the lock)."""
        if self._pinned is not None and self._pinned.as_of == as_of:
            return self._pinned
        return book_as_of(as_of, session=session, lake=self.lake)

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
        settings = get_settings()
        with exclusive(
            LOCK,
            data_dir=settings.data_dir,
            bind=self.engine,
            wait_s=settings.lock_wait_seconds,
            what=f"cycle run as of {as_of.isoformat()}",
        ):
            try:
                return self._run(as_of, force=force, allow_stale_book=allow_stale_book)
            finally:
                self._pinned = None  # pinned for this run only, under the lock

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

    def _run(self, as_of: dt.date, *, force: bool, allow_stale_book: bool) -> CycleOutcome:
        result = CycleOutcome(as_of, str(uuid.uuid4()))
        result.interrupted = self._recover(result.run_id)
        with session_scope(self.engine) as session:
            check_extract(session, as_of, allow_stale_book=allow_stale_book)
            self._pinned = book_as_of(as_of, session=session, lake=self.lake)
        book = self._pinned
        result.manifest_id, result.book_as_of = book.manifest_id, book.manifest_as_of
        self._load_tables()
        rerun = force  # once a step runs, every later step runs too: it reads that step's output
        for step in STEPS:
            note = ""
            with session_scope(self.engine) as session:
                if not rerun:
                    prev = _last_done(session, as_of, step)
                    if prev is not None and (
                        step not in BOOK_STEPS or prev.manifest_id in (None, book.manifest_id)
                    ):
                        result.steps.append(StepOutcome(step, "skipped", detail="done in an earlier run"))
                        continue
                    if prev is not None:
                        note = f"; rerun: the book changed (manifest {prev.manifest_id} → {book.manifest_id})"
                rerun = True
                record = CycleRun(
                    run_id=result.run_id,
                    as_of=as_of,
                    step=step,
                    status="running",
                    config_version=f"{self.table_versions};{self.params.version()}"[:300],
                    manifest_id=book.manifest_id,
                )
                session.add(record)
            self.progress(f"{as_of} {step}")
            t0 = time.perf_counter()
            try:
                rows, detail = getattr(self, f"step_{step}")(as_of)
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
            result.steps.append(StepOutcome(step, "done", rows, seconds, detail))
        return result

    # -- steps: each returns (rows, detail) and is idempotent for its date ---------------------------
    def step_facts(self, as_of: dt.date) -> tuple[int, str]:
        """Copy the day's contact attempts (by everyone) and the promises to pay from the DB into the
        lake for the later steps."""
        with session_scope(self.engine) as session:
            attempts = attempt_facts(session=session, as_of=as_of, timezone=get_settings().timezone)
            promises = promise_facts(session=session, as_of=as_of)
            cases = case_facts(session=session, as_of=as_of)
        version = self.out.replace("contact_attempts", attempts, as_of=as_of)
        p_version = self.out.replace("promise_facts", promises, as_of=as_of)
        c_version = self.out.replace("case_facts", cases, as_of=as_of)
        return attempts.height + promises.height + cases.height, (
            f"{attempts.height} contact attempts; contact_attempts version {version}; "
            f"{promises.height} promises; promise_facts version {p_version}; "
            f"{cases.height} open cases (stops, stated preferences); case_facts version {c_version}"
        )

    def step_delinquency(self, as_of: dt.date) -> tuple[int, str]:
        with session_scope(self.engine) as session:
            book = self._book(as_of, session)
        prev = self.out.latest_before("account_daily", as_of)
        daily = delinquency(
            book.scan("loans"), book.scan("installments"), as_of=as_of, prev=prev, params=self.params
        )
        version = self.out.replace("account_daily", daily, as_of=as_of)
        in_coll = int(daily.get_column("in_collections").sum())
        return (
            daily.height,
            f"{in_coll} in collections; account_daily version {version}; book {book.manifest_as_of}",
        )

    def step_features(self, as_of: dt.date) -> tuple[int, str]:
        daily = self.out.read("account_daily", as_of)
        if daily is None:
            raise RuntimeError(f"account_daily has no partition for {as_of}")
        with session_scope(self.engine) as session:
            book = self._book(as_of, session)
        feats = features(
            daily, book.scan("installments"), book.scan("payments"), book.scan("bureau_updates"), as_of=as_of
        )
        version = self.out.replace("features", feats, as_of=as_of)
        return feats.height, f"{len(FEATURES)} features; features version {version}"

    def step_scoring(self, as_of: dt.date) -> tuple[int, str]:
        daily = self.out.read("account_daily", as_of)
        feats = self.out.read("features", as_of)
        if daily is None or feats is None:
            raise RuntimeError(f"account_daily or features has no partition for {as_of}")
        with session_scope(self.engine) as session:
            book = self._book(as_of, session)
            scores, version = score_accounts(
                daily, feats, book, session=session, segment_table=self.segment_table
            )
        out_version = self.out.replace("scores", scores, as_of=as_of)
        return (
            scores.height,
            f"model {version or 'none (segments by days past due)'}; scores version {out_version}",
        )

    def step_intake(self, as_of: dt.date) -> tuple[int, str]:
        daily = self.out.read("account_daily", as_of)
        if daily is None:
            raise RuntimeError(f"account_daily has no partition for {as_of}")
        with session_scope(self.engine) as session:
            book = self._book(as_of, session)
            judged = do_judge_promises(as_of, session=session, book=book)
            resolved = do_judge_resolutions(
                as_of, session=session, book=book, in_collections=_in_collections(daily)
            )
            kept = without_sold(daily, session=session, as_of=as_of)  # a sold debt is the buyer's
            res = do_intake(kept, book, session=session, as_of=as_of, grade_table=self.case_grade)
            expired = do_expire_stops(as_of, session=session)
            placements = do_agency_day(as_of, session=session)
            late = do_raise_deadline_tasks(as_of, session=session)
            limits = do_refresh_limitations(as_of, session=session, lake_payments=book.scan("payments"))
        promises = ", ".join(f"{n} {s}" for s, n in sorted(judged.items())) or "none"
        plans = ", ".join(f"{n} {s}" for s, n in sorted(resolved.items())) or "none"
        return res.accounts_open, (
            f"{res.cases_open} open cases ({res.opened} opened, {res.closed} closed today); "
            f"{res.accounts_open} accounts in collections; promises judged: {promises}; "
            f"plans and waivers judged: {plans}; "
            f"{late.overdue} past their state's deadline, {late.raised} review task(s) raised; "
            f"{len(expired)} stop(s) expired; {placements.summary()}; limitation: {limits.summary()}"
        )

    def _recent_attempts(self, as_of: dt.date, days: int = 30) -> pl.DataFrame | None:
        """The contact attempts of the ``days`` business days up to D (the facts step's partitions)."""
        if not self.out.exists("contact_attempts"):
            return None
        start = as_of - dt.timedelta(days=days - 1)
        return (
            pl.scan_delta(self.out.uri("contact_attempts"))
            .filter(pl.col("as_of").is_between(start, as_of))
            .collect()
        )

    def step_decisions(self, as_of: dt.date) -> tuple[int, str]:
        daily = self.out.read("account_daily", as_of)
        if daily is None:
            raise RuntimeError(f"account_daily has no partition for {as_of}")
        scores = self.out.read("scores", as_of)
        with session_scope(self.engine) as session:
            book = self._book(as_of, session)
            plan = load_plan(session=session)  # saves the default strategy as v1 on first use
            daily = without_sold(daily, session=session, as_of=as_of)
        customers = book.scan("borrowers").select("borrower_id", "customer_type").collect()
        frame = strategy_kernel.decision_frame(
            daily,
            scores,
            customers,
            self._recent_attempts(as_of),
            self.out.read("promise_facts", as_of),
            self.out.read("case_facts", as_of),
        )
        # Expected values under the installed response model (docs/cycle-value.md); a model file that
        # cannot be used must not stop the day's actions: the decisions go out without values.
        model_path = get_settings().response_model
        try:
            model = cycle_value.load_value_model(model_path)
            value_note = f"value model {model.version}" if model is not None else "no value model"
        except Exception as exc:
            model, value_note = None, f"no value model ({model_path}: {type(exc).__name__}: {str(exc)[:300]})"
        state = None
        if model is not None and frame.height:
            state = cycle_value.state_from_history(
                frame,
                as_of,
                self._recent_attempts(as_of, cycle_value.HISTORY_DAYS),
                book.scan("payments"),
                self.out.scan("decisions"),
            )
        optimised = get_settings().planner == "optimised"
        if optimised and model is None:
            raise ConfigError(
                f"planner = optimised needs a response model: {value_note} "
                "(recoup strategy train-response) · 优化策略需要响应模型"
            )
        if optimised and model is not None and state is not None:
            capacity = Capacity.for_book(daily.height)
            decisions, plan = cycle_value.plan_optimised(frame, model, state, as_of, capacity)
        else:  # the strategy tables (also the optimised planner's day with no account in collections)
            decisions = strategy_kernel.decide(frame, plan, as_of=as_of)
            decisions = cycle_value.annotate(decisions, frame, model, as_of, state)
        cycle_value.add_value_columns(self.out.uri("decisions"))  # tables written before the columns
        version = self.out.replace("decisions", decisions, as_of=as_of)
        with session_scope(self.engine) as session:  # one transaction: every message and task of the day
            acted = strategy_flows.do_act(
                decisions, plan, session=session, as_of=as_of, settings=get_settings()
            )
        arms = ""
        if plan.experiment is not None:
            counts = decisions.get_column("arm").value_counts(sort=True).iter_rows()
            arms = f" experiment {plan.experiment.name} (" + ", ".join(f"{a} {n}" for a, n in counts) + ");"
        return decisions.height, (
            f"strategy {plan.champion.label};{arms} {value_note}; {acted.summary()}; "
            f"decisions version {version}"
        )


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


def _in_collections(daily: pl.DataFrame) -> set[str]:
    """The loans in collections on the day (what an honoured settlement's case waits to leave)."""
    return set(daily.filter(pl.col("in_collections")).get_column("loan_id").to_list())


def status(*, session: Session, limit: int = 50) -> list[CycleRun]:
    stmt = select(CycleRun).order_by(CycleRun.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def _failure_detail(exc: BaseException) -> str:
    """What a failed step records: the error's first line with personal data masked — never a SQL
    statement's bound parameters (borrower names, phones) that a database error's text carries."""
    from recoup.pii import error_line

    return f"{type(exc).__name__}: {error_line(exc)}"[:500]
