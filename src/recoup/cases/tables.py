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
