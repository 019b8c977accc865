"""Evaluation on the digital twin (issue 7, item 5): the loop runs and is deterministic by seed, every
contact attempt passes the contact policy before the twin sees it, the independent audit finds no
violation in the baseline (and does find one planted in the log), a bad strategy's unlawful attempts
are never made, capacity limits the day's work, and ``--perturb`` changes a copy of the frozen twin."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from recoup.contact.models import ContactAttempt
from recoup.contact.policy.audit import audit
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import load_builtin
from recoup.contact.vocab import Channel, Party, Treatment
from recoup.db import make_engine
from recoup.evaluation import evaluate as ev
from recoup.evaluation.cli import register
from recoup.evaluation.compare import paired_difference, t975
from recoup.evaluation.gate import Attempt, Destinations, Gate
from recoup.portfolio.models import Borrower
from recoup.simulate import DEFAULT_PARAMS, Action, DayEvents, World, params_hash
from recoup.simulate.params import Response
from recoup.strategy.capacity import Capacity, CapacityError
from recoup.strategy.definition import load_strategy

LOANS, DAYS = 1_500, 20
VOLATILE = ("seconds", "timings")

_MILD, _SEVERE = {"segment": "mild"}, {"segment": "severe"}
BAD: dict[str, Any] = {
    "name": "bad",
    "rows": [
        {
            "id": "sms",
            "when": {**_MILD, "dpd": {"le": 3}},
            "then": {"treatment": "sms", "template": "reminder"},
        },
        {"id": "robot", "when": _MILD, "then": {"treatment": "robot_call", "template": "robot_reminder"}},
        {"id": "call", "when": _SEVERE, "then": {"treatment": "agent_call", "queue": "late"}},
    ],
    # Robot calls at 23:00 (quiet hours: deferred) and collectors' calls to third parties (blocked).
    "execution": {"hours": {"robot_call": [23, 23]}, "party": {"agent_call": "third_party"}},
}


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """The strategy group (the real one mounts these commands the same way)."""

    register(app)
    return app


def _cli_json(*args: str) -> dict[str, Any]:
    res = CliRunner().invoke(_app(), list(args))
    assert res.exit_code == 0, (res.output, res.exception)
    out: dict[str, Any] = json.loads(res.output)  # one JSON object, nothing else
    return out


def _stable(j: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in j.items() if k not in VOLATILE}


def _run(**kw: Any) -> ev.EvalResult:
    base: dict[str, Any] = {"strategy": ev.baseline_strategy(), "loans": LOANS, "days": DAYS, "seed": 1}
    return ev.evaluate(ev.EvalConfig(**{**base, **kw}))


@pytest.fixture(scope="module")
def baseline_json() -> dict[str, Any]:
    # --no-scorer: compared below with runs of EvalConfig without a scorer (tests/test_eval_scorer.py).
    return _cli_json("evaluate", "--strategy", "baseline", "--loans", str(LOANS), "--days", str(DAYS),
                     "--seed", "1", "--no-scorer", "--json")  # fmt: skip


def test_loop_runs_and_prints_one_json_object_with_the_keys(baseline_json: dict[str, Any]) -> None:
    j = baseline_json
    for key in ("recovered", "cost", "net", "contacts", "complaints", "violations", "recovery_by_segment",
                "loans", "days", "seed", "strategy", "strategy_version", "perturb", "seconds"):  # fmt: skip
        assert key in j, key
    assert (j["loans"], j["days"], j["seed"], j["strategy"], j["strategy_version"]) == (
        LOANS,
        DAYS,
        1,
        "baseline",
        1,
    )
    assert j["net"] == j["recovered"] - j["cost"]
    assert j["cost"] == j["cost_breakdown"]["treatments"] + j["cost_breakdown"]["agency_commission"]
    assert j["recovered"] > 0 and j["contacts"] > 0
    assert j["collected_since_entry"] >= j["recovered"]
    assert j["recovered"] == sum(s["recovered"] for s in j["recovery_by_segment"].values())
    assert set(j["recovery_by_segment"]) <= {"mild", "severe", "extremely_severe", "current"}
    assert sum(j["daily"]["recovered"]) == j["recovered"] and len(j["daily"]["cost"]) == DAYS
    assert isinstance(j["recovered"], int) and isinstance(j["cost"], int)  # fen, never floats
    # Every contact made was judged and allowed, and every allowed one was made.
    p = j["policy"]
    assert p["judged"] == p["allowed"] + p["blocked"] + p["deferred"]
    assert j["contacts"] == p["allowed"]
    assert p["actions_to_twin"] == sum(b["attempts"] for b in j["by_treatment"].values())
    assert p["actions_to_twin"] == p["allowed"] + sum(
        j["by_treatment"].get(t, {}).get("attempts", 0) for t in ("legal_review", "agency_placement")
    )
    assert j["params_hash"] == params_hash()  # the frozen twin


def test_baseline_has_no_violations_by_the_independent_audit(baseline_json: dict[str, Any]) -> None:
    assert baseline_json["violations"] == 0
    assert baseline_json["policy"]["blocked"] == 0


def test_the_audit_is_independent_and_finds_a_planted_violation(tmp_path: Path) -> None:
    """The kept attempt log is what ``policy audit`` reads: a night call planted in it is found."""
    db = tmp_path / "log.db"
    r = _run(days=8, keep_db=db)
    assert r.violations == 0
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        rows = session.scalars(select(ContactAttempt)).all()
        assert len(rows) == r.contacts
        first = rows[0]
        # Times are on the borrower's own clock (Asia/Urumqi borrowers too): calls 09–20, texts at 10.
        zones: dict[str, str | None] = {
            key: tz for key, tz in session.execute(select(Borrower.external_id, Borrower.timezone))
        }
        for row in rows:
            local = row.at.astimezone(ZoneInfo(zones[row.borrower_key] or "Asia/Shanghai"))
            assert 9 <= local.hour <= 20, (row.channel, local)
            if row.channel == "sms":
                assert local.hour == 10
        night = first.at.astimezone(ZoneInfo("Asia/Shanghai")).replace(hour=23, minute=30)
        session.execute(
            insert(ContactAttempt),
            [{"source": "collector", "external_id": "planted", "borrower_key": first.borrower_key,
              "debt_key": first.debt_key, "party": "debtor", "channel": "call",
              "destination_hash": first.destination_hash, "destination_masked": "x", "at": night,
              "outcome": "no_answer", "made_by": "test"}],
        )  # fmt: skip
        session.commit()
        found = list(audit(session=session, start=night.date(), end=night.date(), preset="cn"))
    engine.dispose()
    assert [v.external_id for v in found] == ["planted"]
    assert "CN-TIME" in found[0].rules


def test_same_seed_same_result_and_another_seed_differs(baseline_json: dict[str, Any]) -> None:
    again = _run().to_json()
    assert _stable(again) == _stable(baseline_json)
    other = _run(seed=2).to_json()
    assert other["recovered"] != again["recovered"]


def test_bad_strategy_file_unlawful_attempts_are_never_made(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(BAD), "utf-8")
    j = _cli_json(
        "evaluate",
        "--strategy",
        str(path),
        "--loans",
        str(LOANS),
        "--days",
        str(DAYS),
        "--no-scorer",
        "--json",
    )
    assert j["strategy"] == "bad.json" and j["strategy_version"] is None
    rules = j["policy"]["rules"]
    assert rules.get("blocked:CN-PARTY", 0) > 0  # calls to third parties
    assert rules.get("deferred:CN-TIME", 0) > 0  # robot calls at 23:00, dropped for the day
    # None of them happened: no robot or agent call reached the twin, and the audit finds nothing.
    assert "robot_call" not in j["by_treatment"] and "agent_call" not in j["by_treatment"]
    assert j["by_treatment"]["sms"]["attempts"] == j["contacts"] == j["policy"]["allowed"] > 0
    assert j["violations"] == 0


def test_no_unjudged_action_ever_reaches_the_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    """By construction and checked: every contact action handed to ``World.step`` had an ``allowed``
    verdict that day; blocked and deferred ones never arrive; the gate refuses to build an unjudged one."""
    seen: list[tuple[dt.date, list[Action]]] = []

    class Spy(World):
        def step(self, actions: Any = ()) -> DayEvents:
            seen.append((self.today, list(actions)))
            return super().step(actions)

    monkeypatch.setattr(ev, "World", Spy)
    records: list[ev.DayRecord] = []
    strategy = load_strategy({k: v for k, v in BAD.items() if k != "execution"})
    execution = ev.Execution.from_mapping(BAD["execution"])
    r = _run(strategy=strategy, execution=execution, days=10, on_day=records.append)
    assert len(seen) == len(records) == 10
    made = 0
    for (day, actions), rec in zip(seen, records, strict=True):
        assert day == rec.as_of
        verdicts = {
            (row["loan_id"], row["treatment"], row["hour"], row["party"]): row["verdict"]
            for row in rec.tasks.iter_rows(named=True)
        }
        for a in actions:
            key = (a.loan_id, str(a.treatment), a.hour, str(a.party))
            assert verdicts[key] in ("allowed",), key
            assert a.treatment not in (Treatment.ROBOT_CALL, Treatment.AGENT_CALL)
            made += 1
        assert sum(v == "allowed" for v in verdicts.values()) == len(actions)
    assert made == r.contacts and r.verdicts["blocked"] > 0 and r.verdicts["deferred"] > 0

    gate = Gate(Policy(load_builtin("cn")), Destinations())
    unjudged = Attempt(0, "L000000001", "C00000001", "Asia/Shanghai", Treatment.SMS, Channel.SMS,
                           Party.DEBTOR, 10, "message_budget", 5)  # fmt: skip
    with pytest.raises(AssertionError, match="unjudged"):
        gate.actions([unjudged])
    unjudged.verdict = "allowed"  # a forged verdict is not enough: the gate must have allowed it today
    with pytest.raises(AssertionError, match="unjudged"):
        gate.actions([unjudged])


def test_capacity_limits_the_work_and_settings_name_the_field() -> None:
    r = _run(days=10, capacity=Capacity.for_book(LOANS).updated({"agent_minutes": 8}))
    calls = r.by_treatment.get("agent_call", {}).get("attempts", 0) + 2 * r.by_treatment.get(
        "plan_offer", {}
    ).get("attempts", 0)
    assert 0 < calls <= 2 * 10  # 8 minutes a day: two four-minute calls
    assert r.over_capacity.get("agent_minutes", 0) > 0 and r.violations == 0
    assert Capacity.for_book(50_000).agent_minutes == 1_200
    with pytest.raises(CapacityError, match=r"capacity\.agent_minuts"):
        Capacity().updated({"agent_minuts": 5})
    with pytest.raises(CapacityError, match=r"capacity\.field_visits"):
        Capacity().updated({"field_visits": -1})


def test_perturbation_scales_a_copy_of_the_response_parameters() -> None:
    before = params_hash(DEFAULT_PARAMS)
    assert ev.perturb_params(DEFAULT_PARAMS, 0.0, 1) is DEFAULT_PARAMS
    p = ev.perturb_params(DEFAULT_PARAMS, 0.25, 1)
    assert params_hash(DEFAULT_PARAMS) == before  # the frozen twin is untouched
    assert ev.perturb_params(DEFAULT_PARAMS, 0.25, 1) == p  # seeded
    assert ev.perturb_params(DEFAULT_PARAMS, 0.25, 2) != p
    changed = 0
    for name, tp in DEFAULT_PARAMS.types.items():
        new = p.types[name]
        assert new.profile == tp.profile
        assert replace(new.dynamics, delta2=tp.dynamics.delta2) == tp.dynamics  # only δ₂ moves
        for f in fields(Response):
            old_v, new_v = getattr(tp.response, f.name), getattr(new.response, f.name)
            pairs = [(old_v[k], new_v[k]) for k in old_v] if f.name == "effort" else [(old_v, new_v)]
            for o, n in pairs:
                assert (o * 0.75 - 1e-12 <= n <= o * 1.25 + 1e-12) or n == 1.0
                changed += o != n
    assert changed > 50
    assert p.products == DEFAULT_PARAMS.products and p.hours == DEFAULT_PARAMS.hours
    assert all(p.treatments[k].cost == c.cost for k, c in DEFAULT_PARAMS.treatments.items())
    with pytest.raises(ev.EvaluateError):
        ev.perturb_params(DEFAULT_PARAMS, 1.5, 1)


def test_perturb_zero_is_no_perturbation_and_025_changes_results_deterministically(
    baseline_json: dict[str, Any],
) -> None:
    zero = _cli_json(
        "evaluate", "--loans", str(LOANS), "--days", str(DAYS), "--perturb", "0", "--no-scorer", "--json"
    )
    assert _stable(zero) == _stable(baseline_json)
    a = _run(perturb=0.25).to_json()
    b = _run(perturb=0.25).to_json()
    assert _stable(a) == _stable(b)
    assert a["perturb"] == 0.25 and a["params_hash"] != baseline_json["params_hash"]
    assert (a["recovered"], a["complaints"], a["cost"]) != (
        baseline_json["recovered"],
        baseline_json["complaints"],
        baseline_json["cost"],
    )


def test_compare_pairs_seeds_with_a_t_interval() -> None:
    d = paired_difference([10, 20, 30], [12, 21, 35])  # differences 2, 1, 5: mean 8/3
    assert d.mean == pytest.approx(8 / 3)
    sd = (((2 - 8 / 3) ** 2 + (1 - 8 / 3) ** 2 + (5 - 8 / 3) ** 2) / 2) ** 0.5
    assert d.high == pytest.approx(8 / 3 + 4.3027 * sd / 3**0.5, rel=1e-4)
    assert t975(4) == pytest.approx(2.7764) and t975(60) == pytest.approx(2.0003, abs=1e-4)
    j = _cli_json(
        "compare",
        "baseline",
        "baseline",
        "--seeds",
        "2",
        "--loans",
        "800",
        "--days",
        "4",
        "--no-scorer",
        "--json",
    )
    assert j["seeds"] == [1, 2] and j["difference"] == "b - a"
    assert j["net"]["mean"] == 0 and j["net"]["ci95"] == [0, 0] and j["net"]["per_seed"] == [0, 0]
    assert [r["a"] == r["b"] for r in j["per_seed"]] == [True, True]


def test_bad_inputs_get_clear_errors(tmp_path: Path) -> None:
    res = CliRunner().invoke(_app(), ["evaluate", "--strategy", str(tmp_path / "missing.json"), "--json"])
    assert res.exit_code != 0 and "missing.json" in str(res.exception)
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({**BAD, "execution": {"hours": {"robot_call": [9, 25]}}}), "utf-8")
    res = CliRunner().invoke(_app(), ["evaluate", "--strategy", str(bad), "--json"])
    assert "execution.hours.robot_call" in str(res.exception)


def test_experiment_in_the_loop_gives_per_arm_results(tmp_path: Path, baseline_json: dict[str, Any]) -> None:
    # Without an experiment everyone is the champion: one arm whose figures are the run's.
    (only,) = baseline_json["arms"]
    assert only["arm"] == "champion" and only["accounts"] == baseline_json["accounts"]
    assert only["amount_per_account"] * only["accounts"] == pytest.approx(
        baseline_json["recovered"], rel=1e-6
    )
    # A/B of the same ladder under a different name: two arms by stable hash, their accounts and
    # collections add up to the run's, and every comparison carries an interval and a verdict.
    path = tmp_path / "exp.json"
    path.write_text(json.dumps({"name": "ab", "arms": [
        {"name": "champion", "strategy": "baseline", "share": 0.5},
        {"name": "challenger", "strategy": "baseline", "share": 0.5}]}), "utf-8")  # fmt: skip
    j = _cli_json("evaluate", "--experiment", str(path), "--loans", str(LOANS), "--days", str(DAYS),
                  "--seed", "1", "--no-scorer", "--json")  # fmt: skip
    arms = {a["arm"]: a for a in j["arms"]}
    assert set(arms) == {"champion", "challenger"}
    assert sum(a["accounts"] for a in arms.values()) == j["accounts"]
    assert 0.35 < arms["challenger"]["accounts"] / j["accounts"] < 0.65
    total = sum(a["amount_per_account"] * a["accounts"] for a in arms.values())
    assert total == pytest.approx(j["recovered"], rel=1e-6)
    (cmp,) = j["arm_comparison"]
    assert cmp["arm"] == "challenger" and cmp["net_diff_lo"] <= cmp["net_diff"] <= cmp["net_diff_hi"]
    assert cmp["verdict"] in {"better", "worse", "no significant difference", "fails"}
    assert j["violations"] == 0
