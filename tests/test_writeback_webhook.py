"""Write-back webhooks go through the outbox and the one dispatcher (no contact policy, no contact
attempt), signed with HMAC-SHA256 and checked by a real local HTTP server; a 503 is retried with the
dispatcher's backoff. And ``recoup writeback`` from the command line: JSON output, coded errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from recoup import cli
from recoup.auth import service as auth
from recoup.config import Settings, load_settings
from recoup.contact.dispatch import run_once
from recoup.contact.models import ContactAttempt, OutboxMessage
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.db import get_engine, session_scope, upgraded_session
from recoup.errors import EXIT_STATUSES
from recoup.lake import Lake
from recoup.writeback.emit import do_freeze
from recoup.writeback.models import WritebackInstruction
from recoup.writeback.reconcile import do_reconcile

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SECRET = "s3cret-for-the-core-system-0123456789"


class CoreEndpoint:
    """The core system's write-back endpoint on 127.0.0.1: verifies each signature, answers with the
    queued status codes (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.codes: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-Recoup-Timestamp"]
                expected = (
                    "sha256="
                    + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                )
                outer.received.append(
                    {
                        "valid": hmac.compare_digest(expected, self.headers.get("X-Recoup-Signature", "")),
                        "key": self.headers.get("Idempotency-Key"),
                        "body": json.loads(body),
                    }
                )
                code = outer.codes.pop(0) if outer.codes else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/writeback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def endpoint() -> Iterator[CoreEndpoint]:
    ep = CoreEndpoint()
    ep.thread.start()
    try:
        yield ep
    finally:
        ep.server.shutdown()
        ep.server.server_close()
        ep.thread.join(5)


def _settings(tmp_path: Path, url: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "recoup-data", writeback_webhook_url=url, writeback_webhook_secret=SECRET
    )


def _dispatch(engine: Engine, settings: Settings, now: dt.datetime) -> dict[str, int]:
    report = run_once(engine, now=now, plugins={}, policy=Policy(resolve("cn")), settings=settings)
    return report.counts()


def test_the_webhook_is_signed_sent_after_commit_and_retried(
    own_engine: Engine, tmp_path: Path, endpoint: CoreEndpoint
) -> None:
    s = _settings(tmp_path, endpoint.url)
    with session_scope(own_engine) as session:
        row = do_freeze(
            "L9", session=session, start=dt.date(2026, 11, 20), reason="hardship", actor="ops", settings=s
        )
        iid = row.instruction_id
        assert row.outbox_message_id == iid
        assert endpoint.received == []  # nothing leaves before the commit
    endpoint.codes = [503]
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)  # the post is due when it was planned
    first = _dispatch(own_engine, s, now)
    assert (first["claimed"], first["retried"], first["sent"]) == (1, 1, 0)
    second = _dispatch(own_engine, s, now + dt.timedelta(hours=7))  # past the backoff
    assert second["sent"] == 1
    assert [r["key"] for r in endpoint.received] == [iid, iid]  # the same idempotency key on the resend
    assert all(r["valid"] for r in endpoint.received)
    body = endpoint.received[-1]["body"]
    assert (body["instruction_id"], body["kind"], body["loan_id"]) == (iid, "interest_freeze", "L9")
    assert body["payload"]["from"] == "2026-11-20"
    with Session(own_engine) as session:
        msg = session.scalars(select(OutboxMessage).where(OutboxMessage.message_id == iid)).one()
        assert (msg.status, msg.tries, msg.party) == ("sent", 2, "system")
        assert session.scalar(select(func.count()).select_from(ContactAttempt)) == 0  # not a contact
    # Delivered by webhook (no day's file yet): reconciliation counts it as sent, on the delivery day.
    with session_scope(own_engine) as session:
        rep = do_reconcile(now.date(), session=session, lake=Lake(str(tmp_path / "lake")), settings=s)
        assert rep.pending == [iid]
        row = session.scalars(select(WritebackInstruction)).one()
        assert (row.status, row.sent_on) == ("sent", (now + dt.timedelta(hours=7)).astimezone(s.tz).date())


def test_a_wrong_secret_fails_verification_and_a_4xx_is_final(
    own_engine: Engine, tmp_path: Path, endpoint: CoreEndpoint
) -> None:
    s = load_settings(
        data_dir=tmp_path / "recoup-data",
        writeback_webhook_url=endpoint.url,
        writeback_webhook_secret="x" * 40,
    )
    with session_scope(own_engine) as session:
        do_freeze(
            "L8", session=session, start=dt.date(2026, 11, 20), reason="hardship", actor="ops", settings=s
        )
    endpoint.codes = [401]
    assert _dispatch(own_engine, s, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))["failed"] == 1
    assert [r["valid"] for r in endpoint.received] == [False]


@pytest.fixture
def manager() -> Iterator[None]:
    with upgraded_session() as session:
        auth.do_ensure_default_roles(session=session)
        auth.do_create_user("mona", "correct horse battery", roles=["manager"], session=session)
        auth.do_create_user("carl", "correct horse battery", roles=["collector"], session=session)
    yield
    get_engine().dispose()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = cli.run(["writeback", *argv])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else None


def test_cli_json_and_errors(manager: None, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = _run(
        capsys,
        "receipt",
        "L7",
        "--amount",
        "1,200.50",
        "--received",
        "2026-11-20",
        "--ref",
        "V-1",
        "--reason",
        "cash at a visit",
        "--by",
        "mona",
        "--json",
    )
    assert code == 0
    iid = out["instruction"]["instruction_id"]
    assert out["instruction"]["amount"] == "1200.50" and out["instruction"]["status"] == "pending"
    code, out = _run(capsys, "list", "--json")
    assert [r["instruction_id"] for r in out["instructions"]] == [iid]
    code, out = _run(
        capsys, "export", "--date", out["instructions"][0]["business_date"], "--out", str(tmp_path), "--json"
    )
    assert code == 0 and out["export"]["newly_sent"] == 1 and Path(out["export"]["csv"]).exists()
    ack = tmp_path / "ack.csv"
    ack.write_text(f"id,status,reason\n{iid},rejected,unknown voucher\n")
    code, out = _run(capsys, "ack", str(ack), "--json")
    assert (code, out["ack"]["rejected"]) == (0, [iid])
    xlsx = tmp_path / "ex.xlsx"
    code, out = _run(capsys, "exceptions", "--json", "--xlsx", str(xlsx))
    assert code == 0 and [r["reason"] for r in out["exceptions"]] == ["unknown voucher"] and xlsx.exists()

    # A bad date: the usage status and the one error envelope, never a traceback.
    code, out = _run(capsys, "export", "--date", "2026/11/20", "--json")
    assert code == 64 and EXIT_STATUSES[code][0] == "EX_USAGE"
    assert out["error"]["code"] == "usage" and out["error"]["details"]["option"] == "--date"
    code, out = _run(
        capsys, "freeze", "L7", "--from", "2026-11-20", "--reason", "x", "--by", "carl", "--json"
    )
    assert code == 77 and out["error"]["code"] == "legal.cli_forbidden"
    code, out = _run(capsys, "list", "--status", "lost", "--json")
    assert code == 65 and out["error"]["code"] == "writeback.invalid"
