"""The lender's price list: what one treatment costs, in fen, as the optimised strategy and the cycle's
expected values charge it (docs/strategy.md, "Optimised strategy").

These are production's own numbers, not read from the digital twin: they equal the twin's default
costs (``recoup.simulate.defaults``; a test keeps the two in step). They are the **defaults** of the
versioned ``prices`` configuration the lender edits (:mod:`recoup.strategy.economics`, ``recoup config
prices``), which the cycle and the twin both read: until a version is saved, nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from recoup.contact.vocab import Treatment

__all__ = ["AGENCY_COMMISSION_BP", "TREATMENT_PRICES", "price_list"]

#: The agencies' commission (basis points of what they collect) the response model was trained under
#: (the twin's ``agency_placement.commission_bp``; a test keeps them equal): the default of every bucket,
#: and the rate a bucket's configured commission is scaled against.
AGENCY_COMMISSION_BP = 2_500

#: Fen per treatment (one message, one call, one visit …). An agency placement costs nothing up front:
#: the agency is paid a commission on what it collects, which the response model predicts.
TREATMENT_PRICES: Mapping[Treatment, int] = MappingProxyType(
    {
        Treatment.SMS: 5,
        Treatment.EMAIL: 1,
        Treatment.IM: 3,
        Treatment.ROBOT_CALL: 30,
        Treatment.AGENT_CALL: 600,
        Treatment.FIELD_VISIT: 20_000,
        Treatment.LAWYER_LETTER: 8_000,
        Treatment.LEGAL_REVIEW: 50_000,
        Treatment.AGENCY_PLACEMENT: 0,
        Treatment.PORTAL_LINK: 5,
        Treatment.SETTLEMENT_OFFER: 800,
        Treatment.PLAN_OFFER: 800,
        Treatment.NO_ACTION: 0,
    }
)


def price_list() -> dict[str, int]:
    """:data:`TREATMENT_PRICES` keyed by the treatment's value (``"sms"`` → 5), a fresh dict."""
    return {t.value: price for t, price in TREATMENT_PRICES.items()}
