"""Strategies as versioned data: the decisions kernel on hand-made frames, validation messages that name
the node and field, the default ladder, messages and tasks from the decisions, and (acceptance) a new
strategy version saved as data changes the next day's decisions, which record that version."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.contact import templates
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import outbox_key
from recoup.db import session_scope
from recoup.errors import NotFoundError
from recoup.pii import cipher_from_settings
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy import flows, service
from recoup.strategy.defaults import DEFAULT_STRATEGY
from recoup.strategy.definition import StrategyError, load_strategy
from recoup.strategy.kernel import DECISION_SCHEMA, Plan, decide, prepare
from recoup.strategy.models import WorkTask

AS_OF = dt.date(2026, 11, 20)


def _by_loan(decisions: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["loan_id"]: r for r in decisions.iter_rows(named=True)}


# ------------------------------------------------------------------------------------------------ kernel


def test_kernel_first_match_wins_with_outputs_node_and_reasons() -> None:
    strategy = load_strategy(
        {
            "name": "t",
            "rows": [
                {
                    "id": "big",
                    "when": {"overdue_amount": {"ge": 100_000}},
                    "then": {"treatment": "agent_call", "queue": "late", "tone": "firm", "priority": 60},
                },
                {
                    "id": "early",
                    "when": {"segment": "轻度", "dpd": {"le": 3}},  # the Chinese segment name works too
                    "then": {"treatment": "sms", "template": "reminder", "tone": "soft", "priority": 10},
                },
                {
                    "id": "likely",
                    "when": {"score": {"ge": 0.6}},
                    "then": {"treatment": "email", "template": "reminder"},
                },
            ],
        },
        version=3,
    )
    frame = pl.DataFrame(
        {
            "loan_id": ["A", "B", "C", "D", "E"],
            "borrower_id": ["b1", "b2", "b3", "b4", "b5"],
            "segment": ["mild", "mild", "severe", "mild", "mild"],
            "dpd": [2, 2, 40, 9, 9],
            "overdue_amount": [5_000, 150_000, 20_000, 1_000, 1_000],
            "score": [None, 0.9, 0.7123, 0.2, None],
        }
    )
    out = decide(frame, Plan(champion=strategy), as_of=AS_OF)
    assert out.schema == pl.Schema(DECISION_SCHEMA)
    assert out.get_column("loan_id").to_list() == ["A", "B", "C", "D", "E"]  # input order kept
    d = _by_loan(out)
    # A: 5,000 < 100,000, so not "big"; mild with dpd 2 ≤ 3 → "early".
    assert (d["A"]["node"], d["A"]["treatment"], d["A"]["template"], d["A"]["tone"], d["A"]["priority"]) == (
        "early",
        "sms",
        "reminder",
        "soft",
        10,
    )
    assert d["A"]["reasons"] == "segment=mild, dpd=2 → row early"
    # B: 150,000 ≥ 100,000 → "big" comes first even though "early" also matches.
    assert (d["B"]["node"], d["B"]["treatment"], d["B"]["queue"], d["B"]["template"]) == (
        "big",
        "agent_call",
        "late",
        None,
    )
    assert d["B"]["reasons"] == "overdue_amount=150000 → row big"
    # C: severe, not big; score 0.7123 ≥ 0.6 → "likely" (priority defaults to 0; score shown to 3 places).
    assert (d["C"]["node"], d["C"]["treatment"], d["C"]["priority"]) == ("likely", "email", 0)
    assert d["C"]["reasons"] == "score=0.712 → row likely"
    # D: score 0.2 and E: score null match nothing → the default (no_action), node "default".
    for k in ("D", "E"):
        assert (d[k]["node"], d[k]["treatment"], d[k]["reasons"]) == (
            "default",
            "no_action",
            "no row matched → default",
        )
    assert set(out.get_column("strategy").to_list()) == {"t"}
    assert set(out.get_column("strategy_version").to_list()) == {3}
    assert set(out.get_column("arm").to_list()) == {"champion"}
    assert out.get_column("experiment").null_count() == 5
    assert not out.get_column("explored").any() and set(out.get_column("propensity").to_list()) == {1.0}
    assert set(out.get_column("as_of").to_list()) == {AS_OF}
    assert out.get_column("strategy_hash").n_unique() == 1


def test_prepare_derives_and_defaults_the_inputs() -> None:
    frame = pl.DataFrame(
        {"loan_id": [1, 2], "dpd": [7, 10], "bucket_since": [dt.date(2026, 11, 14), dt.date(2026, 11, 20)]}
    )
    out = prepare(frame, AS_OF)
    assert out.get_column("days_in_bucket").to_list() == [6, 0]  # 20 − 14, 20 − 20
    assert out.get_column("dpd_parity").to_list() == [1, 0]
    assert out.get_column("has_promise").to_list() == [False, False]
    assert out.get_column("customer_type").to_list() == ["individual", "individual"]
    assert out.get_column("last_outcome").null_count() == 2 and out.get_column("score").dtype == pl.Float64
    assert out.get_column("loan_id").to_list() == ["1", "2"]  # integer ids become text
    # A promise row never matches while promises are not fed (has_promise false).
    s = load_strategy(
        {
            "name": "p",
            "rows": [{"id": "wait", "when": {"has_promise": True}, "then": {"treatment": "no_action"}}],
        }
    )
    assert decide(frame, Plan(champion=s), as_of=AS_OF).get_column("node").to_list() == ["default", "default"]


def test_the_default_ladder_per_segment() -> None:
    strategy = load_strategy(DEFAULT_STRATEGY, version=1)
    cases = [
        # (segment, dpd, score, overdue, expected node, expected treatment)
        ("mild", 2, None, 50_000, "mild-sms", "sms"),
        ("mild", 8, None, 50_000, "mild-robot", "robot_call"),  # even day in 4–15
        ("mild", 9, None, 50_000, "mild-sms-alt", "sms"),  # odd day in 4–15
        ("mild", 9, 0.8, 50_000, "mild-sms-likely", "sms"),  # likely to self-cure
        ("mild", 20, 0.4, 50_000, "mild-plan", "plan_offer"),  # low self-cure: a plan
        ("mild", 20, None, 50_000, "mild-call", "agent_call"),
        ("mild", 25, None, 50_000, "notice-credit", "sms"),  # the notice before credit reporting
        ("severe", 12, 0.1, 50_000, "severe-early", "agent_call"),
        ("severe", 40, None, 50_000, "severe-call", "agent_call"),
        ("severe", 46, None, 600_000, "severe-visit", "field_visit"),
        ("severe", 46, None, 100_000, "severe-call", "agent_call"),  # too small for a visit
        ("severe", 61, None, 600_000, "severe-letter", "lawyer_letter"),
        ("severe", 80, None, 1_500_000, "severe-legal", "legal_review"),
        ("extremely_severe", 120, None, 6_000_000, "extreme-legal", "legal_review"),
        ("extremely_severe", 120, None, 300_000, "extreme-agency", "agency_placement"),
        ("current", 0, None, 0, "default", "no_action"),
    ]
    frame = pl.DataFrame(
        {
            "loan_id": [f"L{i}" for i in range(len(cases))],
            "segment": [c[0] for c in cases],
            "dpd": [c[1] for c in cases],
            "score": pl.Series([c[2] for c in cases], dtype=pl.Float64),
            "overdue_amount": [c[3] for c in cases],
        }
    )
    out = decide(frame, Plan(champion=strategy), as_of=AS_OF)
    got = list(zip(out.get_column("node").to_list(), out.get_column("treatment").to_list(), strict=True))
    assert got == [(c[4], c[5]) for c in cases]
    d = _by_loan(out)
    assert d["L6"]["required_notice"] and d["L6"]["template"] == "credit_notice"
    assert (d["L9"]["queue"], d["L11"]["queue"], d["L14"]["queue"]) == ("field", "legal", "agency")
    assert d["L1"]["reasons"] == "segment=mild, dpd=8, dpd_parity=0 → row mild-robot"
    # Mild gets reminders and plans; severe calls, visits, letters, legal; extremely severe agency or legal.
    by_segment = out.group_by("segment").agg(pl.col("treatment").unique())
    ladder = {r["segment"]: set(r["treatment"]) for r in by_segment.iter_rows(named=True)}
    assert ladder["mild"] == {"sms", "robot_call", "plan_offer", "agent_call"}
    assert ladder["severe"] == {"agent_call", "field_visit", "lawyer_letter", "legal_review"}
    assert ladder["extremely_severe"] == {"agency_placement", "legal_review"}


def test_two_broken_promises_escalate_and_a_stated_preference_is_honoured() -> None:
    strategy = load_strategy(DEFAULT_STRATEGY, version=1)
    frame = pl.DataFrame(
        {
            "loan_id": ["L0", "L1", "L2", "L3", "L4"],
            "segment": ["mild", "mild", "severe", "mild", "extremely_severe"],
            "dpd": [9, 9, 40, 9, 120],
            "overdue_amount": [50_000] * 5,
            "broken_promises": [2, 1, 3, 0, 2],
            "preferred_channel": [None, None, None, "email", None],
        }
    )
    out = decide(frame, Plan(champion=strategy), as_of=AS_OF)
    d = _by_loan(out)
    assert (d["L0"]["node"], d["L0"]["treatment"], d["L0"]["tone"]) == (
        "promise-escalate",
        "agent_call",
        "firm",
    )
    assert d["L0"]["queue"] == "escalation"
    assert d["L1"]["node"] == "mild-sms-alt"  # one broken promise: the ladder as usual
    assert d["L2"]["node"] == "promise-escalate"
    assert d["L3"]["node"] == "mild-email-pref" and d["L3"]["treatment"] == "email"
    assert d["L4"]["node"] != "promise-escalate"  # past 90 days the severe ladder (agency, legal) rules


# ------------------------------------------------------------------------------------------------ validation


def _default_with(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DEFAULT_STRATEGY)
    change(doc)
    return doc


def _row(doc: dict[str, Any], node: str) -> dict[str, Any]:
    return next(r for r in doc["rows"] if r["id"] == node)


def _problems(data: dict[str, Any], version: int | None = 3) -> list[dict[str, Any]]:
    with pytest.raises(StrategyError) as info:
        load_strategy(data, version=version)
    errors: list[dict[str, Any]] = info.value.details["errors"]
    return errors


def test_validation_names_the_node_and_the_field() -> None:
    doc = _default_with(lambda d: _row(d, "mild-sms")["then"].update(treatment="smss"))
    with pytest.raises(StrategyError) as info:
        load_strategy(doc, version=3)
    assert info.value.message.startswith(
        'strategy default v3, row "mild-sms": then.treatment: "smss" is not a treatment; one of sms, email'
    )
    assert info.value.code == "strategy.invalid" and info.value.exit_code == 65
    assert info.value.details["errors"] == [
        {"node": "mild-sms", "field": "then.treatment", "message": info.value.message}
    ]

    def many(d: dict[str, Any]) -> None:
        _row(d, "mild-sms")["when"]["dpd"] = {"gte": 1}  # an operator the evaluator does not know
        _row(d, "mild-robot")["when"]["dpd"] = {"between": [15, 4]}
        _row(d, "mild-call")["when"]["colour"] = "red"
        _row(d, "mild-plan")["then"].pop("queue")
        _row(d, "mild-sms-alt")["then"].update(tone="angry", template=None)
        _row(d, "severe-call")["when"]["segment"] = "mid"
        _row(d, "extreme-agency")["then"]["priority"] = "high"
        _row(d, "promise-wait")["required_notice"] = True  # a notice that contacts nobody
        d["rows"][2]["id"] = "mild-sms-likely"  # the same id as a later row
        d["rows"].append({"id": "default", "then": {"treatment": "no_action"}})

    found = {(e["node"], e["field"]): e["message"] for e in _problems(_default_with(many))}
    assert "a task treatment (plan_offer) needs a queue" in found[("mild-plan", "then.queue")]
    assert '"angry" is not a tone' in found[("mild-sms-alt", "then.tone")]
    assert "needs a template" in found[("mild-sms-alt", "then.template")]
    assert "unknown column" in found[("mild-call", "when.colour")]
    assert '"mid" is not a segment' in found[("severe-call", "when.segment")]
    assert "not an integer from 0 to 1000" in found[("extreme-agency", "then.priority")]
    assert "must contact the borrower" in found[("promise-wait", "required_notice")]
    assert "duplicate id" in found[("mild-sms-likely", "id")]
    assert "reserved" in found[("default", "id")]
    # The evaluator's own checks, re-worded with the strategy, node and field.
    assert found[("mild-sms", "when.dpd")] == (
        "strategy default v3, row \"mild-sms\": when.dpd: operator 'gte' unknown; "
        "allowed: eq, ne, lt, le, gt, ge, in, not_in, between, is_null"
    )
    assert "lo 15 > hi 4" in found[("mild-robot", "when.dpd")]


def test_validation_of_the_document_structure() -> None:
    errors = _problems(
        {"name": "x", "rows": [{"id": "a", "then": {"treatment": "sms", "template": "r"}}, {"then": {}}]}
    )
    assert [(e["node"], e["field"]) for e in errors] == [("#2", "id")]
    assert errors[0]["message"] == 'strategy x v3, row "#2": id: field required'
    errors = _problems(
        {"name": "x", "rows": [{"id": "a", "whn": {}, "then": {"treatment": "no_action"}}]}, None
    )
    assert errors[0]["message"].startswith('strategy x (draft), row "a": whn: extra inputs are not permitted')
    errors = _problems({"name": "x", "rows": [], "send_hour": 23})
    assert {e["field"] for e in errors} == {"rows", "send_hour"}
    errors = _problems(
        {"name": "x", "rows": [{"id": "a", "then": {"treatment": "sms", "template": "r"}}], "default": {}}
    )
    assert errors[0]["node"] == "default" and errors[0]["field"] == "then.treatment"


# ------------------------------------------------------------------------------------------------ service


def test_strategy_versions_in_the_configuration_store(session: Session) -> None:
    v1 = service.get_strategy(session=session)  # the shipped ladder, saved as v1 on first use
    assert (v1.name, v1.version) == ("default", 1)
    assert service.known_segments(session=session) == ["current", "extremely_severe", "mild", "severe"]
    doc = copy.deepcopy(DEFAULT_STRATEGY)
    _row(doc, "mild-sms")["then"]["treatment"] = "email"
    v2 = service.do_save_strategy({**doc, "version": 1, "hash": "ignored"}, session=session, created_by="t")
    assert v2.version == 2 and v2.hash != v1.hash
    assert service.do_save_strategy(doc, session=session).version == 2  # unchanged: no new version
    assert service.get_strategy(session=session).version == 2
    assert service.get_strategy(session=session, version=1).hash == v1.hash
    _row(doc, "mild-sms")["then"]["treatment"] = "smss"
    with pytest.raises(StrategyError, match=r'^strategy default v3, row "mild-sms": then\.treatment'):
        service.do_save_strategy(doc, session=session)
    gentle = {"name": "gentle", "rows": [{"id": "all", "then": {"treatment": "sms", "template": "reminder"}}]}
    assert service.do_save_strategy(gentle, session=session).label == "gentle v1"
    assert service.list_strategies(session=session) == [("default", 2, 2), ("gentle", 1, 1)]
    with pytest.raises(NotFoundError):
        service.get_strategy("nope", session=session)


# ---------------------------------------------------------------------------------------- messages, tasks


def _mirror(session: Session) -> None:
    """Three borrowers in the DB mirror: 张三 with a phone, 李四 with none, Ann (en) with phone and email."""
    people = [("B1", "张三", "zh_CN"), ("B2", "李四", None), ("B3", "Ann Lee", "en")]
    pk = {}
    for ext, name, locale in people:
        b = Borrower(external_id=ext, name=name, locale=locale, customer_type="individual")
        session.add(b)
        session.flush()
        pk[ext] = b.id
    session.add_all(
        [
            ContactPoint(
                external_id="CP1",
                borrower_id=pk["B1"],
                kind="phone",
                value="13812345678",
                role="self",
                consent_channels="sms,voice",
            ),
            ContactPoint(
                external_id="CP2",
                borrower_id=pk["B2"],
                kind="phone",
                value="13900000000",
                role="emergency_contact",
                consent_channels="voice",
            ),
            ContactPoint(
                external_id="CP3",
                borrower_id=pk["B3"],
                kind="phone",
                value="13700000000",
                role="self",
                consent_channels="voice",
            ),  # no consent to texts
            ContactPoint(
                external_id="CP4",
                borrower_id=pk["B3"],
                kind="email",
                value="ann@example.com",
                role="self",
                consent_channels="email",
            ),
        ]
    )
    for loan, b in (("L1", "B1"), ("L2", "B2"), ("L3", "B3"), ("L4", "B1"), ("L5", "B3")):
        session.add(
            CollectionAccount(
                external_id=loan,
                borrower_id=pk[b],
                product_code="P",
                product_type="installment",
                repayment_method="equal_installment",
                currency="CNY",
                principal=1_000_000,
                annual_rate_bp=1800,
                term_months=12,
                disbursement_date=dt.date(2026, 1, 1),
                loan_status="active",
                opened_on=AS_OF,
                as_of=AS_OF,
            )
        )
    session.flush()


def _day(strategy: Any, rows: list[tuple[str, str, str, int, int]], as_of: dt.date) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "loan_id": [r[0] for r in rows],
            "borrower_id": [r[1] for r in rows],
            "segment": [r[2] for r in rows],
            "dpd": [r[3] for r in rows],
            "overdue_amount": [r[4] for r in rows],
        }
    )
    return decide(frame, Plan(champion=strategy), as_of=as_of)


def _tasks(session: Session) -> dict[tuple[dt.date, str, str], WorkTask]:
    return {(t.as_of, t.debt_key, t.treatment): t for t in session.scalars(select(WorkTask))}


def test_messages_go_to_the_outbox_and_calls_become_tasks(session: Session, settings: Settings) -> None:
    _mirror(session)
    strategy = service.get_strategy(session=session)
    decisions = _day(
        strategy,
        [
            ("L1", "B1", "mild", 2, 123_456),  # sms to 张三
            ("L2", "B2", "mild", 2, 5_000),  # sms, but 李四 has no own phone → a task for a person
            ("L3", "B3", "mild", 20, 9_900),  # agent call → task in "early"
            ("L4", "B1", "extremely_severe", 200, 300_000),  # agency placement
            ("L5", "B3", "mild", 8, 1_000),  # robot call: Ann's phone consents to voice → en script
        ],
        AS_OF,
    )
    res = flows.do_act(decisions, Plan(champion=strategy), session=session, as_of=AS_OF, settings=settings)
    assert (res.messages, res.tasks, res.carried, res.cancelled) == (2, 3, 0, 0)
    assert res.to_people == {"no destination": 1}
    assert templates.active_template("reminder:sms:zh_CN", session=session) is not None
    msgs = {m.debt_key: m for m in session.scalars(select(OutboxMessage))}
    assert set(msgs) == {"L1", "L5"}
    sms = msgs["L1"]
    assert sms.key == outbox_key(AS_OF, "debt:L1", "mild-sms:sms")
    assert (sms.channel, sms.party, sms.locale, sms.borrower_key) == ("sms", "debtor", "zh_CN", "B1")
    assert (
        sms.body.startswith("【recoup 示例金融】张三您好")
        and "¥1,234.56" in sms.body
        and "逾期2天" in sms.body
    )
    link = sms.body.split("https://pay.recoup.local/p/")[1][:24]
    assert link == flows.payment_token("L1", cipher_from_settings(settings)) and "L1" not in link
    assert (
        sms.template == "reminder:sms:zh_CN@1" and sms.decision == "default v1 · node mild-sms · arm champion"
    )
    assert sms.due_at == dt.datetime(2026, 11, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    robot = msgs["L5"]
    assert (robot.channel, robot.locale) == ("robot_call", "en") and "Ann Lee" in robot.body
    tasks = _tasks(session)
    assert set(tasks) == {
        (AS_OF, "L2", "sms"),
        (AS_OF, "L3", "agent_call"),
        (AS_OF, "L4", "agency_placement"),
    }
    t2 = tasks[(AS_OF, "L2", "sms")]
    assert t2.queue == "contact_data" and t2.reason.startswith("no usable sms destination")
    t3 = tasks[(AS_OF, "L3", "agent_call")]
    assert (t3.queue, t3.tone, t3.priority, t3.node, t3.arm, t3.strategy, t3.strategy_version, t3.status) == (
        "early",
        "soft",
        40,
        "mild-call",
        "champion",
        "default",
        1,
        "open",
    )
    assert t3.reason == "segment=mild, dpd=20 → row mild-call"
    # A rerun of the day plans nothing twice.
    flows.do_act(decisions, Plan(champion=strategy), session=session, as_of=AS_OF, settings=settings)
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    assert session.scalar(select(func.count()).select_from(WorkTask)) == 3
    # The next day: the call is superseded; the placement (a state, not a day's work) is carried over.
    nxt = AS_OF + dt.timedelta(days=1)
    day2 = _day(
        strategy, [("L3", "B3", "mild", 21, 9_900), ("L4", "B1", "extremely_severe", 201, 300_000)], nxt
    )
    day2 = day2.with_columns(
        pl.when(pl.col("loan_id") == "L3")
        .then(pl.lit("plan_offer"))
        .otherwise("treatment")
        .alias("treatment")
    )
    res2 = flows.do_act(day2, Plan(champion=strategy), session=session, as_of=nxt, settings=settings)
    assert (res2.tasks, res2.carried, res2.cancelled) == (2, 1, 2)
    tasks = _tasks(session)
    assert tasks[(AS_OF, "L3", "agent_call")].status == "cancelled"
    assert tasks[(AS_OF, "L3", "agent_call")].status_reason == f"superseded by the decisions of {nxt}"
    assert tasks[(AS_OF, "L2", "sms")].status == "cancelled"  # L2 left collections
    assert tasks[(AS_OF, "L4", "agency_placement")].status == "open"
    assert (nxt, "L4", "agency_placement") not in tasks and tasks[(nxt, "L3", "plan_offer")].status == "open"


def test_a_rendering_the_linter_rejects_becomes_a_task(session: Session, settings: Settings) -> None:
    _mirror(session)
    unsigned = load_strategy({**copy.deepcopy(DEFAULT_STRATEGY), "signature": ""}, version=7)
    decisions = _day(unsigned, [("L1", "B1", "mild", 2, 123_456)], AS_OF)
    res = flows.do_act(decisions, Plan(champion=unsigned), session=session, as_of=AS_OF, settings=settings)
    assert res.messages == 0 and res.to_people == {"rendering rejected": 1}
    task = _tasks(session)[(AS_OF, "L1", "sms")]
    assert task.queue == "review" and "CN-SMS.signature" in task.reason and task.strategy_version == 7
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


# ------------------------------------------------------------------------------------------------ acceptance


def test_a_new_strategy_version_changes_tomorrows_decisions(own_engine: Engine, tmp_path: Path) -> None:
    """Acceptance: a strategy changed through its data (no code) changes the next day's decisions, and
    they record the new version; the earlier day keeps the version that decided it."""
    from recoup.config import load_settings
    from recoup.cycle.runner import Cycle
    from recoup.lake import Lake
    from recoup.lake.store import Outputs
    from recoup.portfolio.flows import import_dir
    from recoup.portfolio.synth import generate, write_extract

    extract = write_extract(generate(400, as_of=AS_OF, seed=11), tmp_path / "extract")
    lake = Lake(str(tmp_path / "lake"))
    with session_scope(own_engine) as s:
        import_dir(extract, as_of=AS_OF, settings=load_settings(data_dir=tmp_path), lake=lake, session=s)
    cycle = Cycle(engine=own_engine, lake=lake)
    first = cycle.run(AS_OF)
    step = next(x for x in first.steps if x.step == "decisions")
    assert step.status == "done" and "strategy default v1" in step.detail
    out = Outputs(lake)
    d1 = out.read("decisions", AS_OF)
    assert d1 is not None and set(d1.get_column("strategy_version").to_list()) == {1}
    daily = out.read("account_daily", AS_OF)
    assert daily is not None and d1.height == daily.filter(pl.col("in_collections")).height
    # The most common agent-call node becomes field visits in version 2.
    calls = d1.filter(pl.col("treatment") == "agent_call").group_by("node").len().sort("len", descending=True)
    node = calls.get_column("node")[0]
    doc = copy.deepcopy(DEFAULT_STRATEGY)
    _row(doc, node)["then"] = {"treatment": "field_visit", "tone": "firm", "queue": "field", "priority": 70}
    with session_scope(own_engine) as s:
        assert service.do_save_strategy(doc, session=s, created_by="test").version == 2
    nxt = AS_OF + dt.timedelta(days=1)
    cycle.run(nxt)
    d2 = out.read("decisions", nxt)
    assert d2 is not None and set(d2.get_column("strategy_version").to_list()) == {2}
    changed = d2.filter(pl.col("node") == node)
    assert changed.height > 0 and set(changed.get_column("treatment").to_list()) == {"field_visit"}
    # Other nodes decide as before; D keeps version 1 and its agent calls.
    assert d1.filter(pl.col("node") == node).get_column("treatment").unique().to_list() == ["agent_call"]
    d1_again = out.read("decisions", AS_OF)
    assert d1_again is not None and set(d1_again.get_column("strategy_version").to_list()) == {1}
    with session_scope(own_engine) as s:
        visits = s.scalars(
            select(WorkTask).where(WorkTask.as_of == nxt, WorkTask.treatment == "field_visit")
        ).all()
        assert len(visits) == changed.height
        assert {(t.strategy, t.strategy_version, t.node, t.queue) for t in visits} == {
            ("default", 2, node, "field")
        }
        old_calls = s.scalars(
            select(WorkTask).where(
                WorkTask.as_of == AS_OF, WorkTask.node == node, WorkTask.treatment == "agent_call"
            )
        ).all()
        assert old_calls and {t.status for t in old_calls} == {"cancelled"}
        n_msgs = s.scalar(select(func.count()).select_from(OutboxMessage))
        n_tasks = s.scalar(select(func.count()).select_from(WorkTask))
        msg = s.scalars(select(OutboxMessage).where(OutboxMessage.as_of == AS_OF)).first()
        assert msg is not None and msg.decision is not None and msg.decision.startswith("default v1 · node ")
    assert n_msgs and n_tasks
    # A forced rerun of the day plans nothing twice.
    cycle.run(nxt, force=True)
    with session_scope(own_engine) as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == n_msgs
        assert s.scalar(select(func.count()).select_from(WorkTask)) == n_tasks


def test_last_outcome_comes_from_the_latest_attempt() -> None:
    from recoup.strategy.kernel import last_outcomes

    at = [dt.datetime(2026, 11, 24, h, tzinfo=dt.UTC) for h in (1, 3, 2, 5)]
    attempts = pl.DataFrame(
        {
            "attempt_id": [1, 2, 3, 4],
            "loan_id": ["L1", "L1", "L1", None],
            "at": at,
            "outcome": ["conversation", "no_answer", "connected", "failed"],
        }
    )
    got = last_outcomes(attempts)
    assert got.to_dicts() == [{"loan_id": "L1", "last_outcome": "no_answer"}]  # 03:00 is the latest
