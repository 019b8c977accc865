"""Message templates: Jinja2 in a sandbox, a fixed set of variables, versions, and a lint on every rendering.

A template is per channel and locale (``zh_CN`` or ``en``) and is stored as versioned configuration
(kind ``message_template``, name ``NAME:CHANNEL:LOCALE``). Activating a version is a separate record
(kind ``template_activation``), so what was active when is never lost. A version that fails the checks
cannot be activated; every rendering is checked again (the values can break a rule that the sample
values did not: a link outside the whitelist, a missing signature), and a failed rendering is never
sent.

Templates see only the variables in :data:`VARIABLES`, already formatted for the locale (money as
``¥1,234.56`` or ``CNY 1,234.56``, dates as ``2026年11月24日`` or ``November 24, 2026``); the raw
values never reach the template, so a template cannot compute or reformat an amount.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from babel.dates import format_date
from jinja2 import TemplateError, TemplateSyntaxError, meta
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.configs.models import ConfigVersion
from recoup.configs.service import do_save_version, get_latest
from recoup.contact.sandbox import BoundedSandbox, render_bounded
from recoup.contact.vocab import Channel
from recoup.errors import NotFoundError, RecoupError
from recoup.money import format_amount

__all__ = [
    "KIND",
    "VARIABLES",
    "MessageContext",
    "MessageTemplate",
    "Problem",
    "Rendered",
    "TemplateRejected",
    "active_template",
    "check_template",
    "default_templates",
    "do_activate",
    "do_install_defaults",
    "do_save_template",
    "render",
]

KIND = "message_template"
ACTIVATION = "template_activation"
Locale = Literal["zh_CN", "en"]
LOCALES: tuple[str, ...] = ("zh_CN", "en")
MAX_LENGTH = 5000

#: The variables a template may use, with what they hold (zh, en).
VARIABLES: dict[str, tuple[str, str]] = {
    "borrower_name": ("借款人姓名（称呼）", "the borrower's name"),
    "amount_overdue": ("逾期金额（已按语言格式化）", "the overdue amount, formatted"),
    "amount_due": ("应还金额（已格式化）", "the amount due, formatted"),
    "due_date": ("到期日（已格式化）", "the due date, formatted"),
    "days_past_due": ("逾期天数", "days past due"),
    "payment_link": ("还款链接（白名单域名）", "the payment link (whitelisted domain)"),
    "lender_name": ("机构名称", "the lender's name"),
    "agency_name": ("受托催收机构名称", "the collection agency's name"),
    "hotline": ("官方客服电话", "the official hotline"),
    "opt_out": ("退订说明", "the opt-out line"),
    "signature": ("短信签名（如【某某金融】）", "the SMS sender signature"),
    "loan_ref": ("借款编号（脱敏）", "the loan reference (masked)"),
}

_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'，。；）)]+")


class TemplateRejected(RecoupError):
    """A template or a rendering breaks a rule; ``details["problems"]`` lists every problem."""

    code = "template.rejected"
    http_status = 422
    exit_code = 65


@dataclass(frozen=True)
class Problem:
    """One reason a template or a rendering may not be used."""

    rule: str
    message: str
    excerpt: str = ""

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message, "excerpt": self.excerpt}


@dataclass(frozen=True)
class MessageTemplate:
    """A template's source; ``version`` is set once it is stored."""

    name: str
    channel: Channel
    locale: str
    body: str
    subject: str | None = None
    version: int | None = None

    @property
    def key(self) -> str:
        return f"{self.name}:{self.channel.value}:{self.locale}"

    @property
    def label(self) -> str:
        return f"{self.key}@{self.version}" if self.version is not None else f"{self.key}@draft"

    def payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channel": self.channel.value,
            "locale": self.locale,
            "subject": self.subject,
            "body": self.body,
        }


@dataclass(frozen=True)
class MessageContext:
    """The values for one message (raw: amounts in minor units, dates as dates)."""

    borrower_name: str
    amount_overdue: int
    due_date: dt.date
    days_past_due: int
    lender_name: str
    payment_link: str = ""
    amount_due: int | None = None
    currency: str = "CNY"
    agency_name: str = ""
    hotline: str = ""
    opt_out: str = ""
    signature: str = ""
    loan_ref: str = ""

    def formatted(self, locale: str) -> dict[str, str]:
        """Every variable as text for ``locale``."""
        style: Literal["zh", "en"] = "zh" if locale.startswith("zh") else "en"
        return {
            "borrower_name": self.borrower_name,
            "amount_overdue": format_amount(self.amount_overdue, self.currency, style=style),
            "amount_due": format_amount(
                self.amount_due if self.amount_due is not None else self.amount_overdue,
                self.currency,
                style=style,
            ),
            "due_date": format_date(self.due_date, format="long", locale="zh_CN" if style == "zh" else "en"),
            "days_past_due": str(self.days_past_due),
            "payment_link": self.payment_link,
            "lender_name": self.lender_name,
            "agency_name": self.agency_name,
            "hotline": self.hotline,
            "opt_out": self.opt_out,
            "signature": self.signature,
            "loan_ref": self.loan_ref,
        }


def sample_context(locale: str, *, link_domain: str = "pay.recoup.local") -> MessageContext:
    """Plausible values for checking a template before it is activated."""
    zh = locale.startswith("zh")
    return MessageContext(
        borrower_name="张先生" if zh else "Mr Smith",
        amount_overdue=123456,
        amount_due=123456,
        due_date=dt.date(2026, 11, 10),
        days_past_due=14,
        lender_name="示例消费金融" if zh else "Example Finance",
        payment_link=f"https://{link_domain}/p/abc123",
        agency_name="示例催收服务" if zh else "Example Collections",
        hotline="95588" if zh else "1-800-555-0100",
        opt_out="回T退订" if zh else "Reply STOP to opt out of texts, or unsubscribe at any time.",
        signature="【示例消费金融】" if zh else "【Example Finance】",
        loan_ref="L****1234",
        currency="CNY" if zh else "USD",
    )


_ENV = BoundedSandbox()

#: ``(text, preset, locale, channel, signatures, domains) -> [(rule, message, excerpt)]`` — the linter.
LintHook = Callable[[str, str, str, str, Sequence[str], Sequence[str]], list[tuple[str, str, str]]]


def _linter() -> LintHook | None:
    try:
        from recoup.contact.linter import LintContext, lint
    except ImportError:  # pragma: no cover - the linter ships with the package
        return None

    def hook(
        text: str, preset: str, locale: str, channel: str, signatures: Sequence[str], domains: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        ctx = LintContext(sms_signatures=frozenset(signatures), allowed_domains=frozenset(domains))
        result = lint(text, preset=preset, locale=locale, channel=channel, context=ctx)
        return [(f.rule, f.message, f.excerpt) for f in result.findings]

    return hook


def _links(text: str, domains: Sequence[str]) -> list[Problem]:
    out = []
    allowed = {d.lower().lstrip(".") for d in domains}
    for m in _URL.finditer(text):
        url = m.group(0)
        host = re.sub(r"(?i)^(?:https?://)?", "", url).split("/")[0].split(":")[0].lower()
        if not any(host == d or host.endswith("." + d) for d in allowed):
            out.append(
                Problem(
                    "LINK-DOMAIN", f"链接域名不在白名单 · link to a domain outside the whitelist: {host}", url
                )
            )
    return out


@dataclass
class _Checked:
    problems: list[Problem] = field(default_factory=list)
    subject: str | None = None
    body: str = ""


def _render_checked(
    tpl: MessageTemplate,
    ctx: MessageContext,
    *,
    preset: str,
    domains: Sequence[str],
    signatures: Sequence[str],
    lint: LintHook | None,
) -> _Checked:
    out = _Checked()
    values = ctx.formatted(tpl.locale)
    try:
        out.body = render_bounded(_ENV, tpl.body, values).strip()
        out.subject = render_bounded(_ENV, tpl.subject, values).strip() if tpl.subject else None
    except (TemplateError, ArithmeticError, ValueError, TypeError) as exc:  # undefined, sandbox, syntax
        out.problems.append(Problem("TEMPLATE", f"模板无法渲染 · cannot render: {str(exc)[:200]}"))
        return out
    text = f"{out.subject}\n{out.body}" if out.subject else out.body
    out.problems.extend(_links(text, domains))
    if lint is not None:
        seen = {(p.rule, p.excerpt) for p in out.problems}
        for rule, message, excerpt in lint(text, preset, tpl.locale, tpl.channel.value, signatures, domains):
            if (rule, excerpt) not in seen:
                out.problems.append(Problem(rule, message, excerpt))
    return out


def check_template(
    tpl: MessageTemplate,
    *,
    preset: str,
    domains: Sequence[str] = ("pay.recoup.local",),
    signatures: Sequence[str] = (),
    lint: LintHook | None = None,
) -> list[Problem]:
    """Every reason ``tpl`` may not be activated: syntax, unknown variables, and a sample rendering's lint."""
    problems: list[Problem] = []
    if tpl.locale not in LOCALES:
        problems.append(
            Problem("TEMPLATE", f"未知语言 · unknown locale {tpl.locale!r}; one of {', '.join(LOCALES)}")
        )
        return problems
    if len(tpl.body) > MAX_LENGTH or not tpl.body.strip():
        problems.append(Problem("TEMPLATE", f"正文为空或过长 · body empty or over {MAX_LENGTH} characters"))
        return problems
    for part in (tpl.body, tpl.subject or ""):
        try:
            names = meta.find_undeclared_variables(_ENV.parse(part))
        except TemplateSyntaxError as exc:
            problems.append(
                Problem("TEMPLATE", f"模板语法错误 · syntax error, line {exc.lineno}: {exc.message}")
            )
            return problems
        for name in sorted(names - set(VARIABLES)):
            problems.append(
                Problem(
                    "TEMPLATE", f"未知变量 · unknown variable {name!r}; allowed: {', '.join(VARIABLES)}", name
                )
            )
    if problems:
        return problems
    domain = domains[0] if domains else "pay.recoup.local"
    checked = _render_checked(
        tpl,
        sample_context(tpl.locale, link_domain=domain),
        preset=preset,
        domains=domains,
        signatures=signatures,
        lint=lint if lint is not None else _linter(),
    )
    return checked.problems


@dataclass(frozen=True)
class Rendered:
    """A message ready for the outbox: the text and the template version that made it."""

    subject: str | None
    body: str
    template: str


def render(
    tpl: MessageTemplate,
    ctx: MessageContext,
    *,
    preset: str,
    domains: Sequence[str] = ("pay.recoup.local",),
    signatures: Sequence[str] = (),
    lint: LintHook | None = None,
) -> Rendered:
    """Render for one borrower; a rendering that breaks a rule raises :class:`TemplateRejected`."""
    checked = _render_checked(
        tpl,
        ctx,
        preset=preset,
        domains=domains,
        signatures=signatures,
        lint=lint if lint is not None else _linter(),
    )
    if checked.problems:
        raise TemplateRejected(
            f"{tpl.label}: rendering breaks {len(checked.problems)} rule(s) · 渲染结果违反规则: "
            + "; ".join(f"{p.rule} {p.excerpt}".strip() for p in checked.problems),
            details={"problems": [p.to_json() for p in checked.problems]},
        )
    return Rendered(checked.subject, checked.body, tpl.label)


def _from_row(row: ConfigVersion) -> MessageTemplate:
    p = row.payload
    return MessageTemplate(
        name=p["name"],
        channel=Channel(p["channel"]),
        locale=p["locale"],
        body=p["body"],
        subject=p.get("subject"),
        version=row.version,
    )


def do_save_template(
    tpl: MessageTemplate, *, session: Session, actor: str, comment: str = ""
) -> MessageTemplate:
    """Store ``tpl`` as the next version of its key (an unchanged body returns the latest version)."""
    if tpl.locale not in LOCALES:
        raise TemplateRejected(f"unknown locale {tpl.locale!r}; one of {', '.join(LOCALES)} · 未知语言")
    row = do_save_version(KIND, tpl.key, tpl.payload(), session=session, created_by=actor, comment=comment)
    return _from_row(row)


def get_template(key: str, version: int, *, session: Session) -> MessageTemplate:
    row = session.scalars(
        select(ConfigVersion).where(
            ConfigVersion.kind == KIND, ConfigVersion.name == key, ConfigVersion.version == version
        )
    ).first()
    if row is None:
        raise NotFoundError(f"no template {key}@{version} · 没有该模板版本")
    return _from_row(row)


def do_activate(
    key: str,
    version: int,
    *,
    session: Session,
    actor: str,
    preset: str,
    domains: Sequence[str] = ("pay.recoup.local",),
    signatures: Sequence[str] = (),
    lint: LintHook | None = None,
) -> MessageTemplate:
    """Make ``key@version`` the active template; refused (with every problem) when it fails the checks."""
    tpl = get_template(key, version, session=session)
    problems = check_template(tpl, preset=preset, domains=domains, signatures=signatures, lint=lint)
    if problems:
        raise TemplateRejected(
            f"{tpl.label} cannot be activated · 模板未通过检查，不能启用: "
            + "; ".join(f"{p.rule} {p.excerpt}".strip() for p in problems),
            details={"problems": [p.to_json() for p in problems]},
        )
    do_save_version(ACTIVATION, key, {"version": version}, session=session, created_by=actor)
    return tpl


def active_template(key: str, *, session: Session) -> MessageTemplate | None:
    """The template version active now for ``NAME:CHANNEL:LOCALE`` (None when none was activated)."""
    act = get_latest(ACTIVATION, key, session=session, missing_ok=True)
    if act is None:
        return None
    return get_template(key, int(act.payload["version"]), session=session)


def parse_key(key: str) -> tuple[str, Channel, str]:
    """Split ``NAME:CHANNEL:LOCALE`` with a clear error."""
    parts = key.split(":")
    if len(parts) != 3:
        raise TemplateRejected(f"template key {key!r}: use NAME:CHANNEL:LOCALE, e.g. reminder:sms:zh_CN")
    try:
        channel = Channel(parts[1])
    except ValueError:
        raise TemplateRejected(f"template key {key!r}: unknown channel {parts[1]!r}") from None
    return parts[0], channel, parts[2]


def default_templates() -> list[tuple[MessageTemplate, str]]:
    """The shipped templates with the preset each is written for."""
    text = (
        resources.files("recoup.contact").joinpath("template_defaults", "templates.toml").read_text("utf-8")
    )
    out = []
    for t in tomllib.loads(text)["template"]:
        tpl = MessageTemplate(
            name=t["name"],
            channel=Channel(t["channel"]),
            locale=t["locale"],
            body=t["body"],
            subject=t.get("subject"),
        )
        out.append((tpl, str(t["preset"])))
    return out


def do_install_defaults(
    *,
    session: Session,
    actor: str,
    preset: str | None = None,
    domains: Sequence[str] = ("pay.recoup.local",),
    signatures: Sequence[str] = (),
) -> list[MessageTemplate]:
    """Save and activate the shipped templates (those for ``preset`` only, when given)."""
    done = []
    for tpl, for_preset in default_templates():
        if preset is not None and for_preset != preset:
            continue
        saved = do_save_template(tpl, session=session, actor=actor, comment="shipped default")
        assert saved.version is not None
        done.append(
            do_activate(
                saved.key,
                saved.version,
                session=session,
                actor=actor,
                preset=for_preset,
                domains=domains,
                signatures=signatures,
            )
        )
    return done


def context_from_mapping(values: Mapping[str, Any]) -> MessageContext:
    """A context from JSON-like values (amounts as minor-unit integers, dates as ISO strings);
    an unknown key or a value of the wrong type is :class:`TemplateRejected` naming it."""
    import dataclasses

    if not isinstance(values, Mapping):
        raise TemplateRejected("message values must be a JSON object · 消息变量须为 JSON 对象")
    fields = {f.name: f for f in dataclasses.fields(MessageContext)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise TemplateRejected(
            f"unknown message value(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(fields)} · 未知变量",
            details={"unknown": unknown},
        )
    v: dict[str, Any] = {}
    for name, raw in values.items():
        kind = str(fields[name].type)
        if "dt.date" in kind:
            try:
                v[name] = dt.date.fromisoformat(raw) if isinstance(raw, str) else None
            except ValueError:
                v[name] = None
            if v[name] is None:
                raise TemplateRejected(f"{name}: {str(raw)[:40]!r} is not a date (YYYY-MM-DD) · 不是日期")
        elif kind.startswith("int"):
            if raw is None and "None" in kind:
                v[name] = None
            elif not isinstance(raw, int) or isinstance(raw, bool) or abs(raw) > 10**15:
                raise TemplateRejected(
                    f"{name}: {str(raw)[:40]!r} is not an amount in minor units · 不是整数金额"
                )
            else:
                v[name] = raw
        elif not isinstance(raw, str) or len(raw) > 1_000:
            raise TemplateRejected(f"{name}: must be text of at most 1,000 characters · 须为文本")
        else:
            v[name] = raw
    missing = [n for n, f in fields.items() if n not in v and f.default is dataclasses.MISSING]
    if missing:
        raise TemplateRejected(f"missing message value(s): {', '.join(missing)} · 缺少变量")
    return MessageContext(**v)
