"""The rows and the file of a case-list export: one row per open case the user may see (case id, borrower
name, phone, overdue amount in yuan, days past due, holder, last contact), written as CSV (UTF-8 with a
BOM, so spreadsheet programs read the Chinese) or XLSX (bold header in the user's language, fitted
column widths, money as numbers with the currency's decimals).

Names and phones are masked unless the caller asks for clear values (the requester holds ``pii.unmask``).
A text cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` …) is written as text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.access import visible_cases
from recoup.cases.models import Case
from recoup.contact.models import ContactAttempt
from recoup.pii import mask, mask_name
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint

#: The columns, in order (the web layer gives their headers in the user's language).
COLUMNS: Final = ("case_id", "borrower", "phone", "overdue", "dpd", "holder", "last_contact")
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_SELF_ROLES: Final = ("self", "debtor")


@dataclass(frozen=True)
class ExportRow:
    case_id: int
    borrower: str
    phone: str
    overdue: Decimal
    dpd: int
    holder: str
    last_contact: dt.datetime | None


def _visible_open(user: AppUser) -> Select[Any]:
    """The ids of the open cases ``user`` may see."""
    return visible_cases(user).where(Case.status == "open").with_only_columns(Case.id)


def count_rows(user: AppUser, *, session: Session) -> int:
    """How many rows an export by ``user`` would have now."""
    return int(session.scalar(select(func.count()).select_from(_visible_open(user).subquery())) or 0)


def case_rows(user: AppUser, *, session: Session, unmasked: bool, minor_digits: int) -> list[ExportRow]:
    """The open cases ``user`` may see, by case id, with names and phones masked unless ``unmasked``."""
    ids = _visible_open(user)
    cases = session.execute(
        select(
            Case.id, Borrower.id, Borrower.name, Borrower.external_id, AppUser.display_name, AppUser.username
        )
        .join(Borrower, Borrower.id == Case.borrower_id)
        .outerjoin(AppUser, AppUser.id == Case.holder_id)
        .where(Case.id.in_(ids))
        .order_by(Case.id)
    ).all()
    totals = {
        case_id: (int(overdue or 0), int(dpd or 0))
        for case_id, overdue, dpd in session.execute(
            select(
                CollectionAccount.case_id,
                func.sum(CollectionAccount.overdue_amount),
                func.max(CollectionAccount.dpd),
            )
            .where(CollectionAccount.case_id.in_(ids), CollectionAccount.status == "open")
            .group_by(CollectionAccount.case_id)
        )
    }
    borrower_ids = select(Case.borrower_id).where(Case.id.in_(ids))
    phones: dict[int, tuple[bool, str]] = {}
    for borrower_id, role, value in session.execute(
        select(ContactPoint.borrower_id, ContactPoint.role, ContactPoint.value)
        .where(
            ContactPoint.borrower_id.in_(borrower_ids),
            ContactPoint.kind.in_(("phone", "mobile")),
            ContactPoint.is_valid,
        )
        .order_by(ContactPoint.id)
    ):
        own = role in _SELF_ROLES
        if borrower_id not in phones or (own and not phones[borrower_id][0]):
            phones[borrower_id] = (own, value)
    keys = select(Borrower.external_id).join(Case, Case.borrower_id == Borrower.id).where(Case.id.in_(ids))
    last = dict(
        session.execute(
            select(ContactAttempt.borrower_key, func.max(ContactAttempt.at))
            .where(ContactAttempt.borrower_key.in_(keys))
            .group_by(ContactAttempt.borrower_key)
        ).all()
    )
    scale = Decimal(10) ** -minor_digits
    rows = []
    for case_id, borrower_id, name, borrower_key, holder_name, holder_user in cases:
        overdue, dpd = totals.get(case_id, (0, 0))
        phone = phones.get(borrower_id, (False, ""))[1]
        seen = last.get(borrower_key)
        rows.append(
            ExportRow(
                case_id=case_id,
                borrower=name if unmasked else mask_name(name),
                phone=(phone if unmasked else mask("phone", phone)) if phone else "",
                overdue=(Decimal(overdue) * scale).quantize(scale),
                dpd=dpd,
                holder=(holder_name or holder_user or "") if holder_user else "",
                last_contact=seen.replace(tzinfo=dt.UTC)
                if seen is not None and seen.tzinfo is None
                else seen,
            )
        )
    return rows


def _safe_text(value: str) -> str:
    """Text a spreadsheet will not run as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _local(value: dt.datetime | None, tz: ZoneInfo) -> dt.datetime | None:
    return None if value is None else value.astimezone(tz).replace(tzinfo=None, microsecond=0)


def to_csv(rows: Sequence[ExportRow], headers: Sequence[str], *, tz: ZoneInfo) -> bytes:
    """CSV, UTF-8 with a BOM; money as decimal strings, times in the lender's timezone."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_safe_text(h) for h in headers])
    for r in rows:
        seen = _local(r.last_contact, tz)
        writer.writerow(
            [
                r.case_id,
                _safe_text(r.borrower),
                _safe_text(r.phone),
                str(r.overdue),
                r.dpd,
                _safe_text(r.holder),
                seen.strftime("%Y-%m-%d %H:%M") if seen else "",
            ]
        )
    return buf.getvalue().encode("utf-8-sig")


def _width(value: object) -> int:
    text = value if isinstance(value, str) else str(value)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def to_xlsx(rows: Sequence[ExportRow], headers: Sequence[str], *, tz: ZoneInfo, minor_digits: int) -> bytes:
    """XLSX: a bold, frozen header row, fitted column widths, money as numbers with ``minor_digits``
    decimals, the last contact as a date-time in the lender's timezone."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    money_format = "#,##0" + ("." + "0" * minor_digits if minor_digits else "")
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "cases"
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    widths = [_width(h) for h in headers]
    for r in rows:
        seen = _local(r.last_contact, tz)
        values: list[object] = [r.case_id, r.borrower, r.phone, r.overdue, r.dpd, r.holder, seen]
        ws.append(values)
        row = ws.max_row
        for col in (2, 3, 6):  # text: never a formula
            cell = ws.cell(row=row, column=col)
            cell.data_type = "s"
        ws.cell(row=row, column=4).number_format = money_format
        if seen is not None:
            ws.cell(row=row, column=7).number_format = "yyyy-mm-dd hh:mm"
        shown = [r.case_id, r.borrower, r.phone, f"{r.overdue:,}", r.dpd, r.holder, "0000-00-00 00:00"]
        widths = [max(w, _width(v)) for w, v in zip(widths, shown, strict=True)]
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(w + 2, 8), 60)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
