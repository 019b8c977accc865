"""Rotating the PII encryption key (``recoup pii rotate-key``, issue 17 F15).

Only the *encryption* key rotates. The lookup (blind index) key stays the same forever — lookup
hashes are stored in the database and the lake, match opt-outs and consents, and are part of payment
links already sent — so the first rotation writes it to ``secrets/pii-lookup.key``. Retired keys are
kept in ``secrets/pii-retired/<fingerprint>.key`` and are never deleted by recoup: old lake versions
(the book as of an earlier day) and anything not re-encrypted stay readable through them.

The order of work, holding the ``import`` lock (no import or cycle meanwhile), survives a crash at
any point; running the command again finishes an interrupted rotation:

1. check the current key against the database's fingerprint (another key or a lost key is refused);
2. write the lookup key file (the key derived from the current key) if there is none;
3. retire the current key: ``pii-retired/<old fingerprint>.key`` — before anything is re-encrypted;
4. stage the new key as ``secrets/pii.key.next`` (atomically); from here on every cipher can also
   decrypt with it, and a rerun reuses it instead of generating another;
5. re-encrypt the lake's ``borrowers.national_id_enc`` in one Delta commit, tagged with the latest
   manifest's as-of date (so the next import's pin checks accept it) — rows already under the new
   key are left alone, so a rerun does nothing twice;
6. in ONE database transaction: re-encrypt every outbox ``destination_enc`` and the mirrored
   ``borrower.national_id_enc``, switch ``pii_key_state`` to the new fingerprint, append the ledger
   entry ``pii.key_rotated``;
7. install the new key: ``os.replace(pii.key.next, pii.key)`` (with ``RECOUP_PII_KEY`` set, the
   staged copy is removed instead and the operator sets the variable to the new key).

A crash before 6 leaves the old key in force (new-key tokens in the lake decrypt through the staged
key); a crash between 6 and 7 makes every command refuse with a message to rerun the rotation, which
then only does step 7.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.db import get_engine, session_scope, utcnow, writing
from recoup.errors import ConfigError, ConflictError, PiiError
from recoup.keys.models import PiiKeyState
from recoup.keys.service import (
    STATE_ID,
    _recorded,
    checked_key,
    key_path,
    lookup_key,
    lookup_path,
    pending_path,
    read_key_file,
    retired_dir,
    retired_keys,
)
from recoup.lake import Lake, get_lake, latest_manifest
from recoup.locks import exclusive
from recoup.pii import PiiCipher, derive_lookup_key, fingerprint

#: Commit metadata of the lake commit that re-encrypted a table: the new key's fingerprint.
ROTATION_KEY = "recoup.pii_rotation"


@dataclass
class RotationResult:
    old: str
    new: str
    outbox: int = 0
    borrowers: int = 0
    lake_rows: int = 0
    lake_version: int | None = None
    unreadable: int = 0
    resumed: bool = False
    env_key: bool = False
    notes: list[str] = field(default_factory=list)


# --- files ----------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _b64(key: bytes) -> bytes:
    return base64.b64encode(key)


def _write_once(path: Path, key: bytes, what: str) -> None:
    """Write ``key`` to a new file (0600); an existing file must already hold exactly this key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if read_key_file(path, what) != key:
            raise ConfigError(
                f"{what} file {path} exists and holds another key; recoup does not overwrite it. "
                "密钥文件已存在且内容不同。",
                details={"file": str(path)},
            ) from None
        return
    try:
        os.write(fd, _b64(key))
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)


def _write_atomic(path: Path, key: bytes) -> None:
    """Write ``key`` to ``path`` (0600) through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, _b64(key))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _retire(settings: Settings, key: bytes) -> Path:
    path = retired_dir(settings) / f"{fingerprint(key)}.key"
    _write_once(path, key, "retired PII key")
    return path


def _install(settings: Settings, result: RotationResult) -> None:
    """Step 7: the staged key becomes the PII key (or, with RECOUP_PII_KEY, the operator's job)."""
    pending = pending_path(settings)
    if settings.pii_key is not None:
        pending.unlink(missing_ok=True)
        result.env_key = True
        result.notes.append(
            f"RECOUP_PII_KEY is set: set it now to the new key (fingerprint {result.new}, the content of "
            "the --new-key-file); until then recoup refuses the old one. 请将 RECOUP_PII_KEY 改为新密钥。"
        )
        return
    os.replace(pending, key_path(settings))
    _fsync_dir(key_path(settings).parent)


# --- data -----------------------------------------------------------------------------------------


def _lake_as_of(lake: Lake, session: Session) -> dt.date | None:
    """The as-of date to tag the lake's re-encryption commit with: the latest manifest's. Refused
    while the lake holds a commit no manifest records (an import that crashed before it finished)."""
    from recoup.portfolio.spec import DATASETS

    last = latest_manifest(session=session)
    pins = {k: int(v) for k, v in last.table_versions.items()} if last is not None else {}
    for name in DATASETS:
        for info in lake.commits_after(name, pins.get(name, -1)):
            if ROTATION_KEY not in info:
                raise ConflictError(
                    f"the lake holds {name} version {info.get('version')} (as of "
                    f"{info.get('recoup.as_of', '?')}) that no import finished recording: run that import "
                    "again first, then rotate the key. 有未完成的导入，请先重新运行导入。",
                    details={"dataset": name, "version": info.get("version")},
                )
    return last.as_of if last is not None else None


def _reencrypt_lake(lake: Lake, cipher: PiiCipher, as_of: dt.date | None, result: RotationResult) -> None:
    name = "borrowers"
    lf = lake.scan(name)
    if lf is None:
        return
    rows = (
        lf.select("borrower_id", "national_id_enc").filter(pl.col("national_id_enc").is_not_null()).collect()
    )
    ids, tokens = [], []
    for bid, token in rows.iter_rows():
        if cipher.is_current(token):
            continue
        try:
            tokens.append(cipher.reencrypt(token))
        except PiiError:
            result.unreadable += 1
            continue
        ids.append(bid)
    if not ids:
        return
    if as_of is None:  # not reachable: a borrowers table without a manifest is refused before
        raise ConflictError("the lake has borrowers but no finished import; run the import again first")
    frame = pl.DataFrame(
        {"borrower_id": ids, "national_id_enc": tokens},
        schema={"borrower_id": pl.String, "national_id_enc": pl.String},
    )
    result.lake_version = lake.rewrite_column(
        name,
        frame,
        key=("borrower_id",),
        column="national_id_enc",
        as_of=as_of,
        metadata={ROTATION_KEY: result.new, "recoup.source": "pii rotate-key"},
    )
    result.lake_rows = len(ids)


def _reencrypt_rows(
    session: Session, model: Any, attr: str, cipher: PiiCipher, result: RotationResult
) -> int:
    col = getattr(model, attr)
    changes = []
    for row_id, token in session.execute(select(model.id, col).where(col.is_not(None))):
        if cipher.is_current(token):
            continue
        try:
            changes.append({"id": row_id, attr: cipher.reencrypt(token)})
        except PiiError:
            result.unreadable += 1
    for start in range(0, len(changes), 500):
        session.execute(update(model), changes[start : start + 500])
    return len(changes)


def _switch_database(engine: Engine, settings: Settings, cipher: PiiCipher, result: RotationResult) -> None:
    """Step 6, one transaction."""
    from recoup.contact.models import OutboxMessage
    from recoup.ledger.service import do_append
    from recoup.portfolio.models import Borrower

    with session_scope(engine) as session:
        writing(session)
        state = session.scalars(
            select(PiiKeyState).where(PiiKeyState.id == STATE_ID).with_for_update()
        ).one_or_none()
        if state is None or state.fingerprint != result.old:
            raise ConflictError(
                "the database's PII key fingerprint changed during the rotation; nothing was switched. "
                "密钥指纹在轮换期间被更改。",
                details={"expected": result.old, "found": None if state is None else state.fingerprint},
            )
        result.outbox = _reencrypt_rows(session, OutboxMessage, "destination_enc", cipher, result)
        result.borrowers = _reencrypt_rows(session, Borrower, "national_id_enc", cipher, result)
        state.fingerprint = result.new
        state.recorded_at = utcnow()
        do_append(
            "pii.key_rotated",
            {
                "from": result.old,
                "to": result.new,
                "outbox": result.outbox,
                "borrowers": result.borrowers,
                "lake_version": result.lake_version,
                "unreadable": result.unreadable,
            },
            session=session,
            actor="pii",
            settings=settings,
        )


# --- the command ----------------------------------------------------------------------------------


def rotate_key(
    settings: Settings,
    *,
    new_key: bytes | None = None,
    engine: Engine | None = None,
    lake: Lake | None = None,
) -> RotationResult:
    """Rotate the PII encryption key to ``new_key`` (default: a new random key); see the module doc.

    Holds the ``import`` lock. With ``RECOUP_PII_KEY`` set, ``new_key`` is required (the operator
    then sets the variable to it). Running it again after a crash finishes the interrupted rotation.
    """
    eng = engine or get_engine(settings)
    with exclusive(
        "import",
        data_dir=settings.data_dir,
        bind=eng,
        wait_s=settings.lock_wait_seconds,
        what="PII key rotation",
    ):
        return _rotate(settings, eng, lake or get_lake(settings), new_key)


def _rotate(settings: Settings, engine: Engine, lake: Lake, new_key: bytes | None) -> RotationResult:
    pending_file = pending_path(settings)
    pending = read_key_file(pending_file, "pending PII key") if pending_file.exists() else None
    current = settings.pii_key_bytes(generate=False)
    _has_table, recorded = _recorded(settings)

    if pending is not None and new_key is not None and new_key != pending:
        raise ConfigError(
            f"an interrupted rotation to the key of fingerprint {fingerprint(pending)} is pending "
            f"({pending_file}); run the command again without --new-key-file (or with that key) to "
            "finish it first. 有未完成的密钥轮换。",
            details={"pending": fingerprint(pending)},
        )
    # A crash after the database switched (step 6) and before the key was installed (step 7).
    if (
        pending is not None
        and current is not None
        and recorded == fingerprint(pending)
        and fingerprint(current) != recorded
    ):
        _retire(settings, current)  # written in step 3 already; checked again
        result = RotationResult(old=fingerprint(current), new=recorded, resumed=True)
        _install(settings, result)
        return result
    if (
        pending is not None
        and current is not None
        and pending == current
        and recorded == fingerprint(current)
    ):
        pending_file.unlink()  # a rotation finished through RECOUP_PII_KEY left its staged copy
        return RotationResult(old="", new=recorded, resumed=True, env_key=settings.pii_key is not None)

    if settings.pii_key is not None and new_key is None and pending is None:
        raise ConfigError(
            "RECOUP_PII_KEY is set, so recoup cannot install a new key itself: write a new key (base64 "
            "of 32 random bytes) to a file, run `recoup pii rotate-key --new-key-file FILE`, then set "
            "RECOUP_PII_KEY to that key. "
            "已设置 RECOUP_PII_KEY：请用 --new-key-file 指定新密钥，之后更新该变量。",
            details={"reason": "env_key"},
        )
    old = checked_key(settings)  # step 1: refuses another key, or a lost key file
    new = pending if pending is not None else (new_key if new_key is not None else os.urandom(32))
    if new == old:
        raise ConfigError("the new PII key is the current one; nothing to rotate. 新旧密钥相同。")
    result = RotationResult(old=fingerprint(old), new=fingerprint(new), resumed=pending is not None)

    # Step 2: the lookup key, stable from now on.
    stable_lookup = lookup_key(settings, old)
    if settings.pii_lookup_key is None and not lookup_path(settings).exists():
        _write_once(lookup_path(settings), derive_lookup_key(old), "PII lookup key")
    # Step 3: the old key is kept before anything is re-encrypted.
    _retire(settings, old)
    # Step 4: the new key is staged (a rerun reuses it).
    if pending is None:
        _write_atomic(pending_file, new)
    cipher = PiiCipher(new, retired=[old, *retired_keys(settings)], lookup_key=stable_lookup)
    # Step 5: the lake, one commit.
    with session_scope(engine) as session:
        as_of = _lake_as_of(lake, session)
    _reencrypt_lake(lake, cipher, as_of, result)
    # Step 6: the database, one transaction.
    _switch_database(engine, settings, cipher, result)
    # Step 7: the new key in place.
    _install(settings, result)
    return result
