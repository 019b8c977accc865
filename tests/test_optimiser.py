"""The treatment optimiser: hand-made instances with a worked-out optimum, random instances against the exact
optimum (OR-Tools min-cost flow for capacities only, CP-SAT with a budget), feasibility, the certified gap
and the explanation fields."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ortools.sat.python import cp_model

from recoup.errors import RecoupError
from recoup.strategy.optimiser import (
    BINDING_BUDGET,
    BINDING_NONE,
    OptimiserInputError,
    Plan,
    exact_plan,
    optimise,
)

INF = np.inf


def check_feasible(
    plan: Plan,
    value: np.ndarray,
    cost: np.ndarray,
    capacity: np.ndarray,
    budget: float | None,
    feasible: np.ndarray | None = None,
) -> None:
    n, t = value.shape
    assert plan.choice.shape == (n,)
    assert ((plan.choice >= 0) & (plan.choice < t)).all()  # exactly one treatment each
    rows = np.arange(n)
    assert np.isfinite(value[rows, plan.choice]).all()  # infeasible pairs never chosen
    if feasible is not None:
        assert feasible[rows, plan.choice].all()
    counts = np.bincount(plan.choice, minlength=t)
    assert (counts <= capacity).all()
    assert (plan.counts == counts).all()
    c = cost if cost.ndim == 2 else np.broadcast_to(cost, value.shape)
    total_cost = float(c[rows, plan.choice].sum())
    assert total_cost == pytest.approx(plan.total_cost)
    if budget is not None:
        assert total_cost <= budget + 1e-6
    assert plan.total_value == pytest.approx(float(value[rows, plan.choice].sum()))
    np.testing.assert_allclose(plan.value, value[rows, plan.choice])


def check_explanation(plan: Plan, value: np.ndarray) -> None:
    rows = np.arange(value.shape[0])
    unconstrained = np.argmax(value, axis=1)
    none = plan.binding == BINDING_NONE
    assert (plan.choice[none] == unconstrained[none]).all()
    # not none ⇒ the account did not get its unconstrained best (values may tie: compare values)
    assert (value[rows, plan.choice][~none] <= value[rows, unconstrained][~none]).all()
    assert (plan.choice[~none] != unconstrained[~none]).all()
    has_ru = plan.runner_up >= 0
    assert (plan.runner_up[has_ru] != plan.choice[has_ru]).all()
    np.testing.assert_allclose(plan.runner_up_value[has_ru], value[rows[has_ru], plan.runner_up[has_ru]])
    masked = value.copy()
    masked[rows, plan.choice] = -INF
    np.testing.assert_allclose(plan.runner_up_value[has_ru], masked.max(axis=1)[has_ru])
    assert len(plan.binding_names) == 2 + value.shape[1]
    assert plan.binding_names[:2] == ["none", "budget"]


def check_gap(plan: Plan, optimum: float) -> None:
    tol = 1e-6 * max(1.0, abs(optimum))
    assert plan.total_value <= optimum + tol
    assert optimum <= plan.dual_bound + tol
    expected = max(0.0, plan.dual_bound - plan.total_value) / max(abs(plan.dual_bound), 1e-12)
    assert plan.gap == pytest.approx(expected, abs=1e-12)
    assert (optimum - plan.total_value) / max(abs(optimum), 1e-12) <= plan.gap + 1e-9


# ---------------------------------------------------------------------------------------------- hand-made


def test_capacity_one_goes_to_largest_regret() -> None:
    # treatments: call (capacity 1), sms, no_action; the call's regret over sms: 2, 9, 4, 1
    value = np.array([[10, 8, 0], [12, 3, 0], [9, 5, 0], [7, 6, 0]], dtype=float)
    cost = np.array([300.0, 5.0, 0.0])
    capacity = np.array([1, INF, INF])
    plan = optimise(value, cost, capacity, names=["call", "sms", "no_action"], target_gap=0.0)
    assert plan.choice.tolist() == [1, 0, 1, 1]
    assert plan.total_value == 31.0
    assert plan.gap == pytest.approx(0.0, abs=1e-9)
    assert plan.dual_bound == pytest.approx(31.0)
    # explanation: account 1 got its best; the others lost the call to its capacity
    names = [plan.binding_names[b] for b in plan.binding]
    assert names == ["capacity:call", "none", "capacity:call", "capacity:call"]
    assert plan.runner_up.tolist() == [0, 1, 0, 0]
    assert plan.runner_up_value.tolist() == [10, 3, 9, 7]
    # shadow price of the call: between the 2nd largest regret (4) and the largest (9)
    assert 4.0 <= plan.multipliers[0] <= 9.0
    assert plan.multipliers[1] == 0.0 and plan.budget_multiplier == 0.0
    check_explanation(plan, value)


def test_budget_downgrades_the_cheapest_loss_per_fen() -> None:
    # call costs 5, sms 1; all calls would cost 15 > 11: two calls + one sms fit exactly; the account
    # losing least by the switch (9 − 6 = 3) takes the sms
    value = np.array([[20, 6, 0], [15, 6, 0], [9, 6, 0]], dtype=float)
    cost = np.array([5.0, 1.0, 0.0])
    plan = optimise(value, cost, np.array([INF, INF, INF]), budget=11, names=["call", "sms", "no_action"])
    assert plan.choice.tolist() == [0, 0, 1]
    assert plan.total_value == 41.0
    assert plan.total_cost == 11.0
    assert plan.binding.tolist() == [BINDING_NONE, BINDING_NONE, BINDING_BUDGET]
    assert 0.75 <= plan.budget_multiplier <= 2.25  # between the losses per fen saved: 3/4 and 9/4
    assert plan.gap <= 0.005


def test_infeasible_pairs_are_never_chosen() -> None:
    value = np.array([[10, 8, 0], [12, 3, 0]], dtype=float)
    feasible = np.array([[False, True, True], [True, False, True]])
    plan = optimise(value, np.zeros(3), np.array([INF, INF, INF]), feasible=feasible)
    assert plan.choice.tolist() == [1, 0]
    value2 = value.copy()
    value2[0, 0] = -INF
    value2[1, 1] = -INF
    plan2 = optimise(value2, np.zeros(3), np.array([INF, INF, INF]))
    assert plan2.choice.tolist() == [1, 0]
    assert plan2.runner_up.tolist() == [2, 2]


def test_zero_capacity_and_no_coupling() -> None:
    value = np.array([[5, 1, 0], [4, 2, 0]], dtype=float)
    plan = optimise(value, np.zeros(3), np.array([0, INF, INF]))
    assert plan.choice.tolist() == [1, 1]
    assert plan.counts.tolist() == [0, 2, 0]
    free = optimise(value, np.zeros(3), np.array([INF, INF, INF]))
    assert free.choice.tolist() == [0, 0] and free.gap == 0.0 and (free.binding == 0).all()


# ---------------------------------------------------------------------------------------------- random


def random_instance(
    rng: np.random.Generator, n: int, t: int, *, infeasible: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    amount = rng.lognormal(7.0, 1.0, size=n)
    uplift = rng.uniform(0.0, 0.2, size=(n, t)) * np.linspace(0.3, 1.0, t)[None, :]
    cost = np.rint(rng.uniform(1, 60, size=t))
    cost[-1] = 0.0
    value = np.rint(uplift * amount[:, None] - cost[None, :])
    value[:, -1] = 0.0
    mask = rng.random((n, t)) < infeasible
    mask[:, -1] = False
    value[mask] = -INF
    return value, cost


def brute_force(value: np.ndarray, cost: np.ndarray, capacity: np.ndarray, budget: float | None) -> float:
    n, t = value.shape
    best = -INF
    for plan in itertools.product(range(t), repeat=n):
        idx = np.array(plan)
        v = value[np.arange(n), idx]
        if not np.isfinite(v).all():
            continue
        if (np.bincount(idx, minlength=t) > capacity).any():
            continue
        if budget is not None and cost[idx].sum() > budget:
            continue
        best = max(best, float(v.sum()))
    return best


def test_exact_plan_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        value, _cost = random_instance(rng, 6, 3)
        capacity = np.array([2.0, 1.0, INF])
        choice, total = exact_plan(value, capacity)
        assert total == brute_force(value, np.zeros(3), capacity, None)
        assert (np.bincount(choice, minlength=3) <= capacity).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_capacities_only_against_min_cost_flow(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, t = 3_000, 6
    value, cost = random_instance(rng, n, t)
    capacity = np.array([0.05 * n, 0.10 * n, 0.20 * n, 0.02 * n, INF, INF]).round()
    _, optimum = exact_plan(value, capacity)
    plan = optimise(value, cost, capacity, target_gap=0.001, max_iterations=200)
    check_feasible(plan, value, cost, capacity, None)
    check_gap(plan, optimum)
    check_explanation(plan, value)
    assert plan.gap <= 0.005
    assert (plan.binding[plan.binding >= 2] - 2 < t - 2).all()  # only limited treatments bind


def cp_sat_optimum(
    value: np.ndarray, cost: np.ndarray, capacity: np.ndarray, budget: float
) -> tuple[float, np.ndarray]:
    n, t = value.shape
    m = cp_model.CpModel()
    x = {(i, j): m.new_bool_var(f"x{i}_{j}") for i in range(n) for j in range(t) if np.isfinite(value[i, j])}
    for i in range(n):
        m.add_exactly_one(x[i, j] for j in range(t) if (i, j) in x)
    for j in range(t):
        if np.isfinite(capacity[j]):
            m.add(sum(x[i, j] for i in range(n) if (i, j) in x) <= int(capacity[j]))
    m.add(sum(int(cost[j]) * var for (_i, j), var in x.items()) <= int(budget))
    m.maximize(sum(int(value[i, j]) * var for (i, j), var in x.items()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 30
    solver.parameters.num_workers = 2
    assert solver.solve(m) == cp_model.OPTIMAL
    choice = np.array([next(j for j in range(t) if (i, j) in x and solver.value(x[i, j])) for i in range(n)])
    return float(solver.objective_value), choice


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_budget_and_capacities_against_cp_sat(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, t = 200, 5
    value, cost = random_instance(rng, n, t)
    capacity = np.array([20, 30, 15, INF, INF])
    unconstrained_cost = float(cost[np.argmax(value, axis=1)].sum())
    budget = float(np.floor(0.5 * unconstrained_cost))
    optimum, _ = cp_sat_optimum(value, cost, capacity, budget)
    plan = optimise(value, cost, capacity, budget, target_gap=0.0, max_iterations=100)
    check_feasible(plan, value, cost, capacity, budget)
    check_gap(plan, optimum)
    check_explanation(plan, value)
    assert plan.gap <= 0.02  # 200 accounts: the integer/LP gap alone is of this order
    assert plan.budget_multiplier > 0  # the budget binds


def test_large_random_with_budget_reaches_target() -> None:
    rng = np.random.default_rng(42)
    n, t = 50_000, 8
    value, cost = random_instance(rng, n, t)
    cost_nt = np.broadcast_to(cost, (n, t)) * rng.uniform(0.8, 1.2, size=(n, t))  # per-account costs
    cost_nt[:, -1] = 0.0
    feasible = rng.random((n, t)) > 0.05
    feasible[:, -1] = True
    capacity = np.array([0.05, 0.1, 0.3, 0.05, 0.2, INF, INF, INF]) * n
    capacity = np.where(np.isfinite(capacity), np.floor(capacity), INF)
    budget = 0.4 * float(cost_nt[np.arange(n), np.argmax(np.where(feasible, value, -INF), axis=1)].sum())
    plan = optimise(value, cost_nt, capacity, budget, feasible=feasible)
    check_feasible(plan, np.where(feasible, value, -INF), cost_nt, capacity, budget, feasible)
    check_explanation(plan, np.where(feasible, value, -INF))
    assert plan.converged and plan.gap <= 0.005
    summary = plan.summary()
    assert summary["n"] == n and summary["gap"] == plan.gap


# ---------------------------------------------------------------------------------------------- validation


def test_validation_errors() -> None:
    value = np.zeros((3, 2))
    ok_cap = np.array([1.0, INF])
    with pytest.raises(OptimiserInputError, match="n×T"):
        optimise(np.zeros(3), np.zeros(2), ok_cap)
    with pytest.raises(OptimiserInputError, match="NaN at account 1, treatment 0"):
        bad = value.copy()
        bad[1, 0] = np.nan
        optimise(bad, np.zeros(2), ok_cap)
    with pytest.raises(OptimiserInputError, match="negative capacity"):
        optimise(value, np.zeros(2), np.array([-1.0, INF]))
    with pytest.raises(OptimiserInputError, match="capacity: expected shape"):
        optimise(value, np.zeros(2), np.array([1.0]))
    with pytest.raises(OptimiserInputError, match="cost"):
        optimise(value, np.zeros(3), ok_cap)
    with pytest.raises(OptimiserInputError, match="costs must be"):
        optimise(value, np.array([-1.0, 0.0]), ok_cap)
    with pytest.raises(OptimiserInputError, match="feasible: shape"):
        optimise(value, np.zeros(2), ok_cap, feasible=np.ones((2, 2), dtype=bool))
    with pytest.raises(OptimiserInputError, match="no_action"):
        optimise(value, np.zeros(2), np.array([INF, 1.0]))  # last column is no_action and limited
    with pytest.raises(OptimiserInputError, match="no_action"):
        optimise(value, np.zeros(2), ok_cap, feasible=np.array([[True, False]] * 3))
    with pytest.raises(OptimiserInputError, match="budget"):
        optimise(value, np.zeros(2), ok_cap, budget=-5)
    with pytest.raises(RecoupError):
        optimise(value, np.zeros(2), ok_cap, names=["a"])
