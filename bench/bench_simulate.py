"""Digital-twin benchmark: generate N loans × 12 installments with D days of history
(``recoup.simulate.generate_history``: day 1 a full snapshot, then daily deltas) and print the wall time,
the peak resident memory, the output size and the rows per dataset; optionally import the first N days
into a fresh lake (``--import-days N``: day 1 as a full snapshot, then deltas) and time each import.

Target (issue 3): 1,000,000 loans × 12 installments × 180 days in under 5 minutes and 6 GB; a day's
delta imports in seconds.

    .venv/bin/python bench/bench_simulate.py --loans 1000000 --days 180 [--import-days 33]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def import_days(dirs: list[Path]) -> list[float]:
    """Import ``dirs`` in order (the first as a full snapshot) into a fresh lake; seconds for each."""
    from recoup import migrate
    from recoup.config import load_settings
    from recoup.db import make_engine, session_scope
    from recoup.lake import Lake
    from recoup.portfolio.flows import import_dir

    work = Path(tempfile.mkdtemp(prefix="recoup-bench-sim-"))
    try:
        settings = load_settings(data_dir=work)
        engine = make_engine(f"sqlite:///{work / 'bench.db'}")
        migrate.upgrade(engine)
        lake = Lake(str(work / "lake"))
        times = []
        for d in dirs:
            t0 = time.perf_counter()
            with session_scope(engine) as session:
                res = import_dir(
                    d,
                    as_of=dt.date.fromisoformat(d.name),
                    settings=settings,
                    lake=lake,
                    session=session,
                    full=d == dirs[0],
                )
            times.append(time.perf_counter() - t0)
            rows = sum(f.rows for f in res.files)
            rejected = sum(f.rejected for f in res.files)
            print(f"  imported {d.name}: {times[-1]:.1f} s, {rows:,} rows, {rejected} rejected", flush=True)
        engine.dispose()
        return times
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loans", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--term", type=int, default=12, help="installments per loan (0: the products' own terms)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default="2026-01-01")
    ap.add_argument("--out", type=Path, default=None, help="output directory (default bench/.cache/sim-N-D)")
    ap.add_argument(
        "--import-days", type=int, default=0, help="also import the first N days (day 1 full, then deltas)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the output (default: removed afterwards)")
    args = ap.parse_args()

    from recoup.simulate.generate import generate_history

    out = args.out or HERE / ".cache" / f"sim-{args.loans}-{args.days}"
    shutil.rmtree(out, ignore_errors=True)
    print(
        f"generating {args.loans:,} loans × {args.term or 'product'} installments × {args.days} days "
        f"into {out} …",
        flush=True,
    )
    t0 = time.perf_counter()
    dirs = generate_history(
        args.loans,
        dt.date.fromisoformat(args.start),
        args.days,
        args.seed,
        out,
        term_months=args.term or None,
    )
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    day1 = {p.stem: _rows(p) for p in sorted(dirs[0].glob("*.csv"))}
    deltas = [sum(_rows(p) for p in d.glob("*.csv")) for d in dirs[1:]]
    print(f"machine: {platform.machine()}, {platform.python_version()}, {platform.system()}")
    print(
        f"generate: {seconds:.1f} s wall, peak RSS {peak_gb():.2f} GB, output {size / 1e9:.2f} GB "
        f"in {len(dirs)} day directories"
    )
    print("day 1 rows: " + ", ".join(f"{k} {v:,}" for k, v in day1.items()))
    if deltas:
        print(f"delta rows per day: median {sorted(deltas)[len(deltas) // 2]:,}, max {max(deltas):,}")
    target = seconds < 300 and peak_gb() < 6.0
    print(f"target (under 300 s and 6 GB at 1,000,000 × 12 × 180): {'met' if target else 'NOT met'}")
    if args.import_days > 1:
        times = import_days(dirs[: args.import_days])[1:]
        print(f"delta import: median {sorted(times)[len(times) // 2]:.1f} s, max {max(times):.1f} s "
              f"over {len(times)} days")  # fmt: skip
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
