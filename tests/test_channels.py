"""Channel plugins against real local servers: SMTP (aiosmtpd), an HTTP webhook, CSV files; the registry."""

from __future__ import annotations

import contextlib
import csv
import email
import email.policy
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from recoup.config import Settings
from recoup.contact.channels import (
    ChannelConfigError,
    OutgoingMessage,
    available,
    build,
    is_opt_out,
    load_channels,
    plugin_class,
)
from recoup.contact.channels.fake import FakeChannel, FakeConfig
from recoup.contact.channels.filexport import FileExportChannel, FileExportConfig
from recoup.contact.channels.registry import read_channels_file
from recoup.contact.channels.smtp import SmtpChannel, SmtpConfig
from recoup.contact.channels.webhook import WebhookChannel, WebhookConfig
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind

BODY = "【示例银行】尊敬的客户：您的借款已逾期，请通过官方App还款。Your loan is overdue. 退订回T"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------- servers


class SmtpSink:
    """A local SMTP server (aiosmtpd) keeping every message; recipients ``bad*`` get 550, ``later*`` 451."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.message_ids: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("bad"):
            return "550 5.1.1 <" + address + ">: no such user"
        if address.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.content)
        headers = email.parser.BytesHeaderParser().parsebytes(content)
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), content))
            self.message_ids[str(headers["Message-ID"])] += 1
        return "250 OK queued"

    def parsed(self, i: int) -> EmailMessage:
        msg = email.message_from_bytes(self.messages[i][2], policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class WebhookSink:
    """A local HTTP JSON endpoint deduplicating by ``Idempotency-Key``.

    Paths: ``/send`` accepts (200 with an id), ``/e500`` and ``/e400`` and ``/e429`` answer that status,
    ``/slow`` answers after a second.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.keys: Counter[str] = Counter()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotency-Key", "")
                with sink.lock:
                    sink.requests.append((self.path, dict(self.headers.items()), body))
                    first = key not in sink.keys
                    if self.path == "/send" and key:
                        sink.keys[key] += 1
                if self.path == "/slow":
                    time.sleep(1.0)
                code = {"/e500": 500, "/e400": 400, "/e429": 429}.get(self.path, 200)
                out = json.dumps({"id": f"prov-{key}", "duplicate": not first}).encode()
                with contextlib.suppress(OSError):  # the client may have given up (a timeout test)
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})

    def url(self, path: str = "/send") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> WebhookSink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink().start()
    try:
        yield sink
    finally:
        sink.stop()


def msg(
    message_id: str = "m-1", channel: Channel = Channel.EMAIL, to: str = "zhang.san@example.com", **kw: Any
) -> OutgoingMessage:
    return OutgoingMessage(message_id=message_id, channel=channel, destination=to, body=BODY, **kw)


# ------------------------------------------------------------------------------------------- registry


def test_entry_points_list_the_shipped_plugins() -> None:
    assert {"fake", "smtp", "webhook", "filexport"} <= set(available())
    assert plugin_class("smtp") is SmtpChannel
    assert plugin_class("filexport") is FileExportChannel
    assert isinstance(build("fake"), FakeChannel)


def test_unknown_plugin_is_a_clear_error() -> None:
    with pytest.raises(ChannelConfigError) as info:
        plugin_class("carrier-pigeon")
    assert info.value.code == "channel.config"
    assert "carrier-pigeon" in info.value.message and "smtp" in info.value.message


@pytest.mark.parametrize(
    ("plugin", "config", "field"),
    [
        ("smtp", {"port": "twenty-five"}, "port"),
        ("smtp", {"prot": 25}, "prot"),
        ("smtp", {"ssl": True, "starttls": True}, "config"),
        ("webhook", {}, "url"),
        ("webhook", {"url": "ftp://x"}, "url"),
        ("fake", {"fail_times": -1}, "fail_times"),
    ],
)
def test_invalid_config_names_the_field(plugin: str, config: dict[str, Any], field: str) -> None:
    with pytest.raises(ChannelConfigError) as info:
        build(plugin, config)
    assert plugin in info.value.message
    if field != "config":
        assert info.value.details["field"] == field
        assert field in info.value.message


def test_without_a_channels_file_everything_goes_to_csv_files(settings: Settings) -> None:
    assert settings.channels_file == settings.data_dir / "channels.toml"
    channels = load_channels(settings)
    assert {channels.plugin_name(c) for c in Channel} == {"filexport"}
    plugin = channels[Channel.EMAIL]
    assert plugin is channels[Channel.SMS]  # same configuration, one instance
    assert plugin.send(msg()).accepted
    assert (settings.data_dir / "outbox" / "email.csv").exists()
    channels.close()


def test_channels_file_routes_and_errors(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(
        '[default]\nplugin = "fake"\n\n'
        '[email]\nplugin = "smtp"\nhost = "127.0.0.1"\nport = 2525\n\n'
        '[sms]\nplugin = "webhook"\nurl = "http://127.0.0.1:9/send"\n',
        encoding="utf-8",
    )
    routes = read_channels_file(path)
    assert routes[Channel.EMAIL] == ("smtp", {"host": "127.0.0.1", "port": 2525})
    assert routes[Channel.LETTER] == ("fake", {})
    channels = load_channels(settings.model_copy(update={"channels_file": path}))
    channels.check()
    assert isinstance(channels[Channel.EMAIL], SmtpChannel)
    assert isinstance(channels[Channel.SMS], WebhookChannel)
    channels.close()

    path.write_text('[emial]\nplugin = "smtp"\n', encoding="utf-8")
    with pytest.raises(ChannelConfigError, match="emial"):
        read_channels_file(path)
    path.write_text('[email]\nhost = "x"\n', encoding="utf-8")
    with pytest.raises(ChannelConfigError, match="plugin"):
        read_channels_file(path)
    path.write_text('[email]\nplugin = "smtp"\nport = "x"\n', encoding="utf-8")
    with pytest.raises(ChannelConfigError) as info:
        load_channels(settings.model_copy(update={"channels_file": path})).check()
    assert "[email]" in info.value.message and "port" in info.value.message
    path.write_text('[email]\nplugin = "webhook"\nurl = "http://127.0.0.1:9/"\n', encoding="utf-8")
    with pytest.raises(ChannelConfigError, match="does not send email"):
        load_channels(settings.model_copy(update={"channels_file": path}))[Channel.EMAIL]
    path.write_text("[email\n", encoding="utf-8")
    with pytest.raises(ChannelConfigError, match="channels file"):
        read_channels_file(path)


# ----------------------------------------------------------------------------------------------- fake


def test_fake_records_and_fails_on_demand() -> None:
    fake = FakeChannel(FakeConfig(fail_times=2))
    assert not fake.send(msg("a")).accepted
    r = fake.send(msg("a"))
    assert not r.accepted and not r.permanent
    assert fake.send(msg("a")).accepted
    fake.fail_next(1, permanent=True)
    r = fake.send(msg("b"))
    assert not r.accepted and r.permanent
    assert fake.send(msg("b")).accepted
    assert fake.sent_ids == ["a", "b"] and fake.calls == 5
    always = FakeChannel(FakeConfig(fail_permanently=True))
    assert always.send(msg()).permanent and always.sent == []
    receipt = fake.parse_receipt({"message_id": "a", "status": "no_answer"})
    assert receipt is not None and not receipt.delivered and receipt.outcome is AttemptOutcome.NO_ANSWER
    inbound = fake.parse_inbound({"from": "13812345678", "text": "退订"})
    assert inbound is not None and inbound.opt_out
    assert fake.parse_receipt({"x": 1}) is None and fake.parse_inbound({"x": 1}) is None


@pytest.mark.parametrize(
    ("text", "stop"),
    [("STOP", True), (" stop. ", True), ("ＳＴＯＰ", True), ("退订", True), ("TD", True), ("t", True),
     ("Unsubscribe!", True), ("我下周还", False), ("stop calling my mother", False), ("", False)],
)  # fmt: skip
def test_opt_out_words(text: str, stop: bool) -> None:
    assert is_opt_out(text) is stop


# ----------------------------------------------------------------------------------------------- smtp


def test_smtp_sends_with_a_stable_message_id(smtp_sink: SmtpSink) -> None:
    plugin = SmtpChannel(
        SmtpConfig(host="127.0.0.1", port=smtp_sink.port, from_addr="示例银行 <cs@bank.test>")
    )
    try:
        r1 = plugin.send(msg("0b6c1c8e-aaaa", subject="逾期提醒 · Overdue notice"))
        r2 = plugin.send(msg("0b6c1c8e-bbbb", to="li.si@example.com"))
        r3 = plugin.send(msg("0b6c1c8e-aaaa"))  # a resend: same Message-ID
    finally:
        plugin.close()
    assert r1.accepted and r2.accepted and r3.accepted
    assert r1.provider_ref == "<0b6c1c8e-aaaa@recoup>"
    assert smtp_sink.message_ids == Counter({"<0b6c1c8e-aaaa@recoup>": 2, "<0b6c1c8e-bbbb@recoup>": 1})
    mail_from, rcpts, _ = smtp_sink.messages[0]
    assert mail_from == "cs@bank.test" and rcpts == ["zhang.san@example.com"]
    first = smtp_sink.parsed(0)
    assert first["Subject"] == "逾期提醒 · Overdue notice"
    assert first["X-Recoup-Message-Id"] == "0b6c1c8e-aaaa"
    assert first.get_content().strip() == BODY
    assert smtp_sink.parsed(1)["Subject"] == "还款提醒 · Payment reminder"


def test_smtp_failures_are_classified(smtp_sink: SmtpSink) -> None:
    plugin = SmtpChannel(SmtpConfig(host="127.0.0.1", port=smtp_sink.port))
    try:
        refused = plugin.send(msg("x1", to="bad.user@example.com"))
        later = plugin.send(msg("x2", to="later.user@example.com"))
        not_email = plugin.send(msg("x3", to="13812345678"))
        ok = plugin.send(msg("x4"))  # the connection recovers after a refusal
    finally:
        plugin.close()
    assert not refused.accepted and refused.permanent and "550" in (refused.error or "")
    assert "bad.user@" not in (refused.error or "")  # the address is masked
    assert not later.accepted and not later.permanent and "451" in (later.error or "")
    assert not_email.permanent and "13812345678" not in (not_email.error or "")
    assert ok.accepted
    down = SmtpChannel(SmtpConfig(host="127.0.0.1", port=free_port(), timeout=2))
    r = down.send(msg("x5"))
    assert not r.accepted and not r.permanent
    down.close()


def test_smtp_reconnects_after_the_server_restarts(smtp_sink: SmtpSink) -> None:
    plugin = SmtpChannel(SmtpConfig(host="127.0.0.1", port=smtp_sink.port))
    assert plugin.send(msg("r1")).accepted
    smtp_sink.stop()
    smtp_sink.controller = Controller(smtp_sink, hostname="127.0.0.1", port=smtp_sink.port)
    smtp_sink.start()
    assert plugin.send(msg("r2")).accepted
    plugin.close()
    assert set(smtp_sink.message_ids) == {"<r1@recoup>", "<r2@recoup>"}


def test_smtp_receipts_and_replies() -> None:
    plugin = SmtpChannel()
    r = plugin.parse_receipt({"original_message_id": "<abc-1@recoup>", "action": "failed", "diagnostic": "x"})
    assert (
        r is not None and r.message_id == "abc-1" and not r.delivered and r.outcome is AttemptOutcome.FAILED
    )
    d = plugin.parse_receipt({"message_id": "<abc-2@recoup>", "action": "delivered"})
    assert d is not None and d.delivered
    assert plugin.parse_receipt({"action": "delivered"}) is None
    reply = plugin.parse_inbound(
        {
            "from": "张三 <zhang.san@example.com>",
            "subject": "Re: 退订",
            "text": "",
            "in_reply_to": "<abc-1@recoup>",
        }
    )
    assert reply is not None and reply.opt_out and reply.sender == "zhang.san@example.com"
    assert reply.in_reply_to == "abc-1"
    chat = plugin.parse_inbound({"from": "zhang.san@example.com", "subject": "Re: 提醒", "text": "下周还"})
    assert chat is not None and not chat.opt_out


# -------------------------------------------------------------------------------------------- webhook


def test_webhook_posts_json_with_an_idempotency_key(webhook_sink: WebhookSink) -> None:
    plugin = WebhookChannel(WebhookConfig(url=webhook_sink.url(), token="s3cret", sender="【示例银行】"))
    try:
        m = msg("wh-1", Channel.SMS, "13812345678", destination_kind=DestinationKind.MOBILE)
        r = plugin.send(m)
        again = plugin.send(m)
        call = plugin.send(msg("wh-2", Channel.ROBOT_CALL, "13812345678"))
    finally:
        plugin.close()
    assert r.accepted and r.provider_ref == "prov-wh-1" and again.accepted and call.accepted
    path, headers, body = webhook_sink.requests[0]
    assert path == "/send"
    assert headers["Idempotency-Key"] == "wh-1"
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/json"
    assert body == {
        "message_id": "wh-1",
        "channel": "sms",
        "to": "13812345678",
        "text": BODY,
        "subject": None,
        "locale": "zh_CN",
        "sender": "【示例银行】",
    }
    assert webhook_sink.keys == Counter({"wh-1": 2, "wh-2": 1})  # two requests, one distinct key
    assert webhook_sink.requests[2][2]["channel"] == "robot_call"


@pytest.mark.parametrize(("path", "permanent"), [("/e500", False), ("/e429", False), ("/e400", True)])
def test_webhook_status_codes(webhook_sink: WebhookSink, path: str, permanent: bool) -> None:
    plugin = WebhookChannel(WebhookConfig(url=webhook_sink.url(path)))
    r = plugin.send(msg("e", Channel.SMS, "13812345678"))
    plugin.close()
    assert not r.accepted and r.permanent is permanent
    assert path[2:] in (r.error or "")


def test_webhook_timeouts_and_refused_connections_are_temporary(webhook_sink: WebhookSink) -> None:
    slow = WebhookChannel(WebhookConfig(url=webhook_sink.url("/slow"), timeout=0.2))
    r = slow.send(msg("t", Channel.SMS, "13812345678"))
    slow.close()
    assert not r.accepted and not r.permanent and "timeout" in (r.error or "")
    closed = WebhookChannel(WebhookConfig(url=f"http://127.0.0.1:{free_port()}/send", timeout=2))
    r = closed.send(msg("c", Channel.SMS, "13812345678"))
    closed.close()
    assert not r.accepted and not r.permanent


def test_webhook_receipts_and_replies() -> None:
    plugin = WebhookChannel(WebhookConfig(url="http://127.0.0.1:9/"))
    r = plugin.parse_receipt({"message_id": "m1", "status": "delivered", "at": "2026-03-02T02:00:00Z"})
    assert r is not None and r.delivered and r.at is not None and r.at.tzinfo is not None
    na = plugin.parse_receipt({"id": "prov-9", "status": "no_answer"})
    assert na is not None and na.provider_ref == "prov-9" and na.outcome is AttemptOutcome.NO_ANSWER
    assert plugin.parse_receipt({"message_id": "m1"}) is None
    stop = plugin.parse_inbound({"from": "13812345678", "text": "TD", "in_reply_to": "m1"})
    assert stop is not None and stop.opt_out and stop.channel is Channel.SMS and stop.in_reply_to == "m1"
    talk = plugin.parse_inbound({"from": "13812345678", "text": "明天还款", "channel": "im"})
    assert talk is not None and not talk.opt_out and talk.channel is Channel.IM
    assert plugin.parse_inbound({"status": "delivered"}) is None


# ------------------------------------------------------------------------------------------ filexport


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_filexport_is_idempotent_by_message_id(tmp_path: Path) -> None:
    a = FileExportChannel(FileExportConfig(directory=Path("out")), base_dir=tmp_path)
    b = FileExportChannel(FileExportConfig(directory=tmp_path / "out"))  # another process, same file
    letter = msg("L-1", Channel.LETTER, "上海市浦东新区某路1号\n张三 收", subject="催收函")
    r1 = a.send(letter)
    assert r1.accepted and r1.provider_ref == "letter.csv:1"
    assert a.send(letter).provider_ref == "letter.csv:1"
    assert b.send(letter).provider_ref == "letter.csv:1"
    assert b.send(msg("L-2", Channel.LETTER, "北京市某区")).provider_ref == "letter.csv:2"
    assert a.send(msg("L-2", Channel.LETTER, "北京市某区")).provider_ref == "letter.csv:2"  # saw b's row
    assert a.send(msg("C-1", Channel.CALL, "13812345678")).accepted
    rows = _rows(tmp_path / "out" / "letter.csv")
    assert [r["message_id"] for r in rows] == ["L-1", "L-2"]
    assert rows[0]["to"] == "上海市浦东新区某路1号\n张三 收" and rows[0]["body"] == BODY
    assert rows[0]["subject"] == "催收函"
    assert [r["message_id"] for r in _rows(tmp_path / "out" / "call.csv")] == ["C-1"]
    assert (tmp_path / "out" / "letter.csv").stat().st_mode & 0o777 == 0o600


def test_filexport_bom_and_unwritable_directory(tmp_path: Path) -> None:
    p = FileExportChannel(FileExportConfig(directory=tmp_path / "bom", bom=True))
    assert p.send(msg("b1", Channel.SMS, "13812345678")).accepted
    assert p.send(msg("b1", Channel.SMS, "13812345678")).accepted
    assert (tmp_path / "bom" / "sms.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(_rows(tmp_path / "bom" / "sms.csv")) == 1
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = FileExportChannel(FileExportConfig(directory=blocker / "sub")).send(msg())
    assert not r.accepted and not r.permanent
