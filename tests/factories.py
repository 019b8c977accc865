"""Shared test factories (import as ``from factories import …``: the tests directory is on sys.path)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from recoup.config import load_settings
from recoup.db import session_scope
from recoup.lake import Lake
from recoup.portfolio.flows import import_dir
from recoup.portfolio.synth import generate, write_extract


def imported_book(tmp_path: Path, engine: Engine, as_of: dt.date, n: int = 300, seed: int = 3) -> Lake:
    """A synthetic book of ``n`` loans as of ``as_of``, imported into a lake under ``tmp_path`` and the
    database behind ``engine``."""
    d = write_extract(generate(n, as_of=as_of, seed=seed), tmp_path / "extract")
    lake = Lake(str(tmp_path / "lake"))
    with session_scope(engine) as session:
        import_dir(d, as_of=as_of, settings=load_settings(data_dir=tmp_path), lake=lake, session=session)
    return lake
