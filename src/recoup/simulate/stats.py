"""The measured figures of a simulated history (``recoup simulate stats DIR``), per product.

The day directories are read with Polars directly (every version of every row, tagged with its day).
The metrics are those of METRICS.md, computed by :mod:`recoup.reporting.metrics` on ``account_daily``
rows from the delinquency kernel:

- **M1 cure within 30 days** (M1 出催率): accounts entering delinquency (DPD 1) on a day with 30
  observed days after it; cured when DPD is back to 0 (or the loan is paid off) by day 30; weighted
  by outstanding principal at entry (the count-weighted rate beside it). Entry and cure days come from
  each installment's versions: overdue from the day after its due date while more than the kernel's
  tolerance is unpaid.
- **Roll rates** (迁徙率): balance-weighted month-end to month-end transitions, pooled over the month
  pairs observed; ``roll Mn→Mn+1`` rolls forward, ``back Mn`` is the share that returned to current
  or paid off.
- **90+ recovery**: cash received in the 90 days after the first day (fewer if the history is shorter)
  from accounts more than 90 days past due on the first day ÷ their balance then (本息费: outstanding
  principal + overdue interest, fees and penalty) — 核销后回收 included.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recoup.delinquency.kernel import DelinquencyParams, delinquency
from recoup.portfolio import parse
from recoup.portfolio.spec import DATASETS
from recoup.portfolio.synth.vocab import CHINESE_HEADERS
from recoup.reporting.metrics import BUCKET_ORDER, cure_rate, roll_rate_matrix
from recoup.simulate.params import SimParams

DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PARTS = ("principal", "interest", "fee", "penalty")
ROLLS = ("M1", "M2", "M3", "M4", "M5", "M6")


@dataclass(frozen=True)
class History:
    days: list[dt.date]
    loans: pl.DataFrame  # every version, typed, with ``_day``
    installments: pl.DataFrame
    payments: pl.DataFrame


def _read(directory: Path, name: str) -> pl.DataFrame | None:
    ds = DATASETS[name]
    for stem, headers in ((name, None), (ds.title_zh, CHINESE_HEADERS[name])):
        path = directory / f"{stem}.csv"
        if path.exists():
            frame = pl.read_csv(path, infer_schema=False)
            if headers is not None:
                frame = frame.rename({zh: en for en, zh in headers.items() if zh in frame.columns})
            return frame
    return None


def read_history(directory: str | Path) -> History:
    """Every day directory (``YYYY-MM-DD``) under ``directory``, oldest first."""
    root = Path(directory)
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and DAY_DIR.match(p.name))
    if not dirs:
        raise FileNotFoundError(f"{root}: no day directories (YYYY-MM-DD)")
    frames: dict[str, list[pl.DataFrame]] = {"loans": [], "installments": [], "payments": []}
    for d in dirs:
        day = dt.date.fromisoformat(d.name)
        for name, parts in frames.items():
            f = _read(d, name)
            if f is not None and f.height:
                parts.append(f.with_columns(pl.lit(day).alias("_day")))

    def typed(name: str) -> pl.DataFrame:
        raw = pl.concat(frames[name], how="diagonal_relaxed")
        cols: list[pl.Series] = []
        for f in DATASETS[name].fields:
            if f.name not in raw.columns:
                continue
            s = raw.get_column(f.name)
            if f.kind.value == "amount":
                s = parse.amount(s, minor_digits=2).value.fill_null(0)
            elif f.kind.value == "date":
                s = parse.date(s).value
            elif f.kind.value == "int":
                s = s.cast(pl.Int64)
            elif f.kind.value == "enum" and f.enum is not None:
                s = parse.enum(s, f.enum).value
            cols.append(s.alias(f.name))
        return pl.DataFrame([*cols, raw.get_column("_day")])

    return History(
        [dt.date.fromisoformat(d.name) for d in dirs],
        typed("loans"),
        typed("installments"),
        typed("payments"),
    )


def book_at(h: History, day: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Loans and installments as of ``day`` (the newest version of each row on or before it)."""

    def latest(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
        return frame.filter(pl.col("_day") <= day).sort("_day").unique(subset=key, keep="last")

    return latest(h.loans, ["loan_id"]), latest(h.installments, ["loan_id", "seq"])


def _product(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("product_code").str.replace(r"\d+$", "").alias("product"))


def spells(h: History, tolerance: int = 100) -> pl.DataFrame:
    """Delinquency spells per loan: ``loan_id, start, end`` (days with DPD > 0), from installment versions."""
    last = h.days[-1]
    unpaid = pl.sum_horizontal(pl.col(f"{p}_due") - pl.col(f"{p}_paid") for p in PARTS)
    v = (
        h.installments.select("loan_id", "seq", "due_date", "_day", unpaid.alias("unpaid"))
        .sort("loan_id", "seq", "_day")
        .with_columns(
            (pl.col("_day").shift(-1).over("loan_id", "seq") - pl.duration(days=1))
            .fill_null(last)
            .alias("to")
        )
    )
    od = (
        v.filter(pl.col("unpaid") > tolerance)
        .with_columns(pl.max_horizontal("_day", pl.col("due_date") + pl.duration(days=1)).alias("s"))
        .filter(pl.col("s") <= pl.col("to"))
        .select("loan_id", "s", pl.col("to").alias("e"))
        .sort("loan_id", "s")
    )
    od = od.with_columns(pl.col("e").cum_max().shift(1).over("loan_id").alias("prev"))
    od = od.with_columns(
        (pl.col("prev").is_null() | (pl.col("s") > pl.col("prev") + pl.duration(days=1)))
        .cum_sum()
        .over("loan_id")
        .alias("k")
    )
    return (
        od.group_by("loan_id", "k")
        .agg(pl.col("s").min().alias("start"), pl.col("e").max().alias("end"))
        .drop("k")
    )


def _cures(h: History, tolerance: int) -> pl.DataFrame:
    """M1 cure within 30 days per product: balance- and count-weighted."""
    first, last = h.days[0], h.days[-1]
    sp = spells(h, tolerance).filter(
        (pl.col("start") > first) & (pl.col("start") <= last - dt.timedelta(days=30))
    )
    inst = h.installments.filter(pl.col("loan_id").is_in(sp.get_column("loan_id").unique().implode()))
    ver = inst.sort("loan_id", "seq", "_day").with_columns(
        pl.col("_day").shift(-1).over("loan_id", "seq").fill_null(last + dt.timedelta(days=1)).alias("to"),
        (pl.col("principal_due") - pl.col("principal_paid")).alias("op"),
    )
    bal = (
        sp.join(ver.select("loan_id", "_day", "to", "op"), on="loan_id")
        .filter((pl.col("_day") <= pl.col("start")) & (pl.col("start") < pl.col("to")))
        .group_by("loan_id", "start")
        .agg(pl.col("op").sum().alias("entry_balance"))
    )
    sp = sp.join(bal, on=["loan_id", "start"], how="left").with_columns(pl.col("entry_balance").fill_null(0))
    prod = _product(h.loans.unique(subset="loan_id", keep="last").select("loan_id", "product_code"))
    sp = sp.join(prod.select("loan_id", "product"), on="loan_id", how="left")
    out = []
    for product in [None, *sorted(sp.get_column("product").unique().to_list())]:
        sub = sp if product is None else sp.filter(pl.col("product") == product)
        alloc = sub.select("loan_id", pl.col("start").alias("allocated_on"), "entry_balance")
        daily = sub.filter(pl.col("end") < last).select(
            "loan_id",
            (pl.col("end") + pl.duration(days=1)).alias("as_of"),
            pl.lit(0, pl.Int64).alias("dpd"),
            pl.lit("active").alias("status"),
        )
        r = cure_rate(alloc, daily, days=30).row(0, named=True)
        out.append(
            {
                "product": product or "ALL",
                "m1_entries": r["loans"],
                "m1_cure_30d": r["rate"],
                "m1_cure_30d_count": (r["cured_loans"] / r["loans"]) if r["loans"] else None,
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "product": pl.String,
            "m1_entries": pl.Int64,
            "m1_cure_30d": pl.Float64,
            "m1_cure_30d_count": pl.Float64,
        },
    )


def _daily(h: History, day: dt.date) -> pl.DataFrame:
    loans, inst = book_at(h, day)
    live = loans.filter(pl.col("disbursement_date") <= day)
    daily = delinquency(live, inst, as_of=day, params=DelinquencyParams())
    return _product(daily)


def _rolls(h: History, products: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """Balance-weighted month-end transitions pooled over the month pairs: (product, bucket) → sums."""
    ends = [d for d in h.days if (d + dt.timedelta(days=1)).month != d.month]
    snaps = {d: _daily(h, d) for d in ends}
    acc: dict[tuple[str, str], dict[str, float]] = {}
    for a, b in itertools.pairwise(ends):
        for product in ["ALL", *products]:
            s0, s1 = snaps[a], snaps[b]
            if product != "ALL":
                s0, s1 = s0.filter(pl.col("product") == product), s1.filter(pl.col("product") == product)
            if s0.height == 0:
                continue
            for r in roll_rate_matrix(s0, s1, weight="balance").iter_rows(named=True):
                tot = acc.setdefault((product, r["from_bucket"]), {"base": 0.0, "fwd": 0.0, "back": 0.0})
                base = float(r["base"])
                nxt = BUCKET_ORDER[min(BUCKET_ORDER.index(r["from_bucket"]) + 1, len(BUCKET_ORDER) - 1)]
                tot["base"] += base
                tot["fwd"] += base * float(r.get(nxt) or 0.0)
                tot["back"] += base * float((r.get("C") or 0.0) + (r.get("paid_off") or 0.0))
    return acc


def _recovery(h: History, start_book: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Accounts over 90 DPD on the first day with their balance then and the cash of the next 90 days."""
    first, last = h.days[0], h.days[-1]
    window = min(90, (last - first).days)
    bal = pl.sum_horizontal("outstanding_principal", "overdue_interest", "overdue_fee", "overdue_penalty")
    deep = start_book.filter((pl.col("dpd") > 90) & (bal > 0)).select(
        "loan_id", "product", bal.alias("balance")
    )
    received = pl.col("received_date")
    cash = (
        h.payments.filter((received > first) & (received <= first + dt.timedelta(days=window)))
        .group_by("loan_id")
        .agg(pl.col("amount").sum().alias("cash"))
    )
    return deep.join(cash, on="loan_id", how="left").with_columns(pl.col("cash").fill_null(0)), window


def _rolls_and_recovery(h: History) -> pl.DataFrame:
    start_book = _daily(h, h.days[0])
    products = sorted(start_book.get_column("product").unique().to_list())
    acc = _rolls(h, products)
    deep, window = _recovery(h, start_book)

    def rate(key: tuple[str, str], part: str) -> float | None:
        t = acc.get(key)
        return t[part] / t["base"] if t and t["base"] else None

    rows: list[dict[str, object]] = []
    for product in ["ALL", *products]:
        d = deep if product == "ALL" else deep.filter(pl.col("product") == product)
        book = start_book if product == "ALL" else start_book.filter(pl.col("product") == product)
        balance, got = int(d.get_column("balance").sum()), int(d.get_column("cash").sum())
        row: dict[str, object] = {
            "product": product,
            "loans": book.height,
            "recovery_90p": (got / balance) if balance else None,
            "recovery_accounts": d.height,
            "recovery_window_days": window,
            "roll_C": rate((product, "C"), "fwd"),
        }
        for b in ROLLS:
            row[f"roll_{b}"] = rate((product, b), "fwd")
            row[f"back_{b}"] = rate((product, b), "back")
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def compute_stats(directory: str | Path, *, tolerance: int = 100) -> pl.DataFrame:
    """One row per product (and ``ALL``): M1 cure, roll rates, roll-backs and 90+ recovery."""
    h = read_history(directory)
    cures = _cures(h, tolerance)
    rest = _rolls_and_recovery(h)
    return rest.join(cures, on="product", how="left").sort(pl.col("product") != "ALL", "product")


def check_targets(stats: pl.DataFrame, params: SimParams) -> list[str]:
    """The calibration bands (per product) that the measured figures miss; empty when all are met."""
    misses: list[str] = []
    for p in params.products:
        row = stats.filter(pl.col("product") == p.code)
        if row.height == 0:
            misses.append(f"{p.code}: no data")
            continue
        r = row.row(0, named=True)
        for name, (lo, hi) in (
            ("m1_cure_30d", p.target.m1_cure_30d),
            ("recovery_90p", p.target.recovery_90p_90d),
        ):
            value = r.get(name)
            if value is None or not lo <= value <= hi:
                misses.append(f"{p.code}: {name} = {value} outside [{lo}, {hi}]")
    return misses
