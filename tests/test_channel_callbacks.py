"""Provider callbacks through real HTTP requests (TestClient) on SQLite and PostgreSQL: signed receipts
update the outbox, the same event twice is applied once, bad or stale signatures are refused, and a
STOP / 退订 reply revokes consent so that the contact policy then blocks that number."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.contact.callbacks import MAX_BODY_BYTES, do_handle_callback, sign
from recoup.contact.channels.fake import FakeChannel
from recoup.contact.channels.registry import channels_path, load_channels
from recoup.contact.models import ChannelCallback, ContactConsent, OutboxMessage
from recoup.contact.outbox import do_enqueue
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import Proposal, Verdict
from recoup.contact.policy.presets import resolve
from recoup.contact.service import check_attempt, destination_hash, do_record_consent
from recoup.contact.views import router
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.db import session_scope, utcnow
from recoup.ledger.models import LedgerEntry
from recoup.pii import cipher_from_settings
from recoup.web.app import API, create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SECRET = "sms-callback-secret-0123456789"
VOICE_SECRET = "voice-callback-secret-9876543210"
MOBILE = "13812345678"
OTHER_MOBILE = "13987654321"
BODY = "【示例银行】尊敬的客户：您的借款已逾期，请通过官方App还款。退订回T"
URL = f"{API}/channels/{{channel}}/callbacks"


@pytest.fixture
def cb_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """SMS through the fake plugin with a secret, robot calls through the webhook plugin with the secret
    in the environment, e-mail without a secret (no callbacks)."""
    path = channels_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""
[sms]
plugin = "fake"
callback_secret = "{SECRET}"

[robot_call]
plugin = "webhook"
url = "https://voice.example.com/v1/calls"
callback_secret_env = "VOICE_CALLBACK_SECRET"

[email]
plugin = "fake"
""",
        "utf-8",
    )
    monkeypatch.setenv("VOICE_CALLBACK_SECRET", VOICE_SECRET)
    return settings


@contextmanager
def callback_client(session: Session, settings: Settings) -> Iterator[TestClient]:
    """A TestClient on the app with the channels router, every request a savepoint of ``session``."""

    @contextmanager
    def factory() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    app = create_app(settings, session_factory=factory)
    if not any(getattr(r, "path", "") == URL for r in app.routes):  # until the app mounts it itself
        app.include_router(router, prefix=API)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(session: Session, cb_settings: Settings) -> Iterator[TestClient]:
    with callback_client(session, cb_settings) as c:
        yield c


def post(
    client: TestClient,
    payload: dict[str, Any] | None = None,
    *,
    channel: str = "sms",
    secret: str = SECRET,
    ts: int | None = None,
    raw: bytes | None = None,
    signed_body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    stamp = int(time.time()) if ts is None else ts
    sent = {
        "Content-Type": "application/json",
        "X-Recoup-Timestamp": str(stamp),
        "X-Recoup-Signature": sign(secret, stamp, signed_body if signed_body is not None else body),
        **(headers or {}),
    }
    return client.post(URL.format(channel=channel), content=body, headers=sent)


def sent_message(
    session: Session,
    settings: Settings,
    *,
    borrower: str = "CB1",
    channel: Channel = Channel.SMS,
    destination: str = MOBILE,
    slot: str = "d1",
    provider_ref: str | None = None,
) -> OutboxMessage:
    """An outbox message the dispatcher has sent."""
    row = do_enqueue(
        session=session,
        as_of=dt.date(2030, 3, 4),
        borrower_key=borrower,
        debt_key=f"L-{borrower}",
        slot=slot,
        channel=channel,
        party="debtor",
        destination=destination,
        destination_kind="mobile",
        body=BODY,
        due_at=utcnow() - dt.timedelta(hours=1),
        plugin="fake",
        settings=settings,
    )
    row.status = "sent"
    row.sent_at = utcnow() - dt.timedelta(minutes=30)
    row.provider_ref = provider_ref
    session.flush()
    return row


def callbacks_of(session: Session, channel: str = "sms") -> list[ChannelCallback]:
    return list(
        session.scalars(
            select(ChannelCallback).where(ChannelCallback.channel == channel).order_by(ChannelCallback.id)
        )
    )


def verdict_for(session: Session, settings: Settings, borrower: str, destination: str) -> Verdict:
    """The contact policy's send-time check of an SMS to ``destination`` a minute from now."""
    at = utcnow() + dt.timedelta(minutes=1)
    return check_attempt(
        Policy(resolve("cn")),
        session=session,
        borrower_key=borrower,
        proposal=Proposal(
            id="probe",
            at=at,
            channel=Channel.SMS,
            party=Party.DEBTOR,
            destination=destination,
            destination_kind=DestinationKind.MOBILE,
            debt_id=f"L-{borrower}",
            content=BODY,
        ),
        cipher=cipher_from_settings(settings),
    )


def assert_error(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert set(r.json()["error"]) == {"code", "message", "details"}


# --------------------------------------------------------------------------------------------- receipts


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"message_id":"m1","status":"delivered"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, body) == f"sha256={expected}"


def test_a_signed_receipt_updates_its_message(
    session: Session, cb_settings: Settings, client: TestClient
) -> None:
    msg = sent_message(session, cb_settings)
    r = post(client, {"message_id": msg.message_id, "status": "delivered"})
    assert r.status_code == 200 and r.json() == {"status": "applied"}
    session.refresh(msg)
    assert msg.delivered is True
    (cb,) = callbacks_of(session)
    assert (cb.kind, cb.result, cb.message_id) == ("receipt", "delivered", msg.message_id)
    assert cb.provider_id == f"receipt:{msg.message_id}::delivered"
    assert len(cb.body_sha256) == 64 and cb.received_at.tzinfo is not None

    # A later status of the same message is another event.
    r = post(client, {"message_id": msg.message_id, "status": "failed"})
    assert r.json() == {"status": "applied"}
    session.refresh(msg)
    assert msg.delivered is False and len(callbacks_of(session)) == 2


def test_a_receipt_by_provider_reference_through_the_webhook_plugin(
    session: Session, cb_settings: Settings, client: TestClient
) -> None:
    """The webhook plugin's configuration (which forbids unknown keys) is built without the callback
    keys, and its secret comes from the environment variable named in the channels file."""
    call = sent_message(session, cb_settings, channel=Channel.ROBOT_CALL, slot="call", provider_ref="vc-9")
    sms = sent_message(session, cb_settings, slot="sms", provider_ref="vc-9")  # same ref, other channel
    r = post(client, {"id": "vc-9", "status": "no_answer"}, channel="robot_call", secret=VOICE_SECRET)
    assert r.json() == {"status": "applied"}, r.text
    session.refresh(call)
    session.refresh(sms)
    assert call.delivered is False and sms.delivered is None  # only the callback's channel
    r = post(client, {"id": "vc-9", "status": "no_answer"}, channel="robot_call")  # the sms secret
    assert_error(r, 401, "callback.bad_signature")


def test_a_receipt_for_no_message_of_ours_is_recorded_and_ignored(
    session: Session, client: TestClient
) -> None:
    r = post(client, {"message_id": "not-ours", "status": "delivered"})
    assert r.status_code == 200 and r.json() == {"status": "ignored"}
    (cb,) = callbacks_of(session)
    assert (cb.kind, cb.result, cb.message_id) == ("receipt", "unmatched", None)


def test_the_same_event_twice_is_applied_once(
    session: Session, cb_settings: Settings, client: TestClient
) -> None:
    msg = sent_message(session, cb_settings)
    payload = {"message_id": msg.message_id, "status": "delivered"}
    assert post(client, payload).json() == {"status": "applied"}
    msg.delivered = None  # had the second arrival been applied again, it would set this once more
    session.flush()
    r = post(client, payload)
    assert r.status_code == 200 and r.json() == {"status": "duplicate"}
    session.refresh(msg)
    assert msg.delivered is None and len(callbacks_of(session)) == 1

    # A provider event id decides when the provider sends one, whatever else the body says.
    first = {"event_id": "evt-1", "message_id": msg.message_id, "status": "delivered"}
    again = {"event_id": "evt-1", "message_id": msg.message_id, "status": "failed", "at": "2030-03-04"}
    assert post(client, first).json() == {"status": "applied"}
    assert post(client, again).json() == {"status": "duplicate"}
    session.refresh(msg)
    assert msg.delivered is True
    assert [c.provider_id for c in callbacks_of(session)][-1] == "event:evt-1"


# ----------------------------------------------------------------------------------- authentication


def test_a_bad_signature_is_refused_and_changes_nothing(
    session: Session, cb_settings: Settings, client: TestClient
) -> None:
    msg = sent_message(session, cb_settings)
    payload = {"message_id": msg.message_id, "status": "delivered"}
    body = json.dumps(payload).encode()
    assert_error(post(client, payload, secret="another-secret-0123456789"), 401, "callback.bad_signature")
    tampered = body.replace(b"delivered", b"failed\x20\x20")
    assert_error(post(client, raw=tampered, signed_body=body), 401, "callback.bad_signature")
    assert_error(
        post(client, payload, headers={"X-Recoup-Signature": "sha256=00"}), 401, "callback.bad_signature"
    )
    r = client.post(URL.format(channel="sms"), content=body, headers={"Content-Type": "application/json"})
    assert_error(r, 401, "callback.bad_signature")
    assert_error(post(client, payload, headers={"X-Recoup-Timestamp": "soon"}), 401, "callback.bad_signature")
    session.refresh(msg)
    assert msg.delivered is None and callbacks_of(session) == []


@pytest.mark.parametrize("offset", [-302, 330, -3600])  # a future one with room for a slow request
def test_a_stale_timestamp_is_refused(
    session: Session, cb_settings: Settings, client: TestClient, offset: int
) -> None:
    msg = sent_message(session, cb_settings)
    r = post(client, {"message_id": msg.message_id, "status": "delivered"}, ts=int(time.time()) + offset)
    assert_error(r, 401, "callback.stale_timestamp")
    assert r.json()["error"]["details"]["tolerance_seconds"] == 300
    session.refresh(msg)
    assert msg.delivered is None and callbacks_of(session) == []
    # Within the window it goes through.
    r = post(client, {"message_id": msg.message_id, "status": "delivered"}, ts=int(time.time()) - 240)
    assert r.json() == {"status": "applied"}


def test_unknown_channels_and_channels_without_a_secret_are_404(client: TestClient) -> None:
    assert_error(post(client, {"a": 1}, channel="pigeon"), 404, "callback.unknown_channel")
    assert_error(post(client, {"a": 1}, channel="email"), 404, "callback.not_configured")
    assert_error(post(client, {"a": 1}, channel="letter"), 404, "callback.not_configured")


def test_a_rotated_secret_list_accepts_both(
    session: Session, cb_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = channels_path(cb_settings)
    path.write_text(
        f'[sms]\nplugin = "fake"\ncallback_secret = ["{SECRET}", "the-new-secret-0123456789"]\n', "utf-8"
    )
    with callback_client(session, cb_settings) as c:
        assert post(c, {"x": 1}).json() == {"status": "ignored"}
        assert post(c, {"x": 2}, secret="the-new-secret-0123456789").json() == {"status": "ignored"}
        assert_error(post(c, {"x": 3}, secret="stale-secret-0123456789"), 401, "callback.bad_signature")
    path.write_text('[sms]\nplugin = "fake"\ncallback_secret = "short"\n', "utf-8")
    with callback_client(session, cb_settings) as c:
        r = post(c, {"x": 1}, secret="short")
        assert_error(r, 500, "channel.config")
        assert "callback_secret" not in r.text and str(path) not in r.text  # the detail is in the log
    # A plugin configuration the plugin refuses (the webhook needs a url): 500 once authenticated.
    path.write_text(f'[sms]\nplugin = "webhook"\ncallback_secret = "{SECRET}"\n', "utf-8")
    with callback_client(session, cb_settings) as c:
        assert_error(post(c, {"x": 1}, secret="not-the-secret-0123456789"), 401, "callback.bad_signature")
        assert_error(post(c, {"x": 1}), 500, "channel.config")


def test_too_large_and_malformed_bodies(client: TestClient) -> None:
    big = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert_error(post(client, raw=big), 413, "callback.too_large")
    assert_error(post(client, raw=b"not json"), 422, "callback.bad_payload")
    assert_error(post(client, raw=b"[1, 2]"), 422, "callback.bad_payload")
    assert_error(post(client, raw=b"\xff\xfe"), 422, "callback.bad_payload")
    r = post(client, {"from": MOBILE, "text": "STOP", "channel": "pigeon"})  # the fake plugin raises
    assert_error(r, 422, "callback.bad_payload")
    assert r.json()["error"]["details"] == {"reason": "plugin", "plugin": "fake"}


def test_a_form_encoded_callback_is_read_like_json(
    session: Session, cb_settings: Settings, client: TestClient
) -> None:
    msg = sent_message(session, cb_settings)
    body = f"message_id={msg.message_id}&status=delivered".encode()
    r = post(client, raw=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.json() == {"status": "applied"}
    session.refresh(msg)
    assert msg.delivered is True


# ------------------------------------------------------------------------------------------ opt-outs


@pytest.mark.parametrize("text", ["STOP", "退订", " 退订！", "td"])
def test_an_opt_out_reply_revokes_consent_and_the_policy_then_blocks(
    session: Session,
    cb_settings: Settings,
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    text: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    cipher = cipher_from_settings(cb_settings)
    msg = sent_message(session, cb_settings)
    sent_message(session, cb_settings, borrower="CB2", slot="cb2")  # the same number for another borrower
    sent_message(session, cb_settings, destination=OTHER_MOBILE, slot="other")  # CB1's other number
    given = do_record_consent(
        session=session,
        borrower_key="CB1",
        channel=Channel.SMS,
        destination=MOBILE,
        granted_at=utcnow() - dt.timedelta(days=30),
        cipher=cipher,
    )
    before = verdict_for(session, cb_settings, "CB1", MOBILE)
    assert "CONSENT-REVOKED" not in before.rules

    r = post(client, {"from": "+86 138-1234-5678", "text": text, "in_reply_to": msg.message_id})
    assert r.status_code == 200 and r.json() == {"status": "applied"}

    for borrower in ("CB1", "CB2"):
        after = verdict_for(session, cb_settings, borrower, MOBILE)
        assert after.verdict == "blocked" and "CONSENT-REVOKED" in after.rules, (borrower, after)
    assert "CONSENT-REVOKED" not in verdict_for(session, cb_settings, "CB1", OTHER_MOBILE).rules
    session.refresh(given)
    assert given.revoked_at is not None and given.revoked_recorded_at is not None
    (cb,) = callbacks_of(session)
    assert (cb.kind, cb.result, cb.message_id) == ("inbound", "opt_out", msg.message_id)

    # The audit ledger: ids and hashes, never the number.
    entry = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.kind == "contact.opt_out_reply")
        .order_by(LedgerEntry.seq.desc())
    ).first()
    assert entry is not None
    assert entry.payload["borrowers"] == ["CB1", "CB2"]
    assert entry.payload["callback_id"] == cb.id
    assert entry.payload["destination_hash"] == destination_hash(MOBILE, cipher)
    assert entry.payload["consents_ended"] == [given.id]
    dumped = json.dumps(entry.payload, ensure_ascii=False)
    assert MOBILE not in dumped and "138-1234" not in dumped and "138****5678" not in dumped
    # No log line carries the number.
    assert not [
        rec for rec in caplog.records if "12345678" in rec.getMessage() or "1234-5678" in rec.getMessage()
    ]

    # The same reply again: 200, applied once.
    again = post(client, {"from": "+86 138-1234-5678", "text": text, "in_reply_to": msg.message_id})
    assert again.json() == {"status": "duplicate"}
    n = session.scalar(
        select(func.count()).select_from(ContactConsent).where(ContactConsent.borrower_key == "CB1")
    )
    assert n == 2  # the consent given, and one revocation record


def test_an_opt_out_email_reply_through_the_fake_plugin_acts_on_the_paths_channel(
    session: Session, cb_settings: Settings, client: TestClient
) -> None:
    """The fake plugin defaults a reply's channel to sms; the callback acts on the path's channel."""
    sent_message(session, cb_settings, channel=Channel.ROBOT_CALL, slot="call")
    r = post(
        client,
        {"from": MOBILE, "text": "STOP", "id": "in-1", "channel": "sms"},
        channel="robot_call",
        secret=VOICE_SECRET,
    )
    assert r.json() == {"status": "applied"}
    rows = list(session.scalars(select(ContactConsent).where(ContactConsent.borrower_key == "CB1")))
    assert [c.channel for c in rows] == ["robot_call"]
    assert callbacks_of(session, "robot_call")[0].provider_id == "inbound:in-1"
    assert "CONSENT-REVOKED" not in verdict_for(session, cb_settings, "CB1", MOBILE).rules  # sms untouched


def test_a_reply_that_is_not_an_opt_out_is_recorded_and_ignored(
    session: Session, cb_settings: Settings, client: TestClient
) -> None:
    sent_message(session, cb_settings)
    r = post(client, {"from": MOBILE, "text": "我下周一还款，谢谢"})
    assert r.status_code == 200 and r.json() == {"status": "ignored"}
    (cb,) = callbacks_of(session)
    assert (cb.kind, cb.result) == ("inbound", "reply")
    assert session.scalar(select(func.count()).select_from(ContactConsent)) == 0
    assert "CONSENT-REVOKED" not in verdict_for(session, cb_settings, "CB1", MOBILE).rules


def test_an_opt_out_from_a_number_we_never_texted_is_recorded_and_ignored(
    session: Session, client: TestClient
) -> None:
    r = post(client, {"from": OTHER_MOBILE, "text": "退订"})
    assert r.json() == {"status": "ignored"}
    (cb,) = callbacks_of(session)
    assert (cb.kind, cb.result) == ("inbound", "opt_out_unmatched")
    assert session.scalar(select(func.count()).select_from(ContactConsent)) == 0


def test_a_body_no_parser_recognises_is_ignored(session: Session, client: TestClient) -> None:
    assert post(client, {"hello": "world"}).json() == {"status": "ignored"}
    (cb,) = callbacks_of(session)
    assert (cb.kind, cb.result) == ("unknown", "unrecognised")
    assert cb.provider_id.startswith("body:")


def test_the_route_is_documented_in_openapi(session: Session, cb_settings: Settings) -> None:
    with callback_client(session, cb_settings) as c:
        spec = c.app.openapi()  # type: ignore[attr-defined]
    op = spec["paths"][URL]["post"]
    assert op["tags"] == ["channels"]
    assert {"401", "404", "413", "422"} <= set(op["responses"])
    params = {p["name"] for p in op["parameters"]}
    assert {"channel", "x-recoup-signature", "x-recoup-timestamp"} <= params


def test_the_same_event_at_the_same_time_is_applied_once(own_engine: Engine, settings: Settings) -> None:
    """Two deliveries of one event in flight together: the second waits for the first's commit (the
    unique (channel, provider id), or SQLite's write lock) and answers duplicate."""
    with session_scope(own_engine) as s:
        mid = sent_message(s, settings).message_id
    payload = {"message_id": mid, "status": "delivered"}
    body = json.dumps(payload).encode()
    release = threading.Event()
    results: dict[str, str] = {}

    def deliver(name: str, hold: bool) -> None:
        with session_scope(own_engine) as s:
            out = do_handle_callback(
                session=s,
                channel=Channel.SMS,
                plugin=FakeChannel(),
                body=body,
                payload=payload,
                settings=settings,
            )
            results[name] = out.status.value
            if hold:
                release.wait(10)

    first = threading.Thread(target=deliver, args=("first", True))
    first.start()
    while "first" not in results:
        time.sleep(0.01)
    second = threading.Thread(target=deliver, args=("second", False))
    second.start()
    time.sleep(0.3)
    assert "second" not in results  # blocked behind the first, which has not committed yet
    release.set()
    first.join(10)
    second.join(10)
    assert results == {"first": "applied", "second": "duplicate"}
    with session_scope(own_engine) as s:
        assert s.scalar(select(func.count()).select_from(ChannelCallback)) == 1


def test_the_dispatcher_reads_a_channels_file_with_callback_keys(cb_settings: Settings) -> None:
    chans = load_channels(cb_settings)
    try:
        chans.check()
    finally:
        chans.close()
