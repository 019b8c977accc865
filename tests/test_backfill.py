"""``recoup cycle backfill`` (issue 16 item 5): earlier days reconstructed from the first full snapshot.

- The kernel, by hand: money received after a day comes back out of the schedule in the reverse of the
  waterfall; a reversal after the day puts money back; a penalty on an installment not yet due goes.
- Against the twin: a full snapshot on day L reconstructs day D exactly as the twin's own full
  snapshot of day D computes it (days past due, bucket, in collections for every loan).
- End to end through the CLI: a new lender imports one extract, backfills, and the previous month's roll
  rates report (which needs both month ends) runs; a day is never backfilled twice; bad input exits 64.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from recoup.config import load_settings
from recoup.db import session_scope
from recoup.delinquency.backfill import gaps, installments_as_of, loans_as_of, paid_after
from recoup.delinquency.kernel import delinquency
from recoup.lake import Lake, book_as_of
from recoup.portfolio.flows import import_dir
from recoup.simulate.world import World

RECOUP = str(Path(sys.executable).parent / "recoup")
D = dt.date


def _inst(rows: list[tuple[int, str, int, int, int, int, int, int]]) -> pl.DataFrame:
    """(seq, due, principal_due, interest_due, penalty_due, principal_paid, interest_paid, penalty_paid)."""
    return pl.DataFrame(
        {
            "loan_id": ["L1"] * len(rows),
            "seq": [r[0] for r in rows],
            "due_date": [D.fromisoformat(r[1]) for r in rows],
            "principal_due": [r[2] for r in rows],
            "interest_due": [r[3] for r in rows],
            "fee_due": [0] * len(rows),
            "penalty_due": [r[4] for r in rows],
            "principal_paid": [r[5] for r in rows],
            "interest_paid": [r[6] for r in rows],
            "fee_paid": [0] * len(rows),
            "penalty_paid": [r[7] for r in rows],
            "last_paid_date": [None] * len(rows),
        },
        schema_overrides={"last_paid_date": pl.Date},
    )


def _pay(rows: list[tuple[str, str, int, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "payment_id": [r[0] for r in rows],
            "loan_id": ["L1"] * len(rows),
            "received_date": [D.fromisoformat(r[1]) for r in rows],
            "amount": [r[2] for r in rows],
            "reverses": [r[3] for r in rows],
        },
        schema_overrides={"reverses": pl.String},
    )


def test_money_after_the_day_comes_out_in_the_reverse_of_the_waterfall() -> None:
    # Two installments of 1,000 principal + 100 interest. Snapshot on 03-20: the first paid in full
    # (with a 30 penalty) and 600 of the second: principal 500, interest 100.
    inst = _inst(
        [
            (1, "2026-01-31", 1000, 100, 30, 1000, 100, 30),
            (2, "2026-02-28", 1000, 100, 0, 500, 100, 0),
        ]
    )
    pays = _pay(
        [
            ("P1", "2026-01-31", 1100, None),  # installment 1 on time
            ("P2", "2026-03-05", 30, None),  # its penalty later
            ("P3", "2026-03-10", 600, None),  # interest 100 + principal 500 of installment 2
        ]
    )
    # As of 03-07: P3 (600) comes out of installment 2 — principal 500 first, then interest 100.
    got = installments_as_of(inst, pays, D(2026, 3, 7)).sort("seq")
    assert got.get_column("principal_paid").to_list() == [1000, 0]
    assert got.get_column("interest_paid").to_list() == [100, 0]
    assert got.get_column("penalty_paid").to_list() == [30, 0]
    # As of 02-10: P2 and P3 (630) come out: 600 from installment 2, then 30 from the last place the
    # waterfall fills in installment 1 — its principal. (P2 in fact paid a penalty posted later: the
    # extract does not date penalties, the documented approximation; the total is exact either way.)
    got = installments_as_of(inst, pays, D(2026, 2, 10)).sort("seq")
    assert got.get_column("principal_paid").to_list() == [970, 0]
    assert got.get_column("penalty_paid").to_list() == [30, 0]
    assert got.get_column("interest_paid").to_list() == [100, 0]
    # As of 01-15: everything comes out; the columns keep their order and types.
    got = installments_as_of(inst, pays, D(2026, 1, 15))
    assert got.columns == inst.columns and got.schema == inst.schema
    assert got.select(pl.sum_horizontal("principal_paid", "interest_paid", "penalty_paid")).sum().item() == 0
    # Installment 2 was not due on 01-15 or 02-10: its penalty_due is zero then (none accrued yet).
    assert installments_as_of(inst, pays, D(2026, 1, 15)).get_column("penalty_due").to_list() == [0, 0]
    # A reversal after the day puts its money back: P3 reversed on 03-15 → as of 03-12 the 600 was paid.
    rev = pl.concat([pays, _pay([("P4", "2026-03-15", 600, "P3")])])
    assert paid_after(rev, D(2026, 3, 12)).collect().get_column("after").to_list() == [-600]
    got = installments_as_of(
        inst.with_columns(pl.col("principal_paid").replace({500: 0})), rev, D(2026, 3, 12)
    )
    assert got.sort("seq").get_column("principal_paid").to_list() == [1000, 0]  # nothing taken out


def test_loans_disbursed_later_are_left_out_and_paid_off_is_recomputed() -> None:
    loans = pl.DataFrame(
        {
            "loan_id": ["A", "B"],
            "disbursement_date": [D(2026, 1, 1), D(2026, 3, 1)],
            "status": ["paid_off", "active"],
        }
    )
    got = loans_as_of(loans, D(2026, 2, 1))
    assert got.get_column("loan_id").to_list() == ["A"] and got.get_column("status").to_list() == ["active"]


def _import(directory: Path, day: dt.date, root: Path, engine: Engine) -> Lake:
    lake = Lake(str(root / "lake"))
    with session_scope(engine) as session:
        import_dir(
            directory, as_of=day, settings=load_settings(data_dir=root), lake=lake, session=session, full=True
        )
    return lake


def test_a_later_snapshot_reconstructs_the_twins_earlier_day(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from recoup import migrate

    start = D(2026, 9, 1)
    world = World(None, 300, start, 11, horizon_days=40)
    for _ in range(12):
        world.step()
    early_day = world.today
    early = world.write_extract(tmp_path / "early", full=True)
    for _ in range(27):
        world.step()
    late_day = world.today
    late = world.write_extract(tmp_path / "late", full=True)

    books = []
    for name, directory, day in (("a", early, early_day), ("b", late, late_day)):
        root = tmp_path / name
        root.mkdir()
        engine = create_engine(f"sqlite:///{root}/db.sqlite")
        migrate.upgrade(engine)
        lake = _import(directory, day, root, engine)
        with session_scope(engine) as session:
            books.append(book_as_of(day, session=session, lake=lake))
        engine.dispose()
    truth_book, late_book = books
    truth = delinquency(truth_book.scan("loans"), truth_book.scan("installments"), as_of=early_day)
    loans, inst, pays = (late_book.frame(n) for n in ("loans", "installments", "payments"))
    rebuilt = delinquency(
        loans_as_of(loans, early_day), installments_as_of(inst, pays, early_day), as_of=early_day
    )
    assert rebuilt.height == truth.height > 250
    both = truth.join(rebuilt, on="loan_id", how="inner", suffix="_r")
    assert both.height == truth.height
    assert int(truth.get_column("in_collections").sum()) > 10  # the comparison has delinquent loans in it
    for col in ("dpd", "bucket", "in_collections"):
        assert (both.get_column(col) == both.get_column(f"{col}_r")).all(), col
    # Status too, but for loans written off later: the extract does not date a write-off (counted).
    differ = both.filter(pl.col("status") != pl.col("status_r"))
    assert set(differ.get_column("status_r").to_list()) <= {"written_off"}
    assert (
        differ.height
        <= gaps(
            late_book.frame("loans"), late_book.frame("installments"), late_book.frame("payments"), early_day
        ).written_off
    )
    # Amounts: exact but for penalties posted after the day on loans already overdue (not dated).
    same = (both.get_column("overdue_amount") == both.get_column("overdue_amount_r")).mean()
    assert same is not None and float(same) >= 0.97
    counted = gaps(loans, inst, pays, early_day)
    assert counted.overdrawn_loans == 0 and counted.unexplained_paid == 0


@pytest.fixture(scope="module")
def lender(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """A new lender whose first extract is the twin's full snapshot of 2026-11-18."""
    root = tmp_path_factory.mktemp("lender")
    world = World(None, 250, D(2026, 10, 1), 3, horizon_days=50)
    for _ in range(48):
        world.step()
    assert world.today == D(2026, 11, 18)
    extract = world.write_extract(root / "extract", full=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env.update(RECOUP_DATA_DIR=str(root / "data"), COLUMNS="200")
    proc = subprocess.run(
        [RECOUP, "import", str(extract), "--as-of", "2026-11-18", "--full", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return env, root


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECOUP, *args], env=env, capture_output=True, text=True, timeout=300)


def test_backfill_makes_last_months_roll_rates_work_and_never_sends(
    lender: tuple[dict[str, str], Path],
) -> None:
    env, root = lender
    before = _run(env, "report", "rollrates", "--month", "2026-10", "--json")
    assert before.returncode == 66, before.stdout + before.stderr
    proc = _run(env, "cycle", "backfill", "--from", "2026-09-30", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["snapshot"] == "2026-11-18"
    assert (
        doc["written"][0] == "2026-09-30" and doc["written"][-1] == "2026-11-17" and len(doc["written"]) == 49
    )
    assert set(doc["cannot_reconstruct"]) >= {"written_off", "penalty_loans"}
    after = _run(env, "report", "rollrates", "--month", "2026-10", "--json")
    assert after.returncode == 0, after.stdout + after.stderr
    # Again: every day was done, nothing is rewritten.
    again = json.loads(_run(env, "cycle", "backfill", "--from", "2026-10-25", "--json").stdout)
    assert doc["seconds"] < 120, doc["seconds"]
    assert again["written"] == [] and len(again["skipped"]) == 24
    # No case, task or message exists for a backfilled day: nothing was decided or queued.
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{root}/data/recoup.db")
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from outbox_message")).scalar() == 0
        assert conn.execute(text("select count(*) from work_task")).scalar() == 0
        steps = conn.execute(text("select distinct step from cycle_run")).scalars().all()
    engine.dispose()
    assert steps == ["backfill"]
    # Printed for people: the days and what the snapshot cannot tell.
    shown = _run(env, "cycle", "backfill", "--from", "2026-11-10", "--force")
    assert shown.returncode == 0, shown.stderr
    assert "2026-11-17" in shown.stdout and "cannot tell" in shown.stdout


def test_bad_starts_are_usage_errors(lender: tuple[dict[str, str], Path]) -> None:
    from recoup.cycle.backfill import do_backfill
    from recoup.db import get_engine
    from recoup.errors import UsageError
    from recoup.lake import get_lake

    env, root = lender
    proc = _run(env, "cycle", "backfill", "--from", "2026-11-18", "--json")  # the first day itself
    assert proc.returncode == 64, proc.stdout + proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert "not before the first imported day 2026-11-18" in err["message"]
    settings = load_settings(data_dir=root / "data")
    engine = get_engine(settings)
    try:
        with pytest.raises(UsageError, match="at most"):
            do_backfill(D(1990, 1, 1), engine=engine, lake=get_lake(settings))
    finally:
        engine.dispose()
