"""The delinquency kernel against an independent oracle: a plain DuckDB SQL query, written here from
the definitions, over a few thousand synthetic loans. Every loan must agree."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from recoup.delinquency.kernel import DelinquencyParams, delinquency
from recoup.portfolio.synth import generate
from recoup.portfolio.validate import Context, validate

AS_OF = dt.date(2026, 11, 20)

ORACLE = """
WITH i AS (
    SELECT loan_id, due_date,
           greatest(principal_due - principal_paid, 0) AS up,
           greatest(interest_due - interest_paid, 0) AS ui,
           greatest(fee_due - fee_paid, 0) AS uf,
           greatest(penalty_due - penalty_paid, 0) AS upen
    FROM inst
), f AS (
    SELECT *, up + ui + uf + upen AS unpaid,
           (due_date + INTERVAL (CAST($grace AS INTEGER)) DAY < CAST($as_of AS DATE)
            AND up + ui + uf + upen > $tol) AS od
    FROM i
)
SELECT loan_id,
       coalesce(datediff('day', min(due_date) FILTER (WHERE od), CAST($as_of AS DATE)), 0) AS dpd,
       coalesce(sum(up) FILTER (WHERE od), 0) AS overdue_principal,
       coalesce(sum(ui) FILTER (WHERE od), 0) AS overdue_interest,
       coalesce(sum(uf) FILTER (WHERE od), 0) AS overdue_fee,
       coalesce(sum(upen) FILTER (WHERE od), 0) AS overdue_penalty,
       sum(up) AS outstanding_principal,
       count(*) FILTER (WHERE od) AS missed_installments
FROM f GROUP BY loan_id ORDER BY loan_id
"""


def _typed(frames: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The generator's text cells → the lake's typed columns, through the real parsers."""
    from pathlib import Path

    from recoup.portfolio.readers import Mapping, RawTable
    from recoup.portfolio.spec import DATASETS

    out = []
    for name in ("loans", "installments"):
        text = frames[name].with_columns(pl.int_range(2, frames[name].height + 2).alias("__row"))
        raw = RawTable(Path(f"{name}.csv"), text, "utf-8", "csv", "x", list(frames[name].columns))
        v = validate(raw, DATASETS[name], Mapping(), Context())
        assert v.errors.height == 0
        out.append(v.frame.drop("__row"))
    return out[0], out[1]


@pytest.mark.parametrize(("tol", "grace"), [(100, 0), (0, 0), (500, 3)])
def test_kernel_agrees_with_sql_on_every_loan(tol: int, grace: int) -> None:
    loans, inst = _typed(generate(3000, as_of=AS_OF, seed=11))
    ours = delinquency(loans, inst, as_of=AS_OF, params=DelinquencyParams(tolerance=tol, grace_days=grace))
    con = duckdb.connect()
    con.register("inst", inst.to_arrow())
    theirs = pl.from_arrow(
        con.sql(ORACLE, params={"as_of": AS_OF, "tol": tol, "grace": grace}).to_arrow_table()
    )
    assert isinstance(theirs, pl.DataFrame)
    cols = [
        "loan_id",
        "dpd",
        "overdue_principal",
        "overdue_interest",
        "overdue_fee",
        "overdue_penalty",
        "outstanding_principal",
        "missed_installments",
    ]
    mine = ours.select(cols).filter(pl.col("loan_id").is_in(theirs.get_column("loan_id").implode()))
    theirs = theirs.select([pl.col(c).cast(pl.Int64) if c != "loan_id" else pl.col(c) for c in cols])
    assert mine.height == theirs.height == 3000
    diff = mine.join(theirs, on="loan_id", suffix="_sql").filter(
        pl.any_horizontal(pl.col(c) != pl.col(f"{c}_sql") for c in cols[1:])
    )
    assert diff.height == 0, diff.head(5)
    assert ours.get_column("dpd").max() > 30  # the book really has delinquency in it
