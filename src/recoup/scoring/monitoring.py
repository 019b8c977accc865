"""Model monitoring, as pure functions over frames: population stability (PSI) per feature, AUC and
KS per calendar month on matured rows, and the drift alerts both give rise to.

PSI = Σ (a − e) · ln(a / e) over bins, where e and a are the shares of the expected (training) and
actual (recent) rows in each bin. Numeric bins are quantiles of the expected values; text and boolean
columns bin by category; nulls (and NaN) are a bin of their own; an empty bin counts as ``eps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.errors import RecoupError

#: PSI below WATCH is stable, from ALERT on it is an alert.
PSI_WATCH = 0.1
PSI_ALERT = 0.25
EPS = 1e-4


class MonitoringError(RecoupError):
    code = "model.monitoring"
    http_status = 422


def _is_numeric(s: pl.Series) -> bool:
    return s.dtype.is_numeric() and s.dtype != pl.Boolean


def _bin_ids(expected: pl.Series, actual: pl.Series, bins: int) -> tuple[list[npt.NDArray[np.int64]], int]:
    """Bin numbers of both series (the last bin holds nulls) and the number of bins."""
    if _is_numeric(expected) and _is_numeric(actual):
        e = expected.cast(pl.Float64).fill_nan(None).to_numpy()
        a = actual.cast(pl.Float64).fill_nan(None).to_numpy()
        seen = e[~np.isnan(e)]
        cuts = np.unique(np.quantile(seen, np.arange(1, bins) / bins)) if seen.size else np.empty(0)
        k = len(cuts) + 2
        # Right-closed quantile bins (cut[i-1], cut[i]]; nulls in bin k - 1.
        ids = [
            np.where(np.isnan(v), k - 1, np.searchsorted(cuts, np.nan_to_num(v), side="left")).astype(
                np.int64
            )
            for v in (e, a)
        ]
        return ids, k
    es, as_ = expected.cast(pl.String), actual.cast(pl.String)
    cats = pl.concat([es, as_]).drop_nulls().unique().sort()
    k = cats.len() + 1
    ids = [
        s.replace_strict(cats, pl.int_range(0, cats.len(), eager=True), default=k - 1, return_dtype=pl.Int64)
        .fill_null(k - 1)
        .to_numpy()
        for s in (es, as_)
    ]
    return ids, k


def psi(expected: pl.Series, actual: pl.Series, bins: int = 10, *, eps: float = EPS) -> float:
    """Population stability index of ``actual`` against ``expected`` (see the module docstring)."""
    if expected.len() == 0 or actual.len() == 0:
        raise MonitoringError(f"PSI of {expected.name!r} needs rows in both samples · PSI 需要两组样本均非空")
    if bins < 2:
        raise MonitoringError("PSI needs at least 2 bins")
    (e_ids, a_ids), k = _bin_ids(expected, actual, bins)
    e = np.maximum(np.bincount(e_ids, minlength=k) / len(e_ids), eps)
    a = np.maximum(np.bincount(a_ids, minlength=k) / len(a_ids), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_table(
    expected: pl.DataFrame,
    actual: pl.DataFrame,
    columns: Sequence[str],
    *,
    bins: int = 10,
    watch: float = PSI_WATCH,
    alert: float = PSI_ALERT,
) -> pl.DataFrame:
    """One row per column: ``column``, ``psi``, ``status`` (stable < watch ≤ watch < alert ≤ alert)."""
    missing = [c for c in columns if c not in expected.columns or c not in actual.columns]
    if missing:
        raise MonitoringError(f"column(s) missing from a sample: {', '.join(missing)} · 缺少列")
    values = [psi(expected.get_column(c), actual.get_column(c), bins) for c in columns]
    return pl.DataFrame(
        {"column": list(columns), "psi": values}, schema={"column": pl.String, "psi": pl.Float64}
    ).with_columns(
        status=pl.when(pl.col("psi") >= alert)
        .then(pl.lit("alert"))
        .when(pl.col("psi") >= watch)
        .then(pl.lit("watch"))
        .otherwise(pl.lit("stable"))
    )


def performance_by_month(
    frame: pl.DataFrame, *, score: str, target: str, month_col: str = "as_of"
) -> pl.DataFrame:
    """AUC and KS of ``score`` against the 0/1 ``target`` per calendar month of ``month_col``, on matured
    rows (target known). Columns: month (first day), n, bad_rate, auc, ks; auc and ks are null for a
    month holding a single class. Higher scores are taken to mean higher risk."""
    missing = [c for c in (score, target, month_col) if c not in frame.columns]
    if missing:
        raise MonitoringError(f"column(s) not found: {', '.join(missing)} · 找不到列")
    rows = frame.lazy().select(
        month=pl.col(month_col).dt.truncate("1mo").cast(pl.Date),
        s=pl.col(score).cast(pl.Float64),
        y=pl.col(target).cast(pl.Int64),
    )
    rows = rows.filter(pl.col("y").is_not_null() & pl.col("s").is_not_null() & pl.col("month").is_not_null())
    # AUC as the Mann–Whitney statistic on average ranks within the month.
    counts = (
        rows.with_columns(r=pl.col("s").rank("average").over("month"))
        .group_by("month")
        .agg(n=pl.len(), pos=pl.col("y").sum(), rsum=(pl.col("r") * pl.col("y")).sum())
        .with_columns(neg=pl.col("n") - pl.col("pos"))
    )
    # KS: the largest gap between the cumulative score distributions of bads and goods.
    ks = (
        rows.group_by("month", "s")
        .agg(p=pl.col("y").sum(), q=(1 - pl.col("y")).sum())
        .sort("month", "s")
        .with_columns(
            gap=(
                pl.col("p").cum_sum().over("month") / pl.col("p").sum().over("month")
                - pl.col("q").cum_sum().over("month") / pl.col("q").sum().over("month")
            ).abs()
        )
        .group_by("month")
        .agg(ks=pl.col("gap").max())
    )
    both = (pl.col("pos") > 0) & (pl.col("neg") > 0)
    out = (
        counts.join(ks, on="month", how="left")
        .select(
            "month",
            pl.col("n").cast(pl.Int64),
            bad_rate=pl.col("pos") / pl.col("n"),
            auc=pl.when(both).then(
                (pl.col("rsum") - pl.col("pos") * (pl.col("pos") + 1) / 2) / (pl.col("pos") * pl.col("neg"))
            ),
            ks=pl.when(both).then(pl.col("ks")),
        )
        .sort("month")
    )
    return out.collect()


def drift_alerts(
    psi_table: pl.DataFrame,
    perf: pl.DataFrame | None,
    *,
    auc_floor: float | None = None,
    psi_alert: float = PSI_ALERT,
) -> list[dict[str, Any]]:
    """Alerts for columns with PSI ≥ ``psi_alert`` and months whose AUC fell below ``auc_floor``."""
    alerts: list[dict[str, Any]] = []
    for r in psi_table.filter(pl.col("psi") >= psi_alert).sort("psi", descending=True).iter_rows(named=True):
        col, v = r["column"], float(r["psi"])
        alerts.append(
            {
                "kind": "psi",
                "subject": col,
                "value": v,
                "threshold": psi_alert,
                "message_en": f"Feature {col} has shifted: PSI {v:.3f} ≥ {psi_alert:g}; "
                "check the data or retrain.",
                "message_zh": f"特征 {col} 分布发生偏移：PSI {v:.3f} ≥ {psi_alert:g}，"
                "请检查数据或重新训练模型。",
            }
        )
    if perf is not None and auc_floor is not None:
        low = perf.filter(pl.col("auc").is_not_null() & (pl.col("auc") < auc_floor)).sort("month")
        for r in low.iter_rows(named=True):
            month, v = r["month"].strftime("%Y-%m"), float(r["auc"])
            alerts.append(
                {
                    "kind": "auc",
                    "subject": month,
                    "value": v,
                    "threshold": auc_floor,
                    "message_en": f"AUC in {month} was {v:.3f}, below the floor {auc_floor:g}.",
                    "message_zh": f"{month} 的 AUC 为 {v:.3f}，低于下限 {auc_floor:g}。",
                }
            )
    return alerts
