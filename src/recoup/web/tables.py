"""One table model for the pages' figures: columns with a label and a kind, rendered as HTML (in the
templates, through :meth:`Formats.cell`), CSV and XLSX from the same definition.

Kinds: ``text`` (as it is), ``label`` (a code translated through the catalog, e.g. a funnel stage),
``int``, ``num`` (a float with one decimal), ``money`` (Int64 minor units), ``pct`` (a fraction: 0.25 is
25 %) and ``date``. Labels, titles and notes are English msgids (``N_``) translated in the request's
language.

- **CSV**: UTF-8 with a BOM (Excel reads the Chinese), header in the user's language, money as plain
  decimals in currency units (``1234.56``), percentages as fractions (``0.2500``), dates ISO; every text
  cell neutralised so a spreadsheet never reads a formula (:mod:`recoup.cellsafe`).
- **XLSX** (openpyxl): the same header in bold, frozen, with a filter; money as numbers with two decimals
  (the currency's digits), percentages in a percentage number format, counts with thousands separators,
  dates as dates, column widths fitted to the content (a CJK character counts double); a second sheet
  names the table, the day it refers to and its note.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from recoup import cellsafe
from recoup.money import to_decimal_string

Kind = Literal["text", "label", "int", "num", "money", "pct", "date"]
NUMERIC: frozenset[str] = frozenset({"int", "num", "money", "pct"})

__all__ = ["NUMERIC", "Column", "Formats", "Kind", "Table", "to_csv", "to_xlsx"]


@dataclass(frozen=True)
class Column:
    """A column: the row key, its English label (a msgid) and its kind."""

    key: str
    label: str
    kind: Kind = "text"


@dataclass
class Table:
    """A figure's data: an id (the export's file name), an English title and note (msgids), the day or
    days it refers to, its columns and rows (dicts keyed by column key)."""

    id: str
    title: str
    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    start: dt.date | None = None
    end: dt.date | None = None
    note: str = ""
    total_key: str | None = None  # a row whose value at this key is None is the total row (shown bold)
    extra: dict[str, Any] = field(default_factory=dict)

    def is_total(self, row: Mapping[str, Any]) -> bool:
        return self.total_key is not None and row.get(self.total_key) is None

    def note_text(self, gettext: Callable[[str], str]) -> str:
        """The note translated, its ``{placeholders}`` filled from ``extra``."""
        text = gettext(self.note) if self.note else ""
        return text.format_map(self.extra) if self.extra and "{" in text else text


class Formats:
    """Number, money and date formats of one locale (the same as the templates' filters)."""

    def __init__(self, locale: str, *, currency: str, digits: int, gettext: Callable[[str], str]) -> None:
        self.locale = locale
        self.babel = "zh_Hans_CN" if locale == "zh_CN" else "en"
        self.currency = currency
        self.digits = digits
        self.gettext = gettext

    def money(self, minor: int | None) -> str:
        if minor is None:
            return "—"
        return format_currency(Decimal(minor).scaleb(-self.digits), self.currency, locale=self.babel)

    def money_whole(self, minor: int | None) -> str:
        """Money without the minor units (chart axes)."""
        if minor is None:
            return "—"
        whole = Decimal(minor).scaleb(-self.digits)
        return format_currency(
            whole, self.currency, format="¤#,##0", currency_digits=False, locale=self.babel
        )

    def pct(self, value: float | None) -> str:
        return "—" if value is None else format_percent(value, format="#,##0.0%", locale=self.babel)

    def day(self, value: dt.date | None) -> str:
        return "—" if value is None else format_date(value, format="medium", locale=self.babel)

    def int(self, value: int | None) -> str:
        return "—" if value is None else format_decimal(value, format="#,##0", locale=self.babel)

    def num(self, value: float | None) -> str:
        return "—" if value is None else format_decimal(value, format="#,##0.0", locale=self.babel)

    def period(self, start: dt.date | None, end: dt.date | None) -> str:
        """``as of D`` for one day, ``D1 – D2`` for a range, empty when neither."""
        if end is None:
            return ""
        if start is None or start == end:
            return f"{self.gettext('as of')} {self.day(end)}"
        return f"{self.day(start)} – {self.day(end)}"

    def cell(self, kind: str, value: Any) -> str:
        """A value as the page shows it."""
        if value is None:
            return "—"
        if kind == "money":
            return self.money(int(value))
        if kind == "pct":
            return self.pct(float(value))
        if kind == "int":
            return self.int(int(value))
        if kind == "num":
            return self.num(float(value))
        if kind == "date":
            return self.day(value)
        if kind == "label":
            return self.gettext(str(value))
        return str(value)


def _plain(fmt: Formats, kind: str, value: Any) -> str:
    """A value as the CSV carries it (machine-readable; labels translated)."""
    if value is None:
        return ""
    if kind == "money":
        return to_decimal_string(int(value), fmt.digits)
    if kind == "pct":
        return f"{float(value):.4f}"
    if kind == "num":
        return f"{float(value):.1f}"
    if kind == "int":
        return str(int(value))
    if kind == "date":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if kind == "label":
        return cellsafe.cell(fmt.gettext(str(value)))
    return cellsafe.cell(str(value))


def to_csv(table: Table, fmt: Formats) -> bytes:
    """The table as CSV (UTF-8 with BOM), header in ``fmt``'s language."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([cellsafe.cell(fmt.gettext(c.label)) for c in table.columns])
    for row in table.rows:
        out.writerow([_plain(fmt, c.kind, row.get(c.key)) for c in table.columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _width(text: str) -> int:
    """Display width: East Asian wide and full-width characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _xlsx_value(fmt: Formats, kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "money":
        return Decimal(int(value)).scaleb(-fmt.digits)
    if kind in ("pct", "num"):
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "date":
        return value
    if kind == "label":
        return cellsafe.cell(fmt.gettext(str(value)))
    return cellsafe.cell(str(value))


def _number_format(kind: str, digits: int) -> str | None:
    money = "#,##0." + "0" * digits if digits else "#,##0"
    return {"money": money, "pct": "0.0%", "int": "#,##0", "num": "#,##0.0", "date": "yyyy-mm-dd"}.get(kind)


def _sheet_title(text: str) -> str:
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in text).strip()
    return cleaned[:31] or "table"


def to_xlsx(table: Table, fmt: Formats, *, exported_at: dt.datetime | None = None) -> bytes:
    """The table as a formatted XLSX workbook (see the module docstring)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    title = fmt.gettext(table.title)
    sheet.title = _sheet_title(title)
    headers = [fmt.gettext(c.label) for c in table.columns]
    sheet.append([cellsafe.cell(h) for h in headers])
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="EEF2F6")
    for cell in sheet[1]:
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(vertical="center", wrap_text=False)
    widths = [_width(h) for h in headers]
    for r, row in enumerate(table.rows, start=2):
        total = table.is_total(row)
        for i, col in enumerate(table.columns):
            value = _xlsx_value(fmt, col.kind, row.get(col.key))
            cell = sheet.cell(row=r, column=i + 1, value=value)
            number_format = _number_format(col.kind, fmt.digits)
            if number_format is not None:
                cell.number_format = number_format
            if total:
                cell.font = bold
            widths[i] = max(widths[i], _width(fmt.cell(col.kind, row.get(col.key))))
    for i, w in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(max(w + 3, 8), 60)
    sheet.freeze_panes = "A2"
    if table.rows:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(table.rows) + 1}"
    about = book.create_sheet(_sheet_title(fmt.gettext("About")))
    when = exported_at or dt.datetime.now(dt.UTC)
    info = [
        (fmt.gettext("Table"), title),
        (fmt.gettext("Period"), fmt.period(table.start, table.end)),
        (fmt.gettext("Currency"), fmt.currency),
        (fmt.gettext("Exported at (UTC)"), when.strftime("%Y-%m-%d %H:%M")),
    ]
    if table.note:
        info.append((fmt.gettext("Note"), table.note_text(fmt.gettext)))
    for key, value in info:
        about.append([cellsafe.cell(key), cellsafe.cell(value)])
        about.cell(row=about.max_row, column=1).font = bold
    about.column_dimensions["A"].width = max(_width(k) for k, _ in info) + 3
    about.column_dimensions["B"].width = min(max(_width(v) for _, v in info) + 3, 100)
    book.properties.title = title
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
