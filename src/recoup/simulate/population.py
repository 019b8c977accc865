"""Who borrows: loans, their owners, latent types, and profiles correlated with the types.

A loan's product is drawn by share, its borrower's type from the product's mix (a borrower with several
loans keeps the type drawn for the first). Observable attributes — income, age, city tier, employer,
loan size against income, delinquencies elsewhere and bureau score — shift with the type and carry
noise, so a scoring model has real signal to find but cannot read the type off one column. Names, ids,
mobiles and contact points come from the static generator (:mod:`recoup.portfolio.synth`).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.portfolio import synth
from recoup.portfolio.synth.people import _names, _national_ids, _pick
from recoup.portfolio.synth.vocab import _EMPLOYER_KINDS, _EMPLOYER_WORDS, _FUNDERS, _TIER_SHARE, CITIES
from recoup.simulate.params import TYPES, SimParams

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

METHODS = ("equal_installment", "equal_principal", "interest_first", "bullet")


def _choice(rng: np.random.Generator, n: int, weights: tuple[float, ...] | list[float]) -> Ints:
    p = np.asarray(weights, dtype=np.float64)
    out: Ints = rng.choice(p.size, n, p=p / p.sum()).astype(np.int64)
    return out


class Population:
    """Loans (sorted by disbursement day) with product terms, and their borrowers with types and profiles."""

    def __init__(
        self,
        params: SimParams,
        rng: np.random.Generator,
        n_loans: int,
        first_day: int,
        last_day: int,
        term_months: int | None = None,
    ) -> None:
        n = n_loans
        prods = params.products
        self.disbursed: Ints = np.sort(rng.integers(first_day, last_day + 1, n)).astype(np.int64)
        self.product = _choice(rng, n, [p.share for p in prods])
        # Owners: about ``loans_per_borrower`` loans each, borrowers numbered by their first loan.
        nb = max(1, round(n / params.loans_per_borrower))
        owner = np.concatenate([np.arange(nb), rng.integers(0, nb, n - nb)])
        rng.shuffle(owner)
        _u, first = np.unique(owner, return_index=True)
        rank = np.empty(nb, dtype=np.int64)
        rank[np.argsort(first)] = np.arange(nb)
        self.owner: Ints = rank[owner].astype(np.int64)
        self.n_borrowers = nb
        _b, first_loan = np.unique(self.owner, return_index=True)  # each borrower's earliest loan
        self.first_loan_day: Ints = self.disbursed[first_loan]

        # Borrower types from the product mix of each borrower's first loan.
        bt = np.zeros(nb, dtype=np.int64)
        bprod = self.product[first_loan]
        for pi, p in enumerate(prods):
            idx = np.flatnonzero(bprod == pi)
            bt[idx] = _choice(rng, idx.size, [p.type_mix[str(t)] for t in TYPES])
        self.btype: Ints = bt
        self.ltype: Ints = bt[self.owner]

        # Product terms.
        self.term = np.zeros(n, dtype=np.int64)
        self.method = np.zeros(n, dtype=np.int64)
        self.rate_bp = np.zeros(n, dtype=np.int64)
        self.principal = np.zeros(n, dtype=np.int64)
        self.fee = np.zeros(n, dtype=np.int64)
        mult = np.array([params.types[str(t)].profile.loan_to_income for t in TYPES])[self.ltype]
        noise = np.exp(rng.normal(0.0, 0.6, n))
        for pi, p in enumerate(prods):
            idx = np.flatnonzero(self.product == pi)
            self.term[idx] = np.asarray(p.terms, dtype=np.int64)[_choice(rng, idx.size, p.term_weights)]
            codes = np.array([METHODS.index(m) for m in p.methods], dtype=np.int64)
            self.method[idx] = codes[_choice(rng, idx.size, p.method_weights)]
            lo, hi = p.rate_bp
            self.rate_bp[idx] = rng.integers(lo // 10, hi // 10 + 1, idx.size) * 10
            median, amin, amax = p.amount_yuan
            # A float only shapes the draw; the principal is integer fen from here on.
            yuan = np.clip(median * noise[idx] * mult[idx], amin, amax)
            fen = (yuan * 100).astype(np.int64)
            self.principal[idx] = np.maximum(fen // p.amount_unit * p.amount_unit, amin * 100)
            self.fee[idx] = self.principal[idx] * p.fee_bp_month // 10_000
        if term_months is not None:
            self.term[:] = term_months
            self.method[self.method == METHODS.index("bullet")] = 0
        bullet = self.method == METHODS.index("bullet")
        self.term[bullet & (self.term > 6)] = 3
        self.method[(self.method == METHODS.index("interest_first")) & (self.term > 12)] = 0
        self.funder = np.where(
            (np.array([p.product_type for p in prods])[self.product] == "cash_loan") & (rng.random(n) < 0.6),
            _pick(rng, _FUNDERS, n),
            "",
        )
        # Per-loan heterogeneity within a type: lognormal factors on intensities and on the miss odds.
        sig = np.array([params.types[str(t)].dynamics.sigma for t in TYPES])[self.ltype]
        self.lam_mult: Floats = np.exp(rng.normal(0.0, 1.0, n) * sig - sig**2 / 2)
        self.miss_mult: Floats = np.exp(rng.normal(0.0, 1.0, n) * sig - sig**2 / 2)
        self._profiles(params, rng)

    # ------------------------------------------------------------------------------------ profiles
    def _profiles(self, params: SimParams, rng: np.random.Generator) -> None:
        nb = self.n_borrowers
        prof = [params.types[str(t)].profile for t in TYPES]
        tshift = np.array([p.tier_shift for p in prof])[self.btype]
        tiers = np.array([c[1] for c in CITIES], dtype=np.int64)
        base = np.array([_TIER_SHARE[int(t)] / int((tiers == t).sum()) for t in tiers])
        city = np.zeros(nb, dtype=np.int64)
        for shift in np.unique(tshift):
            idx = np.flatnonzero(tshift == shift)
            w = base * np.exp(shift * (tiers - 3.5) / 1.5)
            city[idx] = rng.choice(len(CITIES), idx.size, p=w / w.sum())
        self.city = city
        self.tier: Ints = tiers[city]
        self.male: Bools = rng.random(nb) < 0.55
        age = np.clip(rng.normal(np.array([p.age_mean for p in prof])[self.btype], 8.0), 20.0, 60.0)
        self.birth: Ints = (
            self.first_loan_day - (age * 365.25).astype(np.int64) - rng.integers(0, 365, nb)
        ).astype(np.int64)
        shift = np.array([p.income_shift for p in prof])[self.btype]
        hundreds = np.clip(np.exp(rng.normal(np.log(90) - 0.12 * (self.tier - 1) + shift, 0.5)), 25, 800)
        self.income: Ints = hundreds.astype(np.int64) * 10_000  # whole hundreds of yuan, in fen
        self.has_income: Bools = rng.random(nb) < 0.9
        self.employed: Bools = rng.random(nb) < np.array([p.employed for p in prof])[self.btype]
        prior = np.array([p.prior_delinquencies for p in prof])[self.btype]
        self.prior_delinquencies: Ints = rng.poisson(prior).astype(np.int64)
        score = rng.normal(np.array([p.bureau_score for p in prof])[self.btype], params.score_sd)
        self.score: Ints = np.clip(score, 300, 900).astype(np.int64)

    # --------------------------------------------------------------------------------- people frames
    def borrowers_frame(self, rng: np.random.Generator) -> pl.DataFrame:
        """Typed borrowers (canonical column names; ``b`` is the borrower's index)."""
        nb = self.n_borrowers
        city_name = np.array([c[0] for c in CITIES])[self.city]
        area = np.array([c[2] for c in CITIES], dtype=np.int64)[self.city]
        birth = self.birth.astype("datetime64[D]")
        sole = rng.random(nb) < 0.06
        company = np.char.add(
            np.char.add(city_name, _pick(rng, _EMPLOYER_WORDS, nb)), _pick(rng, _EMPLOYER_KINDS, nb)
        )
        employer = np.where(sole, np.char.add(city_name, "个体经营"), company)
        return pl.DataFrame(
            {
                "b": np.arange(nb, dtype=np.int64),
                "name": _names(rng, self.male).tolist(),
                "national_id": _national_ids(area, birth, self.male, rng),
                "birth_date": pl.Series(birth).cast(pl.Date),
                "gender": np.where(self.male, "男", "女").tolist(),
                "customer_type": np.where(sole, "sole_proprietor", "individual").tolist(),
                "timezone": np.where(city_name == "乌鲁木齐", "Asia/Urumqi", "Asia/Shanghai").tolist(),
                "locale": np.where(rng.random(nb) < 0.99, "zh_CN", "en").tolist(),
                "city": city_name.tolist(),
                "city_tier": self.tier,
                "monthly_income": pl.Series(np.where(self.has_income, self.income, 0)),
                "employer": employer.tolist(),
                "__has_income": self.has_income,
                "__employed": self.employed | sole,
            }
        ).with_columns(
            synth._id("C", pl.col("b"), 8).alias("borrower_id"),
            pl.when(pl.col("__has_income")).then(pl.col("monthly_income")).alias("monthly_income"),
            pl.when(pl.col("__employed")).then(pl.col("employer")).alias("employer"),
        )

    def contact_frame(self, rng: np.random.Generator, borrowers: pl.DataFrame) -> pl.DataFrame:
        """Contact points of every borrower, as the static generator makes them (``b`` = borrower index)."""
        shim = SimpleNamespace(
            n_borrowers=self.n_borrowers, first_loan=self.first_loan_day.astype("datetime64[D]")
        )
        frame = synth._contact_points(rng, cast(synth._Loans, shim), borrowers)
        return frame.select(pl.exclude("__o", "__r", "__n"))
