"""Generated CSV, XLSX and Parquet files through the real import: each imports or is refused with a
RecoupError that leaves the lake, the manifest and the ledger unchanged (issue 17). The 10,000-file
run is bench/bench_fuzz_import.py; this runs a few hundred on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from sqlalchemy.orm import Session

from fuzz_import import Tally, any_case, run_case, seed_book
from recoup.config import load_settings
from recoup.lake import Lake


def test_generated_files_import_or_are_refused_cleanly(session: Session, tmp_path: Path) -> None:
    cfg = load_settings(data_dir=tmp_path / "data")
    lake = Lake(str(tmp_path / "lake"))
    seed_book(tmp_path, settings=cfg, lake=lake, session=session)
    tally = Tally()

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(any_case)
    def check(case):  # type: ignore[no-untyped-def]
        run_case(case, tmp_path, settings=cfg, lake=lake, session=session, tally=tally)

    check()
    assert tally.refused > 0 and tally.imported + tally.refused >= 150
