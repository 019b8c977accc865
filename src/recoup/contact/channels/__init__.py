"""Channel plugins: how the dispatcher sends email, SMS, robot calls and letters.

Plugins are classes behind :class:`~recoup.contact.channels.base.ChannelPlugin`, registered through the
entry-point group ``recoup.channels``. Shipped: ``fake`` (in memory, for tests), ``smtp`` (email),
``webhook`` (SMS and robot calls through an HTTP JSON API) and ``filexport`` (CSV files for dialers and
letter printers).

**The channels file** (``RECOUP_CHANNELS_FILE``, default ``<data_dir>/channels.toml``) names the plugin
for each channel; every other key of a table is that plugin's configuration, checked against its schema
(an unknown key or a bad value is an error naming the channel, the plugin and the field)::

    [default]                      # channels not listed (optional; default: filexport)
    plugin = "filexport"
    directory = "outbox"           # relative paths are under the data directory

    [email]
    plugin = "smtp"
    host = "smtp.example.com"
    port = 587
    starttls = true
    username = "collections"
    password_env = "SMTP_PASSWORD" # read the secret from the environment, not from the file
    from_addr = "某某银行 <noreply@example.com>"

    [sms]
    plugin = "webhook"
    url = "https://sms.example.com/v1/send"
    token_env = "SMS_TOKEN"

    [robot_call]
    plugin = "webhook"
    url = "https://voice.example.com/v1/calls"

Without the file every channel goes to ``filexport`` (``<data_dir>/outbox/<channel>.csv``), so a fresh
install never tries to reach the network.
"""

from __future__ import annotations

from recoup.contact.channels.base import (
    ChannelConfigError,
    ChannelPlugin,
    Inbound,
    OutgoingMessage,
    PluginConfig,
    Receipt,
    SendResult,
    is_opt_out,
)
from recoup.contact.channels.registry import Channels, available, build, load_channels, plugin_class

__all__ = [
    "ChannelConfigError",
    "ChannelPlugin",
    "Channels",
    "Inbound",
    "OutgoingMessage",
    "PluginConfig",
    "Receipt",
    "SendResult",
    "available",
    "build",
    "is_opt_out",
    "load_channels",
    "plugin_class",
]
