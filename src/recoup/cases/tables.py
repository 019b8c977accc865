"""The default case-grade decision table (grades 1 / 2 / 3 by days overdue, amount, customer type and
collateral; 1 = least severe). Versioned data: operators may save their own."""

from __future__ import annotations

from typing import Any

CASE_GRADE: dict[str, Any] = {
    "name": "case_grade",
    "version": 1,
    "mode": "first",
    "inputs": {"max_dpd": "int", "overdue_amount": "int", "customer_type": "str", "has_collateral": "bool"},
    "outputs": {"grade": "int"},
    "rows": [
        {
            "id": "G3-DPD",
            "when": {"max_dpd": {"ge": 91}},
            "then": {"grade": 3},
            "note": "over 90 days past due",
        },
        {
            "id": "G3-AMOUNT",
            "when": {"overdue_amount": {"ge": 5_000_000}, "has_collateral": False},
            "then": {"grade": 3},
            "note": "¥50,000 or more overdue without collateral",
        },
        {
            "id": "G2-DPD",
            "when": {"max_dpd": {"ge": 31}},
            "then": {"grade": 2},
            "note": "31–90 days past due",
        },
        {
            "id": "G2-BUSINESS",
            "when": {"customer_type": {"in": ["sole_proprietor", "small_business"]}},
            "then": {"grade": 2},
            "note": "business customer",
        },
        {
            "id": "G2-AMOUNT",
            "when": {"overdue_amount": {"ge": 1_000_000}},
            "then": {"grade": 2},
            "note": "¥10,000 or more overdue",
        },
        {"id": "G1", "when": {}, "then": {"grade": 1}, "note": "up to 30 days and a small amount"},
    ],
}

#: The collectors' must-do (必做) classification of a case's open task, first match wins; ``must_rank`` orders
#: the kinds at the top of a queue (1 first). No match → not must-do (``must_do`` and ``must_rank`` null).
#: ``days_untouched`` null (never touched) reaches the table as a very large number: it counts as untouched.
MUST_DO: dict[str, Any] = {
    "name": "must_do",
    "version": 1,
    "mode": "first",
    "inputs": {
        "contacted_ever": "bool",
        "promise_due_today": "bool",
        "broken_yesterday": "bool",
        "callback_due": "bool",
        "days_untouched": "int",
    },
    "outputs": {"must_do": "str", "must_rank": "int"},
    "rows": [
        {
            "id": "first-contact",
            "when": {"contacted_ever": False},
            "then": {"must_do": "first_contact", "must_rank": 1},
            "note": "a new case never contacted",
        },
        {
            "id": "promise-due",
            "when": {"promise_due_today": True},
            "then": {"must_do": "promise_due", "must_rank": 2},
            "note": "a promise to pay falls due today",
        },
        {
            "id": "broken-yesterday",
            "when": {"broken_yesterday": True},
            "then": {"must_do": "broken_promise", "must_rank": 3},
            "note": "a promise was judged broken yesterday (跳票)",
        },
        {
            "id": "callback",
            "when": {"callback_due": True},
            "then": {"must_do": "callback", "must_rank": 4},
            "note": "a callback scheduled at or before today",
        },
        {
            "id": "untouched",
            "when": {"days_untouched": {"ge": 7}},
            "then": {"must_do": "untouched", "must_rank": 5},
            "note": "not worked for 7 days or more",
        },
    ],
    "default": None,
}

#: The default allocation pools (分案池), first match wins: skill rows (language, product, region) before the
#: generic bucket rows. Pools are processed in the order they first appear here.
ALLOCATION_POOLS: dict[str, Any] = {
    "name": "allocation_pools",
    "version": 1,
    "mode": "first",
    "inputs": {"bucket": "str", "product": "str", "language": "str", "region": "str"},
    "outputs": {"pool": "str"},
    "rows": [
        {
            "id": "M1-YUE",
            "when": {"bucket": "M1", "language": "yue"},
            "then": {"pool": "m1-yue"},
            "note": "M1 cases of Cantonese speakers go to Cantonese-speaking collectors",
        },
        {"id": "M1", "when": {"bucket": "M1"}, "then": {"pool": "m1"}, "note": "1–30 days past due"},
        {"id": "M2-M3", "when": {"bucket": ["M2", "M3"]}, "then": {"pool": "m2m3"}, "note": "31–90 days"},
        {
            "id": "M4PLUS",
            "when": {"bucket": ["M4", "M5", "M6", "M7+"]},
            "then": {"pool": "m4plus"},
            "note": "over 90 days past due",
        },
    ],
    "default": {"pool": "m1"},
}
