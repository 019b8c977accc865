"""The digital twin's lender: same seed → same bytes; extracts import with no rejects and the daily cycle
runs on them; money is conserved (paid ≤ due per component, payments = what the installments show as
paid); the in-the-loop API takes actions and returns the day's events; the CLI writes and reports."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from recoup.config import load_settings
from recoup.contact.vocab import AttemptOutcome, Disposition, Party, Treatment
from recoup.cycle.runner import Cycle
from recoup.db import session_scope
from recoup.lake import Lake, book_as_of
from recoup.lake.store import Outputs
from recoup.portfolio import parse
from recoup.portfolio.flows import import_dir
from recoup.simulate import Action, SimulateError, World, generate_history

START = dt.date(2026, 3, 1)
RECOUP = str(Path(sys.executable).parent / "recoup")
PARTS = ("principal", "interest", "fee", "penalty")


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _fen(frame: pl.DataFrame, col: str) -> pl.Series:
    return parse.amount(frame.get_column(col), minor_digits=2).value.fill_null(0)


def test_same_seed_same_bytes_different_seed_differs(tmp_path: Path) -> None:
    a = generate_history(2_000, START, 12, 5, tmp_path / "a")
    generate_history(2_000, START, 12, 5, tmp_path / "b")
    generate_history(2_000, START, 12, 6, tmp_path / "c")
    da, db, dc = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert len(a) == 12 and [d.name for d in a][:2] == ["2026-03-01", "2026-03-02"]
    assert da == db
    assert len(da) > 12 * 4  # every day has loans, installments, payments, borrowers …
    assert da.keys() & dc.keys() and all(da[k] != dc[k] for k in da.keys() & dc.keys() if k.endswith(".csv"))


def test_days_import_without_rejects_and_the_cycle_runs(own_engine: Engine, tmp_path: Path) -> None:
    world = World(n_loans=1_500, start=START, seed=4, horizon_days=8)
    dirs = [world.write_extract(tmp_path / "x" / START.isoformat(), full=True)]
    for _ in range(7):
        world.step()
        dirs.append(world.write_extract(tmp_path / "x" / world.today.isoformat()))
    lake = Lake(str(tmp_path / "lake"))
    settings = load_settings(data_dir=tmp_path)
    cycle = Cycle(engine=own_engine, lake=lake)
    for d in dirs:
        as_of = dt.date.fromisoformat(d.name)
        with session_scope(own_engine) as session:
            out = import_dir(d, as_of=as_of, settings=settings, lake=lake, session=session, full=d == dirs[0])
        assert out.files and all(f.rejected == 0 for f in out.files)
        if d in (dirs[0], dirs[-1]):
            steps = cycle.run(as_of).steps
            assert all(s.status == "done" for s in steps)
    # The kernel reads the same days past due from the extracts as the world holds.
    daily = Outputs(lake).read("account_daily", world.today)
    assert daily is not None
    mine = world.accounts().select("loan_id", "dpd", "status")
    joined = daily.select("loan_id", pl.col("dpd").alias("kernel_dpd"), pl.col("status").alias("k")).join(
        mine, on="loan_id"
    )
    assert joined.height == mine.height == daily.height
    assert joined.filter(pl.col("dpd") != pl.col("kernel_dpd")).height == 0
    assert joined.get_column("dpd").max() > 180  # written-off accounts are in the book
    assert (joined.get_column("k") == "written_off").sum() == (
        joined.get_column("status") == "written_off"
    ).sum()
    with session_scope(own_engine) as session:
        book = book_as_of(world.today, session=session, lake=lake)
        assert book.frame("loans").height == mine.height


def test_money_is_conserved_and_never_overpaid(tmp_path: Path) -> None:
    world = World(n_loans=2_500, start=START, seed=9, horizon_days=40)
    snapshot = world.extract(full=True)
    paid = {name: [f] for name, f in snapshot.items()}
    for _ in range(39):
        world.step()
        for name, f in world.extract().items():
            paid.setdefault(name, []).append(f)
            if name == "installments":  # paid ≤ due per component in every extract
                for p in PARTS:
                    assert (_fen(f, f"{p}_paid") <= _fen(f, f"{p}_due")).all()
    final = world.extract(full=True)
    inst = final["installments"]
    for p in PARTS:
        assert (_fen(inst, f"{p}_paid") <= _fen(inst, f"{p}_due")).all()
    shown = inst.with_columns(paid=sum((_fen(inst, f"{p}_paid") for p in PARTS), pl.lit(0))).group_by(
        "loan_id"
    )
    payments = pl.concat(paid["payments"])
    assert payments.get_column("payment_id").n_unique() == payments.height
    assert payments.equals(final["payments"])  # deltas add up to the snapshot, in order
    received = (
        payments.with_columns(amount=_fen(payments, "amount")).group_by("loan_id").agg(pl.col("amount").sum())
    )
    both = (
        shown.agg(pl.col("paid").sum()).join(received, on="loan_id", how="full", coalesce=True).fill_null(0)
    )
    assert both.filter(pl.col("paid") != pl.col("amount")).height == 0
    assert int(both.get_column("amount").sum()) > 0
    loans = final["loans"]
    assert set(loans.get_column("status").unique()) <= {"active", "paid_off", "written_off"}
    assert {"cash_loan", "installment", "revolving_card", "bnpl"} <= set(loans.get_column("product_type"))
    rates = parse.rate_bp(loans.get_column("annual_rate")).value
    assert rates.min() >= 700 and rates.max() <= 2400  # type: ignore[operator]
    terms = loans.get_column("term_months").cast(pl.Int64)
    assert terms.min() >= 3 and terms.max() <= 36  # type: ignore[operator]


def test_the_loop_api(tmp_path: Path) -> None:
    world = World(n_loans=4_000, start=START, seed=2, horizon_days=30)
    world.extract(full=True)
    late = world.accounts(delinquent_only=True).sort("loan_id")
    assert late.height > 20 and (late.get_column("overdue") > 0).all()
    ids = late.get_column("loan_id").to_list()
    actions = [Action(i, Treatment.AGENT_CALL, hour=19) for i in ids]
    actions += [Action(i, Treatment.PLAN_OFFER, hour=12, installments=3) for i in ids]
    actions += [Action(i, Treatment.SMS, hour=3) for i in ids[:10]]  # 03:00: complaints more likely
    actions += [Action(ids[0], "email", party=Party.EMERGENCY_CONTACT), Action(ids[1], Treatment.NO_ACTION)]
    events = world.step(actions)
    assert events.day == START + dt.timedelta(days=1)
    att = events.attempts
    assert att.height == len(actions)
    assert set(att.get_column("outcome").drop_nulls()) <= {o.value for o in AttemptOutcome}
    assert set(att.get_column("disposition").drop_nulls()) <= {o.value for o in Disposition}
    assert att.filter(pl.col("treatment") == "agent_call").get_column("cost").min() > 0
    calls = att.filter(pl.col("treatment") == "agent_call")
    assert calls.get_column("reached").sum() > 0
    assert (
        calls.get_column("disposition") == Disposition.PROMISE_TO_PAY.value
    ).sum() == events.promises.height
    assert events.promises.height > 0 and (events.promises.get_column("amount") > 0).all()
    assert events.offers.height > 0 and events.plan_acceptances.height > 0
    assert set(events.payments.columns) >= {"payment_id", "loan_id", "amount", "channel", "source"}
    # Payments of the day arrive through the next extract, as from a real core system.
    delta = world.extract()
    assert set(delta["payments"].get_column("payment_id")) == set(events.payments.get_column("payment_id"))
    for _ in range(10):
        events = world.step()
    with pytest.raises(SimulateError):
        world.step([Action("L999999999", Treatment.SMS)])
    with pytest.raises(SimulateError):
        world.step([Action(ids[0], Treatment.SMS, hour=24)])


def test_plans_are_paid_and_settlements_close_the_loan() -> None:
    world = World(n_loans=4_000, start=START, seed=12, horizon_days=60)
    late = world.accounts(delinquent_only=True).filter(pl.col("dpd") > 60).sort("loan_id")
    ids = late.get_column("loan_id").to_list()
    half = len(ids) // 2
    owed = dict(zip(late.get_column("loan_id"), late.get_column("outstanding"), strict=True))
    payments, accepted = [], set()
    for _ in range(10):  # offered every evening until accepted
        actions = [
            Action(i, Treatment.PLAN_OFFER, hour=19, installments=4) for i in ids[:half] if i not in accepted
        ]
        actions += [
            Action(i, Treatment.SETTLEMENT_OFFER, hour=19, amount=owed[i] // 2)
            for i in ids[half:]
            if i not in accepted
        ]
        events = world.step(actions)
        accepted |= set(events.offers.filter(pl.col("accepted")).get_column("loan_id"))
        payments.append(events.payments)
    assert events.settlements.height + events.plan_acceptances.height <= len(ids)
    for _ in range(40):
        payments.append(world.step().payments)
    paid = pl.concat(payments)
    assert paid.filter(pl.col("source") == "plan").height > 0
    settled = paid.filter(pl.col("source") == "settlement").get_column("loan_id").unique()
    assert settled.len() > 0
    accounts = world.accounts().filter(pl.col("loan_id").is_in(settled.implode()))
    assert (accounts.get_column("outstanding") == 0).all() and (accounts.get_column("dpd") == 0).all()


def test_cli_generate_and_stats(tmp_path: Path) -> None:
    env = {**os.environ, "RECOUP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    out = tmp_path / "sim"
    args = ["simulate", "generate", "--loans", "3000", "--start", "2026-01-01", "--days", "45", "--seed", "3"]
    proc = subprocess.run(
        [RECOUP, *args, "--out", str(out), "--chinese"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "2026-02-14" / "借据.csv").exists() and (out / "2026-02-14" / "mapping.toml").exists()
    assert (out / "truth.csv").exists()
    proc = subprocess.run([RECOUP, "simulate", "stats", str(out)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "CASHP" in proc.stdout and "出催率" in proc.stdout and "M1→M2" in proc.stdout
    bad_args = [RECOUP, *args[:-2], "--start", "2026-13-01", "--out", str(tmp_path / "bad")]
    bad = subprocess.run(bad_args, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "not a date" in bad.stderr


def test_rude_and_excessive_contact_draws_complaints() -> None:
    def complaints(rude: bool, calls_per_day: int) -> tuple[int, int]:
        world = World(n_loans=20_000, start=START, seed=31, horizon_days=10)
        ids = world.accounts(delinquent_only=True).get_column("loan_id").to_list()
        made = reached = 0
        for _ in range(5):
            hours = (19, 20, 12)[:calls_per_day]
            events = world.step(
                [Action(i, Treatment.AGENT_CALL, hour=h, rude=rude) for h in hours for i in ids]
            )
            made += events.complaints.height
            reached += int(events.attempts.get_column("reached").sum())
        return made, reached

    polite, reached = complaints(False, 1)
    rude, _ = complaints(True, 1)
    hammered, reached_3 = complaints(False, 3)
    assert reached > 1_000
    assert rude > 5 * max(polite, 1)
    assert hammered / reached_3 > polite / reached
