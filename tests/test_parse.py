"""Vectorised parsing of extract cells: exact money, dates in every accepted form, rates, enums."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recoup import money
from recoup.portfolio import parse


def col(values: list[str | None]) -> pl.Series:
    return pl.Series("c", values, dtype=pl.String)


def run(p: parse.Parsed) -> list[tuple[object, object]]:
    return list(zip(p.value.to_list(), p.reason.to_list(), strict=True))


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("1,234.56", 123456),
        ("¥1,234.56", 123456),
        ("￥12", 1200),
        ("$3.5", 350),
        ("1E+05", 10_000_000),  # 100000 yuan
        ("1.2345e3", 123450),
        ("(12.00)", -1200),  # accounting negative
        ("-0.05", -5),
        ("12.3400", 1234),  # zeros beyond the fen are fine
        ("１２３４．５", 123450),  # full-width digits
        ("12元", 1200),
        ("RMB 3", 300),
        (".5", 50),
    ],
)
def test_amounts_become_exact_fen(text: str, fen: int) -> None:
    assert run(parse.amount(col([text]), minor_digits=2)) == [(fen, None)]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("1.005", "amount.precision"),
        ("abc", "amount.unparseable"),
        ("1.2.3", "amount.unparseable"),
        ("-", "amount.unparseable"),
        ("1e20", "amount.too_large"),
        ("99999999999999999999", "amount.too_large"),
    ],
)
def test_bad_amounts_name_the_rule(text: str, rule: str) -> None:
    assert run(parse.amount(col([text]), minor_digits=2)) == [(None, rule)]


def test_empty_cells_are_null_not_errors() -> None:
    assert run(parse.amount(col([None, "", "  "]), minor_digits=2)) == [(None, None)] * 3


def _styled(d: Decimal, style: str) -> str:
    return {
        "plain": f"{d:f}",
        "comma": f"{d:,.2f}",
        "yen": f"¥{d:,.2f}" if d >= 0 else f"-¥{-d:,.2f}",
        "exp": format(d, "E"),
    }[style]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False),
            st.sampled_from(["plain", "comma", "yen", "exp"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_vectorised_amounts_agree_with_money_parse(cases: list[tuple[Decimal, str]]) -> None:
    texts: list[str | None] = [_styled(d, style) for d, style in cases]
    expected = [(money.parse_amount(f"{d:f}", minor_digits=2), None) for d, _s in cases]
    assert run(parse.amount(col(texts), minor_digits=2)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24",
        "2026/11/24",
        "20261124",
        "2026年11月24日",
        "46350",
        "46350.0",
        "2026-11-24 00:00:00",
        "2026.11.24",
    ],
)
def test_dates_in_every_accepted_form(text: str) -> None:
    # 46350 is Excel's serial number for 2026-11-24 (days since 1899-12-30).
    assert run(parse.date(col([text]))) == [(dt.date(2026, 11, 24), None)]


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "yesterday", "0", "24/11/2026"])
def test_bad_dates(text: str) -> None:
    assert run(parse.date(col([text]))) == [(None, "date.unparseable")]


@pytest.mark.parametrize(
    ("text", "bp"), [("18%", 1800), ("0.18", 1800), ("18.00%", 1800), ("7.2%", 720), ("0", 0)]
)
def test_rates_in_basis_points(text: str, bp: int) -> None:
    assert run(parse.rate_bp(col([text]))) == [(bp, None)]


def test_bad_rates() -> None:
    got = run(parse.rate_bp(col(["0.12345", "-1%", "x%", "2000%", "18"])))
    assert [r for _v, r in got] == [
        "rate.precision",
        "rate.negative",
        "rate.unparseable",
        "rate.too_large",
        "rate.ambiguous",
    ]
    assert all(v is None for v, _r in got)


def test_enums_accept_chinese_aliases_and_reject_unknowns() -> None:
    got = run(parse.enum(col(["等额本息", "Equal_Principal", "先息后本", "monthly"]), "repayment_method"))
    assert got == [
        ("equal_installment", None),
        ("equal_principal", None),
        ("interest_first", None),
        (None, "enum.unknown"),
    ]


def test_channel_lists() -> None:
    got = run(parse.channels(col(["voice,sms", "电话、短信", "fax"])))
    assert got == [("sms,voice", None), ("sms,voice", None), (None, "enum.unknown")]


def test_integers_and_booleans() -> None:
    assert run(parse.integer(col(["12", "12.0", "1,200", "12.5"]))) == [
        (12, None),
        (12, None),
        (1200, None),
        (None, "int.unparseable"),
    ]
    assert run(parse.boolean(col(["是", "false", "Y", "maybe"]))) == [
        (True, None),
        (False, None),
        (True, None),
        (None, "bool.unparseable"),
    ]
