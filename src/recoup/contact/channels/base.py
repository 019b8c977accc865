"""What every channel plugin is: an abstract base, its configuration schema and the values it trades.

A plugin turns an :class:`OutgoingMessage` into a :class:`SendResult` (accepted, or a temporary or a
permanent failure), and reads its provider's callbacks: delivery receipts (:class:`Receipt`) and replies
(:class:`Inbound`, with STOP-like opt-outs recognised). Plugins never touch the database; the dispatcher
owns transactions and the policy.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind
from recoup.errors import RecoupError

__all__ = [
    "ChannelConfigError",
    "ChannelPlugin",
    "Inbound",
    "OutgoingMessage",
    "PluginConfig",
    "Receipt",
    "SendResult",
    "is_opt_out",
    "parse_time",
]


class ChannelConfigError(RecoupError):
    """An unknown plugin, a bad channels file or a configuration value a plugin refuses."""

    code = "channel.config"
    http_status = 500
    exit_code = 78  # EX_CONFIG


class PluginConfig(BaseModel):
    """Base of plugin configuration: unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send; ``message_id`` is stable across retries and resends (receivers dedupe on it)."""

    message_id: str
    channel: Channel
    destination: str  # in clear: plugins must never log it unmasked
    body: str
    subject: str | None = None
    locale: str = "zh_CN"
    destination_kind: DestinationKind | None = None
    borrower_key: str | None = None
    debt_key: str | None = None


@dataclass(frozen=True)
class SendResult:
    """What a send did: accepted (with the provider's reference), or failed temporarily or for good."""

    accepted: bool
    provider_ref: str | None = None
    error: str | None = None
    permanent: bool = False

    @classmethod
    def ok(cls, provider_ref: str | None = None) -> SendResult:
        return cls(True, provider_ref)

    @classmethod
    def temporary(cls, error: str) -> SendResult:
        """Worth trying again later (timeouts, 5xx, a dropped connection)."""
        return cls(False, None, error[:1000], False)

    @classmethod
    def permanent_failure(cls, error: str) -> SendResult:
        """Trying again will not help (a refused address, a 4xx from the provider)."""
        return cls(False, None, error[:1000], True)


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt: whether ``message_id`` (or ``provider_ref``) reached the party."""

    message_id: str | None
    provider_ref: str | None
    delivered: bool
    status: str  # the provider's own word (delivered, undelivered, bounced …)
    at: dt.datetime | None = None
    outcome: AttemptOutcome | None = None  # set when the receipt says more (a robot call not answered)
    error: str | None = None


@dataclass(frozen=True)
class Inbound:
    """A reply from a party; ``sender`` is personal data (match it by hash, never log it)."""

    channel: Channel
    sender: str
    text: str
    at: dt.datetime | None = None
    opt_out: bool = False
    in_reply_to: str | None = None  # the message_id replied to, when the provider says
    provider_ref: str | None = None


#: Replies that mean "stop contacting me" (whole reply, case- and width-insensitive).
OPT_OUT_WORDS = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "optout",
        "opt out",
        "opt-out",
        "t",
        "td",
        "退订",
        "退订回t",
        "取消",
        "停止",
        "拒收",
        "不要再发",
    }
)
_TRIM = re.compile(r"^[\s\W_]+|[\s\W_]+$", re.UNICODE)


def is_opt_out(text: str) -> bool:
    """True for STOP-like replies (``STOP``, ``退订``, ``TD`` …), ignoring case, width and punctuation."""
    norm = _TRIM.sub("", unicodedata.normalize("NFKC", text).strip().lower())
    return norm in OPT_OUT_WORDS


def parse_time(value: Any) -> dt.datetime | None:
    """A callback's timestamp (ISO 8601 or epoch seconds) as aware UTC; None when absent or unreadable."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
        ts = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return ts.astimezone(dt.UTC) if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


class ChannelPlugin(ABC):
    """A way to send messages on some channels. Subclasses set ``name``, ``channels`` and ``Config``.

    ``base_dir`` resolves relative paths in the configuration (the data directory).
    """

    name: ClassVar[str]
    channels: ClassVar[frozenset[Channel]]
    Config: ClassVar[type[PluginConfig]] = PluginConfig

    def __init__(self, config: PluginConfig, *, base_dir: Path | None = None) -> None:
        self.config = config
        self.base_dir = base_dir or Path()

    @classmethod
    def from_config(
        cls, raw: Mapping[str, Any] | None = None, *, base_dir: Path | None = None
    ) -> ChannelPlugin:
        """Validate ``raw`` against ``Config`` (a bad value names the plugin and the field) and build."""
        from recoup.contact.channels.registry import validate_config

        return cls(validate_config(cls, raw or {}), base_dir=base_dir)

    def serves(self, channel: Channel) -> bool:
        return channel in self.channels

    @abstractmethod
    def send(self, message: OutgoingMessage) -> SendResult:
        """Send one message. Must not raise for delivery problems: return a failed result instead."""

    def parse_receipt(self, payload: Mapping[str, Any]) -> Receipt | None:
        """A delivery receipt from a provider callback, or None when the payload is not one."""
        return None

    def parse_inbound(self, payload: Mapping[str, Any]) -> Inbound | None:
        """A reply from a provider callback, or None when the payload is not one."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most plugins hold nothing
        """Release connections and files."""

    def __enter__(self) -> ChannelPlugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
