"""Checking the PII key against the fingerprint the database recorded."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError

from recoup.config import Settings
from recoup.db import get_engine, session_scope
from recoup.errors import ConfigError
from recoup.keys.models import PiiKeyState

_LABEL = b"recoup pii key fingerprint v1"
STATE_ID = 1


def fingerprint(key: bytes) -> str:
    """A public fingerprint of ``key`` (32 hex digits); it reveals nothing about the key."""
    return hmac.new(key, _LABEL, hashlib.sha256).hexdigest()[:32]


def _recorded(settings: Settings) -> tuple[bool, str | None]:
    """(whether the database has the table, the recorded fingerprint)."""
    engine = get_engine(settings)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(PiiKeyState.__tablename__):
                return False, None
            fp = conn.execute(select(PiiKeyState.fingerprint).where(PiiKeyState.id == STATE_ID)).scalar()
    except OperationalError:
        return False, None  # no database yet (or unreachable: the command's own use reports it)
    return True, fp


def checked_key(settings: Settings) -> bytes:
    """The PII key, checked against the database's fingerprint (recorded on first use).

    Raises ConfigError when the key is missing although data encrypted with a key exists, or when
    it is not the key the data was encrypted with. The key itself is never shown."""
    has_table, recorded = _recorded(settings)
    if recorded is None:
        key = settings.pii_key_bytes()
        if has_table:
            try:
                with session_scope(get_engine(settings)) as session:
                    session.add(PiiKeyState(id=STATE_ID, fingerprint=fingerprint(key)))
            except IntegrityError:  # another process recorded it first: check against theirs
                return checked_key(settings)
        return key
    stored = settings.pii_key_bytes(generate=False)
    if stored is None:
        raise ConfigError(
            f"the PII key is missing, but this database holds data encrypted with the key of fingerprint "
            f"{recorded}: restore {settings.data_dir / 'secrets' / 'pii.key'} or set RECOUP_PII_KEY. A new "
            "key is not generated, because the data could never be read again. "
            "个人信息密钥缺失，请恢复原密钥。",
            details={"fingerprint": recorded},
        )
    found = fingerprint(stored)
    if not hmac.compare_digest(found, recorded):
        raise ConfigError(
            f"the PII key (fingerprint {found}) is not the key this database's data was encrypted with "
            f"(fingerprint {recorded}); with it nothing could be decrypted or looked up. Use the original "
            "key. 个人信息密钥与数据不符。",
            details={"fingerprint": found, "expected": recorded},
        )
    return stored
