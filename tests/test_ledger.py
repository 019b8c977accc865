"""The audit ledger: Merkle trees by hand, the hash chain under tampering, checkpoints, proofs, the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from recoup import migrate
from recoup.db import make_engine, session_scope
from recoup.errors import LedgerError, LedgerIntegrityError
from recoup.ledger import merkle
from recoup.ledger import service as ledger
from recoup.ledger.models import GENESIS_HASH, LedgerEntry

PG_URL = os.environ.get("RECOUP_TEST_PG_URL", "")


def L(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def N(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _sha(text_: str) -> str:
    return hashlib.sha256(text_.encode()).hexdigest()


def _fill(session: Session, n: int, *, kind: str = "import.file") -> list[LedgerEntry]:
    return [
        ledger.do_append(kind, {"file_id": i, "sha256": _sha(f"file-{i}")}, session=session, actor="tester")
        for i in range(1, n + 1)
    ]


def _exec(session: Session, sql: str, **params: Any) -> None:
    session.execute(text(sql), params)


def _raw_payload(session: Session, seq: int) -> str:
    return str(
        session.execute(
            text("SELECT CAST(payload AS TEXT) FROM ledger_entry WHERE seq = :s"), {"s": seq}
        ).scalar_one()
    )


def _write_raw_payload(session: Session, seq: int, raw: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        _exec(session, "UPDATE ledger_entry SET payload = CAST(:p AS JSON) WHERE seq = :s", p=raw, s=seq)
    else:
        _exec(session, "UPDATE ledger_entry SET payload = :p WHERE seq = :s", p=raw, s=seq)


def _flip_one_byte(raw: str, needle: str) -> str:
    i = raw.index(needle)
    old = raw[i]
    return raw[:i] + ("0" if old != "0" else "1") + raw[i + 1 :]


def _broken(session: Session, **kw: Any) -> LedgerIntegrityError:
    with pytest.raises(LedgerIntegrityError) as info:
        ledger.verify(session=session, **kw)
    assert info.value.code == "ledger.broken"
    return info.value


# --------------------------------------------------------------------------- Merkle trees


def test_merkle_roots_of_small_trees_by_hand() -> None:
    a, b, c, d, e = (bytes([x]) * 3 for x in b"abcde")
    assert merkle.merkle_root([]) == hashlib.sha256(b"").hexdigest()
    assert merkle.merkle_root([a]) == L(a).hex()
    assert merkle.merkle_root([a, b]) == N(L(a), L(b)).hex()
    assert merkle.merkle_root([a, b, c]) == N(N(L(a), L(b)), L(c)).hex()
    five = N(N(N(L(a), L(b)), N(L(c), L(d))), L(e))
    assert merkle.merkle_root([a, b, c, d, e]) == five.hex()


def test_inclusion_proofs_of_small_trees_by_hand() -> None:
    a, b, c, d, e = (bytes([x]) * 3 for x in b"abcde")
    assert merkle.inclusion_proof([a], 0) == []
    assert merkle.inclusion_proof([a, b], 1) == [L(a).hex()]
    assert merkle.inclusion_proof([a, b, c], 0) == [L(b).hex(), L(c).hex()]
    assert merkle.inclusion_proof([a, b, c], 2) == [N(L(a), L(b)).hex()]
    five = [a, b, c, d, e]
    assert merkle.inclusion_proof(five, 2) == [L(d).hex(), N(L(a), L(b)).hex(), L(e).hex()]
    assert merkle.inclusion_proof(five, 4) == [N(N(L(a), L(b)), N(L(c), L(d))).hex()]
    root = merkle.merkle_root(five)
    assert merkle.verify_inclusion(c, 2, 5, merkle.inclusion_proof(five, 2), root)
    assert merkle.verify_inclusion(a, 0, 1, [], merkle.merkle_root([a]))
    # wrong leaf, index, size, root or a malformed path never verify
    proof = merkle.inclusion_proof(five, 2)
    assert not merkle.verify_inclusion(d, 2, 5, proof, root)
    assert not merkle.verify_inclusion(c, 3, 5, proof, root)
    assert not merkle.verify_inclusion(c, 2, 4, proof, root)  # the path's shape fixes the size
    assert not merkle.verify_inclusion(c, 2, 5, proof, merkle.merkle_root([a]))
    assert not merkle.verify_inclusion(c, 2, 5, [*proof, proof[0]], root)
    assert not merkle.verify_inclusion(c, 2, 5, ["zz"], root)
    assert not merkle.verify_inclusion(c, 7, 5, proof, root)
    with pytest.raises(IndexError):
        merkle.inclusion_proof(five, 5)


@hsettings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True))
def test_every_leaf_proof_verifies_and_no_other_leaf_does(leaves: list[bytes]) -> None:
    n = len(leaves)
    root = merkle.merkle_root(leaves)
    acc = merkle.MerkleAccumulator()
    for i, leaf in enumerate(leaves):
        acc.append(leaf)
        assert acc.root() == merkle.merkle_root(leaves[: i + 1])
        proof = merkle.inclusion_proof(leaves, i)
        assert len(proof) <= math.ceil(math.log2(n))
        assert merkle.verify_inclusion(leaf, i, n, proof, root)
        if n > 1:
            other = (i + 1) % n
            assert not merkle.verify_inclusion(leaves[other], i, n, proof, root)
            assert not merkle.verify_inclusion(leaf, other, n, proof, root)


# --------------------------------------------------------------------------- appending and verifying


def test_entries_chain_from_genesis_and_verify(session: Session) -> None:
    entries = _fill(session, 5)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.entry_hash for earlier, later in itertools.pairwise(entries))
    first = entries[0]
    expected = hashlib.sha256(
        json.dumps(
            {
                "seq": 1,
                "recorded_at": first.recorded_at.isoformat(timespec="microseconds"),
                "kind": "import.file",
                "actor": "tester",
                "payload_sha256": _sha(json.dumps(first.payload, sort_keys=True, separators=(",", ":"))),
                "items_root": None,
                "item_count": 0,
                "prev_hash": GENESIS_HASH,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    assert first.entry_hash == expected
    assert first.recorded_at.utcoffset() == dt.timedelta(0)

    cp = ledger.do_checkpoint(session=session)
    assert (cp.upto_seq, cp.head_hash) == (5, entries[-1].entry_hash)
    assert cp.root == merkle.merkle_root([bytes.fromhex(e.entry_hash) for e in entries])
    assert ledger.do_checkpoint(session=session).id == cp.id  # idempotent at the same head
    exported = ledger.export_checkpoint(cp)
    assert set(exported) == {"upto_seq", "root", "head_hash", "created_at"}
    more = _fill(session, 2, kind="pii.unmask")

    session.expire_all()  # read everything back from the database
    report = ledger.verify(session=session, checkpoints=[exported])
    assert (report.entries, report.checkpoints_checked, report.exported_checked) == (7, 1, 1)
    assert report.head_hash == more[-1].entry_hash
    assert "ledger OK: 7 entries" in report.summary()


def test_empty_ledger_verifies_and_cannot_be_checkpointed(session: Session) -> None:
    report = ledger.verify(session=session)
    assert (report.entries, report.head_hash) == (0, GENESIS_HASH)
    with pytest.raises(LedgerError, match="empty"):
        ledger.do_checkpoint(session=session)


def test_payloads_must_be_plain_json_without_personal_data(session: Session) -> None:
    with pytest.raises(LedgerError, match="never personal data; remove: phone"):
        ledger.do_append(
            "pii.unmask", {"borrower_id": 7, "fields": [{"phone": "13800000000"}]}, session=session
        )
    with pytest.raises(LedgerError, match="plain JSON"):
        ledger.do_append("import.file", {"score": float("nan")}, session=session)
    with pytest.raises(LedgerError, match="plain JSON"):
        ledger.do_append("import.file", {"when": object()}, session=session)
    with pytest.raises(LedgerError, match="kind"):
        ledger.do_append("Import File", {"file_id": 1}, session=session)
    entry = ledger.do_append("config.saved", {"ids": (1, 2), "name": "default"}, session=session)
    assert entry.payload == {"ids": [1, 2], "name": "default"}
    assert ledger.verify(session=session).entries == 1


def test_one_altered_payload_byte_names_the_entry(session: Session) -> None:
    _fill(session, 6)
    raw = _raw_payload(session, 3)
    _write_raw_payload(session, 3, _flip_one_byte(raw, _sha("file-3")))
    err = _broken(session)
    assert err.message == "ledger entry 3 is broken: payload hash does not match"
    assert err.details == {"seq": 3, "reason": "payload_hash"}


def test_altered_metadata_breaks_the_entry_hash(session: Session) -> None:
    _fill(session, 4)
    _exec(session, "UPDATE ledger_entry SET actor = 'someone-else' WHERE seq = 2")
    err = _broken(session)
    assert err.message == "ledger entry 2 is broken: entry hash does not match its content"
    assert err.details == {"seq": 2, "reason": "entry_hash"}


def test_altered_prev_hash_breaks_the_chain(session: Session) -> None:
    _fill(session, 5)
    _exec(session, "UPDATE ledger_entry SET prev_hash = :h WHERE seq = 4", h="ab" * 32)
    err = _broken(session)
    assert err.message == "chain broken at entry 4: prev_hash does not match entry 3"
    assert err.details == {"seq": 4, "reason": "prev_hash"}


def test_deleted_middle_entry_is_named(session: Session) -> None:
    _fill(session, 6)
    _exec(session, "DELETE FROM ledger_entry WHERE seq = 4")
    err = _broken(session)
    assert err.message == "entry 4 is missing (sequence jumps from 3 to 5)"
    assert err.details == {"seq": 4, "reason": "missing"}


def test_deleted_genesis_is_named(session: Session) -> None:
    _fill(session, 3)
    _exec(session, "DELETE FROM ledger_entry WHERE seq = 1")
    assert _broken(session).message == "entry 1 is missing (sequence starts at 2)"


def test_deleted_newest_entries_need_an_exported_checkpoint(session: Session) -> None:
    entries = _fill(session, 8)
    exported = ledger.export_checkpoint(ledger.do_checkpoint(session=session))

    # A careless deletion still leaves the head (and the stored checkpoint) pointing past the end.
    cp_id = session.execute(text("SELECT id FROM ledger_checkpoint")).scalar_one()
    _exec(session, "DELETE FROM ledger_entry WHERE seq > 5")
    err = _broken(session)
    assert (
        err.message
        == f"ledger has 5 entries but stored checkpoint #{cp_id} covers 8: newest entries were deleted"
    )
    assert err.details == {"seq": 6, "reason": "truncated"}

    # A careful one also removes the checkpoints and rewinds the head: the chain alone cannot tell …
    _exec(session, "DELETE FROM ledger_checkpoint")
    err = _broken(session)
    assert err.message == "ledger has 5 entries but its head records 8: newest entries were deleted"
    _exec(session, "UPDATE ledger_head SET seq = 5, entry_hash = :h", h=entries[4].entry_hash)
    report = ledger.verify(session=session)
    assert (report.entries, report.head_hash) == (5, entries[4].entry_hash)

    # … but the checkpoint exported earlier can.
    err = _broken(session, checkpoints=[exported])
    assert err.message == "ledger has 5 entries but exported checkpoint covers 8: newest entries were deleted"
    assert err.details == {"seq": 6, "reason": "truncated"}


def _rewrite_from(session: Session, start: int) -> None:
    """What a capable attacker does: forge entry ``start``, recompute every later hash and the head."""
    prev = GENESIS_HASH if start == 1 else session.get_one(LedgerEntry, start - 1).entry_hash
    later = session.scalars(sa.select(LedgerEntry).where(LedgerEntry.seq >= start).order_by(LedgerEntry.seq))
    for e in list(later):
        payload = {"file_id": 999, "sha256": _sha("forged")} if e.seq == start else e.payload
        p_hash = ledger.payload_hash(payload)
        h = ledger.compute_entry_hash(
            seq=e.seq,
            recorded_at=ledger.iso(e.recorded_at),
            kind=e.kind,
            actor=e.actor,
            payload_sha256=p_hash,
            items_root=e.items_root,
            item_count=e.item_count,
            prev_hash=prev,
        )
        _write_raw_payload(session, e.seq, json.dumps(payload))
        _exec(
            session,
            "UPDATE ledger_entry SET payload_sha256 = :p, prev_hash = :v, entry_hash = :h WHERE seq = :s",
            p=p_hash,
            v=prev,
            h=h,
            s=e.seq,
        )
        prev = h
    _exec(session, "UPDATE ledger_head SET entry_hash = :h", h=prev)


def test_rewritten_history_is_caught_by_checkpoints(session: Session) -> None:
    _fill(session, 9)
    exported = ledger.export_checkpoint(ledger.do_checkpoint(session=session))
    _fill(session, 2)
    _rewrite_from(session, 4)
    session.expire_all()
    err = _broken(session)
    assert err.details == {"seq": 4, "reason": "signature"}  # the forger cannot sign entry 4 again
    # Stripping every signature falls back to the chain and the checkpoints (tests/test_ledger_signing.py
    # shows a published checkpoint closing this too).
    _exec(session, "UPDATE ledger_entry SET signature = NULL, key_id = NULL")
    err = _broken(session)
    assert err.details == {"seq": 9, "reason": "checkpoint"}
    assert "does not match stored checkpoint" in err.message

    _exec(session, "DELETE FROM ledger_checkpoint")
    assert ledger.verify(session=session).entries == 11  # a consistent forgery, as far as the chain goes
    err = _broken(session, checkpoints=[exported])
    assert err.message.startswith("entry 9 does not match exported checkpoint: head hash differs")


def test_exported_checkpoints_are_validated(session: Session, tmp_path: Path) -> None:
    _fill(session, 3)
    cp = ledger.do_checkpoint(session=session)
    path = ledger.write_checkpoint(cp, tmp_path / "cp" / "ledger.json")
    assert ledger.read_checkpoints(path) == [ledger.export_checkpoint(cp)]
    with pytest.raises(LedgerError, match="no valid root"):
        ledger.verify(session=session, checkpoints=[{"upto_seq": 3, "root": "x", "head_hash": cp.head_hash}])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LedgerError, match="cannot read checkpoint file"):
        ledger.read_checkpoints(tmp_path / "bad.json")
    wrong_root = {**ledger.export_checkpoint(cp), "root": "00" * 32}
    err = _broken(session, checkpoints=[wrong_root])
    assert err.details == {"seq": 3, "reason": "checkpoint"}


# --------------------------------------------------------------------------- batches and proofs


def test_batch_entries_prove_their_items(session: Session) -> None:
    ledger.do_append("import.file", {"file_id": 1}, session=session)
    items = [{"loan_id": i, "row_sha256": _sha(f"row-{i}")} for i in range(1, 8)]
    entry = ledger.do_append_batch("import.rows", {"file_id": 1}, items, session=session, actor="importer")
    assert (entry.seq, entry.item_count) == (2, 7)
    assert entry.items_root == merkle.merkle_root([ledger.canonical_json(i) for i in items])
    fields = ledger.entry_fields(entry)
    for index, item in enumerate(items):
        proof = ledger.item_proof(items, index)
        assert ledger.verify_item(item, index, entry, proof)
        assert ledger.verify_item(item, index, fields, proof)
        assert not ledger.verify_item({**item, "loan_id": 99}, index, entry, proof)
        assert not ledger.verify_item(items[(index + 1) % 7], index, entry, proof)
    single = ledger.do_append("import.file", {"file_id": 2}, session=session)
    assert not ledger.verify_item(items[0], 0, single, ledger.item_proof(items, 0))
    with pytest.raises(LedgerError, match="at least one item"):
        ledger.do_append_batch("import.rows", {"file_id": 3}, [], session=session)
    session.expire_all()
    assert ledger.verify(session=session).entries == 3

    _exec(session, "UPDATE ledger_entry SET item_count = 6 WHERE seq = 2")
    assert _broken(session).details == {"seq": 2, "reason": "entry_hash"}


def test_entry_inclusion_proofs_against_checkpoints(session: Session) -> None:
    _fill(session, 9)
    with pytest.raises(LedgerError, match="not covered by a checkpoint"):
        ledger.entry_inclusion_proof(1, session=session)
    cp = ledger.do_checkpoint(session=session)
    exported = ledger.export_checkpoint(cp)
    _fill(session, 3)
    for seq in range(1, 10):
        proof = ledger.entry_inclusion_proof(seq, session=session)
        assert proof["tree_size"] == 9 and proof["entry"]["seq"] == seq
        assert ledger.verify_entry_proof(json.loads(json.dumps(proof)), exported)
    with pytest.raises(LedgerError, match="not covered"):
        ledger.entry_inclusion_proof(11, session=session)

    proof = ledger.entry_inclusion_proof(4, session=session, checkpoint=exported)
    assert ledger.verify_entry_proof(proof)
    forged = json.loads(json.dumps(proof))
    forged["entry"]["payload"]["file_id"] = 5
    assert not ledger.verify_entry_proof(forged)
    other = ledger.export_checkpoint(ledger.do_checkpoint(session=session))
    assert other["upto_seq"] == 12
    assert not ledger.verify_entry_proof(proof, other)
    assert ledger.verify_entry_proof(
        ledger.entry_inclusion_proof(4, session=session, checkpoint=other), other
    )
    assert not ledger.verify_entry_proof({"entry": {}})

    # A proof is refused when the checkpoint no longer matches the ledger.
    _exec(session, "UPDATE ledger_entry SET entry_hash = :h WHERE seq = 2", h="cd" * 32)
    with pytest.raises(LedgerIntegrityError, match="does not match the ledger"):
        ledger.entry_inclusion_proof(4, session=session, checkpoint=exported)


def test_tail_lists_newest_first(session: Session) -> None:
    _fill(session, 5)
    assert [e.seq for e in ledger.list_tail(3, session=session)] == [5, 4, 3]


# --------------------------------------------------------------------------- concurrency


@pytest.fixture(params=["sqlite"] + (["pg"] if PG_URL else []))
def own_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of the test's own (its rows are committed)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'race.db'}")
        migrate.upgrade(eng)
        yield eng
        eng.dispose()
        return
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS ledger_race CASCADE"))
        conn.execute(text("CREATE SCHEMA ledger_race"))
    eng = sa.create_engine(url, connect_args={"options": "-csearch_path=ledger_race"})
    migrate.upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS ledger_race CASCADE"))
        admin.dispose()


def test_concurrent_appends_stay_contiguous(own_engine: Engine) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def writer(w: int) -> None:
        try:
            barrier.wait()
            for i in range(8):
                with session_scope(own_engine) as s:
                    ledger.do_append("test.race", {"writer": w, "i": i}, session=s)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(own_engine) as s:
        report = ledger.verify(session=s)
        seqs = list(s.scalars(sa.select(LedgerEntry.seq).order_by(LedgerEntry.seq)))
    assert report.entries == 32
    assert seqs == list(range(1, 33))


# --------------------------------------------------------------------------- the CLI


def _recoup() -> str:
    exe = Path(sys.executable).parent / "recoup"
    found = str(exe) if exe.exists() else shutil.which("recoup")
    if not found:
        pytest.skip("the recoup command is not installed")
    return found


@pytest.fixture
def cli_db(tmp_path: Path) -> tuple[dict[str, str], Path]:
    db = tmp_path / "cli.db"
    env = {
        **os.environ,
        "RECOUP_DATABASE_URL": f"sqlite:///{db}",
        # The entries appended below are signed with this data dir's key (conftest's RECOUP_DATA_DIR):
        # the CLI must be the same installation to trust them.
        "RECOUP_DATA_DIR": os.environ["RECOUP_DATA_DIR"],
        "COLUMNS": "250",
        "RECOUP_LOCALE": "en",  # the assertions below read the English lines
    }
    done = subprocess.run([_recoup(), "db", "upgrade"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    eng = make_engine(f"sqlite:///{db}")
    with session_scope(eng) as s:
        for i in range(1, 7):
            ledger.do_append(
                "import.file", {"file_id": i, "sha256": _sha(f"file-{i}")}, session=s, actor="cli"
            )
    eng.dispose()
    return env, db


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_recoup(), "ledger", *args], env=env, capture_output=True, text=True, check=False)


def test_cli_verify_names_the_tampered_entry(cli_db: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, db = cli_db
    cp_file = tmp_path / "cp.json"
    done = _run(env, "checkpoint", "--export", str(cp_file))
    assert done.returncode == 0, done.stderr
    assert "checkpoint at entry 6" in done.stdout and cp_file.exists()

    done = _run(env, "verify", "--checkpoint", str(cp_file))
    assert done.returncode == 0, done.stderr
    assert "ledger OK: 6 entries, 1 stored and 1 exported checkpoints match" in done.stdout

    done = _run(env, "prove", "3", "--checkpoint", str(cp_file))
    assert done.returncode == 0, done.stderr
    proof = json.loads(done.stdout)
    assert ledger.verify_entry_proof(proof, ledger.read_checkpoints(cp_file)[0])
    (tmp_path / "proof.json").write_text(done.stdout)
    done = _run(env, "check-proof", str(tmp_path / "proof.json"), "--checkpoint", str(cp_file))
    assert done.returncode == 0 and "proof OK: entry 3" in done.stdout

    done = _run(env, "tail", "-n", "2")
    assert done.returncode == 0, done.stderr
    assert "import.file" in done.stdout

    with sqlite3.connect(db) as conn:
        raw = conn.execute("SELECT payload FROM ledger_entry WHERE seq = 3").fetchone()[0]
        conn.execute(
            "UPDATE ledger_entry SET payload = ? WHERE seq = 3", (_flip_one_byte(raw, _sha("file-3")),)
        )
    done = _run(env, "verify")
    assert done.returncode != 0
    assert "ledger entry 3 is broken: payload hash does not match" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_detects_deleted_newest_entries_only_with_the_export(
    cli_db: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, db = cli_db
    cp_file = tmp_path / "cp.json"
    assert _run(env, "checkpoint", "--export", str(cp_file)).returncode == 0
    with sqlite3.connect(db) as conn:
        head = conn.execute("SELECT entry_hash FROM ledger_entry WHERE seq = 4").fetchone()[0]
        conn.execute("DELETE FROM ledger_entry WHERE seq > 4")
        conn.execute("DELETE FROM ledger_checkpoint")
        conn.execute("UPDATE ledger_head SET seq = 4, entry_hash = ?", (head,))
    done = _run(env, "verify")
    assert done.returncode == 0 and "ledger OK: 4 entries" in done.stdout
    done = _run(env, "verify", "--checkpoint", str(cp_file))
    assert done.returncode != 0
    assert "ledger has 4 entries but exported checkpoint covers 6: newest entries were deleted" in done.stderr
    assert "Traceback" not in done.stderr
