"""One simulated day, in order: disbursements; accounts whose installment fell due yesterday unpaid enter
delinquency (their repayment process starts at λ₀); the day's repayment events, recoup's actions at
their hours, the agency's daily work (10:00) and promised, plan and settlement payments (12:00) in time
order; performing installments paid or missed; write-offs; month-end penalty posting; bureau reports.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from recoup.simulate.ledger import ranges
from recoup.simulate.state import (
    ACTIVE,
    CHANNELS,
    PAID_OFF,
    SOURCES,
    WRITTEN_OFF,
    State,
    Uniforms,
)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

#: A batch of recoup's actions at one hour: called after the events before that hour were processed.
Segment = tuple[float, Callable[[], None]]


def run_day(st: State, day: int, segments: list[Segment]) -> None:
    """Simulate ``day`` (epoch days); ``segments`` are (hour, apply) batches of actions."""
    st.day = day
    n_disb = st.n_disbursed(day)
    st.uniforms = Uniforms(st.seed, day, n_disb)
    lo = int(np.searchsorted(st.pop.disbursed, day, side="left"))
    st.status[lo:n_disb] = ACTIVE
    st.loan_changed[lo:n_disb] = day
    _application_reports(st, day)
    _enter_delinquency(st, day)
    timeline: list[Segment] = [
        *segments,
        (10.0, lambda: _agency(st, day)),
        (12.0, lambda: _promised(st, day)),
    ]
    for hour, apply in sorted(timeline, key=lambda s: s[0]):  # stable: actions before agency at 10:00
        st.run_events(day + hour / 24.0, day)
        apply()
    st.run_events(day + 1.0, day)
    _performing(st, day)
    _write_off(st, day)
    d = np.datetime64(day, "D")
    if (d + 1).astype("datetime64[M]") != d.astype("datetime64[M]"):
        _month_end(st, day)
    if d.astype("datetime64[M]").astype("datetime64[D]") == d:
        _monthly_reports(st, day)
    st.uniforms = None


def _enter_delinquency(st: State, day: int) -> None:
    a, b = np.searchsorted(st.due_sorted, np.array([day - 1, day], dtype=np.int32))
    rows = st.by_due[a:b]
    loans = st.led.loan[rows]
    late = (st.status[loans] == ACTIVE) & ~st.delinquent[loans]
    rows, loans = rows[late], loans[late]
    open_ = st.led.remaining(rows) > st.params.tolerance
    idx = np.unique(loans[open_])
    if idx.size:
        st.start_process(idx, float(day))


def _performing(st: State, day: int) -> None:
    """Installments whose payment is decided today: paid in full, or missed (by type, loan and reminder)."""
    a1, b1 = np.searchsorted(st.plan_sorted, np.array([day, day + 1], dtype=np.int32))
    a2, b2 = np.searchsorted(st.due_sorted, np.array([day, day + 1], dtype=np.int32))
    rows = np.concatenate([st.by_plan[a1:b1], st.by_due[a2:b2]])
    u = np.concatenate([st.rng_perf.random(b1 - a1), st.rng_perf.random(b2 - a2)])
    rows, first = np.unique(rows, return_index=True)
    u = u[first]
    loans = st.led.loan[rows]
    ok = ~st.decided[rows] & (st.status[loans] == ACTIVE) & ~st.delinquent[loans]
    rows, loans, u = rows[ok], loans[ok], u[ok]
    open_ = st.led.remaining(rows) > 0
    rows, loans, u = rows[open_], loans[open_], u[open_]
    st.decided[rows] = True
    ty = st.pop.ltype[loans]
    reminder = np.array([r.reminder for r in st.T.res])[ty]
    p_miss = (
        st.T.miss[ty] * st.pop.miss_mult[loans] * np.where(st.reminded_until[loans] >= day, reminder, 1.0)
    )
    pay = u >= np.minimum(p_miss, 0.995)
    rows, loans = rows[pay], loans[pay]
    if rows.size == 0:
        return
    order = np.lexsort((rows, loans))
    rows, loans = rows[order], loans[order]
    last = np.r_[loans[1:] != loans[:-1], True]  # the latest installment paid per loan
    rows, loans = rows[last], loans[last]
    starts = st.inst_start[loans] + st.first_unpaid[loans]
    r, g = ranges(starts, rows + 1)
    amount = np.zeros(loans.size, dtype=np.int64)
    np.add.at(amount, g, st.led.remaining(r))
    channel = np.where(
        st.rng_misc.random(loans.size) < 0.8,
        CHANNELS.index("withholding"),
        st.rng_misc.integers(1, 5, loans.size),
    )
    st.pay(loans, amount, day, SOURCES.index("scheduled"), channel)


def _promised(st: State, day: int) -> None:
    """Kept promises, plan payments and settlements due today (12:00), each a repayment event."""
    t = day + 0.5
    ptp = np.flatnonzero(st.ptp_day == day)
    if ptp.size:
        _exogenous(st, ptp, st.ptp_amount[ptp], day, t, "promise")
        st.ptp_day[ptp] = -1
    plan = np.flatnonzero(st.plan_next == day)
    if plan.size:
        ty = st.pop.ltype[plan]
        keep = st.rng_treat.random(plan.size) < np.array([r.plan_keep for r in st.T.res])[ty]
        paying = plan[keep]
        _exogenous(st, paying, st.plan_amount[paying], day, t, "plan")
        st.plan_left[paying] -= 1
        done = paying[st.plan_left[paying] <= 0]
        st.plan_next[paying] = day + 30
        st.plan_next[done] = -1
        st.plan_next[plan[~keep]] = -1  # a missed plan payment breaks the plan
    settle = np.flatnonzero(st.settle_day == day)
    if settle.size:
        _exogenous(st, settle, st.settle_amount[settle], day, t, "settlement")
        _waive(st, settle, day)
        st.settle_day[settle] = -1


def _exogenous(st: State, idx: Ints, amounts: Ints, day: int, t: float, source: str) -> None:
    live = st.first_unpaid[idx] < st.n_inst[idx]
    idx, amounts = idx[live], amounts[live]
    if idx.size == 0:
        return
    w = st.overdue(idx, day)
    applied = st.pay(idx, amounts, day, SOURCES.index(source))
    r = np.minimum(applied / np.maximum(w, 1), 1.0)
    st.repaid_jump(idx, np.full(idx.size, t), r)


def _waive(st: State, idx: Ints, day: int) -> None:
    """A settled account: what is left is waived (减免) — due set down to paid — and the loan closes."""
    starts = st.inst_start[idx] + st.first_unpaid[idx]
    rows, _g = ranges(starts, st.inst_start[idx] + st.n_inst[idx])
    st.led.due[rows] = st.led.paid[rows]
    st.led.changed[rows] = day
    st.led.stop_penalty(rows)
    st.first_unpaid[idx] = st.n_inst[idx]
    closing = idx[st.status[idx] == ACTIVE]
    st.status[closing] = PAID_OFF
    st.loan_changed[idx] = day
    st.delinquent[idx] = False
    st.next_t[idx] = np.inf


def _agency(st: State, day: int) -> None:
    """Placed accounts are worked every day: a share of an agent call's effort, and skip tracing."""
    placed = np.flatnonzero((st.agency_until >= day) & st.delinquent)
    if placed.size == 0:
        return
    from recoup.contact.vocab import Treatment
    from recoup.simulate.treatments import TREATMENTS, UNREACHABLE, effort_table

    ty = st.pop.ltype[placed]
    hidden = (ty == UNREACHABLE) & ~st.found[placed]
    u = st.rng_treat.random(placed.size)
    found = placed[hidden & (u < st.params.agency_find)]
    if found.size:
        st.found[found] = True
        st.found_log.append((found.copy(), np.full(found.size, day, dtype=np.int64)))
    work = placed[~hidden]
    wt = st.pop.ltype[work]
    eff = effort_table(st)[wt, TREATMENTS.index(Treatment.AGENT_CALL)] * st.params.agency_daily_effort
    st.jump(work, np.full(work.size, day + 10 / 24.0), st.T.delta2[wt] * st.pop.lam_mult[work] * eff)


def _write_off(st: State, day: int) -> None:
    cand = np.flatnonzero(st.delinquent & (st.status == ACTIVE))
    if cand.size == 0:
        return
    first = st.inst_start[cand] + st.first_unpaid[cand]
    wo = cand[day - st.led.due_day[first] > st.params.writeoff_dpd]
    if wo.size == 0:
        return
    st.overdue(wo, day)  # posts the penalty accrued so far
    rows, _g = ranges(st.inst_start[wo] + st.first_unpaid[wo], st.inst_start[wo] + st.n_inst[wo])
    st.led.stop_penalty(rows)
    st.status[wo] = WRITTEN_OFF
    st.loan_changed[wo] = day
    st.written_off_day[wo] = day


def _month_end(st: State, day: int) -> None:
    """Post every overdue installment's accrued penalty, as the core system's month-end batch does."""
    led = st.led
    rows = np.flatnonzero((led.due_day < day) & (led.due[:, 3] > led.paid[:, 3]))
    rows = rows[st.status[led.loan[rows]] == ACTIVE]
    led.post_penalty(rows, day, st.params.penalty_bp_per_day)


def _application_reports(st: State, day: int) -> None:
    fl = st.pop.first_loan_day
    a, b = np.searchsorted(fl, [day, day + 1], side="left")
    if b > a:
        bs = np.arange(a, b, dtype=np.int64)
        st.add_bureau(bs, day, st.pop.prior_delinquencies[bs], st.pop.score[bs])


def _monthly_reports(st: State, day: int) -> None:
    """On the 1st: a bureau refresh for borrowers in arrears and a few others."""
    nb = int(np.searchsorted(st.pop.first_loan_day, day, side="left"))
    if nb == 0:
        return
    late = np.zeros(st.pop.n_borrowers, dtype=bool)
    late[st.pop.owner[st.delinquent]] = True
    rng = st.rng_bureau
    pick = np.flatnonzero(late[:nb] | (rng.random(nb) < 0.02))
    bad = late[pick]
    score = st.pop.score[pick] - np.where(bad, 80, 0) + rng.normal(0.0, 20.0, pick.size)
    newd = rng.poisson(np.where(bad, 1.0, 0.15))
    st.add_bureau(pick, day, newd.astype(np.int64), np.clip(score, 300, 900).astype(np.int64))
