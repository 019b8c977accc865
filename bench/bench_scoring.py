"""Scoring benchmark: the champion GBM scores 1,000,000 accounts (target < 10 s) and gives the top 3
reason codes, worded, for 100,000 accounts in collections (target < 60 s).

Features are the cycle's feature columns, synthetic with a planted signal; the model is trained once on
50,000 rows (training is not timed).
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from recoup.scoring.estimators import GBMClassifier
from recoup.scoring.features import FEATURES
from recoup.scoring.reasons import reason_frame


def frame(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {f: rng.normal(0, 1, n) for f in FEATURES}
    cols["dpd"] = rng.integers(1, 200, n).astype(float)
    cols["paid_to_due_ratio"] = rng.random(n)
    return pl.DataFrame(cols)


def main() -> None:
    train = frame(50_000, 0)
    logit = (
        -1
        + 2.5 * train.get_column("paid_to_due_ratio").to_numpy()
        - 0.01 * train.get_column("dpd").to_numpy()
    )
    y = (np.random.default_rng(1).random(train.height) < 1 / (1 + np.exp(-logit))).astype(int)
    model = GBMClassifier().fit(train.to_pandas(), y)
    book = frame(1_000_000, 2).to_pandas()
    t0 = time.perf_counter()
    p = model.predict_proba(book)[:, 1]
    t_score = time.perf_counter() - t0
    coll = book.iloc[:100_000]
    t1 = time.perf_counter()
    reasons = reason_frame(model.contributions(coll), 3)
    t_reasons = time.perf_counter() - t1
    assert len(p) == 1_000_000 and reasons.height == 100_000
    print(f"model: GBM, {model.booster_.best_iteration_} trees, {len(FEATURES)} features")
    print(f"score 1,000,000 accounts: {t_score:.1f} s (target < 10 s: {'MET' if t_score < 10 else 'MISSED'})")
    print(
        f"top-3 reasons for 100,000 accounts: {t_reasons:.1f} s (target < 60 s: "
        f"{'MET' if t_reasons < 60 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
