"""The extract format: seven datasets, their fields, keys and the rules each row must meet.

This module is the single source of truth for the format; ``docs/extract-format.md`` documents
it and the validator, the lake schemas and the sample extract are derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl


class Kind(StrEnum):
    """How a field's text is parsed."""

    ID = "id"  # an external id: trimmed text, no control characters
    TEXT = "text"
    DATE = "date"
    AMOUNT = "amount"  # money → integer minor units (Int64)
    RATE = "rate"  # annual rate → basis points (Int64)
    INT = "int"
    BOOL = "bool"
    ENUM = "enum"
    TIMEZONE = "timezone"
    CHANNELS = "channels"  # comma/、-separated list of contact channels → canonical text


#: Enumerations with canonical values and the aliases (Chinese and common English) a lender may send.
ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "customer_type": {
        "individual": ("个人", "person", "consumer"),
        "sole_proprietor": ("个体工商户", "个体户"),
        "small_business": ("小微企业", "企业", "sme", "company"),
    },
    "locale": {"zh_CN": ("zh", "zh-cn", "中文"), "en": ("en_us", "en-us", "en_gb", "english", "英文")},
    "contact_kind": {
        "phone": ("手机", "电话", "mobile", "tel"),
        "email": ("邮箱", "电子邮件", "e-mail", "mail"),
        "address": ("地址", "住址", "家庭地址", "单位地址"),
        "im": ("即时通讯", "微信", "wechat", "qq"),
    },
    "contact_role": {
        "self": ("本人", "借款人", "borrower", "debtor"),
        "guarantor": ("担保人", "保证人"),
        "emergency_contact": ("紧急联系人", "emergency", "联系人"),
    },
    "consent_source": {
        "loan_contract": ("借款合同", "合同", "contract"),
        "app": ("app授权", "应用", "application"),
        "call_recording": ("通话录音", "recording"),
        "written": ("书面", "书面同意"),
        "web": ("网页", "online"),
    },
    "product_type": {
        "installment": ("分期", "分期贷款", "消费分期"),
        "revolving_card": ("信用卡", "循环额度", "card", "credit_card"),
        "cash_loan": ("现金贷", "现金贷款", "cash"),
        "bnpl": ("先买后付", "先享后付", "buy_now_pay_later"),
    },
    "repayment_method": {
        "equal_installment": ("等额本息", "annuity", "equal_payment"),
        "equal_principal": ("等额本金",),
        "interest_first": ("先息后本", "interest_only"),
        "bullet": ("到期一次还本付息", "一次性还本付息", "lump_sum"),
    },
    "loan_status": {
        "active": ("正常", "在贷", "还款中", "open"),
        "paid_off": ("结清", "已结清", "closed", "settled"),
        "written_off": ("核销", "已核销", "charged_off"),
        "sold": ("已转让", "转让"),
        "cancelled": ("撤销", "已取消"),
    },
    "payment_channel": {
        "bank_transfer": ("银行转账", "转账", "bank"),
        "withholding": ("代扣", "自动扣款", "auto_debit"),
        "alipay": ("支付宝",),
        "wechat_pay": ("微信支付", "wechat"),
        "unionpay": ("银联", "云闪付"),
        "card": ("银行卡",),
        "cash": ("现金",),
        "portal": ("自助还款", "app还款"),
        "agency": ("委外", "催收机构"),
        "other": ("其他",),
    },
    "collateral_type": {
        "vehicle": ("车辆", "汽车", "car"),
        "real_estate": ("房产", "不动产", "property"),
        "deposit": ("存单", "保证金"),
        "equipment": ("设备", "机器设备"),
        "receivable": ("应收账款",),
        "other": ("其他",),
    },
    "contact_channel": {
        "voice": ("电话", "语音", "call", "phone"),
        "sms": ("短信", "text"),
        "email": ("邮件", "邮箱", "e-mail"),
        "im": ("微信", "即时通讯", "wechat"),
        "letter": ("信函", "mail", "post"),
        "visit": ("上门", "外访", "field_visit"),
    },
}


@dataclass(frozen=True)
class Field:
    """One column of a dataset."""

    name: str
    kind: Kind
    required: bool = False
    doc: str = ""
    enum: str | None = None
    nonneg: bool = True  # amounts and ints: negative values are rejected
    positive: bool = False
    min_int: int | None = None
    max_int: int | None = None
    example: str = ""
    zero_default: bool = False  # optional amounts that mean 0 when empty

    @property
    def dtype(self) -> pl.DataType:
        """The column's type in the lake."""
        return {
            Kind.DATE: pl.Date(),
            Kind.AMOUNT: pl.Int64(),
            Kind.RATE: pl.Int64(),
            Kind.INT: pl.Int64(),
            Kind.BOOL: pl.Boolean(),
        }.get(self.kind, pl.String())

    @property
    def lake_name(self) -> str:
        """Rates are stored in basis points, under a name that says so."""
        return f"{self.name}_bp" if self.kind is Kind.RATE else self.name


@dataclass(frozen=True)
class Dataset:
    """A dataset of the extract: its fields, its key and how it is applied to the lake."""

    name: str
    title_zh: str
    doc: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    append_only: bool = False  # payments: never updated, reversals are new rows
    parents: dict[str, str] = field(default_factory=dict)  # column → dataset whose key it references

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def lake_key(self) -> tuple[str, ...]:
        return self.key


DELETED = Field("deleted", Kind.BOOL, doc="true removes the row from the book (explicit deletion only)")

F = Field
K = Kind

BORROWERS = Dataset(
    name="borrowers",
    title_zh="借款人",
    doc="One row per borrower (customer).",
    key=("borrower_id",),
    fields=(
        F("borrower_id", K.ID, True, "lender's customer id", example="C000123"),
        F("name", K.TEXT, True, "full name", example="张伟"),
        F(
            "national_id",
            K.TEXT,
            doc="national ID number; stored encrypted, with a keyed hash for lookup",
            example="110101199003071233",
        ),
        F("birth_date", K.DATE, example="1990-03-07"),
        F("gender", K.TEXT, example="男"),
        F("customer_type", K.ENUM, doc="customer type", enum="customer_type", example="individual"),
        F("timezone", K.TIMEZONE, doc="IANA timezone; default the lender's", example="Asia/Shanghai"),
        F("locale", K.ENUM, doc="language for messages", enum="locale", example="zh_CN"),
        F("city", K.TEXT, example="成都"),
        F("city_tier", K.INT, min_int=1, max_int=6, example="2"),
        F("monthly_income", K.AMOUNT, example="8,500.00"),
        F("employer", K.TEXT, example="某某科技有限公司"),
        DELETED,
    ),
)

CONTACT_POINTS = Dataset(
    name="contact_points",
    title_zh="联系方式",
    doc=(
        "Phones, emails, addresses and IM handles of the borrower, guarantors and at most two emergency "
        "contacts the borrower gave, with consent per channel."
    ),
    key=("contact_id",),
    parents={"borrower_id": "borrowers"},
    fields=(
        F("contact_id", K.ID, True, "lender's id of this contact point", example="CP000456"),
        F("borrower_id", K.ID, True, "the borrower it belongs to", example="C000123"),
        F("kind", K.ENUM, True, "phone, email, address or im", enum="contact_kind", example="phone"),
        F(
            "value",
            K.TEXT,
            True,
            "the number, address or handle (masked in every output)",
            example="13812345678",
        ),
        F("role", K.ENUM, True, "self, guarantor or emergency_contact", enum="contact_role", example="self"),
        F("contact_name", K.TEXT, doc="name of the guarantor or emergency contact", example=""),
        F("relation", K.TEXT, doc="relation to the borrower (guarantors, emergency contacts)", example=""),
        F("consent_channels", K.CHANNELS, doc="channels consented to, comma-separated", example="voice,sms"),
        F("consent_source", K.ENUM, enum="consent_source", example="loan_contract"),
        F("consent_date", K.DATE, example="2025-06-01"),
        F("is_valid", K.BOOL, doc="false when known wrong or disconnected", example="true"),
        DELETED,
    ),
)

LOANS = Dataset(
    name="loans",
    title_zh="借据",
    doc="One row per loan (借据) or card account.",
    key=("loan_id",),
    parents={"borrower_id": "borrowers"},
    fields=(
        F("loan_id", K.ID, True, "lender's loan (借据) number", example="L2025000001"),
        F("borrower_id", K.ID, True, example="C000123"),
        F("product_code", K.TEXT, True, "lender's product code", example="CASH12"),
        F("product_type", K.ENUM, True, enum="product_type", example="cash_loan"),
        F("repayment_method", K.ENUM, True, enum="repayment_method", example="equal_installment"),
        F("principal", K.AMOUNT, True, "amount disbursed", positive=True, example="12,000.00"),
        F("currency", K.TEXT, doc="ISO 4217; default the lender's currency", example="CNY"),
        F("annual_rate", K.RATE, True, "annual interest rate (0.18 or 18%); stored in bp", example="18%"),
        F("term_months", K.INT, True, min_int=1, max_int=480, example="12"),
        F("disbursement_date", K.DATE, True, example="2025-06-01"),
        F("maturity_date", K.DATE, example="2026-06-01"),
        F("status", K.ENUM, True, enum="loan_status", example="active"),
        F("funding_partner", K.TEXT, doc="funding partner (资金方), if any", example="某某银行"),
        DELETED,
    ),
)

_MONEY_PARTS = ("principal", "interest", "fee", "penalty")

INSTALLMENTS = Dataset(
    name="installments",
    title_zh="还款计划",
    doc=(
        "The repayment schedule with what was paid, per installment. The core system owns the paid "
        "columns; days past due are computed from them."
    ),
    key=("loan_id", "seq"),
    parents={"loan_id": "loans"},
    fields=(
        F("loan_id", K.ID, True, example="L2025000001"),
        F("seq", K.INT, True, "installment number, from 1", min_int=1, max_int=10_000, example="1"),
        F("due_date", K.DATE, True, example="2025-07-01"),
        *(
            F(f"{p}_due", K.AMOUNT, p in ("principal", "interest"), example="1,000.00", zero_default=True)
            for p in _MONEY_PARTS
        ),
        *(F(f"{p}_paid", K.AMOUNT, example="0", zero_default=True) for p in _MONEY_PARTS),
        F("last_paid_date", K.DATE, example=""),
        DELETED,
    ),
)

PAYMENTS = Dataset(
    name="payments",
    title_zh="还款流水",
    doc="Payments received; append-only. A reversal is a new row whose `reverses` names the payment.",
    key=("payment_id",),
    append_only=True,
    parents={"loan_id": "loans", "reverses": "payments"},
    fields=(
        F("payment_id", K.ID, True, example="P000000789"),
        F("loan_id", K.ID, True, example="L2025000001"),
        F("received_date", K.DATE, True, example="2025-07-01"),
        F("amount", K.AMOUNT, True, positive=True, example="1,100.00"),
        F("channel", K.ENUM, True, enum="payment_channel", example="alipay"),
        F("reference", K.TEXT, doc="bank or wallet reference", example="2025070112345"),
        F("reverses", K.ID, doc="payment_id this row reverses", example=""),
    ),
)

COLLATERAL = Dataset(
    name="collateral",
    title_zh="抵质押物",
    doc="Collateral securing a loan, with its latest valuation.",
    key=("collateral_id",),
    parents={"loan_id": "loans"},
    fields=(
        F("collateral_id", K.ID, True, example="G0001"),
        F("loan_id", K.ID, True, example="L2025000001"),
        F("type", K.ENUM, True, enum="collateral_type", example="vehicle"),
        F("description", K.TEXT, example="2021款 大众朗逸"),
        F("valuation", K.AMOUNT, example="68,000.00"),
        F("valuation_date", K.DATE, example="2025-05-20"),
        DELETED,
    ),
)

BUREAU_UPDATES = Dataset(
    name="bureau_updates",
    title_zh="征信更新",
    doc="Credit-bureau refreshes after the loan was made (new delinquencies elsewhere, score).",
    key=("update_id",),
    parents={"borrower_id": "borrowers"},
    fields=(
        F("update_id", K.ID, True, example="B0001"),
        F("borrower_id", K.ID, True, example="C000123"),
        F("report_date", K.DATE, True, example="2025-10-01"),
        F("source", K.TEXT, True, "bureau", example="PBOC"),
        F("new_delinquencies", K.INT, doc="new delinquent accounts elsewhere", example="0"),
        F("score", K.INT, min_int=0, max_int=1000, example="650"),
        DELETED,
    ),
)

#: In the order a day's directory is applied (parents before children).
DATASETS: dict[str, Dataset] = {
    d.name: d for d in (BORROWERS, CONTACT_POINTS, LOANS, INSTALLMENTS, PAYMENTS, COLLATERAL, BUREAU_UPDATES)
}

#: Columns the lake adds to every dataset.
META_COLUMNS: dict[str, pl.DataType] = {
    "_as_of": pl.Date(),  # the extract date that last changed the row
    "_deleted": pl.Boolean(),
    "_source": pl.String(),  # file name the row last came from
}

#: At most this many emergency contacts per borrower (CN-CONTACTS-DATA).
MAX_EMERGENCY_CONTACTS = 2


def lake_schema(ds: Dataset) -> dict[str, pl.DataType]:
    """Column → type of ``ds``'s Delta table (national ids replaced by their ciphertext and hash)."""
    schema: dict[str, pl.DataType] = {}
    for f in ds.fields:
        if f.name == "deleted":
            continue
        if f.name == "national_id":
            schema["national_id_enc"] = pl.String()
            schema["national_id_hash"] = pl.String()
            continue
        schema[f.lake_name] = f.dtype
    schema.update(META_COLUMNS)
    return schema


def enum_lookup(enum: str) -> dict[str, str]:
    """Lower-cased canonical values and aliases → canonical value."""
    out: dict[str, str] = {}
    for canonical, aliases in ENUMS[enum].items():
        out[canonical.lower()] = canonical
        for a in aliases:
            out[a.lower()] = canonical
    return out
