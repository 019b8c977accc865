"""Daily-cycle benchmark: the delinquency kernel (+ roll-rate metrics and features) over N loans × 12
installments, read from Parquet, and the same delinquency outputs from a DuckDB SQL query over the
same files.

The input is generated once into bench/.cache (numeric ids to keep it compact). The figures are the
wall time of each pass and the peak resident memory of this process. Targets (issue 4): 10,000,000
loans × 12 (120 M rows) in under 60 s and 12 GB; ours ÷ DuckDB ≤ 1.5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time
from pathlib import Path

import duckdb
import polars as pl

from recoup.delinquency.kernel import DelinquencyParams, delinquency
from recoup.reporting.metrics import roll_rate_matrix
from recoup.scoring.features import features

HERE = Path(__file__).parent
AS_OF = dt.date(2026, 11, 20)


def ensure_input(n: int) -> Path:
    out = HERE / ".cache" / f"cycle-{n}"
    if (out / "installments.parquet").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    print(f"generating {n:,} loans × 12 installments into {out} (once) …", flush=True)
    loans = pl.DataFrame({"loan_id": pl.int_range(0, n, eager=True)}).with_columns(
        borrower_id=pl.col("loan_id") // 2,
        product_type=pl.when(pl.col("loan_id") % 4 == 0).then(pl.lit("bnpl")).otherwise(pl.lit("cash_loan")),
        product_code=pl.lit("P12"),
        funding_partner=pl.lit(None, pl.String),
        principal=pl.lit(1_200_000, pl.Int64),
        disbursement_date=pl.lit(dt.date(2025, 12, 1)) + pl.duration(days=pl.col("loan_id") % 28),
        status=pl.lit("active"),
    )
    loans.write_parquet(out / "loans.parquet")
    # Installment k of loan i falls due k months after disbursement; loans with (i % 10) < 2 stop paying
    # at a random installment, so about 20 % are delinquent at various depths.
    chunk = 1_000_000
    writer_parts = []
    for start in range(0, n, chunk):
        ids = pl.int_range(start, min(start + chunk, n), eager=True).alias("loan_id")
        inst = pl.DataFrame(ids).join(pl.DataFrame({"seq": pl.int_range(1, 13, eager=True)}), how="cross")
        inst = inst.with_columns(
            due_date=(pl.lit(dt.date(2025, 12, 1)) + pl.duration(days=pl.col("loan_id") % 28)).dt.offset_by(
                pl.format("{}mo", pl.col("seq"))
            ),
            principal_due=pl.lit(100_000, pl.Int64),
            interest_due=pl.lit(18_000, pl.Int64) - pl.col("seq") * 1_500,
            fee_due=pl.lit(0, pl.Int64),
            penalty_due=pl.when(pl.col("loan_id") % 10 < 2).then(pl.lit(500, pl.Int64)).otherwise(0),
        )
        stop = (pl.col("loan_id") * 7919 % 11) + 1
        pays = (pl.col("loan_id") % 10 >= 2) | (pl.col("seq") < stop)
        due_by_now = pl.col("due_date") < pl.lit(AS_OF)
        inst = inst.with_columns(
            *(
                pl.when(pays & due_by_now).then(pl.col(f"{c}_due")).otherwise(0).alias(f"{c}_paid")
                for c in ("principal", "interest", "fee", "penalty")
            ),
        ).with_columns(last_paid_date=pl.when(pl.col("principal_paid") > 0).then(pl.col("due_date")))
        part = out / f"installments-{start // chunk:04d}.parquet"
        inst.write_parquet(part)
        writer_parts.append(part)
    (out / "installments.parquet").mkdir()
    for p in writer_parts:
        p.rename(out / "installments.parquet" / p.name)
    return out


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


DUCKDB_SQL = """
CREATE OR REPLACE TEMP TABLE out AS
WITH f AS (
  SELECT loan_id, due_date,
    greatest(principal_due - principal_paid, 0) AS up, greatest(interest_due - interest_paid, 0) AS ui,
    greatest(fee_due - fee_paid, 0) AS uf, greatest(penalty_due - penalty_paid, 0) AS upen
  FROM read_parquet('{inst}/*.parquet')
), g AS (
  SELECT *, (due_date < DATE '{as_of}' AND up + ui + uf + upen > 100) AS od FROM f
), a AS (
  SELECT loan_id,
    coalesce(datediff('day', min(due_date) FILTER (WHERE od), DATE '{as_of}'), 0) AS dpd,
    coalesce(sum(up) FILTER (WHERE od), 0) AS op, coalesce(sum(ui) FILTER (WHERE od), 0) AS oi,
    coalesce(sum(uf) FILTER (WHERE od), 0) AS of_, coalesce(sum(upen) FILTER (WHERE od), 0) AS open_,
    sum(up) AS outstanding, sum(up + ui + uf + upen) AS remaining, count(*) FILTER (WHERE od) AS missed
  FROM g GROUP BY loan_id
), b AS (
  SELECT l.loan_id, l.borrower_id, l.product_type, l.status, a.*,
    CASE WHEN a.dpd <= 0 THEN 0 WHEN a.dpd <= 30 THEN 1 WHEN a.dpd <= 60 THEN 2 WHEN a.dpd <= 90 THEN 3
         WHEN a.dpd <= 120 THEN 4 WHEN a.dpd <= 150 THEN 5 WHEN a.dpd <= 180 THEN 6 ELSE 7 END AS bucket_rank,
    CASE WHEN a.dpd <= 0 THEN 'C' WHEN a.dpd <= 3 THEN 'D1-3' WHEN a.dpd <= 15 THEN 'D4-15'
         WHEN a.dpd <= 30 THEN 'D16-30' ELSE 'M' END AS sub_bucket,
    CASE WHEN l.status = 'written_off' THEN 5 WHEN a.dpd <= 0 THEN 1 WHEN a.dpd <= 90 THEN 2
         WHEN a.dpd <= 270 THEN 3 WHEN a.dpd <= 360 THEN 4 ELSE 5 END AS class_rank
  FROM read_parquet('{loans}') l LEFT JOIN a USING (loan_id)
)
SELECT b.*, p.dpd AS prev_dpd,
  CASE WHEN p.loan_id IS NULL AND b.dpd >= 1 THEN 'entered' WHEN p.loan_id IS NULL THEN 'new'
       WHEN p.dpd <= 0 AND b.dpd >= 1 THEN 'entered' WHEN p.dpd >= 1 AND b.dpd <= 0 THEN 'cured'
       WHEN b.dpd >= 1 AND b.bucket_rank > p.bucket_rank THEN 'rolled_forward'
       WHEN b.dpd >= 1 AND b.bucket_rank < p.bucket_rank THEN 'rolled_back'
       WHEN b.dpd >= 1 THEN 'stayed' ELSE 'current' END AS transition,
  greatest(b.dpd, coalesce(p.max_dpd, 0)) AS max_dpd
FROM b LEFT JOIN read_parquet('{prev}') p USING (loan_id);
SELECT count(*), sum(dpd), sum(op + oi + of_ + open_), count(*) FILTER (WHERE dpd > 0), sum(bucket_rank),
  sum(class_rank), count(*) FILTER (WHERE transition = 'rolled_forward'),
  count(*) FILTER (WHERE transition = 'entered')
FROM out
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--loans", type=int, default=10_000_000)
    opts = ap.parse_args()
    src = ensure_input(opts.loans)
    rows = pl.scan_parquet(src / "installments.parquet" / "*.parquet").select(pl.len()).collect().item()
    loans = pl.scan_parquet(src / "loans.parquet")
    inst = pl.scan_parquet(src / "installments.parquet" / "*.parquet")

    prev_path = src / f"prev-{AS_OF - dt.timedelta(days=30)}.parquet"
    if not prev_path.exists():
        delinquency(loans, inst, as_of=AS_OF - dt.timedelta(days=30)).write_parquet(prev_path)
    prev = pl.scan_parquet(prev_path)

    t0 = time.perf_counter()
    daily = delinquency(loans, inst, as_of=AS_OF, prev=prev, params=DelinquencyParams())
    t_kernel = time.perf_counter() - t0
    t1 = time.perf_counter()
    roll_rate_matrix(prev.collect(), daily, weight="balance")
    empty_pay = pl.DataFrame(
        schema={
            "payment_id": pl.Int64,
            "loan_id": pl.Int64,
            "received_date": pl.Date,
            "amount": pl.Int64,
            "reverses": pl.Int64,
        }
    )
    empty_bureau = pl.DataFrame(
        schema={
            "borrower_id": pl.Int64,
            "report_date": pl.Date,
            "score": pl.Int64,
            "new_delinquencies": pl.Int64,
        }
    )
    features(daily, inst, empty_pay, empty_bureau, as_of=AS_OF)
    t_rest = time.perf_counter() - t1
    mem = peak_gb()

    con = duckdb.connect()
    sql = DUCKDB_SQL.format(
        inst=src / "installments.parquet",
        loans=src / "loans.parquet",
        prev=prev_path,
        as_of=AS_OF.isoformat(),
    )
    t2 = time.perf_counter()
    create, check = sql.split(";")[:2]
    con.execute(create)
    t_duck = time.perf_counter() - t2
    got = con.sql(check).fetchall()[0]
    tr = daily.get_column("transition")
    ours = (
        daily.height,
        daily.get_column("dpd").sum(),
        daily.get_column("overdue_amount").sum(),
        int((daily.get_column("dpd") > 0).sum()),
        daily.get_column("bucket_rank").sum(),
        daily.get_column("class_rank").sum(),
        int((tr == "rolled_forward").sum()),
        int((tr == "entered").sum()),
    )
    assert tuple(int(x) for x in got) == tuple(int(x) for x in ours), (got, ours)

    print(f"loans: {opts.loans:,}; installment rows: {rows:,}")
    print(f"delinquency kernel: {t_kernel:.1f} s")
    print(f"roll-rate matrix + features: {t_rest:.1f} s")
    print(f"delinquency + metrics + features: {t_kernel + t_rest:.1f} s (target < 60 s)")
    print(f"peak memory (RSS): {mem:.1f} GB (target < 12 GB)")
    ratio = t_kernel / t_duck
    print(f"DuckDB same delinquency outputs: {t_duck:.1f} s; ours ÷ DuckDB = {ratio:.2f} (target ≤ 1.5)")
    print(
        "DuckDB and recoup agree on loans, total DPD, overdue, delinquent count, bucket and class sums, "
        "rolled-forward and entered counts"
    )


if __name__ == "__main__":
    main()
