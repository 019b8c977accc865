"""The evaluation's day of work: the decision frame from the twin's book, and the decisions turned into
tasks — at a lawful local hour from a deterministic spread, for a party, in queue order within the day's
:class:`Capacity`; legal reviews and placements are states carried over while decided again.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from recoup import rules
from recoup.contact.vocab import Party, Treatment
from recoup.delinquency.tables import BUCKETS
from recoup.evaluation.gate import LENDER_TZ, Attempt
from recoup.evaluation.perturb import EvaluateError
from recoup.scoring.segments import SEGMENTS
from recoup.simulate import World
from recoup.simulate.world import epoch_day
from recoup.strategy.capacity import DEFAULT_HOURS, RESOURCE, Capacity, queue_order, within
from recoup.strategy.definition import MESSAGE_TREATMENTS
from recoup.strategy.experiments import stable_uniform

__all__ = ["DEFAULT_HOURS", "MESSAGES", "Decider", "Execution", "Scorer", "Tasks"]

#: Messages go out at the strategy's ``send_hour`` (local); robot calls are dialled all day.
MESSAGES = frozenset(MESSAGE_TREATMENTS) - {Treatment.ROBOT_CALL}

#: Hooks for the optimiser: a decider replaces the strategy (same columns as ``decide``, plus optional
#: ``expected_value`` (fen, ranks the queue), ``hour`` and ``party``); a scorer fills ``score``.
Decider = Callable[[pl.DataFrame, dt.date], pl.DataFrame]
Scorer = Callable[[pl.DataFrame], pl.Series]


# ------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Execution:
    """How tasks are worked: the local hour window per treatment and the party contacted (default the
    debtor). A strategy FILE may carry these as ``"execution": {"hours": {"robot_call": [9, 20]},
    "party": {"agent_call": "debtor"}}``; the contact policy, not this, decides what is lawful."""

    hours: Mapping[Treatment, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_HOURS))
    party: Mapping[Treatment, Party] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Execution:
        """Validate an ``execution`` section; errors name the field."""
        unknown = set(data) - {"hours", "party"}
        if unknown:
            raise EvaluateError(f"execution: unknown key(s) {', '.join(sorted(unknown))} · 未知字段")
        hours: dict[Treatment, tuple[int, int]] = dict(DEFAULT_HOURS)
        for key, window in (data.get("hours") or {}).items():
            t = _treatment(key, f"execution.hours.{key}")
            ok = (
                isinstance(window, (list, tuple))
                and len(window) == 2
                and all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 23 for h in window)
                and window[0] <= window[1]
            )
            if not ok:
                raise EvaluateError(
                    f"execution.hours.{key}: [first, last] local hours 0–23 · 须为 [起, 止] 小时"
                )
            hours[t] = (int(window[0]), int(window[1]))
        party: dict[Treatment, Party] = {}
        for key, value in (data.get("party") or {}).items():
            t = _treatment(key, f"execution.party.{key}")
            try:
                party[t] = Party(value)
            except ValueError:
                raise EvaluateError(
                    f"execution.party.{key}: {value!r} is not a party; one of "
                    f"{', '.join(p.value for p in Party)} · 联系对象无效"
                ) from None
        return cls(hours=hours, party=party)

    def window(self, t: Treatment, send_hour: int) -> tuple[int, int]:
        if t in MESSAGES and t not in self.hours:
            return (send_hour, send_hour)
        return self.hours.get(t, (10, 10))


def _treatment(value: str, where: str) -> Treatment:
    try:
        return Treatment(value)
    except ValueError:
        raise EvaluateError(f"{where}: {value!r} is not a treatment · 处置无效") from None


# ------------------------------------------------------------------------------------------ the day


class Tasks:
    """The day's decision frame and tasks for the loop, and the states they leave behind: agency
    placements in force, legal reviews open, and the capacity used or over."""

    def __init__(
        self,
        world: World,
        *,
        loans: int,
        capacity: Capacity,
        execution: Execution,
        scorer: Scorer | None,
        send_hour: int,
        agency_days: int,
    ) -> None:
        self.world = world
        self.capacity = capacity
        self.execution = execution
        self.scorer = scorer
        self.send_hour = send_hour
        self.agency_days = agency_days
        self.bucket_table = rules.load_table(BUCKETS)
        self.segment_table = rules.load_table(SEGMENTS)
        self.static = pl.DataFrame(
            schema={"loan_id": pl.String, "borrower_id": pl.String, "product_type": pl.String,
                    "customer_type": pl.String, "timezone": pl.String}
        )  # fmt: skip
        self.prev = pl.DataFrame(
            schema={"loan_id": pl.String, "prev_bucket": pl.String, "prev_since": pl.Date}
        )
        n = loans
        self.placed_until = np.full(n, -1, dtype=np.int64)  # epoch day the agency works the account until
        self.legal_open = np.zeros(n, dtype=bool)
        self.used: Counter[str] = Counter()
        self.over: Counter[str] = Counter()

    # ------------------------------------------------------------------ frame
    def _static(self, ids: pl.DataFrame) -> pl.DataFrame:
        """Borrower, product type, customer type and time zone per loan (refreshed for new loans)."""
        if ids.join(self.static, on="loan_id", how="anti").height:
            kinds = {p.code: p.product_type for p in self.world.params.products}
            people = self.world.borrowers.select("borrower_id", "customer_type", "timezone")
            self.static = (
                self.world.truth()
                .select(
                    "loan_id", "borrower_id", pl.col("product").replace_strict(kinds).alias("product_type")
                )
                .join(people, on="borrower_id", how="left")
                .with_columns(
                    pl.col("customer_type").fill_null("individual"), pl.col("timezone").fill_null(LENDER_TZ)
                )
            )
        return self.static

    def frame(self, as_of: dt.date) -> pl.DataFrame:
        """The decision frame as of ``as_of`` (the book at the end of that day)."""
        acc = self.world.accounts(delinquent_only=True)
        df = acc.join(self._static(acc.select("loan_id")), on="loan_id", how="left").with_columns(
            pl.col("overdue").alias("overdue_amount"),
            # The twin's lender view has no principal split: everything still owed stands for it.
            pl.col("outstanding").alias("outstanding_principal"),
            (pl.col("status") == "written_off").alias("written_off"),
            pl.lit(None, pl.Int64).alias("missed_installments"),
            pl.lit(False).alias("bucket_by_cycle"),
            (pl.col("loan_id").str.slice(1).cast(pl.Int64) - 1).alias("i"),
        )
        df = rules.evaluate(df, self.bucket_table, rule_column="bucket_rule")
        df = df.join(self.prev, on="loan_id", how="left").with_columns(
            bucket_since=pl.when(pl.col("prev_bucket") == pl.col("bucket"))
            .then(pl.col("prev_since"))
            .otherwise(pl.lit(as_of))
        )
        self.prev = df.select(
            "loan_id", pl.col("bucket").alias("prev_bucket"), pl.col("bucket_since").alias("prev_since")
        )
        if self.scorer is not None:
            df = df.with_columns(self.scorer(df).cast(pl.Float64).alias("score"))
        else:
            df = df.with_columns(score=pl.lit(None, pl.Float64))
        df = rules.evaluate(df, self.segment_table, rule_column="segment_rule")
        return df.drop("prev_bucket", "prev_since", "missed_installments", "bucket_by_cycle")

    # ------------------------------------------------------------------ tasks
    def tasks(
        self, frame: pl.DataFrame, dec: pl.DataFrame, as_of: dt.date
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The day's tasks in queue order, with hour, party, resource, use and ``fits``; states already
        in force are marked ``carried``."""
        contact_day = epoch_day(as_of) + 1
        extra = [c for c in ("expected_value", "hour", "party") if c in dec.columns]
        t = dec.select("loan_id", "treatment", "priority", "node", *extra).join(
            frame.select("loan_id", "i", "borrower_id", "timezone", "overdue_amount", "segment"),
            on="loan_id",
            how="left",
        )
        t = t.filter(pl.col("treatment").is_in([x.value for x in RESOURCE]))
        i = t.get_column("i").to_numpy()
        treat = t.get_column("treatment").to_numpy()
        placed = treat == Treatment.AGENCY_PLACEMENT.value
        legal = treat == Treatment.LEGAL_REVIEW.value
        carried = (placed & (self.placed_until[i] >= contact_day)) | (legal & self.legal_open[i])
        # Legal reviews stay open while decided again; one not decided today is closed (superseded).
        self.legal_open[:] = False
        self.legal_open[i[legal & carried]] = True
        prices = {k: v.cost for k, v in self.world.params.treatments.items()}
        t = t.with_columns(
            carried=pl.Series(carried, dtype=pl.Boolean),
            resource=pl.col("treatment").replace_strict({x.value: r for x, r in RESOURCE.items()}),
            price=pl.col("treatment").replace_strict(prices, return_dtype=pl.Int64),
            rank_value=(
                pl.col("expected_value").cast(pl.Float64)
                if "expected_value" in extra
                else pl.col("priority").cast(pl.Float64)
            ),
        ).with_columns(use=self.capacity.use_expr())
        if "hour" not in extra:
            t = t.with_columns(hour=self._hours(t, as_of))
        if "party" not in extra:
            parties = {k.value: v.value for k, v in self.execution.party.items()}
            t = t.with_columns(
                party=pl.col("treatment").replace_strict(
                    parties, default=Party.DEBTOR.value, return_dtype=pl.String
                )
            )
        work = queue_order(t.filter(~pl.col("carried")))
        work = within(work, self.capacity)
        return work.with_row_index("pos"), t.filter(pl.col("carried"))

    def _hours(self, t: pl.DataFrame, as_of: dt.date) -> pl.Series:
        """A deterministic spread over each treatment's window: a hash of (loan, day)."""
        u = stable_uniform(t.get_column("loan_id"), f"evaluate-hour:{as_of.isoformat()}")
        windows = {x.value: self.execution.window(x, self.send_hour) for x in Treatment}
        treat = t.get_column("treatment")
        lo = treat.replace_strict({k: w[0] for k, w in windows.items()}, return_dtype=pl.Int64).to_numpy()
        width = treat.replace_strict(
            {k: w[1] - w[0] + 1 for k, w in windows.items()}, return_dtype=pl.Int64
        ).to_numpy()
        return pl.Series("hour", lo + np.floor(u * width).astype(np.int64), dtype=pl.Int64)

    # ------------------------------------------------------------------ after the gate
    def worked(self, contact_day: dt.date, queue: Sequence[Attempt], made: Sequence[Attempt]) -> None:
        """Record what the gate let through: capacity used, placements and legal reviews now in force,
        and the tasks that did not fit."""
        for a in made:
            self.used[a.resource] += a.use
            if a.treatment is Treatment.AGENCY_PLACEMENT:
                self.placed_until[int(a.loan_id[1:]) - 1] = epoch_day(contact_day) + self.agency_days
            elif a.treatment is Treatment.LEGAL_REVIEW:
                self.legal_open[int(a.loan_id[1:]) - 1] = True
        for a in queue:
            if a.verdict == "over_capacity":
                self.over[a.resource] += 1
