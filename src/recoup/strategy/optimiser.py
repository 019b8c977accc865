"""The day's plan: one treatment per account, maximising total expected value under per-treatment
capacities and a total contact budget — with a certified distance to the optimum.

Problem. ``n`` accounts, ``T`` treatments (one of them ``no_action``: always feasible, cost 0, no
capacity limit). ``v[i, t]`` is the expected value (fen) of giving treatment ``t`` to account ``i``
(uplift in P(pay) × expected amount − cost; ``-inf`` or ``feasible[i, t] = False`` where the contact
policy or the strategy forbids it), ``c[i, t]`` its cost, ``cap[t]`` the most accounts that may get
``t`` (``inf`` = unlimited) and ``B`` the total budget::

    max  Σ_i v[i, x_i]   s.t.  #{i : x_i = t} ≤ cap[t]  (all t),   Σ_i c[i, x_i] ≤ B.

Lagrangian relaxation. Pricing the coupling constraints with ``λ_t ≥ 0`` and ``μ ≥ 0`` separates the
problem: each account independently takes ``argmax_t (v[i,t] − λ_t − μ·c[i,t])``, and

    L(λ, μ) = Σ_i max_t (v[i,t] − λ_t − μ·c[i,t]) + Σ_t λ_t·cap[t] + μ·B

is an **upper bound** on the optimum for *every* ``λ, μ ≥ 0`` (weak duality: for any feasible plan
each penalty term ``λ_t·(cap[t] − count_t)`` and ``μ·(B − cost)`` is ≥ 0, so the plan's value is
≤ its priced value ≤ the per-account maxima). Its minimum equals the LP relaxation's optimum (the
per-account problem is a simplex, so it has the integrality property).

Minimising L. The dual has only ``T + 1`` variables; we use exact block-coordinate descent. For one
``λ_t`` with the others fixed, L is convex piecewise-linear with slope ``cap[t] − #{i : d_i > λ_t}``
where ``d_i`` = account i's priced advantage of ``t`` over its best alternative; the minimiser is
between the ``cap[t]``-th and ``(cap[t]+1)``-th largest ``d_i`` (one ``np.partition``). For ``μ`` the
slope is ``B − cost(choices at μ)``, monotone in ``μ``; bisection finds the crossing. Every sweep is a
handful of vectorised passes over the ``T × n`` array; no Python loop touches accounts.

Primal repair. From the current prices every account takes its priced best; a treatment over its
capacity keeps the accounts with the largest priced regret (priced value minus the best alternative)
and the rest move to their best treatment that still has room (rounds; each round fills at least one
treatment, so at most ``T`` rounds). If the budget is exceeded, the accounts whose downgrade (to their
best unlimited, cheaper treatment — ``no_action`` at worst) loses the least value per fen saved are
downgraded until the plan fits. The result is feasible by construction.

Certificate. ``gap = (best dual bound − primal value) / best dual bound``: since the optimum lies
between the primal value of a feasible plan and any dual value, the plan is provably within ``gap`` of
the optimum, whatever the quality of the multipliers. We stop at ``gap ≤ target_gap`` (default
0.5 %) or at the iteration/time limit and report the gap reached. The final ``λ_t`` and ``μ`` are the
shadow prices: what one more unit of ``t``'s capacity, or one more fen of budget, is worth.

Capacities only (no budget): :func:`exact_plan` solves the problem exactly as a min-cost flow
(OR-Tools), for moderate ``n`` and integer-valued (fen) values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recoup.errors import RecoupError

__all__ = [
    "BINDING_BUDGET",
    "BINDING_NONE",
    "OptimiserError",
    "OptimiserInputError",
    "Plan",
    "exact_plan",
    "optimise",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

#: ``Plan.binding`` codes: 0 none, 1 budget, ``2 + t`` the capacity of treatment ``t``.
BINDING_NONE = 0
BINDING_BUDGET = 1


class OptimiserError(RecoupError):
    """The optimiser could not plan (base)."""

    code = "strategy.optimiser"
    http_status = 422
    exit_code = 65


class OptimiserInputError(OptimiserError):
    """Bad optimiser input: shapes, NaN values, negative capacities or costs, an infeasible no_action."""

    code = "strategy.optimiser.bad_input"


@dataclass(frozen=True)
class Plan:
    """The plan and its explanation (arrays are per account, length ``n``)."""

    choice: I64  # the chosen treatment's column index
    value: F64  # its expected value (fen)
    runner_up: I64  # the best other feasible treatment (-1 when none)
    runner_up_value: F64  # its expected value (-inf when none)
    binding: npt.NDArray[np.int16]  # code into binding_names: none, budget, capacity:<treatment>
    binding_names: list[str]
    treatment_names: list[str]
    total_value: float  # primal objective (fen)
    total_cost: float
    counts: I64  # accounts per treatment
    dual_bound: float  # best (lowest) Lagrangian bound found: optimum ≤ dual_bound
    gap: float  # (dual_bound − total_value) / |dual_bound|: certified distance to the optimum
    iterations: int
    seconds: float
    multipliers: F64  # λ_t, the shadow price of one more unit of capacity of t (fen)
    budget_multiplier: float  # μ, the shadow price of one more fen of budget
    converged: bool  # gap ≤ target_gap

    def summary(self) -> dict[str, object]:
        """Totals and prices as plain Python values (for JSON)."""
        return {
            "n": int(self.choice.shape[0]),
            "treatments": len(self.treatment_names),
            "total_value": self.total_value,
            "total_cost": self.total_cost,
            "dual_bound": self.dual_bound,
            "gap": self.gap,
            "iterations": self.iterations,
            "seconds": self.seconds,
            "converged": self.converged,
            "counts": dict(zip(self.treatment_names, (int(c) for c in self.counts), strict=True)),
            "shadow_prices": dict(
                zip(self.treatment_names, (float(x) for x in self.multipliers), strict=True)
            ),
            "budget_shadow_price": self.budget_multiplier,
        }


# ---------------------------------------------------------------------------------------------- helpers


def _argmax_rows(r: F64) -> tuple[I64, F64]:
    """Per column of the ``T × n`` array: index and value of the maximum (first on ties)."""
    best = r[0].copy()
    idx = np.zeros(r.shape[1], dtype=np.int64)
    for t in range(1, r.shape[0]):  # a loop over treatments, not accounts
        better = r[t] > best
        idx[better] = t
        np.maximum(best, r[t], out=best)
    return idx, best


def _max_except(r: F64, skip: int) -> F64:
    """Per account, the maximum of ``r`` over treatments other than ``skip``."""
    out = np.full(r.shape[1], -np.inf)
    for s in range(r.shape[0]):
        if s != skip:
            np.maximum(out, r[s], out=out)
    return out


def _take(a: F64, idx: I64) -> F64:
    """``a[idx[i], i]`` for a ``T × n`` (or ``T × 1`` broadcast) array."""
    if a.shape[1] == 1:
        out: F64 = a[idx, 0]
        return out
    cols = np.arange(idx.shape[0])
    res: F64 = a[idx, cols]
    return res


@dataclass
class _Problem:
    v: F64  # T × n, -inf where infeasible
    c: F64  # T × n or T × 1
    cap: F64  # T, already min(cap, n)
    limited: list[int]  # treatments whose capacity can bind
    budget: float  # inf when none
    no_action: int
    n: int
    t: int

    def reduced(self, lam: F64, mu: float) -> F64:
        r = self.v - lam[:, None]
        if mu > 0.0:
            r -= mu * self.c
        return r

    def cost_of(self, choice: I64) -> float:
        return float(_take(self.c, choice).sum())

    def value_of(self, choice: I64) -> float:
        return float(_take(self.v, choice).sum())

    def dual(self, r: F64, lam: F64, mu: float) -> float:
        best = r.max(axis=0)
        fixed = float(np.dot(lam[self.limited], self.cap[self.limited])) if self.limited else 0.0
        return float(best.sum()) + fixed + (mu * self.budget if mu > 0.0 else 0.0)


def _validate(
    value: npt.ArrayLike,
    cost: npt.ArrayLike,
    capacity: npt.ArrayLike,
    budget: float | None,
    feasible: npt.ArrayLike | None,
    no_action: int | None,
    names: Sequence[str] | None,
) -> tuple[_Problem, list[str]]:
    v = np.asarray(value, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] < 1:
        raise OptimiserInputError(f"value: expected an n×T array, got shape {v.shape}")
    n, t = v.shape
    if np.isnan(v).any():
        bad = np.argwhere(np.isnan(v))[0]
        raise OptimiserInputError(
            f"value: NaN at account {int(bad[0])}, treatment {int(bad[1])}",
            details={"account": int(bad[0]), "treatment": int(bad[1])},
        )
    if np.isposinf(v).any():
        raise OptimiserInputError("value: +inf is not an expected value")
    tn = [str(x) for x in names] if names is not None else [f"t{j}" for j in range(t)]
    if len(tn) != t:
        raise OptimiserInputError(f"names: {len(tn)} names for {t} treatments")
    if no_action is None:
        no_action = tn.index("no_action") if "no_action" in tn else t - 1
    if not 0 <= no_action < t:
        raise OptimiserInputError(f"no_action: column {no_action} out of range 0..{t - 1}")
    vt = np.ascontiguousarray(v.T)
    if feasible is not None:
        f = np.asarray(feasible)
        if f.shape != v.shape:
            raise OptimiserInputError(f"feasible: shape {f.shape} differs from value's {v.shape}")
        vt[~f.astype(bool).T] = -np.inf
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim == 1:
        if c.shape[0] != t:
            raise OptimiserInputError(f"cost: {c.shape[0]} costs for {t} treatments")
        ct = np.ascontiguousarray(c[:, None])
    elif c.shape == v.shape:
        ct = np.ascontiguousarray(c.T)
    else:
        raise OptimiserInputError(f"cost: expected shape ({t},) or {v.shape}, got {c.shape}")
    if not np.isfinite(ct).all():
        raise OptimiserInputError("cost: NaN or infinite cost")
    if (ct < 0).any():
        raise OptimiserInputError("cost: costs must be ≥ 0")
    cap = np.asarray(capacity, dtype=np.float64)
    if cap.shape != (t,):
        raise OptimiserInputError(f"capacity: expected shape ({t},), got {cap.shape}")
    if np.isnan(cap).any():
        raise OptimiserInputError("capacity: NaN capacity (use inf for unlimited)")
    if (cap < 0).any():
        j = int(np.argmax(cap < 0))
        raise OptimiserInputError(
            f"capacity: negative capacity {cap[j]} for {tn[j]}", details={"treatment": tn[j]}
        )
    finite = np.isfinite(cap)
    if (cap[finite] != np.floor(cap[finite])).any():
        raise OptimiserInputError("capacity: capacities are whole numbers of accounts (or inf)")
    cap = np.minimum(cap, float(n))
    if cap[no_action] < n:
        raise OptimiserInputError(f"capacity: no_action ({tn[no_action]}) must be unlimited")
    if not np.isfinite(vt[no_action]).all():
        raise OptimiserInputError(f"value: no_action ({tn[no_action]}) must be feasible for every account")
    if (ct[no_action] != 0).any():
        raise OptimiserInputError(f"cost: no_action ({tn[no_action]}) must cost 0")
    b = math.inf if budget is None else float(budget)
    if math.isnan(b) or b < 0:
        raise OptimiserInputError(f"budget: {budget!r} is not a non-negative amount")
    limited = [j for j in range(t) if cap[j] < n]
    return _Problem(vt, ct, cap, limited, b, no_action, n, t), tn


# ---------------------------------------------------------------------------------------------- dual


def _update_lambda(p: _Problem, r: F64, lam: F64, j: int) -> None:
    """Exact minimisation of L over ``λ_j`` (others fixed); updates ``r[j]`` and ``lam[j]`` in place."""
    a = r[j] + lam[j]  # priced value of j without its capacity price
    d = a - _max_except(r, j)
    k = int(p.cap[j])
    n = p.n
    if k == 0:
        dmax = float(d.max())
        new = max(0.0, dmax + 1e-9 * max(1.0, abs(dmax))) if np.isfinite(dmax) else 0.0
    else:
        part = np.partition(d, (n - k - 1, n - k))
        lo, hi = float(part[n - k - 1]), float(part[n - k])  # (k+1)-th and k-th largest
        new = 0.0 if not np.isfinite(lo) else max(0.0, 0.5 * (lo + hi))
    lam[j] = new
    np.subtract(a, new, out=r[j])


def _update_mu(p: _Problem, lam: F64, mu: float) -> tuple[float, F64]:
    """Minimise L over ``μ`` (λ fixed) by bisection on the monotone slope ``B − cost(μ)``."""
    base = p.v - lam[:, None]

    def cost_at(m: float) -> float:
        idx, _ = _argmax_rows(base - m * p.c if m > 0 else base)
        return p.cost_of(idx)

    if cost_at(0.0) <= p.budget:
        return 0.0, base
    lo, hi = 0.0, max(mu, 1e-6)
    if mu > 0 and cost_at(mu * 0.5) > p.budget:
        lo = mu * 0.5
    while cost_at(hi) > p.budget:
        lo, hi = hi, hi * 2.0
        if hi > 1e18:
            break
    for _ in range(40):
        if hi - lo <= 1e-7 * hi:
            break
        mid = 0.5 * (lo + hi)
        if cost_at(mid) > p.budget:
            lo = mid
        else:
            hi = mid
    base -= hi * p.c
    return hi, base


# ---------------------------------------------------------------------------------------------- primal


def _repair(p: _Problem, r: F64) -> I64:
    """A feasible plan from priced values ``r`` (``T × n``): capacity rounds, then the budget."""
    choice, _ = _argmax_rows(r)
    locked = np.zeros(p.n, dtype=bool)
    full = np.zeros(p.t, dtype=bool)
    movers = np.arange(p.n)
    for _ in range(p.t + 1):
        counts = np.bincount(choice, minlength=p.t)
        over = [j for j in p.limited if counts[j] > p.cap[j]]
        if not over:
            break
        sub = r[:, movers]
        if full.any():
            sub[full] = -np.inf
        bumped_parts: list[I64] = []
        mover_choice = choice[movers]
        for j in over:
            mask = mover_choice == j
            cand = movers[mask]
            room = int(p.cap[j]) - int(np.count_nonzero(locked & (choice == j)))
            # regret: how much worse off (at current prices) the account is at its next best
            regret = sub[j, mask] - _max_except(sub[:, mask], j)
            if room < cand.shape[0]:
                order = np.argsort(-regret, kind="stable")
                bumped_parts.append(cand[order[room:]])
                cand = cand[order[:room]]
            locked[cand] = True
            full[j] = True
        bumped = np.concatenate(bumped_parts) if bumped_parts else np.zeros(0, dtype=np.int64)
        locked[movers] = True  # everyone not bumped keeps their place
        locked[bumped] = False
        if bumped.shape[0] == 0:
            break
        counts_locked = np.bincount(choice[locked], minlength=p.t)
        full |= counts_locked >= p.cap
        sub_b = r[:, bumped]
        sub_b[full] = -np.inf
        new, _ = _argmax_rows(sub_b)
        choice[bumped] = new
        movers = bumped
    if math.isfinite(p.budget):
        for _ in range(p.t):  # a downgrade may still cost something: repeat (at worst to no_action)
            if p.cost_of(choice) <= p.budget:
                break
            choice = _fit_budget(p, choice)
    return choice


def _fit_budget(p: _Problem, choice: I64) -> I64:
    """Downgrade the accounts that lose least per fen saved until the plan's cost fits the budget."""
    cost_now = _take(p.c, choice)
    excess = float(cost_now.sum()) - p.budget
    if excess <= 0:
        return choice
    unlimited = [j for j in range(p.t) if j not in p.limited]
    v_now = _take(p.v, choice)
    best_v = np.full(p.n, -np.inf)
    best_c = np.zeros(p.n)
    best_j = np.full(p.n, p.no_action, dtype=np.int64)
    for j in unlimited:
        cj = np.broadcast_to(p.c[j], (p.n,))
        ok = (cj < cost_now) & (p.v[j] > best_v)
        best_v = np.where(ok, p.v[j], best_v)
        best_c = np.where(ok, cj, best_c)
        best_j = np.where(ok, j, best_j)
    saving = cost_now - best_c
    cand = np.flatnonzero(saving > 0)
    ratio = (v_now[cand] - best_v[cand]) / saving[cand]
    order = cand[np.argsort(ratio, kind="stable")]
    cum = np.cumsum(saving[order])
    k = int(np.searchsorted(cum, excess * (1 + 1e-12) + 1e-9)) + 1
    moved = order[:k]
    out = choice.copy()
    out[moved] = best_j[moved]
    return out


# ---------------------------------------------------------------------------------------------- API


def optimise(
    value: npt.ArrayLike,
    cost: npt.ArrayLike,
    capacity: npt.ArrayLike,
    budget: float | None = None,
    *,
    feasible: npt.ArrayLike | None = None,
    no_action: int | None = None,
    names: Sequence[str] | None = None,
    target_gap: float = 0.005,
    max_iterations: int = 100,
    time_limit: float = 50.0,
) -> Plan:
    """Plan one treatment per account (see the module docstring for the method and the certificate).

    ``value`` is ``n × T`` (fen; ``-inf`` = infeasible), ``cost`` ``T`` or ``n × T`` (fen), ``capacity``
    ``T`` (``inf`` = unlimited), ``budget`` the total cost limit (``None`` = none), ``feasible`` an
    optional ``n × T`` boolean mask. ``no_action`` is its column (default: the one named ``no_action``
    in ``names``, else the last); it must be feasible everywhere, cost 0 and be unlimited.
    """
    start = time.perf_counter()
    p, tn = _validate(value, cost, capacity, budget, feasible, no_action, names)
    lam = np.zeros(p.t)
    mu = 0.0
    r = p.v.copy()
    best_dual = p.dual(r, lam, mu)
    best_choice = _repair(p, r)
    best_primal = p.value_of(best_choice)
    best_lam, best_mu = lam.copy(), mu
    has_budget = math.isfinite(p.budget)

    def gap_of(dual: float, primal: float) -> float:
        if dual - primal <= 0:
            return 0.0
        return (dual - primal) / max(abs(dual), 1e-12)

    iterations = 0
    stall = 0
    while gap_of(best_dual, best_primal) > target_gap and iterations < max_iterations:
        if time.perf_counter() - start > time_limit:
            break
        iterations += 1
        if has_budget:
            mu, r = _update_mu(p, lam, mu)
        for j in p.limited:
            _update_lambda(p, r, lam, j)
        dual = p.dual(r, lam, mu)
        if dual < best_dual - 1e-9 * max(1.0, abs(best_dual)):
            stall = 0
        else:
            stall += 1
        if dual < best_dual:
            best_dual, best_lam, best_mu = dual, lam.copy(), mu
        cand = _repair(p, r)
        cand_value = p.value_of(cand)
        if cand_value > best_primal:
            best_primal, best_choice = cand_value, cand
        if stall >= 3 or not (p.limited or has_budget):
            break

    choice = best_choice
    return _explain(
        p,
        tn,
        choice,
        best_lam,
        best_mu,
        best_dual,
        gap_of(best_dual, best_primal),
        iterations,
        start,
        target_gap,
    )


def _explain(
    p: _Problem,
    tn: list[str],
    choice: I64,
    lam: F64,
    mu: float,
    dual: float,
    gap: float,
    iterations: int,
    start: float,
    target_gap: float,
) -> Plan:
    vals = _take(p.v, choice)
    # runner-up: the best other feasible treatment by expected value
    masked = p.v.copy()
    masked[choice, np.arange(p.n)] = -np.inf
    ru, ru_v = _argmax_rows(masked)
    del masked
    ru = np.where(np.isfinite(ru_v), ru, -1)
    best, _ = _argmax_rows(p.v)
    counts = np.bincount(choice, minlength=p.t)
    # binding: the price that made the account give up its unconstrained best b for its choice c
    differs = choice != best
    cap_term = lam[best] - lam[choice]
    bud_term = mu * (_take(p.c, best) - _take(p.c, choice)) if mu > 0 else np.zeros(p.n)
    b_full = counts[best] >= p.cap[best]
    use_budget = np.where(
        (cap_term <= 0) & (bud_term <= 0),
        ~b_full & math.isfinite(p.budget),
        bud_term > cap_term,
    )
    binding = np.where(differs, np.where(use_budget, BINDING_BUDGET, 2 + best), BINDING_NONE).astype(np.int16)
    names = ["none", "budget", *(f"capacity:{x}" for x in tn)]
    return Plan(
        choice=choice,
        value=vals,
        runner_up=ru,
        runner_up_value=np.where(ru >= 0, ru_v, -np.inf),
        binding=binding,
        binding_names=names,
        treatment_names=tn,
        total_value=float(vals.sum()),
        total_cost=p.cost_of(choice),
        counts=counts.astype(np.int64),
        dual_bound=dual,
        gap=gap,
        iterations=iterations,
        seconds=time.perf_counter() - start,
        multipliers=lam.copy(),
        budget_multiplier=float(mu),
        converged=gap <= target_gap,
    )


def exact_plan(
    value: npt.ArrayLike,
    capacity: npt.ArrayLike,
    *,
    feasible: npt.ArrayLike | None = None,
    no_action: int | None = None,
    names: Sequence[str] | None = None,
) -> tuple[I64, float]:
    """The exact optimum with capacities only (no budget), as a min-cost flow (OR-Tools).

    Accounts (supply 1) → treatments (arc cost −value, rounded to whole fen) → sink (arc capacity
    ``cap[t]``). Meant for moderate ``n`` (≈ 200,000 × 10 arcs); returns ``(choice, total value)``.
    """
    from ortools.graph.python import min_cost_flow  # type: ignore[import-untyped]

    p, _ = _validate(value, np.zeros(np.asarray(value).shape[1]), capacity, None, feasible, no_action, names)
    tt, ii = np.nonzero(np.isfinite(p.v))
    cost = -np.rint(p.v[tt, ii]).astype(np.int64)
    n, t = p.n, p.t
    smcf = min_cost_flow.SimpleMinCostFlow()
    # nodes: accounts 0..n-1, treatments n..n+t-1, sink n+t
    arcs_a = smcf.add_arcs_with_capacity_and_unit_cost(
        ii.astype(np.int32), (n + tt).astype(np.int32), np.ones(ii.shape[0], dtype=np.int64), cost
    )
    smcf.add_arcs_with_capacity_and_unit_cost(
        np.arange(n, n + t, dtype=np.int32),
        np.full(t, n + t, dtype=np.int32),
        p.cap.astype(np.int64),
        np.zeros(t, dtype=np.int64),
    )
    supplies = np.concatenate([np.ones(n, dtype=np.int64), np.zeros(t, dtype=np.int64), [-n]])
    smcf.set_nodes_supplies(np.arange(n + t + 1, dtype=np.int32), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise OptimiserError(f"min-cost flow: solver status {status}")
    flows = smcf.flows(arcs_a)
    used = flows > 0
    choice = np.full(n, p.no_action, dtype=np.int64)
    choice[ii[used]] = tt[used]
    return choice, p.value_of(choice)
