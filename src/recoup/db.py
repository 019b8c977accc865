"""Engine, session scope and the declarative Base shared by every domain's ``models.py``.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on;
PostgreSQL is reached through psycopg 3. Schema changes go through Alembic only
(``recoup db upgrade``; scripts in ``recoup/migrations``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from recoup.config import Settings, get_settings
from recoup.errors import ConfigError

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Execution option: on SQLite, begin the transaction with ``BEGIN IMMEDIATE`` (see :func:`writing`).
IMMEDIATE = "recoup_sqlite_immediate"

#: Money columns: integer minor units.
MoneyType = BigInteger


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC timestamps on every engine (SQLite forgets the offset; this restores it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; timestamps must be aware")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get WAL, a busy timeout and enforced foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, emit BEGIN so SAVEPOINT and rollback-per-test work.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A writer that reads first asks for IMMEDIATE: it then waits (busy timeout) for the
            # write lock instead of failing when another writer committed after its first read.
            immediate = conn.get_execution_options().get(IMMEDIATE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("postgresql+psycopg"):
        raise ConfigError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")
    return create_engine(url, echo=echo, pool_pre_ping=True)


def writing(session: Session) -> None:
    """Declare that ``session``'s unit of work writes: on SQLite its transaction (if not yet begun)
    takes the write lock at once, so a later write never fails on a stale read snapshot."""
    if not session.in_transaction():
        session.connection(execution_options={IMMEDIATE: True})


_engines: dict[str, Engine] = {}
_may_create = False


def allow_database_creation() -> None:
    """Called by the commands that create a database (``db upgrade``, ``demo``): an explicitly
    configured SQLite file may then be created."""
    global _may_create
    _may_create = True


def _check_explicit_sqlite(url: str) -> None:
    """A SQLite database named by RECOUP_DATABASE_URL must exist: a typo must not silently start an
    empty database (nor create directories). The default one in the data dir is created on first use."""
    if not url.startswith("sqlite") or "///" not in url:
        return
    path = Path(url.split("///", 1)[1].split("?", 1)[0])
    if str(path) in {"", ":memory:"}:
        return
    if not path.parent.is_dir():
        raise ConfigError(
            f"RECOUP_DATABASE_URL names a database in {path.parent}, which does not exist · 数据库目录不存在",
            details={"path": str(path)},
        )
    if not path.exists() and not _may_create:
        raise ConfigError(
            f"there is no database at {path} (RECOUP_DATABASE_URL); run `recoup db upgrade` to create it · "
            "数据库不存在，请先运行 recoup db upgrade",
            details={"path": str(path)},
        )


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    s = settings or get_settings()
    if s.database_url not in _engines:
        if not s.database_is_default:
            _check_explicit_sqlite(s.database_url)
        _engines[s.database_url] = make_engine(s.database_url, busy_timeout_ms=s.sqlite_busy_timeout_ms)
    return _engines[s.database_url]


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. Services never commit."""
    factory = sessionmaker(bind=engine or get_engine(), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def upgraded_session() -> Iterator[Session]:
    """A unit of work on the configured database, migrated first (what each CLI command needs)."""
    from recoup import migrate  # Alembic is slow to import: only when a command touches the database
    from recoup.keys.service import checked_key

    engine = get_engine()
    migrate.upgrade(engine)
    checked_key(get_settings())  # refuse to start with another PII key, or without the lost one
    with session_scope(engine) as session:
        yield session
