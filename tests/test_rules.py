"""rules.py: the one decision-table evaluator — validation, first/all evaluation, rendering and hashing.

Frames are small and hand-made; the expected values are worked out next to them. Hypothesis checks first
mode against a plain-Python reference on random interval tables. No database.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recoup.errors import RecoupError
from recoup.rules import (
    DecisionTable,
    RuleTableError,
    check_frame,
    describe,
    evaluate,
    load_table,
    table_hash,
)

BUCKETS: dict[str, Any] = {
    "name": "buckets",
    "version": 3,
    "inputs": {"dpd": "int"},
    "outputs": {"bucket": "str", "level": "int"},
    "rows": [
        {"id": "C", "when": {"dpd": {"le": 0}}, "then": {"bucket": "C", "level": 0}, "note": "current"},
        {"id": "D1-3", "when": {"dpd": {"ge": 1, "le": 3}}, "then": {"bucket": "D1-3", "level": 1}},
        {"id": "D4-15", "when": {"dpd": {"between": [4, 15]}}, "then": {"bucket": "D4-15", "level": 1}},
        {"id": "D16-30", "when": {"dpd": {"between": [16, 30]}}, "then": {"bucket": "D16-30", "level": 1}},
        {"id": "M2", "when": {"dpd": {"between": [31, 60]}}, "then": {"bucket": "M2", "level": 2}},
        {"id": "M3", "when": {"dpd": {"between": [61, 90]}}, "then": {"bucket": "M3", "level": 3}},
        {"id": "M4", "when": {"dpd": {"between": [91, 120]}}, "then": {"bucket": "M4", "level": 4}},
        {"id": "M5", "when": {"dpd": {"between": [121, 150]}}, "then": {"bucket": "M5", "level": 5}},
        {"id": "M6", "when": {"dpd": {"between": [151, 180]}}, "then": {"bucket": "M6", "level": 6}},
        {
            "id": "M7+",
            "when": {"dpd": {"ge": 181}},
            "then": {"bucket": "M7+", "level": 7},
            "note": "write-off",
        },
    ],
}

ALLOWED = "allowed: eq, ne, lt, le, gt, ge, in, not_in, between, is_null"


def table(**changes: Any) -> dict[str, Any]:
    """A deep copy of BUCKETS with top-level keys replaced."""
    data: dict[str, Any] = json.loads(json.dumps(BUCKETS))
    data.update(changes)
    return data


def errors_of(data: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    with pytest.raises(RuleTableError) as info:
        load_table(data)
    return info.value.message, info.value.details["errors"]


# ---------------------------------------------------------------------------------------------- evaluation


def test_dpd_buckets_on_edge_values() -> None:
    frame = pl.DataFrame({"dpd": [0, 1, 3, 4, 15, 16, 30, 31, 180, 181, None, -5]})
    out = evaluate(frame, load_table(BUCKETS))
    # 0 ≤ 0 → C; 1 and 3 in [1, 3]; 4 and 15 in [4, 15]; 16 and 30 in [16, 30]; 31 in [31, 60];
    # 180 in [151, 180]; 181 ≥ 181; null matches nothing; -5 ≤ 0.
    expected = ["C", "D1-3", "D1-3", "D4-15", "D4-15", "D16-30", "D16-30", "M2", "M6", "M7+", None, "C"]
    assert out["bucket"].to_list() == expected
    assert out["buckets_rule"].to_list() == expected  # the ids equal the bucket names here
    assert out["level"].to_list() == [0, 1, 1, 1, 1, 1, 1, 2, 6, 7, None, 0]
    assert out.schema["bucket"] == pl.String and out.schema["level"] == pl.Int64
    assert out.columns == ["dpd", "buckets_rule", "bucket", "level"]


def test_default_outcome_has_null_rule_id() -> None:
    data = table(rows=BUCKETS["rows"][:2], default={"bucket": "UNKNOWN", "level": -1})
    out = evaluate(pl.DataFrame({"dpd": [None, 2, 99]}), load_table(data))
    # null and 99 match neither C (≤ 0) nor D1-3 ([1, 3]) → default, rule id null.
    assert out["bucket"].to_list() == ["UNKNOWN", "D1-3", "UNKNOWN"]
    assert out["level"].to_list() == [-1, 1, -1]
    assert out["buckets_rule"].to_list() == [None, "D1-3", None]


OVERLAP: dict[str, Any] = {
    "name": "alerts",
    "mode": "first",
    "inputs": {"dpd": "int", "balance": "int"},
    "outputs": {"severity": "str", "score": "float"},
    "rows": [
        {"id": "late", "when": {"dpd": {"gt": 30}}, "then": {"severity": "high", "score": 0.9}},
        {"id": "big", "when": {"balance": {"ge": 10_000}}, "then": {"severity": "mid", "score": 0.5}},
        {"id": "any", "when": {}, "then": {"severity": "low", "score": 0}, "note": "always"},
    ],
}


def test_first_vs_all_on_overlapping_rows() -> None:
    frame = pl.DataFrame({"dpd": [45, 45, 5, None], "balance": [20_000, 100, 20_000, None]})
    first = evaluate(frame, load_table(OVERLAP))
    # row 0 matches late, big, any → late; row 1 late, any → late; row 2 big, any → big; row 3 only any.
    assert first["alerts_rule"].to_list() == ["late", "late", "big", "any"]
    assert first["severity"].to_list() == ["high", "high", "mid", "low"]
    assert first["score"].to_list() == [0.9, 0.9, 0.5, 0.0]
    assert first.schema["score"] == pl.Float64

    every = evaluate(frame, load_table({**OVERLAP, "mode": "all"}))
    assert every["alerts_rules"].to_list() == [
        ["late", "big", "any"],
        ["late", "any"],
        ["big", "any"],
        ["any"],
    ]
    assert every["severity_all"].to_list() == [
        ["high", "mid", "low"],
        ["high", "low"],
        ["mid", "low"],
        ["low"],
    ]
    assert every["score_all"].to_list() == [[0.9, 0.5, 0.0], [0.9, 0.0], [0.5, 0.0], [0.0]]
    assert every.schema["alerts_rules"] == pl.List(pl.String)
    assert "severity" not in every.columns and "alerts_rule" not in every.columns


def test_all_mode_no_match_gives_empty_lists() -> None:
    data = {**OVERLAP, "mode": "all", "rows": OVERLAP["rows"][:2]}
    out = evaluate(pl.DataFrame({"dpd": [1], "balance": [1]}), load_table(data))
    assert out["alerts_rules"].to_list() == [[]]
    assert out["severity_all"].to_list() == [[]]


def test_in_and_not_in_on_strings() -> None:
    segments = load_table(
        {
            "name": "segments",
            "inputs": {"product": "str", "city": "str"},
            "outputs": {"segment": "str"},
            "rows": [
                {"id": "instalment", "when": {"product": ["cash_loan", "bnpl"]}, "then": {"segment": "A"}},
                {"id": "other", "when": {"product": {"not_in": ["card"]}}, "then": {"segment": "B"}},
                {"id": "card-sh", "when": {"product": "card", "city": "shanghai"}, "then": {"segment": "C"}},
            ],
        }
    )
    frame = pl.DataFrame(
        {
            "product": ["cash_loan", "bnpl", "auto", "card", "card", None],
            "city": ["beijing", None, "beijing", "shanghai", "beijing", "shanghai"],
        }
    )
    out = evaluate(frame, segments)
    # cash_loan, bnpl ∈ list → A; auto ∉ {card} → B; card + shanghai → C; card + beijing → none;
    # null product matches neither in, not_in nor eq → none.
    assert out["segments_rule"].to_list() == ["instalment", "instalment", "other", "card-sh", None, None]
    assert out["segment"].to_list() == ["A", "A", "B", "C", None, None]
    # Bare list / scalar were normalised to operator dicts.
    assert segments.rows[0].when == {"product": {"in": ["cash_loan", "bnpl"]}}
    assert segments.rows[2].when == {"product": {"eq": "card"}, "city": {"eq": "shanghai"}}
    # Categorical columns are accepted for str inputs.
    cat = evaluate(frame.with_columns(pl.col("product").cast(pl.Categorical)), segments)
    assert cat["segment"].to_list() == out["segment"].to_list()


def test_between_on_dates() -> None:
    promos = load_table(
        {
            "name": "promo",
            "inputs": {"due": "date"},
            "outputs": {"campaign": "str"},
            "rows": [
                {
                    "id": "spring",
                    "when": {"due": {"between": ["2024-03-01", "2024-05-31"]}},
                    "then": {"campaign": "S"},
                },
                {
                    "id": "june",
                    "when": {"due": {"ge": date(2024, 6, 1), "lt": "2024-07-01"}},
                    "then": {"campaign": "J"},
                },
            ],
        }
    )
    assert promos.rows[1].when["due"] == {"ge": "2024-06-01", "lt": "2024-07-01"}  # date → ISO string
    frame = pl.DataFrame(
        {
            "due": [
                date(2024, 2, 29),
                date(2024, 3, 1),
                date(2024, 5, 31),
                date(2024, 6, 30),
                date(2024, 7, 1),
                None,
            ]
        }
    )
    out = evaluate(frame, promos)
    # 02-29 before spring; 03-01 and 05-31 are the inclusive ends; 06-30 < 07-01 → june; 07-01 not < 07-01.
    assert out["promo_rule"].to_list() == [None, "spring", "spring", "june", None, None]


def test_is_null_eq_ne_bool_and_float_inputs() -> None:
    flags = load_table(
        {
            "name": "flags",
            "inputs": {"phone": "str", "vip": "bool", "pd": "float"},
            "outputs": {"action": "str", "urgent": "bool"},
            "rows": [
                {
                    "id": "no-phone",
                    "when": {"phone": {"is_null": True}},
                    "then": {"action": "letter", "urgent": False},
                },
                {"id": "vip", "when": {"vip": True}, "then": {"action": "agent", "urgent": True}},
                {
                    "id": "risky",
                    "when": {"pd": {"gt": 0.5}, "phone": {"ne": "blocked"}},
                    "then": {"action": "call", "urgent": True},
                },
                {
                    "id": "phone",
                    "when": {"phone": {"is_null": False}, "pd": {"le": 1}},
                    "then": {"action": "sms", "urgent": None},
                },
            ],
        }
    )
    frame = pl.DataFrame(
        {
            "phone": [None, "138", "138", "blocked", "138"],
            "vip": [True, True, False, False, None],
            "pd": [0.9, 0.1, 0.7, 0.7, None],
        }
    )
    out = evaluate(frame, flags)
    # 0: phone null → no-phone; 1: vip; 2: pd 0.7 > 0.5 and phone ≠ blocked → risky;
    # 3: phone = blocked fails ne → phone (0.7 ≤ 1); 4: vip null, pd null → nothing (nulls never compare).
    assert out["flags_rule"].to_list() == ["no-phone", "vip", "risky", "phone", None]
    assert out["urgent"].to_list() == [False, True, True, None, None]
    assert out.schema["urgent"] == pl.Boolean
    # An integer operand fits a float input; an integer column fits a float input too.
    ints = load_table({**BUCKETS, "inputs": {"dpd": "float"}})
    assert evaluate(pl.DataFrame({"dpd": [2]}), ints)["bucket"].to_list() == ["D1-3"]


def test_rule_column_name_and_lazy_frames() -> None:
    buckets = load_table(BUCKETS)
    lazy = pl.DataFrame({"dpd": [0, 45]}).lazy()
    out = evaluate(lazy, buckets, rule_column="bucket_rule")
    assert isinstance(out, pl.LazyFrame)
    collected = out.collect()
    assert collected["bucket_rule"].to_list() == ["C", "M2"]
    assert collected.columns == ["dpd", "bucket_rule", "bucket", "level"]
    every = evaluate(
        lazy, load_table({**OVERLAP, "mode": "all", "inputs": {"dpd": "int"}, "rows": [OVERLAP["rows"][0]]})
    )
    assert isinstance(every, pl.LazyFrame)
    assert every.collect()["alerts_rules"].to_list() == [[], ["late"]]


def test_empty_frame_and_all_null_column() -> None:
    buckets = load_table(BUCKETS)
    empty = evaluate(pl.DataFrame({"dpd": []}, schema={"dpd": pl.Int32}), buckets)
    assert empty.height == 0 and empty.schema["bucket"] == pl.String
    nulls = evaluate(pl.DataFrame({"dpd": [None, None]}), buckets)  # dtype Null fits any input
    assert nulls["buckets_rule"].to_list() == [None, None]


# ---------------------------------------------------------------------------------------------- validation


def test_unknown_operator_message_names_table_row_and_field() -> None:
    data = table()
    data["rows"][4]["when"] = {"dpd": {"gte": 31}}  # position 5, id M2
    message, errors = errors_of(data)
    assert message == f"table 'buckets' row 5 ('M2'), when.dpd: operator 'gte' unknown; {ALLOWED}"
    assert errors == [{"row": 5, "row_id": "M2", "field": "when.dpd", "message": message}]


def test_unknown_input_column() -> None:
    data = table()
    data["rows"][0]["when"] = {"days": {"le": 0}}
    message, _ = errors_of(data)
    assert message == "table 'buckets' row 1 ('C'), when.days: unknown input column; inputs: dpd"


def test_then_missing_and_unknown_outputs() -> None:
    data = table()
    data["rows"][1]["then"] = {"bucket": "D1-3"}
    data["rows"][2]["then"] = {"bucket": "D4-15", "level": 1, "colour": "red"}
    message, errors = errors_of(data)
    assert "table 'buckets' row 2 ('D1-3'), then: missing output 'level'" in message
    assert "table 'buckets' row 3 ('D4-15'), then.colour: unknown output; outputs: bucket, level" in message
    assert [(e["row"], e["field"]) for e in errors] == [(2, "then"), (3, "then.colour")]


def test_operand_and_outcome_of_wrong_type() -> None:
    data = table()
    data["rows"][0]["when"] = {"dpd": {"le": "0"}}
    data["rows"][1]["when"] = {"dpd": {"in": [1, 2.5]}}
    data["rows"][2]["when"] = {"dpd": {"ge": True}}
    data["rows"][3]["then"] = {"bucket": 16, "level": "1"}
    message, errors = errors_of(data)
    assert (
        "row 1 ('C'), when.dpd: operand '0' of 'le' does not fit the int input; expected an integer"
        in message
    )
    assert "row 2 ('D1-3'), when.dpd: operand 2.5 of 'in' does not fit the int input" in message
    assert "row 3 ('D4-15'), when.dpd: operand True of 'ge' does not fit the int input" in message
    assert "row 4 ('D16-30'), then.bucket: value 16 is not a string (str)" in message
    assert "row 4 ('D16-30'), then.level: value '1' is not an integer (int)" in message
    assert len(errors) == 5
    assert message.startswith("decision table 'buckets' is invalid (5 problems):")


def test_date_operands_must_be_iso_dates() -> None:
    data = {
        "name": "promo",
        "inputs": {"due": "date"},
        "outputs": {},
        "rows": [{"id": "p", "when": {"due": {"ge": "01/03/2024", "lt": "2024-02-30"}}, "then": {}}],
    }
    message, errors = errors_of(data)
    assert "row 1 ('p'), when.due: operand '01/03/2024' of 'ge' does not fit the date input" in message
    assert "operand '2024-02-30' of 'lt' does not fit the date input; expected an ISO date string" in message
    assert len(errors) == 2


def test_duplicate_row_ids() -> None:
    data = table()
    data["rows"][6]["id"] = "M2"
    message, errors = errors_of(data)
    assert message == "table 'buckets' row 7 ('M2'), id: duplicate id; row 5 has the same id"
    assert errors[0]["row"] == 7


def test_between_lo_greater_than_hi_and_malformed_lists() -> None:
    data = table()
    data["rows"][4]["when"] = {"dpd": {"between": [60, 31]}}
    data["rows"][5]["when"] = {"dpd": {"between": [61]}}
    data["rows"][6]["when"] = {"dpd": {"in": []}}
    message, _ = errors_of(data)
    assert "row 5 ('M2'), when.dpd: operator 'between' has lo 60 > hi 31" in message
    assert "row 6 ('M3'), when.dpd: operator 'between' needs [lo, hi], got [61]" in message
    assert "row 7 ('M4'), when.dpd: operator 'in' needs a non-empty list, got []" in message


def test_empty_rows() -> None:
    message, errors = errors_of(table(rows=[]))
    assert message == "table 'buckets', rows: must not be empty; a table needs at least one row"
    assert errors == [{"row": None, "row_id": None, "field": "rows", "message": message}]


def test_other_condition_problems() -> None:
    data = table()
    data["rows"][0]["when"] = {"dpd": {}}
    data["rows"][1]["when"] = {"dpd": None}
    data["rows"][2]["when"] = {"dpd": {"is_null": "yes"}}
    message, errors = errors_of(data)
    assert "row 1 ('C'), when.dpd: condition is empty" in message
    assert "row 2 ('D1-3'), when.dpd: operator 'eq' needs a value, got null; use {'is_null': true}" in message
    assert "row 3 ('D4-15'), when.dpd: operator 'is_null' needs true or false, got 'yes'" in message
    assert len(errors) == 3


def test_ordering_operators_do_not_apply_to_bool() -> None:
    data = {
        "name": "t",
        "inputs": {"vip": "bool"},
        "outputs": {},
        "rows": [{"id": "r", "when": {"vip": {"gt": False}}}],
    }
    message, _ = errors_of(data)
    assert message == "table 't' row 1 ('r'), when.vip: operator 'gt' does not apply to a bool input"


def test_default_problems() -> None:
    message, _ = errors_of(table(default={"bucket": 1, "extra": "x"}))
    assert "table 'buckets', default: missing output 'level'" in message
    assert "table 'buckets', default.bucket: value 1 is not a string (str)" in message
    assert "table 'buckets', default.extra: unknown output; outputs: bucket, level" in message
    message, _ = errors_of({**OVERLAP, "mode": "all", "default": {"severity": "low", "score": 0.0}})
    assert message == "table 'alerts', default: only mode 'first' uses a default; remove it"


def test_structural_errors_name_row_and_field() -> None:
    data = table(mode="any")
    data["rows"][2]["id"] = 7
    data["rows"][3]["wen"] = {}
    message, errors = errors_of(data)
    assert "table 'buckets', mode: input should be 'first' or 'all'" in message
    assert "table 'buckets' row 3, id: input should be a valid string" in message
    assert "table 'buckets' row 4 ('D16-30'), wen: extra inputs are not permitted" in message
    assert {(e["row"], e["field"]) for e in errors} == {(None, "mode"), (3, "id"), (4, "wen")}


def test_rule_table_error_is_a_recoup_error() -> None:
    with pytest.raises(RecoupError) as info:
        load_table(table(rows=[]))
    assert info.value.envelope()["error"]["code"] == "rules.invalid"


def test_problems_are_collected_across_rows_and_kinds() -> None:
    data = table()
    data["rows"][0]["when"] = {"dpd": {"gte": 0}}
    data["rows"][1]["id"] = "C"
    data["rows"][2]["then"] = {"bucket": "x"}
    data["rows"][3]["when"] = {"days": 1}
    _, errors = errors_of(data)
    assert [(e["row"], e["field"]) for e in errors] == [
        (1, "when.dpd"),
        (2, "id"),
        (3, "then"),
        (4, "when.days"),
    ]


# ---------------------------------------------------------------------------------------------- frames


def test_check_frame_missing_column_and_wrong_dtype() -> None:
    segments = load_table({**OVERLAP, "inputs": {"dpd": "int", "balance": "int", "due": "date"}})
    with pytest.raises(RuleTableError) as info:
        check_frame(segments, {"dpd": pl.String(), "due": pl.Datetime()})
    message = info.value.message
    assert (
        "table 'alerts', inputs.dpd: column has dtype String; input type int needs an integer dtype"
        in message
    )
    assert "table 'alerts', inputs.balance: input column is missing from the frame" in message
    assert "table 'alerts', inputs.due: column has dtype Datetime" in message
    assert len(info.value.details["errors"]) == 3
    check_frame(segments, {"dpd": pl.Int32(), "balance": pl.UInt64(), "due": pl.Date(), "other": pl.String()})
    with pytest.raises(RuleTableError, match=r"inputs\.dpd: input column is missing"):
        evaluate(pl.DataFrame({"x": [1]}).lazy(), load_table(BUCKETS))


# ---------------------------------------------------------------------------------------------- data


def test_json_round_trip_hash_and_describe() -> None:
    buckets = load_table(BUCKETS)
    again = load_table(json.loads(buckets.model_dump_json()))
    assert again == buckets
    assert load_table(buckets) == buckets
    assert isinstance(again, DecisionTable)
    assert table_hash(again) == table_hash(buckets)
    assert len(table_hash(buckets)) == 64
    changed = table()
    changed["rows"][0]["note"] = "not yet due"
    assert table_hash(load_table(changed)) != table_hash(buckets)
    # Bare values hash the same as the equivalent operator dicts (they are normalised).
    bare = table()
    bare["rows"][0]["when"] = {"dpd": {"eq": 0}}
    shorthand = table()
    shorthand["rows"][0]["when"] = {"dpd": 0}
    assert table_hash(load_table(bare)) == table_hash(load_table(shorthand))

    text = describe(buckets)
    lines = text.splitlines()
    assert lines[0] == (
        "decision table 'buckets' v3 (first match wins; inputs: dpd int; outputs: bucket str, level int)"
    )
    assert lines[1] == "  1. C: if dpd ≤ 0 → bucket = 'C', level = 0  # current"
    assert lines[2] == "  2. D1-3: if dpd ≥ 1 and dpd ≤ 3 → bucket = 'D1-3', level = 1"
    assert lines[3] == "  3. D4-15: if dpd between 4 and 15 → bucket = 'D4-15', level = 1"
    assert lines[-1] == "  otherwise → outputs null (no rule)"
    assert len(lines) == 1 + 10 + 1
    every = describe(load_table({**OVERLAP, "mode": "all"}))
    assert "(all matches;" in every and "  3. any: always → severity = 'low', score = 0.0  # always" in every
    assert "otherwise" not in every
    assert "product in {'a', 'b'}" in describe(
        load_table(
            {
                "name": "s",
                "inputs": {"product": "str"},
                "outputs": {},
                "rows": [{"id": "r", "when": {"product": ["a", "b"]}}],
            }
        )
    )


# ---------------------------------------------------------------------------------------------- properties


@st.composite
def interval_tables(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[int | None, int | None, str]]]:
    """Non-overlapping intervals covering all integers, in random order, with random operator spellings."""
    cuts = sorted(draw(st.sets(st.integers(-1000, 1000), min_size=0, max_size=8)))
    bounds: list[tuple[int | None, int | None]] = []  # inclusive [lo, hi], None = unbounded
    edges: list[int | None] = [None, *cuts, None]
    for lo, nxt in itertools.pairwise(edges):
        bounds.append((lo, None if nxt is None else nxt - 1))
    intervals = [(lo, hi, f"r{i}") for i, (lo, hi) in enumerate(bounds)]
    rows = []
    for lo, hi, rid in draw(st.permutations(intervals)):
        cond: dict[str, Any]
        if hi is None:
            cond = (
                {} if lo is None else {"dpd": {"ge": lo}} if draw(st.booleans()) else {"dpd": {"gt": lo - 1}}
            )
        elif lo is None:
            cond = {"dpd": {"le": hi}} if draw(st.booleans()) else {"dpd": {"lt": hi + 1}}
        elif draw(st.booleans()):
            cond = {"dpd": {"between": [lo, hi]}}
        else:
            cond = {"dpd": {"ge": lo, "lt": hi + 1}}
        rows.append({"id": rid, "when": cond, "then": {"lo": lo, "hi": hi}})
    data = {"name": "t", "inputs": {"dpd": "int"}, "outputs": {"lo": "int", "hi": "int"}, "rows": rows}
    return data, intervals


@settings(max_examples=150, deadline=None)
@given(interval_tables(), st.lists(st.one_of(st.none(), st.integers(-1200, 1200)), max_size=40))
def test_first_mode_assigns_the_unique_covering_interval(
    spec: tuple[dict[str, Any], list[tuple[int | None, int | None, str]]], values: list[int | None]
) -> None:
    data, intervals = spec
    out = evaluate(pl.DataFrame({"dpd": values}, schema={"dpd": pl.Int64}), load_table(data))

    def reference(v: int | None) -> str | None:
        if v is None:
            return None  # a null never matches a comparison (the one-interval table has no condition)
        hits = [rid for lo, hi, rid in intervals if (lo is None or lo <= v) and (hi is None or v <= hi)]
        assert len(hits) == 1
        return hits[0]

    expected = [reference(v) for v in values]
    if len(intervals) == 1:  # a single row with an empty `when` matches every row, nulls included
        expected = ["r0"] * len(values)
    assert out["t_rule"].to_list() == expected
    by_id = {rid: (lo, hi) for lo, hi, rid in intervals}
    assert out["lo"].to_list() == [by_id[r][0] if r else None for r in expected]
    assert out["hi"].to_list() == [by_id[r][1] if r else None for r in expected]
    # All mode finds exactly the same single row for every non-null value.
    every = evaluate(
        pl.DataFrame({"dpd": values}, schema={"dpd": pl.Int64}), load_table({**data, "mode": "all"})
    )
    assert every["t_rules"].to_list() == [[r] if r else [] for r in expected]


def test_one_million_rows() -> None:
    n = 1_000_000
    frame = pl.DataFrame({"dpd": pl.int_range(-10, n - 10, eager=True)})
    out = evaluate(frame, load_table(BUCKETS))
    assert out.height == n
    counts = dict(out.group_by("bucket").len().iter_rows())
    # -10…0 → 11 values in C; 1…3 → 3; 4…15 → 12; 16…30 → 15; 31…60 → 30;
    # values run to n − 11, so M7+ holds 181…n − 11 → n − 191 values.
    assert counts["C"] == 11 and counts["D1-3"] == 3 and counts["D4-15"] == 12 and counts["D16-30"] == 15
    assert counts["M2"] == 30 and counts["M6"] == 30
    assert counts["M7+"] == n - 191
    every = evaluate(frame.lazy(), load_table({**BUCKETS, "mode": "all"})).collect()
    assert every["buckets_rules"].list.len().sum() == n
