"""Checking the PII key against the fingerprint the database recorded."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError

from recoup.config import Settings
from recoup.db import get_engine, session_scope
from recoup.errors import ConfigError
from recoup.keys.models import PiiKeyState
from recoup.pii import PiiCipher, derive_lookup_key, fingerprint

__all__ = ["STATE_ID", "checked_key", "fingerprint", "keyring", "retired_keys"]

STATE_ID = 1
_FP = re.compile(r"[0-9a-f]{32}")


def secrets_dir(settings: Settings) -> Path:
    return settings.data_dir / "secrets"


def key_path(settings: Settings) -> Path:
    """The PII key file (unless ``RECOUP_PII_KEY`` is set)."""
    return secrets_dir(settings) / "pii.key"


def pending_path(settings: Settings) -> Path:
    """The key a rotation is switching to, until it is installed as the PII key."""
    return secrets_dir(settings) / "pii.key.next"


def lookup_path(settings: Settings) -> Path:
    """The stable lookup key, written by the first rotation."""
    return secrets_dir(settings) / "pii-lookup.key"


def retired_dir(settings: Settings) -> Path:
    """Retired PII keys, ``<fingerprint>.key`` each; recoup never deletes them."""
    return secrets_dir(settings) / "pii-retired"


def read_key_file(path: Path, what: str = "PII key") -> bytes:
    """The 32 bytes of a key file (base64 text); ConfigError if it is not one."""
    try:
        raw = base64.b64decode(path.read_text().strip(), validate=True)
    except (OSError, binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} file {path} cannot be read: {exc}", details={"file": str(path)}) from None
    if len(raw) != 32:
        raise ConfigError(
            f"{what} file {path} must hold base64 of 32 bytes, got {len(raw)} bytes",
            details={"file": str(path)},
        )
    return raw


def retired_keys(settings: Settings) -> list[bytes]:
    """The retired PII keys, and the key of a rotation in progress (both only decrypt).

    A retired key file whose content does not match its name is refused (it would be a wrong key)."""
    keys: list[bytes] = []
    directory = retired_dir(settings)
    if directory.is_dir():
        for path in sorted(directory.glob("*.key")):
            key = read_key_file(path, "retired PII key")
            if not _FP.fullmatch(path.stem) or fingerprint(key) != path.stem:
                raise ConfigError(
                    f"retired PII key file {path} does not hold the key its name says (fingerprint "
                    f"{fingerprint(key)}); restore the original file. 已退役密钥文件与其名称不符。",
                    details={"file": str(path), "fingerprint": fingerprint(key)},
                )
            keys.append(key)
    pending = pending_path(settings)
    if pending.exists():
        keys.append(read_key_file(pending, "pending PII key"))
    return keys


def lookup_key(settings: Settings, key: bytes) -> bytes:
    """The lookup key: the configured or stored one; else (never rotated) derived from ``key``.

    Once a key has been retired the lookup key can no longer be derived from the current key: a lost
    lookup key file is then refused rather than silently giving different hashes."""
    stored = settings.pii_lookup_key_bytes()
    if stored is not None:
        return stored
    if retired_dir(settings).is_dir() and any(retired_dir(settings).glob("*.key")):
        raise ConfigError(
            f"the PII lookup key file {lookup_path(settings)} is missing, but the PII key has been "
            "rotated: every lookup hash (opt-outs, consents, payment links) depends on it. Restore the "
            "file or set RECOUP_PII_LOOKUP_KEY. 个人信息查找密钥缺失，请恢复。",
            details={"file": str(lookup_path(settings))},
        )
    return derive_lookup_key(key)


def keyring(settings: Settings) -> PiiCipher:
    """The cipher of this installation: the checked PII key encrypts; it and the retired keys
    decrypt; lookup hashes use the stable lookup key."""
    key = checked_key(settings)
    return PiiCipher(key, retired=retired_keys(settings), lookup_key=lookup_key(settings, key))


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
        pending = pending_path(settings)
        if pending.exists() and fingerprint(read_key_file(pending, "pending PII key")) == recorded:
            raise ConfigError(
                f"a PII key rotation was interrupted after the database switched to the new key "
                f"(fingerprint {recorded}): run `recoup pii rotate-key` again to finish it"
                + (", then set RECOUP_PII_KEY to the new key" if settings.pii_key is not None else "")
                + ". 密钥轮换未完成，请重新运行 recoup pii rotate-key。",
                details={"fingerprint": found, "expected": recorded},
            )
        raise ConfigError(
            f"the PII key (fingerprint {found}) is not the key this database's data was encrypted with "
            f"(fingerprint {recorded}); with it nothing could be decrypted or looked up. Use the original "
            "key. 个人信息密钥与数据不符。",
            details={"fingerprint": found, "expected": recorded},
        )
    return stored
