"""The optimised strategy in the evaluation loop: an :class:`EvalConfig` whose decider is
:class:`~recoup.strategy.optimised.OptimisedDecider` (docs/strategy.md, "Optimised strategy")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recoup.evaluation.evaluate import EvalConfig
from recoup.strategy.economics import CapacityConfig, default_prices
from recoup.strategy.optimised import COST_WEIGHT, OPTIMISED_NAME, OptimisedDecider
from recoup.strategy.response import load_model

__all__ = ["optimised_config"]


def optimised_config(model_path: Path, **kw: Any) -> EvalConfig:
    """An :class:`EvalConfig` that runs the optimised decider (``kw``: loans, days, seed, perturb, start,
    capacity, keep_db, label, prices, staffing …); the model is loaded from ``model_path``; the decider
    plans with the same prices, commissions and hours on duty the twin charges and works."""
    model, _meta = load_model(model_path)
    loans = int(kw["loans"])
    prices = kw.get("prices") or default_prices()
    staffing = kw.get("staffing") or CapacityConfig()
    capacity = kw.get("capacity") or staffing.capacity(loans)
    decider = OptimisedDecider(
        model=model,
        capacity=capacity,
        prices=dict(prices.treatments),
        commission_bp=prices.agency_commission_bp,
        windows=staffing.windows(),
        daily_budget=kw.pop("daily_budget", None),
        cost_weight=float(kw.pop("cost_weight", COST_WEIGHT)),
    )
    kw = {**kw, "capacity": capacity}
    kw.setdefault("label", OPTIMISED_NAME)
    return EvalConfig(strategy=decider.notices, decider=decider, on_day=decider.observe, **kw)
