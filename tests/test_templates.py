"""Message templates: a sandbox, fixed variables, locale formatting, versions, a lint on each rendering."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from recoup.contact.templates import (
    MessageContext,
    MessageTemplate,
    TemplateRejected,
    active_template,
    check_template,
    default_templates,
    do_activate,
    do_install_defaults,
    do_save_template,
    render,
)
from recoup.contact.vocab import Channel

SIG = "【示例消费金融】"
ZH_SMS = (
    "{{ signature }}{{ borrower_name }}您好，您在{{ lender_name }}的借款已逾期{{ days_past_due }}天，"
    "逾期金额{{ amount_overdue }}，到期日{{ due_date }}。请通过官方渠道还款：{{ payment_link }}"
)


def ctx(**kw: object) -> MessageContext:
    base: dict[str, object] = dict(
        borrower_name="张先生",
        amount_overdue=123456,
        due_date=dt.date(2026, 11, 10),
        days_past_due=14,
        lender_name="示例消费金融",
        payment_link="https://pay.recoup.local/p/x1",
        signature=SIG,
        hotline="95588",
        opt_out="回T退订",
    )
    base.update(kw)
    return MessageContext(**base)  # type: ignore[arg-type]


def test_zh_and_en_formatting() -> None:
    tpl = MessageTemplate("r", Channel.SMS, "zh_CN", ZH_SMS)
    out = render(tpl, ctx(), preset="cn")
    assert "¥1,234.56" in out.body and "2026年11月10日" in out.body and out.body.startswith(SIG)
    assert out.template == "r:sms:zh_CN@draft"
    en = MessageTemplate(
        "r",
        Channel.EMAIL,
        "en",
        "Dear {{ borrower_name }}, {{ amount_overdue }} was due on {{ due_date }}.",
        subject="{{ lender_name }}: overdue",
    )
    out = render(en, ctx(borrower_name="Mr Smith", lender_name="Example Finance"), preset="cn")
    assert (
        out.body == "Dear Mr Smith, CNY 1,234.56 was due on November 10, 2026."
        and out.subject == "Example Finance: overdue"
    )


def test_sandbox_and_fixed_variables() -> None:
    sneaky = MessageTemplate("x", Channel.SMS, "zh_CN", SIG + "{{ borrower_name.__class__.__mro__ }}")
    assert [p.rule for p in check_template(sneaky, preset="cn")] == ["TEMPLATE"]
    unknown = MessageTemplate("x", Channel.SMS, "zh_CN", SIG + "{{ national_id }}{{ borrower_name }}")
    problems = check_template(unknown, preset="cn")
    assert len(problems) == 1 and "national_id" in problems[0].message
    broken = MessageTemplate("x", Channel.SMS, "zh_CN", SIG + "{{ borrower_name ")
    assert "syntax" in check_template(broken, preset="cn")[0].message


def test_links_only_to_whitelisted_domains() -> None:
    tpl = MessageTemplate("r", Channel.SMS, "zh_CN", ZH_SMS)
    with pytest.raises(TemplateRejected) as err:
        render(tpl, ctx(payment_link="https://pay.evil.example/p/x1"), preset="cn")
    assert "LINK-DOMAIN" in {p["rule"] for p in err.value.details["problems"]}
    render(tpl, ctx(payment_link="https://m.pay.recoup.local/p/x1"), preset="cn")  # a subdomain is fine


def test_mandatory_content_per_preset() -> None:
    no_sig = MessageTemplate("r", Channel.SMS, "zh_CN", ZH_SMS.replace("{{ signature }}", ""))
    assert any(p.rule.startswith("CN-SMS") for p in check_template(no_sig, preset="cn"))
    us_email = MessageTemplate(
        "u", Channel.EMAIL, "en", "Dear {{ borrower_name }}, you owe {{ amount_overdue }}.", subject="Account"
    )
    assert any(p.rule.startswith("US-OPTOUT") for p in check_template(us_email, preset="us"))
    threat = MessageTemplate("t", Channel.SMS, "zh_CN", ZH_SMS + "，否则后果自负，我们会上门找你家人")
    assert any(p.rule.startswith("CN-CONTENT") for p in check_template(threat, preset="cn"))


def test_versions_and_activation(session: Session) -> None:
    tpl = MessageTemplate("reminder", Channel.SMS, "zh_CN", ZH_SMS)
    v1 = do_save_template(tpl, session=session, actor="ops")
    assert v1.version == 1 and do_save_template(tpl, session=session, actor="ops").version == 1  # unchanged
    assert active_template(v1.key, session=session) is None
    do_activate(v1.key, 1, session=session, actor="ops", preset="cn")
    bad = MessageTemplate("reminder", Channel.SMS, "zh_CN", ZH_SMS + "，再不还钱就让你全家社死")
    v2 = do_save_template(bad, session=session, actor="ops")
    assert v2.version == 2
    with pytest.raises(TemplateRejected, match="cannot be activated"):
        do_activate(v2.key, 2, session=session, actor="ops", preset="cn")
    active = active_template(v1.key, session=session)
    assert active is not None and active.version == 1


def test_shipped_templates_pass_their_presets(session: Session) -> None:
    for tpl, preset in default_templates():
        assert check_template(tpl, preset=preset) == [], tpl.label
    installed = do_install_defaults(session=session, actor="setup")
    assert len(installed) == len(default_templates())
    assert all(active_template(t.key, session=session) is not None for t in installed)
