"""Default monotone constraints of the known GBM models, with the reason for each direction.

``recoup model train`` (:func:`recoup.scoring.registry.do_train`) applies them to a gbm named
``self_cure`` or ``roll_forward`` when no ``--monotone`` is given; an explicit mapping replaces them
entirely (``--monotone none`` trains without constraints). Only features whose direction collections
experience fixes are constrained; the rest (``utilisation``, ``outstanding_principal``, ``payment_trend``,
``partial_payments``, ``loan_age_months``, ``remaining_installments``) are left free. docs/scoring.md
shows these tables (:func:`render_docs`; a test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Iterable

#: model name → feature → (direction, reason). +1: the probability rises with the feature; −1: it falls.
MONOTONE_DEFAULTS: dict[str, dict[str, tuple[int, str]]] = {
    "self_cure": {
        "dpd": (-1, "the longer an account has been past due, the less likely it pays itself back"),
        "max_dpd_ever": (-1, "a loan that has been deeper in arrears cures less often"),
        "days_since_last_payment": (-1, "the longer since the last payment, the colder the account"),
        "payments_30d": (1, "recent payments show ability and willingness to pay"),
        "paid_30d": (1, "more paid in the last 30 days, more likely to clear the rest"),
        "payments_90d": (1, "payments over the quarter show willingness to pay"),
        "paid_90d": (1, "more paid over the quarter, more likely to clear the rest"),
        "paid_to_due_ratio": (1, "a borrower who paid more of what fell due has kept paying"),
        "times_cured": (1, "accounts that cured before tend to cure again (slips, not inability)"),
        "bureau_score": (1, "a higher credit-bureau score means lower credit risk"),
        "bureau_new_delinquencies_90d": (-1, "new arrears elsewhere mean the borrower is stretched"),
    },
    "roll_forward": {
        "days_since_last_payment": (1, "the longer since the last payment, the likelier the next bucket"),
        "payments_30d": (-1, "recent payments keep an account from rolling"),
        "paid_30d": (-1, "more paid in the last 30 days, less likely to roll"),
        "payments_90d": (-1, "payments over the quarter keep an account from rolling"),
        "paid_90d": (-1, "more paid over the quarter, less likely to roll"),
        "paid_to_due_ratio": (-1, "a borrower who paid more of what fell due rolls less"),
        "bureau_score": (-1, "a higher credit-bureau score means lower credit risk"),
        "bureau_new_delinquencies_90d": (1, "new arrears elsewhere mean the borrower is stretched"),
    },
}


def default_monotone(name: str, features: Iterable[str]) -> dict[str, int]:
    """The default constraints of model ``name`` restricted to ``features`` (empty for other models)."""
    table = MONOTONE_DEFAULTS.get(name, {})
    return {f: table[f][0] for f in features if f in table}


def render_docs() -> str:
    """The Markdown tables of the defaults, as docs/scoring.md shows them."""
    lines: list[str] = []
    for name, table in MONOTONE_DEFAULTS.items():
        lines += [f"### `{name}`", "", "| feature | direction | why |", "|---|---|---|"]
        for f, (d, why) in table.items():
            lines.append(f"| `{f}` | {'increasing ↑' if d > 0 else 'decreasing ↓'} | {why} |")
        lines.append("")
    return "\n".join(lines)
