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
from recoup.i18n import _, cli_locale

app = typer.Typer(
    help="Contact policy: scenario checks, presets, audit. 联系合规策略：场景校验、预设、稽核。",
    no_args_is_help=True,
)
console = make_console()


@app.command("check")
def check_cmd(
    scenario: Path = typer.Argument(..., help="A scenario JSON file (see docs/contact-policy.md)."),
    as_json: bool = typer.Option(False, "--json", help='Print {"verdicts": [...]} as JSON. 输出 JSON。'),
    as_table: bool = typer.Option(
        False, "--table", help="Print a table (the default): each verdict with its rules' names. 输出表格。"
    ),
) -> None:
    """Judge each proposed attempt of a scenario. 判定场景中的联系尝试。

    Prints each verdict with the name, reason and source of every rule that decided it, in the CLI's
    language; with --json prints {"verdicts": [...]} as JSON (the same wherever the output goes).
    """
    from recoup.contact.policy.scenario import check_scenario

    result = check_scenario(scenario)
    if as_json and not as_table:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    _print_verdicts(result)


def rule_name(rule_id: str, locale: str | None = None) -> tuple[str, str]:
    """The name (reason) and source of a rule id in the CLI's language; a finding's id
    (``CN-CONTENT.threat``) is its rule's name and the finding."""
    from recoup.contact.policy.base import RULES

    base, _dot, finding = rule_id.partition(".")
    cls = RULES.get(rule_id) or RULES.get(base)
    if cls is None:
        return rule_id, ""
    zh, en = cls.title
    name = en if (locale or cli_locale()) == "en" else zh
    if finding and rule_id not in RULES:
        name = f"{name}: {finding.replace('_', ' ')}"
    return name, cls.source


def _print_verdicts(result: dict[str, Any]) -> None:
    from recoup.labels import verdict_label

    table = Table(
        title=_("Contact-policy verdicts ({preset})").format(preset=result["preset"]),
        box=box.SIMPLE_HEAD,
        show_lines=True,
    )
    for col in (_("Attempt"), _("Verdict"), _("Until"), _("Rule"), _("Name and reason"), _("Source")):
        table.add_column(col, overflow="fold")
    for v in result["verdicts"]:
        rules = v["rules"] or [""]
        for i, rid in enumerate(rules):
            name, source = rule_name(rid) if rid else (_("no rule objects"), "")
            first = i == 0
            table.add_row(
                v["id"] if first else "",
                verdict_label(v["verdict"]) if first else "",
                v.get("defer_until", "") if first else "",
                rid,
                name,
                source,
            )
    console.print(table)


@app.command("presets")
def presets_cmd() -> None:
    """List the built-in presets and saved versions. 列出策略预设。"""
    from sqlalchemy import select

    from recoup.configs.models import ConfigVersion
    from recoup.contact.policy.presets import BUILTIN, KIND, load_builtin

    table = Table(title=_("Contact-policy presets"), box=box.SIMPLE_HEAD)
    for col in (_("Name"), _("Version"), _("Title"), _("Rules")):
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
    en = cli_locale() == "en"
    table = Table(title=f"{preset.label} — {preset.title[1] if en else preset.title[0]}", box=box.SIMPLE_HEAD)
    for col in (_("Rule"), _("Limits"), _("Parameters"), _("Source")):
        table.add_column(col, overflow="fold")
    for rule in preset.compile():
        params = rule.params.model_dump(mode="json")
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        if rule.unverified:
            shown += "  († " + _("unverified: {params}").format(params=", ".join(rule.unverified)) + ")"
        table.add_row(rule.id, rule.title[1] if en else rule.title[0], shown, rule.source)
    off = _("(off)")
    for rid in preset.disabled:
        cls = RULES[rid]
        table.add_row(
            f"[dim]{rid} {off}[/dim]", cls.title[1] if en else cls.title[0], "enabled=false", cls.source
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
    console.print(_("saved {label}").format(label=label))


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
        console.print(_("no violations {start}…{end}").format(start=d1, end=d2))
        return
    from recoup.labels import channel_label, party_label, verdict_label

    title = _("{n} violation(s) {start}…{end}").format(n=len(found), start=d1, end=d2)
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for col in (_("At"), _("By"), _("Channel"), _("Party"), _("To"), _("Verdict"), _("Rules")):
        table.add_column(col)
    for v in found:
        names = "; ".join(f"{rid} {rule_name(rid)[0]}" for rid in v.rules)
        table.add_row(
            v.at,
            v.agency or v.made_by,
            channel_label(v.channel),
            party_label(v.party),
            v.destination,
            verdict_label(v.verdict),
            names,
        )
    console.print(table)
    raise typer.Exit(1)
