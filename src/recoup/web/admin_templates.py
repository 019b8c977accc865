"""Administration of message templates (``/admin/templates``): the templates with their versions and the
active one, an editor for one template (a name and a channel) in Chinese and English side by side with a
live preview — as you type, htmx renders both texts with sample borrower values and shows the compliance
linter's findings (rule id, what it means, the words that triggered it) — and activation.

A version with any finding cannot be saved (the check is :func:`recoup.contact.templates.check_template`,
the same that refuses activation), so nothing saved here can fail activation for its content. Saving
writes new versions only (``template.save`` in the audit ledger); activation is a separate step that
needs ``admin.activate`` (``template.activate``). Services: :mod:`recoup.contact.templates`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.service import has_permission
from recoup.configs.models import ConfigVersion
from recoup.configs.service import get_latest
from recoup.contact.linter import PRESETS as LINT_PRESETS
from recoup.contact.policy.base import RULES
from recoup.contact.sandbox import BoundedSandbox, render_bounded
from recoup.contact.templates import (
    ACTIVATION,
    KIND,
    LOCALES,
    VARIABLES,
    MessageTemplate,
    Problem,
    TemplateRejected,
    active_template,
    check_template,
    do_activate,
    do_save_template,
    sample_context,
)
from recoup.contact.vocab import Channel
from recoup.errors import ConflictError, NotFoundError, RecoupError
from recoup.web.admin_home import (
    Activator,
    AdminViewer,
    ConfigEditor,
    admin_page,
    audit,
    check_base_version,
    done,
    flash,
)
from recoup.web.deps import DbSession, ForbiddenError
from recoup.web.labels import CHANNEL_LABELS
from recoup.web.pages import redirect, settings_of, tr
from recoup.web.templating import render, request_locale

router = APIRouter(include_in_schema=False)

#: Channels a message template is written for.
TEMPLATE_CHANNELS = ("sms", "email", "im", "robot_call", "voicemail", "letter")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,60}$")
_ENV = BoundedSandbox()


def _lint_args(request: Request) -> dict[str, Any]:
    s = settings_of(request)
    return {"domains": s.link_domains, "signatures": s.sms_signatures}


def explain(problem: Problem, locale: str) -> dict[str, Any]:
    """A finding as the editor shows it: rule id, the message in the reader's language, the policy rule
    it belongs to (title and source, from the preset rules) and the words that triggered it."""
    zh, _, en = problem.message.partition(" · ")
    # The linter's messages are "中文 · English"; the template checks add their details in English.
    if problem.rule in ("TEMPLATE", "LINK-DOMAIN"):
        message = problem.message
    else:
        message = (en or zh) if locale == "en" else zh
    rule = RULES.get(problem.rule.split(".")[0])
    return {
        "rule": problem.rule,
        "message": message,
        "excerpt": problem.excerpt,
        "title": (rule.title[1] if locale == "en" else rule.title[0]) if rule else "",
        "source": rule.source if rule else "",
    }


def _highlight(text: str, excerpts: list[str]) -> Markup:
    """``text`` escaped, with each flagged excerpt marked (whole-message findings are not marked)."""
    out = str(escape(text))
    for ex in sorted({e for e in excerpts if e and e != text and len(e) < len(text)}, key=len, reverse=True):
        out = out.replace(str(escape(ex)), f"<mark>{escape(ex)}</mark>")
    return Markup(out)


def preview(
    name: str, channel: str, locale: str, body: str, subject: str, *, preset: str, request: Request
) -> dict[str, Any]:
    """One locale's preview: the text rendered with sample values, and every finding of the checks."""
    tpl = MessageTemplate(name or "draft", Channel(channel), locale, body, subject or None)
    args = _lint_args(request)
    ctx = sample_context(locale, link_domain=args["domains"][0] if args["domains"] else "pay.recoup.local")
    values = ctx.formatted(locale)
    problems = check_template(tpl, preset=preset, **args)
    try:
        text = render_bounded(_ENV, body, values).strip() if body.strip() else ""
        head = render_bounded(_ENV, subject, values).strip() if subject.strip() else ""
    except Exception:  # the checks above already say why it cannot be rendered
        text, head, failed = "", "", True
    else:
        failed = False
    excerpts = [p.excerpt for p in problems]
    return {
        "locale": locale,
        "subject": _highlight(head, excerpts) if head else None,
        "text": _highlight(text, excerpts),
        "length": len(text),
        "failed": failed,
        "findings": [explain(p, request_locale_of(request)) for p in problems],
        "values": values,
    }


def request_locale_of(request: Request) -> str:
    return request_locale(request, getattr(request.state, "user", None))


def _keys(session: Session) -> dict[tuple[str, str], dict[str, Any]]:
    """(name, channel) → per locale: newest version row and the active version number."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    rows = session.scalars(
        select(ConfigVersion)
        .where(ConfigVersion.kind == KIND)
        .order_by(ConfigVersion.name, ConfigVersion.version)
    )
    for row in rows:
        name, channel, locale = row.name.split(":")
        out.setdefault((name, channel), {})[locale] = {"newest": row}
    for (name, channel), by_locale in out.items():
        for locale, item in by_locale.items():
            act = get_latest(ACTIVATION, f"{name}:{channel}:{locale}", session=session, missing_ok=True)
            item["active"] = int(act.payload["version"]) if act is not None else None
            item["key"] = f"{name}:{channel}:{locale}"
    return out


@router.get("/admin/templates")
def templates_page(request: Request, user: AdminViewer, session: DbSession) -> Response:
    ctx = {
        "templates": sorted(_keys(session).items()),
        "locales": LOCALES,
        "channel_labels": CHANNEL_LABELS,
        "channels": TEMPLATE_CHANNELS,
    }
    return admin_page(request, user, "admin_templates.html", ctx, section="templates")


def _source(name: str, channel: str, locale: str, session: Session) -> tuple[str, str, int | None]:
    """(subject, body, version) of the active version, else the newest, else empty."""
    key = f"{name}:{channel}:{locale}"
    tpl = active_template(key, session=session)
    if tpl is None:
        row = get_latest(KIND, key, session=session, missing_ok=True)
        if row is not None:
            return row.payload.get("subject") or "", row.payload["body"], row.version
        return "", "", None
    newest = get_latest(KIND, key, session=session, missing_ok=True)
    latest = newest.version if newest is not None else tpl.version
    if newest is not None and newest.version != tpl.version:
        return newest.payload.get("subject") or "", newest.payload["body"], latest
    return tpl.subject or "", tpl.body, latest


def _editor_context(
    request: Request, name: str, channel: str, preset: str, forms: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "channel": channel,
        "preset": preset,
        "forms": forms,
        "locales": LOCALES,
        "channels": TEMPLATE_CHANNELS,
        "channel_labels": CHANNEL_LABELS,
        "presets": list(LINT_PRESETS),
        "variables": VARIABLES,
        "previews": [
            preview(
                name, channel, loc, forms[loc]["body"], forms[loc]["subject"], preset=preset, request=request
            )
            for loc in LOCALES
        ],
    }


def _check_name(name: str, channel: str) -> None:
    if not _NAME.match(name) or channel not in TEMPLATE_CHANNELS:
        raise TemplateRejected(
            "a template name is 1–60 letters, digits, _ . - and the channel one of "
            f"{', '.join(TEMPLATE_CHANNELS)}"
            " / 模板名称须为 1–60 个字母、数字或 _ . -",
            details={"name": name, "channel": channel},
        )


@router.get("/admin/templates/edit")
def template_edit(
    request: Request,
    user: ConfigEditor,
    session: DbSession,
    name: str = "reminder",
    channel: str = "sms",
    preset: str | None = None,
) -> Response:
    """The editor on the newest versions of ``name`` for ``channel`` (a new name starts empty)."""
    _check_name(name, channel)
    forms = {}
    for loc in LOCALES:
        subject, body, version = _source(name, channel, loc, session)
        forms[loc] = {"subject": subject, "body": body, "base": version}
    chosen = preset if preset is not None and preset in LINT_PRESETS else settings_of(request).jurisdiction
    ctx = _editor_context(request, name, channel, chosen, forms)
    return admin_page(request, user, "admin_template_edit.html", ctx, section="templates")


@router.post("/admin/templates/preview")
def template_preview(
    request: Request,
    user: ConfigEditor,
    name: Annotated[str, Form(max_length=60)],
    channel: Annotated[str, Form(max_length=20)],
    preset: Annotated[str, Form(max_length=10)],
    body_zh_CN: Annotated[str, Form(max_length=5000)] = "",
    subject_zh_CN: Annotated[str, Form(max_length=500)] = "",
    body_en: Annotated[str, Form(max_length=5000)] = "",
    subject_en: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The live preview (an htmx fragment): both locales rendered and checked as typed."""
    if channel not in TEMPLATE_CHANNELS or preset not in LINT_PRESETS:
        channel, preset = "sms", settings_of(request).jurisdiction
    texts = {"zh_CN": (body_zh_CN, subject_zh_CN), "en": (body_en, subject_en)}
    previews = [
        preview(name, channel, loc, texts[loc][0], texts[loc][1], preset=preset, request=request)
        for loc in LOCALES
    ]
    ctx = {"previews": previews, "channel": channel}
    return render(request, "admin_template_preview.html", ctx, user=user)


@router.post("/admin/templates/save")
def template_save(
    request: Request,
    user: ConfigEditor,
    session: DbSession,
    name: Annotated[str, Form(max_length=60)],
    channel: Annotated[str, Form(max_length=20)],
    preset: Annotated[str, Form(max_length=10)],
    body_zh_CN: Annotated[str, Form(max_length=5000)] = "",
    subject_zh_CN: Annotated[str, Form(max_length=500)] = "",
    base_zh_CN: Annotated[int | None, Form()] = None,
    body_en: Annotated[str, Form(max_length=5000)] = "",
    subject_en: Annotated[str, Form(max_length=500)] = "",
    base_en: Annotated[int | None, Form()] = None,
    comment: Annotated[str, Form(max_length=500)] = "",
    activate: Annotated[bool, Form()] = False,
) -> Response:
    """Save each changed locale as a new version — refused, with every finding, when any locale has one —
    and activate them when asked (needs ``admin.activate``)."""
    forms: dict[str, dict[str, Any]] = {
        "zh_CN": {"subject": subject_zh_CN, "body": body_zh_CN, "base": base_zh_CN},
        "en": {"subject": subject_en, "body": body_en, "base": base_en},
    }
    chosen = preset if preset in LINT_PRESETS else settings_of(request).jurisdiction
    saved: list[str] = []
    try:
        _check_name(name, channel)
        if activate and not has_permission(user, "admin.activate"):
            raise ForbiddenError(
                "activating needs admin.activate; save without activating / 启用需要 admin.activate 权限",
                details={"permission": "admin.activate"},
            )
        with session.begin_nested():
            for loc in LOCALES:
                form = forms[loc]
                if not str(form["body"]).strip():
                    continue  # a locale left empty is not saved (nor activated)
                key = f"{name}:{channel}:{loc}"
                tpl = MessageTemplate(
                    name, Channel(channel), loc, str(form["body"]), str(form["subject"]) or None
                )
                problems = check_template(tpl, preset=chosen, **_lint_args(request))
                if problems:
                    raise TemplateRejected(
                        f"{key}: {len(problems)} problem(s); fix them before saving / 模板存在问题，不能保存",
                        details={"problems": [p.to_json() for p in problems]},
                    )
                latest = get_latest(KIND, key, session=session, missing_ok=True)
                check_base_version(latest.version if latest else None, form["base"], f"template {key}")
                stored = do_save_template(tpl, session=session, actor=user.username, comment=comment.strip())
                assert stored.version is not None
                if latest is None or latest.version != stored.version:
                    audit(session, user, "template.save", {"key": key, "version": stored.version})
                    saved.append(stored.label)
                if activate:
                    current = active_template(key, session=session)
                    if current is None or current.version != stored.version:
                        do_activate(
                            key,
                            stored.version,
                            session=session,
                            actor=user.username,
                            preset=chosen,
                            **_lint_args(request),
                        )
                        audit(session, user, "template.activate", {"key": key, "version": stored.version})
                        saved.append(tr(request, user, "active") + f" {stored.label}")
            if not saved:
                raise ConflictError("nothing to save: no locale changed / 没有需要保存的修改")
    except RecoupError as exc:
        ctx = _editor_context(
            request,
            name if _NAME.match(name) else "draft",
            channel if channel in TEMPLATE_CHANNELS else "sms",
            chosen,
            forms,
        )
        ctx.update(flash=exc.message, flash_error=True)
        status = 422  # htmx swaps a 422 in place (base.html); the message says why
        return admin_page(
            request,
            user,
            "admin_template_edit.html",
            ctx,
            section="templates",
            status=status,
            here="/admin/templates",
        )
    message = tr(request, user, "Saved") + ": " + ", ".join(saved)
    return done(request, f"/admin/templates/edit?name={name}&channel={channel}", message)


@router.get("/admin/templates/{key}")
def template_versions(key: str, request: Request, user: AdminViewer, session: DbSession) -> Response:
    """Every version of ``NAME:CHANNEL:LOCALE`` with its text, who saved it and when; which is active."""
    rows = list(
        session.scalars(
            select(ConfigVersion)
            .where(ConfigVersion.kind == KIND, ConfigVersion.name == key)
            .order_by(ConfigVersion.version.desc())
        )
    )
    if not rows:
        raise NotFoundError(f"no template {key} · 没有该模板")
    act = active_template(key, session=session)
    ctx = {
        "key": key,
        "rows": rows,
        "active": act.version if act is not None else None,
        "presets": list(LINT_PRESETS),
        "preset": settings_of(request).jurisdiction,
        "name": key.split(":")[0],
        "channel": key.split(":")[1],
    }
    return admin_page(request, user, "admin_template_versions.html", ctx, section="templates")


@router.post("/admin/templates/{key}/activate")
def template_activate(
    key: str,
    request: Request,
    user: Activator,
    session: DbSession,
    version: Annotated[int, Form(ge=1)],
    preset: Annotated[str, Form(max_length=10)],
) -> Response:
    """Make a version the one the dispatcher sends (refused with its findings if it fails the checks)."""
    here = f"/admin/templates/{key}"
    try:
        with session.begin_nested():
            chosen = preset if preset in LINT_PRESETS else settings_of(request).jurisdiction
            current = active_template(key, session=session)
            if current is not None and current.version == version:
                return done(request, here, tr(request, user, "This version is already in effect"))
            do_activate(
                key, version, session=session, actor=user.username, preset=chosen, **_lint_args(request)
            )
            audit(session, user, "template.activate", {"key": key, "version": version})
    except RecoupError as exc:
        flash(request, exc.message, error=True)
        return redirect(request, here)
    return done(request, here, tr(request, user, "Activated") + f": {key}@{version}")
