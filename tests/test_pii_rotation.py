"""Rotating the PII encryption key (issue 17 F15): `recoup pii rotate-key`, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from recoup import pii
from recoup.config import Settings, get_settings, load_settings
from recoup.contact.channels.fake import FakeChannel
from recoup.contact.dispatch import run_once
from recoup.contact.models import ContactConsent, OutboxMessage
from recoup.contact.outbox import do_enqueue
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.contact.service import destination_hash, do_record_consent
from recoup.contact.vocab import Channel
from recoup.db import session_scope
from recoup.errors import ConfigError, PiiError
from recoup.keys import rotation
from recoup.keys.models import PiiKeyState
from recoup.keys.service import checked_key, fingerprint
from recoup.lake import book_as_of, get_lake
from recoup.ledger.models import LedgerEntry
from recoup.pii import PiiCipher, cipher_from_settings, derive_lookup_key, key_id

RECOUP = str(Path(sys.executable).parent / "recoup")
SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2030, 3, 4, 10, 0, tzinfo=SH)  # a Monday morning: every channel is open under cn
MOBILE = "13812345678"
EMAIL = "zhang.san@example.com"
ID1, ID2, ID3 = "110101199003071233", "110101198001011234", "11010119700101123X"
BODY = "【示例银行】尊敬的客户：您的借款已逾期，请通过官方App还款。退订回T"


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def setup(
    own_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, dict[str, str]]:
    """Settings (in process) and an environment (for the command) on the test's own database."""
    data = tmp_path / "recoup-data"
    monkeypatch.setenv("RECOUP_DATABASE_URL", _url(own_engine))
    get_settings.cache_clear()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_") or k.startswith("RECOUP_TEST_")}
    env |= {"RECOUP_DATA_DIR": str(data), "RECOUP_DATABASE_URL": _url(own_engine), "COLUMNS": "300"}
    return load_settings(data_dir=data, database_url=_url(own_engine)), env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECOUP, *args], env=env, capture_output=True, text=True, timeout=180)


def _day(root: Path, name: str, rows: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "borrowers.csv").write_text("borrower_id,name,national_id,customer_type\n" + rows, encoding="utf-8")
    return d


def _v1_token(key: bytes, text: str) -> str:
    """A token in the format written before rotation existed (version 1, no key id)."""
    nonce = os.urandom(12)
    raw = b"\x01" + nonce + AESGCM(key).encrypt(nonce, text.encode(), b"\x01")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _enqueue(engine: Engine, settings: Settings, slot: str, channel: Channel, destination: str) -> str:
    with session_scope(engine) as s:
        return do_enqueue(
            session=s,
            as_of=NOW.date(),
            borrower_key="B1",
            debt_key="L1",
            slot=slot,
            channel=channel,
            party="debtor",
            destination=destination,
            destination_kind="email" if channel is Channel.EMAIL else "mobile",
            body=BODY,
            subject="提醒" if channel is Channel.EMAIL else None,
            locale="zh_CN",
            due_at=NOW - dt.timedelta(hours=1),
            settings=settings,
        ).message_id


def _national_ids(settings: Settings, engine: Engine, as_of: dt.date, cipher: PiiCipher) -> dict[str, str]:
    with Session(engine) as s:
        book = book_as_of(as_of, session=s, lake=get_lake(settings))
    frame = book.scan("borrowers").select("borrower_id", "national_id_enc").collect()
    return {b: cipher.decrypt(t) for b, t in frame.iter_rows() if t is not None}


def _version(token: str) -> tuple[int, bytes]:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return raw[0], raw[1:9]


def test_rotate_key_end_to_end(
    setup: tuple[Settings, dict[str, str]], own_engine: Engine, tmp_path: Path
) -> None:
    settings, env = setup
    d1 = _day(tmp_path, "d1", f"C1,张伟,{ID1},个人\nC2,李娜,{ID2},个人\n")
    d2 = _day(tmp_path, "d2", f"C1,张伟,{ID1},个人\nC3,王芳,{ID3},个人\n")
    for d, day in ((d1, "2026-11-20"), (d2, "2026-11-21")):
        p = _run(env, "import", str(d), "--as-of", day)
        assert p.returncode == 0, p.stderr
    secrets = settings.data_dir / "secrets"
    old_key = base64.b64decode((secrets / "pii.key").read_text())
    old_fp = fingerprint(old_key)
    before = cipher_from_settings(settings)
    sms = _enqueue(own_engine, settings, "s", Channel.SMS, MOBILE)
    email = _enqueue(own_engine, settings, "e", Channel.EMAIL, EMAIL)
    with session_scope(own_engine) as s:  # a message written before tokens named their key
        legacy = s.scalars(select(OutboxMessage).where(OutboxMessage.message_id == email)).one()
        legacy.destination_enc = _v1_token(old_key, EMAIL)
        do_record_consent(
            session=s,
            borrower_key="B1",
            channel=Channel.SMS,
            destination=MOBILE,
            granted_at=NOW - dt.timedelta(days=30),
            cipher=before,
        )
    hash_before = destination_hash("+86 138-1234-5678", before)
    link_before = before.lookup_hash("L1|payment-link")

    p = _run(env, "--lang", "en", "pii", "rotate-key", "--yes")
    assert p.returncode == 0, p.stderr
    assert "rotated" in p.stdout and old_fp in p.stdout
    new_key = base64.b64decode((secrets / "pii.key").read_text())
    new_fp = fingerprint(new_key)
    assert new_fp != old_fp and new_fp in p.stdout
    # The files: the old key retired, the lookup key kept, all private; nothing staged is left.
    retired = secrets / "pii-retired" / f"{old_fp}.key"
    assert base64.b64decode(retired.read_text()) == old_key
    assert base64.b64decode((secrets / "pii-lookup.key").read_text()) == derive_lookup_key(old_key)
    for f in (retired, secrets / "pii-lookup.key", secrets / "pii.key"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert not (secrets / "pii.key.next").exists()
    # The database holds the new fingerprint, and the ledger says so (and verifies).
    with Session(own_engine) as s:
        assert s.get(PiiKeyState, 1).fingerprint == new_fp  # type: ignore[union-attr]
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "pii.key_rotated")).one()
        assert entry.payload["from"] == old_fp and entry.payload["to"] == new_fp and entry.actor == "pii"
        assert entry.payload["outbox"] == 2
        tokens = list(s.scalars(select(OutboxMessage.destination_enc)))
    verified = _run(env, "ledger", "verify")
    assert verified.returncode == 0, verified.stderr + verified.stdout

    after = cipher_from_settings(settings)
    assert after.key_id == key_id(new_key)
    assert all(_version(t) == (2, key_id(new_key)) for t in tokens)
    # Lookup hashes do not change: the consent still matches the destination, however it is written.
    hash_after = destination_hash(MOBILE, after)
    assert hash_after == hash_before and after.lookup_hash("L1|payment-link") == link_before
    with Session(own_engine) as s:
        assert s.scalars(select(ContactConsent).where(ContactConsent.destination_hash == hash_after)).one()
        assert {m.destination_hash for m in s.scalars(select(OutboxMessage))} == {
            hash_after,
            destination_hash(EMAIL, after),
        }
    # Queued messages still decrypt and send.
    fake = FakeChannel()
    report = run_once(
        own_engine,
        now=NOW,
        plugins=dict.fromkeys(Channel, fake),
        policy=Policy(resolve("cn")),
        settings=settings,
    )
    assert report.sent == 2, report.counts()
    assert {(m.message_id, m.destination) for m in fake.sent} == {(sms, MOBILE), (email, EMAIL)}
    # The book as of an old day reads through the retired key; the lake's newest rows are re-encrypted.
    assert _national_ids(settings, own_engine, dt.date(2026, 11, 20), after) == {"C1": ID1, "C2": ID2}
    assert _national_ids(settings, own_engine, dt.date(2026, 11, 21), after) == {
        "C1": ID1,
        "C2": ID2,
        "C3": ID3,
    }
    newest = get_lake(settings).scan("borrowers")
    assert newest is not None
    latest = newest.filter(pl.col("national_id_enc").is_not_null()).collect()
    assert latest.height == 3 and all(after.is_current(t) for t in latest.get_column("national_id_enc"))
    with pytest.raises(PiiError):  # the old key alone cannot read them
        PiiCipher(old_key).decrypt(latest.get_column("national_id_enc")[0])
    # New tokens are version 2 under the new key.
    assert _version(after.encrypt("x")) == (2, key_id(new_key))
    # The next import's pin checks accept the rotation's commit, and the new day reads.
    d3 = _day(tmp_path, "d3", f"C1,张伟,{ID1},个人\nC4,赵敏,{ID2},个人\n")
    p = _run(env, "import", str(d3), "--as-of", "2026-11-22")
    assert p.returncode == 0, p.stderr
    assert (
        _national_ids(settings, own_engine, dt.date(2026, 11, 22), cipher_from_settings(settings))["C4"]
        == ID2
    )
    # The old key is refused from now on.
    old_env = env | {"RECOUP_PII_KEY": base64.b64encode(old_key).decode()}
    refused = _run(old_env, "import", str(d3), "--as-of", "2026-11-22")
    assert refused.returncode == 78 and "not the key" in refused.stderr, refused.stderr
    shown = _run(env, "pii", "fingerprint")
    assert shown.returncode == 0 and new_fp in shown.stdout and old_fp in shown.stdout, shown.stdout
    # A second rotation keeps both retired keys and the same lookup key.
    again = _run(env, "pii", "rotate-key", "--yes")
    assert again.returncode == 0, again.stderr
    third = cipher_from_settings(settings)
    assert len(list((secrets / "pii-retired").glob("*.key"))) == 2
    assert destination_hash(MOBILE, third) == hash_before
    assert _national_ids(settings, own_engine, dt.date(2026, 11, 20), third) == {"C1": ID1, "C2": ID2}


def test_a_crash_at_each_step_is_finished_by_running_again(
    setup: tuple[Settings, dict[str, str]],
    own_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, env = setup
    assert (
        _run(
            env, "import", str(_day(tmp_path, "d1", f"C1,张伟,{ID1},个人\n")), "--as-of", "2026-11-20"
        ).returncode
        == 0
    )
    sms = _enqueue(own_engine, settings, "s", Channel.SMS, MOBILE)
    old_key = checked_key(settings)

    # 1. Killed before the database switched: the old key is still in force and everything reads.
    def boom(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    switch, install = rotation._switch_database, rotation._install
    monkeypatch.setattr(rotation, "_switch_database", boom)
    with pytest.raises(KeyboardInterrupt):
        rotation.rotate_key(settings, engine=own_engine)
    pending = settings.data_dir / "secrets" / "pii.key.next"
    staged = base64.b64decode(pending.read_text())
    assert checked_key(settings) == old_key
    mid = cipher_from_settings(settings)
    assert _national_ids(settings, own_engine, dt.date(2026, 11, 20), mid) == {"C1": ID1}
    lake = get_lake(settings).scan("borrowers")
    assert lake is not None
    (token,) = lake.collect().get_column("national_id_enc").to_list()
    assert _version(token) == (2, key_id(staged)) and mid.decrypt(token) == ID1
    # Another key cannot be slipped in while a rotation is pending.
    other = tmp_path / "other.key"
    other.write_text(base64.b64encode(os.urandom(32)).decode())
    p = _run(env, "pii", "rotate-key", "--yes", "--new-key-file", str(other))
    assert p.returncode == 78 and "pending" in p.stderr, p.stderr

    # 2. Killed after the database switched, before the key file was replaced: refused with advice.
    monkeypatch.setattr(rotation, "_switch_database", switch)
    monkeypatch.setattr(rotation, "_install", boom)
    with pytest.raises(KeyboardInterrupt):
        rotation.rotate_key(settings, engine=own_engine)
    with pytest.raises(ConfigError) as info:
        checked_key(settings)
    assert "rotate-key" in info.value.message and "interrupted" in info.value.message
    monkeypatch.setattr(rotation, "_install", install)

    p = _run(env, "--lang", "en", "pii", "rotate-key", "--yes")
    assert p.returncode == 0 and "finished the interrupted rotation" in p.stdout, p.stderr
    assert checked_key(settings) == staged and not pending.exists()
    with Session(own_engine) as s:
        # One rotation, recorded once; the outbox re-encrypted once.
        (entry,) = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "pii.key_rotated"))
        assert entry.payload["to"] == fingerprint(staged)
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.message_id == sms)).one()
    final = cipher_from_settings(settings)
    assert final.decrypt(row.destination_enc) == MOBILE and final.is_current(row.destination_enc)


def test_with_the_key_in_the_environment(setup: tuple[Settings, dict[str, str]], tmp_path: Path) -> None:
    settings, env = setup
    old = base64.b64encode(os.urandom(32)).decode()
    env = env | {"RECOUP_PII_KEY": old}
    assert (
        _run(
            env, "import", str(_day(tmp_path, "d1", f"C1,张伟,{ID1},个人\n")), "--as-of", "2026-11-20"
        ).returncode
        == 0
    )
    p = _run(env, "pii", "rotate-key", "--yes")
    assert p.returncode == 78 and "--new-key-file" in p.stderr and old not in p.stderr + p.stdout, p.stderr
    new = base64.b64encode(os.urandom(32)).decode()
    key_file = tmp_path / "new.key"
    key_file.write_text(new + "\n")
    p = _run(env, "pii", "rotate-key", "--yes", "--new-key-file", str(key_file))
    assert p.returncode == 0 and "RECOUP_PII_KEY" in p.stdout, p.stderr
    assert new not in p.stdout + p.stderr
    assert not (settings.data_dir / "secrets" / "pii.key").exists()  # the variable stays the key's home
    assert _run(env, "pii", "fingerprint").returncode == 1  # configured ≠ recorded until the variable changes
    env |= {"RECOUP_PII_KEY": new}
    p = _run(env, "import", str(_day(tmp_path, "d2", f"C1,张伟,{ID1},个人\n")), "--as-of", "2026-11-21")
    assert p.returncode == 0, p.stderr


def test_cipher_keyring_and_token_versions() -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = PiiCipher(old)
    v1 = _v1_token(old, "张三丰")
    v2 = before.encrypt("13812345678")
    assert _version(v2) == (pii.TOKEN_VERSION, key_id(old)) and pii.TOKEN_VERSION == 2
    assert before.decrypt(v1) == "张三丰"
    ring = PiiCipher(new, retired=[old], lookup_key=derive_lookup_key(old))
    assert ring.decrypt(v1) == "张三丰" and ring.decrypt(v2) == "13812345678"
    assert ring.lookup_hash("13812345678") == before.lookup_hash("+86 138 1234 5678")
    assert not ring.is_current(v2) and ring.is_current(ring.reencrypt(v2))
    with pytest.raises(PiiError):  # the new key alone does not hold the old one
        PiiCipher(new).decrypt(v2)
    with pytest.raises(PiiError):
        PiiCipher(new).decrypt(v1)
    # The key id is authenticated: a token cannot be passed off as another key's.
    raw = bytearray(base64.urlsafe_b64decode(v2 + "=" * (-len(v2) % 4)))
    raw[1:9] = key_id(new)
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(PiiError):
        ring.decrypt(forged)


def test_a_lost_lookup_key_after_rotation_is_refused(
    setup: tuple[Settings, dict[str, str]], own_engine: Engine
) -> None:
    settings, _env = setup
    before = cipher_from_settings(settings)
    old_key = checked_key(settings)
    rotation.rotate_key(settings, engine=own_engine)
    assert cipher_from_settings(settings).lookup_hash(MOBILE) == before.lookup_hash(MOBILE)
    (settings.data_dir / "secrets" / "pii-lookup.key").unlink()
    with pytest.raises(ConfigError) as info:
        cipher_from_settings(settings)
    assert "lookup key" in info.value.message
    # Set explicitly, it is used instead of the file.
    explicit = load_settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        pii_lookup_key=base64.b64encode(derive_lookup_key(old_key)).decode(),
    )
    assert cipher_from_settings(explicit).lookup_hash(MOBILE) == before.lookup_hash(MOBILE)
