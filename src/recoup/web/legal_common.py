"""What the legal pages share: the flash message, today's business day, amounts typed in a form and the
borrowers' masked names (:mod:`recoup.web.legal_pages`, :mod:`recoup.web.legal_sale_pages`)."""

from __future__ import annotations

import datetime as dt
from typing import Final

from fastapi import Request
from sqlalchemy import select

from recoup import money
from recoup.cases.models import Case
from recoup.db import utcnow
from recoup.errors import MoneyError
from recoup.legal.common import refuse
from recoup.pii import mask_name
from recoup.portfolio.models import Borrower
from recoup.web.deps import DbSession
from recoup.web.pages import settings_of

_FLASH: Final = "flash"


def flash(request: Request, message: str, *, error: bool = False) -> None:
    request.session[_FLASH] = [message, error]


def take_flash(request: Request) -> tuple[str | None, bool]:
    f = request.session.pop(_FLASH, None)
    return (f[0], bool(f[1])) if f else (None, False)


def today_of(request: Request) -> dt.date:
    return utcnow().astimezone(settings_of(request).tz).date()


def minor(request: Request, text: str, field: str) -> int | None:
    """An amount typed in currency units → minor units; empty → None; bad → a refusal naming the field."""
    value = text.strip()
    if not value:
        return None
    try:
        return money.parse_amount(value, minor_digits=settings_of(request).minor_digits)
    except MoneyError:
        raise refuse(field, f"{field}: {value!r} is not an amount", f"{field} 金额无效") from None


def borrower_names(case_ids: set[int], *, session: DbSession) -> dict[int, str]:
    """case id → the borrower's masked name."""
    rows = session.execute(
        select(Case.id, Borrower.name)
        .join(Borrower, Borrower.id == Case.borrower_id)
        .where(Case.id.in_(case_ids))
    ).all()
    return {cid: mask_name(name or "") for cid, name in rows}
