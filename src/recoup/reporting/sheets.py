"""Report output in the report's language: a rich table, a CSV and a formatted XLSX from one description.

A report is a list of :class:`Sheet` (a frame plus the :class:`Col` that say how to show each column). Money
columns hold integer minor units and are shown in yuan with two decimals through ``Decimal`` (never a float);
rate columns hold fractions and are shown as percentages (the XLSX keeps the number with a ``0.0%`` format).
Headers are in the report's language (``RECOUP_LOCALE``: zh_CN, the default, or en). A row whose ``thin``
column is true is marked (too few accounts behind it to trust its rates).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import polars as pl
from rich.table import Table

from recoup import cellsafe

__all__ = ["Col", "Sheet", "cell_text", "rich_table", "text_width", "write_csv", "write_xlsx"]

Kind = Literal["text", "int", "money", "pct"]


@dataclass(frozen=True)
class Col:
    """One column: frame key, English and Chinese header, and how its values are shown."""

    key: str
    en: str
    zh: str
    kind: Kind = "text"

    def header(self, locale: str) -> str:
        return self.en if locale == "en" else self.zh


@dataclass
class Sheet:
    """One table of a report: ``name`` (XLSX sheet and CSV suffix), a title, its columns and rows."""

    name: str
    title: str
    cols: list[Col]
    frame: pl.DataFrame
    notes: list[str] = field(default_factory=list)


#: The mark beside a row with too few accounts, and the words of the ``thin`` column.
THIN = {"en": "few accounts", "zh_CN": "样本不足"}


def text_width(text: str) -> int:
    """Display width: a CJK (wide) character takes two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _money(v: int) -> Decimal:
    return Decimal(v).scaleb(-2).quantize(Decimal("0.01"))


def cell_text(col: Col, value: object) -> str:
    """A value as a person reads it: money ``1,234.56``, rates ``12.3%``, counts ``1,234``; null → ``—``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else ""
    if col.kind == "money" and isinstance(value, int):
        return f"{_money(value):,.2f}"
    if col.kind == "pct" and isinstance(value, int | float):
        return f"{value:.1%}"
    if col.kind == "int" and isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _thin(row: dict[str, object]) -> bool:
    return bool(row.get("thin"))


def rich_table(sheet: Sheet, locale: str) -> Table:
    """The sheet as a rich table; thin rows are yellow and marked in the last column."""
    t = Table(title=sheet.title, title_justify="left")
    for c in sheet.cols:
        t.add_column(c.header(locale), justify="left" if c.kind == "text" else "right")
    marks = "thin" in sheet.frame.columns
    if marks:
        t.add_column("")
    for row in sheet.frame.iter_rows(named=True):
        cells = [cell_text(c, row.get(c.key)) for c in sheet.cols]
        if marks:
            cells.append(f"⚠ {THIN.get(locale, THIN['zh_CN'])}" if _thin(row) else "")
        t.add_row(*cells, style="yellow" if _thin(row) else None)
    return t


def write_csv(sheet: Sheet, path: Path) -> Path:
    """The sheet as UTF-8 CSV with a BOM (Excel reads Chinese): machine keys as headers, money as decimal
    yuan strings, rates as fractions; every column of the frame (``thin`` included)."""
    out = sheet.frame
    for c in sheet.cols:
        if c.key not in out.columns:
            continue
        if c.kind == "money" and out.schema[c.key].is_integer():
            vals = [None if v is None else str(_money(v)) for v in out.get_column(c.key).to_list()]
            out = out.with_columns(pl.Series(c.key, vals, dtype=pl.String))
        elif c.kind == "pct" and out.schema[c.key].is_float():
            out = out.with_columns(pl.col(c.key).round(6))
    path.parent.mkdir(parents=True, exist_ok=True)
    cellsafe.frame(out).write_csv(path, include_bom=True)
    return path


def write_xlsx(
    sheets: list[Sheet], path: Path, *, locale: str, definitions: list[tuple[str, str]] | None = None
) -> Path:
    """A formatted workbook: one sheet per table (title, bold shaded headers in the report's language,
    money ``#,##0.00`` from Decimal, rates ``0.0%``, fitted widths, frozen header, thin rows shaded and
    marked), then a sheet of definitions (term, meaning) when given."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    default = wb.active
    if default is not None:
        wb.remove(default)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    thin_fill = PatternFill("solid", fgColor="FFF2CC")
    for sheet in sheets:
        ws = wb.create_sheet(title=sheet.name[:31])
        ws.append([cellsafe.cell(sheet.title)])
        ws["A1"].font = Font(bold=True, size=12)
        marks = "thin" in sheet.frame.columns
        headers = [c.header(locale) for c in sheet.cols] + (
            [THIN.get(locale, THIN["zh_CN"])] if marks else []
        )
        ws.append(headers)
        for cell in ws[2]:
            cell.font = Font(bold=True)
            cell.fill = head_fill
            cell.alignment = Alignment(vertical="top")
        widths = [text_width(h) for h in headers]
        for row in sheet.frame.iter_rows(named=True):
            values: list[object] = []
            for i, c in enumerate(sheet.cols):
                v = row.get(c.key)
                if c.kind == "money" and isinstance(v, int):
                    values.append(_money(v))
                elif isinstance(v, str):
                    values.append(cellsafe.cell(v))
                else:
                    values.append(v)
                widths[i] = max(widths[i], text_width(cell_text(c, v)))
            if marks:
                values.append("⚠" if _thin(row) else "")
            ws.append(values)
            if marks and _thin(row):
                for cell in ws[ws.max_row]:
                    cell.fill = thin_fill
        for i, c in enumerate(sheet.cols, start=1):
            fmt = {"money": "#,##0.00", "pct": "0.0%", "int": "#,##0"}.get(c.kind)
            if fmt:
                for (cell,) in ws.iter_rows(min_row=3, min_col=i, max_col=i):
                    cell.number_format = fmt
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(60, max(8, w + 2))
        ws.freeze_panes = "B3"
        for note in sheet.notes:
            ws.append([])
            ws.append([cellsafe.cell(note)])
    if definitions:
        ws = wb.create_sheet(title="定义" if locale != "en" else "Definitions")
        ws.append(["术语" if locale != "en" else "Term", "定义" if locale != "en" else "Definition"])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = head_fill
        for term, meaning in definitions:
            ws.append([cellsafe.cell(term), cellsafe.cell(meaning)])
        ws.column_dimensions["A"].width = max(12, max(text_width(t) for t, _ in definitions) + 2)
        ws.column_dimensions["B"].width = 100
        for (cell,) in ws.iter_rows(min_row=2, min_col=2, max_col=2):
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
