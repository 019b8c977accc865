"""The floor's figures for the morning view: the contact and promise funnels, workload per collector and
talk time per head. Pure Polars kernels, frames in → frames out (no I/O); money is Int64 minor units,
rates Float64 and null where the denominator is 0.

They follow METRICS.md "Contact and promises" and the conventions of
:mod:`recoup.reporting.metrics_people` (portal is not an attempt; a blocked attempt reached nobody and
counts only as blocked; promises judged at T+1 with the statuses of ``cases/promises.py``). Two figures
METRICS.md does not define are defined here, and named so on the page:

- **connected (接通)**: an attempt whose outcome is ``conversation`` — somebody answered, the debtor or
  not; the right-party contacts are the connected attempts that reached the debtor or a guarantor;
- **talk time per head (人均通话时长)**: seconds of recorded conversation (the end of the call's last
  transcript segment) ÷ the collectors who made calls; calls without a transcript have no duration.
"""

from __future__ import annotations

import polars as pl

from recoup.reporting.metrics import _rate, _require
from recoup.reporting.metrics_people_checks import JUDGED_STATUSES

__all__ = ["CONTACT_STAGES", "PROMISE_STAGES", "contact_funnel", "promise_funnel", "talk_time", "workload"]

#: Stages of :func:`contact_funnel`, in order.
CONTACT_STAGES = ("attempts", "connected", "right_party", "promises", "kept")
#: Stages of :func:`promise_funnel`, in order.
PROMISE_STAGES = ("due", "judged", "paid", "kept")
_NOT_ATTEMPTS = ("portal",)


def _funnel(stages: tuple[str, ...], counts: pl.DataFrame) -> pl.DataFrame:
    """One row per stage from a one-row frame of counts: stage, count, of_previous, of_first."""
    long = counts.unpivot(on=list(stages), variable_name="stage", value_name="count").with_columns(
        pl.col("count").cast(pl.Int64)
    )
    return long.with_columns(
        of_previous=pl.when(pl.col("count").shift(1) > 0)
        .then(pl.col("count") / pl.col("count").shift(1))
        .otherwise(None)
        .cast(pl.Float64),
        of_first=pl.when(pl.col("count").first() > 0)
        .then(pl.col("count") / pl.col("count").first())
        .otherwise(None)
        .cast(pl.Float64),
    )


def contact_funnel(attempts: pl.DataFrame, promises: pl.DataFrame) -> pl.DataFrame:
    """attempts → connected → right party → promise → kept, for the attempts and promises given.

    ``attempts`` (the period's, the caller filters): channel, outcome, right_party (Bool), blocked (Bool).
    ``promises`` made in the period: status. Stages: *attempts* (not blocked, not ``portal``);
    *connected* (outcome ``conversation``); *right_party* (connected and ``right_party`` — METRICS.md
    right-party contact, so its ``of_first`` is the right-party-contact rate); *promises* (status not
    ``not_counted``, so its ``of_previous`` is METRICS.md 承诺率 = promises ÷ right-party contacts);
    *kept* (of those promises, the ones judged ``kept`` so far). Columns: stage, count (Int64),
    of_previous and of_first (Float64).
    """
    _require(attempts, ["channel", "outcome", "right_party", "blocked"], "attempts")
    _require(promises, ["status"], "promises")
    tried = attempts.filter(~pl.col("channel").is_in(_NOT_ATTEMPTS) & ~pl.col("blocked"))
    connected = pl.col("outcome") == "conversation"
    made = promises.filter(pl.col("status") != "not_counted")
    counts = pl.DataFrame(
        {
            "attempts": [tried.height],
            "connected": [tried.filter(connected).height],
            "right_party": [tried.filter(connected & pl.col("right_party")).height],
            "promises": [made.height],
            "kept": [made.filter(pl.col("status") == "kept").height],
        }
    )
    return _funnel(CONTACT_STAGES, counts)


def promise_funnel(promises: pl.DataFrame) -> pl.DataFrame:
    """Promises that fell due (the caller filters on due_date) → judged → paid something → kept in full.

    ``promises``: status, amount, kept_amount (Int64). *due*: every promise but ``not_counted`` and
    ``rescheduled`` (replaced by a new promise); *judged*: :data:`JUDGED_STATUSES` (``pending`` is judged
    at T+1); *paid*: ``kept`` or ``partially_kept``; *kept*: ``kept``. METRICS.md 兑现率 = kept ÷ judged;
    by amount Σ min(paid, promised) ÷ Σ promised over the judged ones. Columns: stage, count, amount
    (promised; for *paid* and *kept* the amount paid, Σ min(kept_amount, amount)), of_previous, of_first.
    """
    _require(promises, ["status", "amount", "kept_amount"], "promises", money=["amount", "kept_amount"])
    due = promises.filter(~pl.col("status").is_in(["not_counted", "rescheduled"]))
    judged = due.filter(pl.col("status").is_in(JUDGED_STATUSES))
    paid = judged.filter(pl.col("status").is_in(["kept", "partially_kept"]))
    kept = judged.filter(pl.col("status") == "kept")
    counts = pl.DataFrame(
        {"due": [due.height], "judged": [judged.height], "paid": [paid.height], "kept": [kept.height]}
    )
    got = pl.min_horizontal("kept_amount", "amount")
    amounts = {
        "due": due.get_column("amount").sum(),
        "judged": judged.get_column("amount").sum(),
        "paid": paid.select(got.sum()).item(),
        "kept": kept.select(got.sum()).item(),
    }
    return (
        _funnel(PROMISE_STAGES, counts)
        .with_columns(amount=pl.col("stage").replace_strict(amounts, return_dtype=pl.Int64))
        .select("stage", "count", "amount", "of_previous", "of_first")
    )


def workload(held: pl.DataFrame, tasks: pl.DataFrame, people: pl.DataFrame) -> pl.DataFrame:
    """Open work per collector: cases held and their overdue amount, open tasks, and the share of the cap.

    ``held``: collector_id, case_id, overdue_amount (Int64) — the open cases each holds now. ``tasks``:
    collector_id (the assignee), one row per open task. ``people``: collector_id, name, cap (Int64, the
    most cases the allocation gives them). Columns: collector_id, name, cases, overdue_amount,
    open_tasks, cap, load (cases ÷ cap). One row per person in ``people``, by cases held (most first);
    then the overall row (null collector_id, name ``None``) with the pooled sums.
    """
    _require(held, ["collector_id", "case_id", "overdue_amount"], "held cases", money=["overdue_amount"])
    _require(tasks, ["collector_id"], "tasks")
    _require(people, ["collector_id", "name", "cap"], "people")
    cases = held.group_by("collector_id").agg(
        cases=pl.col("case_id").n_unique().cast(pl.Int64),
        overdue_amount=pl.col("overdue_amount").sum().cast(pl.Int64),
    )
    work = tasks.group_by("collector_id").agg(open_tasks=pl.len().cast(pl.Int64))
    out = (
        people.select("collector_id", "name", pl.col("cap").cast(pl.Int64))
        .join(cases, on="collector_id", how="left")
        .join(work, on="collector_id", how="left")
        .with_columns(pl.col("cases", "overdue_amount", "open_tasks").fill_null(0))
        .sort(["cases", "collector_id"], descending=[True, False])
    )
    total = out.select(
        pl.lit(None, out.schema["collector_id"]).alias("collector_id"),
        pl.lit(None, pl.String).alias("name"),
        *(pl.col(c).sum().cast(pl.Int64) for c in ("cap", "cases", "overdue_amount", "open_tasks")),
    ).select(out.columns)
    return (
        pl.concat([out, total], how="vertical")
        .with_columns(load=_rate("cases", "cap"))
        .select("collector_id", "name", "cases", "overdue_amount", "open_tasks", "cap", "load")
    )


def talk_time(calls: pl.DataFrame) -> pl.DataFrame:
    """Talk time per head (defined in the module docstring) over the calls given.

    ``calls``: collector_id, seconds (Float64, null when the call has no transcript). One row: calls,
    timed_calls (with a duration), collectors (distinct collector_id), seconds (Σ, Float64),
    per_head (seconds ÷ collectors; null when no call is timed or nobody called).
    """
    _require(calls.head(0), ["collector_id", "seconds"], "calls")
    timed = pl.col("seconds").is_not_null()
    return calls.select(
        calls=pl.len().cast(pl.Int64),
        timed_calls=timed.sum().cast(pl.Int64),
        collectors=pl.col("collector_id").n_unique().cast(pl.Int64),
        seconds=pl.col("seconds").sum().cast(pl.Float64),
    ).with_columns(
        per_head=pl.when((pl.col("timed_calls") > 0) & (pl.col("collectors") > 0))
        .then(pl.col("seconds") / pl.col("collectors"))
        .otherwise(None)
    )
