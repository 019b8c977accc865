"""Issue 17 acceptance: N trials of two concurrent imports of consecutive days (default 50).

A simulated lender (2,000 loans, 5 days) is imported serially once as the reference. Each trial
starts from a data directory holding the first three days, launches ``recoup import`` for day 4
and day 5 at the same moment (alternating which starts first), waits for both, and compares the
book as of every day with the reference: every dataset, every row (ciphertexts aside: their nonce
is random; the keyed lookup hash stands for the id). It also checks that every manifest row pins
only commits of its own day or earlier. Prints one line per trial and a summary; exits 1 on any
difference.

    .venv/bin/python bench/bench_concurrent_import.py [--trials 50] [--loans 2000] [--pg URL]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, make_url, select, text

from recoup.config import load_settings
from recoup.db import make_engine, session_scope
from recoup.lake import Lake, book_as_of
from recoup.lake.models import LakeImport
from recoup.lake.store import AS_OF_KEY
from recoup.migrate import upgrade
from recoup.portfolio.flows import import_dir
from recoup.portfolio.spec import DATASETS
from recoup.simulate import generate_history

RECOUP = str(Path(sys.executable).parent / "recoup")
START = dt.date(2026, 9, 24)
KEY = base64.b64encode(bytes(range(32))).decode()


def books(engine: Engine, lake: Lake, dates: list[dt.date]) -> dict[tuple[dt.date, str], pl.DataFrame]:
    out = {}
    with session_scope(engine) as s:
        for d in dates:
            book = book_as_of(d, session=s, lake=lake)
            if book.manifest_as_of != d:
                continue
            for name, ds in DATASETS.items():
                out[(d, name)] = book.frame(name).drop("national_id_enc", strict=False).sort(list(ds.key))
    return out


def pins_ok(engine: Engine, lake: Lake) -> bool:
    with session_scope(engine) as s:
        for r in s.scalars(select(LakeImport)).all():
            for name, v in r.table_versions.items():
                tagged = (lake.commit_info(name, int(v)) or {}).get(AS_OF_KEY)
                if tagged is None or dt.date.fromisoformat(tagged) > r.as_of:
                    return False
    return True


def fresh_db(pg: str | None, root: Path, name: str) -> tuple[str, Engine]:
    if pg is None:
        url = f"sqlite:///{root / (name + '.db')}"
    else:
        base = make_url(pg)
        admin = make_engine(pg)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    return url, engine


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--loans", type=int, default=2000)
    ap.add_argument("--pg", default=None, help="a PostgreSQL server URL (databases are created on it)")
    args = ap.parse_args()
    os.environ["RECOUP_PII_KEY"] = KEY
    root = Path(tempfile.mkdtemp(prefix="bench-conc-"))
    try:
        days = generate_history(args.loans, START, 5, 17, root / "sim")
        dates = [dt.date.fromisoformat(d.name) for d in days]
        _url, ref_engine = fresh_db(args.pg, root, "bench_conc_ref")
        ref_lake = Lake(str(root / "ref" / "lake"))
        for i, d in enumerate(days):
            with session_scope(ref_engine) as s:
                settings = load_settings(data_dir=root / "ref")
                import_dir(d, as_of=dates[i], settings=settings, lake=ref_lake, session=s, full=i == 0)
        expected = books(ref_engine, ref_lake, dates)
        ref_engine.dispose()
        failures = 0
        t_all = time.monotonic()
        for trial in range(args.trials):
            data = root / f"t{trial}"
            url, engine = fresh_db(args.pg, data if args.pg is None else root, f"bench_conc_{trial}")
            data.mkdir(parents=True, exist_ok=True)
            lake = Lake(str(data / "lake"))
            for i in range(3):
                with session_scope(engine) as s:
                    import_dir(
                        days[i],
                        as_of=dates[i],
                        settings=load_settings(data_dir=data, database_url=url),
                        lake=lake,
                        session=s,
                        full=i == 0,
                    )
            env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
            env |= {"RECOUP_DATA_DIR": str(data), "RECOUP_DATABASE_URL": url, "RECOUP_PII_KEY": KEY}
            pair = [days[3], days[4]] if trial % 2 == 0 else [days[4], days[3]]
            t0 = time.monotonic()
            procs = [
                subprocess.Popen(
                    [RECOUP, "import", str(d), "--as-of", d.name],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                for d in pair
            ]
            outs = [p.communicate(timeout=600) for p in procs]
            took = time.monotonic() - t0
            codes = [p.returncode for p in procs]
            got = books(engine, lake, dates)
            same = got.keys() == expected.keys() and all(got[k].equals(expected[k]) for k in expected)
            pins = pins_ok(engine, lake)
            ok = same and pins and codes == [0, 0]
            failures += not ok
            first = "later day first" if trial % 2 else "earlier day first"
            print(
                f"trial {trial + 1:>2}: {'ok ' if ok else 'FAIL'} exit codes {codes}, books equal {same}, "
                f"pins ok {pins}, {took:.1f} s ({first})",
                flush=True,
            )
            if not ok:
                for _o, e in outs:
                    print(e.decode(errors="replace")[-2000:])
            engine.dispose()
            shutil.rmtree(data, ignore_errors=True)
        backend = "PostgreSQL" if args.pg else "SQLite"
        print(
            f"{args.trials - failures}/{args.trials} trials equal to the serial import "
            f"({args.loans:,} loans, {backend}), {time.monotonic() - t_all:.0f} s"
        )
        return 1 if failures else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
