"""A deterministic synthetic portfolio of Chinese consumer loans, as a lender's extract.

:func:`generate` returns the seven datasets of the extract format (:mod:`recoup.portfolio.spec`) as
all-text frames, cells written the way a core system exports them (amounts as decimal yuan, dates
ISO, rates like ``18.25%``); :func:`write_extract` writes them as a day's directory of CSV files,
optionally with the Chinese headers, file names and ``mapping.toml`` a Chinese lender would send.

Everything comes from one ``numpy.random.default_rng(seed)``, so the same arguments give the same
frames. Repayment schedules are computed for all loans at once (:func:`schedules`) with integer
arithmetic that follows :func:`recoup.money.schedule` exactly. The people are synthetic: names are
drawn from common surnames and given-name characters, national ids are well-formed (GB 11643 check
digit) and mobile numbers use real prefixes, but none of it describes anyone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.portfolio.spec import DATASETS, Kind
from recoup.portfolio.synth.people import _mobiles, _names, _national_ids, _pick, id_check_digit
from recoup.portfolio.synth.schedules import _add_months, schedules
from recoup.portfolio.synth.vocab import (
    _BUREAUS,
    _CODE_PREFIX,
    _DELINQUENCY,
    _DISTRICTS,
    _DPD_BUCKETS,
    _EMAIL_DOMAINS,
    _EMPLOYER_KINDS,
    _EMPLOYER_WORDS,
    _FUNDERS,
    _PAYMENT_CHANNELS,
    _PAYMENT_SHARES,
    _PRODUCTS,
    _RATE_RANGE,
    _RELATIONS,
    _ROADS,
    _SAME_SURNAME,
    _SYLLABLES,
    _TIER_SHARE,
    _VEHICLES,
    CHINESE_HEADERS,
    CITIES,
    PENALTY_BP_PER_DAY,
)
from recoup.portfolio.synth.writer import mapping_toml, write_extract

__all__ = ["CHINESE_HEADERS", "generate", "id_check_digit", "mapping_toml", "schedules", "write_extract"]

Ints = npt.NDArray[np.int64]
Days = npt.NDArray[np.datetime64]

# ------------------------------------------------------------------------------------------- helpers


def _choice(rng: np.random.Generator, options: Sequence[Any], n: int, p: Sequence[float]) -> npt.NDArray[Any]:
    probs = np.asarray(p, dtype=np.float64)
    return np.asarray(options)[rng.choice(len(options), n, p=probs / probs.sum())]


def _day(d: dt.date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def _dates(a: Days) -> pl.Series:
    return pl.Series(np.asarray(a, dtype="datetime64[D]")).cast(pl.Date)


def _id(prefix: str, index: pl.Expr, width: int) -> pl.Expr:
    """``prefix`` + the 1-based ``index`` zero-padded to ``width`` digits."""
    return pl.concat_str(pl.lit(prefix), (index + 1).cast(pl.String).str.zfill(width))


def _yuan(c: pl.Expr) -> pl.Expr:
    """Integer fen → decimal yuan text (``123456`` → ``1234.56``); null stays null."""
    return pl.format("{}.{}", c // 100, (c % 100).cast(pl.String).str.zfill(2))


def _as_text(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Typed columns → the text a core system exports, in the format's field order."""
    out: list[pl.Expr] = []
    for f in DATASETS[name].fields:
        if f.name not in frame.columns:
            continue
        c = pl.col(f.name)
        match f.kind:
            case Kind.AMOUNT:
                e = _yuan(c)
            case Kind.RATE:
                e = pl.format("{}.{}%", c // 100, (c % 100).cast(pl.String).str.zfill(2))
            case Kind.DATE:
                e = c.dt.strftime("%Y-%m-%d")
            case Kind.BOOL:
                e = pl.when(c).then(pl.lit("true")).when(c.not_()).then(pl.lit("false"))
            case _:
                e = c.cast(pl.String)
        out.append(pl.when(c.is_not_null()).then(e).otherwise(pl.lit(None, pl.String)).alias(f.name))
    return frame.select(out)


# ------------------------------------------------------------------------------------------- the book


class _Loans:
    """The loans' attributes as arrays, one element per loan (sorted by disbursement date)."""

    def __init__(self, rng: np.random.Generator, n: int, today: np.datetime64) -> None:
        products = list(_PRODUCTS)
        self.product = _choice(rng, products, n, [_PRODUCTS[x][0] for x in products]).astype(str)
        self.term = np.zeros(n, dtype=np.int64)
        method = np.empty(n, dtype=object)
        for name in products:
            idx = np.flatnonzero(self.product == name)
            _share, terms, term_w, methods, method_w = _PRODUCTS[name]
            self.term[idx] = _choice(rng, terms, idx.size, term_w)
            method[idx] = _choice(rng, methods, idx.size, method_w)
        self.auto = (self.product == "installment") & (rng.random(n) < 0.12)
        self.term[self.auto] = _choice(rng, (24, 36), int(self.auto.sum()), (0.5, 0.5))
        method[self.auto] = "equal_installment"
        method[(method == "interest_first") & (self.term > 12)] = "equal_installment"  # 先息后本 is short
        self.term[(method == "bullet") & (self.term > 6)] = 3  # bullet BNPL runs 3 or 6 months
        self.method: list[str] = [str(m) for m in method]
        self.kind = np.where(self.auto, "auto", self.product)

        # Principal: cash loans in hundreds of yuan, goods in whole yuan, card bills to the fen.
        self.principal = np.zeros(n, dtype=np.int64)
        self.rate_bp = np.zeros(n, dtype=np.int64)
        self.p_late = np.zeros(n, dtype=np.float64)
        for kind, (median, lo, hi, unit) in {
            "cash_loan": (8_000, 1_000, 50_000, 10_000),
            "installment": (9_000, 1_500, 80_000, 100),
            "revolving_card": (6_000, 1_000, 50_000, 1),
            "bnpl": (1_500, 200, 8_000, 1),
            "auto": (110_000, 50_000, 250_000, 10_000),
        }.items():
            idx = np.flatnonzero(self.kind == kind)
            # A float only shapes the random draw; from here on the amount is integer fen.
            yuan = np.clip(np.exp(rng.normal(np.log(median), 0.6, idx.size)), lo, hi)
            fen = (yuan * 100).astype(np.int64)
            self.principal[idx] = np.maximum(fen // unit * unit, lo * 100)
            rate_lo, rate_hi = _RATE_RANGE[kind]
            self.rate_bp[idx] = rng.integers(rate_lo // 10, rate_hi // 10 + 1, idx.size) * 10
            self.p_late[idx] = _DELINQUENCY[kind]
        self.disbursed: Days = np.sort(today - rng.integers(1, 731, n).astype("timedelta64[D]"))
        self.maturity = _add_months(self.disbursed, self.term)

        # About 1.25 loans per borrower; borrower numbers follow the date of their first loan.
        self.n_borrowers = max(1, round(n * 0.8))
        owner = np.concatenate(
            [np.arange(self.n_borrowers), rng.integers(0, self.n_borrowers, n - self.n_borrowers)]
        )
        rng.shuffle(owner)
        _unique, first = np.unique(owner, return_index=True)
        rank = np.empty(self.n_borrowers, dtype=np.int64)
        rank[np.argsort(first)] = np.arange(self.n_borrowers)
        self.owner = rank[owner].astype(np.int64)
        self.first_loan: Days = self.disbursed[np.sort(first)]


def _repayments(rng: np.random.Generator, loans: _Loans, today: np.datetime64) -> tuple[pl.DataFrame, Ints]:
    """Installments with what was paid (typed), and each loan's days past due."""
    n = loans.principal.size
    sched = schedules(loans.principal, loans.rate_bp, loans.term, loans.method, loans.disbursed)
    loan = sched.get_column("loan").to_numpy()
    seq = sched.get_column("seq").to_numpy()
    due = sched.get_column("due_date").to_numpy().astype("datetime64[D]")
    p_due = sched.get_column("principal").to_numpy()
    i_due = sched.get_column("interest").to_numpy()
    n_due = np.bincount(loan, weights=(due <= today), minlength=n).astype(np.int64)

    # A minority of loans stopped paying at some point: each draws a target of days past due (most
    # recent, a tail of old ones), pays every installment older than that and none since. A loan
    # whose every due installment is older than its target mostly stays current (it would only pile
    # up the tail); the rest miss their last one. A third of the late loans paid part of the oldest
    # unpaid installment (its interest and some of its principal).
    days_over = (today - due).astype(np.int64)
    late = (n_due > 0) & (rng.random(n) < loans.p_late)
    bucket = rng.choice(len(_DPD_BUCKETS), n, p=[b[2] for b in _DPD_BUCKETS])
    target = rng.integers(
        np.array([b[0] for b in _DPD_BUCKETS])[bucket], np.array([b[1] for b in _DPD_BUCKETS])[bucket] + 1
    )
    older = np.bincount(loan, weights=(days_over > target[loan]), minlength=n).astype(np.int64)
    stale = older >= n_due
    late &= ~(stale & (rng.random(n) < 0.7))
    paid_n = np.where(late, np.minimum(older, n_due - 1), n_due)
    partial = late & (rng.random(n) < 0.3)
    full_row = seq <= paid_n[loan]
    part_row = (seq == paid_n[loan] + 1) & partial[loan]
    p_paid = np.where(
        full_row, p_due, np.where(part_row, p_due * rng.integers(100, 900, seq.size) // 1000, 0)
    )
    i_paid = np.where(full_row | part_row, i_due, 0)
    unpaid = p_due - p_paid + i_due - i_paid
    penalty = np.where(~full_row & (days_over > 0), unpaid * PENALTY_BP_PER_DAY * days_over // 10_000, 0)

    # Paid mostly on or a few days before the due date, sometimes late; partial payments after it.
    # Never after as_of, never before the previous installment's payment.
    early = rng.random(seq.size) < 0.85
    offset = np.where(early, -rng.integers(0, 6, seq.size), rng.integers(1, 31, seq.size))
    span = np.clip(days_over, 0, 20)
    offset = np.where(part_row, (rng.random(seq.size) * (span + 1)).astype(np.int64), offset)
    paid_on = np.minimum(due + offset.astype("timedelta64[D]"), today)
    paid_on = np.maximum(paid_on, loans.disbursed[loan] + np.timedelta64(1, "D"))
    zero = np.zeros(seq.size, dtype=np.int64)
    paid_any = full_row | part_row
    inst = pl.DataFrame(
        {
            "loan": loan,
            "seq": seq,
            "due_date": _dates(due),
            "principal_due": p_due,
            "interest_due": i_due,
            "fee_due": zero,
            "penalty_due": penalty,
            "principal_paid": p_paid,
            "interest_paid": i_paid,
            "fee_paid": zero,
            "penalty_paid": zero,
            "last_paid_date": _dates(paid_on),
            "__paid": paid_any,
        }
    ).with_columns(
        pl.when(pl.col("__paid"))
        .then(pl.col("last_paid_date"))
        .cum_max()
        .over("loan")
        .alias("last_paid_date")
    )
    inst = inst.with_columns(pl.when(pl.col("__paid")).then(pl.col("last_paid_date")).alias("last_paid_date"))

    oldest = np.full(n, today)
    rows = late[loan] & (seq == paid_n[loan] + 1)
    oldest[loan[rows]] = due[rows]
    dpd = (today - oldest).astype(np.int64)
    inst = inst.with_columns(pl.Series("__settled", paid_n[loan] == np.bincount(loan, minlength=n)[loan]))
    return inst, dpd


def generate(n_loans: int, *, as_of: dt.date, seed: int = 0) -> dict[str, pl.DataFrame]:
    """A synthetic portfolio of ``n_loans`` loans as the extract of day ``as_of``.

    Returns dataset name → frame of text cells under the format's canonical column names, for every
    dataset of :data:`recoup.portfolio.spec.DATASETS` (the optional ``deleted`` column is left out).
    The same ``(n_loans, as_of, seed)`` always gives the same frames.
    """
    if n_loans < 1:
        raise ValueError("n_loans must be at least 1")
    rng = np.random.default_rng(seed)
    today = _day(as_of)
    ln = _Loans(rng, n_loans, today)
    inst, dpd = _repayments(rng, ln, today)
    settled = inst.group_by("loan").agg(pl.col("__settled").first()).sort("loan").get_column("__settled")
    status = np.where(settled.to_numpy(), "paid_off", "active").astype(object)
    status[(dpd > 180) & (rng.random(n_loans) < 0.4)] = "written_off"
    late_borrower = np.zeros(ln.n_borrowers, dtype=bool)
    late_borrower[ln.owner[dpd > 0]] = True

    loans = pl.DataFrame(
        {
            "loan": np.arange(n_loans, dtype=np.int64),
            "owner": ln.owner,
            "product_code": [
                f"{'AUTO' if a else _CODE_PREFIX[str(p)]}{t:02d}"
                for p, a, t in zip(ln.product, ln.auto, ln.term, strict=True)
            ],
            "product_type": ln.product.tolist(),
            "repayment_method": ln.method,
            "principal": ln.principal,
            "currency": ["CNY"] * n_loans,
            "annual_rate": ln.rate_bp,
            "term_months": ln.term,
            "disbursement_date": _dates(ln.disbursed),
            "maturity_date": _dates(ln.maturity),
            "status": [str(s) for s in status],
            "funding_partner": pl.Series(
                np.where(
                    (ln.product == "cash_loan") & (rng.random(n_loans) < 0.6),
                    _pick(rng, _FUNDERS, n_loans),
                    "",
                ).tolist()
            ),
        }
    ).with_columns(
        pl.concat_str(
            pl.lit("L"),
            pl.col("disbursement_date").dt.year().cast(pl.String),
            (pl.col("loan") + 1).cast(pl.String).str.zfill(7),
        ).alias("loan_id"),
        _id("C", pl.col("owner"), 8).alias("borrower_id"),
        pl.when(pl.col("funding_partner") != "").then(pl.col("funding_partner")).alias("funding_partner"),
    )
    loan_ids = loans.select("loan", "loan_id")
    borrowers = _borrowers(rng, ln, today)
    frames = {
        "borrowers": borrowers,
        "contact_points": _contact_points(rng, ln, borrowers),
        "loans": loans,
        "installments": inst.join(loan_ids, on="loan").sort("loan", "seq"),
        "payments": _payments(rng, inst).join(loan_ids, on="loan"),
        "collateral": _collateral(rng, ln).join(loan_ids, on="loan"),
        "bureau_updates": _bureau(rng, ln, today, late_borrower),
    }
    return {name: _as_text(name, frames[name]) for name in DATASETS}


def _borrowers(rng: np.random.Generator, ln: _Loans, today: np.datetime64) -> pl.DataFrame:
    n = ln.n_borrowers
    tiers = np.array([c[1] for c in CITIES], dtype=np.int64)
    weights = np.array([_TIER_SHARE[int(t)] / int((tiers == t).sum()) for t in tiers])
    city = rng.choice(len(CITIES), n, p=weights / weights.sum())
    city_name = np.array([c[0] for c in CITIES])[city]
    male = rng.random(n) < 0.55
    birth = today - rng.integers(20 * 365 + 5, 58 * 365, n).astype("timedelta64[D]")
    area = np.array([c[2] for c in CITIES], dtype=np.int64)[city]
    tier = tiers[city]
    # Monthly income in whole hundreds of yuan, lower in smaller cities (the float only shapes the draw).
    income_hundreds = np.clip(np.exp(rng.normal(np.log(90) - 0.12 * (tier - 1), 0.5, n)), 25, 800)
    ctype = _choice(rng, ("individual", "sole_proprietor"), n, (0.94, 0.06))
    company = np.char.add(
        np.char.add(city_name, _pick(rng, _EMPLOYER_WORDS, n)), _pick(rng, _EMPLOYER_KINDS, n)
    )
    employer = np.where(ctype == "sole_proprietor", np.char.add(city_name, "个体经营"), company)
    return pl.DataFrame(
        {
            "i": np.arange(n, dtype=np.int64),
            "name": _names(rng, male).tolist(),
            "national_id": _national_ids(area, birth, male, rng),
            "birth_date": _dates(birth),
            "gender": np.where(male, "男", "女").tolist(),
            "customer_type": ctype.tolist(),
            "timezone": np.where(city_name == "乌鲁木齐", "Asia/Urumqi", "Asia/Shanghai").tolist(),
            "locale": np.where(rng.random(n) < 0.99, "zh_CN", "en").tolist(),
            "city": city_name.tolist(),
            "city_tier": tier,
            "monthly_income": income_hundreds.astype(np.int64) * 10_000,
            "__has_income": rng.random(n) < 0.9,
            "employer": employer.tolist(),
            "__has_employer": rng.random(n) < 0.8,
        }
    ).with_columns(
        _id("C", pl.col("i"), 8).alias("borrower_id"),
        pl.when(pl.col("__has_income")).then(pl.col("monthly_income")).alias("monthly_income"),
        pl.when(pl.col("__has_employer")).then(pl.col("employer")).alias("employer"),
    )


def _contact_points(rng: np.random.Generator, ln: _Loans, borrowers: pl.DataFrame) -> pl.DataFrame:
    """Each borrower's own mobile, an optional email and address, and 0–2 emergency contacts."""
    n = ln.n_borrowers
    who = np.arange(n, dtype=np.int64)
    has_email = rng.random(n) < 0.4
    qq = pl.Series(rng.integers(10**5, 10**10, n)).cast(pl.String) + "@qq.com"
    named = (
        pl.Series(_pick(rng, _SYLLABLES, n))
        + pl.Series(_pick(rng, _SYLLABLES, n))
        + pl.Series(rng.integers(1, 10_000, n)).cast(pl.String)
        + "@"
        + pl.Series(_pick(rng, _EMAIL_DOMAINS[1:], n))
    )
    email = np.where(rng.random(n) < 0.5, qq.to_numpy(), named.to_numpy())
    has_addr = rng.random(n) < 0.5
    city = pl.Series(np.array([c[0] for c in CITIES])[rng.integers(0, len(CITIES), n)])
    address = (
        city
        + "市"
        + pl.Series(_pick(rng, _DISTRICTS, n))
        + pl.Series(_pick(rng, _ROADS, n))
        + "路"
        + pl.Series(rng.integers(1, 400, n)).cast(pl.String)
        + "号"
        + pl.Series(rng.integers(1, 30, n)).cast(pl.String)
        + "栋"
        + pl.Series(rng.integers(101, 2_800, n)).cast(pl.String)
        + "室"
    ).to_numpy()

    n_em = _choice(rng, (0, 1, 2), n, (0.2, 0.4, 0.4)).astype(np.int64)  # never more than two
    em_who = np.repeat(who, n_em)
    relation = _pick(rng, _RELATIONS, em_who.size)
    own_male = (borrowers.get_column("gender") == "男").to_numpy()
    # Parents, siblings and children share the borrower's surname (single-character surnames only).
    own_surname = borrowers.get_column("name").str.slice(0, 1).to_numpy().astype(str)
    em_male = np.where(
        np.isin(relation, ["父亲", "兄弟"]),
        True,
        np.where(
            np.isin(relation, ["母亲", "姐妹"]),
            False,
            np.where(relation == "配偶", ~own_male[em_who], rng.random(em_who.size) < 0.5),
        ),
    )
    em_name = _names(rng, em_male)
    same = np.isin(relation, _SAME_SURNAME)
    em_name = np.where(
        same,
        np.char.add(own_surname[em_who], pl.Series(em_name).str.slice(1).to_numpy().astype(str)),
        em_name,
    )
    parts = [
        _cp(who, 0, "phone", _mobiles(rng, n), "self", "voice,sms", rng.random(n) >= 0.03),
        _cp(who[has_email], 1, "email", email[has_email].tolist(), "self", "email"),
        _cp(who[has_addr], 2, "address", address[has_addr].tolist(), "self", "letter,visit"),
        _cp(
            em_who,
            3,
            "phone",
            _mobiles(rng, em_who.size),
            "emergency_contact",
            "voice",
            rng.random(em_who.size) >= 0.08,
        )
        .with_columns(pl.Series("contact_name", em_name.tolist(), dtype=pl.String))
        .with_columns(pl.Series("relation", relation.tolist(), dtype=pl.String)),
    ]
    cp = pl.concat(parts, how="diagonal_relaxed").with_row_index("__r").sort("b", "__o", "__r")
    return cp.with_row_index("__n").with_columns(
        _id("CP", pl.col("__n").cast(pl.Int64), 9).alias("contact_id"),
        _id("C", pl.col("b"), 8).alias("borrower_id"),
        pl.lit("loan_contract").alias("consent_source"),
        pl.Series(_dates(ln.first_loan[cp.get_column("b").to_numpy()])).alias("consent_date"),
    )


def _cp(
    who: Ints,
    order: int,
    kind: str,
    value: list[str],
    role: str,
    channels: str,
    valid: npt.NDArray[np.bool_] | None = None,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "b": who,
            "__o": np.full(who.size, order, dtype=np.int64),
            "kind": [kind] * who.size,
            "value": pl.Series(value, dtype=pl.String),
            "role": [role] * who.size,
            "consent_channels": [channels] * who.size,
            "is_valid": np.ones(who.size, dtype=bool) if valid is None else valid,
        },
        schema_overrides={"b": pl.Int64, "__o": pl.Int64, "kind": pl.String, "role": pl.String},
    ).with_columns(pl.col("consent_channels").cast(pl.String))


def _payments(rng: np.random.Generator, inst: pl.DataFrame) -> pl.DataFrame:
    """One payment per (fully or partly) paid installment, numbered in the order they arrived."""
    paid = inst.filter(pl.col("__paid")).select(
        "loan",
        "seq",
        pl.col("last_paid_date").alias("received_date"),
        (
            pl.col("principal_paid") + pl.col("interest_paid") + pl.col("fee_paid") + pl.col("penalty_paid")
        ).alias("amount"),
    )
    paid = paid.filter(pl.col("amount") > 0).sort("received_date", "loan", "seq")
    n = paid.height
    return paid.with_columns(
        _id("P", pl.int_range(0, n, dtype=pl.Int64), 10).alias("payment_id"),
        pl.Series("channel", _choice(rng, _PAYMENT_CHANNELS, n, _PAYMENT_SHARES).tolist(), dtype=pl.String),
        pl.concat_str(
            pl.col("received_date").dt.strftime("%Y%m%d"),
            pl.Series(rng.integers(0, 10**8, n)).cast(pl.String).str.zfill(8),
        ).alias("reference"),
        pl.lit(None, pl.String).alias("reverses"),
    )


def _collateral(rng: np.random.Generator, ln: _Loans) -> pl.DataFrame:
    """The vehicle securing each auto loan, valued shortly before disbursement."""
    idx = np.flatnonzero(ln.auto)
    n = idx.size
    when = ln.disbursed[idx] - rng.integers(1, 15, n).astype("timedelta64[D]")
    year = pl.Series(when.astype("datetime64[Y]").astype(np.int64) + 1970 - rng.integers(0, 2, n))
    value = ln.principal[idx] * rng.integers(115, 146, n) // 100 // 10_000 * 10_000
    return pl.DataFrame(
        {
            "loan": idx.astype(np.int64),
            "type": ["vehicle"] * n,
            "description": (
                year.cast(pl.String) + "款 " + pl.Series(_pick(rng, _VEHICLES, n), dtype=pl.String)
            ),
            "valuation": value.astype(np.int64),
            "valuation_date": _dates(when),
        },
        schema_overrides={"type": pl.String, "description": pl.String},
    ).with_columns(_id("G", pl.int_range(0, n, dtype=pl.Int64), 7).alias("collateral_id"))


def _bureau(
    rng: np.random.Generator, ln: _Loans, today: np.datetime64, late: npt.NDArray[np.bool_]
) -> pl.DataFrame:
    """A credit-bureau refresh for about a third of the borrowers (most of those in arrears)."""
    n = ln.n_borrowers
    pick = np.flatnonzero(rng.random(n) < np.where(late, 0.7, 0.3))
    m = pick.size
    report = today - rng.integers(0, 181, m).astype("timedelta64[D]")
    report = np.maximum(report, ln.first_loan[pick] + np.timedelta64(1, "D"))
    report = np.minimum(report, today)
    score = np.clip(rng.normal(680, 60, m) - np.where(late[pick], 90, 0), 300, 900).astype(np.int64)
    return pl.DataFrame(
        {
            "b": pick.astype(np.int64),
            "report_date": _dates(report),
            "source": _choice(rng, _BUREAUS, m, (0.7, 0.3)).tolist(),
            "new_delinquencies": rng.poisson(np.where(late[pick], 1.2, 0.1)).astype(np.int64),
            "score": score,
        },
        schema_overrides={"source": pl.String},
    ).with_columns(
        _id("B", pl.int_range(0, m, dtype=pl.Int64), 8).alias("update_id"),
        _id("C", pl.col("b"), 8).alias("borrower_id"),
    )
