"""Treatment prices and capacity as versioned configuration (issue 14, item 5): the defaults are today's
numbers, every bad field is named, a saved version changes the cycle's values by the hand-worked amount,
and the cycle and the twin read the same version (recorded on the decisions and in the twin's result)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from recoup import cli
from recoup.contact.vocab import Treatment
from recoup.db import get_engine, upgraded_session
from recoup.i18n import set_cli_locale
from recoup.strategy.capacity import Capacity, CapacityError
from recoup.strategy.cycle_value import ValueModel, annotate, model_frame, state_from_history
from recoup.strategy.economics import (
    BUCKETS,
    CapacityConfig,
    PricesError,
    load_capacity,
    load_prices,
    parse_capacity,
    parse_prices,
    save_capacity,
    save_prices,
)
from recoup.strategy.optimised import COST_WEIGHT, OptimisedDecider
from recoup.strategy.prices import AGENCY_COMMISSION_BP, price_list
from recoup.strategy.response import ACTIONS
from test_cycle_value import D, _frame, _tiny_models

SMS = ACTIONS.index(Treatment.SMS)
PLACE = ACTIONS.index(Treatment.AGENCY_PLACEMENT)


def test_defaults_are_todays_numbers(session: Session) -> None:
    from recoup.simulate import DEFAULT_PARAMS

    prices = load_prices(session=session)
    assert prices.version == 0 and prices.label == "prices@v0"
    assert dict(prices.treatments) == price_list()
    assert dict(prices.agency_commission_bp) == dict.fromkeys(BUCKETS, 2_500)
    # The rate the response model was trained under is the twin's commission.
    assert DEFAULT_PARAMS.treatments["agency_placement"].commission_bp == AGENCY_COMMISSION_BP
    staffing = load_capacity(session=session)
    assert staffing.version == 0 and staffing.label == "capacity@v0" and staffing.windows() == {}
    for n in (300, 50_000):
        assert staffing.capacity(n) == Capacity.for_book(n)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"treatments": {"sms": -1}}, "prices.treatments.sms"),
        ({"treatments": {"sms": 1.5}}, "prices.treatments.sms"),
        ({"treatments": {"sms": True}}, "prices.treatments.sms"),
        ({"treatments": {"fax": 3}}, "prices.treatments.fax"),
        ({"treatments": [5]}, "prices.treatments"),
        ({"agency_commission_bp": {"M2": 10_001}}, "prices.agency_commission_bp.M2"),
        ({"agency_commission_bp": {"M9": 100}}, "prices.agency_commission_bp.M9"),
        ({"currency": "CNY"}, "prices.currency"),
        ({"kind": "capacity", "treatments": {}}, "prices.kind"),
    ],
)
def test_bad_prices_name_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(PricesError) as err:
        parse_prices(doc)
    assert err.value.message.startswith(f"{field}:") and err.value.details["field"] == field
    assert (err.value.exit_code, err.value.http_status, err.value.code) == (65, 422, "strategy.bad_prices")


_AM = "capacity.resources.agent_minutes"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"resources": {"agents": {"limit": 5}}}, "capacity.resources.agents"),
        ({"resources": {"agent_minutes": {"limit": -5}}}, f"{_AM}.limit"),
        ({"resources": {"agent_minutes": {"staff": 3}}}, f"{_AM}.per_staff"),
        ({"resources": {"agent_minutes": {"per_staff": 360}}}, f"{_AM}.staff"),
        ({"resources": {"agent_minutes": {"staff": 3, "per_staff": 360, "limit": 9}}}, f"{_AM}.limit"),
        ({"resources": {"agent_minutes": {"staff": -1, "per_staff": 360}}}, f"{_AM}.staff"),
        ({"resources": {"agent_minutes": {"staff": 2, "per_staff": 1, "hours": [20, 9]}}}, f"{_AM}.hours"),
        ({"resources": {"agent_minutes": {"staff": 2, "per_staff": 1, "hours": [9, 24]}}}, f"{_AM}.hours"),
        ({"resources": {"agent_minutes": {"staff": 2, "per_staff": 1, "hours": 9}}}, f"{_AM}.hours"),
        (
            {
                "resources": {
                    "agent_minutes": {
                        "staff": 2,
                        "per_staff": 1,
                        "hours": [9, 18],
                        "staff_by_hour": {"20": 1},
                    }
                }
            },
            f"{_AM}.staff_by_hour.20",
        ),
        (
            {"resources": {"agent_minutes": {"staff": 2, "per_staff": 1, "staff_by_hour": {"10": 3}}}},
            f"{_AM}.staff_by_hour.10",
        ),
        ({"resources": {"agent_minutes": {"limit": 9, "staff_by_hour": {"10": 1}}}}, f"{_AM}.staff"),
        ({"resources": {"agent_minutes": {"limit": 9, "shift": 2}}}, f"{_AM}.shift"),
        ({"minutes": {"agent_call": 0}}, "capacity.minutes.agent_call"),
        ({"minutes": {"sms": 1}}, "capacity.minutes.sms"),
        ({"budget": 5}, "capacity.budget"),
    ],
)
def test_bad_capacity_names_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(CapacityError) as err:
        parse_capacity(doc)
    assert err.value.message.startswith(f"{field}:") and err.value.details["field"] == field
    assert (err.value.exit_code, err.value.http_status) == (65, 422)


def test_capacity_document_to_the_days_limits() -> None:
    cfg = parse_capacity(
        {
            "resources": {
                # 3 collectors × 360 minutes; at lunch (12:00) nobody is on the phones.
                "agent_minutes": {"staff": 3, "per_staff": 360, "hours": [9, 14], "staff_by_hour": {"12": 0}},
                "robot_calls": {"limit": None},
                "field_visits": {"staff": 2, "per_staff": 4},
            },
            "minutes": {"agent_call": 5},
        }
    )
    cap = cfg.capacity(10_000)
    assert (cap.agent_minutes, cap.robot_calls, cap.field_visits) == (1_080, None, 8)
    assert cap.message_budget == 1_000 and cap.agency_placements == 200  # not set: per 10,000 loans
    assert dict(cap.minutes) == {"agent_call": 5, "plan_offer": 8, "settlement_offer": 8}
    duty = (9, 10, 11, 13, 14)
    assert cfg.windows() == {
        t: duty for t in (Treatment.AGENT_CALL, Treatment.PLAN_OFFER, Treatment.SETTLEMENT_OFFER)
    }
    assert parse_capacity(cfg.payload()) == cfg  # the stored payload reads back the same


def _decider(**kw: Any) -> tuple[OptimisedDecider, pl.DataFrame]:
    frame = _frame().with_columns(bucket=pl.Series(["M1", "M1", "M1", "M4"]))
    state = state_from_history(frame, D, None, None, None)
    return OptimisedDecider(model=_tiny_models(), capacity=Capacity(), state=state, **kw), frame


def test_a_saved_price_changes_the_cycles_values(session: Session) -> None:
    first = save_prices({"treatments": {"sms": 505}}, session=session, created_by="lena", comment="dearer")
    assert first.version == 1 and first.treatments["sms"] == 505 and first.treatments["email"] == 1
    assert save_prices({"treatments": {"sms": 505}}, session=session).version == 1  # unchanged
    loaded = load_prices(session=session)
    assert loaded == first and loaded.label == "prices@v1"

    base, frame = _decider()
    value0, _ = base.values(model_frame(frame), D)
    dear, _ = _decider(prices=loaded.treatments)
    value1, _ = dear.values(model_frame(frame), D)
    # EV = O·Δf − price − μ·(price + O·Δg⁺): 500 fen more on the price is 500 × (1 + 0.2) = 600 less.
    assert COST_WEIGHT == 0.2
    np.testing.assert_allclose(value1[:, SMS] - value0[:, SMS], -600.0, atol=1e-6)
    other = [k for k in range(len(ACTIONS)) if k != SMS]
    np.testing.assert_array_equal(value1[:, other], value0[:, other])

    # The cycle's annotation with the loaded prices: the SMS row's value is 600 fen lower, and the row
    # names the model and the prices' version it was valued with.
    decisions = pl.DataFrame({"loan_id": ["L000000001"], "treatment": ["sms"], "reasons": ["row"]})
    model = ValueModel(models=_tiny_models(), version="response@000000000000")
    state = state_from_history(frame, D, None, None, None)
    before = annotate(decisions, frame, model, D, state)
    after = annotate(decisions, frame, model, D, state, prices=loaded.treatments, config=loaded.label)
    assert after["expected_value"][0] == before["expected_value"][0] - 600
    assert after["value_model"][0] == "response@000000000000 prices@v1"
    assert before["value_model"][0] == "response@000000000000"


def test_agency_commission_by_bucket() -> None:
    """M1 at 5,000 bp (twice the model's 2,500): the agency takes twice the modelled commission and the
    lender keeps that much less; M4 (the last row) keeps the default rate and its values."""
    base, frame = _decider()
    fr = model_frame(frame)
    value0, _ = base.values(fr, D)
    rates = {"M1": 5_000}
    dear, _ = _decider(commission_bp=rates)
    value1, _ = dear.values(fr, D)
    g = base.model.commission.value_matrix(base.state.features(fr, D))
    overdue = fr["overdue_amount"].cast(pl.Float64).to_numpy()[:, None]
    dg = g - g[:, :1]
    # Δf falls by Δg (the extra commission now taken) and the cost term doubles its commission part.
    want = -overdue * dg - COST_WEIGHT * overdue * (np.maximum(2 * dg, 0) - np.maximum(dg, 0))
    want[:, 0] = 0.0
    np.testing.assert_allclose((value1 - value0)[:3], want[:3], rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(value1[3], value0[3])
    assert np.abs(want[:3, PLACE]).max() > 0  # the check is not vacuous


def test_hours_on_duty_bound_the_plans_hours() -> None:
    models = replace(_tiny_models(), hours={"agent_call": [12, 19]})
    staffing = parse_capacity(
        {"resources": {"agent_minutes": {"staff": 2, "per_staff": 60, "hours": [9, 18]}}}
    )
    frame = _frame()
    decider = OptimisedDecider(
        model=models,
        capacity=Capacity(),
        state=state_from_history(frame, D, None, None, None),
        windows=staffing.windows(),
    )
    chosen = np.array(["agent_call"] * 4, dtype=object)
    hours = decider._hours(frame["loan_id"], chosen, D)
    assert set(hours.to_list()) == {12}  # 19:00 is learned but nobody is on duty then
    decider.windows = {Treatment.AGENT_CALL: (20, 21)}  # none of the learned hours: spread over duty
    assert set(decider._hours(frame["loan_id"], chosen, D).to_list()) <= {20, 21}


# ------------------------------------------------------------------------------------------ the CLI


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    from recoup.strategy.config_cli import app as config_app

    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)
    app.callback()(cli._root)  # --lang
    app.add_typer(config_app, name="config")
    app.command("noop")(lambda: None)
    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(cli, "_mount", lambda argv=None: None)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["recoup", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    yield invoke
    set_cli_locale(None)
    get_engine().dispose()


def test_cli_show_set_and_the_twin_reads_the_same_version(run: Any, tmp_path: Path) -> None:
    from recoup.evaluation.cli import lender_config

    code, out, _ = run("config", "prices", "show", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["version"] == 0 and shown["treatments"] == price_list()
    code, out, _ = run("--lang", "en", "config", "prices", "show")
    assert code == 0 and "defaults (version 0, nothing saved)" in out and "lawyer_letter" in out
    code, out, _ = run("--lang", "zh_CN", "config", "capacity", "show", "--loans", "50000")
    assert code == 0 and "默认" in out and "1,200" in out  # agent minutes for 50,000 loans

    # Edit what `show --json` printed and set it back (TOML works too).
    shown["treatments"]["sms"] = 8
    (tmp_path / "prices.json").write_text(json.dumps(shown), "utf-8")
    code, out, _ = run("config", "prices", "set", str(tmp_path / "prices.json"), "--json")
    assert code == 0 and json.loads(out) == {"kind": "prices", "version": 1, "changed": True}
    code, out, _ = run("--lang", "en", "config", "prices", "set", str(tmp_path / "prices.json"))
    assert code == 0 and "unchanged: prices version 1" in out
    (tmp_path / "cap.toml").write_text(
        "[resources.agent_minutes]\nstaff = 2\nper_staff = 300\nhours = [9, 20]\n", "utf-8"
    )
    code, out, _ = run("--lang", "en", "config", "capacity", "set", str(tmp_path / "cap.toml"))
    assert code == 0 and "saved capacity version 1" in out
    code, out, _ = run("config", "capacity", "show", "--json", "--loans", "10000")
    got = json.loads(out)
    assert (
        got["version"] == 1 and got["limits"]["agent_minutes"] == 600 and got["limits"]["field_visits"] == 2
    )

    # A bad field: exit 65, the field named, no traceback.
    (tmp_path / "bad.json").write_text(json.dumps({"agency_commission_bp": {"M3": -5}}), "utf-8")
    code, out, err = run("config", "prices", "set", str(tmp_path / "bad.json"))
    assert code == 65 and "prices.agency_commission_bp.M3" in out + err
    (tmp_path / "broken.toml").write_text("[resources\n", "utf-8")
    code, out, err = run("config", "capacity", "set", str(tmp_path / "broken.toml"))
    assert code == 65 and "broken.toml" in out + err

    # The twin's commands read the same versions from the same database.
    prices, staffing = lender_config()
    assert (prices.version, staffing.version) == (1, 1) and prices.treatments["sms"] == 8
    assert staffing.capacity(10_000).agent_minutes == 600
    with upgraded_session() as session:
        assert load_prices(session=session) == prices and load_capacity(session=session) == staffing


def test_lender_config_without_a_database_table_is_the_defaults() -> None:
    from recoup.evaluation.cli import lender_config

    prices, staffing = lender_config()  # a fresh data dir: nothing migrated, nothing written
    assert prices.version == 0 and staffing == CapacityConfig()
    get_engine().dispose()


def test_save_capacity_versions(session: Session) -> None:
    doc = {"resources": {"field_visits": {"staff": 1, "per_staff": 3}}}
    assert save_capacity(doc, session=session).version == 1
    assert save_capacity(doc, session=session).version == 1
    assert save_capacity({**doc, "minutes": {"plan_offer": 10}}, session=session).version == 2
    cfg = load_capacity(session=session)
    assert cfg.version == 2 and cfg.capacity(10_000).field_visits == 3 and cfg.minutes["plan_offer"] == 10


def test_the_twin_charges_and_works_the_configured_numbers() -> None:
    from recoup.evaluation.evaluate import EvalConfig, baseline_strategy, evaluate

    staffing = parse_capacity(
        {"resources": {"agent_minutes": {"staff": 1, "per_staff": 8, "hours": [9, 12]}}}, version=2
    )
    doubled = dict.fromkeys(BUCKETS, 5_000)
    prices = parse_prices(
        {"treatments": {"sms": 8, "robot_call": 40}, "agency_commission_bp": doubled}, version=3
    )
    kw: dict[str, Any] = {"strategy": baseline_strategy(), "loans": 1_500, "days": 6, "seed": 1}
    r = evaluate(EvalConfig(prices=prices, staffing=staffing, **kw))
    r0 = evaluate(EvalConfig(staffing=staffing, **kw))  # the same twin and staffing, default prices
    assert r.config_versions == {"prices": 3, "capacity": 2} and r0.config_versions["prices"] == 0
    for name, fen in (("sms", 8), ("robot_call", 40)):
        b = r.by_treatment[name]
        assert b["attempts"] > 0 and b["cost"] == fen * b["attempts"]
        assert r0.by_treatment[name]["cost"] == price_list()[name] * b["attempts"]
    assert r.capacity["agent_minutes"] == 8 and r.violations == 0
    assert r.by_treatment.get("agent_call", {}).get("attempts", 0) <= 2 * 6  # 8 minutes: two calls a day
    # Every agency payment's commission at 5,000 bp instead of 2,500: twice, give or take rounding.
    assert r.recovered == r0.recovered and r0.commission > 0
    assert 2 * r0.commission <= r.commission <= 2 * r0.commission + r.recovered // 10_000 + 1_000


@pytest.mark.slow
def test_the_cycle_plans_with_the_saved_configuration(
    own_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The optimised planner of the daily cycle reads the saved versions: 12 agent minutes a day (three
    four-minute calls at most), the decisions and the step's detail name both versions, and the twin is
    handed the same loaded objects."""
    from recoup.config import get_settings
    from recoup.cycle.runner import Cycle
    from recoup.db import session_scope
    from recoup.lake.store import Outputs
    from recoup.strategy.cycle_value import load_value_model
    from recoup.strategy.response import save_model
    from test_cycle_value import AS_OF, _book, _detail

    lake = _book(tmp_path, own_engine)
    with session_scope(own_engine) as s:
        save_prices({"treatments": {"agent_call": 900}}, session=s)
        save_capacity(
            {"resources": {"agent_minutes": {"staff": 1, "per_staff": 12, "hours": [9, 12]}}}, session=s
        )
    monkeypatch.setenv("RECOUP_PLANNER", "optimised")
    get_settings.cache_clear()
    path = get_settings().response_model
    assert path is not None
    save_model(_tiny_models(), path)
    version = load_value_model(path).version  # type: ignore[union-attr]
    Cycle(engine=own_engine, lake=lake).run(AS_OF)
    dec = Outputs(lake).read("decisions", AS_OF)
    assert dec is not None and dec.height > 0
    assert set(dec["value_model"]) == {f"{version} prices@v1 capacity@v1"}
    n = dict(dec.group_by("treatment").len().iter_rows())
    assert 4 * n.get("agent_call", 0) + 8 * n.get("plan_offer", 0) <= 12
    assert "prices@v1 capacity@v1" in _detail(own_engine, AS_OF)
    with session_scope(own_engine) as s:
        prices, staffing = load_prices(session=s), load_capacity(session=s)
    assert (prices.label, staffing.label) == ("prices@v1", "capacity@v1")
    assert prices.treatments["agent_call"] == 900 and staffing.capacity(300).agent_minutes == 12
