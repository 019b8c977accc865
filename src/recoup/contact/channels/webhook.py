"""SMS and robot calls through a generic HTTP JSON webhook (httpx).

Each message is one ``POST url`` with the header ``Idempotency-Key: <message_id>`` and the JSON body
``{"message_id", "channel", "to", "text", "subject", "locale", "sender"}``; the provider deduplicates
on the key, so a resend after a crash or a timeout is harmless. A 2xx reply is accepted (its JSON ``id``
or ``provider_ref``, if any, is kept); 408, 425 and 429 are temporary like 5xx replies, timeouts and
connection errors; any other 4xx is permanent (the provider refuses this message).

Callbacks the provider posts back (JSON):

- receipts ``{"message_id" or "provider_ref", "status", "at", "error"}`` with status ``delivered``,
  ``answered``, ``completed``, ``undelivered``, ``failed``, ``no_answer``, ``busy``, ``invalid_number``;
- replies ``{"from", "text", "channel", "at", "in_reply_to"}`` (STOP-like texts are opt-outs).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field, SecretStr

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
from recoup.pii import mask_text

__all__ = ["WebhookChannel", "WebhookConfig"]

#: 4xx replies that mean "later", not "never".
RETRYABLE_4XX = frozenset({408, 425, 429})

_DELIVERED = {"delivered", "answered", "completed", "read", "sent_to_handset"}
_OUTCOMES = {
    "answered": AttemptOutcome.CONNECTED,
    "completed": AttemptOutcome.CONNECTED,
    "delivered": AttemptOutcome.CONNECTED,
    "no_answer": AttemptOutcome.NO_ANSWER,
    "busy": AttemptOutcome.NO_ANSWER,
    "failed": AttemptOutcome.FAILED,
    "undelivered": AttemptOutcome.FAILED,
    "invalid_number": AttemptOutcome.INVALID_NUMBER,
}


class WebhookConfig(PluginConfig):
    url: str = Field(pattern=r"^https?://\S+$", description="The provider's send endpoint.")
    token: SecretStr | None = Field(None, description="Sent as 'Authorization: Bearer <token>'.")
    token_env: str | None = Field(None, description="Environment variable holding the token.")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(10.0, gt=0, le=300)
    sender: str | None = Field(None, description="Sender id or registered SMS signature (【…】).")

    def secret(self) -> str | None:
        if self.token_env:
            return os.environ.get(self.token_env)
        return self.token.get_secret_value() if self.token is not None else None


class WebhookChannel(ChannelPlugin):
    """Posts each message to one HTTP endpoint; the provider turns it into an SMS or a call."""

    name = "webhook"
    channels = frozenset({Channel.SMS, Channel.ROBOT_CALL, Channel.IM})
    Config = WebhookConfig
    config: WebhookConfig

    def __init__(self, config: WebhookConfig, *, base_dir: Path | None = None) -> None:
        super().__init__(config, base_dir=base_dir)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"User-Agent": "recoup-dispatcher", **self.config.headers}
            token = self.config.secret()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            self._client = httpx.Client(timeout=self.config.timeout, headers=headers, follow_redirects=False)
        return self._client

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        return {
            "message_id": message.message_id,
            "channel": message.channel.value,
            "to": message.destination,
            "text": message.body,
            "subject": message.subject,
            "locale": message.locale,
            "sender": self.config.sender,
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        with self._lock:
            client = self._http()
        try:
            resp = client.post(
                self.config.url,
                json=self.payload(message),
                headers={"Idempotency-Key": message.message_id},
            )
        except httpx.TimeoutException as exc:
            return SendResult.temporary(f"webhook: timeout ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return SendResult.temporary(f"webhook: {type(exc).__name__}: {mask_text(str(exc))}")
        code = resp.status_code
        if 200 <= code < 300:
            return SendResult.ok(_provider_ref(resp) or message.message_id)
        error = f"webhook HTTP {code}: {mask_text(resp.text[:300])}"
        if 400 <= code < 500 and code not in RETRYABLE_4XX:
            return SendResult.permanent_failure(error)
        return SendResult.temporary(error)

    def parse_receipt(self, payload: Mapping[str, Any]) -> Receipt | None:
        status = str(payload.get("status") or "").lower()
        message_id = payload.get("message_id")
        ref = payload.get("provider_ref") or payload.get("id")
        if not status or not (message_id or ref):
            return None
        return Receipt(
            str(message_id) if message_id else None,
            str(ref) if ref else None,
            status in _DELIVERED,
            status,
            parse_time(payload.get("at")),
            _OUTCOMES.get(status),
            mask_text(str(payload["error"]))[:300] if payload.get("error") else None,
        )

    def parse_inbound(self, payload: Mapping[str, Any]) -> Inbound | None:
        sender, text = payload.get("from"), payload.get("text")
        if not sender or text is None:
            return None
        try:
            channel = Channel(str(payload.get("channel") or "sms"))
        except ValueError:
            channel = Channel.SMS
        return Inbound(
            channel,
            str(sender),
            str(text),
            parse_time(payload.get("at")),
            is_opt_out(str(text)),
            str(payload["in_reply_to"]) if payload.get("in_reply_to") else None,
            str(payload["id"]) if payload.get("id") else None,
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _provider_ref(resp: httpx.Response) -> str | None:
    try:
        data = resp.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        ref = data.get("provider_ref") or data.get("id")
        return str(ref)[:200] if ref else None
    return None
