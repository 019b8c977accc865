"""Email over SMTP (smtplib), with a stable ``Message-ID`` so receivers can drop a resent copy.

The ``Message-ID`` is ``<message_id@message_id_domain>``: the outbox id, the same on every resend. One
connection is kept open between sends and re-opened when the server has dropped it. A 5xx reply is a
permanent failure; 4xx replies, timeouts and dropped connections are temporary.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator

from recoup.contact.channels.base import (
    ChannelPlugin,
    Inbound,
    OutgoingMessage,
    PluginConfig,
    Receipt,
    SendResult,
    is_opt_out,
    parse_time,
)
from recoup.contact.vocab import AttemptOutcome, Channel
from recoup.pii import mask_email

__all__ = ["SmtpChannel", "SmtpConfig", "scrub"]

_EMAIL = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_MSGID = re.compile(r"<?([^<>@\s]+)@[^<>\s]*>?")


def scrub(text: str) -> str:
    """``text`` with every e-mail address masked (server replies often echo the recipient)."""
    return _EMAIL.sub(lambda m: mask_email(m.group(0)), text)


class SmtpConfig(PluginConfig):
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    from_addr: str = "recoup@localhost"
    reply_to: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = Field(None, description="Environment variable holding the password.")
    starttls: bool = False
    ssl: bool = Field(False, description="SMTP over TLS from the first byte (port 465).")
    timeout: float = Field(30.0, gt=0, le=600)
    message_id_domain: str = Field("recoup", pattern=r"^[A-Za-z0-9.-]+$")
    default_subject: str = "还款提醒 · Payment reminder"

    @model_validator(mode="after")
    def _one_tls(self) -> SmtpConfig:
        if self.ssl and self.starttls:
            raise ValueError("choose ssl (port 465) or starttls (port 587), not both")
        return self

    def secret(self) -> str | None:
        if self.password_env:
            return os.environ.get(self.password_env)
        return self.password.get_secret_value() if self.password is not None else None


class SmtpChannel(ChannelPlugin):
    """Sends email through one SMTP server (a relay or the provider's submission port)."""

    name = "smtp"
    channels = frozenset({Channel.EMAIL})
    Config = SmtpConfig
    config: SmtpConfig

    def __init__(self, config: SmtpConfig | None = None, *, base_dir: Path | None = None) -> None:
        super().__init__(config or SmtpConfig(), base_dir=base_dir)
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    def message_id_header(self, message_id: str) -> str:
        return f"<{message_id}@{self.config.message_id_domain}>"

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The MIME message for ``message`` (plain text, UTF-8)."""
        cfg = self.config
        msg = EmailMessage()
        msg["Message-ID"] = self.message_id_header(message.message_id)
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["From"] = cfg.from_addr
        msg["To"] = message.destination
        if cfg.reply_to:
            msg["Reply-To"] = cfg.reply_to
        msg["Subject"] = message.subject or cfg.default_subject
        msg["Content-Language"] = "zh-CN" if message.locale.lower().startswith("zh") else "en"
        msg["X-Recoup-Message-Id"] = message.message_id
        msg.set_content(message.body)
        return msg

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        conn: smtplib.SMTP
        if cfg.ssl:
            conn = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout, context=ssl.create_default_context()
            )
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        try:
            conn.ehlo()
            if cfg.starttls:
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, self.config.secret() or "")
        except BaseException:
            _quietly_close(conn)
            raise
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            _quietly_close(self._conn)
            self._conn = None

    def send(self, message: OutgoingMessage) -> SendResult:
        to = message.destination.strip()
        if "@" not in to or any(c.isspace() for c in to):
            return SendResult.permanent_failure(f"smtp: not an e-mail address ({mask_email(to)})")
        try:
            mime = self.build(message)
        except (ValueError, TypeError) as exc:  # e.g. a line break in a header
            return SendResult.permanent_failure(f"smtp: cannot build the message: {scrub(str(exc))}")
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None:
                        self._conn = self._connect()
                    self._conn.send_message(mime, from_addr=_bare(self.config.from_addr), to_addrs=[to])
                    return SendResult.ok(mime["Message-ID"])
                except smtplib.SMTPServerDisconnected as exc:
                    # A kept connection the server closed while idle: reconnect once.
                    self._drop()
                    if attempt == 2:
                        return SendResult.temporary(f"smtp: disconnected: {scrub(str(exc))}")
                except smtplib.SMTPRecipientsRefused as exc:
                    self._drop()
                    code, text = next(iter(exc.recipients.values()), (450, b""))
                    return _by_code(code, text)
                except smtplib.SMTPResponseException as exc:
                    self._drop()
                    return _by_code(exc.smtp_code, exc.smtp_error)
                except (smtplib.SMTPException, OSError) as exc:
                    self._drop()
                    return SendResult.temporary(f"smtp: {type(exc).__name__}: {scrub(str(exc))}")
        return SendResult.temporary("smtp: not sent")  # pragma: no cover - the loop always returns

    def parse_receipt(self, payload: Mapping[str, Any]) -> Receipt | None:
        """A delivery status notification reduced to JSON by the mail system: ``{"message_id" (the
        original Message-ID), "action": delivered|failed|delayed|relayed|expanded, "status", "at"}``."""
        raw = payload.get("message_id") or payload.get("original_message_id")
        action = str(payload.get("action") or payload.get("status") or "").lower()
        if not raw or not action:
            return None
        m = _MSGID.fullmatch(str(raw).strip())
        message_id = m.group(1) if m else str(raw)
        delivered = action in {"delivered", "relayed", "expanded"}
        return Receipt(
            message_id,
            str(raw),
            delivered,
            action,
            parse_time(payload.get("at")),
            AttemptOutcome.FAILED if action in {"failed", "bounced"} else None,
            scrub(str(payload["diagnostic"]))[:300] if payload.get("diagnostic") else None,
        )

    def parse_inbound(self, payload: Mapping[str, Any]) -> Inbound | None:
        """A reply e-mail reduced to JSON: ``{"from", "subject", "text", "in_reply_to", "at"}``; a reply
        whose subject or first line is STOP-like (``unsubscribe``, ``退订`` …) is an opt-out."""
        sender = payload.get("from")
        if not sender:
            return None
        text = str(payload.get("text") or "")
        subject = str(payload.get("subject") or "")
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        reply_to = payload.get("in_reply_to")
        m = _MSGID.fullmatch(str(reply_to).strip()) if reply_to else None
        return Inbound(
            Channel.EMAIL,
            email.utils.parseaddr(str(sender))[1] or str(sender),
            text,
            parse_time(payload.get("at")),
            is_opt_out(subject.removeprefix("Re:").removeprefix("RE:")) or is_opt_out(first_line),
            m.group(1) if m else None,
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    self._conn.quit()
                self._drop()


def _by_code(code: int, text: bytes | str) -> SendResult:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    error = f"smtp {code}: {scrub(reply)[:300]}"
    return SendResult.permanent_failure(error) if code >= 500 else SendResult.temporary(error)


def _bare(addr: str) -> str:
    return email.utils.parseaddr(addr)[1] or addr


def _quietly_close(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        conn.close()
