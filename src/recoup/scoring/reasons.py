"""Reason codes worded for people (PIPL Art. 24: a right to an explanation of automated decisions).

A reason is a feature that pushes the account's risk up; its code is the feature name, its words come
from :data:`WORDS` in Simplified Chinese and English.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

#: feature → (English, Chinese) wording of "this pushes the risk up".
WORDS: dict[str, tuple[str, str]] = {
    "dpd": ("many days past due", "逾期天数较长"),
    "max_dpd_ever": ("has been seriously late before", "历史最高逾期天数较高"),
    "times_cured": ("has fallen behind and caught up repeatedly", "多次逾期后还清"),
    "payments_30d": ("few payments in the last 30 days", "近30天还款次数少"),
    "paid_30d": ("little paid in the last 30 days", "近30天还款金额低"),
    "payments_90d": ("few payments in the last 90 days", "近90天还款次数少"),
    "paid_90d": ("little paid in the last 90 days", "近90天还款金额低"),
    "days_since_last_payment": ("a long time since the last payment", "距上次还款时间长"),
    "payment_trend": ("payment amounts are falling", "还款金额持续下降"),
    "paid_to_due_ratio": ("has paid a small share of what fell due", "已还占应还比例低"),
    "partial_payments": ("often pays only part of an installment", "经常部分还款"),
    "outstanding_principal": ("a large balance outstanding", "剩余本金较高"),
    "utilisation": ("most of the loan is still owed", "剩余本金占比高"),
    "loan_age_months": ("loan age", "借款期限"),
    "remaining_installments": ("many installments still to pay", "剩余期数多"),
    "bureau_score": ("a weak credit-bureau score", "征信评分较低"),
    "bureau_new_delinquencies_90d": ("new delinquencies at other lenders", "近期在其他机构新增逾期"),
}


def words(feature: str) -> tuple[str, str]:
    return WORDS.get(feature, (feature.replace("_", " "), feature))


def reason_frame(contrib: pd.DataFrame, k: int = 3) -> pl.DataFrame:
    """Top ``k`` risk-raising features per row, vectorised: codes and bilingual text."""
    values = contrib.to_numpy(dtype=np.float64)
    names = np.asarray(contrib.columns, dtype=object)
    order = np.argsort(-values, axis=1)[:, :k]
    top_vals = np.take_along_axis(values, order, axis=1)
    codes = names[order]
    codes[top_vals <= 0] = None  # only features that raise the risk are reasons
    en_map = {str(f): words(str(f))[0] for f in names}
    zh_map = {str(f): words(str(f))[1] for f in names}
    width = codes.shape[1]
    frame = pl.DataFrame(
        {
            # Through a list: an object array of only Nones (no risk-raising feature) cannot be cast.
            f"reason_{i + 1}": pl.Series(
                codes[:, i].tolist() if i < width else [None] * len(values), dtype=pl.String
            )
            for i in range(k)
        }
    )
    return frame.with_columns(
        reasons_en=pl.concat_list(
            [pl.col(f"reason_{i + 1}").replace_strict(en_map, default=None) for i in range(k)]
        )
        .list.drop_nulls()
        .list.join("; "),
        reasons_zh=pl.concat_list(
            [pl.col(f"reason_{i + 1}").replace_strict(zh_map, default=None) for i in range(k)]
        )
        .list.drop_nulls()
        .list.join("；"),
    )
