"""Presets: versioned configuration that selects rules and their parameters for a jurisdiction.

The shipped presets are TOML files in ``presets/`` (``cn`` is the default). An operator copies one,
changes parameters and saves it as a new version in the configuration store (kind ``contact_preset``);
every verdict records ``name@version`` of the preset that made it. A built-in's version is
``builtin.<first 8 hex of its content hash>``, so an edited file can never pass as the old version.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from recoup.configs.cache import latest_built
from recoup.configs.service import canonical_json, do_save_version
from recoup.contact.policy import rules_cn, rules_other, rules_shared, rules_us  # noqa: F401 - registration
from recoup.contact.policy.base import RULES, Rule
from recoup.errors import NotFoundError, RecoupError

__all__ = ["BUILTIN", "KIND", "Preset", "PresetError", "do_save_preset", "load_builtin", "resolve"]

KIND = "contact_preset"
BUILTIN = ("cn", "us", "us-ma", "uk", "in", "eu", "no")


class PresetError(RecoupError):
    code = "policy.bad_preset"
    http_status = 422
    exit_code = 65


@dataclass(frozen=True)
class Preset:
    """A resolved preset: ``rules`` maps rule id → parameters (``enabled`` removed), in file order."""

    name: str
    version: str
    title: tuple[str, str]
    linter: str
    rules: dict[str, dict[str, Any]]
    disabled: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def payload(self) -> dict[str, Any]:
        """The preset as stored data (what ``copy`` saves and ``show`` prints)."""
        rules: dict[str, dict[str, Any]] = {rid: dict(p) for rid, p in self.rules.items()}
        for rid in self.disabled:
            rules.setdefault(rid, {})["enabled"] = False
        return {"name": self.name, "title": list(self.title), "linter": self.linter, "rules": rules}

    def compile(self) -> list[Rule]:
        """Instantiate the enabled rules; a bad parameter names the rule and the field."""
        out: list[Rule] = []
        for rid, params in self.rules.items():
            cls = RULES.get(rid)
            if cls is None:
                raise PresetError(f"preset {self.label}: unknown rule {rid} · 未知规则 {rid}")
            try:
                out.append(cls(params))
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(x) for x in first["loc"])
                raise PresetError(
                    f"preset {self.label}: rules.{rid}.{field}: {first['msg']} · 规则参数无效",
                    details={"rule": rid, "field": field},
                ) from exc
        return out


@functools.cache
def _parsed_builtin(name: str) -> dict[str, Any]:
    # The shipped files never change while the process runs: parse each once (pages ask per request).
    text = resources.files("recoup.contact.policy").joinpath("presets", f"{name}.toml").read_text("utf-8")
    data: dict[str, Any] = tomllib.loads(text)
    return data


def _read_builtin(name: str) -> dict[str, Any]:
    if name not in BUILTIN:
        raise NotFoundError(f"no built-in preset {name!r}; choose one of {', '.join(BUILTIN)}")
    return copy.deepcopy(_parsed_builtin(name))


def _merge(data: dict[str, Any], lookup: Any, depth: int = 0) -> dict[str, Any]:
    """Apply ``extends`` (an overlay adds and overrides rules of its base)."""
    base_name = data.get("extends")
    if not base_name:
        return data
    if depth > 5:
        raise PresetError("preset extends chain too deep")
    base = _merge(copy.deepcopy(lookup(base_name)), lookup, depth + 1)
    merged = {**base, **{k: v for k, v in data.items() if k != "rules"}}
    rules = dict(base.get("rules", {}))
    for rid, params in data.get("rules", {}).items():
        rules[rid] = {**rules.get(rid, {}), **params}
    merged["rules"] = rules
    merged.pop("extends", None)
    return merged


def from_payload(data: dict[str, Any], version: str) -> Preset:
    """Build a preset from stored data; unknown keys and rules are errors that name them."""
    unknown = set(data) - {"name", "title", "linter", "rules", "extends"}
    if unknown:
        raise PresetError(f"preset: unknown key(s) {', '.join(sorted(unknown))}")
    rules: dict[str, dict[str, Any]] = {}
    disabled: list[str] = []
    for rid, params in (data.get("rules") or {}).items():
        params = dict(params or {})
        if params.pop("enabled", True):
            rules[rid] = params
        else:
            disabled.append(rid)
    title = data.get("title") or [data["name"], data["name"]]
    preset = Preset(
        name=str(data["name"]),
        version=version,
        title=(str(title[0]), str(title[1])),
        linter=str(data.get("linter", data["name"])),
        rules=rules,
        disabled=tuple(disabled),
    )
    preset.compile()  # validate now, not at the first judgement
    return preset


@functools.cache
def load_builtin(name: str) -> Preset:
    """A shipped preset, resolved through ``extends`` (once per process: the files do not change while it
    runs; read-only, it is shared)."""
    data = _merge(_read_builtin(name), _read_builtin)
    digest = hashlib.sha256(canonical_json(data)).hexdigest()[:8]
    return from_payload(data, f"builtin.{digest}")


def resolve(name: str, *, session: Session | None = None) -> Preset:
    """The newest saved version of ``name`` when there is one (and a session), else the built-in."""
    if session is not None:
        saved = latest_built(
            KIND, name, session=session, build=lambda payload, version: from_payload(payload, str(version))
        )
        if saved is not None:
            return saved
    if name in BUILTIN:
        return load_builtin(name)
    raise NotFoundError(f"no preset {name!r} · 没有该策略预设; built-in: {', '.join(BUILTIN)}")


def do_save_preset(
    source: str,
    name: str,
    overrides: dict[str, dict[str, Any]],
    *,
    session: Session,
    actor: str,
    comment: str = "",
) -> Preset:
    """Copy ``source`` (saved or built-in) to ``name`` with parameter ``overrides`` and save a new version."""
    base = resolve(source, session=session)
    payload = base.payload()
    payload["name"] = name
    for rid, params in overrides.items():
        if rid not in RULES:
            raise PresetError(f"unknown rule {rid} · 未知规则")
        payload["rules"][rid] = {**payload["rules"].get(rid, {}), **params}
    checked = from_payload(payload, "draft")
    row = do_save_version(KIND, name, checked.payload(), session=session, created_by=actor, comment=comment)
    return from_payload(dict(row.payload), str(row.version))
