"""Collector KPIs and incentive pay (METRICS.md) on hand-made frames; every figure is worked out here."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoup.errors import RecoupError
from recoup.reporting import metrics
from recoup.reporting.metrics_people import (
    DEFAULT_INCENTIVE,
    KPI_COLUMNS,
    IncentiveRules,
    collections_per_head_by_bucket,
    collector_kpis,
    incentive_pay,
    load_incentive_rules,
)

START, END = date(2024, 3, 1), date(2024, 3, 31)


def d(month: int, day: int) -> date:
    return date(2024, month, day)


ATTEMPT_SCHEMA: dict[str, Any] = {
    "collector_id": pl.String,
    "case_id": pl.String,
    "at_date": pl.Date,
    "channel": pl.String,
    "outcome": pl.String,
    "right_party": pl.Boolean,
    "blocked": pl.Boolean,
}
PROMISE_SCHEMA: dict[str, Any] = {
    "promise_id": pl.String,
    "collector_id": pl.String,
    "made_on": pl.Date,
    "due_date": pl.Date,
    "status": pl.String,
    "amount": pl.Int64,
    "kept_amount": pl.Int64,
}
HELD_SCHEMA: dict[str, Any] = {"collector_id": pl.String, "case_id": pl.String, "allocated_amount": pl.Int64}
CREDITED_SCHEMA: dict[str, Any] = {
    "collector_id": pl.String,
    "bucket": pl.String,
    "amount": pl.Int64,
    "received_date": pl.Date,
}
COMPLAINT_SCHEMA: dict[str, Any] = {"collector_id": pl.String, "case_id": pl.String, "received_on": pl.Date}
QA_SCHEMA: dict[str, Any] = {"collector_id": pl.String, "severity": pl.String}


def frame(rows: list[tuple[Any, ...]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


# Held in March: A holds c1–c3 (400,000 allocated), B c4–c5 (500,000), C c6 (250,000); D holds nothing and
# appears only in the QA findings. 6 cases, 1,150,000 allocated in all.
HELD = frame(
    [
        ("A", "c1", 100_000),
        ("A", "c2", 200_000),
        ("A", "c3", 100_000),
        ("B", "c4", 300_000),
        ("B", "c5", 200_000),
        ("C", "c6", 250_000),
    ],
    HELD_SCHEMA,
)
ATTEMPTS = frame(
    [
        ("A", "c1", d(3, 2), "call", "conversation", True, False),  # rpc
        ("A", "c1", d(3, 3), "call", "no_answer", False, False),
        ("A", "c2", d(3, 5), "sms", "connected", False, False),
        ("A", "c2", d(3, 6), "call", "conversation", True, False),  # rpc
        ("A", "c2", d(3, 15), "call", "conversation", True, False),  # rpc
        ("A", "c1", d(2, 28), "call", "conversation", True, False),  # before the period
        ("A", "c3", d(3, 10), "portal", "connected", True, False),  # the borrower came to us: no attempt
        ("B", "c4", d(3, 4), "call", "conversation", True, False),  # rpc
        ("B", "c4", d(3, 4), "call", None, False, True),  # blocked by the contact policy
        ("B", "c5", d(3, 7), "call", None, False, True),  # blocked: c5 is not covered
    ],
    ATTEMPT_SCHEMA,
)
PROMISES = frame(
    [
        ("p1", "A", d(3, 2), d(3, 9), "kept", 50_000, 55_000),  # paid more than promised: counts 50,000
        ("p2", "A", d(3, 6), d(3, 13), "partially_kept", 40_000, 10_000),
        ("p3", "A", d(2, 20), d(3, 1), "broken", 30_000, 0),  # made in February, due in March
        ("p5", "A", d(3, 2), d(3, 9), "not_counted", 99_000, 0),  # a third party's promise: nowhere
        ("p6", "A", d(3, 3), d(3, 20), "rescheduled", 60_000, 0),  # made (counts), never due
        ("p7", "B", d(3, 4), d(4, 2), "pending", 25_000, 0),  # made in March, due in April
        ("p8", "C", d(3, 10), d(3, 17), "kept", 10_000, 10_000),  # made without an RPC in the log
    ],
    PROMISE_SCHEMA,
)
CREDITED = frame(
    [
        ("A", "M2", 100_000, d(3, 5)),
        ("A", "M2", 140_000, d(3, 20)),
        ("A", "M2", 999, d(2, 28)),  # before the period
        ("B", "M2", 100_000, d(3, 10)),
        ("C", "M3", 175_003, d(3, 15)),
    ],
    CREDITED_SCHEMA,
)
COMPLAINTS = frame(
    [("B", "c4", d(3, 15)), ("B", "c5", d(3, 20)), ("A", "c1", d(2, 10))],  # A's is before the period
    COMPLAINT_SCHEMA,
)
QA = frame([("A", "major"), ("A", "minor"), ("C", "red_line"), ("D", "minor")], QA_SCHEMA)


def kpis(**kw: Any) -> pl.DataFrame:
    return collector_kpis(ATTEMPTS, PROMISES, HELD, CREDITED, COMPLAINTS, QA, start=START, end=END, **kw)


def rows(out: pl.DataFrame, key: str = "collector_id") -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in out.iter_rows(named=True)}


# ------------------------------------------------------------------------------------------ collector KPIs


def test_collector_kpis_worked_example() -> None:
    out = kpis()
    assert out.columns == ["collector_id", *KPI_COLUMNS]
    assert out["collector_id"].to_list() == ["A", "B", "C", "D", None]  # total last
    floats = {"rpc_rate", "coverage", "promise_rate", "kept_rate", "kept_rate_amount", "fte"}
    floats |= {"recovery_rate", "complaints_per_10k"}
    assert {c: out.schema[c] for c in KPI_COLUMNS} == {
        c: pl.Float64 if c in floats else pl.Int64 for c in KPI_COLUMNS
    }
    r = rows(out)
    a, b, c, dd, total = r["A"], r["B"], r["C"], r["D"], r[None]

    # A: 5 attempts in March (the February one and the portal visit do not count), 3 reached A's debtor
    assert (a["attempts"], a["blocked_attempts"], a["rpc"]) == (5, 0, 3)
    assert a["rpc_rate"] == pytest.approx(3 / 5)
    # c1 and c2 attempted, c3 only saw a portal visit → 2 of 3
    assert (a["cases_held"], a["cases_covered"], a["coverage"]) == (3, 2, pytest.approx(2 / 3))
    # made in March: p1, p2, p6 (p3 made in February, p5 a third party's) → 3 ÷ 3 RPC
    assert (a["promises_made"], a["promise_rate"]) == (3, 1.0)
    # due in March and judged: p1 kept, p2 partly, p3 broken (p6 rescheduled, p5 not counted)
    assert (a["promises_due"], a["promises_kept"]) == (3, 1)
    assert a["kept_rate"] == pytest.approx(1 / 3)
    # by amount: min(55,000, 50,000) + 10,000 + 0 = 60,000 of 50,000 + 40,000 + 30,000 = 120,000
    assert (a["promised_amount_due"], a["kept_amount_due"], a["kept_rate_amount"]) == (120_000, 60_000, 0.5)
    # 100,000 + 140,000 in March ÷ 400,000 allocated
    assert (a["collected"], a["allocated_amount"], a["recovery_rate"]) == (240_000, 400_000, 0.6)
    assert (a["fte"], a["collections_per_head"]) == (1.0, 240_000)
    assert (a["complaints"], a["complaints_per_10k"]) == (0, 0.0)  # the February complaint is outside
    assert (a["qa_findings"], a["qa_major"]) == (2, 1)

    # B: one call reached the debtor, two were blocked (not attempts, and they cover nothing)
    assert (b["attempts"], b["blocked_attempts"], b["rpc"], b["rpc_rate"]) == (1, 2, 1, 1.0)
    assert (b["cases_held"], b["cases_covered"], b["coverage"]) == (2, 1, 0.5)
    assert (b["promises_made"], b["promise_rate"]) == (1, 1.0)
    assert (b["promises_due"], b["kept_rate"], b["kept_rate_amount"]) == (0, None, None)  # p7 due in April
    assert (b["collected"], b["recovery_rate"]) == (100_000, pytest.approx(100_000 / 500_000))
    assert (b["complaints"], b["complaints_per_10k"]) == (2, 10_000.0)  # 2 ÷ 2 cases × 10,000
    assert (b["qa_findings"], b["qa_major"]) == (0, 0)

    # C: no attempts at all — zero counts, rpc rate undefined, coverage 0 of 1
    assert (c["attempts"], c["blocked_attempts"], c["rpc"], c["rpc_rate"]) == (0, 0, 0, None)
    assert (c["cases_covered"], c["coverage"]) == (0, 0.0)
    assert (c["promises_made"], c["promise_rate"]) == (1, None)  # no RPC to divide by
    assert (c["promises_due"], c["promises_kept"], c["kept_rate"], c["kept_rate_amount"]) == (1, 1, 1.0, 1.0)
    assert (c["collected"], c["recovery_rate"]) == (175_003, pytest.approx(175_003 / 250_000))
    assert (c["qa_findings"], c["qa_major"]) == (1, 1)  # red_line counts as major

    # D: only a QA finding — a row of zeros, every rate over held cases undefined
    assert dd["attempts"] == dd["cases_held"] == dd["collected"] == dd["complaints"] == 0
    assert (dd["coverage"], dd["recovery_rate"], dd["complaints_per_10k"]) == (None, None, None)
    assert (dd["collections_per_head"], dd["qa_findings"], dd["qa_major"]) == (0, 1, 0)

    # Overall: pooled counts, not a mean of the collectors' rates
    assert (total["attempts"], total["blocked_attempts"], total["rpc"]) == (6, 2, 4)
    assert total["rpc_rate"] == pytest.approx(4 / 6)  # the mean of A's and B's rates would be 0.8
    assert total["coverage"] == 0.5  # 3 of 6 cases; the mean of 2/3, 1/2, 0 would be 0.389
    assert (total["promises_made"], total["promise_rate"]) == (5, 1.25)
    assert (total["promises_due"], total["promises_kept"], total["kept_rate"]) == (4, 2, 0.5)
    assert total["kept_rate_amount"] == pytest.approx(70_000 / 130_000)
    assert (total["collected"], total["allocated_amount"]) == (515_003, 1_150_000)
    assert total["recovery_rate"] == pytest.approx(515_003 / 1_150_000)  # not (0.6+0.2+0.700012)/3
    assert total["fte"] == 4.0
    assert total["collections_per_head"] == 128_751  # 515,003 ÷ 4 = 128,750.75, rounded half up
    assert total["complaints_per_10k"] == pytest.approx(2 / 6 * 10_000)
    assert (total["qa_findings"], total["qa_major"]) == (4, 2)


def test_without_total_and_with_fte() -> None:
    fte = pl.DataFrame({"collector_id": ["A", "B", "C", "D"], "fte": [0.8, 1.0, 0.5, 0.0]})
    out = kpis(fte=fte, with_total=False)
    assert out["collector_id"].to_list() == ["A", "B", "C", "D"]
    r = rows(out)
    assert r["A"]["collections_per_head"] == 300_000  # 240,000 ÷ 0.8
    assert r["B"]["collections_per_head"] == 100_000
    assert r["C"]["collections_per_head"] == 350_006  # 175,003 ÷ 0.5
    assert r["D"]["collections_per_head"] is None  # FTE 0
    pooled = kpis(fte=fte).filter(pl.col("collector_id").is_null()).row(0, named=True)
    assert pooled["fte"] == pytest.approx(2.3)
    assert pooled["collections_per_head"] == 223_914  # 515,003 ÷ 2.3 = 223,914.35


def test_fte_must_cover_every_collector() -> None:
    fte = pl.DataFrame({"collector_id": ["A", "B", "C"], "fte": [1.0, 1.0, 1.0]})
    with pytest.raises(metrics.MetricsError, match=r"D.*/ 人力表缺少") as info:
        kpis(fte=fte)
    assert isinstance(info.value, RecoupError)
    assert info.value.envelope()["error"]["code"] == "reporting.metrics"
    # a collector only in the FTE frame gets a row of zeros
    fte = pl.DataFrame({"collector_id": ["A", "B", "C", "D", "E"], "fte": [1.0] * 5})
    e = rows(kpis(fte=fte))["E"]
    assert (e["attempts"], e["collected"], e["collections_per_head"], e["fte"]) == (0, 0, 0, 1.0)


def test_group_by_team_pools_its_collectors() -> None:
    team = {"A": "t1", "B": "t1", "C": "t2", "D": "t2"}

    def with_team(f: pl.DataFrame) -> pl.DataFrame:
        return f.with_columns(team=pl.col("collector_id").replace_strict(team))

    out = collector_kpis(
        *(with_team(f) for f in (ATTEMPTS, PROMISES, HELD, CREDITED, COMPLAINTS, QA)),
        start=START,
        end=END,
        by=["team"],
    )
    assert out.columns == ["team", *KPI_COLUMNS]
    r = rows(out, "team")
    # t1 = A + B: 6 attempts, 4 RPC; cases 5, covered 3; collected 340,000 of 900,000; 2 FTE
    assert (r["t1"]["attempts"], r["t1"]["rpc"], r["t1"]["rpc_rate"]) == (6, 4, pytest.approx(4 / 6))
    assert (r["t1"]["cases_held"], r["t1"]["cases_covered"], r["t1"]["coverage"]) == (5, 3, 0.6)
    assert r["t1"]["recovery_rate"] == pytest.approx(340_000 / 900_000)
    assert (r["t1"]["fte"], r["t1"]["collections_per_head"]) == (2.0, 170_000)
    # t2 = C + D: 2 FTE (D counts though it has only a QA finding)
    assert (r["t2"]["fte"], r["t2"]["collections_per_head"]) == (2.0, 87_502)  # 175,003 ÷ 2 = 87,501.5
    assert r[None]["collected"] == 515_003


def test_qa_found_on_filters_to_the_period() -> None:
    qa = QA.with_columns(found_on=pl.Series([d(3, 1), d(2, 29), d(3, 31), d(4, 1)]))
    r = rows(collector_kpis(ATTEMPTS, PROMISES, HELD, CREDITED, COMPLAINTS, qa, start=START, end=END))
    assert (r["A"]["qa_findings"], r["A"]["qa_major"]) == (1, 1)  # the minor one was in February
    assert (r["C"]["qa_findings"], r["D"]["qa_findings"]) == (1, 0)  # D's was in April; D still has a row


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: {"held": HELD.drop("allocated_amount")}, r"held cases lacks column.*/ 在手案件表缺少列"),
        (
            lambda f: {"credited": CREDITED.with_columns(pl.col("amount").cast(pl.Float64))},
            r"must be integer minor units.*/ .*必须是整数",
        ),
        (
            lambda f: {"attempts": ATTEMPTS.with_columns(blocked=pl.lit(None, dtype=pl.Boolean))},
            r"nulls.*/ .*含空值",
        ),
        (lambda f: {"held": pl.concat([HELD, HELD.head(1)])}, r"more than one row.*/ .*有重复行"),
        (
            lambda f: {"promises": PROMISES.with_columns(status=pl.lit("lost"))},
            r"unknown status.*/ .*未知状态",
        ),
        (lambda f: {"promises": PROMISES.with_columns(amount=pl.lit(0, pl.Int64))}, r"positive / .*大于 0"),
        (
            lambda f: {"held": HELD.with_columns(collector_id=pl.lit(1, pl.Int64))},
            r"different types.*/ .*类型不一致",
        ),
        (
            lambda f: {"complaints": COMPLAINTS.with_columns(pl.col("received_on").cast(pl.String))},
            r"must be Date.*/ .*Date 类型",
        ),
        (
            lambda f: {"attempts": ATTEMPTS.with_columns(pl.col("blocked").cast(pl.Int64))},
            r"must be Boolean.*/ .*Boolean 类型",
        ),
    ],
)
def test_bad_input_is_a_bilingual_metrics_error(change: Any, match: str) -> None:
    frames = {
        "attempts": ATTEMPTS,
        "promises": PROMISES,
        "held": HELD,
        "credited": CREDITED,
        "complaints": COMPLAINTS,
        "qa_findings": QA,
    }
    frames.update(change(frames))
    with pytest.raises(metrics.MetricsError, match=match):
        collector_kpis(**frames, start=START, end=END)


def test_period_and_by_are_checked() -> None:
    with pytest.raises(metrics.MetricsError, match=r"is after end .* / 开始日期"):
        collector_kpis(ATTEMPTS, PROMISES, HELD, CREDITED, COMPLAINTS, QA, start=END, end=START)
    with pytest.raises(metrics.MetricsError, match="distinct columns"):
        kpis(by=())


def test_empty_inputs_give_an_overall_row_of_zeros() -> None:
    empty = [
        frame([], s)
        for s in (ATTEMPT_SCHEMA, PROMISE_SCHEMA, HELD_SCHEMA, CREDITED_SCHEMA, COMPLAINT_SCHEMA, QA_SCHEMA)
    ]
    out = collector_kpis(*empty, start=START, end=END)
    assert out.height == 1
    row = out.row(0, named=True)
    assert row["collector_id"] is None and row["attempts"] == 0 and row["rpc_rate"] is None
    assert row["collections_per_head"] is None  # no FTE at all


# ------------------------------------------------------------------------------------- per head by bucket


def test_collections_per_head_by_bucket() -> None:
    credited = pl.concat([CREDITED, frame([("E", "M3", 50_000, d(3, 12))], CREDITED_SCHEMA)])
    out = collections_per_head_by_bucket(credited, None, start=START, end=END)
    assert out.columns == [
        "bucket",
        "collector_id",
        "collected",
        "fte",
        "collections_per_head",
        "rank",
        "index",
        "bucket_collectors",
        "bucket_per_head",
    ]
    assert out.select("bucket", "collector_id", "rank").rows() == [
        ("M2", "A", 1),
        ("M2", "B", 2),
        ("M3", "C", 1),
        ("M3", "E", 2),
    ]
    r = {(x["bucket"], x["collector_id"]): x for x in out.iter_rows(named=True)}
    # M2: A 240,000 and B 100,000 → 340,000 ÷ 2 = 170,000 per head
    assert r["M2", "A"]["collections_per_head"] == 240_000
    assert r["M2", "A"]["bucket_per_head"] == 170_000
    assert r["M2", "A"]["index"] == pytest.approx(240_000 / 170_000)
    assert r["M2", "B"]["index"] == pytest.approx(100_000 / 170_000)
    # M3: C 175,003 and E 50,000 → 225,003 ÷ 2 = 112,501.5, shown 112,502; C is not compared with A
    assert r["M3", "C"]["bucket_per_head"] == 112_502
    assert r["M3", "C"]["index"] == pytest.approx(175_003 / 112_501.5)
    assert r["M3", "E"]["bucket_collectors"] == 2


def test_per_head_by_bucket_with_fte_per_bucket_and_ties() -> None:
    fte = pl.DataFrame(
        {
            "bucket": ["M2", "M2", "M2", "M3"],
            "collector_id": ["A", "B", "Z", "C"],
            "fte": [0.8, 1.0, 1.0, 0.5],
        }
    )
    out = collections_per_head_by_bucket(CREDITED, fte, start=START, end=END)
    r = {(x["bucket"], x["collector_id"]): x for x in out.iter_rows(named=True)}
    assert r["M2", "A"]["collections_per_head"] == 300_000  # 240,000 ÷ 0.8
    assert r["M2", "Z"]["collected"] == 0 and r["M2", "Z"]["rank"] == 3  # on the roster, nothing credited
    # pooled: 340,000 ÷ 2.8 = 121,428.57
    assert r["M2", "B"]["bucket_per_head"] == 121_429
    assert r["M2", "A"]["index"] == pytest.approx(300_000 / (340_000 / 2.8))
    assert r["M3", "C"]["collections_per_head"] == 350_006
    # equal per head share the best rank; the next is 3
    tied = frame(
        [("A", "M2", 100, d(3, 1)), ("B", "M2", 100, d(3, 2)), ("C", "M2", 50, d(3, 3))], CREDITED_SCHEMA
    )
    out = collections_per_head_by_bucket(tied, None, start=START, end=END)
    assert out.select("collector_id", "rank").rows() == [("A", 1), ("B", 1), ("C", 3)]
    with pytest.raises(metrics.MetricsError, match="no row for"):
        collections_per_head_by_bucket(
            CREDITED, fte.filter(pl.col("collector_id") != "C"), start=START, end=END
        )


# ------------------------------------------------------------------------------------------ incentive pay

RULES = IncentiveRules.model_validate(
    {
        "name": "test",
        "version": 3,
        "base_bp": 150,
        "tiers": [
            {"min_recovery_rate": 0.8, "bonus_bp": 300},  # given out of order: kept sorted
            {"min_recovery_rate": 0.5, "bonus_bp": 100},
            {"min_recovery_rate": 0.6, "bonus_bp": 200},
        ],
        "max_complaints_per_10k": 50.0,
        "qa_major_penalty_bp": 25,
    }
)


def test_incentive_pay_from_the_kpis() -> None:
    assert [t.min_recovery_rate for t in RULES.tiers] == [0.5, 0.6, 0.8]
    out = incentive_pay(kpis(), RULES)  # the overall row is dropped
    assert out.columns == [
        "collector_id",
        "collected",
        "tier",
        "base_pay",
        "bonus_pay",
        "penalty",
        "pay",
        "reason",
        "rules",
    ]
    assert all(
        out.schema[c] == pl.Int64 for c in ("collected", "tier", "base_pay", "bonus_pay", "penalty", "pay")
    )
    got = {r[0]: r[1:] for r in out.drop("rules").rows()}
    # A: recovery exactly 0.6 meets tier 2; 240,000 × 150 bp = 3,600; × 200 bp = 4,800; 1 major × 25 bp = 600
    assert got["A"] == (240_000, 2, 3_600, 4_800, 600, 7_800, "tier:2")
    # B: 2 complaints on 2 cases = 10,000 per 10k > 50 → vetoed; the components still shown
    assert got["B"] == (100_000, 0, 1_500, 0, 0, 0, "veto:complaints")
    # C: 175,003 × 150 / 10,000 = 2,625.045 → 2,625; × 200 → 3,500.06 → 3,500;
    #    penalty 175,003 × 25 / 10,000 = 437.5075 → 437 (rounded down, not half up to 438)
    assert got["C"] == (175_003, 2, 2_625, 3_500, 437, 5_688, "tier:2")
    # D: nothing collected, no recovery rate (nothing held), no complaints rate → no veto
    assert got["D"] == (0, 0, 0, 0, 0, 0, "base")
    assert set(out["rules"]) == {"test@v3"}


def test_incentive_edges() -> None:
    k = pl.DataFrame(
        {
            "collector_id": ["E", "F", "G", "H", "I"],
            "collected": [10_000, 100_000, -5_000, 100_000, 9_999],
            "recovery_rate": [0.1, 0.5999999, 0.9, 0.8, None],
            "complaints_per_10k": [0.0, 50.0, 0.0, 50.000001, None],
            "qa_major": [10, 0, 3, 0, 0],
        },
        schema_overrides={"collected": pl.Int64, "qa_major": pl.Int64},
    )
    got = {r[0]: r[1:] for r in incentive_pay(k, RULES).drop("rules").rows()}
    # E: base 150, penalty 10 × 25 bp of 10,000 = 250 > 150 → floored at 0
    assert got["E"] == (10_000, 0, 150, 0, 250, 0, "floor:qa_penalty")
    # F: just below 0.6 → tier 1 (100 bp); exactly at the complaints threshold → not vetoed
    assert got["F"] == (100_000, 1, 1_500, 1_000, 0, 2_500, "tier:1")
    # G: net reversals earn nothing
    assert got["G"] == (-5_000, 3, 0, 0, 0, 0, "tier:3")
    # H: just above the threshold → vetoed although tier 3 is met
    assert got["H"] == (100_000, 3, 1_500, 3_000, 0, 0, "veto:complaints")
    # I: 9,999 × 150 / 10,000 = 149.985 → 149
    assert got["I"] == (9_999, 0, 149, 0, 0, 149, "base")
    no_veto = RULES.model_copy(update={"max_complaints_per_10k": None})
    assert incentive_pay(k, no_veto).filter(pl.col("collector_id") == "H")["pay"].item() == 4_500


def test_incentive_rules_are_validated_data() -> None:
    assert DEFAULT_INCENTIVE.version == 1 and DEFAULT_INCENTIVE.base_bp == 100
    assert [t.min_recovery_rate for t in DEFAULT_INCENTIVE.tiers] == [0.4, 0.6, 0.7]
    assert load_incentive_rules(DEFAULT_INCENTIVE.model_dump()) == DEFAULT_INCENTIVE
    bad = {**DEFAULT_INCENTIVE.model_dump(), "tiers": [{"min_recovery_rate": 0.5, "bonus_bp": 1}] * 2}
    with pytest.raises(metrics.MetricsError, match=r"share a min_recovery_rate.*/ 激励规则无效"):
        load_incentive_rules(bad)
    with pytest.raises(metrics.MetricsError, match="base_bp"):
        load_incentive_rules({**DEFAULT_INCENTIVE.model_dump(), "base_bp": -1})
    with pytest.raises(metrics.MetricsError, match="one row for"):
        incentive_pay(pl.concat([kpis(with_total=False)] * 2), DEFAULT_INCENTIVE)
    with pytest.raises(metrics.MetricsError, match=r"lacks column.*recovery_rate"):
        incentive_pay(kpis().drop("recovery_rate"), DEFAULT_INCENTIVE)


# ------------------------------------------------------------------------------------------------ property

WHO = st.sampled_from(["A", "B", "C"])
CASE = st.sampled_from(["c1", "c2", "c3", "c4"])
DAY = st.dates(min_value=date(2024, 2, 20), max_value=date(2024, 4, 10))
STATUS = st.sampled_from(["pending", "kept", "partially_kept", "broken", "rescheduled", "not_counted"])


@st.composite
def books(draw: st.DrawFn) -> tuple[pl.DataFrame, ...]:
    attempts = draw(
        st.lists(
            st.tuples(
                WHO,
                CASE,
                DAY,
                st.sampled_from(["call", "sms", "portal"]),
                st.none(),
                st.booleans(),
                st.booleans(),
            ),
            max_size=25,
        )
    )
    held = draw(st.dictionaries(st.tuples(WHO, CASE), st.integers(0, 10**7), max_size=8))
    promises = [
        (f"p{i}", who, made, due, status, amount, kept)
        for i, (who, made, due, status, amount, kept) in enumerate(
            draw(st.lists(st.tuples(WHO, DAY, DAY, STATUS, st.integers(1, 10**6), st.integers(0, 2 * 10**6))))
        )
    ]
    credited = draw(st.lists(st.tuples(WHO, st.just("M2"), st.integers(-(10**4), 10**7), DAY), max_size=10))
    complaints = draw(st.lists(st.tuples(WHO, CASE, DAY), max_size=5))
    qa = draw(
        st.lists(st.tuples(WHO, st.sampled_from(["minor", "major", "critical", "red_line"])), max_size=5)
    )
    return (
        frame(attempts, ATTEMPT_SCHEMA),
        frame(promises, PROMISE_SCHEMA),
        frame([(*k, v) for k, v in held.items()], HELD_SCHEMA),
        frame(credited, CREDITED_SCHEMA),
        frame(complaints, COMPLAINT_SCHEMA),
        frame(qa, QA_SCHEMA),
    )


RULE_SETS = st.builds(
    lambda base, tiers, cap, pen: IncentiveRules.model_validate(
        {
            "name": "p",
            "version": 1,
            "base_bp": base,
            "tiers": [{"min_recovery_rate": r, "bonus_bp": b} for r, b in tiers.items()],
            "max_complaints_per_10k": cap,
            "qa_major_penalty_bp": pen,
        }
    ),
    st.integers(0, 10_000),
    st.dictionaries(st.floats(0, 2), st.integers(0, 10_000), max_size=4),
    st.none() | st.floats(0, 20_000),
    st.integers(0, 10_000),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(), rules=RULE_SETS)
def test_property_rates_bounded_pay_non_negative_veto_zero(
    book: tuple[pl.DataFrame, ...], rules: IncentiveRules
) -> None:
    out = collector_kpis(*book, start=START, end=END)
    for c in ("rpc_rate", "coverage", "kept_rate", "kept_rate_amount"):
        values = out[c].drop_nulls()
        assert ((values >= 0) & (values <= 1)).all(), c
    groups, total = (
        out.filter(pl.col("collector_id").is_not_null()),
        out.filter(pl.col("collector_id").is_null()),
    )
    for c in ("attempts", "rpc", "cases_held", "promises_made", "collected", "complaints", "qa_major"):
        assert total[c].item() == groups[c].sum()  # pooled
    assert (out["rpc"] <= out["attempts"]).all() and (out["cases_covered"] <= out["cases_held"]).all()

    pay = incentive_pay(out, rules).join(
        groups.select("collector_id", "complaints_per_10k"), on="collector_id"
    )
    assert pay.height == groups.height
    assert (pay["pay"] >= 0).all()
    vetoed = pay.filter(pl.col("reason") == "veto:complaints")
    assert (vetoed["pay"] == 0).all()
    if rules.max_complaints_per_10k is None:
        assert vetoed.is_empty()
    else:
        over = pay.filter(pl.col("complaints_per_10k") > rules.max_complaints_per_10k)
        assert set(over["collector_id"]) == set(vetoed["collector_id"])
    assert (pay["pay"] <= pay["base_pay"] + pay["bonus_pay"]).all()
