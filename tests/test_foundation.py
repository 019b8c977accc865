"""Settings, errors, the database on both engines, and migrations that match the models."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from recoup import migrate
from recoup.config import load_settings
from recoup.configs import service as configs
from recoup.errors import ConfigError, RecoupError
from recoup.models import metadata


def test_defaults_are_the_embedded_setup(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = load_settings(data_dir=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path.as_posix()}/recoup.db"
    assert s.lake_uri == f"{tmp_path.as_posix()}/lake"
    assert (s.timezone, s.currency, s.locale, s.jurisdiction) == (
        "Asia/Shanghai",
        "CNY",
        "zh_CN",
        "cn",
    )
    assert s.minor_digits == 2


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        ("RECOUP_TIMEZONE", "Mars/Olympus", "RECOUP_TIMEZONE"),
        ("RECOUP_CURRENCY", "XXX", "unsupported currency"),
        ("RECOUP_JURISDICTION", "atlantis", "RECOUP_JURISDICTION"),
        ("RECOUP_PII_KEY", "c2hvcnQ=", "32 bytes"),
        ("RECOUP_DATABASE_URL", "mysql://x", "sqlite://"),
    ],
)
def test_invalid_settings_stop_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert needle in info.value.message
    assert "Traceback" not in info.value.message


def test_pii_key_is_generated_once_and_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = load_settings(data_dir=tmp_path)
    key = s.pii_key_bytes()
    assert len(key) == 32
    assert s.pii_key_bytes() == key
    assert (tmp_path / "secrets" / "pii.key").stat().st_mode & 0o077 == 0


def test_error_envelope_is_stable() -> None:
    err = ConfigError("bad", details={"x": 1})
    assert err.envelope() == {"error": {"code": "config.invalid", "message": "bad", "details": {"x": 1}}}
    assert isinstance(err, RecoupError)


def test_one_alembic_head() -> None:
    assert len(migrate.heads()) == 1


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_config_versions_increment_and_dedupe(session: Session) -> None:
    a = configs.do_save_version("buckets", "default", {"m1": [1, 30]}, session=session)
    b = configs.do_save_version("buckets", "default", {"m1": [1, 30]}, session=session)
    c = configs.do_save_version("buckets", "default", {"m1": [1, 29]}, session=session)
    assert (a.version, b.id, c.version) == (1, a.id, 2)
    latest = configs.get_latest("buckets", "default", session=session)
    assert latest is not None and latest.payload == {"m1": [1, 29]}
    assert latest.created_at.tzinfo is not None and latest.created_at.utcoffset() == dt.timedelta(0)


def test_cli_reports_bad_settings_without_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "RECOUP_DATA_DIR": str(tmp_path), "RECOUP_TIMEZONE": "Mars/Olympus"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "recoup"), "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 78
    assert "RECOUP_TIMEZONE" in proc.stderr and "config.invalid" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_mount_skips_absent_domains_but_not_missing_dependencies() -> None:
    import typer

    from recoup import cli_mount

    app = typer.Typer()
    original = cli_mount.GROUPS
    try:
        cli_mount.GROUPS = (("recoup.no_such_domain.cli", "app", "x", ("x",)),)
        cli_mount.mount(app)  # an absent package is skipped
        cli_mount.GROUPS = (("recoup.cli_mount_probe_missing_dep", "app", "x", ("x",)),)
        cli_mount.mount(app)  # an absent module is skipped too
    finally:
        cli_mount.GROUPS = original
