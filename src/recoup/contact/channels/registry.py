"""Find channel plugins through entry points and build them from the channels file.

Plugins are registered under the entry-point group ``recoup.channels`` (``name = "module:Class"``); a
third-party package adds its own the same way. Which plugin delivers which channel comes from the
channels file (see :mod:`recoup.contact.channels`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recoup.config import Settings, get_settings
from recoup.contact.channels.base import ChannelConfigError, ChannelPlugin, PluginConfig
from recoup.contact.vocab import Channel

__all__ = [
    "DEFAULT_ROUTE",
    "GROUP",
    "Channels",
    "available",
    "build",
    "channels_path",
    "load_channels",
    "plugin_class",
    "read_channels_file",
    "validate_config",
]

GROUP = "recoup.channels"
#: What delivers a channel the file does not name (or every channel, without a file): CSV files in
#: data_dir/outbox, so a fresh install never reaches the network.
DEFAULT_ROUTE: tuple[str, dict[str, Any]] = ("filexport", {})

Route = tuple[str, dict[str, Any]]


def available() -> list[str]:
    """Names of the installed channel plugins."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def plugin_class(name: str) -> type[ChannelPlugin]:
    """The plugin class registered as ``name``; ChannelConfigError for an unknown or broken plugin."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise ChannelConfigError(
            f"unknown channel plugin {name!r} · 未知的渠道插件; "
            f"installed: {', '.join(available()) or 'none'}",
            details={"plugin": name, "available": available()},
        )
    try:
        cls = found[0].load()
    except Exception as exc:  # a broken third-party plugin: say which, not a traceback
        raise ChannelConfigError(
            f"channel plugin {name!r} ({found[0].value}) failed to load: {exc}", details={"plugin": name}
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, ChannelPlugin)):
        raise ChannelConfigError(
            f"channel plugin {name!r} ({found[0].value}) is not a ChannelPlugin", details={"plugin": name}
        )
    return cls


#: Keys of a channel's table read by the provider-callback endpoint (``recoup.contact.callbacks``), not
#: by the plugin: they are left out before the plugin's configuration is checked.
CALLBACK_KEYS = frozenset({"callback_secret", "callback_secret_env"})


def validate_config(cls: type[ChannelPlugin], raw: Mapping[str, Any], where: str = "") -> PluginConfig:
    """``raw`` checked against the plugin's ``Config``; the error names the plugin and the field."""
    try:
        return cls.Config.model_validate({k: v for k, v in raw.items() if k not in CALLBACK_KEYS})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "config"
            problems.append(f"{field}: {err['msg']}")
        first = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise ChannelConfigError(
            f"{where}channel plugin {cls.name!r}: " + "; ".join(problems) + " · 渠道插件配置无效",
            details={"plugin": cls.name, "field": first, "errors": problems},
        ) from None


def build(name: str, raw: Mapping[str, Any] | None = None, *, base_dir: Path | None = None) -> ChannelPlugin:
    """An instance of plugin ``name`` configured with ``raw``."""
    return plugin_class(name).from_config(raw or {}, base_dir=base_dir)


def channels_path(settings: Settings | None = None) -> Path:
    s = settings or get_settings()
    return s.channels_file or s.data_dir / "channels.toml"


def read_channels_file(path: Path) -> dict[Channel, Route]:
    """Routes for every channel from the file at ``path`` (every channel to the default without one)."""
    if not path.exists():
        return dict.fromkeys(Channel, DEFAULT_ROUTE)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ChannelConfigError(
            f"channels file {path}: {exc} · 渠道配置文件无法读取", details={"file": str(path)}
        ) from exc
    known = {c.value for c in Channel} | {"default"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ChannelConfigError(
            f"channels file {path}: unknown channel(s) {', '.join(unknown)}; "
            f"use {', '.join(sorted(known))} · 未知渠道",
            details={"file": str(path), "field": unknown[0]},
        )

    def route(key: str) -> Route:
        table = data[key]
        if not isinstance(table, dict) or not isinstance(table.get("plugin"), str):
            raise ChannelConfigError(
                f'channels file {path}: [{key}] needs plugin = "name" · 缺少插件名',
                details={"file": str(path), "field": f"{key}.plugin"},
            )
        return table["plugin"], {k: v for k, v in table.items() if k != "plugin"}

    fallback = route("default") if "default" in data else DEFAULT_ROUTE
    return {c: route(c.value) if c.value in data else fallback for c in Channel}


class Channels(Mapping[Channel, ChannelPlugin]):
    """The plugin for each channel, built on first use; channels with equal configuration share one."""

    def __init__(
        self, routes: Mapping[Channel, Route], *, base_dir: Path | None = None, source: str = ""
    ) -> None:
        self.routes = dict(routes)
        self.base_dir = base_dir
        self.source = source
        self._built: dict[str, ChannelPlugin] = {}

    def plugin_name(self, channel: Channel | str) -> str:
        return self.routes[Channel(channel)][0]

    def __getitem__(self, channel: Channel | str) -> ChannelPlugin:
        ch = Channel(channel)
        name, raw = self.routes[ch]
        key = name + json.dumps(raw, sort_keys=True, default=str)
        if key not in self._built:
            where = f"{self.source} [{ch.value}] " if self.source else f"[{ch.value}] "
            cls = plugin_class(name)
            plugin = cls(validate_config(cls, raw, where), base_dir=self.base_dir)
            if not plugin.serves(ch):
                raise ChannelConfigError(
                    f"{where}plugin {name!r} does not send {ch.value}; it serves "
                    f"{', '.join(sorted(c.value for c in plugin.channels))}",
                    details={"plugin": name, "field": ch.value},
                )
            self._built[key] = plugin
        return self._built[key]

    def __iter__(self) -> Iterator[Channel]:
        return iter(self.routes)

    def __len__(self) -> int:
        return len(self.routes)

    def check(self) -> None:
        """Build every configured plugin now, so a bad file fails at start-up rather than mid-batch."""
        for ch in self.routes:
            self[ch]

    def close(self) -> None:
        for plugin in self._built.values():
            plugin.close()
        self._built.clear()


def load_channels(settings: Settings | None = None) -> Channels:
    """The channels the channels file (``RECOUP_CHANNELS_FILE``) configures; relative paths: data_dir."""
    s = settings or get_settings()
    path = channels_path(s)
    return Channels(read_channels_file(path), base_dir=s.data_dir, source=f"channels file {path}")
