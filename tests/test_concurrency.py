"""One lake writer at a time (issue 17, F1 and F13): concurrent imports of consecutive days give the
same book as a serial import; a manifest never pins another day's commit; an earlier day is refused
after a later one reached the lake; a foreign writer during an import is caught before the manifest.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from recoup.config import load_settings
from recoup.db import session_scope
from recoup.errors import ImportIntegrityError, ImportOrderError
from recoup.lake import Lake, book_as_of
from recoup.lake.models import LakeImport
from recoup.lake.store import AS_OF_KEY
from recoup.locks import LockBusyError, exclusive
from recoup.portfolio.flows import import_dir
from recoup.portfolio.spec import DATASETS
from recoup.simulate import generate_history

START = dt.date(2026, 9, 25)
RECOUP = str(Path(sys.executable).parent / "recoup")
PII_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate_history(400, START, 4, 11, tmp_path_factory.mktemp("sim"))


def _books(engine: Engine, lake: Lake, dates: list[dt.date]) -> dict[tuple[dt.date, str], pl.DataFrame]:
    out = {}
    with session_scope(engine) as s:
        for d in dates:
            book = book_as_of(d, session=s, lake=lake)
            assert book.manifest_as_of == d
            for name, ds in DATASETS.items():
                # Ciphertexts carry a random nonce; the keyed lookup hash stands for the id.
                out[(d, name)] = book.frame(name).drop("national_id_enc", strict=False).sort(list(ds.key))
    return out


def _import(engine: Engine, lake: Lake, data_dir: Path, d: Path, *, full: bool = False) -> None:
    with session_scope(engine) as s:
        import_dir(
            d,
            as_of=dt.date.fromisoformat(d.name),
            settings=load_settings(data_dir=data_dir),
            lake=lake,
            session=s,
            full=full,
        )


def _env(engine: Engine, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env["RECOUP_DATA_DIR"] = str(data_dir)
    env["RECOUP_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    env["RECOUP_PII_KEY"] = PII_KEY
    return env


def test_two_concurrent_imports_of_consecutive_days_equal_the_serial_import(
    own_engine: Engine, tmp_path: Path, days: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOUP_PII_KEY", PII_KEY)
    # The serial reference, in a database and lake of its own (SQLite).
    from recoup.db import make_engine
    from recoup.migrate import upgrade

    ref_engine = make_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    upgrade(ref_engine)
    ref_lake = Lake(str(tmp_path / "ref-lake"))
    for i, d in enumerate(days):
        _import(ref_engine, ref_lake, tmp_path / "ref", d, full=i == 0)
    dates = [dt.date.fromisoformat(d.name) for d in days]
    expected = _books(ref_engine, ref_lake, dates)
    ref_engine.dispose()

    data_dir = tmp_path / "data"
    lake = Lake(str(data_dir / "lake"))
    _import(own_engine, lake, data_dir, days[0], full=True)
    _import(own_engine, lake, data_dir, days[1])
    env = _env(own_engine, data_dir)
    # The later day starts first: the lock queue still applies the earlier day first.
    procs = [
        subprocess.Popen(
            [RECOUP, "import", str(d), "--as-of", d.name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for d in (days[3], days[2])
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()
        assert b"Traceback" not in err
    got = _books(own_engine, lake, dates)
    for key, frame in expected.items():
        assert got[key].equals(frame), key
    with session_scope(own_engine) as s:
        rows = s.scalars(select(LakeImport).order_by(LakeImport.id)).all()
        assert [r.as_of for r in rows] == dates
        for r in rows:  # every pinned commit is of the manifest's day or earlier
            for name, v in r.table_versions.items():
                tagged = (lake.commit_info(name, int(v)) or {}).get(AS_OF_KEY)
                assert tagged is not None and dt.date.fromisoformat(tagged) <= r.as_of


def test_an_earlier_day_is_refused_after_a_later_day_reached_the_lake(
    session: object, tmp_path: Path, days: list[Path]
) -> None:
    """A crashed later import leaves commits with no manifest row; the earlier day must not be
    merged on top of them (the manifest alone would have allowed it)."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    lake = Lake(str(tmp_path / "lake"))
    settings = load_settings(data_dir=tmp_path)
    import_dir(days[0], as_of=START, settings=settings, lake=lake, session=session, full=True)
    later = dt.date.fromisoformat(days[2].name)
    # The later day's loans reach the lake, then the process "dies" before its manifest row.
    with pytest.raises(RuntimeError):

        def die(msg: str) -> None:
            if msg.startswith("writing installments"):
                raise RuntimeError("killed")

        import_dir(days[2], as_of=later, settings=settings, lake=lake, session=session, progress=die)
    before = {n: lake.version(n) for n in DATASETS}
    with pytest.raises(ImportOrderError) as err:
        import_dir(days[1], as_of=START + dt.timedelta(days=1), settings=settings, lake=lake, session=session)
    assert err.value.details["last"] == later.isoformat()
    assert {n: lake.version(n) for n in DATASETS} == before
    assert session.scalar(select(func.count()).select_from(LakeImport)) == 1


def test_a_foreign_writer_during_an_import_is_caught_before_the_manifest(
    session: object, tmp_path: Path, days: list[Path]
) -> None:
    """A writer that ignores the lock commits to a table this import wrote: the manifest would pin a
    version that is not this import's, so nothing is recorded."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    lake = Lake(str(tmp_path / "lake"))
    settings = load_settings(data_dir=tmp_path)
    import_dir(days[0], as_of=START, settings=settings, lake=lake, session=session, full=True)
    day2 = START + dt.timedelta(days=1)
    rogue = Lake(str(tmp_path / "lake"))
    ds = DATASETS["borrowers"]
    sample = rogue.scan("borrowers")
    assert sample is not None
    fired = []

    def foreign(msg: str) -> None:
        if msg.startswith("writing loans") and not fired:  # borrowers are written by now
            fired.append(msg)
            frame = sample.head(1).collect().with_columns(pl.lit("ROGUE-1").alias("borrower_id"))
            rogue.apply(
                ds,
                frame.drop("_as_of", "_source").rename({"_deleted": "deleted"}),
                as_of=START + dt.timedelta(days=5),
                source="rogue.csv",
                sha256="f" * 64,
            )

    with pytest.raises(ImportIntegrityError):
        import_dir(days[1], as_of=day2, settings=settings, lake=lake, session=session, progress=foreign)
    assert fired
    assert session.scalar(select(func.count()).select_from(LakeImport)) == 1


def test_a_held_lock_refuses_with_the_holder_and_no_traceback(tmp_path: Path, days: list[Path]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env |= {"RECOUP_DATA_DIR": str(tmp_path / "data"), "RECOUP_LOCK_WAIT_SECONDS": "0.5"}
    with exclusive("import", data_dir=tmp_path / "data", what="import as of 2026-09-30"):
        t0 = time.monotonic()
        p = subprocess.run(
            [RECOUP, "import", str(days[0]), "--as-of", days[0].name, "--full"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        waited = time.monotonic() - t0
    assert p.returncode == LockBusyError.exit_code, p.stderr
    assert "lock.busy" in p.stderr and "import as of 2026-09-30" in p.stderr
    assert "Traceback" not in p.stderr
    assert waited < 60
    # Once released, the same import goes through.
    p = subprocess.run(
        [RECOUP, "import", str(days[0]), "--as-of", days[0].name, "--full"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr


def test_waiters_queue_in_order(tmp_path: Path) -> None:
    """A holder sees an earlier waiter (alive), and not a later one or a dead one's file."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with exclusive("job", data_dir=tmp_path, order="2026-09-29") as held:
        assert not held.earlier_waiting()
        later = ctx.Process(target=_wait_for, args=(tmp_path, "2026-09-30"))
        later.start()
        time.sleep(1.5)
        assert not held.earlier_waiting()
        earlier = ctx.Process(target=_wait_for, args=(tmp_path, "2026-09-28"))
        earlier.start()
        deadline = time.monotonic() + 30
        while not held.earlier_waiting() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert held.earlier_waiting()
        earlier.kill()
        earlier.join()
        assert not held.earlier_waiting()  # a dead waiter's file is not a waiter
    later.join(timeout=30)
    assert later.exitcode == 0
    shutil.rmtree(tmp_path / "locks", ignore_errors=True)


def _wait_for(data_dir: Path, order: str) -> None:
    with exclusive("job", data_dir=data_dir, order=order, wait_s=60):
        pass
