"""Issue 17 acceptance: the import fuzzer on N generated files (default 10,000).

CSV (every supported and several unsupported encodings, mixed encodings, flipped bytes, odd headers,
ragged rows, hostile cells), XLSX (random cells, damaged archives, a zip bomb), Parquet (list, struct,
binary, null and out-of-range columns) and random bytes go through the real import on SQLite (or
PostgreSQL with --pg URL). Each file must import or be refused with a RecoupError that leaves the
lake, the manifest and the ledger unchanged. Prints the counts by outcome and error code.

    .venv/bin/python bench/bench_fuzz_import.py [--files 10000] [--seed 0] [--pg URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_import import Case, Tally, any_case, run_case, seed_book
from recoup.config import load_settings
from recoup.db import make_engine, session_scope
from recoup.lake import Lake
from recoup.migrate import upgrade


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pg", default=None)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-fuzz-"))
    engine = make_engine(args.pg or f"sqlite:///{root / 'fuzz.db'}")
    upgrade(engine)
    cfg = load_settings(data_dir=root / "data")
    lake = Lake(str(root / "lake"))
    tally = Tally()
    kinds: dict[str, int] = {}
    t0 = time.monotonic()
    with session_scope(engine) as session:
        seed_book(root, settings=cfg, lake=lake, session=session)

        @seed(args.seed)
        @settings(
            max_examples=args.files, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(any_case)
        def check(case: Case) -> None:
            kinds[case.kind] = kinds.get(case.kind, 0) + 1
            run_case(case, root, settings=cfg, lake=lake, session=session, tally=tally)
            n = tally.imported + tally.refused
            if n % 1000 == 0:
                print(f"  {n:,} files, {time.monotonic() - t0:.0f} s", flush=True)

        check()
        session.rollback()
    total = tally.imported + tally.refused
    print(f"{total:,} generated files ({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))})")
    print(
        f"imported {tally.imported:,}; refused {tally.refused:,} with a RecoupError and no change to the book"
    )
    for code, n in sorted(tally.codes.items(), key=lambda kv: -kv[1]):
        print(f"  {code}: {n:,}")
    print(f"no traceback; {time.monotonic() - t0:.0f} s ({'PostgreSQL' if args.pg else 'SQLite'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
