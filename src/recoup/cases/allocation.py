"""Case allocation (分案), retention (留案) and return (回流): a pure, vectorised Polars kernel.

:func:`allocate` gives every case a holder and a reason, in this order of precedence:

1. ``retained`` — ``retain`` is true and ``current_holder`` is an active collector: the case stays, even
   over the holder's cap (retention never moves a case), and it counts toward the holder's load.
2. ``returned`` — ``return_to`` (the previous holder) is active and has room under ``cap``; when more
   cases return to a collector than it has room for, the lowest case ids go back first.
3. ``allocated`` — the pool decision table (:mod:`recoup.rules`, output ``pool``) maps the case to a
   pool; the case goes to an active collector serving the pool, with ``load + new ≤ cap``.
4. ``unallocated`` — no room (or no pool): ``holder_id`` is null.

Pools are processed in the table's row order (then the default's pool); a collector serving several
pools has what earlier pools gave it deducted from its room. Methods:

* ``balanced`` — equal count *and* amount over the pool's collectors, counting what they already hold
  (``load``/``load_amount``, retained and returned cases). See :func:`allocate`.
* ``performance`` — the same with count targets proportional to ``weight``, and amounts proportional
  to counts.
* ``round_robin`` — cases in ``case_id`` order dealt to collectors in ``collector_id`` order, case
  ``r`` to collector ``r mod k``, skipping collectors that are full.

:func:`balance_report` measures the result per pool. Money (``balance``, ``load_amount``) is Int64 minor
units throughout; floats appear only in the balancing score and the report's ratios.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import polars as pl

from recoup.errors import RecoupError
from recoup.rules import DecisionTable, evaluate, load_table

Method = Literal["balanced", "round_robin", "performance"]
METHODS: tuple[str, ...] = get_args(Method)
REASONS: tuple[str, ...] = ("retained", "returned", "allocated", "unallocated")
#: The rule-id column (which pool-table row decided the pool), whatever the table's name.
POOL_RULE = "pool_rule"
OUTPUT_COLUMNS: tuple[str, ...] = ("case_id", "holder_id", "pool", "reason", POOL_RULE, "balance")

#: Swap rounds stop once every receiving collector's amount is within this fraction of its share.
SWAP_TOLERANCE = 0.001
#: At most this many swap rounds per pool (each round is one vectorised pass over the pool's cases).
MAX_SWAP_ROUNDS = 100
_BISECTIONS = 200

_CASE_COLUMNS: dict[str, tuple[str, bool, bool, Any]] = {
    # column: (kind, required, nullable, default when absent)
    "case_id": ("int", True, False, None),
    "balance": ("int", True, False, None),
    "current_holder": ("int", False, True, None),
    "retain": ("bool", False, False, False),
    "return_to": ("int", False, True, None),
}
_COLLECTOR_COLUMNS: dict[str, tuple[str, bool, bool, Any]] = {
    "collector_id": ("int", True, False, None),
    "pools": ("list[str]", True, False, None),
    "cap": ("int", True, False, None),
    "active": ("bool", True, False, None),
    "load": ("int", False, False, 0),
    "load_amount": ("int", False, False, 0),
    "weight": ("float", False, False, 1.0),
}
_DTYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "bool": pl.Boolean(),
    "float": pl.Float64(),
    "list[str]": pl.List(pl.String()),
}


class AllocationError(RecoupError):
    """The cases, the collectors, the method or the pool table cannot be allocated; ``details`` say where."""

    code = "allocation.bad_input"
    http_status = 422
    exit_code = 65  # EX_DATAERR


def _error(en: str, zh: str, **details: Any) -> AllocationError:
    return AllocationError(f"{en} / {zh}", details=details)


# ---------------------------------------------------------------------------------------------- validation


def _fits(kind: str, dtype: pl.DataType) -> bool:
    if dtype == pl.Null:
        return True
    if kind == "int":
        return dtype.is_integer()
    if kind == "float":
        return dtype.is_numeric()
    if kind == "bool":
        return dtype == pl.Boolean
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    return inner is not None and (inner in (pl.String, pl.Null) or isinstance(inner, pl.Categorical))


def _sample(frame: pl.DataFrame, mask: pl.Expr, id_column: str, column: str) -> dict[str, Any]:
    """The first few offending rows (1-based), their ids and values, for an error's details."""
    bad = frame.with_row_index("__row", offset=1).filter(mask).head(5)
    return {
        "rows": bad.get_column("__row").to_list(),
        "ids": bad.get_column(id_column).to_list() if id_column in bad.columns else [],
        "values": bad.get_column(column).to_list(),
    }


def _normalise(
    frame: pl.DataFrame, name: str, spec: Mapping[str, tuple[str, bool, bool, Any]], id_column: str
) -> pl.DataFrame:
    """Check columns, dtypes and nulls against ``spec``; add absent optional columns; cast to the kernel's
    dtypes. Other columns are kept as they are."""
    missing = [c for c, (_, required, _, _) in spec.items() if required and c not in frame.columns]
    if missing:
        raise _error(
            f"{name}: missing column(s) {', '.join(missing)}",
            f"{name} 缺少列 {', '.join(missing)}",
            frame=name,
            columns=missing,
        )
    casts: list[pl.Expr] = []
    for column, (kind, _, nullable, default) in spec.items():
        dtype = _DTYPES[kind]
        if column not in frame.columns:
            casts.append(pl.lit(default, dtype=dtype).alias(column))
            continue
        actual = frame.schema[column]
        if not _fits(kind, actual):
            raise _error(
                f"{name}: column {column} has dtype {actual}, expected {dtype}",
                f"{name} 的列 {column} 类型为 {actual}，应为 {dtype}",
                frame=name,
                column=column,
                dtype=str(actual),
                expected=str(dtype),
            )
        if not nullable and frame.get_column(column).null_count():
            raise _error(
                f"{name}: column {column} has nulls",
                f"{name} 的列 {column} 含空值",
                frame=name,
                column=column,
                **_sample(frame, pl.col(column).is_null(), id_column, column),
            )
        casts.append(pl.col(column).cast(dtype))
    out = frame.with_columns(casts)
    for column in (c for c, (kind, *_) in spec.items() if kind == "list[str]"):
        has_null = pl.col(column).list.eval(pl.element().is_null()).list.any()
        if out.select(has_null.any()).item():
            raise _error(
                f"{name}: column {column} has a null element",
                f"{name} 的列 {column} 含空元素",
                frame=name,
                column=column,
                **_sample(out, has_null, id_column, column),
            )
    dup = out.get_column(id_column).is_duplicated()
    if dup.any():
        raise _error(
            f"{name}: duplicate {id_column}",
            f"{name} 的 {id_column} 重复",
            frame=name,
            column=id_column,
            **_sample(out, pl.col(id_column).is_duplicated(), id_column, id_column),
        )
    return out


def _non_negative(frame: pl.DataFrame, name: str, columns: tuple[str, ...], id_column: str) -> None:
    for column in columns:
        if (frame.get_column(column) < 0).any():
            raise _error(
                f"{name}: column {column} has a negative value",
                f"{name} 的列 {column} 含负数",
                frame=name,
                column=column,
                **_sample(frame, pl.col(column) < 0, id_column, column),
            )


def pool_table(pools: DecisionTable | Mapping[str, Any]) -> DecisionTable:
    """Validate a pool decision table: mode ``first`` and a string output ``pool``."""
    table = load_table(pools)
    if table.mode != "first" or table.outputs.get("pool") != "str":
        raise _error(
            f"pool table {table.name!r} must have mode 'first' and a str output 'pool'",
            f"分案池规则表 {table.name!r} 须为 first 模式并输出字符串 pool",
            table=table.name,
            mode=table.mode,
            outputs=table.outputs,
        )
    return table


def pool_order(table: DecisionTable) -> list[str]:
    """Pools in the order they are processed: first appearance in the table's rows, then the default."""
    outcomes = [row.then for row in table.rows] + ([table.default] if table.default else [])
    order: list[str] = []
    for outcome in outcomes:
        pool = outcome.get("pool")
        if isinstance(pool, str) and pool not in order:
            order.append(pool)
    return order


# ---------------------------------------------------------------------------------------------- targets


def _water_fill(frame: pl.DataFrame, n: int) -> pl.Series:
    """Integer targets ``t`` (Σt = min(n, Σroom)) that level ``(base + t) / weight`` within ``0 ≤ t ≤ room``.

    ``frame`` has base (Int64), room (Int64), weight (Float64) and prio (0 = first to get a leftover unit),
    one row per collector. Bisection on the level L of t(L) = clip(floor(L·weight) − base, 0, room), which is
    non-decreasing in L; the units between t(lo) and t(hi) go by ``prio``.
    """
    room = frame.get_column("room")
    if n >= int(room.sum()):
        return room.alias("t")

    def at(level: float) -> pl.Series:
        expr = (pl.lit(level) * pl.col("weight")).floor().cast(pl.Int64) - pl.col("base")
        return frame.select(expr.clip(0, pl.col("room")).alias("t")).to_series()

    lo = 0.0
    hi = float(frame.select(((pl.col("base") + pl.col("room")) / pl.col("weight")).max()).item()) * 2 + 2
    t_lo, t_hi = at(lo), at(hi)
    for _ in range(_BISECTIONS):
        if int(t_lo.sum()) == n:
            break
        mid = (lo + hi) / 2
        if not lo < mid < hi:
            break
        t_mid = at(mid)
        if int(t_mid.sum()) <= n:
            lo, t_lo = mid, t_mid
        else:
            hi, t_hi = mid, t_mid
    left = n - int(t_lo.sum())
    return (
        frame.with_columns(t_lo=t_lo, extra=t_hi - t_lo)
        .with_row_index("__i")
        .sort("prio")
        .with_columns(
            give=(pl.lit(left, dtype=pl.Int64) - pl.col("extra").cum_sum() + pl.col("extra")).clip(
                0, pl.col("extra")
            )
        )
        .sort("__i")
        .select((pl.col("t_lo") + pl.col("give")).alias("t"))
        .to_series()
    )


# ---------------------------------------------------------------------------------------------- dealing


def _deal(cases: pl.DataFrame, elig: pl.DataFrame, method: Method) -> pl.DataFrame:
    """Assign one pool's cases (case_id, balance) to its eligible collectors; returns case_id, holder_id,
    balance for the cases that found room."""
    n = cases.height
    if method == "round_robin":
        # Round-robin with skipping = water-filling from zero with ties to the lowest collector_id.
        elig = elig.sort("collector_id").with_columns(
            base=pl.lit(0, dtype=pl.Int64),
            weight=pl.lit(1.0),
            prio=pl.int_range(pl.len(), dtype=pl.UInt32),
        )
        pass_key = pl.col("prio")
        cases = cases.sort("case_id")
    else:
        if method == "balanced":
            elig = elig.with_columns(weight=pl.lit(1.0))
        # The poorest collector (least amount held) gets the first leftover unit and the biggest case.
        elig = elig.sort("used_amount", "collector_id").with_columns(
            base=pl.col("used_count"), prio=pl.int_range(pl.len(), dtype=pl.UInt32)
        )
        # Snake (boustrophedon) order: forward on even passes, backward on odd ones.
        pass_key = (
            pl.when(pl.col("p") % 2 == 0)
            .then(pl.col("prio").cast(pl.Int64))
            .otherwise(-pl.col("prio").cast(pl.Int64))
        )
        cases = cases.sort(["balance", "case_id"], descending=[True, False])
    elig = elig.with_columns(t=_water_fill(elig.select("base", "room", "weight", "prio"), n))
    slots = (
        elig.filter(pl.col("t") > 0)
        .select("collector_id", "prio", p=pl.int_ranges(0, pl.col("t")))
        .explode("p")
        .sort(pl.col("p"), pass_key, pl.col("collector_id"))
        .with_row_index("slot")
        .select("slot", holder_id="collector_id")
    )
    dealt = cases.with_row_index("slot").join(slots, on="slot", how="inner").drop("slot")
    if method == "round_robin" or dealt.height == 0:
        return dealt
    return _rebalance(dealt, elig.filter(pl.col("t") > 0).select("collector_id", "used_count", "used_amount"))


def _rebalance(dealt: pl.DataFrame, base: pl.DataFrame) -> pl.DataFrame:
    """Swap pairs of dealt cases between collectors (counts unchanged) until amounts follow counts.

    A collector's excess is ``e = amount − count·ā`` (ā = the receivers' amount per case, all they hold).
    Each round sorts the receivers by excess and pairs the i-th richest with the i-th poorest; for each
    pair (gap D) it finds, by an as-of join on balance, the swap of a richer's case x for a poorer's
    case y with x − y nearest D/2, and makes it when it narrows the gap (0 < x − y < D).
    """
    new = dealt.group_by("holder_id").agg(new=pl.len().cast(pl.Int64))
    count = base.join(new, left_on="collector_id", right_on="holder_id").select(
        "collector_id", count=pl.col("used_count") + pl.col("new"), amount0="used_amount"
    )
    if count.height < 2:
        return dealt
    total = int(count.get_column("amount0").sum()) + int(dealt.get_column("balance").sum())
    per_case = total / int(count.get_column("count").sum())
    if per_case <= 0:
        return dealt
    for _ in range(MAX_SWAP_ROUNDS):
        state = (
            count.join(
                dealt.group_by("holder_id").agg(pl.col("balance").sum().alias("new_amount")),
                left_on="collector_id",
                right_on="holder_id",
            )
            .with_columns(share=pl.col("count") * per_case)
            # A float score, only to rank collectors; the amounts themselves stay Int64.
            .with_columns(excess=pl.col("amount0") + pl.col("new_amount") - pl.col("share"))
            .sort("excess", "collector_id")
        )
        if state.select((pl.col("excess").abs() / pl.col("share")).max()).item() <= SWAP_TOLERANCE:
            break
        half = state.height // 2
        poor = state.head(half).with_row_index("pair").select("pair", poor="collector_id", e_p="excess")
        rich = (
            state.tail(half)
            .reverse()
            .with_row_index("pair")
            .select("pair", rich="collector_id", e_r="excess")
        )
        pairs = (
            poor.join(rich, on="pair")
            .with_columns(gap=pl.col("e_r") - pl.col("e_p"))
            .filter(pl.col("gap") > 0)
        )
        left = (
            dealt.join(pairs.select("pair", "gap", holder_id="rich"), on="holder_id")
            .select(
                "pair",
                "gap",
                x_id="case_id",
                x="balance",
                key=pl.col("balance") - (pl.col("gap") / 2).round().cast(pl.Int64),
            )
            .sort("key", "x_id")
        )
        right = (
            dealt.join(pairs.select("pair", holder_id="poor"), on="holder_id")
            .select("pair", y_id="case_id", y="balance")
            .sort("y", "y_id")
        )
        moves = (
            left.join_asof(
                right, left_on="key", right_on="y", by="pair", strategy="nearest", check_sortedness=False
            )
            .drop_nulls("y")
            .with_columns(moved=(pl.col("x") - pl.col("y")).cast(pl.Float64))
            .with_columns(gain=pl.col("gap") - (pl.col("gap") - 2 * pl.col("moved")).abs())
            .filter(pl.col("gain") > 0)
            .sort(["gain", "x_id"], descending=[True, False])
            .unique("pair", keep="first", maintain_order=True)
            .join(pairs.select("pair", "rich", "poor"), on="pair")
        )
        if moves.height == 0:
            break
        to = pl.concat([moves.select(case_id="x_id", to="poor"), moves.select(case_id="y_id", to="rich")])
        dealt = dealt.join(to, on="case_id", how="left").select(
            "case_id", "balance", holder_id=pl.coalesce("to", "holder_id")
        )
    return dealt


# ---------------------------------------------------------------------------------------------- allocate


def allocate(
    cases: pl.DataFrame,
    collectors: pl.DataFrame,
    *,
    pools: DecisionTable | Mapping[str, Any],
    method: Method = "balanced",
) -> pl.DataFrame:
    """Allocate ``cases`` to ``collectors``: one row per case, in input order.

    ``cases``: case_id (int, unique), balance (int minor units, ≥ 0), the pool table's inputs (the default
    table reads bucket, product, language, region), and optionally current_holder (int, nullable), retain
    (bool, default false), return_to (int, nullable). ``collectors``: collector_id (int, unique), pools
    (list[str]), cap (int ≥ 0), active (bool), and optionally load and load_amount (int ≥ 0, default 0:
    what they hold outside ``cases``) and weight (float > 0, default 1; for ``performance``). A holder id
    that is not among ``collectors`` counts as inactive.

    Returns case_id, holder_id (Int64, null when unallocated), pool (String), reason (one of
    :data:`REASONS`), pool_rule (the pool-table row id), balance. See the module docstring for precedence.

    ``balanced`` (and ``performance``) per pool: (1) water-fill integer count targets so that every
    collector's total (held + new) reaches a common level, within ``cap`` — with ``performance`` the level
    is per unit of weight; (2) sort the cases by balance descending and deal them in snake order
    (forward, backward, …) over the collectors still below their target, the least-loaded by amount
    first; (3) even out the amounts by rounds of pairwise swaps that keep every count (see
    :func:`_rebalance`). When the pool lacks room the smallest balances stay unallocated.
    """
    if method not in METHODS:
        raise _error(
            f"unknown allocation method {method!r}; use one of {', '.join(METHODS)}",
            f"未知的分案方式 {method!r}，可选 {', '.join(METHODS)}",
            method=method,
        )
    table = pool_table(pools)
    absent = [c for c in table.inputs if c not in cases.columns]
    if absent:
        raise _error(
            f"cases: missing column(s) {', '.join(absent)} read by pool table {table.name!r}",
            f"cases 缺少分案池规则表 {table.name!r} 所需的列 {', '.join(absent)}",
            frame="cases",
            columns=absent,
        )
    c = _normalise(cases, "cases", _CASE_COLUMNS, "case_id")
    c = c.select(list(dict.fromkeys([*_CASE_COLUMNS, *table.inputs])))  # drop the caller's other columns
    _non_negative(c, "cases", ("balance",), "case_id")
    k = _normalise(collectors, "collectors", _COLLECTOR_COLUMNS, "collector_id")
    _non_negative(k, "collectors", ("cap", "load", "load_amount"), "collector_id")
    if method == "performance":
        bad_weight = ~(pl.col("weight") > 0) | ~pl.col("weight").is_finite()
        if k.select(bad_weight.any()).item():
            raise _error(
                "collectors: weight must be a finite number > 0",
                "collectors 的 weight 须为大于 0 的有限数",
                frame="collectors",
                column="weight",
                **_sample(k, bad_weight, "collector_id", "weight"),
            )

    c = evaluate(c.with_row_index("__row"), table, rule_column=POOL_RULE)
    active = k.filter(pl.col("active")).select(
        "collector_id", "pools", "cap", "load", "load_amount", "weight"
    )
    ids = active.get_column("collector_id").implode()

    # 1. Retained: stays with an active holder, whatever the cap.
    c = c.with_columns(retained=(pl.col("retain") & pl.col("current_holder").is_in(ids)).fill_null(False))
    held = _held(c.filter("retained"), "current_holder")
    active = _add_held(active.with_columns(used_count="load", used_amount="load_amount"), held)

    # 2. Returned: back to the previous holder while it has room, lowest case ids first.
    back = (
        c.filter(~pl.col("retained") & pl.col("return_to").is_in(ids).fill_null(False))
        .select("case_id", "return_to")
        .sort("return_to", "case_id")
        .with_columns(nth=pl.int_range(1, pl.len() + 1).over("return_to"))
        .join(
            active.select("collector_id", "cap", "used_count"), left_on="return_to", right_on="collector_id"
        )
        .filter(pl.col("nth") <= pl.col("cap") - pl.col("used_count"))
        .select("case_id", returned=pl.lit(True))
    )
    c = c.join(back, on="case_id", how="left").with_columns(pl.col("returned").fill_null(False))
    active = _add_held(active, _held(c.filter("returned"), "return_to"))

    # 3. Allocated, pool by pool in table order.
    todo = c.filter(~pl.col("retained") & ~pl.col("returned") & pl.col("pool").is_not_null())
    parts: list[pl.DataFrame] = [pl.DataFrame(schema={"case_id": pl.Int64, "holder_id": pl.Int64})]
    for pool in pool_order(table):
        pool_cases = todo.filter(pl.col("pool") == pool).select("case_id", "balance")
        elig = active.filter(pl.col("pools").list.contains(pool)).with_columns(
            room=(pl.col("cap") - pl.col("used_count")).clip(lower_bound=0)
        )
        if pool_cases.height == 0 or elig.height == 0:
            continue
        dealt = _deal(pool_cases, elig, method)
        parts.append(dealt.select("case_id", "holder_id"))
        new = dealt.group_by("holder_id").agg(n=pl.len().cast(pl.Int64), amount=pl.col("balance").sum())
        active = _add_held(active, new)

    c = c.join(pl.concat(parts), on="case_id", how="left")
    return c.sort("__row").select(
        "case_id",
        pl.when("retained")
        .then(pl.col("current_holder"))
        .when("returned")
        .then(pl.col("return_to"))
        .otherwise(pl.col("holder_id"))
        .alias("holder_id"),
        "pool",
        pl.when("retained")
        .then(pl.lit("retained"))
        .when("returned")
        .then(pl.lit("returned"))
        .when(pl.col("holder_id").is_not_null())
        .then(pl.lit("allocated"))
        .otherwise(pl.lit("unallocated"))
        .alias("reason"),
        POOL_RULE,
        "balance",
    )


def _held(cases: pl.DataFrame, holder: str) -> pl.DataFrame:
    """Count and amount per holder: holder_id, n, amount."""
    return cases.group_by(pl.col(holder).alias("holder_id")).agg(
        n=pl.len().cast(pl.Int64), amount=pl.col("balance").sum()
    )


def _add_held(active: pl.DataFrame, held: pl.DataFrame) -> pl.DataFrame:
    """Add ``held`` (holder_id, n, amount) to the collectors' used_count / used_amount."""
    return (
        active.join(held, left_on="collector_id", right_on="holder_id", how="left")
        .with_columns(
            used_count=pl.col("used_count") + pl.col("n").fill_null(0),
            used_amount=pl.col("used_amount") + pl.col("amount").fill_null(0),
        )
        .drop("n", "amount")
    )


# ---------------------------------------------------------------------------------------------- report


def balance_report(assignments: pl.DataFrame, collectors: pl.DataFrame) -> pl.DataFrame:
    """Per pool: pool, collectors, cases, unallocated, count_dev, amount_dev.

    ``collectors`` counts the active collectors serving the pool that hold anything (load, or a case of
    ``assignments``, whatever its pool); ``count_dev`` / ``amount_dev`` is the largest relative deviation
    of their total count / amount (load + held) from the pool's mean, ``max |x / mean − 1|`` (null when
    no collector holds anything). ``cases`` and ``unallocated`` count ``assignments`` rows of the pool.
    """
    for column in ("holder_id", "pool", "balance"):
        if column not in assignments.columns:
            raise _error(
                f"assignments: missing column {column}",
                f"assignments 缺少列 {column}",
                frame="assignments",
                column=column,
            )
    k = _normalise(collectors, "collectors", _COLLECTOR_COLUMNS, "collector_id")
    held = _held(assignments.filter(pl.col("holder_id").is_not_null()), "holder_id")
    totals = (
        k.filter(pl.col("active"))
        .join(held, left_on="collector_id", right_on="holder_id", how="left")
        .select(
            "collector_id",
            "pools",
            count=pl.col("load") + pl.col("n").fill_null(0),
            amount=pl.col("load_amount") + pl.col("amount").fill_null(0),
        )
        .filter(pl.col("count") > 0)
        .explode("pools")
        .drop_nulls("pools")
        .rename({"pools": "pool"})
    )

    def dev(column: str) -> pl.Expr:
        mean = pl.col(column).mean()
        return pl.when(mean > 0).then((pl.col(column) / mean - 1).abs().max()).otherwise(0.0)

    spread = totals.group_by("pool").agg(
        collectors=pl.len().cast(pl.Int64), count_dev=dev("count"), amount_dev=dev("amount")
    )
    counts = (
        assignments.filter(pl.col("pool").is_not_null())
        .group_by("pool")
        .agg(cases=pl.len().cast(pl.Int64), unallocated=pl.col("holder_id").is_null().sum().cast(pl.Int64))
    )
    return (
        counts.join(spread, on="pool", how="full", coalesce=True)
        .with_columns(pl.col("collectors", "cases", "unallocated").fill_null(0))
        .select("pool", "collectors", "cases", "unallocated", "count_dev", "amount_dev")
        .sort("pool")
    )
