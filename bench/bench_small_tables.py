"""GBM against the scorecard on small tables: 5-fold cross-validated AUC on the same folds.

Issue 14, item 7: on a table of about 1,000 rows and 20 mixed columns, ``recoup model fit`` must not
give the GBM more than 0.01 AUC below the scorecard. The tables are drawn from the public Taiwan
credit-card data (../shared/data/uci_taiwan_credit_card, never copied into the repository): ``--rows``
random accounts (one draw per ``--seeds`` seed) with 20 feature columns — LIMIT_BAL, SEX, EDUCATION and
MARRIAGE as text categories, AGE, the six repayment statuses PAY_x, the three latest statement balances
and the six payments — and the target DEFAULT.

    .venv/bin/python bench/bench_small_tables.py [--rows 1000 --seeds 0,1,2,3,4 --json]

For each table it cross-validates (StratifiedKFold 5, shuffle, random_state 0, as ``recoup model fit``):
``gbm_legacy`` — the GBM as it was before the size-adaptive regularisation (15 leaves, leaves of 80
rows, learning rate 0.03, early stopping and calibration on a 20 % validation split); ``gbm`` — today's
GBM (its regularisation follows the table's size); ``scorecard``; and ``auto`` — what ``--kind auto``
picks (the better of gbm and scorecard by cross-validated AUC, which is the same folds' figure).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recoup.scoring.estimators import GBMClassifier, ScorecardClassifier
from recoup.scoring.evaluation import cross_validate
from recoup.scoring.fit import prepare

SOURCE = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_taiwan_credit_card" / "UCI_Credit_Card.csv"
)
KINDS = {
    "gbm_legacy": lambda: GBMClassifier(
        learning_rate=0.03, num_leaves=15, min_child_samples=80, extra_trees=False, early_stopping="split"
    ),
    "gbm": GBMClassifier,
    "scorecard": ScorecardClassifier,
}


def small_table(rows: int, seed: int, source: Path = SOURCE) -> pl.DataFrame:
    """``rows`` random accounts of the Taiwan table with 20 mixed feature columns (see the docstring)."""
    frame = pl.read_csv(source).sample(rows, seed=seed, shuffle=True)
    codes = {
        "SEX": {1: "male", 2: "female"},
        "EDUCATION": {1: "graduate_school", 2: "university", 3: "high_school"},
        "MARRIAGE": {1: "married", 2: "single"},
    }
    return frame.with_columns(
        pl.col(c).replace_strict(m, default="other", return_dtype=pl.String) for c, m in codes.items()
    ).drop("BILL_AMT4", "BILL_AMT5", "BILL_AMT6")


def measure(rows: int, seed: int) -> dict[str, Any]:
    X, y, _ = prepare(small_table(rows, seed), "DEFAULT", "ID")
    out: dict[str, Any] = {
        "seed": seed,
        "rows": len(y),
        "columns": X.shape[1],
        "default_rate": float(y.mean()),
    }
    for kind, make in KINDS.items():
        t = time.perf_counter()
        out[kind] = cross_validate(make, X, y).auc
        out[f"{kind}_seconds"] = time.perf_counter() - t
    out["auto"] = max(out["gbm"], out["scorecard"])
    out["auto_kind"] = "gbm" if out["gbm"] >= out["scorecard"] else "scorecard"
    out["gbm_minus_scorecard"] = out["gbm"] - out["scorecard"]
    out["legacy_minus_scorecard"] = out["gbm_legacy"] - out["scorecard"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not SOURCE.exists():
        print(f"the Taiwan credit-card data is not at {SOURCE}", file=sys.stderr)
        return 66
    results = [measure(args.rows, int(s)) for s in args.seeds.split(",")]
    if args.json:
        print(json.dumps({"rows": args.rows, "tables": results}))
        return 0
    print(f"5-fold CV AUC on {args.rows:,}-row, 20-column tables of the Taiwan credit-card data")
    print("seed | gbm (before) |    gbm | scorecard | auto (kind)        | gbm − scorecard (before)")
    for r in results:
        print(
            f"{r['seed']:>4} | {r['gbm_legacy']:>12.4f} | {r['gbm']:.4f} | {r['scorecard']:>9.4f} | "
            f"{r['auto']:.4f} ({r['auto_kind']:<9}) | {r['gbm_minus_scorecard']:+.4f} "
            f"({r['legacy_minus_scorecard']:+.4f})"
        )
    worst = min(r["gbm_minus_scorecard"] for r in results)
    mean = {k: float(np.mean([r[k] for r in results])) for k in ("gbm_legacy", "gbm", "scorecard", "auto")}
    print(
        "mean: "
        + " · ".join(f"{k} {v:.4f}" for k, v in mean.items())
        + f"; worst gbm − scorecard {worst:+.4f}"
    )
    secs = {k: float(np.mean([r[f"{k}_seconds"] for r in results])) for k in KINDS}
    print("seconds per 5-fold CV: " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
