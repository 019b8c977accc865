"""A history without treatments, as day directories a lender would send: ``OUT/YYYY-MM-DD/``.

The first day is a full snapshot (the book with its history); every later day holds only what changed
(new and changed loans and installment rows, new payments, new borrowers and contact points, bureau
reports), so a long history imports quickly through ``recoup import DIR``. ``OUT/truth.csv`` holds the
latent borrower types (outside the day directories: it is never imported).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from recoup.simulate.params import SimParams, SimulateError
from recoup.simulate.world import World

Progress = Callable[[int, int], None]


def generate_history(
    n_loans: int,
    start: dt.date,
    days: int,
    seed: int,
    out_dir: str | Path,
    *,
    chinese_headers: bool = False,
    term_months: int | None = None,
    params: SimParams | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Write ``days`` day directories from ``start`` (day 1 full, then deltas); returns them in order.

    ``term_months`` gives every loan that many installments (benchmarks); the same arguments always
    write the same bytes.
    """
    if days < 1:
        raise SimulateError("days must be at least 1")
    report = progress or (lambda _done, _total: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = World(params, n_loans, start, seed, horizon_days=days, term_months=term_months)
    dirs = [world.write_extract(out / start.isoformat(), full=True, chinese_headers=chinese_headers)]
    report(1, days)
    for k in range(1, days):
        world.step()
        dirs.append(world.write_extract(out / world.today.isoformat(), chinese_headers=chinese_headers))
        report(k + 1, days)
    world.truth().write_csv(out / "truth.csv")
    return dirs
