"""A deterministic synthetic portfolio of Chinese consumer loans, as a lender's extract.

:func:`generate` returns the seven datasets of the extract format (:mod:`recoup.portfolio.spec`) as
all-text frames, cells written the way a core system exports them (amounts as decimal yuan, dates
ISO, rates like ``18.25%``); :func:`write_extract` writes them as a day's directory of CSV files,
optionally with the Chinese headers, file names and ``mapping.toml`` a Chinese lender would send.

Everything comes from one ``numpy.random.default_rng(seed)``, so the same arguments give the same
frames. Repayment schedules are computed for all loans at once (:func:`schedules`) with integer
arithmetic that follows :func:`recoup.money.schedule` exactly. The people are synthetic: names are
drawn from common surnames and given-name characters, national ids are well-formed (GB 11643 check
digit) and mobile numbers use real prefixes, but none of it describes anyone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.money import MAX_RATE_BP, MAX_TERM_MONTHS, RepaymentMethod
from recoup.portfolio.spec import DATASETS, ENUMS, Kind

__all__ = [
    "CHINESE_HEADERS",
    "generate",
    "id_check_digit",
    "mapping_toml",
    "schedules",
    "write_extract",
]

Ints = npt.NDArray[np.int64]
Days = npt.NDArray[np.datetime64]

# ------------------------------------------------------------------------------------------ vocabulary

#: (city, tier, administrative area code used for national ids)
CITIES: tuple[tuple[str, int, int], ...] = (
    ("北京", 1, 110105),
    ("上海", 1, 310115),
    ("广州", 1, 440106),
    ("深圳", 1, 440305),
    ("成都", 2, 510107),
    ("杭州", 2, 330106),
    ("重庆", 2, 500103),
    ("武汉", 2, 420106),
    ("西安", 2, 610113),
    ("苏州", 2, 320505),
    ("南京", 2, 320102),
    ("天津", 2, 120104),
    ("长沙", 2, 430104),
    ("郑州", 2, 410105),
    ("东莞", 2, 441900),
    ("青岛", 2, 370202),
    ("合肥", 2, 340103),
    ("沈阳", 2, 210102),
    ("宁波", 2, 330203),
    ("昆明", 3, 530102),
    ("南宁", 3, 450103),
    ("福州", 3, 350102),
    ("济南", 3, 370102),
    ("石家庄", 3, 130102),
    ("贵阳", 3, 520102),
    ("太原", 3, 140105),
    ("南昌", 3, 360102),
    ("温州", 3, 330302),
    ("徐州", 3, 320302),
    ("乌鲁木齐", 3, 650102),
    ("哈尔滨", 3, 230102),
    ("绵阳", 4, 510703),
    ("赣州", 4, 360702),
    ("洛阳", 4, 410302),
    ("柳州", 4, 450202),
    ("襄阳", 4, 420602),
    ("遵义", 4, 520302),
    ("湛江", 4, 440802),
    ("曲靖", 5, 530302),
    ("汉中", 5, 610702),
    ("南充", 5, 511302),
    ("周口", 5, 411602),
    ("邵阳", 5, 430502),
    ("普宁", 6, 445281),
    ("仁怀", 6, 520382),
    ("邳州", 6, 320382),
    ("宣威", 6, 530381),
)
_TIER_SHARE = {1: 0.14, 2: 0.32, 3: 0.24, 4: 0.14, 5: 0.10, 6: 0.06}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_MALE_GIVEN = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国峰晨博文志海东亮松成荣新"
_FEMALE_GIVEN = "芳娜敏静丽艳娟霞秀玲燕婷慧莹雪琳晶倩颖洁丹萍红梅琴蕾薇菲露悦欣怡佳月玉兰凤霞珊琪岚"
_MOBILE_PREFIXES = tuple(
    str(p)
    for p in (*range(130, 140), *range(150, 154), *range(155, 160), 166, 170, 171, 173, *range(175, 190), 191)
    if p != 174
)
_EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "foxmail.com", "sina.com", "outlook.com")
_SYLLABLE_TEXT = (
    "zhang wang li liu chen yang huang zhao wu zhou xu sun ma zhu hu guo lin he gao luo wei hao jun xin "
    "yu ting lei fang ming hua jie qiang yan jing hong"
)
_SYLLABLES = tuple(_SYLLABLE_TEXT.split())
_ROADS = (
    "人民",
    "解放",
    "建设",
    "中山",
    "和平",
    "新华",
    "长江",
    "黄河",
    "文化",
    "胜利",
    "学府",
    "滨江",
    "光明",
)
_DISTRICTS = ("城东区", "城西区", "高新区", "经开区", "新城区", "城南区", "城北区")
_EMPLOYER_WORDS = (
    "恒信",
    "华晟",
    "瑞丰",
    "鼎盛",
    "博远",
    "新和",
    "宏达",
    "安泰",
    "明德",
    "启航",
    "金诚",
    "立信",
)
_EMPLOYER_KINDS = (
    "科技有限公司",
    "商贸有限公司",
    "物流有限公司",
    "餐饮管理有限公司",
    "建筑工程有限公司",
    "电子厂",
)
_RELATIONS = ("配偶", "父亲", "母亲", "兄弟", "姐妹", "朋友", "同事", "子女")
_SAME_SURNAME = ("父亲", "兄弟", "姐妹", "子女")
_VEHICLES = (
    "大众朗逸",
    "丰田卡罗拉",
    "本田思域",
    "比亚迪秦PLUS",
    "吉利星越L",
    "长安CS75",
    "日产轩逸",
    "别克英朗",
    "五菱宏光MINIEV",
    "哈弗H6",
    "特斯拉Model 3",
)
_FUNDERS = ("自有资金", "联合贷-城商行", "联合贷-农商行", "信托计划")
_BUREAUS = ("PBOC", "百行征信")

# product → (share of loans, terms, term weights, repayment methods, method weights)
_PRODUCTS: dict[str, tuple[float, tuple[int, ...], tuple[float, ...], tuple[str, ...], tuple[float, ...]]] = {
    "cash_loan": (
        0.40,
        (3, 6, 12, 24, 36),
        (0.15, 0.25, 0.35, 0.15, 0.10),
        ("equal_installment", "equal_principal", "interest_first"),
        (0.75, 0.10, 0.15),
    ),
    "installment": (
        0.30,
        (6, 12, 18, 24, 36),
        (0.25, 0.35, 0.15, 0.15, 0.10),
        ("equal_installment", "equal_principal"),
        (0.70, 0.30),
    ),
    "revolving_card": (
        0.15,
        (3, 6, 12, 24),
        (0.25, 0.35, 0.30, 0.10),
        ("equal_principal", "equal_installment"),
        (0.60, 0.40),
    ),
    "bnpl": (0.15, (3, 6, 12), (0.50, 0.35, 0.15), ("equal_installment", "bullet"), (0.65, 0.35)),
}
_RATE_RANGE = {"cash_loan": (1000, 2400), "installment": (700, 1800), "revolving_card": (1200, 1800)} | {
    "bnpl": (800, 2400),
    "auto": (700, 1200),
}
_DELINQUENCY = {"cash_loan": 0.16, "installment": 0.08, "revolving_card": 0.10, "bnpl": 0.14, "auto": 0.05}
#: Days-past-due targets of late loans: (from, to, share).
_DPD_BUCKETS = (
    (1, 30, 0.40),
    (31, 60, 0.17),
    (61, 90, 0.10),
    (91, 180, 0.15),
    (181, 360, 0.10),
    (361, 720, 0.08),
)
_CODE_PREFIX = {"cash_loan": "CASH", "installment": "INST", "revolving_card": "CARD", "bnpl": "BNPL"}
_PAYMENT_CHANNELS = ("withholding", "alipay", "wechat_pay", "bank_transfer", "unionpay", "portal")
_PAYMENT_SHARES = (0.55, 0.15, 0.12, 0.08, 0.05, 0.05)

#: Daily penalty rate on overdue principal and interest, in basis points (0.05 % a day).
PENALTY_BP_PER_DAY = 5

#: The headers a Chinese lender's core system uses, per dataset and field.
CHINESE_HEADERS: dict[str, dict[str, str]] = {
    "borrowers": {
        "borrower_id": "客户号",
        "name": "客户姓名",
        "national_id": "身份证号",
        "birth_date": "出生日期",
        "gender": "性别",
        "customer_type": "客户类型",
        "timezone": "时区",
        "locale": "语言",
        "city": "所在城市",
        "city_tier": "城市等级",
        "monthly_income": "月收入",
        "employer": "工作单位",
        "deleted": "删除标志",
    },
    "contact_points": {
        "contact_id": "联系方式编号",
        "borrower_id": "客户号",
        "kind": "联系类型",
        "value": "联系方式",
        "role": "联系人角色",
        "contact_name": "联系人姓名",
        "relation": "与借款人关系",
        "consent_channels": "授权渠道",
        "consent_source": "授权来源",
        "consent_date": "授权日期",
        "is_valid": "是否有效",
        "deleted": "删除标志",
    },
    "loans": {
        "loan_id": "借据号",
        "borrower_id": "客户号",
        "product_code": "产品代码",
        "product_type": "产品类型",
        "repayment_method": "还款方式",
        "principal": "放款金额",
        "currency": "币种",
        "annual_rate": "年化利率",
        "term_months": "期数",
        "disbursement_date": "放款日期",
        "maturity_date": "到期日期",
        "status": "借据状态",
        "funding_partner": "资金方",
        "deleted": "删除标志",
    },
    "installments": {
        "loan_id": "借据号",
        "seq": "期次",
        "due_date": "应还日期",
        "principal_due": "应还本金",
        "interest_due": "应还利息",
        "fee_due": "应还费用",
        "penalty_due": "应还罚息",
        "principal_paid": "已还本金",
        "interest_paid": "已还利息",
        "fee_paid": "已还费用",
        "penalty_paid": "已还罚息",
        "last_paid_date": "最近还款日期",
        "deleted": "删除标志",
    },
    "payments": {
        "payment_id": "还款流水号",
        "loan_id": "借据号",
        "received_date": "入账日期",
        "amount": "还款金额",
        "channel": "还款渠道",
        "reference": "交易流水号",
        "reverses": "冲正原流水号",
    },
    "collateral": {
        "collateral_id": "押品编号",
        "loan_id": "借据号",
        "type": "押品类型",
        "description": "押品描述",
        "valuation": "评估价值",
        "valuation_date": "评估日期",
        "deleted": "删除标志",
    },
    "bureau_updates": {
        "update_id": "更新编号",
        "borrower_id": "客户号",
        "report_date": "报告日期",
        "source": "征信机构",
        "new_delinquencies": "新增逾期账户数",
        "score": "征信评分",
        "deleted": "删除标志",
    },
}

# ----------------------------------------------------------------------------------- vectorised schedules

_METHOD_CODES = {m.value: i for i, m in enumerate(RepaymentMethod)}
_EQ_INST = _METHOD_CODES["equal_installment"]
_EQ_PRIN = _METHOD_CODES["equal_principal"]
_BULLET = _METHOD_CODES["bullet"]
_RATE_DEN = 120_000  # monthly rate = bp / (12 × 10 000)
#: Largest principal (minor units) :func:`schedules` takes: with rates ≤ MAX_RATE_BP and terms ≤
#: MAX_TERM_MONTHS its int64 arithmetic (2 × principal × bp × term at most) cannot overflow.
MAX_SCHEDULE_PRINCIPAL = 10**10


@lru_cache(maxsize=65_536)
def _annuity_factor(rate_bp: int, term: int) -> tuple[int, int]:
    """(A, B) with level payment = round_half_up(principal × rate_bp × A / B) for rate_bp > 0."""
    grown = (_RATE_DEN + rate_bp) ** term
    return grown, _RATE_DEN * (grown - _RATE_DEN**term)


def _level_payment(principal: int, rate_bp: int, term: int) -> int:
    """The equal-installment payment, exactly as :func:`recoup.money.schedule` rounds it."""
    if rate_bp == 0:
        return (2 * principal + term) // (2 * term)
    a, b = _annuity_factor(rate_bp, term)
    return (2 * principal * rate_bp * a + b) // (2 * b)


def _add_months(anchor: Days, months: Ints) -> Days:
    """``anchor + months`` months, clamped to the month's end (as :func:`recoup.money.add_months`)."""
    first = anchor.astype("datetime64[M]")
    day = (anchor - first.astype("datetime64[D]")).astype(np.int64)
    target = first + months.astype("timedelta64[M]")
    start = target.astype("datetime64[D]")
    length = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - start).astype(np.int64)
    result: Days = start + np.minimum(day, length - 1).astype("timedelta64[D]")
    return result


def schedules(
    principal: Sequence[int] | Ints,
    annual_rate_bp: Sequence[int] | Ints,
    term_months: Sequence[int] | Ints,
    methods: Sequence[str],
    disbursed: Sequence[dt.date] | Days,
) -> pl.DataFrame:
    """The repayment schedules of many loans at once, identical to :func:`recoup.money.schedule`.

    Returns one row per installment: ``loan`` (the position of the loan in the inputs), ``seq``,
    ``due_date``, ``principal`` and ``interest`` (Int64 minor units), sorted by loan and seq. The
    first due date is one month after disbursement. Principals must be at most 10^10 minor units.
    """
    p = np.asarray(principal, dtype=np.int64)
    bp = np.asarray(annual_rate_bp, dtype=np.int64)
    term = np.asarray(term_months, dtype=np.int64)
    try:
        code = np.array([_METHOD_CODES[str(m)] for m in methods], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"unknown repayment method {exc.args[0]!r}") from None
    start = np.asarray(disbursed, dtype="datetime64[D]")
    n = p.shape[0]
    if n == 0:
        return pl.DataFrame(
            schema={
                "loan": pl.Int64,
                "seq": pl.Int64,
                "due_date": pl.Date,
                "principal": pl.Int64,
                "interest": pl.Int64,
            }
        )
    if not (p.shape == bp.shape == term.shape == code.shape == start.shape):
        raise ValueError("principal, rate, term, method and disbursement need one value per loan")
    if p.min() <= 0 or p.max() > MAX_SCHEDULE_PRINCIPAL:
        raise ValueError(f"principal must be 1..{MAX_SCHEDULE_PRINCIPAL} minor units")
    if bp.min() < 0 or bp.max() > MAX_RATE_BP or term.min() < 1 or term.max() > MAX_TERM_MONTHS:
        raise ValueError(f"rate must be 0..{MAX_RATE_BP} bp and term 1..{MAX_TERM_MONTHS} months")
    count = np.where(code == _BULLET, 1, term)
    width = int(count.max())
    level = np.zeros(n, dtype=np.int64)
    for i in np.flatnonzero(code == _EQ_INST):
        level[i] = _level_payment(int(p[i]), int(bp[i]), int(term[i]))
    ep = code == _EQ_PRIN
    level[ep] = (2 * p[ep] + term[ep]) // (2 * term[ep])
    # interest_first keeps level 0: no principal before the last installment.
    bullet_interest = (2 * p * bp * term + _RATE_DEN) // (2 * _RATE_DEN)
    remaining = p.copy()
    parts = np.zeros((n, width), dtype=np.int64)
    interests = np.zeros((n, width), dtype=np.int64)
    for k in range(width):
        active = k < count
        interest = np.where(
            code == _BULLET, bullet_interest, (2 * remaining * bp + _RATE_DEN) // (2 * _RATE_DEN)
        )
        part = np.where(
            code == _EQ_INST, np.minimum(level - interest, remaining), np.minimum(level, remaining)
        )
        part = np.where(k == count - 1, remaining, part)
        part = np.where(active, part, 0)
        remaining = remaining - part
        parts[:, k] = part
        interests[:, k] = np.where(active, interest, 0)
    mask = np.arange(width)[None, :] < count[:, None]
    loan = np.repeat(np.arange(n, dtype=np.int64), count)
    seq = np.broadcast_to(np.arange(1, width + 1, dtype=np.int64), (n, width))[mask]
    offset = np.where(code[loan] == _BULLET, term[loan], seq)
    due = _add_months(start[loan], offset)
    return pl.DataFrame(
        {
            "loan": loan,
            "seq": seq,
            "due_date": pl.Series(due).cast(pl.Date),
            "principal": parts[mask],
            "interest": interests[mask],
        }
    )


# ------------------------------------------------------------------------------------------- people


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character of a national id's first 17 digits."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    return "10X98765432"[total % 11]


def _national_ids(
    area: Ints, birth: Days, male: npt.NDArray[np.bool_], rng: np.random.Generator
) -> list[str]:
    ymd = pl.Series(birth).cast(pl.Date).dt.strftime("%Y%m%d").cast(pl.Int64).to_numpy()
    order = rng.integers(0, 500, area.shape[0]) * 2 + np.where(male, 1, 0)  # odd for men, even for women
    body = area * 10**11 + ymd * 10**3 + order
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
    digits = (body[:, None] // (10 ** np.arange(16, -1, -1, dtype=np.int64))[None, :]) % 10
    check = np.array(list("10X98765432"))[(digits @ weights) % 11]
    text = pl.Series(body).cast(pl.String).str.zfill(17) + pl.Series(check)
    return text.to_list()


def _pick(rng: np.random.Generator, options: str | Sequence[str], n: int) -> npt.NDArray[np.str_]:
    return np.array(list(options))[rng.integers(0, len(options), n)]


def _names(rng: np.random.Generator, male: npt.NDArray[np.bool_]) -> npt.NDArray[np.str_]:
    """Surname + one or two given-name characters matching the gender."""
    n = male.shape[0]
    # Common surnames are much more frequent: weight by rank.
    weights = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.6
    sur = np.array(list(SURNAMES))[rng.choice(len(SURNAMES), n, p=weights / weights.sum())]
    first = np.where(male, _pick(rng, _MALE_GIVEN, n), _pick(rng, _FEMALE_GIVEN, n))
    second = np.where(male, _pick(rng, _MALE_GIVEN, n), _pick(rng, _FEMALE_GIVEN, n))
    given = np.where(rng.random(n) < 0.3, first, np.char.add(first, second))
    return np.char.add(sur, given)


def _mobiles(rng: np.random.Generator, n: int) -> list[str]:
    prefix = pl.Series(_pick(rng, _MOBILE_PREFIXES, n))
    rest = pl.Series(rng.integers(0, 10**8, n)).cast(pl.String).str.zfill(8)
    return (prefix + rest).to_list()


# ------------------------------------------------------------------------------------------- helpers


def _choice(rng: np.random.Generator, options: Sequence[Any], n: int, p: Sequence[float]) -> npt.NDArray[Any]:
    probs = np.asarray(p, dtype=np.float64)
    return np.asarray(options)[rng.choice(len(options), n, p=probs / probs.sum())]


def _day(d: dt.date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def _dates(a: Days) -> pl.Series:
    return pl.Series(np.asarray(a, dtype="datetime64[D]")).cast(pl.Date)


def _id(prefix: str, index: pl.Expr, width: int) -> pl.Expr:
    """``prefix`` + the 1-based ``index`` zero-padded to ``width`` digits."""
    return pl.concat_str(pl.lit(prefix), (index + 1).cast(pl.String).str.zfill(width))


def _yuan(c: pl.Expr) -> pl.Expr:
    """Integer fen → decimal yuan text (``123456`` → ``1234.56``); null stays null."""
    return pl.format("{}.{}", c // 100, (c % 100).cast(pl.String).str.zfill(2))


def _as_text(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Typed columns → the text a core system exports, in the format's field order."""
    out: list[pl.Expr] = []
    for f in DATASETS[name].fields:
        if f.name not in frame.columns:
            continue
        c = pl.col(f.name)
        match f.kind:
            case Kind.AMOUNT:
                e = _yuan(c)
            case Kind.RATE:
                e = pl.format("{}.{}%", c // 100, (c % 100).cast(pl.String).str.zfill(2))
            case Kind.DATE:
                e = c.dt.strftime("%Y-%m-%d")
            case Kind.BOOL:
                e = pl.when(c).then(pl.lit("true")).when(c.not_()).then(pl.lit("false"))
            case _:
                e = c.cast(pl.String)
        out.append(pl.when(c.is_not_null()).then(e).otherwise(pl.lit(None, pl.String)).alias(f.name))
    return frame.select(out)


# ------------------------------------------------------------------------------------------- the book


class _Loans:
    """The loans' attributes as arrays, one element per loan (sorted by disbursement date)."""

    def __init__(self, rng: np.random.Generator, n: int, today: np.datetime64) -> None:
        products = list(_PRODUCTS)
        self.product = _choice(rng, products, n, [_PRODUCTS[x][0] for x in products]).astype(str)
        self.term = np.zeros(n, dtype=np.int64)
        method = np.empty(n, dtype=object)
        for name in products:
            idx = np.flatnonzero(self.product == name)
            _share, terms, term_w, methods, method_w = _PRODUCTS[name]
            self.term[idx] = _choice(rng, terms, idx.size, term_w)
            method[idx] = _choice(rng, methods, idx.size, method_w)
        self.auto = (self.product == "installment") & (rng.random(n) < 0.12)
        self.term[self.auto] = _choice(rng, (24, 36), int(self.auto.sum()), (0.5, 0.5))
        method[self.auto] = "equal_installment"
        method[(method == "interest_first") & (self.term > 12)] = "equal_installment"  # 先息后本 is short
        self.term[(method == "bullet") & (self.term > 6)] = 3  # bullet BNPL runs 3 or 6 months
        self.method: list[str] = [str(m) for m in method]
        self.kind = np.where(self.auto, "auto", self.product)

        # Principal: cash loans in hundreds of yuan, goods in whole yuan, card bills to the fen.
        self.principal = np.zeros(n, dtype=np.int64)
        self.rate_bp = np.zeros(n, dtype=np.int64)
        self.p_late = np.zeros(n, dtype=np.float64)
        for kind, (median, lo, hi, unit) in {
            "cash_loan": (8_000, 1_000, 50_000, 10_000),
            "installment": (9_000, 1_500, 80_000, 100),
            "revolving_card": (6_000, 1_000, 50_000, 1),
            "bnpl": (1_500, 200, 8_000, 1),
            "auto": (110_000, 50_000, 250_000, 10_000),
        }.items():
            idx = np.flatnonzero(self.kind == kind)
            # A float only shapes the random draw; from here on the amount is integer fen.
            yuan = np.clip(np.exp(rng.normal(np.log(median), 0.6, idx.size)), lo, hi)
            fen = (yuan * 100).astype(np.int64)
            self.principal[idx] = np.maximum(fen // unit * unit, lo * 100)
            rate_lo, rate_hi = _RATE_RANGE[kind]
            self.rate_bp[idx] = rng.integers(rate_lo // 10, rate_hi // 10 + 1, idx.size) * 10
            self.p_late[idx] = _DELINQUENCY[kind]
        self.disbursed: Days = np.sort(today - rng.integers(1, 731, n).astype("timedelta64[D]"))
        self.maturity = _add_months(self.disbursed, self.term)

        # About 1.25 loans per borrower; borrower numbers follow the date of their first loan.
        self.n_borrowers = max(1, round(n * 0.8))
        owner = np.concatenate(
            [np.arange(self.n_borrowers), rng.integers(0, self.n_borrowers, n - self.n_borrowers)]
        )
        rng.shuffle(owner)
        _unique, first = np.unique(owner, return_index=True)
        rank = np.empty(self.n_borrowers, dtype=np.int64)
        rank[np.argsort(first)] = np.arange(self.n_borrowers)
        self.owner = rank[owner].astype(np.int64)
        self.first_loan: Days = self.disbursed[np.sort(first)]


def _repayments(rng: np.random.Generator, loans: _Loans, today: np.datetime64) -> tuple[pl.DataFrame, Ints]:
    """Installments with what was paid (typed), and each loan's days past due."""
    n = loans.principal.size
    sched = schedules(loans.principal, loans.rate_bp, loans.term, loans.method, loans.disbursed)
    loan = sched.get_column("loan").to_numpy()
    seq = sched.get_column("seq").to_numpy()
    due = sched.get_column("due_date").to_numpy().astype("datetime64[D]")
    p_due = sched.get_column("principal").to_numpy()
    i_due = sched.get_column("interest").to_numpy()
    n_due = np.bincount(loan, weights=(due <= today), minlength=n).astype(np.int64)

    # A minority of loans stopped paying at some point: each draws a target of days past due (most
    # recent, a tail of old ones), pays every installment older than that and none since. A loan
    # whose every due installment is older than its target mostly stays current (it would only pile
    # up the tail); the rest miss their last one. A third of the late loans paid part of the oldest
    # unpaid installment (its interest and some of its principal).
    days_over = (today - due).astype(np.int64)
    late = (n_due > 0) & (rng.random(n) < loans.p_late)
    bucket = rng.choice(len(_DPD_BUCKETS), n, p=[b[2] for b in _DPD_BUCKETS])
    target = rng.integers(
        np.array([b[0] for b in _DPD_BUCKETS])[bucket], np.array([b[1] for b in _DPD_BUCKETS])[bucket] + 1
    )
    older = np.bincount(loan, weights=(days_over > target[loan]), minlength=n).astype(np.int64)
    stale = older >= n_due
    late &= ~(stale & (rng.random(n) < 0.7))
    paid_n = np.where(late, np.minimum(older, n_due - 1), n_due)
    partial = late & (rng.random(n) < 0.3)
    full_row = seq <= paid_n[loan]
    part_row = (seq == paid_n[loan] + 1) & partial[loan]
    p_paid = np.where(
        full_row, p_due, np.where(part_row, p_due * rng.integers(100, 900, seq.size) // 1000, 0)
    )
    i_paid = np.where(full_row | part_row, i_due, 0)
    unpaid = p_due - p_paid + i_due - i_paid
    penalty = np.where(~full_row & (days_over > 0), unpaid * PENALTY_BP_PER_DAY * days_over // 10_000, 0)

    # Paid mostly on or a few days before the due date, sometimes late; partial payments after it.
    # Never after as_of, never before the previous installment's payment.
    early = rng.random(seq.size) < 0.85
    offset = np.where(early, -rng.integers(0, 6, seq.size), rng.integers(1, 31, seq.size))
    span = np.clip(days_over, 0, 20)
    offset = np.where(part_row, (rng.random(seq.size) * (span + 1)).astype(np.int64), offset)
    paid_on = np.minimum(due + offset.astype("timedelta64[D]"), today)
    paid_on = np.maximum(paid_on, loans.disbursed[loan] + np.timedelta64(1, "D"))
    zero = np.zeros(seq.size, dtype=np.int64)
    paid_any = full_row | part_row
    inst = pl.DataFrame(
        {
            "loan": loan,
            "seq": seq,
            "due_date": _dates(due),
            "principal_due": p_due,
            "interest_due": i_due,
            "fee_due": zero,
            "penalty_due": penalty,
            "principal_paid": p_paid,
            "interest_paid": i_paid,
            "fee_paid": zero,
            "penalty_paid": zero,
            "last_paid_date": _dates(paid_on),
            "__paid": paid_any,
        }
    ).with_columns(
        pl.when(pl.col("__paid"))
        .then(pl.col("last_paid_date"))
        .cum_max()
        .over("loan")
        .alias("last_paid_date")
    )
    inst = inst.with_columns(pl.when(pl.col("__paid")).then(pl.col("last_paid_date")).alias("last_paid_date"))

    oldest = np.full(n, today)
    rows = late[loan] & (seq == paid_n[loan] + 1)
    oldest[loan[rows]] = due[rows]
    dpd = (today - oldest).astype(np.int64)
    inst = inst.with_columns(pl.Series("__settled", paid_n[loan] == np.bincount(loan, minlength=n)[loan]))
    return inst, dpd


def generate(n_loans: int, *, as_of: dt.date, seed: int = 0) -> dict[str, pl.DataFrame]:
    """A synthetic portfolio of ``n_loans`` loans as the extract of day ``as_of``.

    Returns dataset name → frame of text cells under the format's canonical column names, for every
    dataset of :data:`recoup.portfolio.spec.DATASETS` (the optional ``deleted`` column is left out).
    The same ``(n_loans, as_of, seed)`` always gives the same frames.
    """
    if n_loans < 1:
        raise ValueError("n_loans must be at least 1")
    rng = np.random.default_rng(seed)
    today = _day(as_of)
    ln = _Loans(rng, n_loans, today)
    inst, dpd = _repayments(rng, ln, today)
    settled = inst.group_by("loan").agg(pl.col("__settled").first()).sort("loan").get_column("__settled")
    status = np.where(settled.to_numpy(), "paid_off", "active").astype(object)
    status[(dpd > 180) & (rng.random(n_loans) < 0.4)] = "written_off"
    late_borrower = np.zeros(ln.n_borrowers, dtype=bool)
    late_borrower[ln.owner[dpd > 0]] = True

    loans = pl.DataFrame(
        {
            "loan": np.arange(n_loans, dtype=np.int64),
            "owner": ln.owner,
            "product_code": [
                f"{'AUTO' if a else _CODE_PREFIX[str(p)]}{t:02d}"
                for p, a, t in zip(ln.product, ln.auto, ln.term, strict=True)
            ],
            "product_type": ln.product.tolist(),
            "repayment_method": ln.method,
            "principal": ln.principal,
            "currency": ["CNY"] * n_loans,
            "annual_rate": ln.rate_bp,
            "term_months": ln.term,
            "disbursement_date": _dates(ln.disbursed),
            "maturity_date": _dates(ln.maturity),
            "status": [str(s) for s in status],
            "funding_partner": pl.Series(
                np.where(
                    (ln.product == "cash_loan") & (rng.random(n_loans) < 0.6),
                    _pick(rng, _FUNDERS, n_loans),
                    "",
                ).tolist()
            ),
        }
    ).with_columns(
        pl.concat_str(
            pl.lit("L"),
            pl.col("disbursement_date").dt.year().cast(pl.String),
            (pl.col("loan") + 1).cast(pl.String).str.zfill(7),
        ).alias("loan_id"),
        _id("C", pl.col("owner"), 8).alias("borrower_id"),
        pl.when(pl.col("funding_partner") != "").then(pl.col("funding_partner")).alias("funding_partner"),
    )
    loan_ids = loans.select("loan", "loan_id")
    borrowers = _borrowers(rng, ln, today)
    frames = {
        "borrowers": borrowers,
        "contact_points": _contact_points(rng, ln, borrowers),
        "loans": loans,
        "installments": inst.join(loan_ids, on="loan").sort("loan", "seq"),
        "payments": _payments(rng, inst).join(loan_ids, on="loan"),
        "collateral": _collateral(rng, ln).join(loan_ids, on="loan"),
        "bureau_updates": _bureau(rng, ln, today, late_borrower),
    }
    return {name: _as_text(name, frames[name]) for name in DATASETS}


def _borrowers(rng: np.random.Generator, ln: _Loans, today: np.datetime64) -> pl.DataFrame:
    n = ln.n_borrowers
    tiers = np.array([c[1] for c in CITIES], dtype=np.int64)
    weights = np.array([_TIER_SHARE[int(t)] / int((tiers == t).sum()) for t in tiers])
    city = rng.choice(len(CITIES), n, p=weights / weights.sum())
    city_name = np.array([c[0] for c in CITIES])[city]
    male = rng.random(n) < 0.55
    birth = today - rng.integers(20 * 365 + 5, 58 * 365, n).astype("timedelta64[D]")
    area = np.array([c[2] for c in CITIES], dtype=np.int64)[city]
    tier = tiers[city]
    # Monthly income in whole hundreds of yuan, lower in smaller cities (the float only shapes the draw).
    income_hundreds = np.clip(np.exp(rng.normal(np.log(90) - 0.12 * (tier - 1), 0.5, n)), 25, 800)
    ctype = _choice(rng, ("individual", "sole_proprietor"), n, (0.94, 0.06))
    company = np.char.add(
        np.char.add(city_name, _pick(rng, _EMPLOYER_WORDS, n)), _pick(rng, _EMPLOYER_KINDS, n)
    )
    employer = np.where(ctype == "sole_proprietor", np.char.add(city_name, "个体经营"), company)
    return pl.DataFrame(
        {
            "i": np.arange(n, dtype=np.int64),
            "name": _names(rng, male).tolist(),
            "national_id": _national_ids(area, birth, male, rng),
            "birth_date": _dates(birth),
            "gender": np.where(male, "男", "女").tolist(),
            "customer_type": ctype.tolist(),
            "timezone": np.where(city_name == "乌鲁木齐", "Asia/Urumqi", "Asia/Shanghai").tolist(),
            "locale": np.where(rng.random(n) < 0.99, "zh_CN", "en").tolist(),
            "city": city_name.tolist(),
            "city_tier": tier,
            "monthly_income": income_hundreds.astype(np.int64) * 10_000,
            "__has_income": rng.random(n) < 0.9,
            "employer": employer.tolist(),
            "__has_employer": rng.random(n) < 0.8,
        }
    ).with_columns(
        _id("C", pl.col("i"), 8).alias("borrower_id"),
        pl.when(pl.col("__has_income")).then(pl.col("monthly_income")).alias("monthly_income"),
        pl.when(pl.col("__has_employer")).then(pl.col("employer")).alias("employer"),
    )


def _contact_points(rng: np.random.Generator, ln: _Loans, borrowers: pl.DataFrame) -> pl.DataFrame:
    """Each borrower's own mobile, an optional email and address, and 0–2 emergency contacts."""
    n = ln.n_borrowers
    who = np.arange(n, dtype=np.int64)
    has_email = rng.random(n) < 0.4
    qq = pl.Series(rng.integers(10**5, 10**10, n)).cast(pl.String) + "@qq.com"
    named = (
        pl.Series(_pick(rng, _SYLLABLES, n))
        + pl.Series(_pick(rng, _SYLLABLES, n))
        + pl.Series(rng.integers(1, 10_000, n)).cast(pl.String)
        + "@"
        + pl.Series(_pick(rng, _EMAIL_DOMAINS[1:], n))
    )
    email = np.where(rng.random(n) < 0.5, qq.to_numpy(), named.to_numpy())
    has_addr = rng.random(n) < 0.5
    city = pl.Series(np.array([c[0] for c in CITIES])[rng.integers(0, len(CITIES), n)])
    address = (
        city
        + "市"
        + pl.Series(_pick(rng, _DISTRICTS, n))
        + pl.Series(_pick(rng, _ROADS, n))
        + "路"
        + pl.Series(rng.integers(1, 400, n)).cast(pl.String)
        + "号"
        + pl.Series(rng.integers(1, 30, n)).cast(pl.String)
        + "栋"
        + pl.Series(rng.integers(101, 2_800, n)).cast(pl.String)
        + "室"
    ).to_numpy()

    n_em = _choice(rng, (0, 1, 2), n, (0.2, 0.4, 0.4)).astype(np.int64)  # never more than two
    em_who = np.repeat(who, n_em)
    relation = _pick(rng, _RELATIONS, em_who.size)
    own_male = (borrowers.get_column("gender") == "男").to_numpy()
    # Parents, siblings and children share the borrower's surname (single-character surnames only).
    own_surname = borrowers.get_column("name").str.slice(0, 1).to_numpy().astype(str)
    em_male = np.where(
        np.isin(relation, ["父亲", "兄弟"]),
        True,
        np.where(
            np.isin(relation, ["母亲", "姐妹"]),
            False,
            np.where(relation == "配偶", ~own_male[em_who], rng.random(em_who.size) < 0.5),
        ),
    )
    em_name = _names(rng, em_male)
    same = np.isin(relation, _SAME_SURNAME)
    em_name = np.where(
        same,
        np.char.add(own_surname[em_who], pl.Series(em_name).str.slice(1).to_numpy().astype(str)),
        em_name,
    )
    parts = [
        _cp(who, 0, "phone", _mobiles(rng, n), "self", "voice,sms", rng.random(n) >= 0.03),
        _cp(who[has_email], 1, "email", email[has_email].tolist(), "self", "email"),
        _cp(who[has_addr], 2, "address", address[has_addr].tolist(), "self", "letter,visit"),
        _cp(
            em_who,
            3,
            "phone",
            _mobiles(rng, em_who.size),
            "emergency_contact",
            "voice",
            rng.random(em_who.size) >= 0.08,
        )
        .with_columns(pl.Series("contact_name", em_name.tolist(), dtype=pl.String))
        .with_columns(pl.Series("relation", relation.tolist(), dtype=pl.String)),
    ]
    cp = pl.concat(parts, how="diagonal_relaxed").with_row_index("__r").sort("b", "__o", "__r")
    return cp.with_row_index("__n").with_columns(
        _id("CP", pl.col("__n").cast(pl.Int64), 9).alias("contact_id"),
        _id("C", pl.col("b"), 8).alias("borrower_id"),
        pl.lit("loan_contract").alias("consent_source"),
        pl.Series(_dates(ln.first_loan[cp.get_column("b").to_numpy()])).alias("consent_date"),
    )


def _cp(
    who: Ints,
    order: int,
    kind: str,
    value: list[str],
    role: str,
    channels: str,
    valid: npt.NDArray[np.bool_] | None = None,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "b": who,
            "__o": np.full(who.size, order, dtype=np.int64),
            "kind": [kind] * who.size,
            "value": pl.Series(value, dtype=pl.String),
            "role": [role] * who.size,
            "consent_channels": [channels] * who.size,
            "is_valid": np.ones(who.size, dtype=bool) if valid is None else valid,
        },
        schema_overrides={"b": pl.Int64, "__o": pl.Int64, "kind": pl.String, "role": pl.String},
    ).with_columns(pl.col("consent_channels").cast(pl.String))


def _payments(rng: np.random.Generator, inst: pl.DataFrame) -> pl.DataFrame:
    """One payment per (fully or partly) paid installment, numbered in the order they arrived."""
    paid = inst.filter(pl.col("__paid")).select(
        "loan",
        "seq",
        pl.col("last_paid_date").alias("received_date"),
        (
            pl.col("principal_paid") + pl.col("interest_paid") + pl.col("fee_paid") + pl.col("penalty_paid")
        ).alias("amount"),
    )
    paid = paid.filter(pl.col("amount") > 0).sort("received_date", "loan", "seq")
    n = paid.height
    return paid.with_columns(
        _id("P", pl.int_range(0, n, dtype=pl.Int64), 10).alias("payment_id"),
        pl.Series("channel", _choice(rng, _PAYMENT_CHANNELS, n, _PAYMENT_SHARES).tolist(), dtype=pl.String),
        pl.concat_str(
            pl.col("received_date").dt.strftime("%Y%m%d"),
            pl.Series(rng.integers(0, 10**8, n)).cast(pl.String).str.zfill(8),
        ).alias("reference"),
        pl.lit(None, pl.String).alias("reverses"),
    )


def _collateral(rng: np.random.Generator, ln: _Loans) -> pl.DataFrame:
    """The vehicle securing each auto loan, valued shortly before disbursement."""
    idx = np.flatnonzero(ln.auto)
    n = idx.size
    when = ln.disbursed[idx] - rng.integers(1, 15, n).astype("timedelta64[D]")
    year = pl.Series(when.astype("datetime64[Y]").astype(np.int64) + 1970 - rng.integers(0, 2, n))
    value = ln.principal[idx] * rng.integers(115, 146, n) // 100 // 10_000 * 10_000
    return pl.DataFrame(
        {
            "loan": idx.astype(np.int64),
            "type": ["vehicle"] * n,
            "description": (
                year.cast(pl.String) + "款 " + pl.Series(_pick(rng, _VEHICLES, n), dtype=pl.String)
            ),
            "valuation": value.astype(np.int64),
            "valuation_date": _dates(when),
        },
        schema_overrides={"type": pl.String, "description": pl.String},
    ).with_columns(_id("G", pl.int_range(0, n, dtype=pl.Int64), 7).alias("collateral_id"))


def _bureau(
    rng: np.random.Generator, ln: _Loans, today: np.datetime64, late: npt.NDArray[np.bool_]
) -> pl.DataFrame:
    """A credit-bureau refresh for about a third of the borrowers (most of those in arrears)."""
    n = ln.n_borrowers
    pick = np.flatnonzero(rng.random(n) < np.where(late, 0.7, 0.3))
    m = pick.size
    report = today - rng.integers(0, 181, m).astype("timedelta64[D]")
    report = np.maximum(report, ln.first_loan[pick] + np.timedelta64(1, "D"))
    report = np.minimum(report, today)
    score = np.clip(rng.normal(680, 60, m) - np.where(late[pick], 90, 0), 300, 900).astype(np.int64)
    return pl.DataFrame(
        {
            "b": pick.astype(np.int64),
            "report_date": _dates(report),
            "source": _choice(rng, _BUREAUS, m, (0.7, 0.3)).tolist(),
            "new_delinquencies": rng.poisson(np.where(late[pick], 1.2, 0.1)).astype(np.int64),
            "score": score,
        },
        schema_overrides={"source": pl.String},
    ).with_columns(
        _id("B", pl.int_range(0, m, dtype=pl.Int64), 8).alias("update_id"),
        _id("C", pl.col("b"), 8).alias("borrower_id"),
    )


# --------------------------------------------------------------------------------------------- writing

_CODECS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "gbk": "gb18030",
    "gb18030": "gb18030",
}


def _zh(enum: str, canonical: str) -> str:
    """The first Chinese alias of an enum value (the canonical value when it has none)."""
    for alias in ENUMS[enum][canonical]:
        if any("\u4e00" <= ch <= "\u9fff" for ch in alias):
            return alias
    return canonical


def _chinese_cells(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Enum values as their Chinese aliases and booleans as 是/否, as a Chinese core system writes them."""
    out: list[pl.Expr] = []
    for f in DATASETS[name].fields:
        if f.name not in frame.columns:
            continue
        c = pl.col(f.name)
        if f.kind is Kind.ENUM and f.enum is not None:
            zh = {v: _zh(f.enum, v) for v in ENUMS[f.enum]}
            out.append(c.replace(zh))
        elif f.kind is Kind.CHANNELS:
            zh = {v: _zh("contact_channel", v) for v in ENUMS["contact_channel"]}
            out.append(c.str.split(",").list.eval(pl.element().replace(zh)).list.join("、").alias(f.name))
        elif f.kind is Kind.BOOL:
            out.append(c.replace({"true": "是", "false": "否"}))
    return frame.with_columns(out)


def mapping_toml(datasets: Sequence[str] | None = None) -> str:
    """The ``mapping.toml`` that maps :data:`CHINESE_HEADERS` to the format's names."""
    lines = [
        "# 表头映射：机构系统的列名 = 数据格式的字段名（见 docs/extract-format.md）",
        "# Header mapping: the lender's column name = the extract format's field name.",
    ]
    for name in datasets or list(DATASETS):
        lines += ["", f"[{name}]"]
        lines += [f'"{zh}" = "{field}"' for field, zh in CHINESE_HEADERS[name].items()]
    return "\n".join(lines) + "\n"


def write_extract(
    frames: dict[str, pl.DataFrame],
    directory: str | Path,
    *,
    chinese_headers: bool = False,
    encoding: str = "utf-8",
) -> Path:
    """Write ``frames`` as a day's directory: one CSV per non-empty dataset; returns the directory.

    ``chinese_headers`` writes the Chinese headers (:data:`CHINESE_HEADERS`), enum values and booleans
    a Chinese lender sends, under the Chinese file names (``借据.csv``), with a matching
    ``mapping.toml``. ``encoding`` is ``utf-8``, ``utf-8-sig`` or ``gbk`` (written with the GB 18030
    codec, identical to GBK for every character GBK has).
    """
    codec = _CODECS.get(encoding.lower().replace("_", "-"))
    if codec is None:
        raise ValueError(f"unsupported encoding {encoding!r}; one of {', '.join(_CODECS)}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        ds = DATASETS[name]
        if frame.height == 0:
            continue  # nothing to send (the importer refuses a file with a header but no rows)
        if chinese_headers:
            frame = _chinese_cells(name, frame).rename(CHINESE_HEADERS[name], strict=False)
        path = out / f"{ds.title_zh if chinese_headers else name}.csv"
        path.write_bytes(frame.write_csv().encode(codec))
    if chinese_headers:
        (out / "mapping.toml").write_text(
            mapping_toml([n for n in DATASETS if n in frames]), encoding="utf-8"
        )
    return out
