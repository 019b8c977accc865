"""Payment credit (回款归属): each rule and their combination worked by hand, reversals, the sum invariant
as a property, and bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoup.cases.credit import (
    ASSISTS_SCHEMA,
    CREDIT_SCHEMA,
    HOLDINGS_SCHEMA,
    PAYMENTS_SCHEMA,
    PROMISES_SCHEMA,
    REASONS,
    CreditInputError,
    CreditRules,
    credit_payments,
)
from recoup.errors import RecoupError


def d(day: int, month: int = 3) -> dt.date:
    return dt.date(2024, month, day)


def pay(pid: str, case: int, day: dt.date, amount: int, reverses: str | None = None) -> dict[str, Any]:
    return {"payment_id": pid, "case_id": case, "received_date": day, "amount": amount, "reverses": reverses}


def hold(case: int, holder: int, kind: str, start: dt.date, end: dt.date | None) -> dict[str, Any]:
    return {"case_id": case, "holder_id": holder, "holder_kind": kind, "start_date": start, "end_date": end}


def prom(
    case: int, pid: str, by: int, made: dt.date, due: dt.date, status: str = "pending"
) -> dict[str, Any]:
    return {
        "case_id": case,
        "promise_id": pid,
        "made_by_holder": by,
        "made_on": made,
        "due_date": due,
        "status": status,
    }


def assist(
    case: int,
    helper: int,
    start: dt.date,
    end: dt.date | None,
    result: str = "success",
    kind: str = "collector",
) -> dict[str, Any]:
    return {
        "case_id": case,
        "helper_id": helper,
        "helper_kind": kind,
        "start_date": start,
        "end_date": end,
        "result": result,
    }


def frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema)


# Case 1: collector 10 holds 1–10 March (end exclusive: until the 11th), collector 20 from the 11th on.
# Case 2: agency 500 holds 1–20 March, then nobody (recalled).
# Case 4: collector 7 holds until the 10th, then agency 7 (the same number, another kind of party).
HOLDINGS = [
    hold(1, 10, "collector", d(1), d(11)),
    hold(1, 20, "collector", d(11), None),
    hold(2, 500, "agency", d(1), d(21)),
    hold(4, 7, "collector", d(1), d(10)),
    hold(4, 7, "agency", d(10), None),
]


def credit(
    payments: list[dict[str, Any]],
    holdings: list[dict[str, Any]] | None = None,
    promises: list[dict[str, Any]] | None = None,
    assists: list[dict[str, Any]] | None = None,
    rules: CreditRules | None = None,
) -> pl.DataFrame:
    out = credit_payments(
        frame(payments, PAYMENTS_SCHEMA),
        frame(HOLDINGS if holdings is None else holdings, HOLDINGS_SCHEMA),
        frame(promises or [], PROMISES_SCHEMA),
        frame(assists or [], ASSISTS_SCHEMA),
        **({"rules": rules} if rules is not None else {}),
    )
    assert out.schema == pl.Schema(CREDIT_SCHEMA)
    return out


def rows(out: pl.DataFrame) -> list[tuple[Any, ...]]:
    """(payment_id, credited_id, credited_kind, amount, reason) in output order."""
    return list(out.select("payment_id", "credited_id", "credited_kind", "amount", "reason").iter_rows())


# ------------------------------------------------------------------------------------------------ rule 1


def test_holder_on_the_received_date() -> None:
    out = credit(
        [
            pay("a", 1, d(5), 10_000),
            pay("b", 1, d(10), 2_000),  # last day of collector 10
            pay("c", 1, d(11), 3_000),  # first day of collector 20 (10's holding ends exclusive on the 11th)
            pay("e", 2, d(20), 400),
        ]
    )
    assert rows(out) == [
        ("a", 10, "collector", 10_000, "holder"),
        ("b", 10, "collector", 2_000, "holder"),
        ("c", 20, "collector", 3_000, "holder"),
        ("e", 500, "agency", 400, "holder"),
    ]
    assert out["case_id"].to_list() == [1, 1, 1, 2]
    assert out["received_date"].to_list() == [d(5), d(10), d(11), d(20)]


def test_unheld() -> None:
    out = credit(
        [
            pay("before", 1, d(20, 2), 100),  # before anyone held case 1
            pay("recalled", 2, d(21), 200),  # agency 500's holding ended on the 21st (exclusive)
            pay("never", 3, d(5), 300),  # case 3 has no holdings at all
        ]
    )
    assert rows(out) == [
        ("before", None, None, 100, "unheld"),
        ("recalled", None, None, 200, "unheld"),
        ("never", None, None, 300, "unheld"),
    ]


# ------------------------------------------------------------------------------------------------ rule 2


def test_promise_credit_survives_reassignment() -> None:
    # Collector 10 takes a promise on the 8th, due the 12th; the case moves to collector 20 on the 11th.
    # The window is 8th … 12th + 7 days = 19th.
    promises = [prom(1, "p1", 10, d(8), d(12))]
    out = credit(
        [
            pay("before_made", 1, d(7), 100),  # before the promise: plain holder (10 anyway)
            pay("still_10", 1, d(9), 200),  # 10 still holds: holder, not promise
            pay("after_move", 1, d(12), 300),  # 20 holds, in the window → 10 by promise
            pay("grace_end", 1, d(19), 400),  # due + 7: still in the window
            pay("too_late", 1, d(20), 500),  # due + 8: 20 by holding
        ],
        promises=promises,
    )
    assert rows(out) == [
        ("before_made", 10, "collector", 100, "holder"),
        ("still_10", 10, "collector", 200, "holder"),
        ("after_move", 10, "collector", 300, "promise"),
        ("grace_end", 10, "collector", 400, "promise"),
        ("too_late", 20, "collector", 500, "holder"),
    ]
    # A shorter grace moves the 19th back to the holder.
    short = credit(
        [pay("grace_end", 1, d(19), 400)], promises=promises, rules=CreditRules(promise_credit_days=6)
    )
    assert rows(short) == [("grace_end", 20, "collector", 400, "holder")]


def test_promise_credit_when_the_case_is_recalled() -> None:
    # Agency 500 takes a promise on the 15th due the 22nd; the case is recalled on the 21st (unheld).
    out = credit([pay("x", 2, d(25), 900)], promises=[prom(2, "p", 500, d(15), d(22), "broken")])
    assert rows(out) == [("x", 500, "agency", 900, "promise")]


def test_latest_covering_promise_counts() -> None:
    # 10's promise (8th, due 12th → window to the 19th) and 20's own promise on the 12th: a payment on the
    # 14th is covered by both; the latest is 20's and 20 holds the case, so plain holder credit.
    promises = [prom(1, "p1", 10, d(8), d(12)), prom(1, "p2", 20, d(12), d(20))]
    out = credit([pay("x", 1, d(14), 100), pay("y", 1, d(11), 50)], promises=promises)
    # On the 11th only p1 covers (p2 is made on the 12th): promise credit to 10.
    assert rows(out) == [("x", 20, "collector", 100, "holder"), ("y", 10, "collector", 50, "promise")]


def test_promises_that_give_no_credit() -> None:
    out = credit(
        [pay("x", 1, d(14), 100)],
        promises=[
            prom(1, "r", 10, d(8), d(12), "rescheduled"),  # excluded status
            prom(1, "t", 10, d(9), d(12), "not_counted"),  # excluded status (third-party promise)
            prom(1, "s", 30, d(9), d(12)),  # taken by 30, who never held the case
        ],
    )
    assert rows(out) == [("x", 20, "collector", 100, "holder")]
    # With no statuses excluded the latest eligible promise ("t", by 10) gives 10 the credit.
    allowed = credit(
        [pay("x", 1, d(14), 100)],
        promises=[prom(1, "r", 10, d(8), d(12), "rescheduled"), prom(1, "t", 10, d(9), d(12), "not_counted")],
        rules=CreditRules(excluded_promise_statuses=()),
    )
    assert rows(allowed) == [("x", 10, "collector", 100, "promise")]


def test_promise_taker_kind_comes_from_their_holding() -> None:
    # Case 4: collector 7 until the 10th, then agency 7. Collector 7's promise (5th, due 12th) covers the
    # 11th, when agency 7 — another party with the same number — holds the case.
    out = credit([pay("x", 4, d(11), 100)], promises=[prom(4, "p", 7, d(5), d(12))])
    assert rows(out) == [("x", 7, "collector", 100, "promise")]


# ------------------------------------------------------------------------------------------------ rule 3


def test_assist_split_with_remainder_to_holder() -> None:
    # Helper 30 assisted successfully 1st–5th. 30 % of 10,001 fen = 3,000.3 → 3,000; holder gets 7,001.
    assists = [assist(1, 30, d(1), d(6)), assist(1, 31, d(1), d(6), result="failed")]
    out = credit(
        [
            pay("a", 1, d(5), 10_001),
            pay("tiny", 1, d(5), 3),  # 30 % of 3 = 0.9 → 0 for the helper
            pay("after", 1, d(6), 1_000),  # the assist ended (exclusive) on the 6th
        ],
        assists=assists,
    )
    assert rows(out) == [
        ("a", 10, "collector", 7_001, "holder"),
        ("a", 30, "collector", 3_000, "assist"),
        ("tiny", 10, "collector", 3, "holder"),
        ("tiny", 30, "collector", 0, "assist"),
        ("after", 10, "collector", 1_000, "holder"),
    ]


def test_two_helpers_share_the_assist_share() -> None:
    # Pool = 30 % of 10,010 = 3,003; each of two helpers gets 3,003 // 2 = 1,501; holder 10,010 − 3,002.
    # The duplicate success row of helper 40 counts once; agency 40 is a different helper from collector 40.
    assists = [
        assist(1, 40, d(1), None),
        assist(1, 30, d(2), d(9)),
        assist(1, 40, d(3), d(7)),
        assist(1, 40, d(1), None, kind="agency", result="no_answer"),
    ]
    out = credit([pay("a", 1, d(5), 10_010)], assists=assists)
    assert rows(out) == [
        ("a", 10, "collector", 7_008, "holder"),
        ("a", 30, "collector", 1_501, "assist"),
        ("a", 40, "collector", 1_501, "assist"),
    ]
    # A custom share: 25 % = 2,502 (2,502.5 rounded down) → 1,251 each, holder 7,508.
    quarter = credit([pay("a", 1, d(5), 10_010)], assists=assists, rules=CreditRules(assist_share_bp=2500))
    assert [r[3] for r in rows(quarter)] == [7_508, 1_251, 1_251]


def test_helper_who_is_the_credited_party_is_ignored() -> None:
    out = credit([pay("a", 1, d(5), 1_000)], assists=[assist(1, 10, d(1), None)])
    assert rows(out) == [("a", 10, "collector", 1_000, "holder")]


def test_assist_on_an_unheld_date() -> None:
    out = credit([pay("a", 3, d(5), 1_000)], assists=[assist(3, 50, d(1), None, kind="agency")])
    assert rows(out) == [("a", None, None, 700, "unheld"), ("a", 50, "agency", 300, "assist")]


# ----------------------------------------------------------------------------------------- combined rules


def test_promise_and_assist_together() -> None:
    # 10's promise (8th, due 12th) covers the 15th after the move to 20; helper 30 assisted from the 14th.
    # 10 gets the promise credit less the helper's 30 %: 5,000 → 3,500 + 1,500. The new holder 20 also
    # "assisting" is not the credited party, so 20 shares as a helper: pool 1,500 → 750 each.
    promises = [prom(1, "p", 10, d(8), d(12))]
    out = credit([pay("a", 1, d(15), 5_000)], promises=promises, assists=[assist(1, 30, d(14), None)])
    assert rows(out) == [("a", 10, "collector", 3_500, "promise"), ("a", 30, "collector", 1_500, "assist")]
    both = credit(
        [pay("a", 1, d(15), 5_000)],
        promises=promises,
        assists=[assist(1, 30, d(14), None), assist(1, 20, d(11), None)],
    )
    assert rows(both) == [
        ("a", 10, "collector", 3_500, "promise"),
        ("a", 20, "collector", 750, "assist"),
        ("a", 30, "collector", 750, "assist"),
    ]


# ------------------------------------------------------------------------------------------------ reversals


def test_reversal_follows_the_reversed_payment() -> None:
    # "a" on the 5th: holder 10 and helper 30 (7,001 + 3,000). Its reversal on the 20th — when 20 holds the
    # case and the assist is over — is credited exactly against the same parties.
    assists = [assist(1, 30, d(1), d(6))]
    out = credit(
        [
            pay("a", 1, d(5), 10_001),
            pay("ra", 1, d(20), -10_001, reverses="a"),
            pay("part", 1, d(21), -5_000, reverses="a"),  # partial: 30 % of 5,000 = 1,500
            pay("again", 1, d(22), 10_001, reverses="ra"),  # re-presented: reverses the reversal
            pay("orphan", 1, d(20), -700, reverses="zz"),  # the reversed payment is not in the frame
        ],
        assists=assists,
    )
    assert rows(out) == [
        ("a", 10, "collector", 7_001, "holder"),
        ("a", 30, "collector", 3_000, "assist"),
        ("ra", 10, "collector", -7_001, "holder"),
        ("ra", 30, "collector", -3_000, "assist"),
        ("part", 10, "collector", -3_500, "holder"),
        ("part", 30, "collector", -1_500, "assist"),
        ("again", 10, "collector", 7_001, "holder"),
        ("again", 30, "collector", 3_000, "assist"),
        ("orphan", 20, "collector", -700, "holder"),
    ]
    # the output keeps each reversal's own date
    assert out.filter(pl.col("payment_id") == "ra")["received_date"].to_list() == [d(20), d(20)]
    # a payment and its full reversal net to zero for every party
    net = (
        out.filter(pl.col("payment_id").is_in(["a", "ra"]))
        .group_by("credited_id")
        .agg(pl.col("amount").sum())
    )
    assert net["amount"].to_list() == [0, 0]


def test_long_chain_of_reversals() -> None:
    # a ← r1 ← r2 ← … ← r9, listed newest first: each is credited like "a" on the 5th (holder 10).
    chain = [
        pay(f"r{i}", 1, d(20 + i), (-1) ** i * 100, f"r{i - 1}" if i > 1 else "a") for i in range(9, 0, -1)
    ]
    out = credit([*chain, pay("a", 1, d(5), 100)])
    assert out["credited_id"].to_list() == [10] * 10
    assert out["reason"].to_list() == ["holder"] * 10


def test_reversal_of_a_promise_credited_payment() -> None:
    out = credit(
        [pay("a", 1, d(15), 800), pay("ra", 1, d(30), -800, reverses="a")],
        promises=[prom(1, "p", 10, d(8), d(12))],
    )
    assert rows(out) == [("a", 10, "collector", 800, "promise"), ("ra", 10, "collector", -800, "promise")]


def test_reversal_listed_before_its_payment_and_empty_input() -> None:
    out = credit([pay("ra", 1, d(20), -50, reverses="a"), pay("a", 1, d(5), 50)])
    assert rows(out) == [("ra", 10, "collector", -50, "holder"), ("a", 10, "collector", 50, "holder")]
    assert credit([]).height == 0


def test_reverses_column_is_optional_and_types_are_flexible() -> None:
    payments = pl.DataFrame(
        {
            "payment_id": ["a"],
            "case_id": pl.Series([1], dtype=pl.Int32),
            "received_date": [d(5)],
            "amount": [100],
        }
    )
    holdings = pl.DataFrame(
        {
            "case_id": [1],
            "holder_id": pl.Series([10], dtype=pl.UInt32),
            "holder_kind": ["collector"],
            "start_date": [d(1)],
            "end_date": [None],  # an all-null column has the Null type
        }
    )
    promises = pl.DataFrame(
        {
            "case_id": [1],
            "promise_id": [1],
            "made_by_holder": [10],
            "made_on": [d(2)],
            "due_date": [d(3)],
            "status": ["kept"],
        }
    )
    out = credit_payments(payments, holdings, promises, frame([], ASSISTS_SCHEMA))
    assert rows(out) == [("a", 10, "collector", 100, "holder")]


# --------------------------------------------------------------------------------------------- properties

CASES = (1, 2, 3)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, CreditRules]:
    holdings: list[dict[str, Any]] = []
    for case in CASES:
        day = draw(st.integers(0, 5))
        for _ in range(draw(st.integers(0, 4))):
            length = draw(st.integers(1, 15))
            gap = draw(st.integers(0, 3))
            open_end = draw(st.integers(0, 3)) == 0
            start = dt.date(2024, 1, 1) + dt.timedelta(days=day + gap)
            end = None if open_end else start + dt.timedelta(days=length)
            holdings.append(
                hold(
                    case, draw(st.integers(1, 4)), draw(st.sampled_from(["collector", "agency"])), start, end
                )
            )
            if end is None:
                break
            day += gap + length
    day0 = dt.date(2024, 1, 1)
    promises: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 6))):
        if len(holdings) > 0 and draw(st.booleans()):  # taken by a holder during their holding
            h = draw(st.sampled_from(holdings))
            case, by = h["case_id"], h["holder_id"]
            made = h["start_date"] + dt.timedelta(days=draw(st.integers(0, 10)))
        else:  # anyone, any day
            case, by = draw(st.sampled_from(CASES)), draw(st.integers(1, 4))
            made = day0 + dt.timedelta(days=draw(st.integers(0, 40)))
        due = made + dt.timedelta(days=draw(st.integers(0, 10)))
        status = draw(st.sampled_from(["pending", "kept", "broken", "rescheduled"]))
        promises.append(prom(case, f"p{i}", by, made, due, status))
    assists: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 6))):
        start = day0 + dt.timedelta(days=draw(st.integers(0, 40)))
        span = draw(st.one_of(st.none(), st.integers(1, 20)))
        assists.append(
            assist(
                draw(st.sampled_from(CASES)),
                draw(st.integers(1, 6)),
                start,
                None if span is None else start + dt.timedelta(days=span),
                draw(st.sampled_from(["success", "success", "failed"])),
                draw(st.sampled_from(["collector", "agency"])),
            )
        )
    n = draw(st.integers(0, 25))
    payments: list[dict[str, Any]] = []
    for i in range(n):
        reverses: str | None = None
        if len(payments) > 0 and draw(st.booleans()):
            reverses = draw(st.sampled_from([p["payment_id"] for p in payments] + ["missing"]))
        case = draw(st.sampled_from(CASES))
        if reverses is not None and reverses != "missing":
            case = next(p["case_id"] for p in payments if p["payment_id"] == reverses)
        amount = draw(st.integers(-(10**12), 10**12))
        received = day0 + dt.timedelta(days=draw(st.integers(0, 60)))
        if reverses is None and len(promises) > 0 and draw(st.booleans()):  # in or near a promise's window
            q = draw(st.sampled_from(promises))
            case, received = q["case_id"], q["made_on"] + dt.timedelta(days=draw(st.integers(-1, 20)))
        payments.append(pay(f"x{i}", case, received, amount, reverses))
    rules = CreditRules(
        promise_credit_days=draw(st.integers(0, 10)), assist_share_bp=draw(st.integers(0, 10_000))
    )
    return (
        frame(payments, PAYMENTS_SCHEMA),
        frame(holdings, HOLDINGS_SCHEMA),
        frame(promises, PROMISES_SCHEMA),
        frame(assists, ASSISTS_SCHEMA),
        rules,
    )


def _oracle(
    payments: pl.DataFrame,
    holdings: pl.DataFrame,
    promises: pl.DataFrame,
    assists: pl.DataFrame,
    rules: CreditRules,
) -> list[tuple[Any, ...]]:
    """The rules written out payment by payment, as a reference for the vectorised kernel."""
    pays = {p["payment_id"]: p for p in payments.iter_rows(named=True)}

    def covers(r: dict[str, Any], day: dt.date) -> bool:
        return bool(r["start_date"] <= day and (r["end_date"] is None or day < r["end_date"]))

    out: list[tuple[Any, ...]] = []
    for p in payments.iter_rows(named=True):
        root = p
        while root["reverses"] in pays:
            root = pays[root["reverses"]]
        case, day = root["case_id"], root["received_date"]
        hs = [h for h in holdings.iter_rows(named=True) if h["case_id"] == case]
        holder = next(((h["holder_id"], h["holder_kind"]) for h in hs if covers(h, day)), None)
        party, reason = (holder, "holder") if holder else (None, "unheld")
        eligible = []
        for q in promises.iter_rows(named=True):
            if q["case_id"] != case or q["status"] in rules.excluded_promise_statuses:
                continue
            if not q["made_on"] <= day <= q["due_date"] + dt.timedelta(days=rules.promise_credit_days):
                continue
            kinds = [
                h["holder_kind"]
                for h in hs
                if covers(h, q["made_on"]) and h["holder_id"] == q["made_by_holder"]
            ]
            if kinds:
                eligible.append((q["made_on"], q["promise_id"], (q["made_by_holder"], kinds[0])))
        if eligible and max(eligible)[2] != holder:
            party, reason = max(eligible)[2], "promise"
        helpers = sorted(
            {
                (a["helper_kind"], a["helper_id"])
                for a in assists.iter_rows(named=True)
                if a["case_id"] == case and a["result"] == "success" and covers(a, day)
            }
            - ({(party[1], party[0])} if party else set())
        )
        amount = p["amount"]
        sign = -1 if amount < 0 else 1
        each = sign * ((abs(amount) * rules.assist_share_bp // 10_000) // len(helpers)) if helpers else 0
        out.append((p["payment_id"], *(party or (None, None)), amount - each * len(helpers), reason))
        out.extend((p["payment_id"], hid, kind, each, "assist") for kind, hid in helpers)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_credit_sums_to_the_payment(
    scenario: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, CreditRules],
) -> None:
    payments, holdings, promises, assists, rules = scenario
    out = credit_payments(payments, holdings, promises, assists, rules=rules)
    assert out.schema == pl.Schema(CREDIT_SCHEMA)
    # every payment appears, in order, with exactly one non-assist row first
    firsts = out.filter(pl.col("reason") != "assist")
    assert firsts["payment_id"].to_list() == payments["payment_id"].to_list()
    assert out["payment_id"].unique(maintain_order=True).to_list() == payments["payment_id"].to_list()
    assert set(out["reason"].to_list()) <= set(REASONS)
    sums = out.group_by("payment_id").agg(pl.col("amount").sum().alias("credited"))
    joined = payments.join(sums, on="payment_id", how="left")
    assert (joined["credited"] == joined["amount"]).all()
    # shares take the sign of the payment (non-negative for positive payments)
    signed = out.join(payments.select("payment_id", pl.col("amount").alias("paid")), on="payment_id")
    assert signed.filter((pl.col("paid") >= 0) & (pl.col("amount") < 0)).height == 0
    assert signed.filter((pl.col("paid") <= 0) & (pl.col("amount") > 0)).height == 0
    # helpers never get more than the assist share in total
    pools = (
        signed.filter(pl.col("reason") == "assist")
        .group_by("payment_id")
        .agg(pl.col("amount").abs().sum().alias("pool"), pl.col("paid").first())
    )
    assert (pools["pool"] * 10_000 <= pools["paid"].abs() * rules.assist_share_bp).all()
    # unheld rows have no party; other rows do
    assert out.filter((pl.col("reason") == "unheld") != pl.col("credited_id").is_null()).height == 0
    # and the whole answer is the rules' answer, written out payment by payment
    assert rows(out) == _oracle(payments, holdings, promises, assists, rules)


# ---------------------------------------------------------------------------------------------- bad input


def _frames() -> dict[str, pl.DataFrame]:
    return {
        "payments": frame([pay("a", 1, d(5), 100)], PAYMENTS_SCHEMA),
        "holdings": frame(HOLDINGS, HOLDINGS_SCHEMA),
        "promises": frame([prom(1, "p", 10, d(2), d(4))], PROMISES_SCHEMA),
        "assists": frame([assist(1, 30, d(1), None)], ASSISTS_SCHEMA),
    }


@pytest.mark.parametrize(
    ("name", "change", "field"),
    [
        ("payments", lambda f: f.drop("amount"), None),
        ("payments", lambda f: f.with_columns(pl.col("amount").cast(pl.Float64)), "amount"),
        ("payments", lambda f: f.with_columns(pl.col("received_date").cast(pl.Datetime)), "received_date"),
        ("payments", lambda f: f.with_columns(pl.lit(None, pl.Date).alias("received_date")), "received_date"),
        ("payments", lambda f: pl.concat([f, f]), "payment_id"),
        ("payments", lambda f: f.with_columns(pl.lit("a").alias("reverses")), "reverses"),
        ("payments", lambda f: f.with_columns(pl.lit(10**16).alias("amount")), "amount"),
        ("holdings", lambda f: f.with_columns(pl.lit("team").alias("holder_kind")), "holder_kind"),
        ("holdings", lambda f: f.with_columns(pl.col("start_date").alias("end_date")), "end_date"),
        ("holdings", lambda f: f.with_columns(pl.lit(None, pl.Int64).alias("holder_id")), "holder_id"),
        (
            "holdings",
            lambda f: f.with_columns(pl.lit(None, pl.Date).alias("end_date")),
            "start_date",
        ),  # overlap
        (
            "promises",
            lambda f: f.with_columns(pl.col("made_on").alias("due_date") - pl.duration(days=1)),
            "due_date",
        ),
        ("promises", lambda f: f.drop("status"), None),
        ("assists", lambda f: f.with_columns(pl.lit(d(1)).alias("end_date")), "end_date"),
        ("assists", lambda f: f.with_columns(pl.col("helper_id").cast(pl.String)), "helper_id"),
    ],
)
def test_bad_frames(name: str, change: Any, field: str | None) -> None:
    frames = _frames()
    frames[name] = change(frames[name])
    with pytest.raises(CreditInputError) as exc:
        credit_payments(frames["payments"], frames["holdings"], frames["promises"], frames["assists"])
    err = exc.value
    assert isinstance(err, RecoupError)
    assert (err.code, err.http_status, err.exit_code) == ("credit.bad_input", 422, 65)
    assert err.details["frame"] == name
    if field is None:
        assert err.details["missing"]
    else:
        assert err.details["field"] == field
    assert " / " in err.message


def test_reversal_cycles_and_case_mismatch() -> None:
    base = _frames()
    cyc = frame([pay("a", 1, d(5), 1, "b"), pay("b", 1, d(6), -1, "a")], PAYMENTS_SCHEMA)
    with pytest.raises(CreditInputError) as exc:
        credit_payments(cyc, base["holdings"], base["promises"], base["assists"])
    assert exc.value.details["field"] == "reverses"
    three = frame(
        [
            pay("x", 1, d(4), 1),
            pay("a", 1, d(5), 1, "c"),
            pay("b", 1, d(6), -1, "a"),
            pay("c", 1, d(7), 1, "b"),
        ],
        PAYMENTS_SCHEMA,
    )
    with pytest.raises(CreditInputError) as exc:
        credit_payments(three, base["holdings"], base["promises"], base["assists"])
    assert exc.value.details["value"] == "a"
    other = frame([pay("a", 1, d(5), 1), pay("ra", 2, d(6), -1, "a")], PAYMENTS_SCHEMA)
    with pytest.raises(CreditInputError) as exc:
        credit_payments(other, base["holdings"], base["promises"], base["assists"])
    assert exc.value.details == {"frame": "payments", "field": "case_id", "row": 1, "value": 2}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"promise_credit_days": -1}, "promise_credit_days"),
        ({"promise_credit_days": 1.5}, "promise_credit_days"),
        ({"assist_share_bp": 10_001}, "assist_share_bp"),
        ({"assist_share_bp": -1}, "assist_share_bp"),
        ({"excluded_promise_statuses": ["broken"]}, "excluded_promise_statuses"),
    ],
)
def test_bad_rules(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(CreditInputError) as exc:
        CreditRules(**kwargs)
    assert exc.value.details["field"] == field


def test_not_a_frame() -> None:
    base = _frames()
    with pytest.raises(CreditInputError):
        credit_payments([], base["holdings"], base["promises"], base["assists"])  # type: ignore[arg-type]
    with pytest.raises(CreditInputError):
        credit_payments(
            base["payments"],
            base["holdings"],
            base["promises"],
            base["assists"],
            rules="strict",  # type: ignore[arg-type]
        )
