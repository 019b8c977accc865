"""The digital twin in the loop: a lender and its borrowers, stepped one day at a time.

>>> world = World(n_loans=2_000, start=dt.date(2026, 1, 1), seed=7)
>>> frames = world.extract(full=True)              # the book as of 2026-01-01 (history included)
>>> events = world.step([Action("L000000042", Treatment.SMS, hour=12)])
>>> delta = world.extract()                        # what changed on 2026-01-02, as the core system sends it

Loans are disbursed from ``start − history_days`` until ``start + horizon_days − 1``; the history up to
``start`` is simulated (without treatments) when the world is made. Same arguments → same extracts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.contact.vocab import Party, Treatment
from recoup.portfolio import synth
from recoup.portfolio.spec import DATASETS
from recoup.portfolio.synth.people import _mobiles
from recoup.simulate import extract as ex
from recoup.simulate.defaults import DEFAULT_PARAMS
from recoup.simulate.dynamics import Segment, run_day
from recoup.simulate.events import Action, DayEvents, DayLog
from recoup.simulate.ledger import ranges
from recoup.simulate.params import TYPES, SimParams, SimulateError
from recoup.simulate.state import CHANNELS, SOURCES, STATUS, State
from recoup.simulate.treatments import PARTIES, TREATMENTS, apply_actions

Ints = npt.NDArray[np.int64]
_EPOCH = dt.date(1970, 1, 1)


def epoch_day(d: dt.date) -> int:
    return (d - _EPOCH).days


def from_epoch(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(day))


class World:
    """A simulated lender; see the module docstring."""

    def __init__(
        self,
        params: SimParams | None = None,
        n_loans: int = 10_000,
        start: dt.date = dt.date(2026, 1, 1),
        seed: int = 0,
        *,
        horizon_days: int = 180,
        term_months: int | None = None,
    ) -> None:
        self.params = params or DEFAULT_PARAMS
        self.start = start
        self.st = State(self.params, n_loans, epoch_day(start), horizon_days, seed, term_months)
        st = self.st
        self.borrowers = st.pop.borrowers_frame(st.rng_people)
        contacts = st.pop.contact_frame(st.rng_people, self.borrowers)
        self.contacts = contacts.drop("contact_id")
        self.contact_valid = contacts.get_column("is_valid").to_numpy().copy()
        self.contact_changed = np.full(contacts.height, -1, dtype=np.int32)
        cb = contacts.get_column("b").to_numpy()
        self.contact_b: Ints = cb.astype(np.int64)
        self.self_phone = np.full(st.pop.n_borrowers, -1, dtype=np.int64)
        own = np.flatnonzero(
            (contacts.get_column("role") == "self").to_numpy()
            & (contacts.get_column("kind") == "phone").to_numpy()
        )
        self.self_phone[cb[own]] = own
        self.new_contacts: list[pl.DataFrame] = []  # numbers found again (one row each, with "day")
        self._refound = np.zeros(st.pop.n_borrowers, dtype=bool)
        self._found_seen = 0
        for day in range(st.day + 1, epoch_day(start) + 1):
            run_day(st, day, [])
        self._apply_found()
        self._last: int | None = None  # day of the last extract
        self._marks = (0, 0)  # payments and bureau reports already extracted
        self._new_contacts_seen = 0

    # ------------------------------------------------------------------------------------------ state
    @property
    def today(self) -> dt.date:
        """The last simulated day: extracts are as of this date."""
        return from_epoch(self.st.day)

    def loan_index(self, loan_id: str) -> int:
        """``L000000042`` → 41 (the loan's position); SimulateError for ids this world never made."""
        if len(loan_id) != 10 or loan_id[0] != "L" or not loan_id[1:].isdigit():
            raise SimulateError(f"unknown loan id {loan_id!r}")
        i = int(loan_id[1:]) - 1
        if not 0 <= i < self.st.n:
            raise SimulateError(f"unknown loan id {loan_id!r}")
        return i

    def truth(self) -> pl.DataFrame:
        """The latent facts per disbursed loan (never in an extract): borrower type and the loan's own
        heterogeneity factors — to evaluate scores and strategies against."""
        st, pop = self.st, self.st.pop
        n = st.n_disbursed(st.day)
        idx = np.arange(n, dtype=np.int64)
        return pl.DataFrame(
            {
                "i": idx,
                "b": pop.owner[idx],
                "product": [st.params.products[p].code for p in pop.product[idx]],
                "grade": [st.params.products[p].grade for p in pop.product[idx]],
                "borrower_type": [TYPES[t].value for t in pop.ltype[idx]],
                "intensity_factor": pop.lam_mult[idx],
                "miss_factor": pop.miss_mult[idx],
            }
        ).select(
            ex.loan_id_expr().alias("loan_id"),
            synth._id("C", pl.col("b"), 8).alias("borrower_id"),
            pl.exclude("i", "b"),
        )

    def accounts(self, *, delinquent_only: bool = False) -> pl.DataFrame:
        """The lender's view of each disbursed loan today: status, days past due and what is overdue
        (the same figures the delinquency kernel derives from the extract)."""
        st = self.st
        n = st.n_disbursed(st.day)
        idx = np.arange(n, dtype=np.int64)
        if delinquent_only:
            idx = idx[st.delinquent[:n]]
        first = st.inst_start[idx] + np.minimum(st.first_unpaid[idx], st.n_inst[idx] - 1)
        dpd = np.where(st.delinquent[idx], st.day - st.led.due_day[first].astype(np.int64), 0)
        starts = st.inst_start[idx] + st.first_unpaid[idx]
        rows, group = ranges(starts, st.inst_start[idx] + st.n_inst[idx])
        owed = st.led.remaining(rows)
        late = st.led.due_day[rows] < st.day
        overdue = np.zeros(idx.size, dtype=np.int64)
        outstanding = np.zeros(idx.size, dtype=np.int64)
        np.add.at(overdue, group[late], owed[late])
        np.add.at(outstanding, group, owed)
        return pl.DataFrame(
            {
                "i": idx,
                "status": [STATUS[s] for s in st.status[idx]],
                "dpd": dpd,
                "overdue": overdue,
                "outstanding": outstanding,
            }
        ).select(ex.loan_id_expr(), pl.exclude("i"))

    # ------------------------------------------------------------------------------------------- step
    def step(self, actions: Sequence[Action] = ()) -> DayEvents:
        """Simulate the next day with recoup's ``actions``; returns what happened that day."""
        st = self.st
        day = st.day + 1
        log = DayLog()
        pay_mark = st.n_payments
        segments = self._segments(day, actions, log)
        run_day(st, day, segments)
        self._apply_found()
        loan, _d, amount, channel, source, commission = ex.payment_arrays(st, pay_mark, st.n_payments)
        ids = [f"L{i + 1:09d}" for i in loan]
        payments = pl.DataFrame(
            {
                "payment_id": [f"P{pay_mark + k + 1:011d}" for k in range(loan.size)],
                "loan_id": ids,
                "borrower_id": [f"C{b + 1:08d}" for b in st.pop.owner[loan]],
                "amount": amount,
                "channel": [CHANNELS[c] for c in channel],
                "source": [SOURCES[s] for s in source],
                "commission": commission,
            },
            schema=log.frame("payments").schema,
        )
        return DayEvents(
            from_epoch(day),
            payments,
            log.frame("attempts"),
            log.frame("promises"),
            log.frame("offers"),
            log.frame("replies"),
            log.frame("complaints"),
        )

    def _segments(self, day: int, actions: Sequence[Action], log: DayLog) -> list[Segment]:
        """Group actions into batches of distinct accounts per hour, in the order given."""
        if not actions:
            return []
        rows = []
        for a in actions:
            if not 0 <= a.hour <= 23:
                raise SimulateError(f"hour must be 0..23, got {a.hour}")
            rows.append(
                (
                    a.hour,
                    self.loan_index(a.loan_id),
                    TREATMENTS.index(Treatment(a.treatment)),
                    PARTIES.index(Party(a.party)),
                    int(a.amount),
                    int(a.installments),
                    bool(a.rude),
                )
            )
        arr = np.array(rows, dtype=np.int64)
        seen: dict[tuple[int, int], int] = {}
        rank = np.zeros(len(rows), dtype=np.int64)
        for k, r in enumerate(rows):
            rank[k] = seen.get((r[0], r[1]), 0)
            seen[(r[0], r[1])] = rank[k] + 1
        segments: list[Segment] = []
        for hour, rk in sorted({(int(h), int(r)) for h, r in zip(arr[:, 0], rank, strict=True)}):
            sel = np.flatnonzero((arr[:, 0] == hour) & (rank == rk))
            b = arr[sel]
            ids = [actions[int(i)].loan_id for i in sel]

            def apply(b: npt.NDArray[np.int64] = b, ids: list[str] = ids, hour: int = hour) -> None:
                apply_actions(
                    self.st,
                    day,
                    hour,
                    b[:, 1],
                    b[:, 2],
                    b[:, 3],
                    b[:, 4],
                    b[:, 5],
                    b[:, 6].astype(bool),
                    log,
                    ids,
                )

            segments.append((hour + rk * 1e-6, apply))
        return segments

    def _apply_found(self) -> None:
        """Borrowers found again get a new mobile (self, valid); the old one is marked invalid."""
        st = self.st
        new = st.found_log[self._found_seen :]
        self._found_seen = len(st.found_log)
        for loans, days in new:
            b = st.pop.owner[loans]
            fresh = ~self._refound[b]
            b, days = b[fresh], days[fresh]
            b, first = np.unique(b, return_index=True)
            days = days[first]
            if b.size == 0:
                continue
            self._refound[b] = True
            old = self.self_phone[b]
            has = old >= 0
            self.contact_valid[old[has]] = False
            self.contact_changed[old[has]] = days[has]
            self.new_contacts.append(
                pl.DataFrame(
                    {
                        "b": b,
                        "kind": ["phone"] * b.size,
                        "value": _mobiles(st.rng_people, b.size),
                        "role": ["self"] * b.size,
                        "consent_channels": ["voice,sms"] * b.size,
                        "consent_source": ["call_recording"] * b.size,
                        "consent_date": ex._date(days),
                        "is_valid": [True] * b.size,
                        "day": days,
                    }
                )
            )

    # ---------------------------------------------------------------------------------------- extract
    def _select(self, full: bool) -> _Selection:
        st = self.st
        today = st.day
        first = full or self._last is None
        last = -(1 << 31) if first or self._last is None else self._last
        n = st.n_disbursed(today)
        pop = st.pop
        new_loans = pop.disbursed[:n] > last
        loans = np.flatnonzero(new_loans | (st.loan_changed[:n] > last))
        rows_end = int(st.inst_start[n - 1] + st.n_inst[n - 1]) if n else 0
        inst = np.flatnonzero(new_loans[st.led.loan[:rows_end]] | (st.led.changed[:rows_end] > last))
        nb = int(np.searchsorted(pop.first_loan_day, today, side="right"))
        borrowers = np.flatnonzero(pop.first_loan_day[:nb] > last)
        n_pay, n_bur = st.n_payments, st.n_bureau
        lo_pay, lo_bur = (0, 0) if first else self._marks
        return _Selection(loans, inst, borrowers, nb, last, (lo_pay, n_pay), (lo_bur, n_bur))

    def _contacts(self, nb: int, last: int, borrowers: Ints) -> pl.DataFrame:
        in_book = self.contact_b < nb
        pick = in_book & ((self.contact_changed > last) | np.isin(self.contact_b, borrowers))
        base = self.contacts.with_columns(
            pl.Series("is_valid", self.contact_valid), pl.int_range(0, pl.len(), dtype=pl.Int64).alias("n")
        ).filter(pl.Series(pick))
        extra = [f for f in self.new_contacts if f.height]
        parts = [base]
        if extra:
            added = (
                pl.concat(extra)
                .with_row_index("k")
                .with_columns((pl.col("k").cast(pl.Int64) + self.contacts.height).alias("n"))
            )
            parts.append(added.filter(pl.col("day") > last).drop("k", "day"))
        frame = pl.concat(parts, how="diagonal_relaxed").sort("n")
        frame = frame.with_columns(
            synth._id("CP", pl.col("n"), 9).alias("contact_id"),
            synth._id("C", pl.col("b"), 8).alias("borrower_id"),
        )
        return synth._as_text("contact_points", frame)

    def extract(self, full: bool = False) -> dict[str, pl.DataFrame]:
        """The extract as of :attr:`today`: everything (``full``, and always the first time) or only the
        rows that changed since the previous extract. Text cells in the canonical columns; empty
        datasets are left out."""
        parts = {name: list(gen) for name, gen in self._parts(full).items()}
        frames = {name: pl.concat(p) if len(p) > 1 else p[0] for name, p in parts.items() if p}
        return {name: f for name, f in frames.items() if f.height}

    def write_extract(
        self, directory: str | Path, *, full: bool = False, chinese_headers: bool = False
    ) -> Path:
        """Write :meth:`extract` as a day's directory of CSV files (chunked: big snapshots stream)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = [
            name
            for name, gen in self._parts(full).items()
            if ex.write_csv_parts(name, gen, out, chinese_headers=chinese_headers)
        ]
        if chinese_headers:
            ex.write_mapping(out, [n for n in DATASETS if n in written])
        return out

    def _parts(self, full: bool) -> dict[str, Iterator[pl.DataFrame]]:
        st = self.st
        s = self._select(full)
        mask = np.zeros(self.borrowers.height, dtype=bool)
        mask[s.borrowers] = True
        self._last = st.day
        self._marks = (s.pay[1], s.bureau[1])
        pay_lo, pay_hi = s.pay
        loans, inst = s.loans, s.inst
        return {
            "borrowers": iter([synth._as_text("borrowers", self.borrowers.filter(pl.Series(mask)))]),
            "contact_points": iter([self._contacts(s.nb, s.last, s.borrowers)]),
            "loans": (ex.loans(st, loans[a:b]) for a, b in ex.chunks(loans.size)),
            "installments": (ex.installments(st, inst[a:b]) for a, b in ex.chunks(inst.size)),
            "payments": (ex.payments(st, pay_lo + a, pay_lo + b) for a, b in ex.chunks(pay_hi - pay_lo)),
            "bureau_updates": iter([ex.bureau(st, *s.bureau)]),
        }


class _Selection(NamedTuple):
    """What an extract holds: loan and installment row indices, new borrowers, log ranges."""

    loans: Ints
    inst: Ints
    borrowers: Ints
    nb: int
    last: int
    pay: tuple[int, int]
    bureau: tuple[int, int]
