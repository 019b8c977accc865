"""``recoup template …``: lint, save, activate, show, render and install the shipped templates."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from recoup.console import make_console
from recoup.contact.linter.cli import add_lint
from recoup.db import upgraded_session
from recoup.i18n import _

app = typer.Typer(help="Message templates: lint, versions, activation · 话术模板。", no_args_is_help=True)
add_lint(app)
console = make_console()


def _preset(preset: str | None) -> str:
    from recoup.config import get_settings

    return preset or get_settings().jurisdiction


def _problems(exc: Exception) -> None:
    from recoup.contact.templates import TemplateRejected

    if isinstance(exc, TemplateRejected):
        for p in exc.details.get("problems", []):
            console.print(f"  [red]{p['rule']}[/red] {p['message']} [dim]{p['excerpt']}[/dim]")


@app.command("save")
def save_cmd(
    key: str = typer.Argument(..., help="NAME:CHANNEL:LOCALE, e.g. reminder:sms:zh_CN"),
    file: Path = typer.Argument(..., help="The body (UTF-8 text; Jinja2 with the fixed variables)."),
    subject: str | None = typer.Option(None, "--subject", help="Email subject (a template too)."),
    by: str = typer.Option("cli", "--by"),
    comment: str = typer.Option("", "--comment"),
) -> None:
    """Save a new version (not active until activated). 保存模板新版本。"""
    from recoup.contact.templates import MessageTemplate, do_save_template, parse_key

    name, channel, locale = parse_key(key)
    body = file.read_text("utf-8")
    with upgraded_session() as session:
        saved = do_save_template(
            MessageTemplate(name, channel, locale, body, subject), session=session, actor=by, comment=comment
        )
        label = saved.label
    text = _("saved {label} (activate with: recoup template activate {key} {version})")
    console.print(text.format(label=label, key=key, version=saved.version))


@app.command("activate")
def activate_cmd(
    key: str = typer.Argument(..., help="NAME:CHANNEL:LOCALE"),
    version: int = typer.Argument(...),
    preset: str | None = typer.Option(
        None, "--preset", help="Whose mandatory content to check (default: jurisdiction)."
    ),
    domain: list[str] = typer.Option(["pay.recoup.local"], "--allow-domain", help="Whitelisted link domain."),
    signature: list[str] = typer.Option([], "--signature", help="A registered SMS 【签名】."),
    by: str = typer.Option("cli", "--by"),
) -> None:
    """Activate a version; refused with every problem when it fails the checks. 启用模板版本。"""
    from recoup.contact.templates import TemplateRejected, do_activate

    try:
        with upgraded_session() as session:
            tpl = do_activate(
                key,
                version,
                session=session,
                actor=by,
                preset=_preset(preset),
                domains=domain,
                signatures=signature,
            )
            label = tpl.label
    except TemplateRejected as exc:
        console.print(f"[red]{exc.message}[/red]")
        _problems(exc)
        raise typer.Exit(exc.exit_code) from None  # 65: the template was rejected (docs/errors.md)
    console.print(_("active: {label}").format(label=label))


@app.command("list")
def list_cmd() -> None:
    """Templates, their versions and which one is active. 模板列表。"""
    from sqlalchemy import select

    from recoup.configs.models import ConfigVersion
    from recoup.contact.templates import KIND, active_template

    table = Table(title=_("Message templates"), box=box.SIMPLE_HEAD)
    for col in (_("Template"), _("Versions"), _("Active version")):
        table.add_column(col)
    with upgraded_session() as session:
        rows = session.scalars(
            select(ConfigVersion).where(ConfigVersion.kind == KIND).order_by(ConfigVersion.name)
        )
        latest: dict[str, int] = {}
        for r in rows:
            latest[r.name] = max(latest.get(r.name, 0), r.version)
        for key, n in latest.items():
            act = active_template(key, session=session)
            table.add_row(key, str(n), str(act.version) if act else "—")
    console.print(table)


@app.command("render")
def render_cmd(
    key: str = typer.Argument(..., help="NAME:CHANNEL:LOCALE (the active version) or NAME:CHANNEL:LOCALE@N"),
    values: Path = typer.Argument(..., help="JSON with the message values (amounts in minor units)."),
    preset: str | None = typer.Option(None, "--preset"),
    domain: list[str] = typer.Option(["pay.recoup.local"], "--allow-domain"),
) -> None:
    """Render a template with values, checked as before sending. 渲染预览。"""
    from recoup.contact.templates import (
        TemplateRejected,
        active_template,
        context_from_mapping,
        get_template,
        render,
    )
    from recoup.errors import NotFoundError

    key_part, _sep, ver = key.partition("@")
    if ver and not ver.isdigit():
        raise NotFoundError(f"{key}: the version after @ must be a number · 版本号须为数字")
    with upgraded_session() as session:
        tpl = (
            get_template(key_part, int(ver), session=session)
            if ver
            else active_template(key_part, session=session)
        )
    if tpl is None:
        raise NotFoundError(f"no active version of {key_part} · 该模板没有启用的版本")
    try:
        data = json.loads(values.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TemplateRejected(
            f"{values}: not a readable JSON file ({str(exc)[:120]}) · 无法读取 JSON"
        ) from None
    ctx = context_from_mapping(data)
    try:
        out = render(tpl, ctx, preset=_preset(preset), domains=domain)
    except TemplateRejected as exc:
        console.print(f"[red]{exc.message}[/red]")
        _problems(exc)
        raise typer.Exit(exc.exit_code) from None  # 65: the template was rejected (docs/errors.md)
    # The text is printed as it is: no markup, no emoji codes (":email:" stays ":email:").
    if out.subject:
        console.print(out.subject, markup=False, highlight=False, style="bold")
    console.print(out.body, markup=False, highlight=False)


@app.command("install-defaults")
def install_cmd(
    preset: str | None = typer.Option(None, "--preset", help="Only the templates written for this preset."),
    by: str = typer.Option("setup", "--by"),
) -> None:
    """Save and activate the shipped templates. 安装默认模板。"""
    from recoup.contact.templates import do_install_defaults

    with upgraded_session() as session:
        done = do_install_defaults(session=session, actor=by, preset=preset)
        labels = [t.label for t in done]
    for label in labels:
        console.print(_("active: {label}").format(label=label))
