"""money.py: parsing, formatting, allocation, repayment schedules and the payment waterfall.

Hand-worked examples show their arithmetic in comments; Hypothesis checks the invariants. No database.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import date
from decimal import Decimal
from fractions import Fraction

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recoup.config import CURRENCY_MINOR_DIGITS
from recoup.errors import MoneyError, RecoupError
from recoup.money import (
    MAX_ABS_MINOR,
    Allocation,
    AllocationLine,
    Component,
    Due,
    RepaymentMethod,
    ScheduledInstallment,
    add_months,
    allocate,
    allocate_payment,
    format_amount,
    parse_amount,
    parse_rate_bp,
    round_half_up,
    schedule,
    to_decimal_string,
)

PENALTY, FEE, INTEREST, PRINCIPAL = Component.PENALTY, Component.FEE, Component.INTEREST, Component.PRINCIPAL

# ------------------------------------------------------------------------------------------ parse_amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.56", 123456),
        ("1,234.56", 123456),  # thousands separator
        ("1,234,567.89", 123456789),
        ("12,34,567.00", 123456700),  # Indian grouping (lakh): 12,34,567 = 1,234,567
        ("  88.8 \t", 8880),  # surrounding whitespace
        ("¥1,234.56", 123456),
        ("￥1,234.56", 123456),  # full-width yen sign
        ("$0.99", 99),
        ("€5", 500),
        ("£ 7.5", 750),
        ("CNY 1,234.56", 123456),  # what format_amount(style="en") writes
        ("cny1234.56", 123456),  # codes are case-insensitive
        ("RMB 100", 10000),
        ("100 RMB", 10000),
        ("100元", 10000),
        ("人民币100元", 10000),
        ("US$1.00", 100),
        ("１２３４．５", 123450),  # full-width digits and period
        ("１，２３４．５６元", 123456),  # full-width comma
        ("+3", 300),
        ("-3", -300),
        ("−3", -300),  # U+2212 minus sign
        ("-¥5", -500),
        ("¥-5", -500),
        ("(1,234.56)", -123456),  # accounting negative
        ("(¥1,234.56)", -123456),
        ("¥(1,234.56)", -123456),
        ("（１２）", -1200),  # full-width parentheses
        ("1E+05", 10_000_000),  # spreadsheet scientific notation: 100000.00 → 10,000,000 fen
        ("1.2345e3", 123450),  # 1234.5
        ("5e-2", 5),  # 0.05
        ("1.2345e2", 12345),  # 123.45
        ("12.3400", 1234),  # trailing zeros beyond the minor unit are exact
        ("12.", 1200),
        (".5", 50),
        ("0", 0),
        ("-0.00", 0),
        ("0e-999999", 0),  # zero at any exponent is still zero
        ("90,000,000,000,000.00", MAX_ABS_MINOR),  # the limit itself: 9e13 yuan = 9e15 fen
        ("-90000000000000", -MAX_ABS_MINOR),
    ],
)
def test_parse_amount_accepts(text: str, expected: int) -> None:
    assert parse_amount(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("abc", "not_a_number"),
        ("¥", "not_a_number"),
        ("-", "not_a_number"),
        (".", "not_a_number"),
        ("e5", "not_a_number"),
        ("1.2.3", "not_a_number"),
        ("12,34", "not_a_number"),  # could be a European decimal comma: never guess
        ("1,2345", "not_a_number"),
        ("1 234", "not_a_number"),
        ("1_000", "not_a_number"),  # Decimal() would take this; we do not
        ("--5", "not_a_number"),
        ("(5", "not_a_number"),
        ("(-5)", "not_a_number"),  # sign inside accounting parentheses
        ("¥¥5", "not_a_number"),
        ("0x10", "not_a_number"),
        ("٣", "not_a_number"),  # an Arabic-Indic digit: only 0-9 after NFKC
        ("1.005", "too_precise"),  # half a fen: never rounded silently
        ("0.001", "too_precise"),
        ("1.2345e1", "too_precise"),  # 12.345 (while 1.2345e2 = 123.45 is fine)
        ("1e-999999", "too_precise"),
        ("NaN", "not_finite"),
        ("-nan", "not_finite"),
        ("inf", "not_finite"),
        ("-Infinity", "not_finite"),
        ("90000000000000.01", "too_large"),  # one fen over 9e15 minor units
        ("1e16", "too_large"),
        ("-1e999999", "too_large"),
    ],
)
def test_parse_amount_rejects(text: str, reason: str) -> None:
    with pytest.raises(MoneyError) as exc:
        parse_amount(text)
    assert exc.value.details["reason"] == reason
    assert repr(text) in exc.value.message  # the message names the value
    assert isinstance(exc.value, RecoupError) and exc.value.code == "money.invalid"


def test_parse_amount_messages_say_why() -> None:
    with pytest.raises(MoneyError, match=r"'1\.005' has non-zero digits beyond 2 decimal place.*refusing"):
        parse_amount("1.005")
    with pytest.raises(MoneyError, match="misplaced thousands separator"):
        parse_amount("12,34")
    with pytest.raises(MoneyError, match="beyond the limit"):
        parse_amount("1e16")


def test_parse_amount_minor_digits_and_other_types() -> None:
    assert parse_amount("1234", minor_digits=0) == 1234  # JPY
    assert parse_amount("1234.000", minor_digits=0) == 1234
    with pytest.raises(MoneyError, match="beyond 0 decimal"):
        parse_amount("1234.5", minor_digits=0)
    assert parse_amount("1.005", minor_digits=3) == 1005
    assert parse_amount(5) == 500  # an int is whole major units
    assert parse_amount(-5, minor_digits=0) == -5
    assert parse_amount(Decimal("12.30")) == 1230
    assert parse_amount(Decimal("-0.05")) == -5
    for bad in (Decimal("1.005"), Decimal("NaN"), Decimal("Infinity"), 10**14):
        with pytest.raises(MoneyError):
            parse_amount(bad)
    for wrong_type in (1.5, True):
        with pytest.raises(MoneyError, match="pass a string"):
            parse_amount(wrong_type)  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="minor_digits"):
        parse_amount("1", minor_digits=-1)


# ----------------------------------------------------------------------------------------- parse_rate_bp


@pytest.mark.parametrize(
    ("text", "bp"),
    [
        ("0.18", 1800),  # a bare number is a fraction: 0.18 × 10000
        ("18%", 1800),  # a percentage: 18 × 100
        ("18.00%", 1800),
        ("7.2%", 720),
        (" 24 % ", 2400),
        ("２４％", 2400),  # full-width
        ("0.0725", 725),
        ("0", 0),
        ("0%", 0),
        ("1800bp", 1800),
        ("1800 bps", 1800),
        ("1.8E-01", 1800),  # spreadsheet export of 0.18
        ("1000%", 100_000),  # the ceiling
        (Decimal("0.36"), 3600),
    ],
)
def test_parse_rate_bp_accepts(text: str | Decimal, bp: int) -> None:
    assert parse_rate_bp(text) == bp


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("-1%", "negative"),
        ("-0.18", "negative"),
        (Decimal("-0.01"), "negative"),
        ("7.255%", "more precise than a basis point"),  # 725.5 bp
        ("0.18005", "more precise than a basis point"),
        ("18", "ambiguous"),  # 18 % or 1800 %?
        ("1", "ambiguous"),
        ("1000.01%", "above the limit"),
        ("", "empty"),
        ("%", "empty"),
        ("abc", "not a number"),
        ("nan%", "not a number"),
        (Decimal("NaN"), "not a finite number"),
    ],
)
def test_parse_rate_bp_rejects(text: str | Decimal, needle: str) -> None:
    with pytest.raises(MoneyError, match=needle):
        parse_rate_bp(text)


# ---------------------------------------------------------------------------------------------- rounding


def test_round_half_up() -> None:
    assert [round_half_up(Fraction(n, 2)) for n in (-5, -3, -1, 1, 3, 5)] == [-3, -2, -1, 1, 2, 3]
    assert round_half_up(Decimal("2.4999")) == 2
    assert round_half_up(Fraction(1, 3)) == 0
    assert round_half_up(7) == 7


# -------------------------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("minor", "currency", "style", "symbol", "text"),
    [
        (123456, "CNY", "zh", True, "¥1,234.56"),
        (-123456, "CNY", "zh", True, "-¥1,234.56"),
        (123456, "CNY", "en", True, "CNY 1,234.56"),
        (-123456, "CNY", "en", True, "-CNY 1,234.56"),
        (123456, "CNY", "zh", False, "1,234.56"),
        (5, "CNY", "zh", True, "¥0.05"),
        (-5, "CNY", "zh", True, "-¥0.05"),
        (0, "CNY", "zh", True, "¥0.00"),
        (123456789012, "CNY", "zh", True, "¥1,234,567,890.12"),
        (123456, "JPY", "zh", True, "JP¥123,456"),  # 0 minor digits; CLDR zh marks the yen apart from ¥
        (123456, "JPY", "en", True, "JPY 123,456"),
        (-7, "JPY", "en", False, "-7"),
        (123456, "USD", "zh", True, "US$1,234.56"),
        (123456, "usd", "en", True, "USD 1,234.56"),
        (100, "NOK", "zh", True, "NOK 1.00"),  # no zh symbol: the code
    ],
)
def test_format_amount(minor: int, currency: str, style: str, symbol: bool, text: str) -> None:
    assert format_amount(minor, currency, style=style, symbol=symbol) == text  # type: ignore[arg-type]


def test_format_amount_rejects_unknown_currency_and_style() -> None:
    with pytest.raises(MoneyError, match="unknown currency 'XXX'"):
        format_amount(1, "XXX")
    with pytest.raises(MoneyError, match="style"):
        format_amount(1, style="fr")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minor", "digits", "text"),
    [
        (123456, 2, "1234.56"),
        (-5, 2, "-0.05"),
        (0, 2, "0.00"),
        (100, 2, "1.00"),
        (1234, 0, "1234"),
        (-1, 3, "-0.001"),
    ],
)
def test_to_decimal_string(minor: int, digits: int, text: str) -> None:
    assert to_decimal_string(minor, digits) == text


@settings(max_examples=300)
@given(
    x=st.integers(-MAX_ABS_MINOR, MAX_ABS_MINOR),
    digits=st.integers(0, 4),
    zeros=st.integers(0, 3),
)
def test_decimal_string_round_trips(x: int, digits: int, zeros: int) -> None:
    text = to_decimal_string(x, digits)
    assert parse_amount(text, minor_digits=digits) == x
    # Trailing zeros beyond the minor unit, as spreadsheets and some APIs write them, change nothing.
    padded = text + ("" if digits else ".") + "0" * zeros
    assert parse_amount(padded, minor_digits=digits) == x


@settings(max_examples=300)
@given(
    x=st.integers(-MAX_ABS_MINOR, MAX_ABS_MINOR),
    currency=st.sampled_from(sorted(CURRENCY_MINOR_DIGITS)),
    style=st.sampled_from(["zh", "en"]),
    symbol=st.booleans(),
)
def test_formatted_amount_parses_back(x: int, currency: str, style: str, symbol: bool) -> None:
    text = format_amount(x, currency, style=style, symbol=symbol)  # type: ignore[arg-type]
    assert parse_amount(text, minor_digits=CURRENCY_MINOR_DIGITS[currency]) == x


# -------------------------------------------------------------------------------------------- allocate


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (100, [1, 1, 1], [34, 33, 33]),  # shares 33⅓ each: one leftover unit, the tie goes to the first
        (-100, [1, 1, 1], [-34, -33, -33]),  # mirrored
        (7, [2, 3], [3, 4]),  # shares 2.8 / 4.2: floors 2 + 4 = 6, the leftover to remainder .8
        (5, [1, 1], [3, 2]),  # 2.5 / 2.5: tie → earlier
        (1, [0, 1, 1], [0, 1, 0]),  # a zero weight never gets a unit
        (10, [3, 0, 7], [3, 0, 7]),  # exact shares, nothing left over
        (2, [1, 1, 1, 1], [1, 1, 0, 0]),
        (0, [5, 5], [0, 0]),
        (10_000, [1], [10_000]),
        # 100.00 over weights 1:2:3:4 → 10, 20, 30, 40 exactly; 1 fen more → 1000.1 / 2000.2 / 3000.3 /
        # 4000.4: floors sum to 10000, the leftover unit goes to the largest remainder (.4 → last).
        (10_001, [1, 2, 3, 4], [1000, 2000, 3000, 4001]),
    ],
)
def test_allocate_examples(total: int, weights: list[int], parts: list[int]) -> None:
    assert allocate(total, weights) == parts


@pytest.mark.parametrize("weights", [[], [0, 0], [-1, 2], [1, 1.5], [True, 1]])
def test_allocate_rejects_bad_weights(weights: list[int]) -> None:
    with pytest.raises(MoneyError):
        allocate(100, weights)


@settings(max_examples=300)
@given(
    total=st.integers(-(10**15), 10**15),
    weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=20).filter(lambda ws: sum(ws) > 0),
)
def test_allocate_properties(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    w_sum = sum(weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    for part, w in zip(parts, weights, strict=True):
        # floor or ceiling of the exact share total·w/W, i.e. strictly less than one unit away
        assert abs(part * w_sum - total * w) < w_sum
        if w == 0:
            assert part == 0
    # Largest remainder: whoever got the extra unit had a remainder at least as large as anyone who did
    # not (ties: earlier position first).
    magnitude = [abs(p) for p in allocate(abs(total), weights)]
    got_extra = [i for i, w in enumerate(weights) if magnitude[i] * w_sum > abs(total) * w]
    without = [i for i in range(len(weights)) if i not in got_extra]
    rem = [abs(total) * w % w_sum for w in weights]
    for i in got_extra:
        for j in without:
            assert rem[i] > rem[j] or (rem[i] == rem[j] and i < j)
    assert allocate(-total, weights) == [-p for p in parts]


# ------------------------------------------------------------------------------------------- schedules


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)  # leap year
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 1, 31), 2) == date(2024, 3, 31)  # from the anchor: the 31st comes back
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2024, 3, 15), -3) == date(2023, 12, 15)


def _rows(s: list[ScheduledInstallment]) -> list[tuple[int, date, int, int]]:
    return [(x.seq, x.due_date, x.principal, x.interest) for x in s]


def test_equal_installment_hand_worked() -> None:
    # 1,000.00 at 12 %/yr over 3 months: r = 1200 bp / 12 = 1 % a month; (1+r)³ = 1.030301
    # payment = 100000 × 0.01 × 1.030301 / 0.030301 = 34002.21… → 34002
    # 1: interest 100000 × 1 % = 1000, principal 34002 − 1000 = 33002, left 66998
    # 2: interest 669.98 → 670, principal 34002 − 670 = 33332, left 33666
    # 3 (last): principal = the 33666 left, interest 336.66 → 337 (payment 34003: it absorbs the rounding)
    s = schedule(100_000, 1200, 3, RepaymentMethod.EQUAL_INSTALLMENT, disbursed=date(2024, 1, 31))
    assert _rows(s) == [
        (1, date(2024, 2, 29), 33002, 1000),
        (2, date(2024, 3, 31), 33332, 670),
        (3, date(2024, 4, 30), 33666, 337),
    ]
    assert [x.total for x in s] == [34002, 34002, 34003]


def test_equal_installment_twelve_months_at_eighteen_percent() -> None:
    # 12,000.00 at 18 %/yr over 12 months: r = 1.5 %, (1+r)^12 = 1.195618…
    # payment = 1200000 × 0.015 × 1.195618 / 0.195618 = 110016.0 (110015.9990…) → 110016
    # first: interest 18000, principal 92016; the last takes the remaining principal.
    s = schedule(1_200_000, 1800, 12, "equal_installment", first_due=date(2024, 2, 15))
    assert (s[0].principal, s[0].interest) == (92016, 18000)
    assert all(x.total == 110016 for x in s[:-1])
    assert sum(x.principal for x in s) == 1_200_000
    assert s[-1].due_date == date(2025, 1, 15)


def test_equal_principal_hand_worked() -> None:
    # principal part = 100000 / 3 = 33333.33 → 33333; the last takes 100000 − 2 × 33333 = 33334
    # interest: 100000 × 1 % = 1000; 66667 × 1 % = 666.67 → 667; 33334 × 1 % = 333.34 → 333
    s = schedule(100_000, 1200, 3, "equal_principal", disbursed=date(2024, 1, 31))
    assert [(x.principal, x.interest) for x in s] == [(33333, 1000), (33333, 667), (33334, 333)]


def test_interest_first_hand_worked() -> None:
    # 1 % of 100000 every month; all principal in the last installment
    s = schedule(100_000, 1200, 3, "interest_first", first_due=date(2024, 3, 10))
    assert _rows(s) == [
        (1, date(2024, 3, 10), 0, 1000),
        (2, date(2024, 4, 10), 0, 1000),
        (3, date(2024, 5, 10), 100_000, 1000),
    ]


def test_bullet_hand_worked() -> None:
    # one installment at maturity: interest = 100000 × 1 % × 3 = 3000 (simple interest)
    s = schedule(100_000, 1200, 3, "bullet", disbursed=date(2024, 1, 31))
    assert _rows(s) == [(1, date(2024, 4, 30), 100_000, 3000)]  # disbursed + 3 months, clamped
    # with a first due date, maturity is the last monthly due date: first_due + (term − 1) months
    s = schedule(100_000, 1200, 3, "bullet", first_due=date(2024, 2, 29))
    assert s[0].due_date == date(2024, 4, 29)
    # 10 %/yr over 7 months on 1,234.56: 123456 × 1000/120000 × 7 = 7201.6 → 7202
    assert schedule(123_456, 1000, 7, "bullet", disbursed=date(2024, 1, 1))[0].interest == 7202


def test_zero_rate_is_an_equal_split() -> None:
    # 100000 / 3 = 33333.33 → 33333, 33333, and the last 33334; no interest
    for method in ("equal_installment", "equal_principal"):
        s = schedule(100_000, 0, 3, method, disbursed=date(2024, 1, 1))
        assert [(x.principal, x.interest) for x in s] == [(33333, 0), (33333, 0), (33334, 0)]
    assert schedule(100_000, 0, 3, "bullet", disbursed=date(2024, 1, 1))[0].interest == 0


def test_interest_rounds_half_up_on_the_exact_monthly_rate() -> None:
    # 10 %/yr is 1/120 a month, which has no finite decimal. 60 × 1/120 = 0.5 exactly → 1 (half up).
    # A Decimal monthly rate (0.008333… at 28 digits) would give 0.4999… → 0.
    assert schedule(60, 1000, 1, "equal_principal", disbursed=date(2024, 1, 1))[0].interest == 1
    # 150 fen at 1 % a month: 1.5 → 2
    assert schedule(150, 1200, 1, "equal_installment", disbursed=date(2024, 1, 1))[0].interest == 2


def test_due_dates_keep_the_anchor_day() -> None:
    # from the disbursement day (31st): Feb 29 (leap), Mar 31, Apr 30, May 31 — not chained (Mar 29 …)
    s = schedule(100_000, 0, 4, "equal_principal", disbursed=date(2024, 1, 31))
    assert [x.due_date for x in s] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]
    s = schedule(100_000, 0, 3, "equal_principal", first_due=date(2023, 1, 31))
    assert [x.due_date for x in s] == [date(2023, 1, 31), date(2023, 2, 28), date(2023, 3, 31)]


def test_tiny_loan_over_a_long_term_never_goes_negative() -> None:
    # 7.20 over 480 months: 720 / 480 = 1.5 → 2 a month would pass 720 after 360 months; parts are capped at
    # what is outstanding, so months 361.. carry 0 and the total is still exact.
    s = schedule(720, 0, 480, "equal_principal", disbursed=date(2024, 1, 1))
    assert [x.principal for x in s[359:362]] == [2, 0, 0]
    assert sum(x.principal for x in s) == 720
    assert min(x.principal for x in s) == 0


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"principal": 0}, "principal must be positive"),
        ({"principal": -100}, "principal must be positive"),
        ({"principal": True}, "principal must be an integer"),
        ({"annual_rate_bp": -1}, "annual rate"),
        ({"annual_rate_bp": 100_001}, "annual rate"),
        ({"term_months": 0}, "term"),
        ({"term_months": 481}, "term"),
        ({"method": "balloon"}, "unknown repayment method"),
        ({"disbursed": None}, "first_due or disbursed"),
        ({"first_due": date(2024, 1, 1)}, "must be after disbursement"),
        ({"disbursed": date(9999, 1, 1)}, "leave the calendar"),
    ],
)
def test_schedule_validates(kwargs: dict[str, object], needle: str) -> None:
    args: dict[str, object] = {
        "principal": 100_000,
        "annual_rate_bp": 1200,
        "term_months": 12,
        "method": "equal_installment",
        "disbursed": date(2024, 1, 1),
        **kwargs,
    }
    with pytest.raises(MoneyError, match=needle):
        schedule(**args)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    principal=st.integers(1, 10**11),
    rate_bp=st.integers(0, 100_000),
    term=st.integers(1, 480),
    method=st.sampled_from(list(RepaymentMethod)),
    anchor=st.dates(date(2000, 1, 1), date(2100, 12, 31)),
    from_disbursement=st.booleans(),
)
def test_schedule_properties(
    principal: int, rate_bp: int, term: int, method: RepaymentMethod, anchor: date, from_disbursement: bool
) -> None:
    dates = {"disbursed": anchor} if from_disbursement else {"first_due": anchor}
    s = schedule(principal, rate_bp, term, method, **dates)
    assert len(s) == (1 if method is RepaymentMethod.BULLET else term)
    assert [x.seq for x in s] == list(range(1, len(s) + 1))
    assert sum(x.principal for x in s) == principal  # exact, for every method
    assert all(x.principal >= 0 and x.interest >= 0 for x in s)
    assert all(a.due_date < b.due_date for a, b in itertools.pairwise(s))
    if method is not RepaymentMethod.BULLET:
        assert s[0].due_date == (add_months(anchor, 1) if from_disbursement else anchor)
    # maturity is the same for every method: term months after disbursement / first due + term − 1
    assert s[-1].due_date == add_months(anchor, term if from_disbursement else term - 1)
    if method in (RepaymentMethod.EQUAL_INSTALLMENT, RepaymentMethod.EQUAL_PRINCIPAL):
        level = [x.total if method is RepaymentMethod.EQUAL_INSTALLMENT else x.principal for x in s[:-1]]
        # every installment but the last uses the one rounded level amount (until the loan is paid off)
        outstanding = principal - sum(x.principal for x in s[:-1])
        assert len(set(level)) <= 1 or outstanding == 0
    if rate_bp == 0:
        assert all(x.interest == 0 for x in s)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), term=st.integers(1, 360), rate_bp=st.integers(0, 3600))
def test_equal_installment_agrees_with_numpy_financial(data: st.DataObject, term: int, rate_bp: int) -> None:
    # Up to 10,000,000.00 at up to 36 %/yr over up to 30 years: float64 inside numpy_financial then stays
    # well below a hundredth of a fen in error where the comparisons below are tight.
    principal = data.draw(st.integers(term, 10**9), label="principal")
    s = schedule(principal, rate_bp, term, "equal_installment", first_due=date(2024, 1, 15))
    r = rate_bp / 120_000  # the same monthly rate, as a float for numpy_financial
    payment = s[0].total
    # Our path: the balance before each installment. A small loan over a long term can be paid off before
    # the last installment (the cap in the module docstring): compare only the installments before that.
    balances = list(
        itertools.accumulate((x.principal for x in s[:-1]), lambda b, p: b - p, initial=principal)
    )
    live = [i for i, x in enumerate(s[:-1]) if x.principal == payment - x.interest]
    assert live == list(range(len(live)))  # uncapped installments come first
    n_live = len(live)
    if n_live < term - 1:  # the first capped one clears the balance; the rest carry no principal
        assert s[n_live].principal == balances[n_live]
        assert all(x.principal == 0 for x in s[n_live + 1 :])

    with np.errstate(divide="ignore", invalid="ignore"):  # npf divides by r even on its r == 0 branch
        # 1. The payment is the annuity payment rounded to the fen.
        assert abs(payment - -npf.pmt(r, term, principal)) <= 0.5 + 1e-6
        # 2. The first period's split agrees with ipmt/ppmt.
        if term > 1:
            assert abs(s[0].interest - -npf.ipmt(r, 1, term, principal)) <= 1
            assert abs(s[0].principal - -npf.ppmt(r, 1, term, principal)) <= 1
        if n_live == 0:
            return

        # 3. Every installment but the last, against numpy_financial restarted from the same state: the
        # balance we carry, the remaining term and our (rounded) payment — fv is the balloon that makes
        # npf's payment equal ours — at the same rate. Rounding the interest is the only difference.
        outstanding = np.array(balances[:n_live], dtype=float)
        left = term - np.arange(n_live)
        fv = npf.fv(r, left, -payment, outstanding)
        npf_interest = -npf.ipmt(r, 1, left, outstanding, fv)
        npf_principal = -npf.ppmt(r, 1, left, outstanding, fv)
        ours_interest = np.array([x.interest for x in s[:n_live]])
        ours_principal = np.array([x.principal for x in s[:n_live]])
        assert np.all(np.abs(ours_interest - npf_interest) <= 0.5 + 1e-6)
        assert np.all(np.abs(ours_principal - npf_principal) <= 0.5 + 1e-6)

        # 4. The whole path against ONE numpy_financial run (same rate, our payment). This cannot hold to
        # one fen for every period of a long loan, and no rounding rule can make it: each period rounds
        # its interest (error ≤ ½ fen), that moves the balance, and the unrounded reference carries any
        # balance difference forward multiplied by (1 + r) each month. The gap in period k is therefore
        # at most ½·(1 + r)^(k−1) fen: ≤ 1 fen while (1 + r)^(k−1) ≤ 2 (the first 46 months at 18 %/yr,
        # the whole term of most consumer loans), but hundreds of fen late in a 30-year loan at 30 %/yr.
        # We check that bound; it pins the first ln 2 / ln(1 + r) periods to one fen.
        periods = np.arange(1, n_live + 1)
        fv_path = npf.fv(r, term, -payment, principal)
        ref_interest = -npf.ipmt(r, periods, term, principal, fv_path)
        ref_principal = -npf.ppmt(r, periods, term, principal, fv_path)
    growth = (1 + r) ** (periods - 1)
    bound = np.maximum(1.0, 0.5 * growth) + 1e-13 * principal * growth * (1 + r) + 1e-6  # + float error
    assert np.all(np.abs(ours_interest - ref_interest) <= bound)
    assert np.all(np.abs(ours_principal - ref_principal) <= bound)


# --------------------------------------------------------------------------------------- the waterfall

# Two installments still owed: 1 has a 5.00 penalty, 2 a 2.00 fee. Owed: 11500 + 11200 = 22700.
DUES = [
    Due(1, penalty=500, fee=0, interest=1000, principal=10000),
    Due(2, penalty=0, fee=200, interest=1000, principal=10000),
]


def _lines(a: Allocation) -> list[tuple[int, str, int]]:
    return [(x.seq, str(x.component), x.amount) for x in a.lines]


def test_installment_first_hand_worked() -> None:
    # 120.00: installment 1 in full (500 + 1000 + 10000 = 11500, 500 left), then installment 2's fee 200
    # and 300 of its interest. Zero components (installment 1's fee) produce no line.
    a = allocate_payment(12000, DUES)
    assert _lines(a) == [
        (1, "penalty", 500),
        (1, "interest", 1000),
        (1, "principal", 10000),
        (2, "fee", 200),
        (2, "interest", 300),
    ]
    assert a.credit == 0 and a.applied == 12000


def test_component_first_hand_worked() -> None:
    # penalties (1: 500, 11500 left), fees (2: 200, 11300), interest (1: 1000, 2: 1000, 9300 left),
    # then principal oldest first: 9300 of installment 1.
    a = allocate_payment(12000, DUES, mode="component_first")
    assert _lines(a) == [
        (1, "penalty", 500),
        (2, "fee", 200),
        (1, "interest", 1000),
        (2, "interest", 1000),
        (1, "principal", 9300),
    ]
    assert a.credit == 0


def test_overpayment_becomes_credit() -> None:
    a = allocate_payment(30000, DUES)
    assert a.applied == 22700 and a.credit == 30000 - 22700
    assert allocate_payment(500, []) == Allocation(lines=[], credit=500)
    assert allocate_payment(0, DUES) == Allocation(lines=[], credit=0)


def test_custom_order_and_unsorted_dues() -> None:
    # interest before principal before penalty and fee; dues given newest first are still paid oldest first
    a = allocate_payment(1500, list(reversed(DUES)), order=["interest", "principal", "penalty", "fee"])
    assert a.lines == [AllocationLine(1, INTEREST, 1000), AllocationLine(1, PRINCIPAL, 500)]


@pytest.mark.parametrize(
    ("amount", "dues", "kwargs", "needle"),
    [
        (-1, DUES, {}, "non-negative"),
        (1, [Due(1, 0, 0, -5, 100)], {}, "installment 1 interest due must be a non-negative"),
        (1, [Due(1, 0, 0, 0, 100), Due(1, 0, 0, 0, 100)], {}, "appears twice"),
        (1, DUES, {"order": [PENALTY, FEE, INTEREST]}, "exactly once"),
        (1, DUES, {"order": [PENALTY, FEE, INTEREST, INTEREST]}, "exactly once"),
        (1, DUES, {"order": ["penalty", "fee", "interest", "capital"]}, "unknown component"),
        (1, DUES, {"mode": "newest_first"}, "unknown allocation mode"),
    ],
)
def test_allocate_payment_rejects(
    amount: int, dues: list[Due], kwargs: dict[str, object], needle: str
) -> None:
    with pytest.raises(MoneyError, match=needle):
        allocate_payment(amount, dues, **kwargs)  # type: ignore[arg-type]


@st.composite
def _dues(draw: st.DrawFn) -> list[Due]:
    seqs = draw(st.lists(st.integers(1, 60), unique=True, max_size=6))
    owed = st.one_of(st.just(0), st.integers(0, 50_000))
    return [Due(seq, draw(owed), draw(owed), draw(owed), draw(owed)) for seq in seqs]


@settings(max_examples=400)
@given(
    dues=_dues(),
    data=st.data(),
    order=st.permutations(list(Component)),
    mode=st.sampled_from(["installment_first", "component_first"]),
)
def test_waterfall_properties(
    dues: list[Due], data: st.DataObject, order: list[Component], mode: str
) -> None:
    total_due = sum(d.total for d in dues)
    amount = data.draw(st.integers(0, total_due + 10_000), label="amount")
    a = allocate_payment(amount, dues, order=order, mode=mode)  # type: ignore[arg-type]
    owed = {(d.seq, c): d.owed(c) for d in dues for c in Component}

    assert all(line.amount > 0 for line in a.lines)
    assert a.applied + a.credit == amount  # nothing created, nothing lost
    assert a.applied <= amount and a.credit >= 0
    assert a.credit == max(0, amount - total_due)  # credit only once everything due is paid
    paid: dict[tuple[int, Component], int] = defaultdict(int)
    for line in a.lines:
        paid[line.seq, line.component] += line.amount
    assert all(paid[key] <= owed[key] for key in paid)  # never more than was due on a line
    if a.credit > 0:
        assert paid == {k: v for k, v in owed.items() if v}

    # Order: buckets are visited in a fixed sequence; lines follow it, and every bucket before the last
    # line's bucket is paid in full (nothing skipped while money remained).
    rank = {c: i for i, c in enumerate(order)}

    def key(seq: int, c: Component) -> tuple[int, int]:
        return (seq, rank[c]) if mode == "installment_first" else (rank[c], seq)

    keys = [key(line.seq, line.component) for line in a.lines]
    assert keys == sorted(set(keys))  # strictly increasing: one line per bucket, in order
    if a.lines:
        last = keys[-1]
        for (seq, c), due in owed.items():
            if key(seq, c) < last:
                assert paid[seq, c] == due
        last_line = a.lines[-1]
        if paid[last_line.seq, last_line.component] < owed[last_line.seq, last_line.component]:
            assert a.credit == 0 and a.applied == amount  # stopped short only because the money ran out
