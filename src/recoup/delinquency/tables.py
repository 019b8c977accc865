"""The default decision tables of the delinquency kernel, as versioned data.

Operators may save their own versions (``configs`` kind ``decision_table``); the cycle records the
hash of the table that decided every row.
"""

from __future__ import annotations

from typing import Any

#: Buckets by days past due (METRICS.md): C, M1 with sub-buckets D1–3 / D4–15 / D16–30, M2 … M7+.
BUCKETS: dict[str, Any] = {
    "name": "bucket",
    "version": 1,
    "mode": "first",
    "inputs": {"dpd": "int", "missed_installments": "int", "product_type": "str", "bucket_by_cycle": "bool"},
    "outputs": {"bucket": "str", "sub_bucket": "str", "bucket_rank": "int"},
    "rows": [
        # Revolving cards may bucket by missed statement cycles (a per-product setting).
        {
            "id": "CYC-C",
            "when": {"bucket_by_cycle": True, "missed_installments": {"le": 0}},
            "then": {"bucket": "C", "sub_bucket": "C", "bucket_rank": 0},
            "note": "no missed statement",
        },
        *[
            {
                "id": f"CYC-M{n}",
                "when": {"bucket_by_cycle": True, "missed_installments": n},
                "then": {"bucket": f"M{n}", "sub_bucket": f"M{n}", "bucket_rank": n},
                "note": f"{n} missed statement(s)",
            }
            for n in range(1, 7)
        ],
        {
            "id": "CYC-M7+",
            "when": {"bucket_by_cycle": True, "missed_installments": {"ge": 7}},
            "then": {"bucket": "M7+", "sub_bucket": "M7+", "bucket_rank": 7},
            "note": "7 or more missed statements",
        },
        {
            "id": "C",
            "when": {"dpd": {"le": 0}},
            "then": {"bucket": "C", "sub_bucket": "C", "bucket_rank": 0},
            "note": "current",
        },
        {
            "id": "M1-D1-3",
            "when": {"dpd": {"between": [1, 3]}},
            "then": {"bucket": "M1", "sub_bucket": "D1-3", "bucket_rank": 1},
            "note": "1–3 days past due",
        },
        {
            "id": "M1-D4-15",
            "when": {"dpd": {"between": [4, 15]}},
            "then": {"bucket": "M1", "sub_bucket": "D4-15", "bucket_rank": 1},
            "note": "4–15 days past due",
        },
        {
            "id": "M1-D16-30",
            "when": {"dpd": {"between": [16, 30]}},
            "then": {"bucket": "M1", "sub_bucket": "D16-30", "bucket_rank": 1},
            "note": "16–30 days past due",
        },
        *[
            {
                "id": f"M{n}",
                "when": {"dpd": {"between": [30 * (n - 1) + 1, 30 * n]}},
                "then": {"bucket": f"M{n}", "sub_bucket": f"M{n}", "bucket_rank": n},
                "note": f"{30 * (n - 1) + 1}–{30 * n} days past due",
            }
            for n in range(2, 7)
        ],
        {
            "id": "M7+",
            "when": {"dpd": {"ge": 181}},
            "then": {"bucket": "M7+", "sub_bucket": "M7+", "bucket_rank": 7},
            "note": "181+ days past due",
        },
    ],
}

#: The five-category classification (商业银行金融资产风险分类办法, 2023): regulatory floors by days
#: past due. Overdue > 90 days is at least 次级, > 270 at least 可疑, > 360 损失; any overdue amount makes
#: an asset at least 关注 (technical delays of up to ``CLASS_TECHNICAL_DAYS`` aside). Written-off loans
#: are 损失. Check against the regulation before relying on it; operators may version their own table.
LOAN_CLASS: dict[str, Any] = {
    "name": "loan_class",
    "version": 1,
    "mode": "first",
    "inputs": {"dpd": "int", "written_off": "bool"},
    "outputs": {"loan_class": "str", "loan_class_zh": "str", "class_rank": "int"},
    "rows": [
        {
            "id": "LOSS-WO",
            "when": {"written_off": True},
            "then": {"loan_class": "loss", "loan_class_zh": "损失", "class_rank": 5},
            "note": "written off",
        },
        {
            "id": "NORMAL",
            "when": {"dpd": {"le": 0}},
            "then": {"loan_class": "normal", "loan_class_zh": "正常", "class_rank": 1},
            "note": "nothing overdue",
        },
        {
            "id": "SPECIAL",
            "when": {"dpd": {"between": [1, 90]}},
            "then": {"loan_class": "special_mention", "loan_class_zh": "关注", "class_rank": 2},
            "note": "overdue up to 90 days",
        },
        {
            "id": "SUBSTD",
            "when": {"dpd": {"between": [91, 270]}},
            "then": {"loan_class": "substandard", "loan_class_zh": "次级", "class_rank": 3},
            "note": "overdue more than 90 days",
        },
        {
            "id": "DOUBTFUL",
            "when": {"dpd": {"between": [271, 360]}},
            "then": {"loan_class": "doubtful", "loan_class_zh": "可疑", "class_rank": 4},
            "note": "overdue more than 270 days",
        },
        {
            "id": "LOSS",
            "when": {"dpd": {"ge": 361}},
            "then": {"loan_class": "loss", "loan_class_zh": "损失", "class_rank": 5},
            "note": "overdue more than 360 days",
        },
    ],
}

#: Transition since the previous day. ``rank_change`` = sign(bucket_rank − previous bucket_rank).
TRANSITION: dict[str, Any] = {
    "name": "transition",
    "version": 1,
    "mode": "first",
    "inputs": {
        "has_prev": "bool",
        "closed_today": "bool",
        "written_off_today": "bool",
        "dpd": "int",
        "prev_dpd": "int",
        "rank_change": "int",
        "status": "str",
    },
    "outputs": {"transition": "str"},
    "rows": [
        {"id": "WRITTEN-OFF", "when": {"written_off_today": True}, "then": {"transition": "written_off"}},
        {"id": "PAID-OFF", "when": {"closed_today": True}, "then": {"transition": "paid_off"}},
        {
            "id": "NEW-DELINQUENT",
            "when": {"has_prev": False, "dpd": {"ge": 1}},
            "then": {"transition": "entered"},
        },
        {"id": "NEW", "when": {"has_prev": False}, "then": {"transition": "new"}},
        {
            "id": "ENTERED",
            "when": {"prev_dpd": {"le": 0}, "dpd": {"ge": 1}},
            "then": {"transition": "entered"},
        },
        {
            "id": "CURED",
            "when": {"prev_dpd": {"ge": 1}, "dpd": {"le": 0}, "status": "active"},
            "then": {"transition": "cured"},
        },
        {
            "id": "ROLLED-FORWARD",
            "when": {"dpd": {"ge": 1}, "rank_change": 1},
            "then": {"transition": "rolled_forward"},
        },
        {
            "id": "ROLLED-BACK",
            "when": {"dpd": {"ge": 1}, "rank_change": -1},
            "then": {"transition": "rolled_back"},
        },
        {"id": "STAYED", "when": {"dpd": {"ge": 1}}, "then": {"transition": "stayed"}},
    ],
    "default": {"transition": "current"},
}
