"""Incentive pay: the rules (commission, bonus tiers, complaint veto, QA penalty) and each collector's pay
from the KPIs (split from :mod:`recoup.reporting.metrics_people`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recoup.reporting.metrics import MetricsError
from recoup.reporting.metrics_people_checks import (
    BP,
    check_frame,
    check_not_negative,
    check_unique,
)

__all__ = ["DEFAULT_INCENTIVE", "IncentiveRules", "IncentiveTier", "incentive_pay", "load_incentive_rules"]

# ------------------------------------------------------------------------------------------ incentive pay


class IncentiveTier(BaseModel):
    """A bonus tier: met when the recovery rate is ≥ ``min_recovery_rate``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_recovery_rate: float = Field(ge=0, allow_inf_nan=False)
    bonus_bp: int = Field(ge=0, le=BP)


class IncentiveRules(BaseModel):
    """Collector incentive rules, versioned data (DESIGN.md §3): commission, tiers, veto, QA penalty.

    - ``base_bp``: commission in basis points of ``collected``;
    - ``tiers``: the highest tier met (recovery_rate ≥ min_recovery_rate) adds its ``bonus_bp``; kept
      sorted by ``min_recovery_rate`` (tier numbers 1, 2, … in that order; 0 = none met);
    - ``max_complaints_per_10k``: above it pay is 0 with reason ``veto:complaints`` (None: no veto);
    - ``qa_major_penalty_bp``: basis points of ``collected`` deducted per major QA finding.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    version: int = Field(ge=1)
    base_bp: int = Field(ge=0, le=BP)
    tiers: tuple[IncentiveTier, ...] = ()
    max_complaints_per_10k: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    qa_major_penalty_bp: int = Field(default=0, ge=0, le=BP)

    @field_validator("tiers")
    @classmethod
    def _sorted_distinct(cls, tiers: tuple[IncentiveTier, ...]) -> tuple[IncentiveTier, ...]:
        ordered = tuple(sorted(tiers, key=lambda t: t.min_recovery_rate))
        floors = [t.min_recovery_rate for t in ordered]
        if len(set(floors)) != len(floors):
            raise ValueError(f"two tiers share a min_recovery_rate: {floors}")
        return ordered


def load_incentive_rules(data: Mapping[str, Any]) -> IncentiveRules:
    """Validate incentive rules from data (a parsed YAML/JSON document); MetricsError when invalid."""
    try:
        return IncentiveRules.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(rules)'}: {e['msg']}" for e in exc.errors()]
        raise MetricsError(
            "invalid incentive rules: " + "; ".join(problems) + " / 激励规则无效：" + "；".join(problems),
            details={"errors": problems},
        ) from None


#: The default rules: 1 % commission, bonus tiers at the source documents' recovery targets (40 / 60 /
#: 70 %), a veto above 10 complaints per 10,000 cases, 0.1 % of collected off per major QA finding.
DEFAULT_INCENTIVE = load_incentive_rules(
    {
        "name": "default",
        "version": 1,
        "base_bp": 100,
        "tiers": [
            {"min_recovery_rate": 0.40, "bonus_bp": 50},
            {"min_recovery_rate": 0.60, "bonus_bp": 100},
            {"min_recovery_rate": 0.70, "bonus_bp": 150},
        ],
        "max_complaints_per_10k": 10.0,
        "qa_major_penalty_bp": 10,
    }
)


def incentive_pay(kpis: pl.DataFrame, rules: IncentiveRules) -> pl.DataFrame:
    """Incentive pay per collector from :func:`collector_kpis` output under ``rules``.

    ``kpis``: collector_id (one row each), collected (Int64), qa_major (Int64), recovery_rate and
    complaints_per_10k (Float64, may be null). Rows with a null collector_id (the overall row) are dropped.
    With c = max(collected, 0): base_pay = c × base_bp // 10000; bonus_pay = c × bonus_bp(tier) // 10000;
    penalty = c × qa_major × qa_major_penalty_bp // 10000 (each rounded down); pay = 0 when vetoed
    (complaints_per_10k > max_complaints_per_10k; a null rate never vetoes), else max(base + bonus −
    penalty, 0). A null recovery rate meets no tier.

    Columns: collector_id, collected, tier (Int64, 0 = none), base_pay, bonus_pay, penalty, pay (Int64
    minor units), reason (``veto:complaints``, ``floor:qa_penalty`` when penalties exceed the pay,
    ``tier:<n>``, or ``base``), rules (``name@v<version>``). Input row order is kept.
    """
    what = ("KPIs", "考核指标表")
    rows = kpis.filter(pl.col("collector_id").is_not_null()) if "collector_id" in kpis.columns else kpis
    check_frame(
        rows,
        ["collector_id"],
        what,
        money=["collected"],
        nullable=["recovery_rate", "complaints_per_10k"],
    )
    check_frame(rows, ["qa_major"], what)
    if not rows.schema["qa_major"].is_integer():
        raise MetricsError(
            f"KPIs: qa_major must be an integer count, not {rows.schema['qa_major']} / "
            "考核指标表的 qa_major 必须是整数",
            details={"columns": ["qa_major"]},
        )
    check_unique(rows, ["collector_id"], what)
    check_not_negative(rows, ["qa_major"], what)

    rate = pl.col("recovery_rate")
    tier: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for n, t in enumerate(rules.tiers, start=1):  # ascending: the last (highest) met wins
        tier = pl.when(rate >= t.min_recovery_rate).then(pl.lit(n, dtype=pl.Int64)).otherwise(tier)
    bonus_bp = {0: 0, **{n: t.bonus_bp for n, t in enumerate(rules.tiers, start=1)}}
    cap = rules.max_complaints_per_10k
    vetoed = (pl.col("complaints_per_10k") > cap).fill_null(False) if cap is not None else pl.lit(False)
    c = pl.max_horizontal(pl.col("collected").cast(pl.Int64), pl.lit(0, dtype=pl.Int64))
    gross = pl.col("base_pay") + pl.col("bonus_pay") - pl.col("penalty")
    return (
        rows.select(
            "collector_id",
            pl.col("collected").cast(pl.Int64),
            tier.alias("tier"),
            _vetoed=vetoed,
            _c=c,
            _qa=pl.col("qa_major").cast(pl.Int64),
        )
        .with_columns(
            base_pay=pl.col("_c") * rules.base_bp // BP,
            bonus_pay=pl.col("_c") * pl.col("tier").replace_strict(bonus_bp, return_dtype=pl.Int64) // BP,
            penalty=pl.col("_c") * (pl.col("_qa") * rules.qa_major_penalty_bp) // BP,
        )
        .with_columns(
            pay=pl.when(pl.col("_vetoed"))
            .then(pl.lit(0, dtype=pl.Int64))
            .otherwise(pl.max_horizontal(gross, pl.lit(0, dtype=pl.Int64))),
            reason=pl.when(pl.col("_vetoed"))
            .then(pl.lit("veto:complaints"))
            .when(gross < 0)
            .then(pl.lit("floor:qa_penalty"))
            .when(pl.col("tier") > 0)
            .then(pl.lit("tier:") + pl.col("tier").cast(pl.String))
            .otherwise(pl.lit("base")),
            rules=pl.lit(f"{rules.name}@v{rules.version}"),
        )
        .select(
            "collector_id", "collected", "tier", "base_pay", "bonus_pay", "penalty", "pay", "reason", "rules"
        )
    )
