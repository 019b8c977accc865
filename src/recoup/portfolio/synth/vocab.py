"""Word lists and product parameters of the synthetic portfolio."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

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
