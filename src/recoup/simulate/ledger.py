"""The lender's ledger as arrays: installments with what is due and paid, the vectorised payment
waterfall (:func:`recoup.money.allocate_payment` semantics) and daily penalty accrual.

Installments of a loan are contiguous rows, oldest first. Amounts are int64 fen. A payment is applied
oldest installment first, each cleared in the order penalty → fee → interest → principal; what exceeds
the loan's total would be credit (the simulator never pays more than is owed). Penalty (罚息) accrues
every day on overdue principal at ``penalty_bp_per_day``, each day's amount rounded down to the fen;
it is *posted* to the installment (and so appears in an extract) when a payment arrives, when the loan
is written off, and at each month end — as a core system books its daily accrual.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bools = npt.NDArray[np.bool_]

#: Column order of the waterfall: penalty, fee, interest, principal.
PARTS = ("penalty", "fee", "interest", "principal")


def ranges(starts: Ints, ends: Ints) -> tuple[Ints, Ints]:
    """The concatenated row ranges [start, end) and the group (0 … k−1) of each row."""
    counts = ends - starts
    total = int(counts.sum())
    group = np.repeat(np.arange(starts.size, dtype=np.int64), counts)
    offsets = np.cumsum(counts) - counts
    rows = starts[group] + (np.arange(total, dtype=np.int64) - offsets[group])
    return rows, group


class Ledger:
    """Installment rows: ``due`` (epoch days) and per component ``due``/``paid`` amounts."""

    def __init__(
        self, loan: Ints, seq: Ints, due_day: Ints, principal: Ints, interest: Ints, fee: Ints
    ) -> None:
        m = loan.size
        self.loan = loan
        self.seq = seq
        self.due_day = due_day.astype(np.int32)
        self.due = np.zeros((m, 4), dtype=np.int64)  # penalty, fee, interest, principal
        self.due[:, 1] = fee
        self.due[:, 2] = interest
        self.due[:, 3] = principal
        self.paid = np.zeros((m, 4), dtype=np.int64)
        self.last_paid = np.full(m, -1, dtype=np.int32)
        self.pen_from = self.due_day + 1  # first day whose penalty is not yet posted
        self.changed = np.full(m, -1, dtype=np.int32)  # last day the row changed after it appeared

    def remaining(self, rows: Ints) -> Ints:
        out: Ints = (self.due[rows] - self.paid[rows]).sum(axis=1)
        return out

    def post_penalty(self, rows: Ints, day: int, bp_per_day: int) -> None:
        """Post the penalty accrued on ``rows`` up to and including ``day`` (rows not yet due accrue none)."""
        if rows.size == 0 or bp_per_day == 0:
            return
        owed_p = self.due[rows, 3] - self.paid[rows, 3]
        days = day - self.pen_from[rows].astype(np.int64) + 1
        ok = (days > 0) & (owed_p > 0)
        if not ok.any():
            return
        r = rows[ok]
        amount = days[ok] * (owed_p[ok] * bp_per_day // 10_000)
        self.due[r, 0] += amount
        self.pen_from[r] = day + 1
        self.changed[r[amount > 0]] = day

    def stop_penalty(self, rows: Ints) -> None:
        """No more accrual on ``rows`` (written off: 表外, nothing further is booked)."""
        self.pen_from[rows] = np.iinfo(np.int32).max

    def allocate(
        self, starts: Ints, ends: Ints, amounts: Ints, day: int, tolerance: int
    ) -> tuple[Ints, Ints, Ints]:
        """Apply one payment per loan to its rows [start, end), oldest first.

        Returns (applied per loan, first row still open relative to ``start`` — ``end − start`` when all
        are paid —, rows touched). A payment that would leave 1..``tolerance`` fen open on the installment
        where it runs out is rounded up to clear it (people pay the odd fen rather than stay overdue), and
        a payment never exceeds what the rows owe.
        """
        rows, group = ranges(starts, ends)
        k = starts.size
        if rows.size == 0:
            zero = np.zeros(k, dtype=np.int64)
            return zero, zero.copy(), rows
        owed = self.due[rows] - self.paid[rows]
        row_total = owed.sum(axis=1)
        cum_rows = np.cumsum(row_total)
        seg_end = np.cumsum(ends - starts)
        seg_start = seg_end - (ends - starts)
        base = np.where(seg_start > 0, cum_rows[np.maximum(seg_start - 1, 0)], 0)
        last = np.maximum(seg_end - 1, 0)
        seg_total = np.where(seg_end > seg_start, cum_rows[last] - base, 0)
        target = np.minimum(amounts, seg_total)
        stop = np.clip(np.searchsorted(cum_rows, base + target, side="left"), seg_start, last)
        gap = cum_rows[stop] - base - target
        target = np.where((target > 0) & (gap > 0) & (gap <= tolerance), target + gap, target)

        flat = owed.ravel()
        cum = np.cumsum(flat)
        g4 = np.repeat(group, 4)
        before = cum - flat - np.repeat(base, ends - starts).repeat(4)
        take = np.clip(target[g4] - before, 0, flat).reshape(-1, 4)
        self.paid[rows] += take
        took = take.sum(axis=1)
        hit = rows[took > 0]
        self.last_paid[hit] = day
        self.changed[hit] = day
        nonempty = ends > starts
        applied = np.zeros(k, dtype=np.int64)
        applied[nonempty] = np.add.reduceat(took, seg_start[nonempty])
        open_after = (row_total - took) > 0
        local = rows - starts[group]
        cand = np.where(open_after, local, (ends - starts)[group])
        first_open = (ends - starts).copy()
        first_open[nonempty] = np.minimum.reduceat(cand, seg_start[nonempty])
        return applied, first_open, hit
