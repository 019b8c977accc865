"""Money: integer minor units, parsing, formatting, allocation, repayment schedules and the waterfall.

Amounts are always ``int`` minor units (fen, cents); a float never touches money. Rates are ``Decimal``
or integer basis points (1 bp = 0.01 %). Text in files and APIs is a decimal string
(:func:`to_decimal_string`), text for people is :func:`format_amount`.

Rounding is explicit: :func:`round_half_up` (half away from zero) everywhere a fraction of a minor unit
appears, and :func:`allocate` (largest remainder) wherever a total is split.

Repayment schedule convention (:func:`schedule`)
------------------------------------------------
- Monthly rate = annual rate / 12, kept as an exact rational (``Fraction(bp, 120_000)``): 1/12 of most
  rates has no finite decimal, so ``Decimal`` would round at the context precision.
- Each period accrues one full month of interest whatever its length in days:
  ``interest = round_half_up(outstanding principal × monthly rate)``.
- The level amount — the payment for ``equal_installment`` (等额本息), the principal part for
  ``equal_principal`` (等额本金) — is computed exactly and rounded half-up once. Every installment but the
  last uses it (for ``equal_installment`` the principal part is payment − interest); the last installment
  takes all the principal still outstanding, with its interest computed normally, so the principal parts
  sum *exactly* to the loan. For small loans over long terms the rounding errors (of the level amount,
  and for ``equal_installment`` of each month's interest, which the balance compounds) can add up to more
  than the last installment's share; a principal part is therefore capped at what is still outstanding
  (later parts are then 0) rather than letting the last one go negative.
- ``interest_first`` (先息后本): interest every month, all principal in the last installment.
- ``bullet`` (到期一次还本付息): one installment at maturity, interest =
  ``round_half_up(principal × monthly rate × term)`` (simple interest).
- Due dates: the k-th date is anchor + k months, clamped to the month's end (Jan 31 → Feb 29 → Mar 31),
  computed from the anchor each time, never chained from the previous date. The anchor is ``first_due``
  (k = 0 … n−1) or, when only ``disbursed`` is given, the disbursement date (k = 1 … n).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Literal

from recoup.config import CURRENCY_MINOR_DIGITS
from recoup.errors import MoneyError

__all__ = [
    "DEFAULT_ORDER",
    "MAX_ABS_MINOR",
    "MAX_RATE_BP",
    "MAX_TERM_MONTHS",
    "Allocation",
    "AllocationLine",
    "Component",
    "Due",
    "RepaymentMethod",
    "ScheduledInstallment",
    "add_months",
    "allocate",
    "allocate_payment",
    "format_amount",
    "parse_amount",
    "parse_rate_bp",
    "round_half_up",
    "schedule",
    "to_decimal_string",
]

#: Largest accepted magnitude in minor units. Just under 2**53, so an amount survives a trip through
#: JSON numbers, JavaScript and float64 columns exactly, and sums of many stay far inside int64.
MAX_ABS_MINOR = 9_000_000_000_000_000
#: 1000 % a year: far above any lawful rate, low enough to catch a rate typed in the wrong unit.
MAX_RATE_BP = 100_000
MAX_TERM_MONTHS = 480
_MAX_TEXT_LEN = 100  # longer "amounts" are garbage; the cap also bounds the exact arithmetic below

# Currency markers accepted around an amount. Longest first, so "US$" wins over "$" and "JP¥" over "¥".
# NFKC normalisation has already turned full-width ￥ ＄ into ¥ $.
_MARKERS: tuple[str, ...] = tuple(
    sorted(
        {
            "CN¥",
            "JP¥",
            "US$",
            "HK$",
            "人民币",
            "RMB",
            "¥",
            "$",
            "€",
            "£",
            "₹",
            "元",
            "圆",
            *CURRENCY_MINOR_DIGITS,
        },
        key=len,
        reverse=True,
    )
)
# Plain digits, Western grouping (1,234,567) or Indian grouping (12,34,567 — INR is a supported currency).
# A comma anywhere else ("12,34") is rejected: it may be a European decimal comma, and guessing loses money.
_NUMBER_RE = re.compile(
    r"(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,2}(?:,[0-9]{2})+,[0-9]{3}|[0-9]*)"
    r"(?P<frac>\.[0-9]*)?(?P<exp>[eE][+-]?[0-9]+)?",
    re.ASCII,
)
_RATE_RE = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NON_FINITE = {"nan", "snan", "inf", "infinity"}


# --------------------------------------------------------------------------------------------- rounding


def _pow10(n: int) -> int:
    # typeshed types int ** int as Any (a negative exponent gives a float); pin it to int for mypy.
    return int(10**n)


def round_half_up(value: Fraction | Decimal | int) -> int:
    """Round to the nearest integer, halves away from zero: 2.5 → 3, -2.5 → -3, 2.49 → 2."""
    q = Fraction(value)
    magnitude = (2 * abs(q.numerator) + q.denominator) // (2 * q.denominator)
    return -magnitude if q < 0 else magnitude


# ---------------------------------------------------------------------------------------------- parsing


def _fail(value: object, why: str, reason: str) -> MoneyError:
    return MoneyError(f"amount {value!r} {why}", details={"value": str(value), "reason": reason})


def _check_digits(minor_digits: int) -> None:
    if isinstance(minor_digits, bool) or not isinstance(minor_digits, int) or not 0 <= minor_digits <= 8:
        raise MoneyError(f"minor_digits must be an integer 0..8, got {minor_digits!r}")


def _take_prefix(s: str) -> tuple[str, bool]:
    for m in _MARKERS:
        if s[: len(m)].upper() == m.upper():
            return s[len(m) :].lstrip(), True
    return s, False


def _take_suffix(s: str) -> tuple[str, bool]:
    for m in _MARKERS:
        if len(s) >= len(m) and s[-len(m) :].upper() == m.upper():
            return s[: -len(m)].rstrip(), True
    return s, False


def _decimal_to_minor(d: Decimal, minor_digits: int, shown: object) -> int:
    if d.is_nan() or d.is_infinite():
        raise _fail(shown, "is not a finite number", "not_finite")
    if d.is_zero():
        return 0
    # Cheap magnitude checks first: they keep "1e999999" or "1e-999999" from building huge integers.
    if d.adjusted() + minor_digits > 15:
        raise _fail(shown, f"is beyond the limit of ±{MAX_ABS_MINOR} minor units", "too_large")
    too_precise = _fail(
        shown, f"has non-zero digits beyond {minor_digits} decimal place(s); refusing to round", "too_precise"
    )
    if d.adjusted() + minor_digits < 0:  # the first significant digit is already below the minor unit
        raise too_precise
    scaled = Fraction(d) * _pow10(minor_digits)  # exact: Fraction(Decimal) never rounds
    if scaled.denominator != 1:
        raise too_precise
    minor = scaled.numerator
    if abs(minor) > MAX_ABS_MINOR:
        raise _fail(shown, f"is beyond the limit of ±{MAX_ABS_MINOR} minor units", "too_large")
    return minor


def parse_amount(text: str | int | Decimal, *, minor_digits: int = 2) -> int:
    """Parse an amount in major units into integer minor units, exactly (``"1,234.56"`` → 123456).

    Accepts surrounding spaces, thousands separators, full-width characters (``１２３４．５``), currency
    signs and codes before or after (``¥``, ``$``, ``€``, ``£``, ``CNY``, ``RMB``, ``元`` …), a leading
    ``+``/``-``, accounting negatives ``(1,234.56)``, scientific notation (``1.2345e3``) and trailing
    zeros (``12.3400``). An ``int`` or ``Decimal`` is a value in major units (``5`` → 500 fen).

    Raises MoneyError naming the value when it is empty, not a number, NaN/infinite, has non-zero digits
    below the minor unit (``1.005`` with 2 digits: never rounded silently), or exceeds ±9e15 minor units.
    """
    _check_digits(minor_digits)
    if isinstance(text, (bool, float)):
        # bool is an int subclass and a float has already lost the exact value: both are caller bugs.
        raise _fail(text, f"is a {type(text).__name__}; pass a string, int or Decimal", "bad_type")
    if isinstance(text, int):
        if abs(text) > MAX_ABS_MINOR // _pow10(minor_digits):
            raise _fail(text, f"is beyond the limit of ±{MAX_ABS_MINOR} minor units", "too_large")
        return text * _pow10(minor_digits)
    if isinstance(text, Decimal):
        return _decimal_to_minor(text, minor_digits, text)
    if not isinstance(text, str):
        raise _fail(text, f"is a {type(text).__name__}; pass a string, int or Decimal", "bad_type")

    # NFKC folds full-width digits, comma, period, parentheses, ￥ and spaces to their ASCII forms.
    s = unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip()
    if not s:
        raise _fail(text, "is empty", "empty")
    if len(s) > _MAX_TEXT_LEN:
        raise _fail(text[:20] + "…", f"is longer than {_MAX_TEXT_LEN} characters", "not_a_number")
    s, prefix = _take_prefix(s)
    s, suffix = _take_suffix(s)
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative = True
        s = s[1:-1].strip()
        if not prefix:
            s, prefix = _take_prefix(s)
        if not suffix:
            s, suffix = _take_suffix(s)
    if s[:1] in ("+", "-"):
        if negative:
            raise _fail(text, "has a sign inside accounting parentheses", "not_a_number")
        negative = s[0] == "-"
        s = s[1:].lstrip()
        if not prefix:  # "-¥5" as well as "¥-5"
            s, prefix = _take_prefix(s)
    if s.lower() in _NON_FINITE:
        raise _fail(text, "is not a finite number", "not_finite")
    m = _NUMBER_RE.fullmatch(s)
    if m is None or not any(c.isdigit() for c in m["int"] + (m["frac"] or "")):
        hint = " (misplaced thousands separator?)" if "," in s else ""
        raise _fail(text, f"is not a number{hint}", "not_a_number")
    try:
        d = Decimal(s.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the regex admits only what Decimal parses
        raise _fail(text, "is not a number", "not_a_number") from None
    return _decimal_to_minor(-d if negative else d, minor_digits, text)


def parse_rate_bp(text: str | Decimal) -> int:
    """Parse an annual rate into integer basis points: ``"0.18"``, ``"18%"``, ``"18.00%"`` → 1800.

    A bare number is a fraction and must be below 1 (``"18"`` is ambiguous: 18 % or 1800 %? write
    ``"18%"``); ``"1800bp"`` is also accepted. Negative rates, sub-basis-point precision (``"7.255%"``)
    and rates above 1000 % raise MoneyError.
    """

    def fail(why: str) -> MoneyError:
        return MoneyError(f"rate {text!r} {why}", details={"value": str(text)})

    if isinstance(text, Decimal):
        if not text.is_finite():
            raise fail("is not a finite number")
        value, unit = text, "fraction"
    elif isinstance(text, str):
        s = unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip().lower()
        unit = "fraction"
        if s.endswith("%"):
            s, unit = s[:-1].rstrip(), "percent"
        elif s.endswith(("bps", "bp")):
            s, unit = s[: -3 if s.endswith("bps") else -2].rstrip(), "bp"
        if s.startswith("-"):
            raise fail("is negative")
        s = s.removeprefix("+")
        if not s:
            raise fail("is empty")
        if len(s) > _MAX_TEXT_LEN or _RATE_RE.fullmatch(s) is None:
            raise fail("is not a number")
        value = Decimal(s)
    else:
        raise fail(f"is a {type(text).__name__}; pass a string or Decimal")
    if value < 0:
        raise fail("is negative")
    if unit == "fraction" and value >= 1:
        raise fail("is ambiguous: write a percentage like '18%' or a fraction like '0.18'")
    if value != 0 and value.adjusted() > 8:  # keeps the exact conversion below small
        raise fail(f"is above the limit of {MAX_RATE_BP} bp")
    scale = {"fraction": 10_000, "percent": 100, "bp": 1}[unit]
    bp = Fraction(value) * scale
    if bp.denominator != 1:
        raise fail("is more precise than a basis point (0.01%)")
    if bp > MAX_RATE_BP:
        raise fail(f"is above the limit of {MAX_RATE_BP} bp ({MAX_RATE_BP // 100}%)")
    return bp.numerator


# ------------------------------------------------------------------------------------------- formatting

# CLDR zh symbols: ¥ is the yuan in a Chinese context, so the yen and dollars carry a prefix.
_ZH_SYMBOLS = {"CNY": "¥", "JPY": "JP¥", "USD": "US$", "HKD": "HK$", "EUR": "€", "GBP": "£", "INR": "₹"}


def to_decimal_string(minor: int, minor_digits: int = 2) -> str:
    """The plain decimal string for files and APIs: ``123456`` → ``"1234.56"``, ``-5`` → ``"-0.05"``."""
    _check_digits(minor_digits)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), _pow10(minor_digits))
    return f"{sign}{whole}.{frac:0{minor_digits}d}" if minor_digits else f"{sign}{whole}"


def format_amount(
    minor: int, currency: str = "CNY", *, style: Literal["zh", "en"] = "zh", symbol: bool = True
) -> str:
    """Format for people: ``¥1,234.56`` (zh), ``CNY 1,234.56`` (en), ``-¥1,234.56``; JPY has no decimals.

    ``symbol=False`` gives just the grouped number (``1,234.56``). Unknown currencies raise MoneyError.
    """
    code = currency.strip().upper()
    if code not in CURRENCY_MINOR_DIGITS:
        raise MoneyError(
            f"unknown currency {currency!r}; one of {', '.join(CURRENCY_MINOR_DIGITS)}",
            details={"currency": currency},
        )
    if style not in ("zh", "en"):
        raise MoneyError(f"unknown format style {style!r}; 'zh' or 'en'")
    digits = CURRENCY_MINOR_DIGITS[code]
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), _pow10(digits))
    number = f"{whole:,}.{frac:0{digits}d}" if digits else f"{whole:,}"
    if not symbol:
        return f"{sign}{number}"
    if style == "zh":
        return f"{sign}{_ZH_SYMBOLS.get(code, code + ' ')}{number}"
    return f"{sign}{code} {number}"


# ------------------------------------------------------------------------------------------- allocation


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` by largest remainder (Hamilton), exactly.

    Parts sum to ``total``; each is the floor or ceiling of its exact share; leftover units go to the
    largest remainders, ties to the earlier position. ``allocate(100, [1, 1, 1])`` → ``[34, 33, 33]``;
    a negative total mirrors a positive one. Weights must be non-negative ints with a positive sum.
    """
    if isinstance(total, bool) or not isinstance(total, int):
        raise MoneyError(f"total must be an integer amount in minor units, got {total!r}")
    ws = list(weights)
    if not ws:
        raise MoneyError("cannot allocate over an empty list of weights")
    for w in ws:
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise MoneyError(f"weights must be non-negative integers, got {w!r}", details={"weights": ws})
    weight_sum = sum(ws)
    if weight_sum == 0:
        raise MoneyError("weights must have a positive sum", details={"weights": ws})
    if total < 0:  # mirror, so the same parts get the extra unit whichever the sign
        return [-p for p in allocate(-total, ws)]
    floors, remainders = zip(*(divmod(total * w, weight_sum) for w in ws), strict=True)
    parts = list(floors)
    leftover = total - sum(parts)
    for i in sorted(range(len(ws)), key=lambda i: (-remainders[i], i))[:leftover]:
        parts[i] += 1
    return parts


# ------------------------------------------------------------------------------------ repayment schedules


class RepaymentMethod(StrEnum):
    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息: level payment (annuity)
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金: level principal, falling interest
    INTEREST_FIRST = "interest_first"  # 先息后本: interest monthly, principal at the end
    BULLET = "bullet"  # 到期一次还本付息: everything at maturity


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    seq: int
    due_date: date
    principal: int
    interest: int

    @property
    def total(self) -> int:
        return self.principal + self.interest


def add_months(anchor: date, months: int) -> date:
    """``anchor`` moved by ``months``, clamped to month end: (2024-01-31, 1) → 2024-02-29."""
    year, month0 = divmod(anchor.year * 12 + anchor.month - 1 + months, 12)
    return date(year, month0 + 1, min(anchor.day, calendar.monthrange(year, month0 + 1)[1]))


def schedule(
    principal: int,
    annual_rate_bp: int,
    term_months: int,
    method: RepaymentMethod | str,
    first_due: date | None = None,
    disbursed: date | None = None,
) -> list[ScheduledInstallment]:
    """The repayment schedule of a loan; see the module docstring for the rounding convention.

    ``schedule(100_000, 1200, 3, "equal_installment", disbursed=date(2024, 1, 31))`` → payment 34002:
    (2024-02-29, 33002 + 1000), (2024-03-31, 33332 + 670), (2024-04-30, 33666 + 337).
    Give ``first_due`` or ``disbursed`` (default first due date: disbursed + 1 month).
    """
    for name, v in (("principal", principal), ("annual_rate_bp", annual_rate_bp), ("term", term_months)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise MoneyError(f"{name} must be an integer, got {v!r}")
    if not 0 < principal <= MAX_ABS_MINOR:
        raise MoneyError(f"principal must be positive minor units, got {principal}")
    if not 0 <= annual_rate_bp <= MAX_RATE_BP:
        raise MoneyError(f"annual rate must be 0..{MAX_RATE_BP} bp, got {annual_rate_bp}")
    if not 1 <= term_months <= MAX_TERM_MONTHS:
        raise MoneyError(f"term must be 1..{MAX_TERM_MONTHS} months, got {term_months}")
    try:
        method = RepaymentMethod(method)
    except ValueError:
        raise MoneyError(
            f"unknown repayment method {method!r}; one of {', '.join(RepaymentMethod)}"
        ) from None
    if first_due is not None and disbursed is not None and first_due <= disbursed:
        raise MoneyError(f"first due date {first_due} must be after disbursement {disbursed}")
    if first_due is not None:
        anchor, offset = first_due, 0
    elif disbursed is not None:
        anchor, offset = disbursed, 1
    else:
        raise MoneyError("a schedule needs first_due or disbursed")
    try:
        dates = [add_months(anchor, k + offset) for k in range(term_months)]
    except ValueError:
        raise MoneyError(f"due dates from {anchor} over {term_months} months leave the calendar") from None

    rate = Fraction(annual_rate_bp, 12 * 10_000)
    if method is RepaymentMethod.BULLET:
        interest = round_half_up(principal * rate * term_months)
        return [ScheduledInstallment(1, dates[-1], principal, interest)]

    if method is RepaymentMethod.EQUAL_INSTALLMENT:
        if rate:
            growth = (1 + rate) ** term_months
            level = round_half_up(principal * rate * growth / (growth - 1))
        else:
            level = round_half_up(Fraction(principal, term_months))
    elif method is RepaymentMethod.EQUAL_PRINCIPAL:
        level = round_half_up(Fraction(principal, term_months))
    else:
        level = 0  # interest_first: no principal before the last installment

    out: list[ScheduledInstallment] = []
    remaining = principal
    for k, due in enumerate(dates):
        interest = round_half_up(remaining * rate)
        if k == term_months - 1:
            part = remaining
        elif method is RepaymentMethod.EQUAL_INSTALLMENT:
            # Never negative: level ≥ round(principal·rate) ≥ round(remaining·rate) since remaining only
            # falls and the exact payment exceeds one month's interest on the whole loan.
            part = min(level - interest, remaining)
        else:
            part = min(level, remaining)
        remaining -= part
        out.append(ScheduledInstallment(k + 1, due, part, interest))
    return out


# ------------------------------------------------------------------------------------- payment waterfall


class Component(StrEnum):
    PENALTY = "penalty"
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"


DEFAULT_ORDER: tuple[Component, ...] = (
    Component.PENALTY,
    Component.FEE,
    Component.INTEREST,
    Component.PRINCIPAL,
)


@dataclass(frozen=True, slots=True)
class Due:
    """What is still owed on one installment, per component, in minor units."""

    seq: int
    penalty: int
    fee: int
    interest: int
    principal: int

    def owed(self, component: Component) -> int:
        value: int = getattr(self, component.value)
        return value

    @property
    def total(self) -> int:
        return self.penalty + self.fee + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class AllocationLine:
    seq: int
    component: Component
    amount: int


@dataclass(frozen=True, slots=True)
class Allocation:
    """Where a payment went: non-zero ``lines`` in application order, and the overpayment ``credit``."""

    lines: list[AllocationLine]
    credit: int

    @property
    def applied(self) -> int:
        return sum(line.amount for line in self.lines)


def allocate_payment(
    amount: int,
    dues: Sequence[Due],
    *,
    order: Sequence[Component | str] = DEFAULT_ORDER,
    mode: Literal["installment_first", "component_first"] = "installment_first",
) -> Allocation:
    """Apply a payment to what is owed, oldest installment (lowest ``seq``) first.

    ``installment_first``: each installment is cleared through ``order`` before the next one.
    ``component_first``: ``order[0]`` on every installment oldest first, then ``order[1]``, …
    ``order`` must name each Component exactly once. What is left over is ``credit``.
    E.g. 1200 against [Due(1, 100, 0, 300, 1000)] → penalty 100, interest 300, principal 800, credit 0.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise MoneyError(f"payment amount must be a non-negative integer, got {amount!r}")
    try:
        components = [Component(c) for c in order]
    except ValueError:
        raise MoneyError(f"unknown component in order {list(order)!r}") from None
    if sorted(components) != sorted(Component):
        raise MoneyError(
            f"order must name each of {', '.join(Component)} exactly once, got {[str(c) for c in components]}"
        )
    seen: set[int] = set()
    for d in dues:
        if d.seq in seen:
            raise MoneyError(f"installment {d.seq} appears twice in the dues")
        seen.add(d.seq)
        for c in Component:
            owed = d.owed(c)
            if isinstance(owed, bool) or not isinstance(owed, int) or owed < 0:
                raise MoneyError(
                    f"installment {d.seq} {c} due must be a non-negative integer, got {owed!r}",
                    details={"seq": d.seq, "component": str(c)},
                )
    oldest_first = sorted(dues, key=lambda d: d.seq)
    if mode == "installment_first":
        buckets = [(d, c) for d in oldest_first for c in components]
    elif mode == "component_first":
        buckets = [(d, c) for c in components for d in oldest_first]
    else:
        raise MoneyError(f"unknown allocation mode {mode!r}; 'installment_first' or 'component_first'")

    left = amount
    lines: list[AllocationLine] = []
    for d, c in buckets:
        if left == 0:
            break
        take = min(left, d.owed(c))
        if take:
            lines.append(AllocationLine(d.seq, c, take))
            left -= take
    return Allocation(lines=lines, credit=left)
