"""``recoup report rollrates`` over two month-end cycle runs: printed, and written as CSV/XLSX equal to
the metrics module's matrix."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl

from recoup.lake import Lake
from recoup.lake.store import Outputs
from recoup.portfolio.synth import generate, write_extract
from recoup.reporting.metrics import roll_rate_matrix

RECOUP = str(Path(sys.executable).parent / "recoup")


def test_rollrates_report(tmp_path: Path) -> None:
    env = {**os.environ, "RECOUP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("RECOUP_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([RECOUP, *args], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc

    d = write_extract(generate(500, as_of=dt.date(2026, 10, 31), seed=9), tmp_path / "extract")
    run("import", str(d), "--as-of", "2026-10-31")
    run("cycle", "run", "--as-of", "2026-10-31")
    run("cycle", "run", "--as-of", "2026-11-30", "--allow-stale-book")  # no extract since 10-31
    proc = run("report", "rollrates", "--month", "2026-11")
    assert "2026-10-31 → 2026-11-30" in proc.stdout and "M7+" in proc.stdout
    csv = tmp_path / "data" / "reports" / "rollrates-2026-11-balance.csv"
    assert csv.exists() and csv.with_suffix(".xlsx").exists()
    written = pl.read_csv(csv)
    out = Outputs(Lake(str(tmp_path / "data" / "lake")))
    start, end = (
        out.read("account_daily", dt.date(2026, 10, 31)),
        out.read("account_daily", dt.date(2026, 11, 30)),
    )
    assert start is not None and end is not None
    expected = roll_rate_matrix(start, end, weight="balance")
    assert written.get_column("from_bucket").to_list() == expected.get_column("from_bucket").to_list()
    # Money in the CSV is decimal yuan (from minor units through Decimal), rates are fractions.
    assert [Decimal(str(v)) for v in written.get_column("base").to_list()] == [
        Decimal(v).scaleb(-2) for v in expected.get_column("base").to_list()
    ]
    # Nothing was paid between the two days, so current loans that had an installment due roll to M1.
    c = written.filter(pl.col("from_bucket") == "C").row(0, named=True)
    assert c["M1"] > 0
    bad = subprocess.run(
        [RECOUP, "report", "rollrates", "--month", "2026-13"], env=env, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "not a month" in bad.stderr
