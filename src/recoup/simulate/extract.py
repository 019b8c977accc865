"""The simulated core system's extracts: typed state → the extract format's text cells (as the static
generator writes them: amounts as decimal yuan, dates ISO, rates like ``12.50%``), and a chunked writer
so that a snapshot of tens of millions of installment rows never sits in memory as text at once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.portfolio import synth
from recoup.portfolio.spec import DATASETS
from recoup.portfolio.synth.vocab import CHINESE_HEADERS
from recoup.portfolio.synth.writer import _chinese_cells, mapping_toml
from recoup.simulate.population import METHODS
from recoup.simulate.state import CHANNELS, STATUS, State

Ints = npt.NDArray[np.int64]
CHUNK = 1_000_000


def _date(values: npt.NDArray[np.integer]) -> pl.Series:
    """Epoch days → Date; negative values (never) → null."""
    s = pl.Series(values.astype(np.int32))
    return pl.select(pl.when(s >= 0).then(s).cast(pl.Date)).to_series()


def loan_id_expr(col: str = "i") -> pl.Expr:
    return synth._id("L", pl.col(col), 9).alias("loan_id")


def loans(st: State, idx: Ints) -> pl.DataFrame:
    prods = st.params.products
    pop = st.pop
    frame = pl.DataFrame(
        {
            "i": idx,
            "b": pop.owner[idx],
            "pc": pop.product[idx],
            "term_months": pop.term[idx],
            "m": pop.method[idx],
            "principal": pop.principal[idx],
            "annual_rate": pop.rate_bp[idx],
            "disbursement_date": _date(pop.disbursed[idx]),
            "maturity_date": _date(st.maturity[idx]),
            "s": st.status[idx].astype(np.int64),
            "funding_partner": pl.Series(pop.funder[idx].tolist(), dtype=pl.String),
        }
    )
    codes = {i: p.code for i, p in enumerate(prods)}
    kinds = {i: p.product_type for i, p in enumerate(prods)}
    frame = frame.with_columns(
        loan_id_expr(),
        synth._id("C", pl.col("b"), 8).alias("borrower_id"),
        pl.concat_str(
            pl.col("pc").replace_strict(codes, return_dtype=pl.String),
            pl.col("term_months").cast(pl.String).str.zfill(2),
        ).alias("product_code"),
        pl.col("pc").replace_strict(kinds, return_dtype=pl.String).alias("product_type"),
        pl.col("m")
        .replace_strict(dict(enumerate(METHODS)), return_dtype=pl.String)
        .alias("repayment_method"),
        pl.lit("CNY").alias("currency"),
        pl.col("s").replace_strict(dict(enumerate(STATUS)), return_dtype=pl.String).alias("status"),
        pl.when(pl.col("funding_partner") != "").then(pl.col("funding_partner")).alias("funding_partner"),
    )
    return synth._as_text("loans", frame)


def installments(st: State, rows: Ints) -> pl.DataFrame:
    led = st.led
    due, paid = led.due[rows], led.paid[rows]
    frame = pl.DataFrame(
        {
            "i": led.loan[rows],
            "seq": led.seq[rows],
            "due_date": _date(led.due_day[rows]),
            **{f"{p}_due": due[:, j] for j, p in enumerate(("penalty", "fee", "interest", "principal"))},
            **{f"{p}_paid": paid[:, j] for j, p in enumerate(("penalty", "fee", "interest", "principal"))},
            "last_paid_date": _date(led.last_paid[rows]),
        }
    ).with_columns(loan_id_expr())
    return synth._as_text("installments", frame)


def payment_arrays(st: State, lo: int, hi: int) -> tuple[Ints, ...]:
    """Payments number ``lo`` … ``hi − 1`` (in the order they were received) as arrays."""
    parts = []
    for k in range(max(bisect.bisect_right(st.pay_starts, lo) - 1, 0), len(st.pay_log)):
        entry, seen = st.pay_log[k], st.pay_starts[k]
        if seen >= hi:
            break
        size = entry[0].size
        if seen + size > lo:
            a, b = max(lo - seen, 0), min(hi - seen, size)
            parts.append(tuple(x[a:b] for x in entry))
    if not parts:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(6))
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(6))


def payments(st: State, lo: int, hi: int) -> pl.DataFrame:
    loan, day, amount, channel, _source, _commission = payment_arrays(st, lo, hi)
    frame = pl.DataFrame(
        {
            "n": np.arange(lo, lo + loan.size, dtype=np.int64),
            "i": loan,
            "received_date": _date(day),
            "amount": amount,
            "c": channel,
        }
    ).with_columns(
        synth._id("P", pl.col("n"), 11).alias("payment_id"),
        loan_id_expr(),
        pl.col("c").replace_strict(dict(enumerate(CHANNELS)), return_dtype=pl.String).alias("channel"),
        pl.concat_str(
            pl.col("received_date").dt.strftime("%Y%m%d"), (pl.col("n") + 1).cast(pl.String).str.zfill(11)
        ).alias("reference"),
        pl.lit(None, pl.String).alias("reverses"),
    )
    return synth._as_text("payments", frame)


def bureau(st: State, lo: int, hi: int) -> pl.DataFrame:
    parts, seen = [], 0
    for b, day, newd, score in st.bureau_log:
        if seen + b.size > lo and seen < hi:
            a, z = max(lo - seen, 0), min(hi - seen, b.size)
            parts.append((b[a:z], day[a:z], newd[a:z], score[a:z]))
        seen += b.size
    cols = [np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int64) for k in range(4)]
    frame = pl.DataFrame(
        {
            "n": np.arange(lo, lo + cols[0].size, dtype=np.int64),
            "b": cols[0],
            "report_date": _date(cols[1]),
            "new_delinquencies": cols[2],
            "score": cols[3],
        }
    ).with_columns(
        synth._id("B", pl.col("n"), 10).alias("update_id"),
        synth._id("C", pl.col("b"), 8).alias("borrower_id"),
        pl.when(pl.col("b") % 3 == 0).then(pl.lit("百行征信")).otherwise(pl.lit("PBOC")).alias("source"),
    )
    return synth._as_text("bureau_updates", frame)


def chunks(n: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, n, CHUNK):
        yield lo, min(lo + CHUNK, n)


def write_csv_parts(
    name: str, parts: Iterator[pl.DataFrame], directory: Path, *, chinese_headers: bool
) -> bool:
    """Write the text frames ``parts`` of one dataset as one CSV (header once); False when all are empty."""
    path = directory / f"{DATASETS[name].title_zh if chinese_headers else name}.csv"
    wrote = False
    with path.open("wb") as fh:
        for part in parts:
            if part.height == 0:
                continue
            if chinese_headers:
                part = _chinese_cells(name, part).rename(CHINESE_HEADERS[name], strict=False)
            fh.write(part.write_csv(include_header=not wrote).encode("utf-8"))
            wrote = True
    if not wrote:
        path.unlink()  # the importer refuses a file with a header but no rows
    return wrote


def write_mapping(directory: Path, datasets: list[str]) -> None:
    (directory / "mapping.toml").write_text(mapping_toml(datasets), encoding="utf-8")
