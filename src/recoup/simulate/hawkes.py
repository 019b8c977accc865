"""The controlled self-exciting repayment process of DESIGN.md §5, sampled exactly.

Between events the intensity decays exponentially toward λ∞: λ(s + τ) = λ∞ + (λ(s) − λ∞)e^(−κτ). The
next event time is drawn exactly, with no time grid, by the decomposition of Dassios & Zhao (2013): the
first event of the baseline Poisson stream (rate λ∞) and of the decaying excess (rate (λ − λ∞)e^(−κτ))
are drawn separately from two uniforms and the earlier one wins. Jumps (δ₁₀ + δ₁₁R at a repayment,
δ₂ per unit of effort) only raise λ, so the excess λ − λ∞ never becomes negative. After a jump the next
event is simply drawn again from the new state: the process (λ, N) is Markov.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

__all__ = ["compensator", "intensity", "next_gap"]


def intensity(lam: Floats, lam_inf: Floats | float, kappa: Floats | float, dt: Floats | float) -> Floats:
    """λ after ``dt`` days without events or effort: λ∞ + (λ − λ∞)e^(−κ dt)."""
    out: Floats = lam_inf + (lam - lam_inf) * np.exp(-np.asarray(kappa) * dt)
    return out


def compensator(lam: Floats, lam_inf: Floats | float, kappa: Floats | float, dt: Floats | float) -> Floats:
    """The expected number of events in the next ``dt`` days: λ∞ dt + (λ − λ∞)(1 − e^(−κ dt))/κ."""
    k = np.asarray(kappa, dtype=np.float64)
    out: Floats = lam_inf * np.asarray(dt) + (lam - lam_inf) * (-np.expm1(-k * dt)) / k
    return out


def next_gap(u1: Floats, u2: Floats, lam: Floats, lam_inf: Floats | float, kappa: Floats | float) -> Floats:
    """Exact waiting time to the next event from intensity ``lam`` (two uniforms per account).

    Baseline: −ln(u1)/λ∞. Excess x = λ − λ∞: with d = 1 + κ ln(u2)/x, the excess fires at −ln(d)/κ when
    d > 0 and never otherwise. ``inf`` when neither fires (λ∞ = 0 and the excess is spent).
    """
    lam_inf_a = np.broadcast_to(np.asarray(lam_inf, dtype=np.float64), lam.shape)
    k = np.broadcast_to(np.asarray(kappa, dtype=np.float64), lam.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        s1 = np.where(lam_inf_a > 0, -np.log(u1) / lam_inf_a, np.inf)
        excess = lam - lam_inf_a
        d = np.where(excess > 0, 1.0 + k * np.log(u2) / excess, -1.0)
        s2 = np.where(d > 0, -np.log(np.where(d > 0, d, 1.0)) / k, np.inf)
    out: Floats = np.minimum(s1, s2)
    return out
