"""Expected values on the daily cycle's decisions (issue 7, item 4; docs/cycle-value.md).

The cycle decides with the strategy tables; when a response model is installed
(``Settings.response_model``), each decision also carries the expected value of its treatment under
that model, in fen, as the optimised strategy computes it (:meth:`OptimisedDecider.values`):
``overdue × (f(x, t) − f(x, no_action)) − price_t − μ × extra cost``.

The model's inputs need each account's recent history, which the evaluation loop keeps day by day in
an :class:`~recoup.strategy.response.AccountState`. The cycle has no such running state: it rebuilds
it each day from what the lake records (:func:`state_from_history`) — the facts step's contact
attempts, the book's payments and earlier days' placement decisions — so that the features mean what
they meant when the model was trained.

Everything here but :func:`load_value_model` and :func:`add_value_columns` is pure: frames in, frames
out (lazy frames the caller passes, e.g. lake scans, are collected). ``recoup.strategy.response`` (and
LightGBM behind it) is imported only when a model is used, so a cycle without one does not pay for it.
Nothing here imports the digital twin (``recoup.simulate``): the day's events are in the columns of
:mod:`recoup.strategy.day_record`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recoup.contact.vocab import AttemptOutcome, Channel, Treatment

if TYPE_CHECKING:
    from recoup.strategy.capacity import Capacity
    from recoup.strategy.kernel import Plan
    from recoup.strategy.response import AccountState, ResponseModels

__all__ = [
    "HISTORY_DAYS",
    "NOT_MODELLED",
    "REACHED_OUTCOMES",
    "VALUE_COLUMNS",
    "ValueModel",
    "add_value_columns",
    "annotate",
    "load_value_model",
    "model_frame",
    "plan_optimised",
    "state_from_history",
]

#: The columns the annotation adds to ``out/decisions`` (after ``DECISION_SCHEMA``'s), every day.
VALUE_COLUMNS: dict[str, pl.DataType] = {"expected_value": pl.Int64(), "value_model": pl.String()}
_DELTA_TYPES = {"expected_value": "long", "value_model": "string"}
#: Days of contact attempts and payments replayed into the state's decayed sums: the slowest of the
#: model's decays (0.97 a day, the long memory) leaves an event older than this < 0.97³⁶⁵ ≈ 1.5e-5 of
#: its weight. The placement running and the last payment day are computed from all history.
HISTORY_DAYS = 365
#: An attempt reached the borrower when its outcome is one of these (``AttemptOutcome``): spoke with
#: someone, or answered / delivered. The twin counts a message only when it was read, which a lender
#: cannot see; a delivered message is the closest observable.
REACHED_OUTCOMES: tuple[str, ...] = (AttemptOutcome.CONVERSATION.value, AttemptOutcome.CONNECTED.value)
NOT_MODELLED = "EV not modelled"


@dataclass(frozen=True)
class ValueModel:
    """An installed response model and its version (``response@`` + 12 hex of the file's SHA-256)."""

    models: ResponseModels
    version: str


def load_value_model(path: Path | None) -> ValueModel | None:
    """The response model at ``path``, or None when no file is there (a refused file raises)."""
    if path is None or not path.is_file():
        return None
    from recoup.strategy.response import load_model

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    models, _meta = load_model(path)
    return ValueModel(models=models, version=f"response@{digest.hexdigest()[:12]}")


def add_value_columns(uri: str) -> list[str]:
    """Add :data:`VALUE_COLUMNS` (nullable) to an existing decisions table written before them, so that
    D's partition can replace the old one with the same schema; returns the columns added."""
    from deltalake import DeltaTable, Field
    from deltalake.exceptions import TableNotFoundError
    from deltalake.schema import PrimitiveType

    try:
        table = DeltaTable(uri)
    except TableNotFoundError:
        return []
    have = {f.name for f in table.schema().fields}
    missing = [n for n in VALUE_COLUMNS if n not in have]
    if missing:  # one metadata commit, once: older partitions read the new columns as null
        table.alter.add_columns([Field(n, PrimitiveType(_DELTA_TYPES[n]), nullable=True) for n in missing])
    return missing


# ------------------------------------------------------------------------------------------ the state


def model_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The decision frame (``strategy.kernel.decision_frame``) as the response model reads it: ``i`` =
    row number, and the defaults the kernel's ``prepare`` gives a missing customer type or flag."""
    return frame.with_row_index("i").with_columns(
        pl.col("i").cast(pl.Int64),
        pl.col("customer_type").fill_null("individual"),
        pl.col("written_off").fill_null(False),
    )


def _day(column: str) -> pl.Expr:
    """A date column as an epoch day (the state's day numbers)."""
    return pl.col(column).cast(pl.Date).cast(pl.Int64)


def state_from_history(
    frame: pl.DataFrame,
    as_of: dt.date,
    attempts: pl.DataFrame | pl.LazyFrame | None,
    payments: pl.DataFrame | pl.LazyFrame | None,
    placements: pl.DataFrame | pl.LazyFrame | None,
) -> AccountState:
    """The :class:`AccountState` the evaluation loop would hold when deciding on ``as_of`` (D), its
    arrays aligned to the rows of ``frame`` (``i`` = row number, see :func:`model_frame`).

    In the loop the state has then observed every day up to D: its ``day`` is D and its decayed sums
    are as of D (``features`` fades them once more, to D + 1, the day the treatment applies).

    - ``attempts``: the lake's ``contact_attempts`` (``loan_id``, ``as_of`` = the attempt's business
      day, ``channel``, ``outcome``): one contact per attempt with a loan and a channel (a portal visit
      is not an attempt), reached when the outcome is in :data:`REACHED_OUTCOMES`.
    - ``payments``: the book's ``payments`` (``payment_id``, ``loan_id``, ``received_date``, ``amount``,
      ``reverses``): received on or before D, reversals and the payments they reverse left out.
    - ``placements``: earlier days' decisions (``loan_id``, ``as_of``, ``treatment``): an
      ``agency_placement`` decided on P runs from P + 1 for ``AGENCY_DAYS`` days; one decided again
      while it runs is carried, not restarted (as in the loop), so every day before D is read.

    The decayed sums are the state's own: the attempts and payments of the last :data:`HISTORY_DAYS`
    days are replayed through :meth:`AccountState.observe`, one call per day with events (a loop over
    days, each vectorised), so they follow the loop's rules whatever sums it keeps. The placement end
    and the last payment day, which need all history, are set directly.
    """
    from recoup.strategy.day_record import SCHEMAS, DayEvents, DayRecord
    from recoup.strategy.response import AGENCY_DAYS, AccountState, _epoch

    today = _epoch(as_of)
    n = frame.height
    # The state indexes accounts by parsing twin loan ids ("L000000123" → 122): row i gets the id of
    # index i, so the replay needs no change to the state. Issue 14, item 2 replaces these fabricated
    # ids with a join by loan and borrower id.
    keys = (
        frame.lazy()
        .select(pl.col("loan_id").cast(pl.String))
        .with_row_index("i")
        .with_columns(key=pl.concat_str(pl.lit("L"), (pl.col("i") + 1).cast(pl.String).str.zfill(9)))
    )
    loans = keys.select("loan_id")
    first = today - HISTORY_DAYS

    att = pl.DataFrame(schema={"day": pl.Int64, "loan_id": pl.String})
    if attempts is not None:
        att = (
            attempts.lazy()
            .filter(
                pl.col("loan_id").is_not_null(),
                pl.col("channel").is_not_null(),
                pl.col("channel") != Channel.PORTAL.value,
                pl.col("as_of") <= as_of,
            )
            .with_columns(pl.col("loan_id").cast(pl.String), day=_day("as_of"))
            .filter(pl.col("day") > first)
            .join(keys, on="loan_id", how="inner")
            .select(
                "day",
                pl.col("key").alias("loan_id"),
                "channel",
                "outcome",
                reached=pl.col("outcome").is_in(list(REACHED_OUTCOMES)).fill_null(False),
            )
            .collect()
        )
    pay = pl.DataFrame(schema={"day": pl.Int64, "loan_id": pl.String})
    live: pl.LazyFrame | None = None
    if payments is not None:
        pays = payments.lazy().filter(pl.col("received_date") <= as_of)
        reversed_ids = pays.filter(pl.col("reverses").is_not_null()).select(
            pl.col("reverses").alias("payment_id")
        )
        live = (
            pays.filter(pl.col("reverses").is_null())
            .join(reversed_ids, on="payment_id", how="anti")
            .with_columns(pl.col("loan_id").cast(pl.String), day=_day("received_date"))
            .join(keys, on="loan_id", how="inner")
        )
        pay = (
            live.filter(pl.col("day") > first)
            .select("day", pl.col("key").alias("loan_id"), pl.col("amount").cast(pl.Int64))
            .collect()
        )

    state = AccountState()
    empty = {name: pl.DataFrame(schema=cols) for name, cols in SCHEMAS.items()}
    no_tasks = pl.DataFrame(schema={"loan_id": pl.String, "treatment": pl.String, "verdict": pl.String})

    def observe(day: int, a: pl.DataFrame, p: pl.DataFrame) -> None:
        """The loop's record of ``day − 1``: it carries the events of ``day``."""
        date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        ev = DayEvents(
            date,
            _conform(p, SCHEMAS["payments"]),
            _conform(a, SCHEMAS["attempts"]),
            empty["promises"],
            empty["offers"],
            empty["replies"],
            empty["complaints"],
        )
        state.observe(DayRecord(date - dt.timedelta(days=1), pl.DataFrame(), pl.DataFrame(), no_tasks, ev))

    att_by = att.partition_by("day", as_dict=True)
    pay_by = pay.partition_by("day", as_dict=True)
    for day in sorted({int(k[0]) for k in (*att_by, *pay_by)}):
        observe(day, att_by.get((day,), att.clear()), pay_by.get((day,), pay.clear()))
    if state.day < today:  # nothing happened on D: the sums still age to D
        observe(today, att.clear(), pay.clear())
    state._grow(n)
    for f in fields(state):  # exactly one entry per row of the frame
        value = getattr(state, f.name)
        if isinstance(value, np.ndarray):
            setattr(state, f.name, value[:n].copy())

    # The placement running and the last payment day need every earlier day, not just the window.
    final = keys
    if placements is not None:
        final = final.join(_placed_until(placements, as_of, loans, AGENCY_DAYS), on="loan_id", how="left")
    if live is not None:
        last = live.group_by("loan_id").agg(last_paid=pl.col("day").max())
        final = final.join(last, on="loan_id", how="left")
    out = final.collect().sort("i")
    if "placed_until" in out.columns:
        state.placed_until = out.get_column("placed_until").fill_null(-1).to_numpy().astype(np.int64)
    else:
        state.placed_until = np.full(n, -1, dtype=np.int64)
    if "last_paid" in out.columns:
        state.last_paid = out.get_column("last_paid").fill_null(-10_000).to_numpy().astype(np.int64)
    else:
        state.last_paid = np.full(n, -10_000, dtype=np.int64)
    return state


def _conform(df: pl.DataFrame, schema: Mapping[str, Any]) -> pl.DataFrame:
    """``df`` in the day's event columns (:data:`~recoup.strategy.day_record.SCHEMAS`; those it lacks
    are null)."""
    return df.select(
        [(pl.col(c) if c in df.columns else pl.lit(None)).cast(t).alias(c) for c, t in schema.items()]
    )


def _placed_until(
    placements: pl.DataFrame | pl.LazyFrame, as_of: dt.date, loans: pl.LazyFrame, term: int
) -> pl.LazyFrame:
    """Per loan, the epoch day its latest placement runs until (start + 1 + ``term``).

    Starts follow the loop's rule: the first placement decision starts one; a decision on Q is carried
    while the running one started on P still holds on Q + 1 (Q ≤ P + ``term``), else it starts anew. A
    loop over successive starts (at most one per ``term`` + 1 days of history), not over accounts."""
    days = (
        placements.lazy()
        .filter(pl.col("treatment") == Treatment.AGENCY_PLACEMENT.value, pl.col("as_of") < as_of)
        .select(pl.col("loan_id").cast(pl.String), day=_day("as_of"))
        .join(loans, on="loan_id", how="semi")
        .unique()
        .collect()
    )
    start = days.group_by("loan_id").agg(start=pl.col("day").min())
    while True:
        later = (
            days.join(start, on="loan_id")
            .filter(pl.col("day") > pl.col("start") + term)
            .group_by("loan_id")
            .agg(next=pl.col("day").min())
        )
        if later.height == 0:
            break
        start = start.join(later, on="loan_id", how="left").select(
            "loan_id", start=pl.coalesce("next", "start")
        )
    return start.lazy().select("loan_id", placed_until=pl.col("start") + 1 + term)


# ------------------------------------------------------------------------------------------ values


def _yuan(fen: pl.Expr) -> pl.Expr:
    """Fen as ``¥12.30`` / ``-¥0.05`` (reasons text)."""
    a = fen.abs()
    return pl.concat_str(
        pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        pl.lit("¥"),
        (a // 100).cast(pl.String),
        pl.lit("."),
        (a % 100).cast(pl.String).str.zfill(2),
    )


def _null_values(decisions: pl.DataFrame, version: str | None) -> pl.DataFrame:
    return decisions.with_columns(
        expected_value=pl.lit(None, pl.Int64),
        value_model=pl.lit(version, pl.String),
    )


def annotate(
    decisions: pl.DataFrame,
    frame: pl.DataFrame,
    model: ValueModel | None,
    as_of: dt.date,
    state: AccountState | None,
    prices: Mapping[str, int] | None = None,
    cost_weight: float | None = None,
    commission_bp: Mapping[str, int] | None = None,
    config: str | None = None,
) -> pl.DataFrame:
    """``decisions`` with :data:`VALUE_COLUMNS` and the value in ``reasons``.

    ``expected_value`` is the EV (fen) of the decided treatment for the account (``frame``'s row with
    the same ``loan_id``; ``state`` from :func:`state_from_history` on the same ``frame``), as the
    optimised strategy values it (``prices``, ``commission_bp`` by bucket and ``cost_weight``: its
    defaults when None; ``config``, e.g. ``prices@v2``, follows the model's version in ``value_model``,
    so each row names every version its value depends on); the reason
    gains ``; EV ¥12.30 (best: portal_link ¥15.10)``. Null with ``EV not modelled`` for treatments
    outside ``response.ACTIONS`` (legal reviews, settlements…) and for a placement decided while one is
    running (it is carried: nothing new happens). Without a model both columns are null."""
    if model is None or state is None:
        return _null_values(decisions, None)
    made_by = f"{model.version} {config}" if config else model.version
    if decisions.height == 0:
        return _null_values(decisions, made_by)
    from recoup.strategy.capacity import Capacity
    from recoup.strategy.optimised import OptimisedDecider
    from recoup.strategy.response import ACTIONS

    decider = OptimisedDecider(model=model.models, capacity=Capacity(), state=state)
    if prices is not None:
        decider.prices = prices
    decider.commission_bp = commission_bp
    if cost_weight is not None:
        decider.cost_weight = cost_weight
    fr = model_frame(frame)
    value, feasible = decider.values(fr, as_of)

    names = [t.value for t in ACTIONS]
    idx = (
        decisions.select(pl.col("loan_id").cast(pl.String))
        .join(
            fr.select(pl.col("loan_id").cast(pl.String), "i"), on="loan_id", how="left", maintain_order="left"
        )
        .get_column("i")
    )
    code = decisions.get_column("treatment").replace_strict(
        {t: k for k, t in enumerate(names)}, default=-1, return_dtype=pl.Int64
    )
    known = idx.is_not_null().to_numpy() & (code.to_numpy() >= 0)
    i = idx.fill_null(0).to_numpy().astype(np.int64)
    k = np.maximum(code.to_numpy(), 0)
    ok = known & feasible[i, k]
    chosen = np.where(ok, np.rint(value[i, k]), np.nan)
    masked = np.where(feasible, value, -np.inf)
    best = masked.argmax(axis=1)[i]
    best_value = np.rint(value[i, best])

    cols = pl.DataFrame(
        {
            "__ev": pl.Series(chosen, dtype=pl.Float64).fill_nan(None).cast(pl.Int64),
            "__known": pl.Series(known, dtype=pl.Boolean),
            "__best": pl.Series(np.asarray(names, dtype=object)[best].tolist(), dtype=pl.String),
            "__best_ev": pl.Series(best_value, dtype=pl.Float64).cast(pl.Int64),
            "__is_best": pl.Series(ok & (best == k), dtype=pl.Boolean),
        }
    )
    ev = pl.col("__ev")
    note = (
        pl.when(ev.is_not_null() & pl.col("__is_best"))
        .then(pl.concat_str(pl.lit("; EV "), _yuan(ev), pl.lit(" (best)")))
        .when(ev.is_not_null())
        .then(
            pl.concat_str(
                pl.lit("; EV "),
                _yuan(ev),
                pl.lit(" (best: "),
                "__best",
                pl.lit(" "),
                _yuan(pl.col("__best_ev")),
                pl.lit(")"),
            )
        )
        .when(pl.col("__known"))
        .then(pl.lit(f"; {NOT_MODELLED} (agency placement running)"))
        .otherwise(pl.lit(f"; {NOT_MODELLED}"))
    )
    return (
        pl.concat([decisions, cols], how="horizontal")
        .with_columns(
            reasons=pl.concat_str(pl.col("reasons").fill_null(""), note),
            expected_value=ev,
            value_model=pl.lit(made_by, pl.String),
        )
        .drop(cols.columns)
    )


def plan_optimised(
    frame: pl.DataFrame,
    model: ValueModel,
    state: AccountState,
    as_of: dt.date,
    capacity: Capacity,
    *,
    prices: Mapping[str, int] | None = None,
    commission_bp: Mapping[str, int] | None = None,
    windows: Mapping[Treatment, tuple[int, ...]] | None = None,
    config: str | None = None,
) -> tuple[pl.DataFrame, Plan]:
    """The day's decisions by the optimised strategy (``Settings.planner = "optimised"``): the plan
    that maximises the total expected value within ``capacity`` and the message budget, the required
    notices kept (docs/strategy.md, "Optimised strategy"), in ``out/decisions``' columns with
    :data:`VALUE_COLUMNS`; and the kernel :class:`Plan` whose strategy document (the notice rows,
    name ``optimised``) the messages and tasks are made with. ``prices``, ``commission_bp`` and the
    hours on duty (``windows``) are the lender's configuration (defaults when None); ``config`` (e.g.
    ``prices@v2 capacity@v1``) follows the model's version in ``value_model``."""
    from recoup.strategy.kernel import DECISION_SCHEMA
    from recoup.strategy.kernel import Plan as KernelPlan
    from recoup.strategy.optimised import OptimisedDecider

    decider = OptimisedDecider(
        model=model.models, capacity=capacity, state=state, commission_bp=commission_bp, windows=windows or {}
    )
    if prices is not None:
        decider.prices = prices
    out = decider(model_frame(frame), as_of)
    cols = [pl.col(c).cast(t) for c, t in DECISION_SCHEMA.items()]
    decisions = out.select(
        *cols,
        pl.col("expected_value").cast(pl.Int64),
        pl.lit(f"{model.version} {config}" if config else model.version, pl.String).alias("value_model"),
    )
    return decisions, KernelPlan(champion=decider.notices)
