"""Segmentation by decision table: days past due, score, balance and customer type → the segments the
business uses, by default mild / severe / extremely severe (轻度 / 重度 / 极重度)."""

from __future__ import annotations

from typing import Any

#: ``score`` is the champion self-cure model's probability (null when no model is promoted yet: rows
#: testing it then never match, and the days-past-due rows decide).
SEGMENTS: dict[str, Any] = {
    "name": "segment",
    "version": 1,
    "mode": "first",
    "inputs": {"dpd": "int", "score": "float", "overdue_amount": "int", "customer_type": "str"},
    "outputs": {"segment": "str", "segment_zh": "str"},
    "rows": [
        {
            "id": "EXT-DPD",
            "when": {"dpd": {"ge": 91}},
            "then": {"segment": "extremely_severe", "segment_zh": "极重度"},
            "note": "over 90 days past due",
        },
        {
            "id": "EXT-AMOUNT",
            "when": {"dpd": {"ge": 61}, "overdue_amount": {"ge": 2_000_000}},
            "then": {"segment": "extremely_severe", "segment_zh": "极重度"},
            "note": "over 60 days and ¥20,000 or more overdue",
        },
        {
            "id": "SEV-DPD",
            "when": {"dpd": {"between": [31, 90]}},
            "then": {"segment": "severe", "segment_zh": "重度"},
            "note": "31–90 days past due",
        },
        {
            "id": "SEV-LOW-CURE",
            "when": {"dpd": {"ge": 1}, "score": {"lt": 0.3}},
            "then": {"segment": "severe", "segment_zh": "重度"},
            "note": "unlikely to pay without help (score < 0.3)",
        },
        {
            "id": "SEV-BUSINESS",
            "when": {"dpd": {"ge": 16}, "customer_type": {"in": ["sole_proprietor", "small_business"]}},
            "then": {"segment": "severe", "segment_zh": "重度"},
            "note": "business customer 16+ days past due",
        },
        {
            "id": "MILD",
            "when": {"dpd": {"ge": 1}},
            "then": {"segment": "mild", "segment_zh": "轻度"},
            "note": "1–30 days past due",
        },
    ],
    "default": {"segment": "current", "segment_zh": "正常"},
}
