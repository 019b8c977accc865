"""Work-queue benchmark: a book of 1,000,000 cases held by 2,000 collectors, ~1.2 open tasks per case
(random must-do facts, an expected value for 70 % of tasks); building every collector's queue must take
under 30 s. The dialer export of the built queues is timed beside it (no target).

The synthetic book is generated in memory with numpy (about a second; not timed).
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from recoup.cases.queues import build_queues, dialer_export

CASES = 1_000_000
COLLECTORS = 2_000
TARGET_S = 30.0


def book(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(tasks, facts): one task per case plus a second one for 20 % of cases."""
    rng = np.random.default_rng(seed)
    case_ids = np.arange(1, CASES + 1, dtype=np.int64)
    holder = rng.integers(1, COLLECTORS + 1, CASES)
    untouched = rng.geometric(0.3, CASES) - 1  # ~8 % at 7 days or more
    facts = pl.DataFrame(
        {
            "case_id": case_ids,
            "contacted_ever": rng.random(CASES) < 0.9,
            "promise_due_today": rng.random(CASES) < 0.05,
            "broken_yesterday": rng.random(CASES) < 0.03,
            "callback_due": rng.random(CASES) < 0.05,
            "days_untouched": pl.Series(untouched).scatter(np.flatnonzero(rng.random(CASES) < 0.05), None),
        }
    )
    second = rng.random(CASES) < 0.2
    task_case = np.concatenate([case_ids, case_ids[second]])
    n = task_case.size
    treatments = np.array(["agent_call", "sms", "robot_call", "field_visit", "email"])
    ev = rng.gamma(2.0, 300.0, n)
    tasks = pl.DataFrame(
        {
            "task_id": np.arange(1, n + 1, dtype=np.int64),
            "assignee_id": holder[task_case - 1].astype(np.int64),
            "case_id": task_case,
            "treatment": treatments[rng.choice(5, n, p=[0.6, 0.15, 0.1, 0.1, 0.05])],
            "priority": rng.integers(0, 10, n),
            "expected_value": pl.Series(ev).scatter(np.flatnonzero(rng.random(n) >= 0.7), None),
            "balance": rng.integers(10_000, 5_000_000, n),
            "dpd": rng.integers(1, 360, n),
            "status": np.where(rng.random(n) < 0.02, "in_progress", "open"),
        }
    )
    return tasks, facts


def main() -> None:
    tasks, facts = book(0)
    t0 = time.perf_counter()
    queue = build_queues(tasks, facts)
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    calls = dialer_export(queue)
    t_dialer = time.perf_counter() - t1
    must = queue.get_column("must_do").is_not_null().sum()
    assert queue.height == tasks.height and queue.get_column("assignee_id").n_unique() == COLLECTORS
    print(f"book: {CASES:,} cases, {COLLECTORS:,} collectors, {tasks.height:,} open tasks ({must:,} must-do)")
    print(
        f"build every collector's queue: {elapsed:.2f} s, {queue.height:,} rows "
        f"(target < {TARGET_S:.0f} s: {'MET' if elapsed < TARGET_S else 'MISSED'})"
    )
    print(f"dialer export: {t_dialer:.2f} s, {calls.height:,} rows")


if __name__ == "__main__":
    main()
