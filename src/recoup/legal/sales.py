"""Debt sales (个贷不良批量转让): a selection of whole cases sold to a buyer at a cut-off date (基准日).

- A ``legal.manage`` holder **selects** cases (by case id or by loan id: a loan brings its whole case —
  one borrower, one case, and the stop on collection below is per borrower) with the buyer, the cut-off
  date and the transfer date. A case must be open, not stopped (停催), without an open legal matter and
  in no other sale still under way.
- A ``plan.approve`` holder **other than the requester** approves or rejects it (four eyes).
- On or after the transfer date a ``legal.manage`` holder **transfers** it: the hard stop on collection,
  all in one transaction — the 停催 mechanism of :mod:`recoup.cases.stops`, made permanent:

  * every case is closed as ``sold`` through the case lifecycle (the authority of requester, approver and
    executor together), and its accounts leave collections (``collection_account.status = "closed"``;
    :func:`without_sold` keeps the daily cycle from taking them back in, so the strategy never decides
    for them again);
  * an open-ended ``HOLD-STOP`` contact hold on each borrower — the contact policy blocks every attempt
    the dispatcher judges, on every channel but ``letter``: the one letter queued for the borrower is the
    notice of transfer below (collection letters are people's tasks, never outbox messages);
  * the case's live tasks are cancelled ("sold: debt sale N"): it leaves every queue; an agency placement
    is recalled at once (reason ``closed``: the agency's access ends);
  * the borrower's pending outbox messages are ``blocked`` (HOLD-STOP) before any dispatcher claims them;
  * **the notice of transfer** (民法典 §546: the transfer binds the debtor once notified) is queued to the
    borrower's own valid address by letter through the outbox, in the borrower's language (a borrower
    without an address is listed ``no_address``: notify by announcement, 公告).

- **Payments after the cut-off** (:func:`buyer_payments`) — in the lake's extracts and the mirrored
  payments — are the buyer's and are listed for them; the buyer's data pack is :mod:`recoup.legal.pack`.

Audit: ``sale.requested``, ``sale.approved``, ``sale.rejected``, ``sale.cancelled``, ``sale.transferred``.
Where things are: statuses, case checks and reading in :mod:`~recoup.legal.sale_rules`; selecting,
approving, rejecting and cancelling in :mod:`~recoup.legal.sale_decisions`; the transfer in
:mod:`~recoup.legal.sale_transfer`; sold loans and the buyer's payments in :mod:`~recoup.legal.sale_sold`.
This module re-exports them.
"""

from recoup.legal.sale_decisions import do_approve_sale, do_cancel_sale, do_create_sale, do_reject_sale
from recoup.legal.sale_rules import (
    HOLD_CHANNELS,
    LIVE_SALES,
    LIVE_TASKS,
    MAX_CASES,
    MAX_PRICE,
    SaleStatus,
    get_sale,
    list_sales,
    sale_accounts,
)
from recoup.legal.sale_sold import buyer_payments, sold_loans, without_sold
from recoup.legal.sale_transfer import TransferResult, do_transfer_sale

__all__ = [
    "HOLD_CHANNELS",
    "LIVE_SALES",
    "LIVE_TASKS",
    "MAX_CASES",
    "MAX_PRICE",
    "SaleStatus",
    "TransferResult",
    "buyer_payments",
    "do_approve_sale",
    "do_cancel_sale",
    "do_create_sale",
    "do_reject_sale",
    "do_transfer_sale",
    "get_sale",
    "list_sales",
    "sale_accounts",
    "sold_loans",
    "without_sold",
]
