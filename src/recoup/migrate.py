"""Alembic driven from code: ``recoup db upgrade`` and the tests use these, no alembic.ini."""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on ``engine``'s database, one process at a time: two
    commands started together on a fresh database would otherwise race to create it."""
    from recoup.locks import exclusive

    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).resolve()
        where, name = path.parent, f"migrate-{path.name}"
    else:  # PostgreSQL (the advisory lock serialises machines) or an in-memory database
        where, name = Path(tempfile.gettempdir()) / "recoup", "migrate"
    cfg = alembic_config()
    with (
        exclusive(name, data_dir=where, bind=engine, wait_s=300, what="database migration"),
        engine.begin() as conn,
    ):
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def heads() -> list[str]:
    """The migration heads (there must be exactly one)."""
    return list(ScriptDirectory.from_config(alembic_config()).get_heads())
