"""An in-memory channel for tests and demos: records what it sends, fails when told to."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

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

__all__ = ["FakeChannel", "FakeConfig"]


class FakeConfig(PluginConfig):
    fail_times: int = Field(0, ge=0, description="Fail this many sends (temporarily) before accepting.")
    fail_permanently: bool = Field(False, description="Refuse every send for good.")


class FakeChannel(ChannelPlugin):
    """Accepts every message into :attr:`sent` (``fail_times`` temporary failures first, if configured)."""

    name = "fake"
    channels = frozenset(Channel)
    Config = FakeConfig
    config: FakeConfig

    def __init__(self, config: FakeConfig | None = None, *, base_dir: Path | None = None) -> None:
        super().__init__(config or FakeConfig(), base_dir=base_dir)
        self.sent: list[OutgoingMessage] = []
        self.calls = 0
        self.closed = False
        self._fail_left = self.config.fail_times
        self._fail_for_good = False
        self._lock = threading.Lock()

    def fail_next(self, times: int, *, permanent: bool = False) -> None:
        """Fail the next ``times`` sends (temporarily, or for good)."""
        with self._lock:
            self._fail_left = times
            self._fail_for_good = permanent

    def send(self, message: OutgoingMessage) -> SendResult:
        with self._lock:
            self.calls += 1
            if self.config.fail_permanently:
                return SendResult.permanent_failure("fake: refused for good")
            if self._fail_left > 0:
                self._fail_left -= 1
                if self._fail_for_good:
                    return SendResult.permanent_failure("fake: refused for good")
                return SendResult.temporary("fake: temporary failure")
            self.sent.append(message)
            return SendResult.ok(f"fake-{len(self.sent)}")

    @property
    def sent_ids(self) -> list[str]:
        return [m.message_id for m in self.sent]

    def parse_receipt(self, payload: Mapping[str, Any]) -> Receipt | None:
        """``{"message_id", "status": "delivered"|"failed"|"no_answer", "at"}``."""
        if "message_id" not in payload or "status" not in payload:
            return None
        status = str(payload["status"])
        outcome = {"no_answer": AttemptOutcome.NO_ANSWER, "failed": AttemptOutcome.FAILED}.get(status)
        return Receipt(
            str(payload["message_id"]),
            payload.get("provider_ref"),
            status == "delivered",
            status,
            parse_time(payload.get("at")),
            outcome,
        )

    def parse_inbound(self, payload: Mapping[str, Any]) -> Inbound | None:
        """``{"from", "text", "channel", "at", "in_reply_to"}``."""
        if "from" not in payload or "text" not in payload:
            return None
        text = str(payload["text"])
        return Inbound(
            Channel(payload.get("channel", "sms")),
            str(payload["from"]),
            text,
            parse_time(payload.get("at")),
            is_opt_out(text),
            payload.get("in_reply_to"),
        )

    def close(self) -> None:
        self.closed = True
