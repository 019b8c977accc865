"""The parameters of the digital twin, as frozen dataclasses; the default values are in
:mod:`recoup.simulate.defaults` and frozen by their hash (:func:`params_hash`, docs/simulator.md).

Units: time in days; intensities λ in repayment events per day; money in integer fen; rates in basis
points; probabilities and effort units are plain floats (never money).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from recoup.configs.service import canonical_json
from recoup.errors import RecoupError

__all__ = [
    "BorrowerType",
    "Dynamics",
    "Product",
    "Profile",
    "Response",
    "SimParams",
    "SimulateError",
    "Target",
    "TreatmentCost",
    "TypeParams",
    "params_hash",
    "params_payload",
]


class SimulateError(RecoupError):
    """Bad input to the simulator (a loan id it never made, an hour outside 0–23, …)."""

    code = "simulate.invalid"


class BorrowerType(StrEnum):
    """Latent borrower types that collectors recognise (never written to an extract)."""

    ABLE = "able_willing"  # pays; a late payment is a slip (bank card empty on the due date)
    FORGETFUL = "forgetful"  # able and willing but forgets; self-cures after a reminder
    HARDSHIP = "hardship"  # temporarily unable: responds to a plan, not to pressure
    UNWILLING = "unwilling"  # able but will not pay: responds to legal action
    UNREACHABLE = "unreachable"  # wrong number or moved: nothing reaches them until found again
    FRAUD = "fraud"  # never meant to pay


TYPES: tuple[BorrowerType, ...] = tuple(BorrowerType)


@dataclass(frozen=True)
class Dynamics:
    """Repayment behaviour of one type: the performing path and the self-exciting process (DESIGN.md §5).

    A performing installment is missed with probability ``miss`` (× the loan's own heterogeneity);
    a delinquent account repays at intensity λ: dλ = κ(λ∞ − λ)dt + (δ₁₀ + δ₁₁R)dN + δ₂dℓ, starting at
    λ₀. R, the repaid fraction of the overdue amount, is 1 with probability ``r_full``, else
    Uniform[``r_lo``, ``r_hi``]. ``sigma`` is the spread of a per-loan lognormal factor on λ₀, λ∞ and the
    miss odds, so that accounts of one type are not identical.
    """

    miss: float
    early: float  # share of payments made 1–5 days before the due date
    lam0: float
    lam_inf: float
    kappa: float
    delta10: float
    delta11: float
    delta2: float
    r_full: float
    r_lo: float
    r_hi: float
    sigma: float


@dataclass(frozen=True)
class Profile:
    """How a type shifts the observable profile (so that a scoring model has signal to find)."""

    income_shift: float  # added to log monthly income
    age_mean: float
    tier_shift: float  # > 0 pushes towards smaller cities (higher tier numbers)
    employed: float  # probability that an employer is known
    loan_to_income: float  # multiplier on the drawn principal (utilisation of means)
    prior_delinquencies: float  # Poisson mean of delinquencies elsewhere at application
    bureau_score: float  # mean bureau score at application (sd: SimParams.score_sd)


@dataclass(frozen=True)
class Response:
    """How a type answers treatments: reach, effort per treatment, promises, plans, offers, complaints."""

    answer: float  # P(answers a call / opens the door) at the best hour
    read: float  # P(reads a delivered message)
    effort: dict[str, float]  # treatment → effort units ℓ when the treatment reaches the borrower
    ptp: float  # P(promise | right-party voice or visit contact)
    ptp_keep: float
    plan_accept: float
    plan_keep: float  # P(each plan payment is made); the first miss breaks the plan
    settle_accept: float  # at a 50 % discount; scaled by the discount offered
    settle_keep: float
    portal_use: float
    portal_pay: float
    reply: float  # P(inbound reply to a read message)
    complaint: float  # multiplier on the treatments' complaint rates
    found_answer: float  # answer rate once an unreachable borrower is found again
    reminder: float = 1.0  # multiplier on ``miss`` for an installment due within 10 days of a contact


@dataclass(frozen=True)
class TypeParams:
    dynamics: Dynamics
    profile: Profile
    response: Response


@dataclass(frozen=True)
class TreatmentCost:
    """Cost (fen per action, plus a commission on what it collects) and complaint propensity."""

    cost: int
    commission_bp: int = 0
    complaint: float = 0.0  # base P(complaint) per reached attempt


@dataclass(frozen=True)
class Target:
    """Calibration bands for a product, checked on simulated output (docs/simulator.md gives sources)."""

    m1_cure_30d: tuple[float, float]
    recovery_90p_90d: tuple[float, float]
    source: str


@dataclass(frozen=True)
class Product:
    """A product of the lender: economics, schedule shape and the borrower-type mix it attracts."""

    code: str
    product_type: str  # extract enum: cash_loan, installment, revolving_card, bnpl
    grade: str  # prime or subprime
    share: float  # of loans
    terms: tuple[int, ...]
    term_weights: tuple[float, ...]
    methods: tuple[str, ...]
    method_weights: tuple[float, ...]
    rate_bp: tuple[int, int]  # annual rate range, basis points
    amount_yuan: tuple[int, int, int]  # median, min, max
    amount_unit: int  # principal rounded down to this many fen
    fee_bp_month: int  # monthly fee, basis points of the principal (担保费 / 分期手续费)
    type_mix: dict[str, float]
    target: Target


@dataclass(frozen=True)
class SimParams:
    products: tuple[Product, ...]
    types: dict[str, TypeParams]
    treatments: dict[str, TreatmentCost]
    #: channel → 24 hourly answer multipliers for employed borrowers, and for the rest (key + "_home")
    hours: dict[str, tuple[float, ...]]
    penalty_bp_per_day: int = 5  # 罚息 on overdue principal: 0.05 % a day
    tolerance: int = 100  # fen; an installment with at most this unpaid is not overdue (as the kernel)
    writeoff_dpd: int = 180
    history_days: int = 540  # loans are disbursed from start − history_days …
    loans_per_borrower: float = 1.25
    score_sd: float = 80.0  # spread of bureau scores within a type
    fatigue_halflife_days: float = 5.0
    fatigue_effort: float = 0.25  # effort × 1 / (1 + fatigue_effort × recent attempts)
    fatigue_complaint: float = 0.6  # complaint × (1 + fatigue_complaint × attempts beyond 3)
    night_complaint: float = 25.0  # complaint multiplier for contact before 08:00 or from 21:00
    rude_complaint: float = 15.0
    third_party_effort: float = 0.3
    guarantor_effort: float = 0.6  # a guarantor reached presses the debtor, less than the debtor reached
    third_party_complaint: float = 4.0
    agency_days: int = 60
    agency_daily_effort: float = 0.25  # fraction of an agent call's effort, every placed day
    agency_find: float = 0.03  # P(an agency finds an unreachable borrower), per placed day

    def type_params(self, t: BorrowerType | str) -> TypeParams:
        return self.types[str(t)]


def params_payload(params: SimParams) -> dict[str, Any]:
    """The parameters as plain JSON-able data (tuples become lists)."""
    return asdict(params)


def params_hash(params: SimParams | None = None) -> str:
    """sha256 of the canonical JSON of the parameters (the defaults when None)."""
    if params is None:
        from recoup.simulate.defaults import DEFAULT_PARAMS

        params = DEFAULT_PARAMS
    return hashlib.sha256(canonical_json(params_payload(params))).hexdigest()
