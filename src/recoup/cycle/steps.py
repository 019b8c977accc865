"""The daily cycle's steps as data: each :class:`CycleStep` names what it reads and writes and the function
that runs it on one :class:`CycleContext` (the run's settings, read once, its database sessions, the lake,
the day and the book pinned for it). :mod:`recoup.cycle.runner` runs :data:`STEPS` in order.

``reads`` and ``writes`` name the run's inputs: ``db`` (facts in the database), ``book`` (the lender's
book as of D) and the cycle's output tables (``out/NAME``, partitioned by ``as_of``). A step that reads
the book, or reads what such a step wrote, is rerun when the day's book changes (:data:`BOOK_STEPS`). A
step that needs a partition another step should have written and finds none raises
:class:`~recoup.errors.CycleMissingPartitionError` (``cycle.missing_partition``), never a traceback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from recoup import rules
from recoup.agencies.recall import do_agency_day
from recoup.cases.deadlines import do_raise_deadline_tasks
from recoup.cases.promise_service import do_judge_promises, promise_facts
from recoup.cases.service import case_facts, do_intake
from recoup.cases.stops import do_expire_stops
from recoup.collateral.service import do_sync_from_lake
from recoup.config import Settings
from recoup.contact.service import attempt_facts
from recoup.db import session_scope
from recoup.delinquency.kernel import DelinquencyParams, delinquency
from recoup.errors import CycleMissingPartitionError
from recoup.funding.service import do_sync_creditors
from recoup.lake import Book, Lake
from recoup.lake.store import Outputs
from recoup.legal.limitation import do_refresh_limitations
from recoup.legal.sale_sold import without_sold
from recoup.resolutions.judge import do_judge_resolutions
from recoup.scoring.features import FEATURES, features
from recoup.scoring.service import score_accounts
from recoup.strategy.flows import plan_day

__all__ = ["BOOK_STEPS", "STEPS", "CycleContext", "CycleStep", "StepFn", "book_steps", "step_names"]


@dataclass
class CycleContext:
    """Everything a step uses, made once per run: no step reads the settings or opens the lake itself."""

    engine: Engine
    lake: Lake
    settings: Settings
    as_of: dt.date
    book: Book
    params: DelinquencyParams
    case_grade: rules.DecisionTable
    segment_table: rules.DecisionTable
    out: Outputs = field(init=False)

    def __post_init__(self) -> None:
        self.out = Outputs(self.lake)

    def session(self) -> AbstractContextManager[Session]:
        """A unit of work on the run's database (commits when the block ends without an error)."""
        return session_scope(self.engine)

    def require(self, name: str) -> pl.DataFrame:
        """D's partition of the output table ``name``, which an earlier step wrote; its absence is
        :class:`~recoup.errors.CycleMissingPartitionError`."""
        frame = self.out.read(name, self.as_of)
        if frame is None:
            day = self.as_of.isoformat()
            raise CycleMissingPartitionError(
                f"{name} has no partition for {day}: the step that writes it has not run on this lake "
                f"(rerun the day with `recoup cycle run --as-of {day} --force`) · "
                f"{name} 缺少 {day} 的分区，请重跑当日批处理",
                details={"table": name, "as_of": day},
            )
        return frame


StepFn = Callable[[CycleContext], tuple[int, str]]


@dataclass(frozen=True)
class CycleStep:
    """One step: its name (``cycle_run.step``), what it reads and writes, and the function (rows, detail)."""

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    fn: StepFn


# -- the steps: each returns (rows, detail) and is idempotent for its date ------------------------------


def run_facts(ctx: CycleContext) -> tuple[int, str]:
    """Copy the day's contact attempts (by everyone), the promises to pay and the open cases' facts from
    the DB into the lake for the later steps."""
    with ctx.session() as session:
        attempts = attempt_facts(session=session, as_of=ctx.as_of, timezone=ctx.settings.timezone)
        promises = promise_facts(session=session, as_of=ctx.as_of)
        cases = case_facts(session=session, as_of=ctx.as_of)
    version = ctx.out.replace("contact_attempts", attempts, as_of=ctx.as_of)
    p_version = ctx.out.replace("promise_facts", promises, as_of=ctx.as_of)
    c_version = ctx.out.replace("case_facts", cases, as_of=ctx.as_of)
    return attempts.height + promises.height + cases.height, (
        f"{attempts.height} contact attempts; contact_attempts version {version}; "
        f"{promises.height} promises; promise_facts version {p_version}; "
        f"{cases.height} open cases (stops, stated preferences); case_facts version {c_version}"
    )


def run_delinquency(ctx: CycleContext) -> tuple[int, str]:
    book = ctx.book
    prev = ctx.out.latest_before("account_daily", ctx.as_of)
    daily = delinquency(
        book.scan("loans"), book.scan("installments"), as_of=ctx.as_of, prev=prev, params=ctx.params
    )
    version = ctx.out.replace("account_daily", daily, as_of=ctx.as_of)
    in_coll = int(daily.get_column("in_collections").sum())
    return (
        daily.height,
        f"{in_coll} in collections; account_daily version {version}; book {book.manifest_as_of}",
    )


def run_features(ctx: CycleContext) -> tuple[int, str]:
    daily = ctx.require("account_daily")
    book = ctx.book
    feats = features(
        daily, book.scan("installments"), book.scan("payments"), book.scan("bureau_updates"), as_of=ctx.as_of
    )
    version = ctx.out.replace("features", feats, as_of=ctx.as_of)
    return feats.height, f"{len(FEATURES)} features; features version {version}"


def run_scoring(ctx: CycleContext) -> tuple[int, str]:
    daily = ctx.require("account_daily")
    feats = ctx.require("features")
    with ctx.session() as session:
        scores, version = score_accounts(
            daily, feats, ctx.book, session=session, segment_table=ctx.segment_table
        )
    out_version = ctx.out.replace("scores", scores, as_of=ctx.as_of)
    return (
        scores.height,
        f"model {version or 'none (segments by days past due)'}; scores version {out_version}",
    )


def _in_collections(daily: pl.DataFrame) -> set[str]:
    """The loans in collections on the day (what an honoured settlement's case waits to leave)."""
    return set(daily.filter(pl.col("in_collections")).get_column("loan_id").to_list())


def run_intake(ctx: CycleContext) -> tuple[int, str]:
    daily = ctx.require("account_daily")
    as_of, book = ctx.as_of, ctx.book
    with ctx.session() as session:
        judged = do_judge_promises(as_of, session=session, book=book)
        resolved = do_judge_resolutions(
            as_of, session=session, book=book, in_collections=_in_collections(daily)
        )
        kept = without_sold(daily, session=session, as_of=as_of)  # a sold debt is the buyer's
        res = do_intake(kept, book, session=session, as_of=as_of, grade_table=ctx.case_grade)
        # Each mirrored loan's first creditor (资金方) and the collateral of loans in collections.
        creditors = do_sync_creditors(session=session, actor="cycle")
        items, values = do_sync_from_lake(book.frame("collateral"), session=session, actor="cycle")
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
        f"{len(expired)} stop(s) expired; {placements.summary()}; limitation: {limits.summary()}; "
        f"{creditors} creditor(s) recorded; collateral: {items} item(s), {values} valuation(s) added"
    )


def run_decisions(ctx: CycleContext) -> tuple[int, str]:
    """The strategy's decisions for the day and what they became (:func:`recoup.strategy.flows.plan_day`)."""
    day = plan_day(
        ctx.as_of,
        daily=ctx.require("account_daily"),
        book=ctx.book,
        out=ctx.out,
        sessions=ctx.session,
        settings=ctx.settings,
    )
    return day.decisions.height, day.summary()


#: The daily cycle, in order.
STEPS: tuple[CycleStep, ...] = (
    CycleStep("facts", ("db",), ("contact_attempts", "promise_facts", "case_facts"), run_facts),
    CycleStep("delinquency", ("book", "account_daily@previous"), ("account_daily",), run_delinquency),
    CycleStep("features", ("book", "account_daily"), ("features",), run_features),
    CycleStep("scoring", ("db", "book", "account_daily", "features"), ("scores",), run_scoring),
    CycleStep("intake", ("db", "book", "account_daily"), ("db",), run_intake),
    CycleStep(
        "decisions",
        (
            "db",
            "book",
            "account_daily",
            "scores",
            "promise_facts",
            "case_facts",
            "contact_attempts",
            "decisions@history",
        ),
        ("decisions", "db"),
        run_decisions,
    ),
)


def step_names(steps: tuple[CycleStep, ...] = STEPS) -> tuple[str, ...]:
    return tuple(s.name for s in steps)


def book_steps(steps: tuple[CycleStep, ...] = STEPS) -> frozenset[str]:
    """The steps that read the book, directly or through an output a book step wrote: they run again when
    the day's book changes (a re-import or correction)."""
    tainted = {"book"}
    found: set[str] = set()
    for s in steps:  # in order: a step can read only what earlier steps wrote
        if tainted & {r.split("@")[0] for r in s.reads}:
            found.add(s.name)
            tainted |= {w for w in s.writes if w != "db"}
    return frozenset(found)


BOOK_STEPS = book_steps()
