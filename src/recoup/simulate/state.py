"""The state of the simulated lender: loans, installments, each account's repayment intensity, and the
logs that extracts and day events are built from. Pure numpy; one ``default_rng`` stream per purpose.

Common random numbers: the randomness of an account's repayment process comes from per-day blocks of
uniforms with one row per disbursed loan, and the performing-path draws from per-day blocks over the
installments scheduled that day. What is done to one account therefore never changes the random numbers
another account sees, so two runs with the same seed and different treatments differ only where the
treatments had an effect (a clean A/B comparison).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recoup.portfolio.synth.schedules import schedules
from recoup.simulate.hawkes import intensity, next_gap
from recoup.simulate.ledger import Ledger, ranges
from recoup.simulate.params import TYPES, SimParams, SimulateError
from recoup.simulate.population import METHODS, Population

Ints = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

PENDING, ACTIVE, PAID_OFF, WRITTEN_OFF = 0, 1, 2, 3
STATUS = ("active", "active", "paid_off", "written_off")  # pending loans are never extracted
#: Payment channels (the extract's enum) and the shares of self-initiated payments.
CHANNELS = ("withholding", "alipay", "wechat_pay", "bank_transfer", "unionpay", "portal", "agency")
CHANNEL_SHARES = np.array([0.55, 0.15, 0.12, 0.08, 0.05, 0.05, 0.0])
#: Why a payment was made (DayEvents.payments.source).
SOURCES = ("scheduled", "self_cure", "promise", "plan", "settlement", "portal")
BLOCK_WIDTH = 5


class Uniforms:
    """A day's uniforms, one row per disbursed loan, each row consumed left to right. Row blocks come from
    generators seeded by (seed, day, block), so no account's draws depend on how many another used."""

    def __init__(self, seed: int, day: int, n: int) -> None:
        self.seed, self.day, self.n = seed, day, n
        self.blocks: list[Floats] = []
        self.cursor = np.zeros(n, dtype=np.int64)

    def _block(self, k: int) -> Floats:
        while len(self.blocks) <= k:
            seq = np.random.SeedSequence([self.seed, self.day + 2**31, len(self.blocks)])
            self.blocks.append(np.random.default_rng(seq).random((self.n, BLOCK_WIDTH)))
        return self.blocks[k]

    def take(self, idx: Ints, k: int) -> Floats:
        """``k`` uniforms for each of the (distinct) loans ``idx``."""
        cols = self.cursor[idx][:, None] + np.arange(k)[None, :]
        rows = np.broadcast_to(idx[:, None], cols.shape)
        out = np.empty((idx.size, k), dtype=np.float64)
        for b in np.unique(cols // BLOCK_WIDTH):
            sel = cols // BLOCK_WIDTH == b
            out[sel] = self._block(int(b))[rows[sel], cols[sel] % BLOCK_WIDTH]
        self.cursor[idx] += k
        return out


class TypeTables:
    """Per-type parameters as arrays indexed by the type's position in :data:`TYPES`."""

    def __init__(self, params: SimParams) -> None:
        dyn = [params.types[str(t)].dynamics for t in TYPES]
        res = [params.types[str(t)].response for t in TYPES]

        def col(values: list[float]) -> Floats:
            return np.asarray(values, dtype=np.float64)

        self.miss = col([d.miss for d in dyn])
        self.early = col([d.early for d in dyn])
        self.lam0 = col([d.lam0 for d in dyn])
        self.lam_inf = col([d.lam_inf for d in dyn])
        self.kappa = col([d.kappa for d in dyn])
        self.delta10 = col([d.delta10 for d in dyn])
        self.delta11 = col([d.delta11 for d in dyn])
        self.delta2 = col([d.delta2 for d in dyn])
        self.r_full = col([d.r_full for d in dyn])
        self.r_lo = col([d.r_lo for d in dyn])
        self.r_hi = col([d.r_hi for d in dyn])
        self.res = res
        for d in dyn:
            if d.lam0 < d.lam_inf or min(d.kappa, d.lam_inf) < 0 or min(d.delta10, d.delta11, d.delta2) < 0:
                raise SimulateError("dynamics need λ₀ ≥ λ∞ ≥ 0, κ > 0 and non-negative jumps")


class State:
    """Everything the world knows, as arrays (loans sorted by disbursement day)."""

    def __init__(
        self,
        params: SimParams,
        n_loans: int,
        start_day: int,
        horizon_days: int,
        seed: int,
        term_months: int | None,
    ) -> None:
        if n_loans < 1:
            raise SimulateError("n_loans must be at least 1")
        self.params = params
        self.T = TypeTables(params)
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
        self.rng_init, self.rng_people, self.rng_perf, self.rng_treat, self.rng_misc, self.rng_bureau = (
            streams
        )
        self.seed = seed
        first_day = start_day - params.history_days
        self.pop = Population(
            params, self.rng_init, n_loans, first_day, start_day + max(horizon_days, 1) - 1, term_months
        )
        pop = self.pop
        self.n = n_loans
        self.day = first_day - 1  # the last simulated day
        methods = [METHODS[int(m)] for m in pop.method]
        sched = schedules(
            pop.principal, pop.rate_bp, pop.term, methods, pop.disbursed.astype("datetime64[D]")
        )
        loan = sched.get_column("loan").to_numpy().astype(np.int64)
        due_day = sched.get_column("due_date").to_numpy().astype("datetime64[D]").astype(np.int64)
        self.led = Ledger(
            loan,
            sched.get_column("seq").to_numpy().astype(np.int64),
            due_day,
            sched.get_column("principal").to_numpy().astype(np.int64),
            sched.get_column("interest").to_numpy().astype(np.int64),
            pop.fee[loan],
        )
        del sched
        self.n_inst = np.bincount(loan, minlength=n_loans).astype(np.int64)
        self.inst_start = np.cumsum(self.n_inst) - self.n_inst
        self.maturity = due_day[self.inst_start + self.n_inst - 1]
        ltype = pop.ltype
        # Performing path: the day each installment's payment is decided (early payers 1–5 days ahead).
        early = self.rng_init.random(loan.size) < self.T.early[ltype[loan]]
        offset = np.where(early, self.rng_init.integers(1, 6, loan.size), 0)
        self.plan_day = np.maximum(due_day - offset, pop.disbursed[loan] + 1).astype(np.int32)
        self.decided = np.zeros(loan.size, dtype=bool)
        self.by_plan = np.argsort(self.plan_day, kind="stable")
        self.plan_sorted = self.plan_day[self.by_plan]
        self.by_due = np.argsort(self.led.due_day, kind="stable")
        self.due_sorted = self.led.due_day[self.by_due]

        n = n_loans
        self.status = np.zeros(n, dtype=np.int8)
        self.first_unpaid = np.zeros(n, dtype=np.int64)
        self.delinquent = np.zeros(n, dtype=bool)
        self.lam = np.zeros(n)
        self.t_last = np.zeros(n)
        self.next_t = np.full(n, np.inf)
        self.lam0 = self.T.lam0[ltype] * pop.lam_mult
        self.lam_inf = self.T.lam_inf[ltype] * pop.lam_mult
        self.kappa = self.T.kappa[ltype]
        self.loan_changed = np.full(n, -1, dtype=np.int32)
        self.written_off_day = np.full(n, -1, dtype=np.int32)
        # Treatment state.
        self.found = np.zeros(n, dtype=bool)
        self.fatigue = np.zeros(n)
        self.fatigue_day = np.zeros(n, dtype=np.int32)
        self.reminded_until = np.full(n, -1, dtype=np.int32)
        self.ptp_day = np.full(n, -1, dtype=np.int32)
        self.ptp_amount = np.zeros(n, dtype=np.int64)
        self.plan_next = np.full(n, -1, dtype=np.int32)
        self.plan_amount = np.zeros(n, dtype=np.int64)
        self.plan_left = np.zeros(n, dtype=np.int64)
        self.settle_day = np.full(n, -1, dtype=np.int32)
        self.settle_amount = np.zeros(n, dtype=np.int64)
        self.agency_until = np.full(n, -1, dtype=np.int32)
        self.uniforms: Uniforms | None = None
        # Logs: payments (one list entry per batch) and bureau reports.
        self.pay_log: list[tuple[Ints, Ints, Ints, Ints, Ints, Ints]] = []
        self.pay_starts: list[int] = []  # number of the first payment of each pay_log entry
        self.n_payments = 0
        self.bureau_log: list[tuple[Ints, Ints, Ints, Ints]] = []
        self.n_bureau = 0
        self.found_log: list[tuple[Ints, Ints]] = []

    # ---------------------------------------------------------------------------------------- basics
    def add_bureau(self, borrowers: Ints, day: int, new_delinquencies: Ints, score: Ints) -> None:
        if borrowers.size:
            day_col = np.full(borrowers.size, day, dtype=np.int64)
            self.bureau_log.append((borrowers, day_col, new_delinquencies, score))
            self.n_bureau += borrowers.size

    def n_disbursed(self, day: int) -> int:
        return int(np.searchsorted(self.pop.disbursed, day, side="right"))

    def overdue(self, idx: Ints, day: int) -> Ints:
        """Post penalty through ``day`` on the loans' open rows and return the balance being collected:
        what is overdue on ``day``, or everything still owed once the loan is written off."""
        starts = self.inst_start[idx] + self.first_unpaid[idx]
        ends = self.inst_start[idx] + self.n_inst[idx]
        rows, group = ranges(starts, ends)
        live = self.status[idx] != WRITTEN_OFF
        self.led.post_penalty(rows[live[group]], day, self.params.penalty_bp_per_day)
        late = (self.led.due_day[rows] < day) | ~live[group]
        rem = self.led.remaining(rows)
        out = np.zeros(idx.size, dtype=np.int64)
        np.add.at(out, group[late], rem[late])
        return out

    def pay(self, idx: Ints, amounts: Ints, day: int, source: int, channel: Ints | None = None) -> Ints:
        """Apply one payment per (distinct) loan; log it; settle statuses. Returns the amounts applied."""
        if idx.size == 0:
            return np.zeros(0, dtype=np.int64)
        starts = self.inst_start[idx] + self.first_unpaid[idx]
        ends = self.inst_start[idx] + self.n_inst[idx]
        applied, first_open, _rows = self.led.allocate(starts, ends, amounts, day, self.params.tolerance)
        self.first_unpaid[idx] += first_open
        ok = applied > 0
        if ok.any():
            if channel is None:
                channel = self.rng_misc.choice(len(CHANNELS), idx.size, p=CHANNEL_SHARES)
            channel = np.where(self.agency_until[idx] >= day, CHANNELS.index("agency"), channel)
            commission = np.where(
                channel == CHANNELS.index("agency"),
                applied * self.params.treatments["agency_placement"].commission_bp // 10_000,
                0,
            )
            self.pay_starts.append(self.n_payments)
            self.n_payments += int(ok.sum())
            self.pay_log.append(
                (
                    idx[ok].copy(),
                    np.full(int(ok.sum()), day, dtype=np.int64),
                    applied[ok],
                    np.asarray(channel, dtype=np.int64)[ok],
                    np.full(int(ok.sum()), source, dtype=np.int64),
                    commission[ok].astype(np.int64),
                )
            )
        done = self.first_unpaid[idx] >= self.n_inst[idx]
        paid_off = idx[done & (self.status[idx] == ACTIVE)]
        self.status[paid_off] = PAID_OFF
        self.loan_changed[paid_off] = day
        first_row = self.inst_start[idx] + np.minimum(self.first_unpaid[idx], self.n_inst[idx] - 1)
        current = (self.led.due_day[first_row] >= day) & (self.status[idx] != WRITTEN_OFF)
        cured = idx[self.delinquent[idx] & (done | current)]
        self.delinquent[cured] = False
        self.next_t[cured] = np.inf
        return applied

    # ---------------------------------------------------------------------------------------- hawkes
    def start_process(self, idx: Ints, t: float) -> None:
        """Accounts entering delinquency at time ``t``: λ = λ₀, next event drawn."""
        self.delinquent[idx] = True
        self.lam[idx] = self.lam0[idx]
        self.t_last[idx] = t
        self._redraw(idx, np.full(idx.size, t))

    def _redraw(self, idx: Ints, t: Floats) -> None:
        assert self.uniforms is not None
        u = self.uniforms.take(idx, 2)
        self.next_t[idx] = t + next_gap(u[:, 0], u[:, 1], self.lam[idx], self.lam_inf[idx], self.kappa[idx])

    def jump(self, idx: Ints, t: Floats, size: Floats) -> None:
        """Raise λ by ``size`` at times ``t`` (after events before ``t`` were processed) and redraw."""
        live = self.delinquent[idx]
        idx, t, size = idx[live], t[live], size[live]
        if idx.size == 0:
            return
        self.lam[idx] = (
            intensity(self.lam[idx], self.lam_inf[idx], self.kappa[idx], t - self.t_last[idx]) + size
        )
        self.t_last[idx] = t
        self._redraw(idx, t)

    def repaid_jump(self, idx: Ints, t: Floats, r: Floats) -> None:
        """The self-exciting jump δ₁₀ + δ₁₁R after a repayment of fraction ``r`` at times ``t``."""
        ty = self.pop.ltype[idx]
        self.jump(idx, t, self.T.delta10[ty] + self.T.delta11[ty] * r)

    def run_events(self, until: float, day: int) -> None:
        """Every repayment event before ``until`` (exact times, several per account if they come)."""
        T = self.T
        while True:
            idx = np.flatnonzero(self.next_t < until)
            if idx.size == 0:
                return
            t = self.next_t[idx]
            ty = self.pop.ltype[idx]
            assert self.uniforms is not None
            u = self.uniforms.take(idx, 1)[:, 0]
            full = u < T.r_full[ty]
            span = np.where(full, 1.0, (u - T.r_full[ty]) / np.maximum(1.0 - T.r_full[ty], 1e-12))
            r = np.where(full, 1.0, T.r_lo[ty] + (T.r_hi[ty] - T.r_lo[ty]) * span)
            w = self.overdue(idx, day)
            # The float R only shapes the draw: the amount is whole yuan, at least ¥100, at most w.
            want = (np.ceil(r * w / 100.0).astype(np.int64) * 100).clip(min=10_000)
            amount = np.where(full, w, np.minimum(want, w))
            paying = amount > 0
            self.pay(idx[paying], amount[paying], day, SOURCES.index("self_cure"))
            lam_t = intensity(self.lam[idx], self.lam_inf[idx], self.kappa[idx], t - self.t_last[idx])
            self.lam[idx] = lam_t + T.delta10[ty] + T.delta11[ty] * r
            self.t_last[idx] = t
            still = self.delinquent[idx]
            self._redraw(idx[still], t[still])
            self.next_t[idx[~still]] = np.inf
