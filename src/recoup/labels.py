"""Labels for people, one function per vocabulary, in the CLI's language (:func:`recoup.i18n.cli_locale`)
unless a locale is given. Codes (``cash_loan``, ``mild``, ``agency_placement`` …) stay what files, the
database and ``--json`` carry; these are the words a table shows instead.

Treatments, channels, parties and attempt outcomes have their labels with their enums
(:func:`recoup.contact.vocab.label`); the others are here. An unknown code is shown as it is.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CLASSES",
    "PRODUCTS",
    "SEGMENTS",
    "bucket_label",
    "channel_label",
    "class_label",
    "outbox_label",
    "party_label",
    "product_label",
    "segment_label",
    "step_label",
    "step_status_label",
    "total_label",
    "treatment_label",
    "verdict_label",
]

#: Loan products of the extract format (``loans.product_type``): (English, 简体中文).
PRODUCTS: Final = {
    "installment": ("Instalment loan", "分期"),
    "revolving_card": ("Revolving card", "信用卡"),
    "cash_loan": ("Cash loan", "现金贷"),
    "bnpl": ("Buy now pay later", "先买后付"),
}
#: The regulation's five classes (商业银行金融资产风险分类办法) by ``account_daily.loan_class``.
CLASSES: Final = {
    "normal": ("Normal", "正常"),
    "special_mention": ("Special mention", "关注"),
    "substandard": ("Substandard", "次级"),
    "doubtful": ("Doubtful", "可疑"),
    "loss": ("Loss", "损失"),
}
#: The strategy's segments (severity of the delinquency).
SEGMENTS: Final = {
    "mild": ("Mild", "轻度"),
    "severe": ("Severe", "重度"),
    "extremely_severe": ("Extremely severe", "极重度"),
    "current": ("Current", "正常"),
    "unknown": ("Unknown", "未知"),
    "overall": ("Overall", "整体"),
}
_BUCKETS: Final = {"C": ("C (current)", "C（正常）")}
#: The daily cycle's steps (``recoup.cycle.runner.STEPS``) and the states of a step's record.
_STEPS: Final = {
    "facts": ("Facts", "业务事实"),
    "delinquency": ("Delinquency", "逾期计算"),
    "features": ("Features", "特征"),
    "scoring": ("Scoring", "评分"),
    "intake": ("Case intake", "入案"),
    "decisions": ("Decisions", "策略决策"),
}
_STEP_STATUS: Final = {
    "done": ("done", "完成"),
    "skipped": ("skipped", "已跳过"),
    "running": ("running", "运行中"),
    "failed": ("failed", "失败"),
    "interrupted": ("interrupted", "已中断"),
}
#: The outbox's message states and the dispatcher's outcomes.
_OUTBOX: Final = {
    "pending": ("pending", "待发送"),
    "sending": ("sending", "发送中"),
    "sent": ("sent", "已发送"),
    "blocked": ("blocked", "已拦截"),
    "deferred": ("deferred", "已延后"),
    "retried": ("retried", "待重试"),
    "failed": ("failed", "失败"),
    "dead": ("dead", "放弃"),
    "expired": ("expired", "已过期"),
    "released": ("released", "交还"),
    "lost": ("taken over", "被接管"),
}
#: The contact policy's verdicts.
_VERDICTS: Final = {
    "allowed": ("allowed", "允许"),
    "blocked": ("blocked", "拦截"),
    "deferred": ("deferred", "顺延"),
}


def _locale(locale: str | None) -> str:
    if locale is not None:
        return locale
    from recoup.i18n import cli_locale

    return cli_locale()


def _pick(table: dict[str, tuple[str, str]], code: object, locale: str | None) -> str:
    pair = table.get(str(code)) if code is not None else None
    if pair is None:
        return "" if code is None else str(code)
    return pair[0] if _locale(locale) == "en" else pair[1]


def product_label(code: object, locale: str | None = None) -> str:
    """``cash_loan`` → ``Cash loan`` / ``现金贷``."""
    return _pick(PRODUCTS, code, locale)


def class_label(code: object, locale: str | None = None) -> str:
    """``special_mention`` → ``Special mention`` / ``关注``."""
    return _pick(CLASSES, code, locale)


def segment_label(code: object, locale: str | None = None) -> str:
    """``extremely_severe`` → ``Extremely severe`` / ``极重度``."""
    return _pick(SEGMENTS, code, locale)


def bucket_label(code: object, locale: str | None = None) -> str:
    """Buckets keep their codes (M1 … M7+, read alike in both languages); ``C`` says it is current."""
    return _pick(_BUCKETS, code, locale)


def step_label(code: object, locale: str | None = None) -> str:
    """A daily-cycle step: ``intake`` → ``Case intake`` / ``入案``."""
    return _pick(_STEPS, code, locale)


def step_status_label(code: object, locale: str | None = None) -> str:
    """A cycle step record's state: ``skipped`` → ``skipped`` / ``已跳过``."""
    return _pick(_STEP_STATUS, code, locale)


def outbox_label(code: object, locale: str | None = None, *, with_code: bool = False) -> str:
    """An outbox message state or dispatcher outcome: ``blocked`` → ``blocked`` / ``已拦截`` (with
    ``with_code``, zh_CN adds the state as the outbox stores it: ``已拦截 · blocked``)."""
    text = _pick(_OUTBOX, code, locale)
    if with_code and _locale(locale) != "en" and code is not None:
        return f"{text} · {code}"
    return text


def verdict_label(code: object, locale: str | None = None) -> str:
    """A contact-policy verdict: ``deferred`` → ``deferred`` / ``顺延``."""
    return _pick(_VERDICTS, code, locale)


def total_label(locale: str | None = None) -> str:
    """The word on a table's total row."""
    return "Total" if _locale(locale) == "en" else "合计"


def _vocab(kind: str, code: object, locale: str | None) -> str:
    from recoup.contact import vocab

    value: vocab.Treatment | vocab.Channel | vocab.Party
    try:
        if kind == "treatment":
            value = vocab.Treatment(str(code))
        elif kind == "channel":
            value = vocab.Channel(str(code))
        else:
            value = vocab.Party(str(code))
    except ValueError:
        return "" if code is None else str(code)
    return vocab.label(value, _locale(locale))


def treatment_label(code: object, locale: str | None = None) -> str:
    """``agency_placement`` → ``Agency placement`` / ``委外催收`` (``contact.vocab.TREATMENT_LABELS``)."""
    return _vocab("treatment", code, locale)


def channel_label(code: object, locale: str | None = None) -> str:
    """``robot_call`` → ``Robot call`` / ``智能语音外呼``."""
    return _vocab("channel", code, locale)


def party_label(code: object, locale: str | None = None) -> str:
    """``emergency_contact`` → ``Emergency contact`` / ``紧急联系人``."""
    return _vocab("party", code, locale)
