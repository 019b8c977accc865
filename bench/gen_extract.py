"""Write a synthetic extract with canonical headers in UTF-8 (the input of the import benchmark).

    python bench/gen_extract.py --loans 84000 --out bench/.cache/extract-84000 [--seed 0] [--as-of 2026-11-20]

About 84,000 loans give about 1,000,000 installment rows. Prints the row count of every file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from recoup.portfolio.synth import generate, write_extract


def main() -> None:
    ap = argparse.ArgumentParser(description="Write a synthetic canonical-header UTF-8 extract.")
    ap.add_argument("--loans", type=int, required=True, help="number of loans")
    ap.add_argument("--out", type=Path, required=True, help="directory to write (created if missing)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 11, 20), help="YYYY-MM-DD")
    opts = ap.parse_args()
    t0 = time.perf_counter()
    frames = generate(opts.loans, as_of=opts.as_of, seed=opts.seed)
    t1 = time.perf_counter()
    out = write_extract(frames, opts.out)
    t2 = time.perf_counter()
    for name, frame in frames.items():
        print(f"{name + '.csv':<22} {frame.height:>12,} rows")
    print(f"written to {out} (generated in {t1 - t0:.1f} s, written in {t2 - t1:.1f} s)")


if __name__ == "__main__":
    main()
