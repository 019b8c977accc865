"""Pure Polars kernels of outsourced collection: the 赛马 placement, the commission and the ranking.

No database and no I/O: frames in, frames out, deterministic for the same inputs.

**Placement** (:func:`place_stratified`) — the cases of a batch are split into strata by bucket and
balance band (:data:`DEFAULT_BANDS`, minor units), so that every agency receives a comparable book. In
each stratum of ``n`` cases, agency ``a`` with share ``s_a`` (basis points, ``S = Σ s``) gets
``floor(n · s_a / S)`` cases, and the ``n − Σ floor`` left over go one each to the agencies with the
largest remainders (ties broken by a seeded key of the stratum and the agency, so the same agency is not
always favoured). The cases of a stratum are ordered by a seeded hash of their id (splitmix64) and dealt
in that order: position ``r`` goes to the agency whose cumulative quota range holds ``r``. The same
cases, shares, bands and seed always give the same batch.

**Commission** (:func:`commission`) — per agency and bucket in a month: the lender-side collections
credited to the agency during its placements (payments received on days the placement was active, in
the month) ÷ the amount placed (the overdue at placement of the placements active in the month) is the
month's recovery rate; the rate card's highest tier whose ``min_recovery_bp`` that rate reaches gives
the bucket's rate for all its collections; commission = collected × rate, rounded half away from zero
to the minor unit. Complaint and quality-inspection penalties are deducted from the agency's total:
``net = gross − penalties``; ``payable = max(net, 0)``.

**Ranking** (:func:`rank_agencies`, :func:`next_shares`) — agencies ranked by the month's recovery rate
(collected ÷ placed), an agency above the complaints veto (complaints per 10,000 placed cases, METRICS.md)
last whatever its recovery; next month's shares are proportional to ``k − rank + 1`` over the ``k``
agencies not vetoed (vetoed agencies get none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final

import polars as pl

from recoup.errors import RecoupError

__all__ = [
    "CASES_SCHEMA",
    "CREDITED_SCHEMA",
    "DEFAULT_BANDS",
    "PENALTIES_SCHEMA",
    "PLACEMENTS_SCHEMA",
    "RATES_SCHEMA",
    "SHARES_SCHEMA",
    "AgencyKernelError",
    "band_of",
    "band_ranges",
    "commission",
    "next_shares",
    "place_stratified",
    "rank_agencies",
]

#: Balance band edges in minor units: below ¥5,000, ¥5,000–20,000, ¥20,000 and more.
DEFAULT_BANDS: Final[tuple[int, ...]] = (500_000, 2_000_000)
#: Agencies above this many complaints per 10,000 placed cases are ranked last (the veto metric).
DEFAULT_COMPLAINT_VETO: Final = 50.0

CASES_SCHEMA: Final[dict[str, pl.DataType]] = {
    "case_id": pl.Int64(),
    "bucket": pl.String(),
    "balance": pl.Int64(),
}
SHARES_SCHEMA: Final[dict[str, pl.DataType]] = {"agency_id": pl.Int64(), "share_bp": pl.Int64()}
PLACEMENTS_SCHEMA: Final[dict[str, pl.DataType]] = {
    "placement_id": pl.Int64(),
    "agency_id": pl.Int64(),
    "case_id": pl.Int64(),
    "bucket": pl.String(),
    "placed_amount": pl.Int64(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),  # exclusive; null while active
}
CREDITED_SCHEMA: Final[dict[str, pl.DataType]] = {
    "case_id": pl.Int64(),
    "agency_id": pl.Int64(),  # the agency of the credited party (null: not an agency)
    "received_date": pl.Date(),
    "amount": pl.Int64(),
}
RATES_SCHEMA: Final[dict[str, pl.DataType]] = {
    "agency_id": pl.Int64(),
    "bucket": pl.String(),
    "min_recovery_bp": pl.Int64(),
    "rate_bp": pl.Int64(),
}
PENALTIES_SCHEMA: Final[dict[str, pl.DataType]] = {
    "agency_id": pl.Int64(),
    "kind": pl.String(),  # complaint / qa
    "amount": pl.Int64(),
}
PERFORMANCE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "agency_id": pl.Int64(),
    "cases": pl.Int64(),
    "placed_amount": pl.Int64(),
    "collected": pl.Int64(),
    "complaints": pl.Int64(),
}

_U64: Final = pl.UInt64()
_GOLDEN: Final = 0x9E3779B97F4A7C15
_M1: Final = 0xBF58476D1CE4E5B9
_M2: Final = 0x94D049BB133111EB


class AgencyKernelError(RecoupError):
    """A frame or a parameter given to an agency kernel is invalid; ``details`` say which."""

    code = "agency.bad_input"
    http_status = 422


def _bad(en: str, zh: str, **details: Any) -> AgencyKernelError:
    return AgencyKernelError(f"{en} / {zh}", details=details)


def _check(frame: pl.DataFrame, schema: dict[str, pl.DataType], name: str) -> pl.DataFrame:
    """The frame's columns of ``schema`` cast to it (a missing column or an impossible cast is an error)."""
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise _bad(
            f"{name}: missing column(s) {', '.join(missing)}",
            f"{name} 缺少列 {', '.join(missing)}",
            frame=name,
            columns=missing,
        )
    try:
        return frame.select(pl.col(c).cast(t, strict=True) for c, t in schema.items())
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise _bad(
            f"{name}: a column has the wrong type ({type(exc).__name__})",
            f"{name} 的列类型不正确",
            frame=name,
        ) from None


def _mix(x: pl.Expr, seed: int) -> pl.Expr:
    """splitmix64 of ``x`` (an integer expression) under ``seed``: a stable pseudo-random UInt64."""
    z = x.cast(_U64) + pl.lit((seed * _GOLDEN + _GOLDEN) % 2**64, _U64)
    z = (z ^ (z // pl.lit(2**30, _U64))) * pl.lit(_M1, _U64)
    z = (z ^ (z // pl.lit(2**27, _U64))) * pl.lit(_M2, _U64)
    return z ^ (z // pl.lit(2**31, _U64))


def _check_bands(bands: Sequence[int]) -> list[int]:
    edges = list(bands)
    if any(not isinstance(e, int) or isinstance(e, bool) or e <= 0 for e in edges) or edges != sorted(
        set(edges)
    ):
        raise _bad(
            f"balance bands {edges!r} must be increasing positive whole amounts (minor units)",
            f"余额分档 {edges!r} 须为递增的正整数金额（分）",
            field="bands",
            value=edges,
        )
    return edges


def band_ranges(bands: Sequence[int] = DEFAULT_BANDS) -> list[tuple[str, int, int | None]]:
    """The bands as (label, lower bound, upper bound or None): ``B1`` below the first edge, …"""
    edges = _check_bands(bands)
    lows = [0, *edges]
    return [(f"B{i + 1}", lo, edges[i] if i < len(edges) else None) for i, lo in enumerate(lows)]


def band_of(balance: pl.Expr, bands: Sequence[int] = DEFAULT_BANDS) -> pl.Expr:
    """The band label (``B1`` …) of a balance expression."""
    edges = _check_bands(bands)
    expr = pl.lit(f"B{len(edges) + 1}")
    for i in reversed(range(len(edges))):
        expr = pl.when(balance < edges[i]).then(pl.lit(f"B{i + 1}")).otherwise(expr)
    return expr


def place_stratified(
    cases: pl.DataFrame,
    shares: pl.DataFrame,
    *,
    seed: int,
    bands: Sequence[int] = DEFAULT_BANDS,
) -> pl.DataFrame:
    """Deal ``cases`` (case_id, bucket, balance) to the agencies of ``shares`` (agency_id, share_bp > 0)
    in random, stratified batches (see the module docstring). Returns one row per case: case_id,
    agency_id, bucket, band, stratum, position (0-based, within the stratum's dealing order)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31:
        raise _bad(f"seed {seed!r} must be a whole number in [0, 2^31)", "随机种子须为非负整数", field="seed")
    c = _check(cases, CASES_SCHEMA, "cases")
    s = _check(shares, SHARES_SCHEMA, "shares")
    if c.get_column("case_id").is_duplicated().any():
        raise _bad("cases: a case appears twice", "案件重复", frame="cases", field="case_id")
    if c.select(pl.any_horizontal(pl.all().is_null()).any()).item():
        raise _bad("cases: a value is missing", "案件数据有空值", frame="cases")
    if s.height == 0 or s.get_column("agency_id").is_duplicated().any():
        raise _bad("shares: one row per agency, at least one", "份额须每机构一行且至少一行", frame="shares")
    if s.select((pl.col("share_bp").fill_null(0) <= 0).any()).item():
        raise _bad("shares: every share must be > 0 bp", "份额须大于 0", frame="shares", field="share_bp")
    out_schema = {
        "case_id": pl.Int64(),
        "agency_id": pl.Int64(),
        "bucket": pl.String(),
        "band": pl.String(),
        "stratum": pl.String(),
        "position": pl.Int64(),
    }
    if c.height == 0:
        return pl.DataFrame(schema=out_schema)
    total = int(s.get_column("share_bp").sum())
    keyed = (
        c.with_columns(band=band_of(pl.col("balance"), bands))
        .with_columns(
            stratum=pl.col("bucket") + pl.lit("/") + pl.col("band"), key=_mix(pl.col("case_id"), seed)
        )
        .sort("stratum", "key", "case_id")
        .with_columns(
            position=pl.int_range(pl.len(), dtype=pl.Int64).over("stratum"),
            n=pl.len().over("stratum").cast(pl.Int64),
        )
    )
    strata = (
        keyed.select("stratum", "n")
        .unique()
        .sort("stratum")
        .with_row_index("stratum_no")
        .with_columns(pl.col("stratum_no").cast(pl.Int64))
    )
    quotas = (
        strata.join(s, how="cross")
        .with_columns(
            base=pl.col("n") * pl.col("share_bp") // total,
            rem=pl.col("n") * pl.col("share_bp") % total,
            tie=_mix(pl.col("stratum_no") * 1_000_003 + pl.col("agency_id"), seed),
            deal=_mix(pl.col("stratum_no") * 7_919 + pl.col("agency_id") * 104_729 + 1, seed),
        )
        .with_columns(left=pl.col("n") - pl.col("base").sum().over("stratum"))
        .sort("stratum", "rem", "tie", descending=[False, True, False])
        .with_columns(pick=pl.int_range(pl.len(), dtype=pl.Int64).over("stratum"))
        .with_columns(quota=pl.col("base") + (pl.col("pick") < pl.col("left")).cast(pl.Int64))
        .sort("stratum", "deal", "agency_id")
        .with_columns(hi=pl.col("quota").cum_sum().over("stratum"))
        .with_columns(lo=pl.col("hi") - pl.col("quota"))
        .select("stratum", "agency_id", "lo", "hi")
    )
    dealt = keyed.join(quotas, on="stratum").filter(
        (pl.col("position") >= pl.col("lo")) & (pl.col("position") < pl.col("hi"))
    )
    return dealt.select(*out_schema).cast(out_schema).sort("case_id")  # type: ignore[arg-type]


def _round_bp(amount: pl.Expr, bp: pl.Expr) -> pl.Expr:
    """amount × bp / 10000 rounded half away from zero, in integers."""
    prod = amount.abs() * bp
    return amount.sign() * ((prod + 5_000) // 10_000)


def commission(
    placements: pl.DataFrame,
    credited: pl.DataFrame,
    rates: pl.DataFrame,
    penalties: pl.DataFrame,
    *,
    start: dt.date,
    end: dt.date,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The commission of the month ``start`` … ``end`` (inclusive), see the module docstring.

    Returns ``(lines, totals)``: lines per agency and bucket — agency_id, bucket, placements,
    placed_amount, collected, recovery_bp, tier_min_bp, rate_bp, commission; totals per agency —
    agency_id, placements, placed_amount, collected, gross, complaints, complaint_penalty, qa_findings,
    qa_penalty, net, payable."""
    if end < start:
        raise _bad(f"the month ends ({end}) before it starts ({start})", "结束日早于开始日", field="end")
    p = _check(placements, PLACEMENTS_SCHEMA, "placements")
    cr = _check(credited, CREDITED_SCHEMA, "credited")
    r = _check(rates, RATES_SCHEMA, "rates")
    pen = _check(penalties, PENALTIES_SCHEMA, "penalties")
    bad_kind = pen.filter(~pl.col("kind").is_in(["complaint", "qa"]))
    if bad_kind.height:
        raise _bad(
            f"penalties: kind {bad_kind['kind'][0]!r} is not complaint or qa",
            "罚扣类型须为 complaint 或 qa",
            frame="penalties",
            field="kind",
        )
    if r.select((pl.col("rate_bp") < 0) | (pl.col("min_recovery_bp") < 0)).to_series().any():
        raise _bad("rates: negative rate or tier", "费率或档位不能为负", frame="rates")
    month = p.filter(
        (pl.col("start_date") <= end) & (pl.col("end_date").is_null() | (pl.col("end_date") > start))
    ).with_columns(
        lo=pl.max_horizontal(pl.col("start_date"), pl.lit(start)),
        hi=pl.min_horizontal(
            pl.col("end_date").fill_null(end + dt.timedelta(days=1)), pl.lit(end + dt.timedelta(days=1))
        ),
    )
    got = (
        month.join(cr.filter(pl.col("agency_id").is_not_null()), on=["case_id", "agency_id"])
        .filter((pl.col("received_date") >= pl.col("lo")) & (pl.col("received_date") < pl.col("hi")))
        .group_by("placement_id")
        .agg(collected=pl.col("amount").sum())
    )
    per = month.join(got, on="placement_id", how="left").with_columns(pl.col("collected").fill_null(0))
    lines = (
        per.group_by("agency_id", "bucket")
        .agg(
            placements=pl.len().cast(pl.Int64),
            placed_amount=pl.col("placed_amount").sum(),
            collected=pl.col("collected").sum(),
        )
        .with_columns(
            recovery_bp=pl.when(pl.col("placed_amount") > 0)
            .then(pl.col("collected") * 10_000 // pl.col("placed_amount"))
            .otherwise(0)
        )
    )
    tiers = (
        lines.select("agency_id", "bucket", "recovery_bp")
        .join(r, on=["agency_id", "bucket"])
        .filter(pl.col("min_recovery_bp") <= pl.col("recovery_bp"))
        .sort("min_recovery_bp")
        .group_by("agency_id", "bucket")
        .agg(tier_min_bp=pl.col("min_recovery_bp").last(), rate_bp=pl.col("rate_bp").last())
    )
    lines = (
        lines.join(tiers, on=["agency_id", "bucket"], how="left")
        .with_columns(pl.col("rate_bp").fill_null(0))
        .with_columns(commission=_round_bp(pl.col("collected"), pl.col("rate_bp")))
        .select(
            "agency_id",
            "bucket",
            "placements",
            "placed_amount",
            "collected",
            "recovery_bp",
            "tier_min_bp",
            "rate_bp",
            "commission",
        )
        .sort("agency_id", "bucket")
    )
    pen_sum = pen.group_by("agency_id").agg(
        complaints=(pl.col("kind") == "complaint").sum().cast(pl.Int64),
        complaint_penalty=pl.col("amount").filter(pl.col("kind") == "complaint").sum(),
        qa_findings=(pl.col("kind") == "qa").sum().cast(pl.Int64),
        qa_penalty=pl.col("amount").filter(pl.col("kind") == "qa").sum(),
    )
    agencies = pl.concat([lines.select("agency_id"), pen_sum.select("agency_id")]).unique()
    totals = (
        agencies.join(
            lines.group_by("agency_id").agg(
                placements=pl.col("placements").sum(),
                placed_amount=pl.col("placed_amount").sum(),
                collected=pl.col("collected").sum(),
                gross=pl.col("commission").sum(),
            ),
            on="agency_id",
            how="left",
        )
        .join(pen_sum, on="agency_id", how="left")
        .with_columns(pl.exclude("agency_id").fill_null(0).cast(pl.Int64))
        .with_columns(net=pl.col("gross") - pl.col("complaint_penalty") - pl.col("qa_penalty"))
        .with_columns(payable=pl.max_horizontal(pl.col("net"), pl.lit(0, pl.Int64)))
        .select(
            "agency_id",
            "placements",
            "placed_amount",
            "collected",
            "gross",
            "complaints",
            "complaint_penalty",
            "qa_findings",
            "qa_penalty",
            "net",
            "payable",
        )
        .sort("agency_id")
    )
    return lines, totals


def rank_agencies(
    performance: pl.DataFrame, *, complaint_veto_per_10k: float = DEFAULT_COMPLAINT_VETO
) -> pl.DataFrame:
    """Rank agencies on a month's performance (agency_id, cases, placed_amount, collected, complaints):
    adds recovery_bp, complaints_per_10k, vetoed and rank (1 = best; vetoed agencies last)."""
    f = _check(performance, PERFORMANCE_SCHEMA, "performance").with_columns(
        pl.exclude("agency_id").fill_null(0)
    )
    return (
        f.with_columns(
            recovery_bp=pl.when(pl.col("placed_amount") > 0)
            .then(pl.col("collected") * 10_000 // pl.col("placed_amount"))
            .otherwise(0),
            complaints_per_10k=pl.when(pl.col("cases") > 0)
            .then(pl.col("complaints") * 10_000 / pl.col("cases"))
            .otherwise(0.0),
        )
        .with_columns(vetoed=pl.col("complaints_per_10k") > complaint_veto_per_10k)
        .sort(["vetoed", "recovery_bp", "agency_id"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
    )


def next_shares(ranked: pl.DataFrame) -> pl.DataFrame:
    """Next month's shares from :func:`rank_agencies`: ``k − rank + 1`` over the ``k`` agencies not
    vetoed, in basis points summing to 10000 (the rounding remainder to rank 1); vetoed agencies 0.
    Columns: agency_id, rank, share_bp."""
    f = ranked.select("agency_id", "rank", "vetoed").sort("rank")
    k = int(f.filter(~pl.col("vetoed")).height)
    if k == 0:
        return f.select("agency_id", "rank", share_bp=pl.lit(0, pl.Int64))
    weight = pl.when(pl.col("vetoed")).then(0).otherwise(k - pl.col("rank") + 1)
    total = k * (k + 1) // 2
    out = f.with_columns(share_bp=(weight * 10_000 // total).cast(pl.Int64))
    rest = 10_000 - int(out.get_column("share_bp").sum())
    return out.with_columns(
        share_bp=pl.col("share_bp") + pl.when(pl.col("rank") == 1).then(rest).otherwise(0)
    ).select("agency_id", "rank", "share_bp")
