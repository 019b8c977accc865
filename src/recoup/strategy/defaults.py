"""The default strategy — the source documents' ladder, and the baseline every challenger is measured
against — plus the per-treatment defaults used by exploration and the message templates the ladder
needs that the contact package does not ship yet.

The ladder (docs/strategy.md has it as a table): mild (轻度) accounts get SMS and robot-call reminders
and, late in M1, an agent call or a repayment-plan offer; severe (重度) accounts get agent calls, field
visits, a lawyer's letter and legal review; extremely severe (极重度) accounts go to an agency, or to
legal review when the balance is large. Before negative information is reported to the credit bureau
the borrower is told (征信业管理条例 第十五条), in every arm of every experiment.
"""

from __future__ import annotations

from typing import Any

from recoup.config import SAMPLE_HOTLINE, SAMPLE_LENDER_NAME, SAMPLE_PAYMENT_DOMAIN, SAMPLE_SMS_SIGNATURE
from recoup.contact.vocab import Treatment

__all__ = ["DEFAULT_NAME", "DEFAULT_STRATEGY", "TREATMENT_DEFAULTS"]

DEFAULT_NAME = "default"

_MILD = {"segment": "mild"}
_SEVERE = {"segment": "severe"}
_EXTREME = {"segment": "extremely_severe"}


def _row(
    id: str, when: dict[str, Any], then: dict[str, Any], note: str, *, required: bool = False
) -> dict[str, Any]:
    return {"id": id, "when": when, "then": then, "required_notice": required, "note": note}


DEFAULT_STRATEGY: dict[str, Any] = {
    "name": DEFAULT_NAME,
    "description": "默认策略：轻度短信/语音提醒与灵活还款方案，"
    "重度电话、外访、律师函与法务审查，极重度委外 · "
    "Default ladder: mild reminders and flexible plans; severe calls, visits, letters and legal "
    "review; extremely severe agency placement.",
    # The lender's identity here is a sample for the demo: messages use the RECOUP_LENDER_NAME,
    # RECOUP_SMS_SIGNATURE, RECOUP_HOTLINE and RECOUP_PAYMENT_DOMAIN settings when set, and real channels
    # refuse to send while they are unset or still these values (docs/dispatch.md, "Safe sending").
    "lender_name": SAMPLE_LENDER_NAME,
    "signature": SAMPLE_SMS_SIGNATURE,
    "hotline": SAMPLE_HOTLINE,
    "payment_link": f"https://{SAMPLE_PAYMENT_DOMAIN}/p/",
    "opt_out": {"zh_CN": "回T退订", "en": "Reply T to opt out of texts · 回T退订"},
    "send_hour": 10,
    "rows": [
        _row(
            "notice-credit",
            {"dpd": 25},
            {"treatment": "sms", "template": "credit_notice", "tone": "formal", "priority": 90},
            "报送不良信息前告知本人（征信业管理条例第十五条）· notice before negative credit reporting",
            required=True,
        ),
        _row(
            "promise-wait",
            {"has_promise": True},
            {"treatment": "no_action"},
            "有未到期的还款承诺：等到承诺日 · an open promise to pay: wait for the promised date",
        ),
        _row(
            "promise-escalate",
            {"broken_promises": {"ge": 2}, "dpd": {"le": 90}},
            {"treatment": "agent_call", "tone": "firm", "priority": 70, "queue": "escalation"},
            "90天内两次跳票：升级人工催收 · two broken promises in 90 days: escalate to an agent",
        ),
        _row(
            "mild-email-pref",
            {**_MILD, "preferred_channel": "email", "dpd": {"between": [1, 15]}},
            {"treatment": "email", "template": "reminder", "tone": "soft", "priority": 10},
            "偏好邮件的客户 · the borrower prefers email",
        ),
        _row(
            "mild-sms",
            {**_MILD, "dpd": {"between": [1, 3]}},
            {"treatment": "sms", "template": "reminder", "tone": "soft", "priority": 10},
            "逾期1–3天：短信提醒 · days 1–3: a text reminder",
        ),
        _row(
            "mild-sms-likely",
            {**_MILD, "dpd": {"between": [4, 15]}, "score": {"ge": 0.6}},
            {"treatment": "sms", "template": "reminder", "tone": "soft", "priority": 20},
            "逾期4–15天且自愈概率高：短信即可 · days 4–15, likely to self-cure: a text is enough",
        ),
        _row(
            "mild-robot",
            {**_MILD, "dpd": {"between": [4, 15]}, "dpd_parity": 0},
            {"treatment": "robot_call", "template": "robot_reminder", "tone": "soft", "priority": 30},
            "逾期4–15天（偶数日）：智能语音提醒 · days 4–15, even days: a robot call",
        ),
        _row(
            "mild-sms-alt",
            {**_MILD, "dpd": {"between": [4, 15]}},
            {"treatment": "sms", "template": "reminder", "tone": "soft", "priority": 30},
            "逾期4–15天（奇数日）：短信提醒，与语音交替 · days 4–15, odd days: a text, alternating",
        ),
        _row(
            "mild-plan",
            {**_MILD, "dpd": {"between": [16, 30]}, "score": {"lt": 0.5}},
            {"treatment": "plan_offer", "tone": "soft", "queue": "early", "priority": 50},
            "逾期16–30天且自愈概率低：人工致电并提供分期方案 · days 16–30, low self-cure: call with a plan",
        ),
        _row(
            "mild-call",
            {**_MILD, "dpd": {"between": [16, 30]}},
            {"treatment": "agent_call", "tone": "soft", "queue": "early", "priority": 40},
            "逾期16–30天：人工电话提醒 · days 16–30: an agent call",
        ),
        _row(
            "mild-other",
            _MILD,
            {"treatment": "sms", "template": "reminder", "tone": "soft", "priority": 10},
            "其他轻度：短信提醒 · any other mild account: a text reminder",
        ),
        _row(
            "severe-early",
            {**_SEVERE, "dpd": {"le": 30}},
            {"treatment": "agent_call", "tone": "firm", "queue": "early", "priority": 60},
            "M1内的重度（自愈概率低或经营户）：人工电话 · "
            "severe within M1 (low self-cure, business): agent call",
        ),
        _row(
            "severe-letter",
            {**_SEVERE, "dpd": 61},
            {"treatment": "lawyer_letter", "tone": "formal", "queue": "legal", "priority": 80},
            "进入M3当日：律师函 · the day the account enters M3: a lawyer's letter",
        ),
        _row(
            "severe-legal",
            {**_SEVERE, "dpd": {"ge": 76}, "overdue_amount": {"ge": 1_000_000}},
            {"treatment": "legal_review", "tone": "formal", "queue": "legal", "priority": 85},
            "逾期76天以上且逾期金额≥¥10,000：法务审查 · 76+ days and ¥10,000+ overdue: legal review",
        ),
        _row(
            "severe-visit",
            {**_SEVERE, "dpd": {"in": [46, 53, 60, 67, 74, 81, 88]}, "overdue_amount": {"ge": 500_000}},
            {"treatment": "field_visit", "tone": "firm", "queue": "field", "priority": 70},
            "逾期46天起每周一次且逾期金额≥¥5,000：上门外访 · weekly from day 46, ¥5,000+ overdue: a visit",
        ),
        _row(
            "severe-call",
            _SEVERE,
            {"treatment": "agent_call", "tone": "firm", "queue": "late", "priority": 60},
            "其他重度：人工电话催收 · any other severe account: an agent call",
        ),
        _row(
            "extreme-legal",
            {**_EXTREME, "overdue_amount": {"ge": 5_000_000}},
            {"treatment": "legal_review", "tone": "formal", "queue": "legal", "priority": 95},
            "极重度且逾期金额≥¥50,000：法务审查（诉讼评估）· extremely severe, ¥50,000+: legal review",
        ),
        _row(
            "extreme-agency",
            _EXTREME,
            {"treatment": "agency_placement", "tone": "formal", "queue": "agency", "priority": 90},
            "极重度：委外催收 · extremely severe: agency placement",
        ),
    ],
    "default": {"treatment": "no_action"},
}

#: (template, tone, queue, priority) for a treatment chosen without a row (exploration).
TREATMENT_DEFAULTS: dict[Treatment, tuple[str | None, str | None, str | None, int]] = {
    Treatment.SMS: ("reminder", "soft", None, 10),
    Treatment.EMAIL: ("reminder", "soft", None, 10),
    Treatment.IM: ("reminder", "soft", None, 10),
    Treatment.PORTAL_LINK: ("reminder", "soft", None, 10),
    Treatment.ROBOT_CALL: ("robot_reminder", "soft", None, 30),
    Treatment.AGENT_CALL: (None, "soft", "early", 40),
    Treatment.PLAN_OFFER: (None, "soft", "early", 50),
    Treatment.SETTLEMENT_OFFER: (None, "soft", "late", 50),
    Treatment.FIELD_VISIT: (None, "firm", "field", 70),
    Treatment.LAWYER_LETTER: (None, "formal", "legal", 80),
    Treatment.LEGAL_REVIEW: (None, "formal", "legal", 85),
    Treatment.AGENCY_PLACEMENT: (None, "formal", "agency", 90),
    Treatment.NO_ACTION: (None, None, None, 0),
}
