"""The digital twin's model pieces: the one vocabulary, the exact self-exciting sampler (closed-form decay,
Kolmogorov–Smirnov tests of the sampler and of time-rescaled event times), the vectorised waterfall
against :func:`recoup.money.allocate_payment`, the penalty accrual, and the frozen parameter hash."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from recoup.contact import vocab
from recoup.money import Due, allocate_payment
from recoup.simulate import DEFAULT_PARAMS, World, params_hash
from recoup.simulate.defaults import REFERENCE
from recoup.simulate.hawkes import compensator, intensity, next_gap
from recoup.simulate.ledger import Ledger
from recoup.simulate.state import Uniforms

DOC = Path(__file__).resolve().parents[1] / "docs" / "simulator.md"
Floats = npt.NDArray[np.float64]


def ks_statistic(sample: Floats, cdf: Floats) -> float:
    """Two-sided Kolmogorov–Smirnov distance between a sample's empirical CDF and ``cdf`` (its values
    at the sorted sample), computed with numpy."""
    n = sample.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))


def ks_critical(n: int, alpha: float = 0.001) -> float:
    """Asymptotic critical value of the one-sample KS statistic: sqrt(−ln(α/2)/2)/√n."""
    return math.sqrt(-math.log(alpha / 2) / 2) / math.sqrt(n)


# ------------------------------------------------------------------------------------------- vocabulary


def test_the_one_vocabulary() -> None:
    assert [t.value for t in vocab.Treatment] == [
        "sms", "email", "im", "robot_call", "agent_call", "field_visit", "lawyer_letter", "legal_review",
        "agency_placement", "portal_link", "settlement_offer", "plan_offer", "no_action",
    ]  # fmt: skip
    assert [c.value for c in vocab.Channel] == [
        "call", "robot_call", "sms", "email", "im", "voicemail", "letter", "visit", "portal",
    ]  # fmt: skip
    assert [p.value for p in vocab.Party] == ["debtor", "guarantor", "emergency_contact", "third_party"]
    assert [d.value for d in vocab.DestinationKind] == [
        "mobile", "landline", "work", "home", "email", "im", "address",
    ]  # fmt: skip
    assert [o.value for o in vocab.AttemptOutcome] == [
        "conversation", "connected", "no_answer", "failed", "invalid_number",
    ]  # fmt: skip
    assert set(vocab.DISPOSITION_OUTCOME) == set(vocab.Disposition)
    assert vocab.DISPOSITION_OUTCOME[vocab.Disposition.BUSY] is vocab.AttemptOutcome.NO_ANSWER
    assert [o.value for o in vocab.Disposition] == [
        "right_party_contact", "third_party_contact", "no_answer", "busy", "voicemail", "wrong_number",
        "disconnected", "delivered", "failed", "bounced", "refused", "promise_to_pay", "complaint",
        "dispute", "hardship", "callback_requested",
    ]  # fmt: skip
    assert set(vocab.TREATMENT_CHANNEL) == set(vocab.Treatment)
    assert vocab.TREATMENT_CHANNEL[vocab.Treatment.ROBOT_CALL] is vocab.Channel.ROBOT_CALL
    assert vocab.Treatment.NO_ACTION not in vocab.CONTACT_TREATMENTS
    assert vocab.label(vocab.Treatment.LAWYER_LETTER) == "律师函"
    assert vocab.label(vocab.Disposition.PROMISE_TO_PAY, "en") == "Promise to pay"
    for enum, labels in (
        (vocab.Treatment, vocab.TREATMENT_LABELS),
        (vocab.Channel, vocab.CHANNEL_LABELS),
        (vocab.Party, vocab.PARTY_LABELS),
        (vocab.AttemptOutcome, vocab.OUTCOME_LABELS),
        (vocab.Disposition, vocab.DISPOSITION_LABELS),
    ):
        assert set(labels) == set(enum)
    # Every treatment has a cost and every contact treatment a complaint rate in the defaults.
    assert set(DEFAULT_PARAMS.treatments) == {t.value for t in vocab.Treatment}


# -------------------------------------------------------------------------------------------- hawkes


def test_intensity_decays_as_the_closed_form() -> None:
    lam0, lam_inf, kappa = 0.11, 0.1, 0.7
    t = np.linspace(0.0, 10.0, 101)
    closed = lam_inf + (lam0 - lam_inf) * np.exp(-kappa * t)
    assert np.allclose(intensity(np.full(t.size, lam0), lam_inf, kappa, t), closed, rtol=0, atol=1e-15)
    # Stepping in pieces (as the engine does at every effort or event) gives the same curve.
    lam, prev = np.array([lam0]), 0.0
    for ti, ci in zip(t[1:], closed[1:], strict=True):
        lam = intensity(lam, lam_inf, kappa, ti - prev)
        prev = ti
        assert abs(float(lam[0]) - ci) < 1e-14
    # Compensator = integral of the intensity (trapezoid check).
    fine = np.linspace(0.0, 3.0, 30_001)
    integral = np.trapezoid(lam_inf + (lam0 - lam_inf) * np.exp(-kappa * fine), fine)
    assert abs(float(compensator(np.array([lam0]), lam_inf, kappa, 3.0)[0]) - integral) < 1e-9


def test_world_accounts_decay_exactly_without_events_or_effort() -> None:
    world = World(n_loans=12_000, seed=21, horizon_days=5)
    st = world.st
    world.step()
    day = st.day
    fresh = np.flatnonzero(
        st.delinquent & (st.t_last == float(day)) & (st.lam == st.lam0) & (st.next_t > day + 2.5)
    )
    assert fresh.size > 3
    st.uniforms = Uniforms(0, day, st.n)
    for dt_ in (0.25, 1.0, 2.5):  # zero-size "effort" just advances the state to that time
        st.jump(fresh, np.full(fresh.size, day + dt_), np.zeros(fresh.size))
        closed = st.lam_inf[fresh] + (st.lam0[fresh] - st.lam_inf[fresh]) * np.exp(-st.kappa[fresh] * dt_)
        assert np.allclose(st.lam[fresh], closed, rtol=1e-13, atol=0)
    st.uniforms = None


def test_next_event_time_is_exact() -> None:
    rng = np.random.default_rng(3)
    n = 40_000
    for lam, lam_inf, kappa in ((0.11, 0.1, 0.7), (2.0, 0.05, 0.3), (0.4, 0.0, 0.1), (0.5, 0.5, 1.0)):
        gaps = next_gap(rng.random(n), rng.random(n), np.full(n, lam), lam_inf, kappa)
        fired = gaps[np.isfinite(gaps)]
        # P(gap > t) = exp(−Λ(t)), so 1 − exp(−Λ(gap)) is uniform on [0, 1 − exp(−Λ(∞))] given a firing.
        top = -math.expm1(-(lam - lam_inf) / kappa) if lam_inf == 0 else 1.0
        u = np.sort(-np.expm1(-compensator(np.full(fired.size, lam), lam_inf, kappa, fired)) / top)
        assert ks_statistic(u, u) < ks_critical(u.size), (lam, lam_inf, kappa)
        if lam_inf == 0:  # never fires with probability exp(−(λ−λ∞)/κ)
            assert abs(np.isinf(gaps).mean() - math.exp(-lam / kappa)) < 0.01
        else:
            assert fired.size == n
    # The test has power: drawing the gap as if λ stayed at λ₀ fails it.
    wrong = rng.exponential(1 / 2.0, n)
    u = np.sort(-np.expm1(-compensator(np.full(n, 2.0), 0.05, 0.3, wrong)))
    assert ks_statistic(u, u) > ks_critical(n)


def _paths(rng: np.random.Generator, n_paths: int, events: int, effort_at: float, jump: float) -> Floats:
    """Time-rescaled inter-event times of ``n_paths`` accounts with the reference parameters and one effort
    jump at ``effort_at``, simulated by the engine's own sampler and jump rules."""
    d = REFERENCE
    lam = np.full(n_paths, d.lam0)
    t = np.zeros(n_paths)
    pending = np.ones(n_paths, dtype=bool)
    acc = np.zeros(n_paths)  # Λ since the last event
    out = []
    for _ in range(events):
        gap = next_gap(rng.random(n_paths), rng.random(n_paths), lam, d.lam_inf, d.kappa)
        hit = pending & (t + gap >= effort_at)
        if hit.any():
            # Effort arrives first: add the compensator up to it, jump, and draw again from there.
            dt_ = np.where(hit, effort_at - t, 0.0)
            acc += np.where(hit, compensator(lam, d.lam_inf, d.kappa, dt_), 0.0)
            lam = np.where(hit, intensity(lam, d.lam_inf, d.kappa, dt_) + jump, lam)
            t = np.where(hit, effort_at, t)
            pending &= ~hit
            again = next_gap(rng.random(n_paths), rng.random(n_paths), lam, d.lam_inf, d.kappa)
            gap = np.where(hit, again, gap)
        out.append(acc + compensator(lam, d.lam_inf, d.kappa, gap))
        r = d.r_lo + (d.r_hi - d.r_lo) * rng.random(n_paths)
        lam = intensity(lam, d.lam_inf, d.kappa, gap) + d.delta10 + d.delta11 * r
        t = t + gap
        acc = np.zeros(n_paths)
    return np.concatenate(out)


def test_time_rescaled_event_times_are_exponential() -> None:
    """Time-rescaling theorem: Λ between consecutive events is Exp(1) when the event times are exact."""
    tau = np.sort(_paths(np.random.default_rng(5), 4_000, 8, effort_at=3.0, jump=REFERENCE.delta2 * 0.5))
    assert tau.size == 32_000
    assert ks_statistic(tau, -np.expm1(-tau)) < ks_critical(tau.size)
    assert abs(tau.mean() - 1.0) < 0.03


# ------------------------------------------------------------------------------------------- ledger


def _ledger(rng: np.random.Generator, counts: npt.NDArray[np.int64]) -> Ledger:
    m = int(counts.sum())
    loan = np.repeat(np.arange(counts.size), counts)
    seq = np.concatenate([np.arange(1, c + 1) for c in counts]) if m else np.zeros(0, dtype=np.int64)
    led = Ledger(loan, seq, np.zeros(m, np.int64), rng.integers(0, 5000, m), rng.integers(0, 500, m),
                 rng.integers(0, 50, m))  # fmt: skip
    led.due[:, 0] = rng.integers(0, 300, m)
    led.paid[:] = np.minimum(led.due, rng.integers(0, 200, (m, 4)) * (rng.random((m, 4)) < 0.3))
    return led


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_waterfall_matches_allocate_payment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    order = ("penalty", "fee", "interest", "principal")
    for _ in range(60):
        counts = rng.integers(0, 6, rng.integers(1, 7)).astype(np.int64)
        led = _ledger(rng, counts)
        starts = (np.cumsum(counts) - counts).astype(np.int64)
        ends = starts + counts
        amounts = rng.integers(0, 8_000, counts.size)
        before, due = led.paid.copy(), led.due.copy()
        applied, first_open, _rows = led.allocate(starts, ends, amounts, 5, 0)
        for i in range(counts.size):
            rows = range(starts[i], ends[i])
            dues = [Due(j + 1, *(int(x) for x in due[r] - before[r])) for j, r in enumerate(rows)]
            alloc = allocate_payment(int(amounts[i]), dues)
            expected = np.zeros((counts[i], 4), dtype=np.int64)
            for line in alloc.lines:
                expected[line.seq - 1, order.index(line.component)] += line.amount
            assert (led.paid[starts[i] : ends[i]] - before[starts[i] : ends[i]] == expected).all()
            assert applied[i] == alloc.applied and applied[i] + alloc.credit == amounts[i]
            still = np.flatnonzero((due - led.paid)[starts[i] : ends[i]].sum(axis=1) > 0)
            assert first_open[i] == (still[0] if still.size else counts[i])
        assert (led.paid <= led.due).all()


def test_no_remainder_within_tolerance_and_penalty_accrual() -> None:
    one = np.array([0], dtype=np.int64)
    led = Ledger(np.zeros(2, np.int64), np.array([1, 2]), np.array([100, 130]), np.array([123_456, 100_000]),
                 np.array([1_000, 800]), np.zeros(2, np.int64))  # fmt: skip
    # 10 days late: 10 × floor(123 456 × 5 / 10 000) = 610 fen, posted once, then no more for the same days.
    led.post_penalty(np.arange(2), 110, 5)
    assert led.due[0, 0] == 610 and led.due[1, 0] == 0 and led.pen_from[0] == 111
    led.post_penalty(np.arange(2), 110, 5)
    assert led.due[0, 0] == 610
    # A payment 50 fen short of clearing the first installment pays the odd 50 fen too (tolerance 100).
    owed = 610 + 1_000 + 123_456
    applied, first_open, _ = led.allocate(one, one + 2, np.array([owed - 50]), 111, 100)
    assert applied[0] == owed and first_open[0] == 1 and led.last_paid[0] == 111
    assert led.paid[0].tolist() == [610, 0, 1_000, 123_456]


# ------------------------------------------------------------------------------------------- freeze


def test_parameters_are_frozen_by_their_hash() -> None:
    """Changing a default parameter must come with the new hash in docs/simulator.md (same commit)."""
    match = re.search(r"params_hash:\s*`([0-9a-f]{64})`", DOC.read_text(encoding="utf-8"))
    assert match, "docs/simulator.md must record the parameter hash as params_hash: `<sha256>`"
    assert params_hash() == match.group(1), "default parameters changed: update the hash in docs/simulator.md"
    changed = dataclasses.replace(DEFAULT_PARAMS, penalty_bp_per_day=6)
    assert params_hash(changed) != params_hash()
