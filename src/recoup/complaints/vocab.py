"""The complaints register's vocabulary: kinds, sources, categories, root causes and outcomes.

Each enum value is a stable code (stored, in the API and the CLI); :data:`LABELS` gives each code its
Chinese and English label for the CLI (the pages translate their own labels through the catalogs).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from recoup.contact.policy.model import HoldKind


class ComplaintKind(StrEnum):
    """A complaint (投诉) places ``HOLD-STOP``; a dispute of the debt (争议) places ``HOLD-DISPUTE``."""

    COMPLAINT = "complaint"
    DISPUTE = "dispute"


class Source(StrEnum):
    """Where the complaint came from (COMPLIANCE.md: record the source)."""

    REGULATOR_12378 = "regulator_12378"  # 金融监管总局 12378 转办
    REGULATOR_12363 = "regulator_12363"  # 人民银行 12363 转办
    HOTLINE = "hotline"  # 本机构客服热线
    PLATFORM = "platform"  # 投诉平台（黑猫投诉等）
    PORTAL = "portal"  # 借款人自助门户
    IN_CALL = "in_call"  # 催收通话中提出
    OTHER = "other"


#: Sources that are a regulator's referral: the regulator's reference number is required.
REGULATOR: Final = frozenset({Source.REGULATOR_12378, Source.REGULATOR_12363})


class Category(StrEnum):
    """What the complaint is about."""

    COLLECTION_CONDUCT = "collection_conduct"  # 催收行为不当
    FREQUENCY = "frequency"  # 频繁联系 / 时间不当
    THIRD_PARTY = "third_party"  # 联系第三方 / 泄露债务
    THREATS_ABUSE = "threats_abuse"  # 威胁、辱骂、恐吓
    AMOUNT = "amount"  # 金额、费用有误
    NOT_MY_DEBT = "not_my_debt"  # 非本人借款 / 冒名
    PRIVACY = "privacy"  # 个人信息
    REPAYMENT = "repayment"  # 还款入账、减免、协商
    OTHER = "other"


class RootCause(StrEnum):
    """Why it happened (溯源): recorded when the complaint is resolved."""

    COLLECTOR_CONDUCT = "collector_conduct"  # 催收员个人行为
    AGENCY_CONDUCT = "agency_conduct"  # 委外机构行为
    POLICY_GAP = "policy_gap"  # 制度或策略缺陷
    SYSTEM_ERROR = "system_error"  # 系统错误
    DATA_ERROR = "data_error"  # 数据错误（金额、号码、身份）
    PRODUCT_TERMS = "product_terms"  # 产品条款
    MISUNDERSTANDING = "misunderstanding"  # 借款人误解
    NO_FAULT = "no_fault"  # 经核查无过错
    OTHER = "other"


class Outcome(StrEnum):
    """The decision told to the complainant."""

    UPHELD = "upheld"  # 投诉成立
    PARTLY_UPHELD = "partly_upheld"  # 部分成立
    NOT_UPHELD = "not_upheld"  # 不成立
    WITHDRAWN = "withdrawn"  # 投诉人撤回


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


#: The hold each kind places on the borrower while it is open.
HOLD_OF: Final[dict[ComplaintKind, HoldKind]] = {
    ComplaintKind.COMPLAINT: HoldKind.STOP,
    ComplaintKind.DISPUTE: HoldKind.DISPUTE,
}

#: Hold kind → the contact-policy rule id that blocks on it.
RULE_OF: Final[dict[str, str]] = {
    HoldKind.DISPUTE.value: "HOLD-DISPUTE",
    HoldKind.CEASE.value: "HOLD-CEASE",
    HoldKind.DO_NOT_CONTACT.value: "HOLD-DNC",
    HoldKind.BANKRUPTCY.value: "HOLD-BANKRUPTCY",
    HoldKind.BREATHING_SPACE.value: "HOLD-BREATHING",
    HoldKind.STOP.value: "HOLD-STOP",
}

#: code → (Chinese, English), for the CLI.
LABELS: Final[dict[str, tuple[str, str]]] = {
    "complaint": ("投诉", "complaint"),
    "dispute": ("争议", "dispute"),
    "regulator_12378": ("12378 转办", "12378 referral"),
    "regulator_12363": ("12363 转办", "12363 referral"),
    "hotline": ("客服热线", "hotline"),
    "platform": ("投诉平台", "complaint platform"),
    "portal": ("自助门户", "portal"),
    "in_call": ("通话中", "in a call"),
    "other": ("其他", "other"),
    "collection_conduct": ("催收行为", "collection conduct"),
    "frequency": ("联系频率或时间", "frequency or time of contact"),
    "third_party": ("联系第三方", "third parties contacted"),
    "threats_abuse": ("威胁辱骂", "threats or abuse"),
    "amount": ("金额费用", "amount or fees"),
    "not_my_debt": ("非本人借款", "not my debt"),
    "privacy": ("个人信息", "personal data"),
    "repayment": ("还款与协商", "repayment and arrangements"),
    "collector_conduct": ("催收员行为", "collector's conduct"),
    "agency_conduct": ("委外机构行为", "agency's conduct"),
    "policy_gap": ("制度缺陷", "policy gap"),
    "system_error": ("系统错误", "system error"),
    "data_error": ("数据错误", "data error"),
    "product_terms": ("产品条款", "product terms"),
    "misunderstanding": ("借款人误解", "misunderstanding"),
    "no_fault": ("无过错", "no fault found"),
    "upheld": ("成立", "upheld"),
    "partly_upheld": ("部分成立", "partly upheld"),
    "not_upheld": ("不成立", "not upheld"),
    "withdrawn": ("已撤回", "withdrawn"),
    "open": ("处理中", "open"),
    "closed": ("已办结", "closed"),
}
