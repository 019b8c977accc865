"""The decisions kernel: pure Polars, frame in → frame out, no I/O, vectorised.

:func:`decision_frame` joins the day's ``account_daily`` and ``scores`` into the columns strategies test
(:data:`~recoup.strategy.definition.INPUTS`); :func:`decide` assigns experiment arms, evaluates each
arm's strategy table with the shared evaluator, applies the holdout, required notices and exploration,
and returns one decision per account with its node, arm, strategy version and reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from recoup import rules
from recoup.contact.vocab import Treatment
from recoup.strategy.defaults import TREATMENT_DEFAULTS
from recoup.strategy.definition import INPUTS, RESERVED_NODE, Strategy
from recoup.strategy.experiments import (
    CHAMPION,
    HOLDOUT,
    NOT_EXPLORABLE,
    Experiment,
    assign_arms,
    exploration_draw,
)

__all__ = [
    "DECISION_SCHEMA",
    "Plan",
    "decide",
    "decision_frame",
    "empty_decisions",
    "last_outcomes",
    "prepare",
]

#: The columns of ``out/decisions``, in order.
DECISION_SCHEMA: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "loan_id": pl.String(),
    "borrower_id": pl.String(),
    "segment": pl.String(),
    "bucket": pl.String(),
    "dpd": pl.Int64(),
    "overdue_amount": pl.Int64(),
    "score": pl.Float64(),
    "experiment": pl.String(),
    "arm": pl.String(),
    "strategy": pl.String(),
    "strategy_version": pl.Int64(),
    "strategy_hash": pl.String(),
    "node": pl.String(),
    "treatment": pl.String(),
    "template": pl.String(),
    "tone": pl.String(),
    "queue": pl.String(),
    "priority": pl.Int64(),
    "required_notice": pl.Boolean(),
    "explored": pl.Boolean(),
    "propensity": pl.Float64(),
    "reasons": pl.String(),
}
_POLARS = {"int": pl.Int64(), "float": pl.Float64(), "str": pl.String(), "bool": pl.Boolean()}
_OUT = ("treatment", "template", "tone", "queue", "priority", "required_notice")


@dataclass(frozen=True)
class Plan:
    """What decides today: the champion strategy, and an experiment with each arm's strategy."""

    champion: Strategy
    experiment: Experiment | None = None
    arms: Mapping[str, Strategy] = field(default_factory=dict)  # arm name → strategy (challengers too)

    def strategy_for(self, arm: str) -> Strategy:
        return self.arms.get(arm, self.champion)

    def strategies(self) -> list[Strategy]:
        """Every strategy that may decide (for looking up a decision's document by name and version)."""
        return [self.champion, *self.arms.values()]


def empty_decisions() -> pl.DataFrame:
    return pl.DataFrame(schema=DECISION_SCHEMA)


def last_outcomes(attempts: pl.DataFrame) -> pl.DataFrame:
    """Each loan's most recent contact outcome (``loan_id``, ``last_outcome``) from the lake's attempts."""
    return (
        attempts.filter(pl.col("loan_id").is_not_null())
        .sort("at", "attempt_id")
        .group_by("loan_id")
        .agg(pl.col("outcome").last().alias("last_outcome"))
    )


def promise_inputs(promises: pl.DataFrame, as_of: dt.date, broken_days: int = 90) -> pl.DataFrame:
    """Per borrower (``borrower_id``, ``has_promise``, ``broken_promises``) from the facts step's
    ``promise_facts``: a debtor promise ``pending`` on D (made_on <= D <= due_date), and the count of
    promises ``broken`` that fell due in the last ``broken_days`` days."""
    d = pl.lit(as_of, pl.Date)
    pending = (
        (pl.col("status") == "pending")
        & (pl.col("by") == "debtor")
        & (pl.col("made_on") <= d)
        & (pl.col("due_date") >= d)
    )
    broken = (pl.col("status") == "broken") & (pl.col("due_date") >= d - pl.duration(days=broken_days))
    return promises.group_by("borrower_id").agg(
        pending.any().alias("has_promise"), broken.sum().cast(pl.Int64).alias("broken_promises")
    )


def decision_frame(
    daily: pl.DataFrame,
    scores: pl.DataFrame | None,
    customers: pl.DataFrame,
    attempts: pl.DataFrame | None = None,
    promises: pl.DataFrame | None = None,
    cases: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Accounts in collections on D with what strategies test: ``account_daily`` + segment and score from
    ``scores`` + the borrower's customer type + the last contact outcome from recent ``attempts`` (the
    facts step's ``contact_attempts``) + ``has_promise`` and ``broken_promises`` from D's ``promises``
    (the facts step's ``promise_facts``) + the borrower's stated ``preferred_channel`` from D's ``cases``
    (the facts step's ``case_facts``). A borrower whose case is stopped (停催) leaves the frame: the
    strategy decides nothing for them."""
    coll = daily.filter(pl.col("in_collections")).select(
        "as_of",
        "loan_id",
        "borrower_id",
        "product_type",
        "bucket",
        "sub_bucket",
        "bucket_since",
        "dpd",
        "overdue_amount",
        "outstanding_principal",
        "written_off",
    )
    if scores is not None and scores.height:
        coll = coll.join(scores.select("loan_id", "segment", "score"), on="loan_id", how="left")
    else:
        coll = coll.with_columns(segment=pl.lit(None, pl.String), score=pl.lit(None, pl.Float64))
    coll = coll.join(customers.select("borrower_id", "customer_type"), on="borrower_id", how="left")
    if attempts is not None and attempts.height:
        coll = coll.join(last_outcomes(attempts), on="loan_id", how="left")
    if promises is not None and promises.height:
        as_of = daily.get_column("as_of")[0] if daily.height else None
        if as_of is not None:
            coll = coll.join(promise_inputs(promises, as_of), on="borrower_id", how="left")
    if cases is not None and cases.height:
        per = cases.group_by("borrower_id").agg(
            pl.col("stopped").any().alias("_stopped"), pl.col("preferred_channel").drop_nulls().first()
        )
        coll = (
            coll.join(per, on="borrower_id", how="left")
            .filter(~pl.col("_stopped").fill_null(False))
            .drop("_stopped")
        )
    return coll


def prepare(frame: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Add every input a strategy may test that ``frame`` lacks: ``days_in_bucket`` from ``bucket_since``,
    ``dpd_parity`` from ``dpd``, ``has_promise`` false, ``broken_promises`` 0, ``customer_type``
    individual, the rest null."""
    cols = set(frame.columns)
    add: list[pl.Expr] = [pl.lit(as_of, pl.Date).alias("as_of")]
    if "borrower_id" not in cols:
        add.append(pl.lit(None, pl.String).alias("borrower_id"))
    if "days_in_bucket" not in cols:
        add.append(
            (pl.lit(as_of, pl.Date) - pl.col("bucket_since"))
            .dt.total_days()
            .cast(pl.Int64)
            .alias("days_in_bucket")
            if "bucket_since" in cols
            else pl.lit(None, pl.Int64).alias("days_in_bucket")
        )
    if "dpd_parity" not in cols:
        add.append(
            (pl.col("dpd") % 2).cast(pl.Int64).alias("dpd_parity")
            if "dpd" in cols
            else pl.lit(None, pl.Int64).alias("dpd_parity")
        )
    fills = {
        "has_promise": pl.lit(False),
        "broken_promises": pl.lit(0),
        "written_off": pl.lit(False),
        "customer_type": pl.lit("individual"),
    }
    for name, kind in INPUTS.items():
        if name in cols or name in ("days_in_bucket", "dpd_parity"):
            continue
        add.append(fills.get(name, pl.lit(None)).cast(_POLARS[kind]).alias(name))
    out = frame.with_columns(add)
    return out.with_columns(
        pl.col("has_promise").fill_null(False),
        pl.col("broken_promises").fill_null(0),
        pl.col("customer_type").fill_null("individual"),
        pl.col("loan_id").cast(pl.String),
        pl.col("borrower_id").cast(pl.String),
    )


def _show(column: str) -> pl.Expr:
    """A value as reason text: scores to 3 decimals, null as ``null``."""
    c = pl.col(column)
    if INPUTS.get(column) == "float":
        c = c.round(3)
    return c.cast(pl.String).fill_null("null")


def _reason_expr(strategy: Strategy) -> pl.Expr:
    """Per node: ``segment=mild, dpd=3 → row mild-sms`` (the columns its conditions test, then the row)."""
    chain: Any = None  # polars' when/then chain types differ per step
    for row in strategy.table.rows:
        parts: list[pl.Expr] = []
        for i, column in enumerate(row.when):
            parts += [pl.lit(("" if i == 0 else ", ") + f"{column}="), _show(column)]
        parts.append(pl.lit(f"{' ' if parts else 'always '}→ row {row.id}"))
        cond = pl.col("node") == row.id
        text = pl.concat_str(parts)
        chain = pl.when(cond).then(text) if chain is None else chain.when(cond).then(text)
    fallback = pl.lit(f"no row matched → {RESERVED_NODE}")
    return fallback if chain is None else chain.otherwise(fallback)


def _evaluate(frame: pl.DataFrame, strategy: Strategy) -> pl.DataFrame:
    """The strategy's outputs, node and reason for every row of ``frame``."""
    out = rules.evaluate(frame, strategy.table, rule_column="node")
    return out.with_columns(
        pl.col("node").fill_null(RESERVED_NODE),
        strategy=pl.lit(strategy.name, pl.String),
        strategy_version=pl.lit(strategy.version, pl.Int64),
        strategy_hash=pl.lit(strategy.hash, pl.String),
    ).with_columns(reasons=_reason_expr(strategy))


def decide(frame: pl.DataFrame, plan: Plan, *, as_of: dt.date) -> pl.DataFrame:
    """One decision per account of ``frame`` (see :data:`DECISION_SCHEMA`)."""
    if frame.height == 0:
        return empty_decisions()
    exp = plan.experiment
    df = prepare(frame, as_of).with_row_index("__i")
    unit = exp.unit_column if exp is not None else "loan_id"
    df = df.with_columns(assign_arms(df.get_column(unit), exp).alias("arm"))
    champ = _evaluate(df, plan.champion)
    champ_arm = exp.champion.name if exp is not None else CHAMPION
    keep = ["__i", *_OUT, "node", "strategy", "strategy_version", "strategy_hash", "reasons"]

    parts = [champ.filter(pl.col("arm") == champ_arm)]
    # The holdout: the champion decides, but only required notices are acted on.
    hold = champ.filter(pl.col("arm") == HOLDOUT)
    if hold.height:
        t_no = pl.lit(Treatment.NO_ACTION.value)
        req = pl.col("required_notice")
        parts.append(
            hold.with_columns(
                reasons=pl.when(req)
                .then(pl.concat_str(pl.col("reasons"), pl.lit(" (required notice, sent to every arm)")))
                .otherwise(
                    pl.concat_str(pl.col("reasons"), pl.lit("; holdout: no_action instead of "), "treatment")
                ),
                treatment=pl.when(req).then("treatment").otherwise(t_no),
                template=pl.when(req).then("template"),
                tone=pl.when(req).then("tone"),
                queue=pl.when(req).then("queue"),
                priority=pl.when(req).then("priority").otherwise(0),
            )
        )
    # Challengers: their own strategy, except where the champion owes a required notice.
    if exp is not None:
        notices = champ.filter(pl.col("required_notice")).select(
            [pl.col(c).alias(f"__c_{c}") if c != "__i" else pl.col(c) for c in keep]
        )
        for arm in exp.arms[1:]:
            sub = df.filter(pl.col("arm") == arm.name)
            if not sub.height:
                continue
            own = (
                _evaluate(sub, plan.strategy_for(arm.name))
                .join(notices, on="__i", how="left")
                .with_columns(__over=pl.col("__c_node").is_not_null() & ~pl.col("required_notice"))
            )
            over = pl.col("__over")
            own = own.with_columns(
                [pl.when(over).then(pl.col(f"__c_{c}")).otherwise(pl.col(c)).alias(c) for c in keep[1:]]
            ).with_columns(
                reasons=pl.when(over)
                .then(
                    pl.concat_str("reasons", pl.lit(" (the champion's required notice, sent to every arm)"))
                )
                .otherwise("reasons")
            )
            parts.append(own.drop([c for c in own.columns if c.startswith("__c_") or c == "__over"]))
    out = pl.concat([p.select(df.columns + keep[1:]) for p in parts], how="vertical").sort("__i")
    out = _explore(out, exp, as_of)
    reasons = pl.col("reasons")
    if exp is not None:
        reasons = pl.concat_str(reasons, pl.lit("; arm "), "arm", pl.lit(f" of {exp.name}"))
    return out.with_columns(
        experiment=pl.lit(exp.name if exp is not None else None, pl.String), reasons=reasons
    ).select([pl.col(c).cast(t) for c, t in DECISION_SCHEMA.items()])


def _explore(out: pl.DataFrame, exp: Experiment | None, as_of: dt.date) -> pl.DataFrame:
    """Replace the treatment of the day's exploration share with a random one; record the propensity
    (the probability that the logged treatment was chosen), which response models need for weighting."""
    if exp is None or exp.exploration <= 0 or not exp.exploration_treatments:
        return out.with_columns(explored=pl.lit(False), propensity=pl.lit(1.0))
    options = [Treatment(t) for t in exp.exploration_treatments]
    share, k = exp.exploration, len(options)
    draw = exploration_draw(out.get_column(exp.unit_column), exp, as_of)
    # Never explore the holdout, a required notice, or away from a legal step or a placement.
    fixed = pl.Series([t.value for t in NOT_EXPLORABLE], dtype=pl.String).implode()
    eligible = (pl.col("arm") != HOLDOUT) & ~pl.col("required_notice") & ~pl.col("treatment").is_in(fixed)
    values = [o.value for o in options]
    idx = pl.col("__idx")
    out = out.with_columns(
        __draw=pl.Series(draw.explore, dtype=pl.Boolean),
        __idx=pl.Series(draw.pick, dtype=pl.Int64),
    ).with_columns(
        explored=eligible & pl.col("__draw"),
        __pick=idx.replace_strict(list(range(k)), values, return_dtype=pl.String),
    )
    in_options = pl.col("treatment").is_in(pl.Series([o.value for o in options], dtype=pl.String).implode())
    # P(logged treatment) = (1 − share)·[it is the strategy's] + share/k·[it is an option], for eligible rows.
    prop_strategy = (1 - share) + pl.when(in_options).then(pl.lit(share / k)).otherwise(0.0)
    prop_explored = (1 - share) * (pl.col("__pick") == pl.col("treatment")).cast(pl.Float64) + share / k
    fields = ("template", "tone", "queue", "priority")
    lookup = {col: [TREATMENT_DEFAULTS[o][i] for o in options] for i, col in enumerate(fields)}
    ex = pl.col("explored")
    return (
        out.with_columns(
            propensity=pl.when(~eligible).then(1.0).when(ex).then(prop_explored).otherwise(prop_strategy),
            reasons=pl.when(ex)
            .then(
                pl.concat_str(
                    "reasons", pl.lit("; explored: "), "__pick", pl.lit(" instead of "), "treatment"
                )
            )
            .otherwise("reasons"),
        )
        .with_columns(
            treatment=pl.when(ex).then("__pick").otherwise("treatment"),
            **{
                col: pl.when(ex)
                .then(
                    idx.replace_strict(
                        list(range(k)), vals, return_dtype=pl.Int64 if col == "priority" else pl.String
                    )
                )
                .otherwise(col)
                for col, vals in lookup.items()
            },
        )
        .drop("__draw", "__pick", "__idx")
    )
