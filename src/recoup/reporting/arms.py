"""Experiment results per arm, with the METRICS.md definitions and confidence intervals.

Input: one row per account of the experiment's allocation cohort, with its ``arm`` and what happened
over the evaluation window — ``allocated`` (balance at allocation, minor units), ``collected`` (cash
collected from allocation until exit or window end), ``cost`` (cost of collection spent on it: channels,
people, agency commission, legal), ``cured`` (fully cured by day 30, for the cure rate), ``complaints``
(count) and, optionally, ``violations`` (attempts the independent ``policy audit`` found against the
rules). Per arm:

- **recovery rate** (催回率) = Σ collected ÷ Σ allocated — a ratio estimator; its interval is the delta
  method's (the accounts are the independent units);
- **amount per account** = mean collected, and **net per account** = mean (collected − cost), with
  normal intervals;
- **cost per yuan recovered** (催收成本率) = Σ cost ÷ Σ collected (delta method);
- **cure rate** (出催率) = Σ allocated of cured accounts ÷ Σ allocated (delta method);
- **complaints per 10,000 accounts** with an exact Poisson (Garwood) interval — a veto metric;
- **violations** — a count (any is a failure, whatever the recovery).

:func:`compare_arms` sets each arm against the champion on net per account (Welch's interval of the
difference) and gives a verdict only when the interval excludes zero; otherwise "no significant
difference". All vectorised: sums and sums of squares per arm in one Polars group-by.
"""

from __future__ import annotations

import math

import polars as pl
from scipy import stats

__all__ = ["arm_results", "compare_arms"]

REQUIRED = ("arm", "allocated", "collected", "cost", "cured", "complaints")


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def _ratio_ci(
    sy: float, sx: float, syy: float, sxx: float, sxy: float, n: int, z: float
) -> tuple[float, float, float]:
    """R = Σy/Σx with the delta-method interval (accounts independent)."""
    if n == 0 or sx == 0:
        return math.nan, math.nan, math.nan
    r = sy / sx
    # Σ (y − R x)² = Σy² − 2R Σxy + R² Σx²
    resid = max(syy - 2 * r * sxy + r * r * sxx, 0.0)
    se = math.sqrt(resid * n / max(n - 1, 1)) / sx
    return r, r - z * se, r + z * se


def _mean_ci(s: float, ss: float, n: int, z: float) -> tuple[float, float, float, float]:
    """Mean, its interval and the sample variance."""
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = s / n
    var = max(ss - n * mean * mean, 0.0) / max(n - 1, 1)
    half = z * math.sqrt(var / n)
    return mean, mean - half, mean + half, var


def _poisson_ci(k: int, level: float) -> tuple[float, float]:
    a = 1 - level
    lo = 0.0 if k == 0 else float(stats.chi2.ppf(a / 2, 2 * k)) / 2
    hi = float(stats.chi2.ppf(1 - a / 2, 2 * k + 2)) / 2
    return lo, hi


def arm_results(accounts: pl.DataFrame, *, level: float = 0.95) -> pl.DataFrame:
    """One row per arm with each metric and its interval (``*_lo`` / ``*_hi``)."""
    missing = [c for c in REQUIRED if c not in accounts.columns]
    if missing:
        raise ValueError(f"arm_results needs columns {', '.join(missing)}")
    frame = accounts.with_columns(
        pl.col("allocated", "collected", "cost", "complaints").cast(pl.Float64),
        pl.col("cured").cast(pl.Boolean),
        (pl.col("collected").cast(pl.Float64) - pl.col("cost").cast(pl.Float64)).alias("net"),
        (
            pl.col("violations").cast(pl.Int64)
            if "violations" in accounts.columns
            else pl.lit(0, pl.Int64).alias("violations")
        ),
    ).with_columns(pl.when(pl.col("cured")).then(pl.col("allocated")).otherwise(0.0).alias("cured_bal"))
    sums = (
        frame.group_by("arm")
        .agg(
            pl.len().alias("n"),
            *(
                pl.col(c).sum().alias(f"s_{c}")
                for c in ("allocated", "collected", "cost", "net", "cured_bal")
            ),
            *((pl.col(c) ** 2).sum().alias(f"ss_{c}") for c in ("allocated", "collected", "cost", "net")),
            (pl.col("collected") * pl.col("allocated")).sum().alias("sxy_coll_alloc"),
            (pl.col("cost") * pl.col("collected")).sum().alias("sxy_cost_coll"),
            (pl.col("cured_bal") ** 2).sum().alias("ss_cured_bal"),
            (pl.col("cured_bal") * pl.col("allocated")).sum().alias("sxy_cured_alloc"),
            pl.col("complaints").sum().alias("complaints"),
            pl.col("violations").sum().alias("violations"),
        )
        .sort("arm")
    )
    z = _z(level)
    rows = []
    for r in sums.iter_rows(named=True):  # one row per arm (a handful), not per account
        n = int(r["n"])
        rec = _ratio_ci(
            r["s_collected"],
            r["s_allocated"],
            r["ss_collected"],
            r["ss_allocated"],
            r["sxy_coll_alloc"],
            n,
            z,
        )
        cpy = _ratio_ci(
            r["s_cost"], r["s_collected"], r["ss_cost"], r["ss_collected"], r["sxy_cost_coll"], n, z
        )
        cure = _ratio_ci(
            r["s_cured_bal"],
            r["s_allocated"],
            r["ss_cured_bal"],
            r["ss_allocated"],
            r["sxy_cured_alloc"],
            n,
            z,
        )
        amt = _mean_ci(r["s_collected"], r["ss_collected"], n, z)
        net = _mean_ci(r["s_net"], r["ss_net"], n, z)
        k = int(r["complaints"])
        plo, phi = _poisson_ci(k, level)
        rows.append(
            {
                "arm": r["arm"],
                "accounts": n,
                "recovery_rate": rec[0],
                "recovery_rate_lo": rec[1],
                "recovery_rate_hi": rec[2],
                "amount_per_account": amt[0],
                "amount_per_account_lo": amt[1],
                "amount_per_account_hi": amt[2],
                "net_per_account": net[0],
                "net_per_account_lo": net[1],
                "net_per_account_hi": net[2],
                "net_variance": net[3],
                "cost_per_yuan": cpy[0],
                "cost_per_yuan_lo": cpy[1],
                "cost_per_yuan_hi": cpy[2],
                "cure_rate": cure[0],
                "cure_rate_lo": cure[1],
                "cure_rate_hi": cure[2],
                "complaints": k,
                "complaints_per_10k": 1e4 * k / n if n else math.nan,
                "complaints_per_10k_lo": 1e4 * plo / n if n else math.nan,
                "complaints_per_10k_hi": 1e4 * phi / n if n else math.nan,
                "violations": int(r["violations"]),
            }
        )
    return pl.DataFrame(rows)


def compare_arms(results: pl.DataFrame, *, champion: str = "champion", level: float = 0.95) -> pl.DataFrame:
    """Each arm against the champion on net per account: difference, Welch interval and a verdict.

    The verdict is "better" or "worse" only when the interval excludes zero, "no significant difference"
    otherwise; an arm with a policy violation, or complaints per 10,000 significantly above the
    champion's, "fails" whatever its recovery (complaints and violations are veto metrics).
    """
    base = results.filter(pl.col("arm") == champion)
    if base.height != 1:
        raise ValueError(f"no single champion arm {champion!r} in the results")
    b = base.row(0, named=True)
    z = _z(level)
    out = []
    for r in results.filter(pl.col("arm") != champion).iter_rows(named=True):
        diff = r["net_per_account"] - b["net_per_account"]
        se = math.sqrt(r["net_variance"] / r["accounts"] + b["net_variance"] / b["accounts"])
        lo, hi = diff - z * se, diff + z * se
        if r["violations"] > 0 or r["complaints_per_10k_lo"] > b["complaints_per_10k_hi"]:
            verdict = "fails"
        elif lo > 0:
            verdict = "better"
        elif hi < 0:
            verdict = "worse"
        else:
            verdict = "no significant difference"
        out.append(
            {
                "arm": r["arm"],
                "vs": champion,
                "net_diff": diff,
                "net_diff_lo": lo,
                "net_diff_hi": hi,
                "verdict": verdict,
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "arm": pl.String,
            "vs": pl.String,
            "net_diff": pl.Float64,
            "net_diff_lo": pl.Float64,
            "net_diff_hi": pl.Float64,
            "verdict": pl.String,
        },
    )
