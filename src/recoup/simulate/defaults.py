"""Default parameters of the digital twin (frozen: docs/simulator.md records :func:`params_hash`).

Sources are in docs/simulator.md: product economics follow Chinese consumer lending as practised
(annual rates within the 24 % ceiling of 最高人民法院 2020 and the 2021–2022 综合融资成本 guidance; terms
3–36 months); the dynamics template is DESIGN.md §5 (Chehrazi & Weber 2015) with per-type values chosen
so that the untreated book meets the calibration targets; costs are practitioner estimates.
"""

from __future__ import annotations

from recoup.simulate.params import (
    BorrowerType,
    Dynamics,
    Product,
    Profile,
    Response,
    SimParams,
    Target,
    TreatmentCost,
    TypeParams,
)

A, F, H, U, R, X = (t.value for t in BorrowerType)

#: The reference parameters of DESIGN.md §5 (λ∞ 0.1, κ 0.7, δ₁₀ 0.02, δ₁₁ 0.5, δ₂ 1, λ₀ 0.11, R ~ U[0.1, 1]).
REFERENCE = Dynamics(
    miss=0.0,
    early=0.0,
    lam0=0.11,
    lam_inf=0.1,
    kappa=0.7,
    delta10=0.02,
    delta11=0.5,
    delta2=1.0,
    r_full=0.0,
    r_lo=0.1,
    r_hi=1.0,
    sigma=0.0,
)

_MIX_PRIME_CASH = {A: 0.885, F: 0.08, H: 0.018, U: 0.009, R: 0.005, X: 0.003}
_MIX_SUB_CASH = {A: 0.62, F: 0.14, H: 0.09, U: 0.07, R: 0.05, X: 0.03}
_MIX_INST = {A: 0.87, F: 0.09, H: 0.02, U: 0.01, R: 0.006, X: 0.004}
_MIX_CARD = {A: 0.55, F: 0.13, H: 0.15, U: 0.09, R: 0.045, X: 0.035}
_MIX_BNPL = {A: 0.66, F: 0.22, H: 0.05, U: 0.03, R: 0.025, X: 0.015}

_RECOVERY_90 = (0.0, 0.15)
PRODUCTS = (
    Product(
        code="CASHP",
        product_type="cash_loan",
        grade="prime",
        share=0.25,
        terms=(3, 6, 12, 24, 36),
        term_weights=(0.10, 0.20, 0.40, 0.20, 0.10),
        methods=("equal_installment", "equal_principal", "interest_first"),
        method_weights=(0.80, 0.10, 0.10),
        rate_bp=(720, 1400),
        amount_yuan=(20_000, 2_000, 200_000),
        amount_unit=10_000,
        fee_bp_month=0,
        type_mix=_MIX_PRIME_CASH,
        target=Target(
            (0.80, 0.95), _RECOVERY_90, "practitioners: M1 出催率 80–95 % for prime internet cash loans"
        ),
    ),
    Product(
        code="CASHS",
        product_type="cash_loan",
        grade="subprime",
        share=0.20,
        terms=(3, 6, 12),
        term_weights=(0.30, 0.40, 0.30),
        methods=("equal_installment", "interest_first"),
        method_weights=(0.85, 0.15),
        rate_bp=(1500, 2000),
        amount_yuan=(5_000, 500, 30_000),
        amount_unit=10_000,
        fee_bp_month=15,
        type_mix=_MIX_SUB_CASH,
        target=Target((0.50, 0.80), _RECOVERY_90, "below prime (riskier mix); practitioners 50–80 %"),
    ),
    Product(
        code="INST",
        product_type="installment",
        grade="prime",
        share=0.20,
        terms=(6, 12, 18, 24),
        term_weights=(0.30, 0.40, 0.15, 0.15),
        methods=("equal_installment", "equal_principal"),
        method_weights=(0.70, 0.30),
        rate_bp=(700, 1500),
        amount_yuan=(8_000, 1_000, 60_000),
        amount_unit=100,
        fee_bp_month=0,
        type_mix=_MIX_INST,
        target=Target((0.75, 0.95), _RECOVERY_90, "prime consumer installments, as prime cash"),
    ),
    Product(
        code="CARD",
        product_type="revolving_card",
        grade="subprime",
        share=0.15,
        terms=(3, 6, 12, 24),
        term_weights=(0.25, 0.35, 0.30, 0.10),
        methods=("equal_principal", "equal_installment"),
        method_weights=(0.60, 0.40),
        rate_bp=(1200, 1800),
        amount_yuan=(6_000, 1_000, 50_000),
        amount_unit=1,
        fee_bp_month=0,
        type_mix=_MIX_CARD,
        target=Target(
            (0.35, 0.70),
            _RECOVERY_90,
            "UCI Taiwan cards (Yeh & Lien 2009): 39 % of accounts late in April not late in September",
        ),
    ),
    Product(
        code="BNPL",
        product_type="bnpl",
        grade="subprime",
        share=0.20,
        terms=(3, 6, 12),
        term_weights=(0.50, 0.35, 0.15),
        methods=("equal_installment", "bullet"),
        method_weights=(0.65, 0.35),
        rate_bp=(1000, 2400),
        amount_yuan=(1_500, 200, 8_000),
        amount_unit=100,
        fee_bp_month=0,
        type_mix=_MIX_BNPL,
        target=Target((0.55, 0.85), _RECOVERY_90, "small tickets, many forgetful payers"),
    ),
)


def _effort(**kw: float) -> dict[str, float]:
    keys = ("sms", "email", "im", "robot_call", "agent_call", "field_visit", "lawyer_letter", "portal_link")
    return {k: float(kw.get(k, 0.0)) for k in keys}


def _dyn(
    miss: float,
    early: float,
    lam0: float,
    lam_inf: float,
    kappa: float,
    d10: float,
    d11: float,
    d2: float,
    r_full: float,
    r: tuple[float, float],
    sigma: float,
) -> Dynamics:
    return Dynamics(miss, early, lam0, lam_inf, kappa, d10, d11, d2, r_full, r[0], r[1], sigma)


# Dynamics per type: miss (per installment), early payers, λ₀, λ∞, κ (per day), δ₁₀, δ₁₁, δ₂, P(R = 1),
# R otherwise ~ Uniform[lo, hi], and the spread σ of the per-loan factor.
TYPES: dict[str, TypeParams] = {
    A: TypeParams(
        _dyn(0.045, 0.5, 0.40, 0.05, 0.10, 0.05, 0.3, 0.3, 0.95, (0.3, 0.9), 0.3),
        Profile(0.15, 36.0, -0.3, 0.90, 0.9, 0.2, 690.0),
        Response(
            answer=0.65, read=0.8,
            effort=_effort(sms=0.5, email=0.3, im=0.5, robot_call=0.6, agent_call=1.0, field_visit=1.0,
                           lawyer_letter=0.8, portal_link=1.0),
            ptp=0.75, ptp_keep=0.9, plan_accept=0.3, plan_keep=0.9, settle_accept=0.4, settle_keep=0.95,
            portal_use=0.5, portal_pay=0.7, reply=0.10, complaint=1.0, found_answer=0.65, reminder=0.5,
        ),
    ),
    F: TypeParams(
        _dyn(0.08, 0.1, 0.20, 0.02, 0.06, 0.02, 0.2, 0.4, 0.85, (0.3, 0.9), 0.3),
        Profile(0.05, 30.0, -0.1, 0.85, 1.0, 0.4, 670.0),
        Response(
            answer=0.55, read=0.7,
            effort=_effort(sms=1.0, email=0.6, im=1.0, robot_call=1.0, agent_call=1.2, field_visit=1.0,
                           lawyer_letter=0.6, portal_link=1.0),
            ptp=0.8, ptp_keep=0.8, plan_accept=0.3, plan_keep=0.8, settle_accept=0.4, settle_keep=0.9,
            portal_use=0.6, portal_pay=0.6, reply=0.12, complaint=0.8, found_answer=0.55, reminder=0.2,
        ),
    ),
    H: TypeParams(
        _dyn(0.06, 0.0, 0.04, 0.005, 0.05, 0.01, 0.1, 0.2, 0.08, (0.05, 0.35), 0.4),
        Profile(-0.15, 40.0, 0.2, 0.65, 1.1, 0.7, 630.0),
        Response(
            answer=0.5, read=0.7,
            effort=_effort(sms=0.0, email=0.0, im=0.0, robot_call=0.01, agent_call=0.1, field_visit=0.2,
                           lawyer_letter=0.05, portal_link=0.2),
            ptp=0.45, ptp_keep=0.35, plan_accept=0.7, plan_keep=0.85, settle_accept=0.35, settle_keep=0.5,
            portal_use=0.4, portal_pay=0.2, reply=0.2, complaint=1.5, found_answer=0.5, reminder=0.9,
        ),
    ),
    U: TypeParams(
        _dyn(0.08, 0.0, 0.03, 0.003, 0.06, 0.01, 0.1, 0.3, 0.25, (0.1, 0.5), 0.4),
        Profile(0.0, 33.0, 0.1, 0.80, 1.1, 0.9, 625.0),
        Response(
            answer=0.25, read=0.5,
            effort=_effort(sms=0.0, email=0.0, im=0.0, robot_call=0.01, agent_call=0.05, field_visit=0.4,
                           lawyer_letter=1.5, portal_link=0.02),
            ptp=0.35, ptp_keep=0.15, plan_accept=0.15, plan_keep=0.4, settle_accept=0.3, settle_keep=0.6,
            portal_use=0.1, portal_pay=0.1, reply=0.05, complaint=3.0, found_answer=0.25,
        ),
    ),
    R: TypeParams(
        _dyn(0.10, 0.0, 0.02, 0.002, 0.05, 0.01, 0.1, 0.3, 0.3, (0.1, 0.6), 0.4),
        Profile(-0.05, 30.0, 0.3, 0.70, 1.05, 0.7, 635.0),
        Response(
            answer=0.0, read=0.0,  # wrong number: nothing reaches them until they are found again
            effort=_effort(sms=0.3, email=0.2, im=0.3, robot_call=0.3, agent_call=0.5, field_visit=0.8,
                           lawyer_letter=0.8, portal_link=0.3),
            ptp=0.3, ptp_keep=0.4, plan_accept=0.2, plan_keep=0.5, settle_accept=0.2, settle_keep=0.6,
            portal_use=0.2, portal_pay=0.3, reply=0.03, complaint=1.5, found_answer=0.35,
        ),
    ),
    X: TypeParams(
        _dyn(0.95, 0.0, 0.004, 0.0005, 0.05, 0.0, 0.05, 0.1, 0.05, (0.05, 0.3), 0.3),
        Profile(-0.10, 28.0, 0.4, 0.70, 1.1, 0.8, 610.0),
        Response(
            answer=0.08, read=0.3,
            effort=_effort(field_visit=0.05, lawyer_letter=0.1),
            ptp=0.2, ptp_keep=0.02, plan_accept=0.05, plan_keep=0.05, settle_accept=0.05, settle_keep=0.1,
            portal_use=0.02, portal_pay=0.02, reply=0.02, complaint=2.0, found_answer=0.08,
        ),
    ),
}  # fmt: skip

TREATMENTS: dict[str, TreatmentCost] = {
    "sms": TreatmentCost(5, complaint=0.00005),
    "email": TreatmentCost(1, complaint=0.00002),
    "im": TreatmentCost(3, complaint=0.00005),
    "robot_call": TreatmentCost(30, complaint=0.0002),
    "agent_call": TreatmentCost(600, complaint=0.0006),
    "field_visit": TreatmentCost(20_000, complaint=0.003),
    "lawyer_letter": TreatmentCost(8_000, complaint=0.001),
    "legal_review": TreatmentCost(50_000),
    "agency_placement": TreatmentCost(0, commission_bp=2_500, complaint=0.0003),
    "portal_link": TreatmentCost(5, complaint=0.00002),
    "settlement_offer": TreatmentCost(800, complaint=0.0003),
    "plan_offer": TreatmentCost(800, complaint=0.0002),
    "no_action": TreatmentCost(0),
}

#: Answer multipliers by local hour 00–23: working people answer at lunch and in the evening.
HOURS: dict[str, tuple[float, ...]] = {
    "voice": (
        0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.15, 0.35, 0.45, 0.45, 0.50,
        0.90, 0.85, 0.45, 0.45, 0.45, 0.55, 0.90, 0.95, 0.85, 0.50, 0.20, 0.05,
    ),
    "voice_home": (
        0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.20, 0.50, 0.70, 0.75, 0.75,
        0.80, 0.70, 0.65, 0.70, 0.70, 0.75, 0.85, 0.90, 0.80, 0.50, 0.20, 0.05,
    ),
    "visit": (
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.30, 0.30, 0.15, 0.10, 0.10,
        0.20, 0.20, 0.10, 0.10, 0.10, 0.20, 0.50, 0.80, 0.80, 0.60, 0.30, 0.05,
    ),
    "visit_home": (
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.20, 0.50, 0.60, 0.65, 0.60,
        0.55, 0.55, 0.60, 0.60, 0.60, 0.65, 0.70, 0.70, 0.60, 0.30, 0.05, 0.0,
    ),
}  # fmt: skip

DEFAULT_PARAMS = SimParams(products=PRODUCTS, types=TYPES, treatments=TREATMENTS, hours=HOURS)
