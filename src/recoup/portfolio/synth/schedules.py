"""Repayment schedules for many loans at once, following recoup.money.schedule exactly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.money import MAX_RATE_BP, MAX_TERM_MONTHS, RepaymentMethod

Ints = npt.NDArray[np.int64]
Days = npt.NDArray[np.datetime64]

# ----------------------------------------------------------------------------------- vectorised schedules

_METHOD_CODES = {m.value: i for i, m in enumerate(RepaymentMethod)}
_EQ_INST = _METHOD_CODES["equal_installment"]
_EQ_PRIN = _METHOD_CODES["equal_principal"]
_BULLET = _METHOD_CODES["bullet"]
_RATE_DEN = 120_000  # monthly rate = bp / (12 × 10 000)
#: Largest principal (minor units) :func:`schedules` takes: with rates ≤ MAX_RATE_BP and terms ≤
#: MAX_TERM_MONTHS its int64 arithmetic (2 × principal × bp × term at most) cannot overflow.
MAX_SCHEDULE_PRINCIPAL = 10**10


@lru_cache(maxsize=65_536)
def _annuity_factor(rate_bp: int, term: int) -> tuple[int, int]:
    """(A, B) with level payment = round_half_up(principal × rate_bp × A / B) for rate_bp > 0."""
    grown = (_RATE_DEN + rate_bp) ** term
    return grown, _RATE_DEN * (grown - _RATE_DEN**term)


def _level_payment(principal: int, rate_bp: int, term: int) -> int:
    """The equal-installment payment, exactly as :func:`recoup.money.schedule` rounds it."""
    if rate_bp == 0:
        return (2 * principal + term) // (2 * term)
    a, b = _annuity_factor(rate_bp, term)
    return (2 * principal * rate_bp * a + b) // (2 * b)


def _add_months(anchor: Days, months: Ints) -> Days:
    """``anchor + months`` months, clamped to the month's end (as :func:`recoup.money.add_months`)."""
    first = anchor.astype("datetime64[M]")
    day = (anchor - first.astype("datetime64[D]")).astype(np.int64)
    target = first + months.astype("timedelta64[M]")
    start = target.astype("datetime64[D]")
    length = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - start).astype(np.int64)
    result: Days = start + np.minimum(day, length - 1).astype("timedelta64[D]")
    return result


def schedules(
    principal: Sequence[int] | Ints,
    annual_rate_bp: Sequence[int] | Ints,
    term_months: Sequence[int] | Ints,
    methods: Sequence[str],
    disbursed: Sequence[dt.date] | Days,
) -> pl.DataFrame:
    """The repayment schedules of many loans at once, identical to :func:`recoup.money.schedule`.

    Returns one row per installment: ``loan`` (the position of the loan in the inputs), ``seq``,
    ``due_date``, ``principal`` and ``interest`` (Int64 minor units), sorted by loan and seq. The
    first due date is one month after disbursement. Principals must be at most 10^10 minor units.
    """
    p = np.asarray(principal, dtype=np.int64)
    bp = np.asarray(annual_rate_bp, dtype=np.int64)
    term = np.asarray(term_months, dtype=np.int64)
    try:
        code = np.array([_METHOD_CODES[str(m)] for m in methods], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"unknown repayment method {exc.args[0]!r}") from None
    start = np.asarray(disbursed, dtype="datetime64[D]")
    n = p.shape[0]
    if n == 0:
        return pl.DataFrame(
            schema={
                "loan": pl.Int64,
                "seq": pl.Int64,
                "due_date": pl.Date,
                "principal": pl.Int64,
                "interest": pl.Int64,
            }
        )
    if not (p.shape == bp.shape == term.shape == code.shape == start.shape):
        raise ValueError("principal, rate, term, method and disbursement need one value per loan")
    if p.min() <= 0 or p.max() > MAX_SCHEDULE_PRINCIPAL:
        raise ValueError(f"principal must be 1..{MAX_SCHEDULE_PRINCIPAL} minor units")
    if bp.min() < 0 or bp.max() > MAX_RATE_BP or term.min() < 1 or term.max() > MAX_TERM_MONTHS:
        raise ValueError(f"rate must be 0..{MAX_RATE_BP} bp and term 1..{MAX_TERM_MONTHS} months")
    count = np.where(code == _BULLET, 1, term)
    width = int(count.max())
    level = np.zeros(n, dtype=np.int64)
    for i in np.flatnonzero(code == _EQ_INST):
        level[i] = _level_payment(int(p[i]), int(bp[i]), int(term[i]))
    ep = code == _EQ_PRIN
    level[ep] = (2 * p[ep] + term[ep]) // (2 * term[ep])
    # interest_first keeps level 0: no principal before the last installment.
    bullet_interest = (2 * p * bp * term + _RATE_DEN) // (2 * _RATE_DEN)
    remaining = p.copy()
    parts = np.zeros((n, width), dtype=np.int64)
    interests = np.zeros((n, width), dtype=np.int64)
    for k in range(width):
        active = k < count
        interest = np.where(
            code == _BULLET, bullet_interest, (2 * remaining * bp + _RATE_DEN) // (2 * _RATE_DEN)
        )
        part = np.where(
            code == _EQ_INST, np.minimum(level - interest, remaining), np.minimum(level, remaining)
        )
        part = np.where(k == count - 1, remaining, part)
        part = np.where(active, part, 0)
        remaining = remaining - part
        parts[:, k] = part
        interests[:, k] = np.where(active, interest, 0)
    mask = np.arange(width)[None, :] < count[:, None]
    loan = np.repeat(np.arange(n, dtype=np.int64), count)
    seq = np.broadcast_to(np.arange(1, width + 1, dtype=np.int64), (n, width))[mask]
    offset = np.where(code[loan] == _BULLET, term[loan], seq)
    due = _add_months(start[loan], offset)
    return pl.DataFrame(
        {
            "loan": loan,
            "seq": seq,
            "due_date": pl.Series(due).cast(pl.Date),
            "principal": parts[mask],
            "interest": interests[mask],
        }
    )
