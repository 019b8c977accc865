"""Self-cure model on the digital twin: out-of-time AUC, KS, Brier and calibration by decile.

Acceptance (scoring issue): on simulated data the self-cure model's AUC on an out-of-time month is
reported, and the score is calibrated — expected vs. observed within 2 percentage points in every decile
of a 50,000-account test set.

    .venv/bin/python bench/bench_selfcure.py [--loans 1100000 --days 181 --seed 1 --json]

What it does
------------
1. Simulates a lender (``recoup.simulate.World``, no treatments) for ``--days`` days from ``--start``.
   Every day it takes the lender's book as of that day straight from the simulator's arrays — the typed
   rows an extract of that day would import (loans, installments with what was paid by then, payments,
   bureau reports) — and runs the cycle's own kernels on it: ``delinquency()`` with the previous day's
   output as history (→ ``account_daily``), then ``features()`` for the accounts in collections. The
   import + cycle path (CSV → lake → kernels) gives the same frames (tests/test_selfcure.py checks it on
   a small lender) but costs seconds per day, far too slow for a million loans × 181 days.
   The kernels run on the loans that have ever been behind (an installment due before the day with
   anything unpaid) since the first day: the kernel is per loan, and a loan never behind has no
   collections history, so this gives the same rows for every account in collections (also tested).
2. ``targets()`` over the whole daily history gives ``self_cure_30`` for every delinquent (loan, day)
   whose 30-day window was observed; features of day D use nothing after D. The join and the sampling
   are ``recoup model build-table``'s (:mod:`recoup.scoring.table`), which builds the same table from a
   lender's lake.
3. The out-of-time (OOT) month is the latest calendar month whose every as-of date has a matured label.
   Test set: every distinct account in collections (dpd > 0) on some day of that month, each at one
   as-of date drawn at random among its delinquent days of the month (seeded) — so each account counts
   once and the deciles are not dominated by long-delinquent accounts seen 30 times. Training set: the
   months after a warm-up (``--warmup`` days, while ``max_dpd_ever`` / ``times_cured`` build up history),
   as-of dates up to 31 days before the OOT month so that every training label had matured when the
   OOT month begins (what a model trained on that day could know), drawn the same way: one random
   delinquent day per account and month.
4. Trains the self-cure GBM (``GBMClassifier`` with the default monotone constraints of
   ``recoup.scoring.defaults``, as ``recoup model train`` does) and evaluates it on the OOT month with
   ``recoup.scoring.registry.evaluate_holdout`` — the model card's calibration table (10 equal-count bins
   of predicted probability).

Prints the figures (or one JSON object with ``--json``), the wall time of each stage and the peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from recoup.delinquency.kernel import PREV_COLUMNS, delinquency
from recoup.evaluation.lake_view import epoch_dates, static_loans
from recoup.scoring import table
from recoup.scoring.defaults import default_monotone
from recoup.scoring.estimators import GBMClassifier
from recoup.scoring.evaluation import auc
from recoup.scoring.features import FEATURES, features
from recoup.scoring.fit import prepare
from recoup.scoring.registry import evaluate_holdout
from recoup.simulate import World
from recoup.simulate.extract import payment_arrays
from recoup.simulate.ledger import PARTS as LEDGER_PARTS
from recoup.simulate.ledger import ranges
from recoup.simulate.state import STATUS, State

TARGET = "self_cure_30"
HORIZON = 30  # days of the self-cure window
#: account_daily columns that targets() reads.
TARGET_INPUT = ["as_of", "loan_id", "dpd", "bucket_rank", "status", "overdue_amount"]
Log = Callable[[str], None]


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


# --- the book as of the simulator's day, typed as the lake holds it (integer ids: loan i, borrower b) ---


def book_frames(st: State, static: pl.DataFrame, idx: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Loans ``idx`` (disbursed) and all their installment rows as of the simulator's current day."""
    loans = static[idx].with_columns(
        status=pl.Series(st.status[idx].astype(np.int64)).replace_strict(
            dict(enumerate(STATUS)), return_dtype=pl.String
        )
    )
    rows, _ = ranges(st.inst_start[idx], st.inst_start[idx] + st.n_inst[idx])
    led = st.led
    due, paid = led.due[rows], led.paid[rows]
    inst = pl.DataFrame(
        {
            "loan_id": led.loan[rows],
            "seq": led.seq[rows],
            "due_date": epoch_dates(led.due_day[rows]),
            **{f"{p}_due": due[:, j] for j, p in enumerate(LEDGER_PARTS)},
            **{f"{p}_paid": paid[:, j] for j, p in enumerate(LEDGER_PARTS)},
            "last_paid_date": epoch_dates(led.last_paid[rows]),
        }
    )
    return loans, inst


class _Growing:
    """A log that only grows (payments, bureau reports), kept as a list of frames; ``seen`` counts what of
    the simulator's log it holds."""

    def __init__(self, schema: dict[str, type[pl.DataType]]) -> None:
        self.parts: list[pl.DataFrame] = [pl.DataFrame(schema=schema)]
        self.seen = 0

    def frame(self) -> pl.DataFrame:
        return pl.concat(self.parts, rechunk=False)


def _new_payments(st: State, log: _Growing) -> None:
    loan, day, amount, *_ = payment_arrays(st, log.seen, st.n_payments)
    if loan.size == 0:
        return
    log.parts.append(
        pl.DataFrame(
            {
                "payment_id": np.arange(log.seen, log.seen + loan.size, dtype=np.int64),
                "loan_id": loan.astype(np.int64),
                "received_date": epoch_dates(day),
                "amount": amount.astype(np.int64),
                "reverses": pl.Series([None] * loan.size, dtype=pl.Int64),  # the twin never reverses
            }
        )
    )
    log.seen = st.n_payments


def _new_bureau(st: State, log: _Growing) -> None:
    for b, day, newd, score in st.bureau_log[log.seen :]:
        log.parts.append(
            pl.DataFrame(
                {
                    "borrower_id": b.astype(np.int64),
                    "report_date": epoch_dates(day),
                    "new_delinquencies": newd.astype(np.int64),
                    "score": score.astype(np.int64),
                }
            )
        )
    log.seen = len(st.bureau_log)


PAYMENTS = {
    "payment_id": pl.Int64,
    "loan_id": pl.Int64,
    "received_date": pl.Date,
    "amount": pl.Int64,
    "reverses": pl.Int64,
}
BUREAU = {"borrower_id": pl.Int64, "report_date": pl.Date, "new_delinquencies": pl.Int64, "score": pl.Int64}


@dataclass
class Twin:
    """The simulated history: account_daily (the columns targets read) every day, the features of every
    account in collections (dpd > 0) from ``features_from`` on, and all payments."""

    start: dt.date
    end: dt.date
    daily: pl.DataFrame
    feats: pl.DataFrame
    payments: pl.DataFrame
    kernel_loans: int  # loans the kernels ran on by the last day (ever behind)
    book_loans: int  # loans disbursed by the last day
    seconds: dict[str, float] = field(default_factory=dict)


def simulate(
    loans: int,
    days: int,
    seed: int,
    start: dt.date,
    *,
    features_from: dt.date | None = None,
    all_loans: bool = False,
    log: Log | None = None,
) -> Twin:
    """Step a world ``days`` days from ``start``; run delinquency() and features() on each day's book.

    ``all_loans`` runs the kernels on the whole book instead of the loans ever behind (tests compare).
    """
    say = log or (lambda _m: None)
    t0 = time.perf_counter()
    world = World(n_loans=loans, start=start, seed=seed, horizon_days=days)
    st = world.st
    t_world = time.perf_counter() - t0
    say(f"world of {loans:,} loans made ({t_world:.1f} s); stepping {days} days …")
    static = static_loans(st)
    ever = np.zeros(st.n, dtype=bool)
    pays, bureau = _Growing(PAYMENTS), _Growing(BUREAU)
    prev: pl.DataFrame | None = None
    daily_parts: list[pl.DataFrame] = []
    feat_parts: list[pl.DataFrame] = []
    t_sim = t_kernel = t_feat = 0.0
    first = features_from or start
    for k in range(days):
        t = time.perf_counter()
        if k:
            world.step()
        t_sim += time.perf_counter() - t
        t = time.perf_counter()
        as_of, day = world.today, st.day
        n = st.n_disbursed(day)
        if all_loans:
            ever[:n] = True
        else:
            row = st.inst_start[:n] + np.minimum(st.first_unpaid[:n], st.n_inst[:n] - 1)
            ever[:n] |= (st.first_unpaid[:n] < st.n_inst[:n]) & (st.led.due_day[row] < day)
        idx = np.flatnonzero(ever[:n])
        book, inst = book_frames(st, static, idx)
        _new_payments(st, pays)
        _new_bureau(st, bureau)
        daily = delinquency(book, inst, as_of=as_of, prev=prev)
        prev = daily.select(list(PREV_COLUMNS))
        daily_parts.append(daily.select(TARGET_INPUT))
        t_kernel += time.perf_counter() - t
        t = time.perf_counter()
        if as_of >= first:
            coll = daily.filter(pl.col("dpd") > 0)
            ids = coll.select("loan_id")
            feat_parts.append(
                features(
                    coll,
                    inst.join(ids, on="loan_id", how="semi"),
                    pays.frame().join(ids, on="loan_id", how="semi"),
                    bureau.frame().join(coll.select("borrower_id"), on="borrower_id", how="semi"),
                    as_of=as_of,
                )
            )
        t_feat += time.perf_counter() - t
        if (k + 1) % 30 == 0 or k + 1 == days:
            say(
                f"  {as_of}: {idx.size:,} loans in the kernels, "
                f"{int((daily.get_column('dpd') > 0).sum()):,} in collections; "
                f"{time.perf_counter() - t0:.0f} s, peak RSS {peak_gb():.2f} GB"
            )
    return Twin(
        start=start,
        end=world.today,
        daily=pl.concat(daily_parts),
        feats=pl.concat(feat_parts),
        payments=pays.frame().rechunk(),
        kernel_loans=int(ever.sum()),
        book_loans=st.n_disbursed(st.day),
        seconds={"world": t_world, "step": t_sim, "delinquency": t_kernel, "features": t_feat},
    )


# --- the labelled sets ------------------------------------------------------------------------------


def labelled(twin: Twin) -> pl.DataFrame:
    """Features of each account in collections on each day joined to its matured self-cure label (the
    recipe of ``recoup model build-table``: :func:`recoup.scoring.table.labelled`)."""
    return table.labelled(twin.daily, twin.feats, twin.payments, target=TARGET)


def oot_month(end: dt.date) -> dt.date:
    """First day of the latest calendar month whose every as-of date has a matured 30-day window."""
    last_asof = end - dt.timedelta(days=HORIZON)
    month = last_asof.replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    if last_asof < next_month - dt.timedelta(days=1):  # the month is not complete: take the one before
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


@dataclass
class Split:
    train: pl.DataFrame
    test: pl.DataFrame
    oot_start: dt.date
    oot_end: dt.date
    train_start: dt.date
    train_end: dt.date


def split(frame: pl.DataFrame, *, end: dt.date, train_from: dt.date, seed: int) -> Split:
    """Test: the OOT month, one random delinquent day per account. Train: ``train_from`` up to 31 days
    before the OOT month (labels matured before it begins), one random delinquent day per account and
    month."""
    start = oot_month(end)
    stop = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    train_end = start - dt.timedelta(days=HORIZON + 1)
    if train_end < train_from:
        raise SystemExit(
            f"no training months: the OOT month starts {start}, so training as-of dates must end by "
            f"{train_end}, before the warm-up ends ({train_from}); simulate more days"
        )
    test = table.one_per(frame.filter(pl.col("as_of").is_between(start, stop)), ["loan_id"], seed)
    # Training rows as ``recoup model build-table`` samples them: one per account and month.
    train = table.sample_rows(
        frame.filter(pl.col("as_of").is_between(train_from, train_end)), "account_month", seed + 1
    )
    return Split(train, test, start, stop, train_from, train_end)


# --- the model and its evaluation -------------------------------------------------------------------


def calibration_table(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The holdout's calibration bins with |mean predicted − observed| in percentage points."""
    return [
        {**c, "abs_diff_pp": abs(c["mean_predicted"] - c["observed_rate"]) * 100}
        for c in metrics["calibration"]
    ]


def train_and_evaluate(s: Split, *, model: GBMClassifier | None = None) -> dict[str, Any]:
    feats = list(FEATURES)
    X, y, _ = prepare(s.train.select([*feats, TARGET]), TARGET, None)
    Xt, yt, _ = prepare(s.test.select([*feats, TARGET]), TARGET, None)
    est = model or GBMClassifier(monotone=default_monotone("self_cure", feats))
    t = time.perf_counter()
    est.fit(X, y)
    t_fit = time.perf_counter() - t
    m = evaluate_holdout(est, Xt, yt)
    table = calibration_table(m)
    p = est.predict_proba(Xt)[:, 1]
    live = s.test.get_column("dpd").to_numpy() <= 180
    return {
        "oot_month": s.oot_start.strftime("%Y-%m"),
        "oot_window": [s.oot_start.isoformat(), s.oot_end.isoformat()],
        "train_window": [s.train_start.isoformat(), s.train_end.isoformat()],
        "n_train": len(y),
        "train_rate": float(np.mean(y)),
        "n_test": m["n"],
        "test_rate": m["bad_rate"],
        "auc": m["auc"],
        "ks": m["ks"],
        "gini": m["gini"],
        "brier": m["brier"],
        "auc_dpd_le_180": auc(yt[live], p[live]),
        "n_dpd_le_180": int(live.sum()),
        "calibration": table,
        "max_abs_diff_pp": max(c["abs_diff_pp"] for c in table),
        "calibration_method": getattr(est, "calibration_method_", est.calibration),
        # mean squared decile gap of each method in 5-fold CV on the validation split (the choice)
        "calibration_cv": getattr(est, "calibration_scores_", {}),
        "trees": int(est.booster_.best_iteration_ or est.booster_.n_estimators),
        "monotone": est.monotone or {},
        "fit_seconds": t_fit,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loans", type=int, default=1_100_000)
    ap.add_argument("--days", type=int, default=181)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default="2026-01-01")
    ap.add_argument("--warmup", type=int, default=31, help="first days not used for training")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args()

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    start = dt.date.fromisoformat(args.start)
    train_from = start + dt.timedelta(days=args.warmup)
    twin = simulate(args.loans, args.days, args.seed, start, features_from=train_from, log=say)
    t = time.perf_counter()
    frame = labelled(twin)
    s = split(frame, end=twin.end, train_from=train_from, seed=args.seed)
    t_targets = time.perf_counter() - t
    say(
        f"labelled {frame.height:,} account-days; train {s.train.height:,}, test {s.test.height:,}; fitting …"
    )
    del frame, twin.daily, twin.feats
    result = train_and_evaluate(s)
    wall = time.perf_counter() - t0
    result |= {
        "command": "bench/bench_selfcure.py " + " ".join(sys.argv[1:]),
        "loans": args.loans,
        "days": args.days,
        "seed": args.seed,
        "history": [twin.start.isoformat(), twin.end.isoformat()],
        "book_loans": twin.book_loans,
        "kernel_loans": twin.kernel_loans,
        "seconds": {**twin.seconds, "targets_and_split": t_targets, "fit": result["fit_seconds"]},
        "wall_seconds": wall,
        "peak_rss_gb": peak_gb(),
        "met": result["n_test"] >= 50_000 and result["max_abs_diff_pp"] < 2.0,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    r = result
    print(
        f"self-cure GBM on the digital twin: {args.loans:,} loans × {args.days} days from {args.start} "
        f"(seed {args.seed}); {r['book_loans']:,} disbursed, kernels on {r['kernel_loans']:,} ever behind"
    )
    print(
        f"train: as-of {r['train_window'][0]} → {r['train_window'][1]}, {r['n_train']:,} rows "
        f"(one delinquent day per account and month), self-cure rate {r['train_rate']:.2%}"
    )
    print(
        f"OOT month {r['oot_month']}: n_test {r['n_test']:,} distinct accounts, self-cure rate "
        f"{r['test_rate']:.2%}"
    )
    print(
        f"AUC {r['auc']:.4f} · KS {r['ks']:.4f} · Gini {r['gini']:.4f} · Brier {r['brier']:.4f} "
        f"(AUC on the {r['n_dpd_le_180']:,} accounts ≤ 180 dpd: {r['auc_dpd_le_180']:.4f}); "
        f"{r['trees']} trees, {r['calibration_method']} calibration"
    )
    print("decile |      n | mean predicted | observed | |diff| pp")
    for c in r["calibration"]:
        print(
            f"{c['bin']:>6} | {c['n']:>6,} | {c['mean_predicted']:>14.4f} | {c['observed_rate']:>8.4f} | "
            f"{c['abs_diff_pp']:>8.2f}"
        )
    print(
        f"max |diff| {r['max_abs_diff_pp']:.2f} pp; target (n_test ≥ 50,000 and every decile within 2 pp): "
        f"{'met' if r['met'] else 'NOT met'}"
    )
    sec = r["seconds"]
    print(
        "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in sec.items()) + f"; wall {wall:.1f} s, "
        f"peak RSS {r['peak_rss_gb']:.2f} GB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
