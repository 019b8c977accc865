"""Administration of contact-policy presets (``/admin/presets``): the shipped and saved presets, one
preset's rules with their parameters and sources (COMPLIANCE.md ids, † for parameters from a secondary
source), and copying a preset under a new name with changed parameters — contact hours, attempts per
day and whatever else each rule's parameter model allows — or rules switched off.

What the app judges contacts with is :func:`recoup.contact.policy.presets.resolve` of the installation's
jurisdiction (``RECOUP_JURISDICTION``): the newest saved version under that name, else the shipped one.
So a copy under another name changes nothing until someone names it; saving under the live name puts it
into effect and needs ``admin.activate``. Every parameter is validated by the rule's own model (a typo
names the rule and the field) before anything is saved; each save is audited as ``preset.save``."""

from __future__ import annotations

import datetime as dt
import json
import re
import typing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.configs.models import ConfigVersion
from recoup.configs.service import get_latest
from recoup.contact.policy.base import RULES, Rule
from recoup.contact.policy.presets import (
    BUILTIN,
    KIND,
    Preset,
    PresetError,
    do_save_preset,
    load_builtin,
    resolve,
)
from recoup.errors import ConflictError, RecoupError
from recoup.web.admin_home import AdminViewer, ConfigEditor, admin_page, audit, done, error_page
from recoup.web.deps import DbSession, ForbiddenError
from recoup.web.pages import settings_of, tr
from recoup.web.templating import request_locale

router = APIRouter(include_in_schema=False)

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")


def field_kind(annotation: Any) -> str:
    """How a parameter is edited: time, int, bool, list (comma-separated), str, optstr or json."""
    if annotation is dt.time:
        return "time"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is str:
        return "str"
    if typing.get_origin(annotation) is list:
        return "list"
    if str(annotation) == "str | None":
        return "optstr"
    return "json"


def _rule(rid: str, params: dict[str, Any]) -> Rule:
    cls = RULES[rid]
    return cls({k: v for k, v in params.items() if k != "enabled"})


def rules_of(preset: Preset, locale: str) -> list[dict[str, Any]]:
    """Every rule of ``preset`` (enabled first, in file order, then those switched off) with its title in
    ``locale``, its source, its parameters (each with how it is edited) and which are unverified."""
    payload = preset.payload()["rules"]
    out = []
    for rid in [*preset.rules, *preset.disabled]:
        rule = _rule(rid, payload.get(rid, {}))
        values = rule.params.model_dump(mode="json")
        fields = [
            {
                "name": f,
                "kind": field_kind(info.annotation),
                "value": values[f],
                "text": _as_text(values[f], field_kind(info.annotation)),
                "unverified": f in rule.unverified,
            }
            for f, info in type(rule.params).model_fields.items()
        ]
        out.append(
            {
                "id": rid,
                "enabled": rid in preset.rules,
                "title": rule.title[1] if locale == "en" else rule.title[0],
                "source": rule.source,
                "fields": fields,
            }
        )
    return out


def _as_text(value: Any, kind: str) -> str:
    if kind == "list":
        return ", ".join(str(v) for v in value)
    if kind == "time":
        return str(value)[:5]
    if kind in ("str", "optstr", "int"):
        return "" if value is None else str(value)
    if kind == "bool":
        return "true" if value else "false"
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def _parse(rid: str, field: str, kind: str, raw: str) -> Any:
    """A submitted parameter as the rule's model reads it; PresetError naming the rule and field."""
    text = raw.strip()
    try:
        if kind == "list":
            return [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]
        if kind == "bool":
            return text == "true"
        if kind == "int":
            return int(text)
        if kind == "optstr":
            return text or None
        if kind == "json":
            return json.loads(text) if text else None
        return text
    except ValueError:
        raise PresetError(
            f"rules.{rid}.{field}: {text[:40]!r} is not a valid value / 参数 {rid}.{field} 无效",
            details={"rule": rid, "field": field},
        ) from None


def overrides_from_form(preset: Preset, form: dict[str, str], enabled: set[str]) -> dict[str, dict[str, Any]]:
    """The changed parameters (and switched rules) of a copy form, validated by each rule's model."""
    payload = preset.payload()["rules"]
    out: dict[str, dict[str, Any]] = {}
    for rid in [*preset.rules, *preset.disabled]:
        rule = _rule(rid, payload.get(rid, {}))
        current = rule.params.model_dump(mode="json")
        wanted = dict(current)
        for f, info in type(rule.params).model_fields.items():
            key = f"p.{rid}.{f}"
            if key in form:
                wanted[f] = _parse(rid, f, field_kind(info.annotation), form[key])
        try:
            checked = type(rule.params)(**wanted).model_dump(mode="json")
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first["loc"])
            raise PresetError(
                f"rules.{rid}.{field}: {first['msg']} / 规则参数无效",
                details={"rule": rid, "field": field},
            ) from None
        changed = {k: v for k, v in checked.items() if v != current.get(k)}
        if (rid in enabled) != (rid in preset.rules):
            changed["enabled"] = rid in enabled
        if changed:
            out[rid] = changed
    return out


def _saved(session: Session) -> dict[str, ConfigVersion]:
    rows = session.scalars(
        select(ConfigVersion).where(ConfigVersion.kind == KIND).order_by(ConfigVersion.version)
    )
    return {row.name: row for row in rows}


@router.get("/admin/presets")
def presets_page(request: Request, user: AdminViewer, session: DbSession) -> Response:
    """The shipped presets and the saved ones (newest version, who saved it, when), and the live one."""
    live = settings_of(request).jurisdiction
    saved = _saved(session)
    ctx = {
        "builtin": [load_builtin(n) for n in BUILTIN],
        "saved": sorted(saved.values(), key=lambda r: r.name),
        "live": live,
        "live_label": resolve(live, session=session).label,
    }
    return admin_page(request, user, "admin_presets.html", ctx, section="presets")


def _preset_context(request: Request, user: AppUser, name: str, session: Session) -> dict[str, Any]:
    preset = resolve(name, session=session)
    latest = get_latest(KIND, name, session=session, missing_ok=True)
    live = settings_of(request).jurisdiction
    return {
        "preset": preset,
        "rules": rules_of(preset, request_locale(request, user)),
        "row": latest,
        "live": live,
        "is_live": name == live,
        # A saved preset that is not in effect gets a new version of itself; anything else a copy.
        "new_name": name if latest is not None and name != live else f"{name}-copy",
        "comment": "",
    }


@router.get("/admin/presets/{name}")
def preset_page(name: str, request: Request, user: AdminViewer, session: DbSession) -> Response:
    """A preset's rules: what each limits, its parameters, its source; the copy form for editors."""
    ctx = _preset_context(request, user, name, session)
    return admin_page(request, user, "admin_preset.html", ctx, section="presets")


async def _form(request: Request) -> dict[str, str]:
    """Every text field of the posted form (the copy form's fields are named after the rules)."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


@router.post("/admin/presets/{name}/copy")
def preset_copy(
    name: str,
    request: Request,
    user: ConfigEditor,
    session: DbSession,
    form: Annotated[dict[str, str], Depends(_form)],
    new_name: Annotated[str, Form(max_length=40)],
    base_version: Annotated[str, Form(max_length=40)],
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Save ``name`` with the form's parameters as the next version of ``new_name``."""
    enabled = {k.removeprefix("on.") for k in form if k.startswith("on.")}
    target = new_name.strip()
    here = f"/admin/presets/{name}"
    try:
        if not _NAME.match(target):
            raise PresetError(
                "a preset name is 1–40 of a-z, 0-9, '.', '_' or '-'"
                " / 预设名称须为 1–40 个小写字母、数字或 . _ -",
                details={"field": "new_name", "value": target},
            )
        live = settings_of(request).jurisdiction
        if target == live and not has_permission(user, "admin.activate"):
            raise ForbiddenError(
                f"{live!r} is the preset in effect (RECOUP_JURISDICTION); saving it needs admin.activate"
                f" — save under another name / {live} 是生效中的预设，保存需要 admin.activate 权限",
                details={"permission": "admin.activate"},
            )
        with session.begin_nested():
            source = resolve(name, session=session)
            if source.version != base_version:
                raise ConflictError(
                    f"preset {name} is now version {source.version}, not {base_version}; reload the page "
                    f"/ 预设 {name} 已更新，请刷新页面",
                    details={"latest": source.version, "base": base_version},
                )
            existing = get_latest(KIND, target, session=session, missing_ok=True)
            if existing is not None and target != name:
                raise ConflictError(
                    f"there is already a preset called {target!r}; open it to change it, or choose another "
                    f"name / 已存在名为 {target!r} 的预设",
                    details={"field": "new_name", "value": target},
                )
            overrides = overrides_from_form(source, form, enabled)
            if not overrides and target == name and existing is not None:
                raise ConflictError("nothing changed / 没有修改")
            saved = do_save_preset(
                name, target, overrides, session=session, actor=user.username, comment=comment.strip()
            )
            audit(
                session,
                user,
                "preset.save",
                {
                    "name": target,
                    "version": saved.version,
                    "source": source.label,
                    "rules": sorted(overrides),
                },
            )
    except RecoupError as exc:
        ctx = _preset_context(request, user, name, session)
        ctx.update(new_name=target, comment=comment, submitted=form, submitted_enabled=enabled)
        return error_page(request, user, "admin_preset.html", ctx, exc, section="presets", here=here)
    message = tr(request, user, "Saved") + f": {saved.label}"
    return done(request, f"/admin/presets/{target}", message)
