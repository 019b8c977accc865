"""Segments by decision table and worded reason codes, on hand-made frames."""

from __future__ import annotations

import pandas as pd
import polars as pl

from recoup import rules
from recoup.scoring.reasons import reason_frame
from recoup.scoring.segments import SEGMENTS


def test_default_segments() -> None:
    frame = pl.DataFrame(
        {
            "dpd": [0, 5, 5, 20, 45, 70, 70, 120],
            "score": [None, 0.9, 0.1, None, 0.5, 0.5, 0.5, None],
            "overdue_amount": [0, 100, 100, 100, 100, 100, 3_000_000, 100],
            "customer_type": [
                "individual",
                "individual",
                "individual",
                "small_business",
                "individual",
                "individual",
                "individual",
                "individual",
            ],
        },
        schema_overrides={"score": pl.Float64},
    )
    out = rules.evaluate(frame, rules.load_table(SEGMENTS), rule_column="segment_rule")
    assert out.get_column("segment").to_list() == [
        "current",
        "mild",
        "severe",
        "severe",
        "severe",
        "severe",
        "extremely_severe",
        "extremely_severe",
    ]
    assert out.get_column("segment_rule").to_list() == [
        None,
        "MILD",
        "SEV-LOW-CURE",
        "SEV-BUSINESS",
        "SEV-DPD",
        "SEV-DPD",
        "EXT-AMOUNT",
        "EXT-DPD",
    ]
    assert out.get_column("segment_zh").to_list()[1:3] == ["轻度", "重度"]


def test_reason_frame_words_the_top_risk_raising_features() -> None:
    contrib = pd.DataFrame(
        {
            "dpd": [0.9, -0.2],
            "payment_trend": [0.3, -0.1],
            "bureau_score": [-0.5, 0.4],
            "utilisation": [0.1, -0.3],
        }
    )
    r = reason_frame(contrib, 3)
    assert r.row(0, named=True)["reason_1"] == "dpd"
    assert [r[0, f"reason_{i}"] for i in (1, 2, 3)] == ["dpd", "payment_trend", "utilisation"]
    # Row 2: only bureau_score raises the risk; the others are not reasons.
    assert [r[1, f"reason_{i}"] for i in (1, 2, 3)] == ["bureau_score", None, None]
    assert r[0, "reasons_zh"] == "逾期天数较长；还款金额持续下降；剩余本金占比高"
    assert r[1, "reasons_en"] == "a weak credit-bureau score"


def test_reasons_when_no_feature_raises_the_risk() -> None:
    # Every contribution lowers the risk in some rows, and no second or third reason exists anywhere.
    contrib = pd.DataFrame({"dpd": [-1.0, -2.0], "paid_30d": [-0.5, 0.3]})
    out = reason_frame(contrib)
    assert out["reason_1"].to_list() == [None, "paid_30d"]
    assert out["reason_2"].null_count() == 2 and out["reasons_en"].to_list()[0] == ""
