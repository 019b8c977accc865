"""Signed ledger entries and signed published checkpoints (issue 17).

The attacker can write to the database (SQL) but cannot read the signing key file. With only the
signed checkpoint published on import days (no exported file), ``ledger verify`` must catch: deleting
the newest entries (also with the head row rewritten to match), an appended entry with correct hashes,
a forged entry replacing the newest one, and a tampered checkpoint file.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings, load_settings
from recoup.db import make_engine, session_scope
from recoup.errors import LedgerIntegrityError, LedgerSignatureError
from recoup.ledger import service as ledger
from recoup.ledger import signing
from recoup.ledger.models import LedgerEntry

RECOUP = str(Path(sys.executable).parent / "recoup")


def _sha(text_: str) -> str:
    return hashlib.sha256(text_.encode()).hexdigest()


def _fill(session: Session, n: int, start: int = 1) -> list[LedgerEntry]:
    return [
        ledger.do_append("import.file", {"file_id": i, "sha256": _sha(f"f{i}")}, session=session, actor="t")
        for i in range(start, start + n)
    ]


def _exec(session: Session, sql: str, **params: Any) -> None:
    session.execute(text(sql), params)


def _published_dir() -> Path:
    path = get_settings().ledger_publish_dir
    assert path is not None
    return path


def _published() -> list[tuple[str, dict[str, Any]]]:
    return ledger.read_published(_published_dir())


def _broken(session: Session, **kw: Any) -> LedgerIntegrityError:
    session.expire_all()
    with pytest.raises(LedgerIntegrityError) as info:
        ledger.verify(session=session, **kw)
    return info.value


def _entry_hash(seq: int, recorded_at: dt.datetime, payload: dict[str, Any], prev: str) -> tuple[str, str]:
    p_hash = ledger.payload_hash(payload)
    return p_hash, ledger.compute_entry_hash(
        seq=seq,
        recorded_at=ledger.iso(recorded_at),
        kind="import.file",
        actor="t",
        payload_sha256=p_hash,
        items_root=None,
        item_count=0,
        prev_hash=prev,
    )


def _forge_append(session: Session, *, signature: str | None = None, key_id: str | None = None) -> int:
    """What the SQL attacker does: append an entry with correct hashes and move the head to it."""
    seq, prev = session.execute(text("SELECT seq, entry_hash FROM ledger_head")).one()
    seq += 1
    when = dt.datetime.now(dt.UTC)
    payload = {"file_id": 666, "sha256": _sha("forged")}
    p_hash, e_hash = _entry_hash(seq, when, payload, prev)
    session.add(
        LedgerEntry(
            seq=seq,
            recorded_at=when,
            kind="import.file",
            actor="t",
            payload=payload,
            payload_sha256=p_hash,
            item_count=0,
            items_root=None,
            prev_hash=prev,
            entry_hash=e_hash,
            signature=signature,
            key_id=key_id,
        )
    )
    session.flush()
    _exec(session, "UPDATE ledger_head SET seq = :s, entry_hash = :h", s=seq, h=e_hash)
    return seq


def _rewrite_newest(session: Session) -> int:
    """Replace the newest entry's payload, recompute its hashes and the head; the old signature stays."""
    entry = session.scalars(sa.select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1)).one()
    payload = {"file_id": 999, "sha256": _sha("replaced")}
    p_hash, e_hash = _entry_hash(entry.seq, entry.recorded_at, payload, entry.prev_hash)
    entry.payload, entry.payload_sha256, entry.entry_hash = payload, p_hash, e_hash
    session.flush()
    _exec(session, "UPDATE ledger_head SET entry_hash = :h", h=e_hash)
    session.expire_all()
    return entry.seq


def _attacker_key() -> signing.SigningKey:
    return signing._key_from_seed(os.urandom(32))


# --------------------------------------------------------------------------- the key


def test_signing_key_is_generated_once_and_separate_from_the_pii_key(settings: Settings) -> None:
    key = signing.load_signing_key(settings)
    key_file, pub_file = signing.key_file_path(settings), signing.public_key_path(settings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert pub_file.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert signing.read_public_key(pub_file).raw == key.public.raw
    assert key.key_id == hashlib.sha256(key.public.raw).hexdigest()[:16]
    assert signing.load_signing_key(settings).key_id == key.key_id  # generated once

    pii = settings.pii_key_bytes()
    pii_file = settings.data_dir / "secrets" / "pii.key"
    assert pii_file != key_file and base64.b64decode(key_file.read_text()) != pii
    # A new PII key (file or setting) leaves the signing key alone, and the other way round.
    pii_file.write_text(base64.b64encode(os.urandom(32)).decode())
    assert signing.load_signing_key(settings).key_id == key.key_id
    other = load_settings(data_dir=settings.data_dir, pii_key=base64.b64encode(os.urandom(32)).decode())
    assert signing.load_signing_key(other).key_id == key.key_id
    seed = base64.b64encode(os.urandom(32)).decode()
    configured = load_settings(data_dir=settings.data_dir, ledger_signing_key=seed)
    assert signing.load_signing_key(configured).key_id != key.key_id
    assert configured.pii_key_bytes() == settings.pii_key_bytes()
    # The public key file is the trust anchor: never overwritten by another key.
    assert signing.read_public_key(pub_file).key_id == key.key_id
    # A raw base64 public key file is accepted too.
    raw = settings.data_dir / "raw.pub"
    raw.write_text(key.public.b64)
    assert signing.read_public_key(raw).key_id == key.key_id


def test_a_bad_signing_key_setting_is_a_config_error(settings: Settings) -> None:
    from recoup.errors import ConfigError

    with pytest.raises(ConfigError, match="RECOUP_LEDGER_SIGNING_KEY"):
        load_settings(data_dir=settings.data_dir, ledger_signing_key="not-base64!")


# --------------------------------------------------------------------------- clean ledger


def test_entries_are_signed_and_a_clean_ledger_verifies_against_its_published_checkpoints(
    session: Session,
) -> None:
    entries = _fill(session, 5)
    key = signing.load_signing_key(get_settings())
    assert all(e.key_id == key.key_id and e.signature and len(e.signature) == 128 for e in entries)
    assert key.public.verify_entry(entries[0].entry_hash, str(entries[0].signature))

    done = ledger.do_publish(session=session)
    assert done.path == _published_dir() / "checkpoint-0000000005.json"
    assert done.latest == _published_dir() / "latest.json"
    data = json.loads(done.path.read_text())
    assert json.loads((_published_dir() / "latest.json").read_text()) == data
    assert set(data) == {
        "upto_seq",
        "root",
        "head_hash",
        "created_at",
        "signed_from",
        "key_id",
        "public_key",
        "signature",
    }
    assert (data["upto_seq"], data["head_hash"], data["signed_from"]) == (5, entries[-1].entry_hash, 1)
    assert data["public_key"] == key.public.b64 and data["key_id"] == key.key_id
    assert ledger.do_publish(session=session).data == data  # idempotent at the same head

    _fill(session, 3, start=6)
    again = ledger.do_publish(session=session)
    assert again.data["upto_seq"] == 8
    session.expire_all()
    report = ledger.verify(session=session, published=_published())
    assert (report.entries, report.published_checked, report.signed, report.unsigned) == (8, 2, 8, 0)
    assert report.published_upto == 8
    assert "2 signed published checkpoints match (latest covers 1..8), 8 entries signed" in report.summary()


def test_older_unsigned_entries_are_reported_not_refused(session: Session) -> None:
    _fill(session, 3)
    _exec(session, "UPDATE ledger_entry SET signature = NULL, key_id = NULL")  # written before 0012
    _fill(session, 2, start=4)
    report = ledger.verify(session=session)
    assert (report.entries, report.signed, report.unsigned, report.signed_from) == (5, 2, 3, 4)
    assert "3 older entries unsigned" in report.summary()
    ledger.do_publish(session=session)
    assert json.loads((_published_dir() / "latest.json").read_text())["signed_from"] == 4
    assert ledger.verify(session=session, published=_published()).unsigned == 3


# --------------------------------------------------------------------------- (a) truncation


def test_deleting_the_newest_entries_is_caught_by_the_published_checkpoint(session: Session) -> None:
    entries = _fill(session, 8)
    ledger.do_publish(session=session)
    # The careful attacker: delete entries 6..8, the stored checkpoints, and rewind the head to match.
    _exec(session, "DELETE FROM ledger_entry WHERE seq > 5")
    _exec(session, "DELETE FROM ledger_checkpoint")
    _exec(session, "UPDATE ledger_head SET seq = 5, entry_hash = :h", h=entries[4].entry_hash)
    assert ledger.verify(session=session).entries == 5  # the database alone cannot tell
    err = _broken(session, published=_published())
    assert err.details == {"seq": 6, "reason": "truncated"}
    assert "ledger has 5 entries but published checkpoint" in err.message
    assert "covers 8: newest entries were deleted" in err.message
    # Publishing over a truncated ledger is refused too (it checks the earlier publications first).
    with pytest.raises(LedgerIntegrityError, match="newest entries were deleted"):
        ledger.do_publish(session=session)


# --------------------------------------------------------------------------- (b) appended forgery


@pytest.mark.parametrize("how", ["unsigned", "garbage", "copied", "attacker_key", "no_signatures_at_all"])
def test_an_appended_entry_with_correct_hashes_is_caught(session: Session, how: str) -> None:
    entries = _fill(session, 5)
    ledger.do_publish(session=session)
    if how == "unsigned":
        seq = _forge_append(session)
    elif how == "garbage":
        seq = _forge_append(session, signature="ab" * 64, key_id=entries[0].key_id)
    elif how == "copied":  # a real signature, of another entry
        seq = _forge_append(session, signature=entries[-1].signature, key_id=entries[-1].key_id)
    elif how == "attacker_key":  # the forger's own key, claiming the real key id
        mine = _attacker_key()
        head = session.execute(text("SELECT entry_hash FROM ledger_head")).scalar_one()
        seq = _forge_append(session, signature="00" * 64, key_id=mine.key_id)
        e_hash = session.get_one(LedgerEntry, seq).entry_hash
        assert head != e_hash
        _exec(
            session,
            "UPDATE ledger_entry SET signature = :s, key_id = :k WHERE seq = :q",
            s=mine.sign_entry(e_hash),
            k=entries[0].key_id,
            q=seq,
        )
    else:  # strip every signature, so that all entries look like old unsigned ones
        _exec(session, "UPDATE ledger_entry SET signature = NULL, key_id = NULL")
        seq = _forge_append(session)
        # Without the published checkpoint, this would pass: that is what publishing closes.
        assert ledger.verify(session=session).entries == 6
    err = _broken(session, published=_published())
    assert err.details["reason"] == "signature"
    assert err.details["seq"] == (1 if how == "no_signatures_at_all" else seq)
    if how != "no_signatures_at_all":
        # Signatures alone catch it too, even before any checkpoint covers it.
        assert _broken(session).details == {"seq": seq, "reason": "signature"}


# --------------------------------------------------------------------------- (c) replaced newest


@pytest.mark.parametrize("published_at_head", [True, False])
def test_a_forged_entry_replacing_the_newest_is_caught(session: Session, published_at_head: bool) -> None:
    _fill(session, 5)
    if not published_at_head:
        ledger.do_publish(session=session)
    _fill(session, 1, start=6)
    if published_at_head:
        ledger.do_publish(session=session)
    _exec(session, "DELETE FROM ledger_checkpoint")
    seq = _rewrite_newest(session)
    assert seq == 6
    err = _broken(session, published=_published())
    assert err.details == {"seq": 6, "reason": "signature"}
    assert "bad signature" in err.message
    # Removing the signature does not help either.
    _exec(session, "UPDATE ledger_entry SET signature = NULL, key_id = NULL WHERE seq = 6")
    assert _broken(session, published=_published()).details == {"seq": 6, "reason": "signature"}


def test_rewritten_unsigned_history_is_caught_by_the_published_root(session: Session) -> None:
    _fill(session, 6)
    ledger.do_publish(session=session)
    # Everything unsigned and entry 6 rewritten: the signed_from rule fires first ...
    _exec(session, "UPDATE ledger_entry SET signature = NULL, key_id = NULL")
    _exec(session, "DELETE FROM ledger_checkpoint")
    _rewrite_newest(session)
    assert _broken(session, published=_published()).details == {"seq": 1, "reason": "signature"}


# --------------------------------------------------------------------------- (d) tampered file


@pytest.mark.parametrize(
    "field",
    ["upto_seq", "root", "head_hash", "created_at", "signed_from", "key_id", "public_key", "signature"],
)
def test_a_tampered_checkpoint_file_is_a_bad_signature(session: Session, field: str) -> None:
    _fill(session, 4)
    done = ledger.do_publish(session=session)
    data = dict(done.data)
    attacker = _attacker_key()
    changed: dict[str, Any] = {
        "upto_seq": 3,
        "root": "00" * 32,
        "head_hash": "11" * 32,
        "created_at": "2020-01-01T00:00:00.000000+00:00",
        "signed_from": None,
        "key_id": attacker.key_id,
        "public_key": attacker.public.b64,
        "signature": "cd" * 64,
    }
    data[field] = changed[field]
    done.path.write_text(json.dumps(data))
    with pytest.raises(LedgerSignatureError) as info:
        ledger.verify(session=session, published=_published())
    assert info.value.code == "ledger.bad_signature"
    assert str(done.path) in info.value.message


def test_a_checkpoint_signed_by_another_key_is_rejected(session: Session) -> None:
    _fill(session, 4)
    done = ledger.do_publish(session=session)
    fields = {k: v for k, v in done.data.items() if k not in {"key_id", "public_key", "signature"}}
    forged = signing.sign_checkpoint({**fields, "upto_seq": 3}, _attacker_key())  # valid, wrong key
    with pytest.raises(LedgerSignatureError, match="not the trusted public key") as info:
        ledger.verify(session=session, published=[forged])
    assert info.value.details["reason"] == "untrusted_key"
    # And the installation's checkpoint is rejected by a verifier trusting only another key.
    other = {_attacker_key().key_id: _attacker_key().public}
    with pytest.raises(LedgerSignatureError):
        ledger.verify(session=session, published=[done.data], public_keys=other)


# --------------------------------------------------------------------------- the CLI


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECOUP, *args], env=env, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def cli_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    db = tmp_path / "cli.db"
    env = {**os.environ, "RECOUP_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "250", "RECOUP_LOCALE": "en"}
    assert _cli(env, "db", "upgrade").returncode == 0
    eng = make_engine(f"sqlite:///{db}")
    with session_scope(eng) as s:
        _fill(s, 6)
    eng.dispose()
    return env, db


def test_cli_publish_and_verify_catch_truncation_and_tampering(
    cli_env: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, db = cli_env
    done = _cli(env, "ledger", "publish")
    assert done.returncode == 0, done.stderr
    pub_dir = _published_dir()
    assert f"ledger checkpoint 6 published to {pub_dir / 'checkpoint-0000000006.json'}" in done.stdout
    done = _cli(env, "ledger", "verify")
    assert done.returncode == 0, done.stderr
    assert "1 signed published checkpoints match (latest covers 1..6), 6 entries signed" in done.stdout

    shipped = tmp_path / "elsewhere"
    shipped.mkdir()
    (shipped / "cp.json").write_bytes((pub_dir / "latest.json").read_bytes())
    pub_copy = tmp_path / "signing.pub"
    pub_copy.write_bytes(signing.public_key_path(get_settings()).read_bytes())

    import sqlite3

    with sqlite3.connect(db) as conn:
        head = conn.execute("SELECT entry_hash FROM ledger_entry WHERE seq = 4").fetchone()[0]
        conn.execute("DELETE FROM ledger_entry WHERE seq > 4")
        conn.execute("DELETE FROM ledger_checkpoint")
        conn.execute("UPDATE ledger_head SET seq = 4, entry_hash = ?", (head,))
    for args in ([], ["--published", str(shipped / "cp.json"), "--public-key", str(pub_copy)]):
        done = _cli(env, "ledger", "verify", *args)
        assert done.returncode != 0
        assert "covers 6: newest entries were deleted" in done.stderr
        assert "Traceback" not in done.stderr

    data = json.loads((shipped / "cp.json").read_text())
    data["upto_seq"] = 4
    (shipped / "cp.json").write_text(json.dumps(data))
    done = _cli(env, "ledger", "verify", "--published", str(shipped))
    assert done.returncode != 0 and "[ledger.bad_signature]" in done.stderr


BORROWERS = "borrower_id,name,national_id,customer_type\nC1,张伟,110101199003071234,个人\n"
LOANS = (
    "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
    "disbursement_date,status\n"
    'L1,C1,CASH3,现金贷,等额本息,"3,000.00",18%,3,2026-08-01,正常\n'
)


def test_import_publishes_after_commit_and_a_failed_publish_only_warns(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RECOUP_DATABASE_URL", None)
    day = tmp_path / "day1"
    day.mkdir()
    (day / "borrowers.csv").write_text(BORROWERS)
    (day / "loans.csv").write_text(LOANS)
    done = _cli(env, "import", str(day), "--as-of", "2026-11-20")
    assert done.returncode == 0, done.stderr
    latest = _published_dir() / "latest.json"
    assert latest.exists()
    upto = json.loads(latest.read_text())["upto_seq"]
    assert upto >= 1
    assert f"ledger checkpoint {upto} published to" in done.stdout and "已发布账本检查点" in done.stdout

    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    (day / "loans.csv").write_text(LOANS.replace("3,000.00", "4,000.00"))
    done = _cli(
        env | {"RECOUP_LEDGER_PUBLISH_DIR": str(blocked)}, "import", str(day), "--as-of", "2026-11-21"
    )
    assert done.returncode == 0, done.stderr
    assert "the import committed, but publishing the ledger checkpoint failed" in done.stderr
    assert "Traceback" not in done.stderr
    # The next publication covers the entries the failed one missed.
    done = _cli(env, "ledger", "publish")
    assert done.returncode == 0, done.stderr
    assert json.loads(latest.read_text())["upto_seq"] > upto


def test_all_signatures_audits_entries_a_published_checkpoint_covers(session: Session) -> None:
    entries = _fill(session, 5)
    ledger.do_publish(session=session)
    # Junk in the signature column of an entry whose hash the signed root already authenticates.
    _exec(session, "UPDATE ledger_entry SET signature = :s WHERE seq = 2", s="ab" * 64)
    report = ledger.verify(session=session, published=_published())  # fast: crypto only after 1..5
    assert report.entries == 5 and entries[1].entry_hash
    err = _broken(session, published=_published(), all_signatures=True)
    assert err.details == {"seq": 2, "reason": "signature"}
    assert _broken(session).details == {"seq": 2, "reason": "signature"}  # no checkpoint: full check
