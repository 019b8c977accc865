"""``recoup policy …``: check scenarios, list, show and copy presets, audit recorded attempts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table

from recoup.console import make_console
from recoup.db import upgraded_session

app = typer.Typer(
    help="Contact policy: scenario checks, presets, audit. 联系合规策略：场景校验、预设、稽核。",
    no_args_is_help=True,
)
console = make_console()


@app.command("check")
def check_cmd(
    scenario: Path = typer.Argument(..., help="A scenario JSON file (see docs/contact-policy.md)."),
) -> None:
    """Judge each proposed attempt of a scenario; print {"verdicts": [...]} as JSON. 判定场景中的联系尝试。"""
    from recoup.contact.policy.scenario import check_scenario

    print(json.dumps(check_scenario(scenario), ensure_ascii=False, indent=2))


@app.command("presets")
def presets_cmd() -> None:
    """List the built-in presets and saved versions. 列出策略预设。"""
    from sqlalchemy import select

    from recoup.configs.models import ConfigVersion
    from recoup.contact.policy.presets import BUILTIN, KIND, load_builtin

    table = Table(title="Contact-policy presets · 联系策略预设", box=box.SIMPLE_HEAD)
    for col in ("name", "version", "title", "rules"):
        table.add_column(col)
    for name in BUILTIN:
        p = load_builtin(name)
        table.add_row(p.name, p.version, f"{p.title[0]} · {p.title[1]}", str(len(p.rules)))
    with upgraded_session() as session:
        rows = session.scalars(
            select(ConfigVersion).where(ConfigVersion.kind == KIND).order_by(ConfigVersion.name)
        )
        for row in rows:
            title = row.payload.get("title") or [row.name, row.name]
            table.add_row(
                row.name, str(row.version), f"{title[0]} · {title[1]}", str(len(row.payload["rules"]))
            )
    console.print(table)


@app.command("show")
def show_cmd(
    name: str = typer.Argument("cn", help="Preset name."),
    as_json: bool = typer.Option(False, "--json", help="Print the preset as JSON."),
) -> None:
    """Show a preset's rules, parameters and sources. 显示预设的规则、参数与出处。"""
    from recoup.contact.policy.base import RULES
    from recoup.contact.policy.presets import resolve

    with upgraded_session() as session:
        preset = resolve(name, session=session)
    if as_json:
        print(
            json.dumps(
                {"version": preset.label, **preset.payload()}, ensure_ascii=False, indent=2, default=str
            )
        )
        return
    table = Table(title=f"{preset.label} — {preset.title[0]} · {preset.title[1]}", box=box.SIMPLE_HEAD)
    for col in ("rule", "limits", "parameters", "source"):
        table.add_column(col, overflow="fold")
    for rule in preset.compile():
        params = rule.params.model_dump(mode="json")
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        if rule.unverified:
            shown += f"  († unverified: {', '.join(rule.unverified)})"
        table.add_row(rule.id, f"{rule.title[0]}\n{rule.title[1]}", shown, rule.source)
    for rid in preset.disabled:
        cls = RULES[rid]
        table.add_row(
            f"[dim]{rid} (off)[/dim]", f"{cls.title[0]}\n{cls.title[1]}", "enabled=false", cls.source
        )
    console.print(table)


def _parse_sets(sets: list[str]) -> dict[str, dict[str, Any]]:
    from recoup.errors import RecoupError

    out: dict[str, dict[str, Any]] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        rid, dot, param = key.rpartition(".")
        if not sep or not dot or not rid or not param:
            raise RecoupError(f"--set {item!r}: use RULE.param=value, e.g. CN-FREQ-CONN.max=2")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(rid, {})[param] = value
    return out


@app.command("copy")
def copy_cmd(
    source: str = typer.Argument(..., help="The preset to copy (built-in or saved)."),
    name: str = typer.Argument(..., help="The new preset's name (a new version if it exists)."),
    sets: list[str] = typer.Option([], "--set", help="RULE.param=value (JSON values), repeatable."),
    by: str = typer.Option("cli", "--by", help="Who saves it (recorded with the version)."),
    comment: str = typer.Option("", "--comment", help="Why it changed."),
) -> None:
    """Copy a preset, change parameters and save a new version. 复制预设、修改参数并保存新版本。"""
    from recoup.contact.policy.presets import do_save_preset

    with upgraded_session() as session:
        preset = do_save_preset(source, name, _parse_sets(sets), session=session, actor=by, comment=comment)
        label = preset.label
    console.print(f"saved {label} · 已保存 {label}")


@app.command("audit")
def audit_cmd(
    start: str = typer.Option(..., "--from", help="First business date (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last business date (YYYY-MM-DD)."),
    preset: str | None = typer.Option(None, "--preset", help="Preset name (default: the jurisdiction)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Replay recorded attempts through the policy of the time; list those it would not allow. 合规稽核。"""
    from recoup.config import get_settings
    from recoup.contact.policy.audit import audit
    from recoup.portfolio.cli import parse_as_of

    settings = get_settings()
    d1, d2 = parse_as_of(start, "--from"), parse_as_of(end, "--to")
    name = preset or settings.jurisdiction
    with upgraded_session() as session:
        found = list(
            audit(
                session=session,
                start=d1,
                end=d2,
                preset=name,
                timezone=settings.timezone,
                domains=settings.link_domains,
                signatures=settings.sms_signatures,
            )
        )
    if as_json:
        print(
            json.dumps({"violations": [v.to_json() for v in found], "count": len(found)}, ensure_ascii=False)
        )
        return
    if not found:
        console.print(f"no violations {d1}…{d2} · 未发现违规")
        return
    table = Table(title=f"{len(found)} violation(s) · 违规 {d1}…{d2}", box=box.SIMPLE_HEAD)
    for col in ("at", "by", "channel", "party", "to", "verdict", "rules"):
        table.add_column(col)
    for v in found:
        table.add_row(
            v.at, v.agency or v.made_by, v.channel, v.party, v.destination, v.verdict, ", ".join(v.rules)
        )
    console.print(table)
    raise typer.Exit(1)
