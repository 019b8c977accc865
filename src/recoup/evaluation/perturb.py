"""Perturbing the frozen twin: ``--perturb P`` scales every response parameter by a seeded factor.

The frozen parameters are never touched (a test checks their hash); a perturbed copy is passed to the
world, so a strategy must win on a twin it was not fitted to.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import numpy as np

from recoup.errors import RecoupError
from recoup.simulate import SimParams
from recoup.simulate.params import Response

__all__ = ["RESPONSE_SCALARS", "EvaluateError", "perturb_params"]


class EvaluateError(RecoupError):
    """Bad input to ``recoup strategy evaluate`` (a strategy that cannot be used, a bad setting)."""

    code = "strategy.evaluate_invalid"
    http_status = 422
    exit_code = 65


#: Scalar response parameters of :class:`SimParams` (how strongly treatments act, and complaints).
RESPONSE_SCALARS: tuple[str, ...] = (
    "fatigue_effort",
    "fatigue_complaint",
    "night_complaint",
    "rude_complaint",
    "third_party_effort",
    "guarantor_effort",
    "third_party_complaint",
    "agency_daily_effort",
    "agency_find",
)
#: Response fields that are probabilities (or a multiplier that must not exceed 1): clipped to [0, 1].
_PROBABILITIES = frozenset(
    {
        "answer",
        "read",
        "ptp",
        "ptp_keep",
        "plan_accept",
        "plan_keep",
        "settle_accept",
        "settle_keep",
        "portal_use",
        "portal_pay",
        "reply",
        "found_answer",
        "reminder",  # × miss after a reminder: a reminder never makes a miss more likely
        "agency_find",
    }
)


def perturb_params(params: SimParams, p: float, seed: int) -> SimParams:
    """A copy of ``params`` whose response parameters are each scaled by a factor drawn uniformly from
    [1 − p, 1 + p] (seeded by ``seed``; ``p = 0`` returns ``params`` itself). ``params`` is not touched.

    Response parameters: per borrower type every field of :class:`Response` (each treatment's effort,
    answer and read rates, promise/plan/settlement/portal rates, replies, the complaint multiplier, the
    reminder effect) and the effort jump δ₂; per treatment the complaint rate; and
    :data:`RESPONSE_SCALARS`. Probabilities are clipped to [0, 1]. The untreated repayment process,
    profiles, products, prices and the hourly answer profiles are left alone.
    """
    if not 0.0 <= p < 1.0:
        raise EvaluateError(f"--perturb must be in [0, 1), got {p} · 扰动幅度须在 [0, 1) 之间")
    if p == 0.0:
        return params
    # The factors come in a fixed order from one stream seeded by the run's seed: the same seed gives
    # the same perturbed twin whatever the strategy, so a comparison stays paired.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E27_0B]))

    def factor() -> float:
        return float(1.0 + p * (2.0 * rng.random() - 1.0))

    def scaled(name: str, value: float) -> float:
        out = value * factor()
        return min(max(out, 0.0), 1.0) if name in _PROBABILITIES else max(out, 0.0)

    types = {}
    for tname in sorted(params.types):
        tp = params.types[tname]
        res = tp.response
        changes: dict[str, Any] = {}
        for f in fields(Response):
            if f.name == "effort":
                changes["effort"] = {k: scaled(k, res.effort[k]) for k in sorted(res.effort)}
            else:
                changes[f.name] = scaled(f.name, getattr(res, f.name))
        dyn = replace(tp.dynamics, delta2=scaled("delta2", tp.dynamics.delta2))
        types[tname] = replace(tp, response=replace(res, **changes), dynamics=dyn)
    treatments = {
        k: replace(c, complaint=scaled("complaint", c.complaint))
        for k, c in sorted(params.treatments.items())
    }
    scalars: dict[str, Any] = {name: scaled(name, float(getattr(params, name))) for name in RESPONSE_SCALARS}
    return replace(params, types=types, treatments=treatments, **scalars)
