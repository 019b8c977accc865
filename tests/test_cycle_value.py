"""Expected values on the cycle's decisions (issue 7, item 4): the state rebuilt from the lake's history
equals the evaluation loop's day-by-day state, and the cycle's decisions carry the values and the model
version when a response model is installed (null columns without one, the schema stable across days)."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, select

from factories import imported_book
from recoup.config import get_settings
from recoup.cycle.models import CycleRun
from recoup.cycle.runner import Cycle
from recoup.db import session_scope
from recoup.lake import Lake
from recoup.lake.store import Outputs
from recoup.strategy.capacity import Capacity
from recoup.strategy.cycle_value import (
    NOT_MODELLED,
    annotate,
    load_value_model,
    model_frame,
    state_from_history,
)
from recoup.strategy.day_record import SCHEMAS, DayEvents, DayRecord
from recoup.strategy.kernel import DECISION_SCHEMA
from recoup.strategy.optimised import OptimisedDecider
from recoup.strategy.response import (
    ACTIONS,
    FEATURES,
    AccountState,
    ResponseModel,
    ResponseModels,
    save_model,
)

D = dt.date(2026, 3, 20)
EPOCH = (D - dt.date(1970, 1, 1)).days
AS_OF = dt.date(2026, 11, 20)


def _d(k: int) -> dt.date:
    return D + dt.timedelta(days=k)


# (loan, day offset, channel, outcome); L5 is not in the frame; L3's portal visit and the null loan's
# attempt are not contacts; the attempt after D is not known yet.
ATTEMPTS = [
    ("L000000001", -3, "sms", "connected"),
    ("L000000001", -1, "robot_call", "no_answer"),
    ("L000000001", 0, "call", "conversation"),
    ("L000000002", -40, "sms", "connected"),
    ("L000000002", -5, "email", "failed"),
    ("L000000002", -2, "visit", "conversation"),
    ("L000000003", -1, "portal", None),
    (None, -1, "call", "conversation"),
    ("L000000005", 0, "call", "conversation"),
    ("L000000004", 1, "call", "conversation"),
]
# (payment, loan, day offset, amount fen, reverses): P3 is reversed by P4; P7 comes after D.
PAYMENTS = [
    ("P1", "L000000001", -2, 5_000, None),
    ("P2", "L000000003", -100, 20_000, None),
    ("P3", "L000000003", -1, 7_000, None),
    ("P4", "L000000003", -1, 7_000, "P3"),
    ("P5", "L000000002", -10, 1_000, None),
    ("P6", "L000000002", 0, 3_000, None),
    ("P7", "L000000004", 1, 9_999, None),
]
# Placement decisions (loan, day offset): L2 is decided every day from D − 70, so its first placement
# (D − 70, running until D − 9) is followed by a new one on D − 9; L1's expired; L3's is today's own.
PLACEMENTS = [
    ("L000000001", -65),
    *[("L000000002", k) for k in range(-70, 0)],
    ("L000000004", -1),
    ("L000000003", 0),
]
STARTS = {("L000000001", -65), ("L000000002", -70), ("L000000002", -9), ("L000000004", -1)}


def _lake_history() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    attempts = pl.DataFrame(
        {
            "as_of": [_d(k) for _, k, _, _ in ATTEMPTS],
            "loan_id": [x[0] for x in ATTEMPTS],
            "channel": [x[2] for x in ATTEMPTS],
            "outcome": [x[3] for x in ATTEMPTS],
        },
        schema={"as_of": pl.Date, "loan_id": pl.String, "channel": pl.String, "outcome": pl.String},
    )
    payments = pl.DataFrame(
        {
            "payment_id": [p[0] for p in PAYMENTS],
            "loan_id": [p[1] for p in PAYMENTS],
            "received_date": [_d(p[2]) for p in PAYMENTS],
            "amount": [p[3] for p in PAYMENTS],
            "reverses": [p[4] for p in PAYMENTS],
        },
        schema_overrides={"amount": pl.Int64, "reverses": pl.String},
    )
    decisions = pl.DataFrame(
        {
            "as_of": [_d(k) for _, k in PLACEMENTS] + [_d(-1)],
            "loan_id": [x for x, _ in PLACEMENTS] + ["L000000004"],
            "treatment": ["agency_placement"] * len(PLACEMENTS) + ["sms"],
        }
    )
    return attempts, payments, decisions


def _twin_state() -> AccountState:
    """The loop's state: one record per day up to D − 1 (its events happen the day after)."""
    state = AccountState()
    empty = {name: pl.DataFrame(schema=cols) for name, cols in SCHEMAS.items()}
    reached = {"conversation", "connected"}
    for k in range(-101, 0):
        day = k + 1  # the events of the record of D + k happen on D + k + 1
        att = [a for a in ATTEMPTS if a[1] == day and a[0] is not None and a[2] != "portal"]
        attempts = pl.DataFrame(
            {
                "loan_id": [a[0] for a in att],
                "channel": [a[2] for a in att],
                "reached": [a[3] in reached for a in att],
            },
            schema={"loan_id": pl.String, "channel": pl.String, "reached": pl.Boolean},
        )
        pays = [p for p in PAYMENTS if p[2] == day and p[0] not in ("P3", "P4")]
        payments = pl.DataFrame(
            {"loan_id": [p[1] for p in pays], "amount": [p[3] for p in pays]},
            schema={"loan_id": pl.String, "amount": pl.Int64},
        )
        placed = [x for x in PLACEMENTS if x[1] == k]
        tasks = pl.DataFrame(
            {
                "loan_id": [x for x, _ in placed],
                "treatment": ["agency_placement"] * len(placed),
                "verdict": ["allowed" if p in STARTS else "carried" for p in placed],
            },
            schema={"loan_id": pl.String, "treatment": pl.String, "verdict": pl.String},
        )
        events = DayEvents(
            _d(day),
            payments,
            attempts,
            empty["promises"],
            empty["offers"],
            empty["replies"],
            empty["complaints"],
        )
        state.observe(DayRecord(_d(k), pl.DataFrame(), pl.DataFrame(), tasks, events))
    return state


def _frame() -> pl.DataFrame:
    """The decision frame's columns the model reads; rows not in loan order (row number ≠ twin index)."""
    return pl.DataFrame(
        {
            "loan_id": ["L000000003", "L000000001", "L000000004", "L000000002"],
            "borrower_id": ["C3", "C1", "C4", "C2"],
            "overdue_amount": [50_000, 120_000, 8_000, 300_000],
            "outstanding_principal": [200_000, 500_000, 9_000, 900_000],
            "bucket_since": [_d(-20), _d(-3), _d(-1), _d(-80)],
            "product_type": ["cash_loan", "installment", "bnpl", "revolving_card"],
            "customer_type": ["individual", None, "sole_proprietor", "individual"],
            "dpd": [20, 3, 1, 95],
            "written_off": [False, False, False, True],
        },
        schema_overrides={"overdue_amount": pl.Int64, "outstanding_principal": pl.Int64},
    )


def test_state_from_history_equals_the_loops_state() -> None:
    attempts, payments, decisions = _lake_history()
    frame = _frame()
    mine = state_from_history(frame, D, attempts, payments.lazy(), decisions)
    twin = _twin_state()
    assert mine.day == twin.day == EPOCH
    twin_i = np.array([int(x[1:]) - 1 for x in frame.get_column("loan_id")])
    arrays = [f.name for f in fields(AccountState) if isinstance(getattr(twin, f.name), np.ndarray)]
    assert {"placed_until", "contacts", "reached", "paid", "last_paid"} <= set(arrays)
    for name in arrays:  # every array the state keeps, whatever it is
        got, want = getattr(mine, name), getattr(twin, name)[twin_i]
        assert got.shape == (frame.height,) and got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, err_msg=name)
    fr = model_frame(frame)
    tf = fr.with_columns(i=pl.Series(twin_i, dtype=pl.Int64))
    np.testing.assert_allclose(mine.features(fr, D), twin.features(tf, D), rtol=1e-12)
    np.testing.assert_array_equal(mine.placed(fr, D), twin.placed(tf, D))

    # Worked by hand (rows: L3, L1, L4, L2), sums as of D.
    np.testing.assert_array_equal(mine.placed_until, [-1, EPOCH - 4, EPOCH + 60, EPOCH + 52])
    np.testing.assert_array_equal(mine.last_paid, [EPOCH - 100, EPOCH - 2, -10_000, EPOCH])
    np.testing.assert_allclose(mine.contacts, [0, 0.8**3 + 0.8 + 1, 0, 0.8**40 + 0.8**5 + 0.8**2])
    np.testing.assert_allclose(mine.reached, [0, 0.8**3 + 1, 0, 0.8**40 + 0.8**2])
    np.testing.assert_allclose(mine.paid, [20_000 * 0.8**100, 5_000 * 0.8**2, 0, 1_000 * 0.8**10 + 3_000])
    x = mine.features(fr, D)
    col = {name: k for k, name in enumerate(FEATURES[:-1])}
    np.testing.assert_array_equal(x[:, col["placed_left"]], [0, 0, 59, 51])
    np.testing.assert_array_equal(x[:, col["days_since_paid"]], [101, 3, 999, 1])
    np.testing.assert_allclose(x[1, col["contacts"]], (0.8**3 + 0.8 + 1) * 0.8)
    assert x[1, col["customer"]] == 0.0  # a missing customer type is an individual, as in the kernel


def test_state_without_history() -> None:
    state = state_from_history(_frame(), D, None, None, None)
    assert state.day == EPOCH and state.placed_until.tolist() == [-1] * 4
    assert state.last_paid.tolist() == [-10_000] * 4 and not state.contacts.any()


def _tiny_models(seed: int = 0) -> ResponseModels:
    """A response model fitted in a moment on made-up rows (the plumbing, not the learning, is tested)."""
    rng = np.random.default_rng(seed)
    n = 600
    x = np.abs(rng.normal(size=(n, len(FEATURES))))
    for name, k in (("product", 4), ("customer", 2), ("treatment", len(ACTIONS))):
        x[:, FEATURES.index(name)] = rng.integers(0, k, n)
    y = 0.02 * x[:, FEATURES.index("treatment")] * x[:, 0] + rng.normal(0, 0.01, n)
    kw = {"n_estimators": 15, "min_child_samples": 5, "n_jobs": 1}
    return ResponseModels(
        net=ResponseModel(**kw).fit(x, y), commission=ResponseModel(**kw).fit(x, 0.1 * np.abs(y))
    )


def test_annotate_values_the_decided_treatments(tmp_path: Path) -> None:
    path = tmp_path / "response.joblib"
    save_model(_tiny_models(), path)
    model = load_value_model(path)
    assert model is not None and model.version.startswith("response@") and len(model.version) == 21
    assert load_value_model(tmp_path / "missing.joblib") is None
    attempts, payments, history = _lake_history()
    frame = _frame()
    state = state_from_history(frame, D, attempts, payments, history)
    # Decisions in another row order than the frame: matched by loan.
    decisions = pl.DataFrame(
        {
            "loan_id": ["L000000002", "L000000001", "L000000003", "L000000004"],
            "treatment": ["agency_placement", "sms", "legal_review", "no_action"],
            "reasons": ["row a", "row b", "row c", "row d"],
        }
    )
    assert "legal_review" not in {t.value for t in ACTIONS}  # a lawyer's decision: never modelled
    out = annotate(decisions, frame, model, D, state)
    assert out.columns == [*decisions.columns, "expected_value", "value_model"]
    assert out.schema["expected_value"] == pl.Int64 and set(out["value_model"]) == {model.version}
    ref = OptimisedDecider(model=model.models, capacity=Capacity(), state=state)
    value, _ = ref.values(model_frame(frame), D)
    ev = out["expected_value"].to_list()
    assert ev[1] == round(value[1, ACTIONS.index("sms")])  # L1 is the frame's row 1
    assert ev[3] == 0  # no_action is the reference
    assert ev[0] is None and ev[2] is None  # L2's placement is running; legal reviews: not modelled
    r = out["reasons"].to_list()
    assert r[0] == f"row a; {NOT_MODELLED} (agency placement running)"
    assert r[2] == f"row c; {NOT_MODELLED}"
    assert r[1].startswith("row b; EV ") and ("(best" in r[1])
    assert r[3].startswith("row d; EV ¥0.00 (best")
    # Without a model: the same columns, null.
    bare = annotate(decisions, frame, None, D, None)
    assert bare.columns == out.columns and bare["expected_value"].null_count() == 4
    assert (
        bare["value_model"].null_count() == 4 and bare["reasons"].to_list() == decisions["reasons"].to_list()
    )


# ------------------------------------------------------------------------------------------ the cycle


def _book(tmp_path: Path, engine: Engine, n: int = 300) -> Lake:
    return imported_book(tmp_path, engine, AS_OF, n)


def _detail(engine: Engine, as_of: dt.date) -> str:
    with session_scope(engine) as s:
        stmt = select(CycleRun.detail).where(CycleRun.as_of == as_of, CycleRun.step == "decisions")
        return str(s.scalars(stmt).one())


def _detail_last(engine: Engine, as_of: dt.date) -> str:
    with session_scope(engine) as s:
        stmt = (
            select(CycleRun.detail)
            .where(CycleRun.as_of == as_of, CycleRun.step == "decisions")
            .order_by(CycleRun.id.desc())
        )
        return str(s.scalars(stmt).first())


@pytest.mark.slow
def test_cycle_decisions_carry_expected_values(own_engine: Engine, tmp_path: Path) -> None:
    lake = _book(tmp_path, own_engine)
    out = Outputs(lake)
    # A decisions table from before the value columns, with placements of every other loan yesterday.
    loans = lake.scan("loans")
    assert loans is not None
    ids = loans.select("loan_id").collect().get_column("loan_id").sort()[::2]
    old = pl.DataFrame({"as_of": [AS_OF - dt.timedelta(days=1)] * ids.len(), "loan_id": ids}).with_columns(
        treatment=pl.lit("agency_placement")
    )
    old = old.select(
        [
            (pl.col(c) if c in old.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in DECISION_SCHEMA.items()
        ]
    )
    out.replace("decisions", old, as_of=AS_OF - dt.timedelta(days=1))

    path = get_settings().response_model
    assert path is not None and path == get_settings().data_dir / "models" / "response.joblib"
    save_model(_tiny_models(), path)
    version = load_value_model(path).version  # type: ignore[union-attr]
    cycle = Cycle(engine=own_engine, lake=lake)
    cycle.run(AS_OF)
    dec = out.read("decisions", AS_OF)
    assert dec is not None and dec.height > 0
    assert set(dec.columns) == {*DECISION_SCHEMA, "expected_value", "value_model"}
    assert set(dec["value_model"]) == {f"{version} prices@v0"}  # the model and the default prices
    placed = set(ids.to_list())
    in_actions = pl.col("treatment").is_in([t.value for t in ACTIONS])
    running = (pl.col("treatment") == "agency_placement") & pl.col("loan_id").is_in(list(placed))
    modelled = dec.filter(in_actions & ~running)
    assert modelled.height > 0 and modelled["expected_value"].null_count() == 0
    assert modelled["reasons"].str.contains("; EV ", literal=True).all()
    rest = dec.filter(~(in_actions & ~running))
    assert rest.height > 0  # yesterday's placements (old partition) are running: read from the lake
    assert rest["expected_value"].null_count() == rest.height
    assert rest["reasons"].str.contains(NOT_MODELLED, literal=True).all()
    assert f"value model {version}" in _detail(own_engine, AS_OF)
    # The older partition reads with null values.
    before = out.read("decisions", AS_OF - dt.timedelta(days=1))
    assert before is not None and before["expected_value"].null_count() == before.height

    # The next day without a model: the same columns, null; every day reads back together.
    path.unlink()
    nxt = AS_OF + dt.timedelta(days=1)
    cycle.run(nxt)
    dec2 = out.read("decisions", nxt)
    assert dec2 is not None and dec2.schema == dec.schema
    assert dec2["expected_value"].null_count() == dec2.height == dec2["value_model"].null_count()
    assert "no value model" in _detail(own_engine, nxt)
    # A file that is not a usable model does not stop the day; the detail says why.
    path.write_bytes(b"not a model")
    cycle.run(nxt, force=True)
    assert "no value model (" in _detail_last(own_engine, nxt)
    dec3 = out.read("decisions", nxt)
    assert dec3 is not None and dec3["expected_value"].null_count() == dec3.height
    lf = out.scan("decisions")
    assert lf is not None
    everything = lf.collect()
    assert everything.height == old.height + dec.height + dec2.height
    again = out.read("decisions", AS_OF)
    assert again is not None and again["expected_value"].null_count() == dec["expected_value"].null_count()


@pytest.mark.slow
def test_cycle_plans_with_the_optimiser_when_configured(
    own_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoup.errors import ConfigError
    from recoup.strategy.definition import MESSAGE_TREATMENTS
    from recoup.strategy.models import WorkTask

    lake = _book(tmp_path, own_engine)
    out = Outputs(lake)
    monkeypatch.setenv("RECOUP_PLANNER", "optimised")
    get_settings.cache_clear()
    cycle = Cycle(engine=own_engine, lake=lake)
    with pytest.raises(ConfigError, match="needs a response model"):  # no model: a clear error
        cycle.run(AS_OF)
    assert "ConfigError" in _detail_last(own_engine, AS_OF)  # the failed step says why
    path = get_settings().response_model
    assert path is not None
    save_model(_tiny_models(), path)
    version = load_value_model(path).version  # type: ignore[union-attr]
    cycle.run(AS_OF)
    dec = out.read("decisions", AS_OF)
    assert dec is not None and dec.height > 0
    assert set(dec.columns) == {*DECISION_SCHEMA, "expected_value", "value_model"}
    assert set(dec["strategy"]) == {"optimised"} and set(dec["value_model"]) == {
        f"{version} prices@v0 capacity@v0"
    }
    assert dec["expected_value"].null_count() == 0
    planned = dec.filter(pl.col("treatment") != "no_action", ~pl.col("required_notice"))
    assert planned.height > 0
    assert planned["reasons"].str.contains("runner-up", literal=True).all()
    assert (planned["expected_value"] > 0).all()  # the optimiser gives nothing that loses value
    # Within the day's capacity (per 10,000 loans of the book), and calls/tasks reach the work queue.
    cap = Capacity.for_book(300).limits()
    n = dict(dec.group_by("treatment").len().iter_rows())
    assert 4 * n.get("agent_call", 0) + 8 * n.get("plan_offer", 0) <= (cap["agent_minutes"] or 0)
    assert n.get("field_visit", 0) <= (cap["field_visits"] or 0)
    work = dec.filter(
        ~pl.col("treatment").is_in([t.value for t in MESSAGE_TREATMENTS]), pl.col("treatment") != "no_action"
    )
    want = set(work.select("loan_id", "treatment").iter_rows())
    with session_scope(own_engine) as s:
        queued = s.scalars(select(WorkTask).where(WorkTask.as_of == AS_OF)).all()
        got = {(t.debt_key, t.treatment) for t in queued}
        # (a message with no usable destination or template becomes a task too)
        extra = {t.queue for t in queued if (t.debt_key, t.treatment) not in want}
    assert work.height > 0 and want <= got
    assert extra <= {"contact_data", "review"}
