"""Confirmation rules: does the next extract show an instruction's effect? Pure Polars, one small class per
kind, registered in :data:`RULES` (docs/writeback.md "Reconciliation").

Every rule gets the instructions of its kind (one row each: ``instruction_id``, ``loans`` (list),
``loan_id``, ``effective_date``, ``amount`` and the kind's own columns) and two :class:`Frames` of the
instructions' loans — the book as of the instructions' business date (*before*) and the newest book
(*after*) — and returns ``instruction_id`` with ``confirmed`` (bool) for every instruction it was given.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Final

import polars as pl

__all__ = ["COMPONENTS", "INSTRUCTION_SCHEMA", "RULES", "Frames", "Rule", "confirm"]

COMPONENTS: Final = ("penalty", "fee", "interest", "principal")

INSTRUCTION_SCHEMA: Final = {
    "instruction_id": pl.String(),
    "kind": pl.String(),
    "loan_id": pl.String(),
    "loans": pl.List(pl.String()),
    "effective_date": pl.Date(),
    "amount": pl.Int64(),
    **{f"waive_{c}": pl.Int64() for c in COMPONENTS},
    "reference": pl.String(),
}


@dataclass(frozen=True)
class Frames:
    """The datasets of one book the rules read (already restricted to the instructions' loans)."""

    loans: pl.DataFrame  # loan_id, status
    installments: pl.DataFrame  # loan_id, seq, due_date, <c>_due, <c>_paid
    payments: pl.DataFrame  # payment_id, loan_id, received_date, amount, reference, reverses


class Rule(ABC):
    kind: ClassVar[str]

    @abstractmethod
    def confirmed(self, instr: pl.DataFrame, before: Frames, after: Frames) -> pl.DataFrame:
        """``instruction_id``, ``confirmed`` for each row of ``instr``."""


RULES: dict[str, Rule] = {}


def register(cls: type[Rule]) -> type[Rule]:
    RULES[cls.kind] = cls()
    return cls


def _exploded(instr: pl.DataFrame) -> pl.DataFrame:
    return instr.select("instruction_id", "loans").explode("loans").rename({"loans": "loan_id"})


def _complete(instr: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """Every instruction of ``instr`` with ``confirmed`` (false where ``found`` has no row)."""
    return (
        instr.select("instruction_id")
        .join(found.select("instruction_id", "confirmed"), on="instruction_id", how="left")
        .with_columns(pl.col("confirmed").fill_null(False))
    )


@register
class WaiverRule(Rule):
    """The waived amount of each component has left what is due: Σ ``<c>_due`` over the loans fell by at
    least the waiver — or every loan is ``paid_off`` (a settlement the core system closed)."""

    kind = "waiver"

    def confirmed(self, instr: pl.DataFrame, before: Frames, after: Frames) -> pl.DataFrame:
        links = _exploded(instr)
        dues = [pl.col(f"{c}_due").sum().alias(c) for c in COMPONENTS]

        def totals(f: Frames, suffix: str) -> pl.DataFrame:
            return (
                links.join(f.installments, on="loan_id", how="left")
                .group_by("instruction_id")
                .agg(dues)
                .select("instruction_id", *(pl.col(c).fill_null(0).alias(c + suffix) for c in COMPONENTS))
            )

        closed = (
            links.join(after.loans.select("loan_id", "status"), on="loan_id", how="left")
            .group_by("instruction_id")
            .agg((pl.col("status") == "paid_off").fill_null(False).all().alias("closed"))
        )
        found = (
            instr.join(totals(before, "_b"), on="instruction_id", how="left")
            .join(totals(after, "_a"), on="instruction_id", how="left")
            .join(closed, on="instruction_id", how="left")
            .with_columns(
                reduced=pl.all_horizontal(
                    [
                        (pl.col(f"{c}_b").fill_null(0) - pl.col(f"{c}_a").fill_null(0))
                        >= pl.col(f"waive_{c}")
                        for c in COMPONENTS
                    ]
                )
            )
            .with_columns(confirmed=pl.col("reduced") | pl.col("closed").fill_null(False))
        )
        return _complete(instr, found)


def _signature(installments: pl.DataFrame) -> pl.DataFrame:
    """Per loan, its schedule as one string (seq, due date and every amount due)."""
    cols = ["seq", "due_date", *(f"{c}_due" for c in COMPONENTS)]
    return (
        installments.sort("loan_id", "seq")
        .group_by("loan_id", maintain_order=True)
        .agg(
            pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator=",").str.join("|").alias("sig")
        )
    )


@register
class PlanRule(Rule):
    """The schedule was restructured: some loan's instalments (dates or amounts due) differ from the book
    the plan was sent against."""

    kind = "plan"

    def confirmed(self, instr: pl.DataFrame, before: Frames, after: Frames) -> pl.DataFrame:
        b = _signature(before.installments).rename({"sig": "sig_b"})
        a = _signature(after.installments).rename({"sig": "sig_a"})
        found = (
            _exploded(instr)
            .join(b, on="loan_id", how="left")
            .join(a, on="loan_id", how="inner")
            .group_by("instruction_id")
            .agg((pl.col("sig_a") != pl.col("sig_b").fill_null("")).any().alias("confirmed"))
        )
        return _complete(instr, found)


@register
class FreezeRule(Rule):
    """Interest stopped: no unpaid interest on instalments due from the freeze date, and the penalty due did
    not grow."""

    kind = "interest_freeze"

    def confirmed(self, instr: pl.DataFrame, before: Frames, after: Frames) -> pl.DataFrame:
        links = instr.select("instruction_id", "loan_id", "effective_date")
        pen_b = before.installments.group_by("loan_id").agg(pl.col("penalty_due").sum().alias("pen_b"))
        later = (
            links.join(after.installments, on="loan_id", how="inner")
            .group_by("instruction_id")
            .agg(
                pl.col("penalty_due").sum().alias("pen_a"),
                (pl.col("interest_due") - pl.col("interest_paid"))
                .filter(pl.col("due_date") >= pl.col("effective_date"))
                .sum()
                .alias("interest_open"),
            )
        )
        found = (
            links.join(pen_b, on="loan_id", how="left")
            .join(later, on="instruction_id", how="inner")
            .with_columns(
                confirmed=(pl.col("interest_open").fill_null(0) == 0)
                & (pl.col("pen_a") <= pl.col("pen_b").fill_null(0))
            )
        )
        return _complete(instr, found)


@register
class WriteOffRule(Rule):
    """The core system marks the loan ``written_off``."""

    kind = "write_off"

    def confirmed(self, instr: pl.DataFrame, before: Frames, after: Frames) -> pl.DataFrame:
        found = instr.select("instruction_id", "loan_id").join(
            after.loans.select("loan_id", (pl.col("status") == "written_off").alias("confirmed")),
            on="loan_id",
            how="inner",
        )
        return _complete(instr, found)


@register
class ReceiptRule(Rule):
    """A payment of the amount on the loan, not reversed, whose reference is the receipt's (or the
    instruction id), or else received on the receipt's date."""

    kind = "manual_receipt"

    def confirmed(self, instr: pl.DataFrame, before: Frames, after: Frames) -> pl.DataFrame:
        pays = after.payments
        reversed_ids = pays.get_column("reverses").drop_nulls().unique()
        live = pays.filter(pl.col("reverses").is_null() & ~pl.col("payment_id").is_in(reversed_ids.implode()))
        found = (
            instr.select("instruction_id", "loan_id", "amount", "reference", "effective_date")
            .join(
                live.select(
                    "loan_id",
                    pl.col("amount").alias("paid"),
                    pl.col("reference").alias("pay_ref"),
                    "received_date",
                ),
                on="loan_id",
                how="inner",
            )
            .filter(
                (pl.col("paid") == pl.col("amount"))
                & (
                    (pl.col("pay_ref") == pl.col("reference")).fill_null(False)
                    | (pl.col("pay_ref") == pl.col("instruction_id")).fill_null(False)
                    | (pl.col("received_date") == pl.col("effective_date"))
                )
            )
            .group_by("instruction_id")
            .agg(pl.lit(True).alias("confirmed"))
        )
        return _complete(instr, found)


def confirm(instr: pl.DataFrame, before: Frames, after: Frames) -> pl.DataFrame:
    """``instruction_id``, ``kind``, ``confirmed`` for every instruction, each judged by its kind's rule."""
    parts = [
        RULES[k].confirmed(group, before, after).with_columns(kind=pl.lit(k))
        for (k,), group in instr.group_by("kind", maintain_order=True)
        if k in RULES
    ]
    if not parts:
        return pl.DataFrame(
            schema={"instruction_id": pl.String(), "confirmed": pl.Boolean(), "kind": pl.String()}
        )
    return pl.concat(parts, how="vertical")
