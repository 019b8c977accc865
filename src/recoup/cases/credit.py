"""Payment credit (回款归属): who is credited with each payment (collections per head, agency commission).

A pure, vectorised kernel (joins and range filters, no loop over payments). The rules, with the parameters
of :class:`CreditRules`:

1. **Holder.** The party holding the case on the payment's ``received_date`` is credited (a holding covers
   ``start_date <= d < end_date``; a null ``end_date`` is open). No holder that day: ``credited_id`` and
   ``credited_kind`` are null and the reason is ``unheld``.
2. **Promise credit survives reassignment.** A promise covers a payment when
   ``made_on <= received_date <= due_date + promise_credit_days``. When several promises of the case cover
   it, the latest one counts (latest ``made_on``, then greatest ``promise_id``). If its taker
   (``made_by_holder``) held the case on ``made_on`` and is not the holder on ``received_date`` — the case
   changed holder after the promise was taken (reassigned, recalled or placed) — the taker is credited
   instead, with reason ``promise``. Promises with a status in ``excluded_promise_statuses`` (default
   ``rescheduled`` and ``not_counted``) and promises whose taker did not hold the case on ``made_on`` give no
   promise credit. The taker's kind is the kind of their holding on ``made_on``.
3. **Split credit for assisted collection.** Every distinct helper of a ``success`` assist covering
   ``received_date`` (same half-open range as holdings; a helper who is the credited party is ignored) is
   credited with reason ``assist``. Of an amount A the helpers' pool is ``sign(A) * (|A| * assist_share_bp //
   10000)``, each of k helpers gets ``sign(A) * ((|A| * assist_share_bp // 10000) // k)`` and the party of
   rule 1/2 (or the unheld row) gets the rest, remainder fen included, so the rows of a payment sum exactly
   to its amount and a full reversal exactly negates every share of the payment it reverses.

**Reversals** (negative amounts with ``reverses`` naming a payment of the frame) are credited as the
reversed payment was: the rules run on the reversed payment's case and ``received_date`` (following chains
of reversals to the first payment). A reversal whose payment is not in the frame is credited like a payment
on its own date. Output rows keep the reversal's own ``payment_id``, ``received_date`` and ``amount``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from recoup.errors import RecoupError

__all__ = [
    "ASSISTS_SCHEMA",
    "CREDIT_SCHEMA",
    "HOLDER_KINDS",
    "HOLDINGS_SCHEMA",
    "PAYMENTS_SCHEMA",
    "PROMISES_SCHEMA",
    "REASONS",
    "CreditInputError",
    "CreditRules",
    "credit_payments",
]

HOLDER_KINDS = ("collector", "agency")
REASONS = ("holder", "promise", "assist", "unheld")
_MAX_ABS_AMOUNT = (2**63 - 1) // 10_000  # |amount| × basis points stays inside Int64

#: Input columns (``reverses`` is optional; ``promise_id`` may be String or an integer type).
PAYMENTS_SCHEMA: dict[str, pl.DataType] = {
    "payment_id": pl.String(),
    "case_id": pl.Int64(),
    "received_date": pl.Date(),
    "amount": pl.Int64(),
    "reverses": pl.String(),
}
HOLDINGS_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.Int64(),
    "holder_id": pl.Int64(),
    "holder_kind": pl.String(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
}
PROMISES_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.Int64(),
    "promise_id": pl.String(),
    "made_by_holder": pl.Int64(),
    "made_on": pl.Date(),
    "due_date": pl.Date(),
    "status": pl.String(),
}
ASSISTS_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.Int64(),
    "helper_id": pl.Int64(),
    "helper_kind": pl.String(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
    "result": pl.String(),
}
#: Output columns of :func:`credit_payments`.
CREDIT_SCHEMA: dict[str, pl.DataType] = {
    "payment_id": pl.String(),
    "case_id": pl.Int64(),
    "received_date": pl.Date(),
    "credited_id": pl.Int64(),
    "credited_kind": pl.String(),
    "amount": pl.Int64(),
    "reason": pl.String(),
}


class CreditInputError(RecoupError):
    """A credit frame or rule is invalid; ``details`` names the frame, the field and the value."""

    code = "credit.bad_input"
    http_status = 422
    exit_code = 65  # EX_DATAERR


def _error(en: str, zh: str, **details: Any) -> CreditInputError:
    return CreditInputError(f"{en} / {zh}", details=details)


@dataclass(frozen=True, slots=True)
class CreditRules:
    """Parameters of the credit rules: the promise grace in days after ``due_date`` and the helpers' share
    in basis points (3000 = 30 %), and the promise statuses that never give promise credit."""

    promise_credit_days: int = 7
    assist_share_bp: int = 3000
    excluded_promise_statuses: tuple[str, ...] = ("rescheduled", "not_counted")

    def __post_init__(self) -> None:
        d = self.promise_credit_days
        if not isinstance(d, int) or isinstance(d, bool) or d < 0:
            raise _error(
                f"promise_credit_days {d!r} must be a whole number of days >= 0",
                f"promise_credit_days {d!r} 须为不小于 0 的整数天数",
                field="promise_credit_days",
                value=d,
            )
        bp = self.assist_share_bp
        if not isinstance(bp, int) or isinstance(bp, bool) or not 0 <= bp <= 10_000:
            raise _error(
                f"assist_share_bp {bp!r} must be whole basis points in [0, 10000]",
                f"assist_share_bp {bp!r} 须为 [0, 10000] 内的整数基点",
                field="assist_share_bp",
                value=bp,
            )
        ex = self.excluded_promise_statuses
        if not isinstance(ex, tuple) or not all(isinstance(s, str) for s in ex):
            raise _error(
                f"excluded_promise_statuses {ex!r} must be a tuple of strings",
                f"excluded_promise_statuses {ex!r} 须为字符串元组",
                field="excluded_promise_statuses",
                value=repr(ex),
            )


# ------------------------------------------------------------------------------------------- validation

_Kind = Literal["int", "str", "date", "id"]


def _dtype_ok(dtype: pl.DataType, kind: _Kind) -> bool:
    if dtype == pl.Null:
        return True
    if kind == "int":
        return dtype.is_integer()
    if kind == "str":
        return dtype == pl.String
    if kind == "date":
        return dtype == pl.Date
    return dtype == pl.String or dtype.is_integer()


def _check_frame(
    frame: pl.DataFrame, what: str, cols: dict[str, tuple[_Kind, bool]], optional: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Check column presence, types and nulls; return the frame with optional missing columns added."""
    if not isinstance(frame, pl.DataFrame):
        raise _error(
            f"{what} must be a polars DataFrame, not {type(frame).__name__}",
            f"{what} 须为 polars DataFrame，而非 {type(frame).__name__}",
            frame=what,
            value=type(frame).__name__,
        )
    missing = [c for c in cols if c not in frame.columns and c not in optional]
    if missing:
        raise _error(
            f"{what} frame lacks column(s) {', '.join(missing)}",
            f"{what} 缺少列 {', '.join(missing)}",
            frame=what,
            missing=missing,
        )
    frame = frame.with_columns(pl.lit(None, pl.String).alias(c) for c in optional if c not in frame.columns)
    names = {"int": "an integer", "str": "String", "date": "Date", "id": "String or an integer"}
    for col, (kind, nullable) in cols.items():
        dtype = frame.schema[col]
        if not _dtype_ok(dtype, kind):
            raise _error(
                f"{what}.{col} has type {dtype}, expected {names[kind]}",
                f"{what}.{col} 的类型为 {dtype}，应为 {names[kind]}",
                frame=what,
                field=col,
                value=str(dtype),
            )
        if not nullable:
            nulls = frame.select(pl.col(col).is_null().arg_true().first()).item()
            if nulls is not None:
                raise _error(
                    f"{what}.{col} is null in row {nulls}",
                    f"{what}.{col} 第 {nulls} 行为空",
                    frame=what,
                    field=col,
                    row=int(nulls),
                    value=None,
                )
    return frame


def _first_bad(frame: pl.DataFrame, bad: pl.Expr, what: str, field: str, en: str, zh: str) -> None:
    rows = frame.with_row_index("_r").filter(bad)
    if rows.height:
        value = rows.item(0, field)
        row = rows.item(0, "_r")
        raise _error(
            f"{what}.{field} {value!r} in row {row} {en}",
            f"{what}.{field} {value!r}（第 {row} 行）{zh}",
            frame=what,
            field=field,
            row=int(row),
            value=value if not hasattr(value, "isoformat") else value.isoformat(),
        )


def _check_ranges(frame: pl.DataFrame, what: str) -> None:
    """``end_date``, when given, must be after ``start_date``."""
    _first_bad(
        frame,
        pl.col("end_date").is_not_null() & (pl.col("end_date") <= pl.col("start_date")),
        what,
        "end_date",
        "is not after start_date",
        "不晚于 start_date",
    )


def _validate(
    payments: pl.DataFrame, holdings: pl.DataFrame, promises: pl.DataFrame, assists: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    payments = _check_frame(
        payments,
        "payments",
        {
            "payment_id": ("str", False),
            "case_id": ("int", False),
            "received_date": ("date", False),
            "amount": ("int", False),
            "reverses": ("str", True),
        },
        optional=("reverses",),
    )
    holdings = _check_frame(
        holdings,
        "holdings",
        {
            "case_id": ("int", False),
            "holder_id": ("int", False),
            "holder_kind": ("str", False),
            "start_date": ("date", False),
            "end_date": ("date", True),
        },
    )
    promises = _check_frame(
        promises,
        "promises",
        {
            "case_id": ("int", False),
            "promise_id": ("id", False),
            "made_by_holder": ("int", False),
            "made_on": ("date", False),
            "due_date": ("date", False),
            "status": ("str", False),
        },
    )
    assists = _check_frame(
        assists,
        "assists",
        {
            "case_id": ("int", False),
            "helper_id": ("int", False),
            "helper_kind": ("str", False),
            "start_date": ("date", False),
            "end_date": ("date", True),
            "result": ("str", True),
        },
    )
    payments = payments.with_columns(
        pl.col("payment_id").cast(pl.String),
        pl.col("case_id").cast(pl.Int64),
        pl.col("received_date").cast(pl.Date),
        pl.col("reverses").cast(pl.String),
    )
    _first_bad(
        payments,
        pl.col("amount").cast(pl.Int64, strict=False).is_null()
        | (pl.col("amount").cast(pl.Int64, strict=False).abs() > _MAX_ABS_AMOUNT),
        "payments",
        "amount",
        f"is out of range (|amount| <= {_MAX_ABS_AMOUNT})",
        f"超出范围（|amount| <= {_MAX_ABS_AMOUNT}）",
    )
    payments = payments.with_columns(pl.col("amount").cast(pl.Int64))
    _first_bad(
        payments,
        pl.col("payment_id").is_duplicated(),
        "payments",
        "payment_id",
        "is not unique",
        "重复",
    )
    _first_bad(
        payments,
        pl.col("reverses") == pl.col("payment_id"),
        "payments",
        "reverses",
        "reverses its own payment",
        "冲正了自身",
    )

    holdings = holdings.with_columns(
        pl.col("case_id").cast(pl.Int64),
        pl.col("holder_id").cast(pl.Int64),
        pl.col("holder_kind").cast(pl.String),
        pl.col("start_date").cast(pl.Date),
        pl.col("end_date").cast(pl.Date),
    )
    _first_bad(
        holdings,
        ~pl.col("holder_kind").is_in(list(HOLDER_KINDS)),
        "holdings",
        "holder_kind",
        "is not one of collector, agency",
        "不是 collector 或 agency",
    )
    _check_ranges(holdings, "holdings")
    # Sorted by start within a case, a holding overlaps the next one when it ends after the next starts.
    overlap = (
        holdings.with_row_index("_r")
        .sort(["case_id", "start_date"])
        .with_columns(pl.col("start_date").shift(-1).over("case_id").alias("_next"))
        .filter(
            pl.col("_next").is_not_null()
            & (pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("_next")))
        )
    )
    if overlap.height:
        row, case = overlap.item(0, "_r"), overlap.item(0, "case_id")
        raise _error(
            f"holdings of case {case} overlap (row {row}): a case has one holder at a time",
            f"案件 {case} 的持有期重叠（第 {row} 行）：同一时间只能有一个持有方",
            frame="holdings",
            field="start_date",
            row=int(row),
            value=int(case),
        )

    promises = promises.with_columns(
        pl.col("case_id").cast(pl.Int64),
        pl.col("made_by_holder").cast(pl.Int64),
        pl.col("made_on").cast(pl.Date),
        pl.col("due_date").cast(pl.Date),
        pl.col("status").cast(pl.String),
    )
    _first_bad(
        promises,
        pl.col("due_date") < pl.col("made_on"),
        "promises",
        "due_date",
        "is before made_on",
        "早于 made_on",
    )

    assists = assists.with_columns(
        pl.col("case_id").cast(pl.Int64),
        pl.col("helper_id").cast(pl.Int64),
        pl.col("helper_kind").cast(pl.String),
        pl.col("start_date").cast(pl.Date),
        pl.col("end_date").cast(pl.Date),
        pl.col("result").cast(pl.String),
    )
    _check_ranges(assists, "assists")
    return payments, holdings, promises, assists


# ------------------------------------------------------------------------------------------------ kernel


def _covers(day: str) -> pl.Expr:
    """The half-open range ``start_date <= day < end_date`` (null end: open)."""
    return (pl.col("start_date") <= pl.col(day)) & (
        pl.col("end_date").is_null() | (pl.col(day) < pl.col("end_date"))
    )


def _contexts(payments: pl.DataFrame) -> pl.DataFrame:
    """Per payment row: the case and date the rules run on (a reversal's root payment's, else its own)."""
    first = pl.col("reverses").is_in(payments["payment_id"].implode())
    m0 = payments.select(
        pl.col("payment_id").alias("_id"),
        pl.when(first).then(pl.col("reverses")).otherwise(pl.col("payment_id")).alias("_root"),
    )
    # Pointer jumping: each round doubles the chain followed; a chain of n payments settles in log2 n rounds.
    m = m0
    for _ in range(math.ceil(math.log2(payments.height + 1)) + 1):
        step = m.join(m.select(pl.col("_id").alias("_root"), pl.col("_root").alias("_next")), on="_root")
        if step.filter(pl.col("_next") != pl.col("_root")).height == 0:
            break
        m = step.select("_id", pl.col("_next").alias("_root"))
    # Every root must be a payment that reverses nothing in the frame; otherwise the chain is a cycle.
    cyc = m.join(m0.select(pl.col("_id").alias("_root"), pl.col("_root").alias("_next")), on="_root").filter(
        pl.col("_next") != pl.col("_root")
    )
    if cyc.height:
        value = cyc.sort("_id").item(0, "_id")
        raise _error(
            f"payments.reverses of {value!r} leads to a cycle of reversals",
            f"付款 {value!r} 的冲正关系形成循环",
            frame="payments",
            field="reverses",
            value=value,
        )
    roots = payments.select(
        pl.col("payment_id").alias("_root"),
        pl.col("case_id").alias("_ctx_case"),
        pl.col("received_date").alias("_d"),
    )
    ctx = (
        payments.with_row_index("_row")
        .join(m.rename({"_id": "payment_id"}), on="payment_id", how="left")
        .join(roots, on="_root", how="left")
        .sort("_row")
    )
    _first_bad(
        ctx,
        pl.col("case_id") != pl.col("_ctx_case"),
        "payments",
        "case_id",
        "differs from the case of the payment it reverses",
        "与被冲正付款的案件不同",
    )
    return ctx


def credit_payments(
    payments: pl.DataFrame,
    holdings: pl.DataFrame,
    promises: pl.DataFrame,
    assists: pl.DataFrame,
    *,
    rules: CreditRules = CreditRules(),
) -> pl.DataFrame:
    """Credit every payment to the parties the rules name (see the module docstring).

    Returns :data:`CREDIT_SCHEMA` columns — payment_id, case_id, received_date, credited_id, credited_kind,
    amount, reason — one row per payment and credited party, in the payments' order (the holder/promise/
    unheld row first, then helpers by kind and id). Per payment the amounts sum exactly to its amount.
    Raises :class:`CreditInputError` (``credit.bad_input``) naming the frame, column, row and value.
    """
    if not isinstance(rules, CreditRules):
        raise _error(
            f"rules must be CreditRules, not {type(rules).__name__}",
            f"rules 须为 CreditRules，而非 {type(rules).__name__}",
            field="rules",
            value=type(rules).__name__,
        )
    payments, holdings, promises, assists = _validate(payments, holdings, promises, assists)
    ctx = _contexts(payments)

    keys = ctx.lazy().select("_row", pl.col("_ctx_case").alias("case_id"), "_d")
    hold = holdings.lazy().select("case_id", "holder_id", "holder_kind", "start_date", "end_date")

    # Rule 1: the holder on the date (holdings do not overlap, so at most one).
    held = (
        keys.join(hold, on="case_id", how="inner")
        .filter(_covers("_d"))
        .select("_row", "holder_id", "holder_kind")
    )

    # Rule 2: promises whose taker held the case on made_on; the latest covering promise per payment.
    taken = (
        promises.lazy()
        .filter(~pl.col("status").is_in(list(rules.excluded_promise_statuses)))
        .with_row_index("_p")
        .select("_p", "case_id", "promise_id", "made_by_holder", "made_on", "due_date")
    )
    taker_kind = (
        taken.join(hold, on="case_id", how="inner")
        .filter(_covers("made_on") & (pl.col("holder_id") == pl.col("made_by_holder")))
        .select("_p", pl.col("holder_kind").alias("_taker_kind"))
    )
    latest = (
        keys.join(taken.join(taker_kind, on="_p", how="inner"), on="case_id", how="inner")
        .filter(
            (pl.col("made_on") <= pl.col("_d"))
            & (pl.col("_d") <= pl.col("due_date") + pl.duration(days=rules.promise_credit_days))
        )
        .group_by("_row")
        .agg(
            pl.col(c).sort_by(["made_on", "promise_id"]).last().alias(a)
            for c, a in (("made_by_holder", "_taker_id"), ("_taker_kind", "_taker_kind"))
        )
    )

    same = pl.col("holder_id").eq_missing(pl.col("_taker_id")) & pl.col("holder_kind").eq_missing(
        pl.col("_taker_kind")
    )
    by_promise = pl.col("_taker_id").is_not_null() & ~same
    base = (
        ctx.lazy()
        .select("_row", "payment_id", "case_id", "received_date", "amount", "_ctx_case", "_d")
        .join(held, on="_row", how="left")
        .join(latest, on="_row", how="left")
        .select(
            "_row",
            "payment_id",
            "case_id",
            "received_date",
            "amount",
            "_ctx_case",
            "_d",
            pl.when(by_promise).then(pl.col("_taker_id")).otherwise(pl.col("holder_id")).alias("credited_id"),
            pl.when(by_promise)
            .then(pl.col("_taker_kind"))
            .otherwise(pl.col("holder_kind"))
            .alias("credited_kind"),
            pl.when(by_promise)
            .then(pl.lit("promise"))
            .when(pl.col("holder_id").is_not_null())
            .then(pl.lit("holder"))
            .otherwise(pl.lit("unheld"))
            .alias("reason"),
        )
    )

    # Rule 3: distinct successful helpers covering the date, other than the credited party.
    helpers = (
        base.select("_row", pl.col("_ctx_case").alias("case_id"), "_d", "credited_id", "credited_kind")
        .join(
            assists.lazy()
            .filter(pl.col("result") == "success")
            .select("case_id", "helper_id", "helper_kind", "start_date", "end_date"),
            on="case_id",
            how="inner",
        )
        .filter(_covers("_d"))
        .filter(
            ~(
                pl.col("helper_id").eq_missing(pl.col("credited_id"))
                & pl.col("helper_kind").eq_missing(pl.col("credited_kind"))
            )
        )
        .select("_row", "helper_id", "helper_kind")
        .unique()
        .with_columns(pl.len().over("_row").alias("_k"))
    )
    n_helpers = helpers.group_by("_row").agg(pl.col("_k").first())
    bp = rules.assist_share_bp
    per_helper = (
        pl.col("amount").sign() * ((pl.col("amount").abs() * bp // 10_000) // pl.col("_k").cast(pl.Int64))
    ).cast(pl.Int64)

    base = (
        base.join(n_helpers, on="_row", how="left")
        .with_columns(pl.col("_k").fill_null(0).cast(pl.Int64))
        .with_columns(pl.when(pl.col("_k") > 0).then(per_helper).otherwise(pl.lit(0, pl.Int64)).alias("_per"))
    )
    head = base.select(
        "_row",
        pl.lit(0, pl.Int64).alias("_ord"),
        "payment_id",
        "case_id",
        "received_date",
        pl.col("credited_id").cast(pl.Int64),
        pl.col("credited_kind").cast(pl.String),
        (pl.col("amount") - pl.col("_k") * pl.col("_per")).cast(pl.Int64).alias("amount"),
        pl.col("reason").cast(pl.String),
    )
    tail = (
        helpers.join(
            base.select("_row", "payment_id", "case_id", "received_date", "_per"), on="_row", how="inner"
        )
        .sort(["_row", "helper_kind", "helper_id"])
        .select(
            "_row",
            (pl.int_range(pl.len()).over("_row") + 1).cast(pl.Int64).alias("_ord"),
            "payment_id",
            "case_id",
            "received_date",
            pl.col("helper_id").cast(pl.Int64).alias("credited_id"),
            pl.col("helper_kind").cast(pl.String).alias("credited_kind"),
            pl.col("_per").cast(pl.Int64).alias("amount"),
            pl.lit("assist").alias("reason"),
        )
    )
    return pl.concat([head, tail], how="vertical").sort(["_row", "_ord"]).drop("_row", "_ord").collect()
