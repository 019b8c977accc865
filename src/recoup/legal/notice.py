"""The notice of a debt's transfer (债权转让通知, 民法典 §546) in Simplified Chinese and English.

A transfer binds the debtor only once they are notified: the seller tells each borrower which loans were
transferred, to whom, the cut-off date, that payments are now due to the buyer (and that payments made
to the seller after the cut-off are passed on), and that the seller has stopped collecting them. The
text threatens nothing and passes the content linter; loan numbers are masked.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from recoup.pii import mask_name

#: The outbox ``template`` of the notice (the limitation service does not count it as a demand).
NOTICE_TEMPLATE: Final = "legal:transfer_notice"


def _loan_ref(loan_id: str) -> str:
    return f"{loan_id[:1]}****{loan_id[-4:]}" if len(loan_id) > 5 else "****"


def notice_text(
    locale: str,
    *,
    borrower_name: str,
    lender: str,
    hotline: str,
    buyer: str,
    buyer_contact: str,
    cutoff: dt.date,
    transfer: dt.date,
    loans: list[str],
) -> tuple[str, str]:
    """(subject, body) of the notice in ``locale`` (``en…`` English, else Chinese)."""
    refs = [_loan_ref(x) for x in loans]
    name = mask_name(borrower_name) if borrower_name.strip() else ""
    if locale.startswith("en"):
        us = lender or "We"
        contact = f" Its contact: {buyer_contact}." if buyer_contact else ""
        line = f" Questions: call our service line {hotline}." if hotline else ""
        body = (
            f"Dear {name or 'customer'},\n"
            f"Under Article 546 of the Civil Code of the People's Republic of China, {us} gives you "
            f"notice that its claims against you under the loans below (principal, interest and accessory "
            f"rights) have been transferred to {buyer}, with a cut-off date of {cutoff.isoformat()} and a "
            f"transfer date of {transfer.isoformat()}.\n"
            f"Loans: {', '.join(refs)}\n"
            f"From the day this notice reaches you, please repay the transferee.{contact} Any payment you "
            f"make to us after the cut-off date will be passed to the transferee. We have stopped collecting "
            f"these loans.{line}\n"
            f"{lender}\n{transfer.isoformat()}"
        )
        return "Notice of transfer of your loan", body
    us = lender or "我方"
    contact = f"受让方联系方式：{buyer_contact}。" if buyer_contact else ""
    line = f"如有疑问，请致电我方客服 {hotline}。\n" if hotline else ""
    day = f"{transfer.year}年{transfer.month}月{transfer.day}日"
    body = (
        f"{name or '客户'}您好：\n"
        f"根据《中华人民共和国民法典》第五百四十六条，{us}现通知您：我方已将对您享有的下列借款债权（含本金、利息"
        f"及其他从权利）转让给{buyer}，债权转让基准日为{cutoff.year}年{cutoff.month}月{cutoff.day}日，"
        f"转让日为{day}。\n"
        f"借款编号：{'、'.join(refs)}\n"
        f"自本通知送达之日起，请向受让方履行还款义务。{contact}基准日之后您向我方支付的款项，我方将转交受让方。"
        f"我方已停止对上述借款的催收。\n"
        f"{line}"
        f"{lender}\n{day}"
    )
    return "债权转让通知书", body
