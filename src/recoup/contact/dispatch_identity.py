"""Safe sending: the dispatcher refuses to reach people while the lender's identity settings are unset
or sample values, and never sends a message rendered with the sample identity (split from
:mod:`recoup.contact.dispatch`; docs/dispatch.md "Safe sending")."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from recoup.config import (
    SAMPLE_HOTLINE,
    SAMPLE_LENDER_NAME,
    SAMPLE_PAYMENT_DOMAIN,
    SAMPLE_SMS_SIGNATURE,
    Settings,
)
from recoup.contact.channels.base import ChannelPlugin
from recoup.contact.channels.registry import Channels, channels_path
from recoup.contact.vocab import Channel
from recoup.errors import ConfigError

__all__ = [
    "LOCAL_PLUGINS",
    "LenderIdentityError",
    "Plugins",
    "check_lender_identity",
    "identity_problems",
    "reaching_channels",
    "sample_marker",
]

Plugins = Mapping[Channel, ChannelPlugin]


class LenderIdentityError(ConfigError):
    """Real channels are configured but the lender's identity settings are unset or sample values."""

    code = "config.lender_identity"


#: Plugins that reach no one: the in-memory fake, and CSV files (only when they are the built-in
#: default, i.e. without a channels file; a channels file that names ``filexport`` feeds a printer or a
#: dialer, which reaches people).
LOCAL_PLUGINS = frozenset({"fake", "filexport"})

#: Placeholders that are never a real lender's identity: the default strategy's sample values and the
#: template previews' (compared case- and space-insensitively).
_SAMPLE_NAMES = frozenset({SAMPLE_LENDER_NAME, "示例消费金融", "Example Finance", "某某银行"})
_SAMPLE_HOTLINES = frozenset({SAMPLE_HOTLINE, "1-800-555-0100"})
#: Reserved names (RFC 2606, RFC 6761) and mDNS: no payment page lives there.
_RESERVED_DOMAINS = (
    "local",
    "localhost",
    "test",
    "example",
    "invalid",
    "example.com",
    "example.net",
    "example.org",
)
#: What gives away a message rendered with the sample identity.
_SAMPLE_MARKERS = (SAMPLE_LENDER_NAME, SAMPLE_HOTLINE, SAMPLE_PAYMENT_DOMAIN)


def _norm(text: str) -> str:
    return "".join(text.split()).casefold()


def _is_reserved_domain(domain: str) -> bool:
    d = domain.casefold().rstrip(".")
    return d == SAMPLE_PAYMENT_DOMAIN or any(d == r or d.endswith("." + r) for r in _RESERVED_DOMAINS)


def identity_problems(settings: Settings) -> list[str]:
    """What is wrong with the lender's identity settings for real sending (empty: nothing)."""
    problems: list[str] = []
    names = {_norm(n) for n in _SAMPLE_NAMES}
    checks: list[tuple[str, str | None, str, bool]] = [
        (
            "RECOUP_LENDER_NAME",
            settings.lender_name,
            "the lender's legal name",
            settings.lender_name is not None and _norm(settings.lender_name) in names,
        ),
        (
            "RECOUP_SMS_SIGNATURE",
            settings.sms_signature,
            "the registered SMS signature, e.g. 【某某银行】",
            settings.signature_text is not None
            and (_norm(settings.signature_text) in names or settings.sms_signature == SAMPLE_SMS_SIGNATURE),
        ),
        (
            "RECOUP_HOTLINE",
            settings.hotline,
            "the official hotline",
            settings.hotline is not None and _norm(settings.hotline) in {_norm(h) for h in _SAMPLE_HOTLINES},
        ),
        (
            "RECOUP_PAYMENT_DOMAIN",
            settings.payment_domain,
            "the payment page's domain",
            settings.payment_domain is not None and _is_reserved_domain(settings.payment_domain),
        ),
    ]
    for env, value, what, sample in checks:
        if value is None:
            problems.append(f"{env} is not set ({what})")
        elif sample:
            problems.append(f"{env} is a sample value ({value})")
    registered = {x.strip("【】 ") for x in settings.sms_signatures}
    if settings.signature_text is not None and registered and settings.signature_text not in registered:
        problems.append(
            f"RECOUP_SMS_SIGNATURE {settings.sms_signature} is not among RECOUP_SMS_SIGNATURES "
            f"({', '.join(sorted(registered))})"
        )
    if settings.payment_domain is not None and settings.payment_domain not in settings.link_domains:
        problems.append(f"RECOUP_PAYMENT_DOMAIN {settings.payment_domain} is not among RECOUP_LINK_DOMAINS")
    return problems


def reaching_channels(settings: Settings, plugins: Plugins) -> dict[Channel, str]:
    """The channels whose messages reach people, with their plugin's name.

    Without a channels file every channel goes to CSV files under the data directory (the default of a
    fresh install and of the demo): none. With one, every channel it names (all of them when it has a
    ``[default]``) except those routed to the in-memory ``fake``: CSV files a channels file asks for
    feed a printer or a dialer. A plain mapping of plugins (tests, embedding code): every plugin but
    ``fake`` and ``filexport``.
    """
    if isinstance(plugins, Channels):
        named = _named_in_channels_file(channels_path(settings))
        return {
            ch: plugins.plugin_name(ch)
            for ch in plugins.routes
            if plugins.plugin_name(ch) != "fake" and ("default" in named or ch.value in named)
        }
    return {ch: p.name for ch, p in plugins.items() if p.name not in LOCAL_PLUGINS}


def _named_in_channels_file(path: Path) -> set[str]:
    """The tables (channels, ``default``) the channels file names; empty without a file. Channels it does
    not name (and no ``[default]``) go to the built-in CSV default."""
    try:
        return set(tomllib.loads(path.read_text("utf-8")))
    except FileNotFoundError:
        return set()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {"default"}  # unreadable: assume every channel may reach people (loading it fails anyway)


def check_lender_identity(settings: Settings, plugins: Plugins) -> None:
    """Refuse (:class:`LenderIdentityError`, exit 78) to send through channels that reach people while
    the lender's identity settings are unset or sample values (see :func:`identity_problems`)."""
    reaching = reaching_channels(settings, plugins)
    if not reaching:
        return
    problems = identity_problems(settings)
    if not problems:
        return
    via = ", ".join(f"{ch.value} ({name})" for ch, name in sorted(reaching.items()))
    raise LenderIdentityError(
        f"refusing to send through {via}: " + "; ".join(problems) + ". Set the lender's identity "
        "(RECOUP_LENDER_NAME, RECOUP_SMS_SIGNATURE, RECOUP_HOTLINE, RECOUP_PAYMENT_DOMAIN; docs/dispatch.md "
        '"Safe sending"), or remove the channels file to write CSV files only. '
        "机构名称、短信签名、客服电话或还款域名未设置或仍为示例值，拒绝发送。",
        details={"problems": problems, "channels": {ch.value: name for ch, name in reaching.items()}},
    )


def sample_marker(*texts: str | None) -> str | None:
    """The sample identity value a rendered message carries, if any."""
    for text in texts:
        for marker in _SAMPLE_MARKERS:
            if text and marker in text:
                return marker
    return None
