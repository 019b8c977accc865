"""``recoup strategy compare``: A and B on the same seeds (the same twin per seed), paired differences
with a 95 % t interval."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recoup.evaluation.evaluate import EvalConfig, EvalResult, Execution, evaluate
from recoup.strategy.capacity import Capacity
from recoup.strategy.definition import Strategy, load_strategy
from recoup.strategy.economics import CapacityConfig, Prices

__all__ = ["Comparison", "Difference", "compare", "paired_difference", "t975"]


@dataclass(frozen=True)
class Difference:
    """Mean of the paired differences (B − A) over seeds, with a 95 % t interval (None for one seed)."""

    mean: float
    low: float | None
    high: float | None
    values: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": round(self.mean),
            "ci95": [round(self.low), round(self.high)]
            if self.low is not None and self.high is not None
            else None,
            "per_seed": list(self.values),
        }


#: Student's t quantile t₀.₉₇₅ for 1–30 degrees of freedom.
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip


def t975(df: int) -> float:
    """t₀.₉₇₅(df): the table to 30, then the Cornish–Fisher expansion (within 1e-4)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def paired_difference(a: Sequence[int], b: Sequence[int]) -> Difference:
    """Paired t over seeds: mean(b − a) ± t₀.₉₇₅(k − 1) · sd / √k."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    k = d.size
    mean = float(d.mean()) if k else 0.0
    if k < 2:
        return Difference(mean, None, None, tuple(int(x) for x in d))
    half = t975(k - 1) * float(d.std(ddof=1)) / math.sqrt(k)
    return Difference(mean, mean - half, mean + half, tuple(int(x) for x in d))


@dataclass(frozen=True)
class Comparison:
    """``compare A B``: both strategies on the same seeds (the same twins), paired."""

    a: list[EvalResult]
    b: list[EvalResult]

    def difference(self, metric: str) -> Difference:
        return paired_difference([_metric(r, metric) for r in self.a], [_metric(r, metric) for r in self.b])

    def verdict(self) -> str:
        d = self.difference("net")
        if d.low is None or d.high is None:
            return "one seed: no interval · 仅一个种子，无区间"
        if d.low > 0:
            return "B nets more (significant at 95 %) · B 净回收显著更高"
        if d.high < 0:
            return "A nets more (significant at 95 %) · A 净回收显著更高"
        return "no significant difference · 差异不显著"

    def to_json(self) -> dict[str, Any]:
        first = self.a[0]
        return {
            "a": first.strategy,
            "b": self.b[0].strategy,
            "a_version": first.strategy_version,
            "b_version": self.b[0].strategy_version,
            "loans": first.loans,
            "days": first.days,
            "perturb": first.perturb,
            "seeds": [r.seed for r in self.a],
            "difference": "b - a",
            **{
                m: self.difference(m).to_json()
                for m in ("net", "recovered", "cost", "contacts", "complaints", "violations")
            },
            "verdict": self.verdict(),
            "scorer": first.scorer,
            "scores": {"a": [r.scores for r in self.a], "b": [r.scores for r in self.b]},
            "per_seed": [
                {
                    "seed": ra.seed,
                    "a": {m: _metric(ra, m) for m in _COMPARED},
                    "b": {m: _metric(rb, m) for m in _COMPARED},
                }
                for ra, rb in zip(self.a, self.b, strict=True)
            ],
            "seconds": round(sum(r.seconds for r in self.a + self.b), 3),
        }


_COMPARED = ("recovered", "cost", "net", "contacts", "complaints", "violations")


def _metric(r: EvalResult, name: str) -> int:
    value = getattr(r, name)
    return int(value)


def _run_one(args: tuple[str, dict[str, Any], int | None, dict[str, Any]]) -> EvalResult:
    """A worker's run (picklable arguments: the strategy document, not the object)."""
    label, doc, version, kw = args
    strategy = load_strategy(doc, version=version, segments=None)
    return evaluate(EvalConfig(strategy=strategy, label=label, **kw))


def compare(
    a: tuple[str, Strategy, Execution],
    b: tuple[str, Strategy, Execution],
    *,
    seeds: Sequence[int],
    loans: int,
    days: int,
    perturb: float = 0.0,
    start: dt.date = dt.date(2026, 1, 1),
    capacity: Capacity | None = None,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
    prices: Prices | None = None,
    staffing: CapacityConfig | None = None,
    scorer: Any = None,
) -> Comparison:
    """Evaluate A and B on each seed (the same twin per seed) and pair the results; ``prices`` and
    ``staffing``: the lender's configuration (defaults when None); ``scorer``: the one both get."""
    runs: list[tuple[str, dict[str, Any], int | None, dict[str, Any]]] = []
    for label, strategy, execution in (a, b):
        for seed in seeds:
            kw = {
                "loans": loans,
                "days": days,
                "seed": seed,
                "perturb": perturb,
                "start": start,
                "capacity": capacity,
                "execution": execution,
                "prices": prices,
                "staffing": staffing,
                "scorer": scorer,
            }
            runs.append((label, strategy.doc.model_dump(mode="json"), strategy.version, kw))
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_run_one, runs))
    else:
        results = []
        for run in runs:
            results.append(_run_one(run))
            if progress is not None:
                progress(f"{run[0]} seed {run[3]['seed']}")
    k = len(seeds)
    return Comparison(a=results[:k], b=results[k:])
