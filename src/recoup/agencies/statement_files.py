"""A commission statement as files both sides keep: a formatted XLSX (openpyxl) and a PDF
(:func:`recoup.documents.pdf.render_pdf`, template ``agencies_statement.html``), in zh_CN or en.

Both show the same figures as the stored statement: per bucket the placements, amount placed, collected,
recovery rate, tier, rate and commission; then the gross, each penalty, the net and the amount payable;
the statement's SHA-256 and the two confirmations (who, when) or that they are awaited. Amounts are in
yuan with two decimals (``Decimal`` from minor units, never a float).
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any, Final, Literal

from recoup import cellsafe
from recoup.agencies.models import Agency, AgencyStatement
from recoup.documents.pdf import Document, render_pdf
from recoup.money import format_amount

__all__ = ["LABELS", "label", "statement_context", "statement_pdf", "statement_xlsx"]

#: Every label of the statement files: key → (Chinese, English).
LABELS: Final[dict[str, tuple[str, str]]] = {
    "title": ("委外催收佣金结算单", "Agency commission statement"),
    "agency": ("机构", "Agency"),
    "month": ("结算月份", "Month"),
    "contract": ("合同编号", "Contract"),
    "issued": ("出具", "Issued"),
    "bucket": ("账龄段", "Bucket"),
    "placements": ("委外案件数", "Placements"),
    "placed_amount": ("委外金额", "Amount placed"),
    "collected": ("回款金额", "Collected"),
    "recovery": ("回收率", "Recovery rate"),
    "tier": ("适用档位", "Tier from"),
    "rate": ("佣金比例", "Rate"),
    "commission": ("佣金", "Commission"),
    "gross": ("佣金合计", "Gross commission"),
    "complaint_penalty": ("投诉扣款", "Complaint penalties"),
    "qa_penalty": ("质检扣款", "Quality-inspection penalties"),
    "net": ("净佣金", "Net commission"),
    "payable": ("应付金额", "Payable"),
    "penalties": ("扣款明细", "Penalties"),
    "kind": ("类型", "Kind"),
    "ref": ("编号", "Reference"),
    "date": ("日期", "Date"),
    "amount": ("金额", "Amount"),
    "complaint": ("投诉", "complaint"),
    "qa": ("质检红线", "QA red line"),
    "confirmations": ("双方确认", "Confirmations"),
    "lender_side": ("出借方", "Lender"),
    "agency_side": ("委外机构", "Agency"),
    "awaited": ("待确认", "awaited"),
    "sha256": ("结算单哈希（SHA-256）", "Statement hash (SHA-256)"),
    "no_register": (
        "未接入投诉登记：投诉扣款按 0 计",
        "No complaints register: complaint penalties counted as 0",
    ),
    "total": ("合计", "Total"),
    "rule": (
        "佣金 = 委外期间计入本机构的回款 × 该账龄段按回收率所达档位的佣金比例，扣除投诉与质检扣款。",
        "Commission = collections credited to the agency during its placements × the bucket's rate for the "
        "recovery-rate tier reached, minus complaint and quality-inspection penalties.",
    ),
}
_MONEY_FMT: Final = "#,##0.00"
_PCT_FMT: Final = "0.00%"


def label(key: str, locale: str) -> str:
    zh, en = LABELS[key]
    return zh if locale == "zh_CN" else en


def _yuan(minor: int) -> Decimal:
    return Decimal(int(minor)).scaleb(-2).quantize(Decimal("0.01"))


def _pct(bp: int | None) -> str:
    return "—" if bp is None else f"{Decimal(int(bp)) / 100:.2f}%"


def statement_context(
    s: AgencyStatement, agency: Agency, *, locale: str, contract_ref: str | None
) -> dict[str, Any]:
    """What both files show (amounts formatted for ``locale``)."""
    style: Literal["zh", "en"] = "zh" if locale == "zh_CN" else "en"

    def money(v: int) -> str:
        return format_amount(int(v), "CNY", style=style)

    return {
        "L": {k: label(k, locale) for k in LABELS},
        "agency": f"{agency.name} ({agency.code})",
        "month": s.month,
        "contract": contract_ref or "—",
        "issued": f"{s.issued_by} · {s.issued_at:%Y-%m-%d %H:%M} UTC",
        "lines": [
            {
                "bucket": ln["bucket"],
                "placements": ln["placements"],
                "placed_amount": money(ln["placed_amount"]),
                "collected": money(ln["collected"]),
                "recovery": _pct(ln["recovery_bp"]),
                "tier": _pct(ln.get("tier_min_bp")),
                "rate": _pct(ln["rate_bp"]),
                "commission": money(ln["commission"]),
            }
            for ln in s.lines
        ],
        "totals": {
            "placements": sum(int(ln["placements"]) for ln in s.lines),
            "placed_amount": money(sum(int(ln["placed_amount"]) for ln in s.lines)),
            "collected": money(s.collected),
            "gross": money(s.gross),
            "complaint_penalty": money(s.complaint_penalty),
            "qa_penalty": money(s.qa_penalty),
            "net": money(s.net),
            "payable": money(s.payable),
        },
        "penalties": [
            {
                "kind": label(str(p["kind"]), locale),
                "ref": p["ref"],
                "on": p.get("on") or "—",
                "amount": money(p["amount"]),
            }
            for p in s.penalties
        ],
        "no_register": s.complaints_source == "none",
        "lender": (
            f"{s.lender_confirmed_by} · {s.lender_confirmed_at:%Y-%m-%d %H:%M} UTC"
            if s.lender_confirmed_at
            else label("awaited", locale)
        ),
        "agency_confirmed": (
            f"{s.agency_confirmed_by} · {s.agency_confirmed_at:%Y-%m-%d %H:%M} UTC"
            if s.agency_confirmed_at
            else label("awaited", locale)
        ),
        "sha256": s.sha256,
    }


def statement_pdf(s: AgencyStatement, agency: Agency, *, locale: str, contract_ref: str | None) -> Document:
    """The statement as a PDF."""
    return render_pdf(
        "agencies_statement.html",
        statement_context(s, agency, locale=locale, contract_ref=contract_ref),
        locale=locale,
    )


def statement_xlsx(s: AgencyStatement, agency: Agency, *, locale: str, contract_ref: str | None) -> bytes:
    """The statement as a formatted XLSX workbook (one sheet)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    L = {k: label(k, locale) for k in LABELS}
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = s.month
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    head_fill = PatternFill("solid", fgColor="F0F2F5")
    bold = Font(bold=True)
    ws["A1"] = L["title"]
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells("A1:H1")
    info = [
        (L["agency"], cellsafe.cell(f"{agency.name} ({agency.code})")),
        (L["month"], s.month),
        (L["contract"], cellsafe.cell(contract_ref or "—")),
        (L["issued"], f"{s.issued_by} · {s.issued_at:%Y-%m-%d %H:%M} UTC"),
    ]
    for i, (k, v) in enumerate(info, start=3):
        ws.cell(row=i, column=1, value=k).font = bold
        ws.cell(row=i, column=2, value=v)
    heads = ["bucket", "placements", "placed_amount", "collected", "recovery", "tier", "rate", "commission"]
    r0 = 8
    for j, key in enumerate(heads, start=1):
        c = ws.cell(row=r0, column=j, value=L[key])
        c.font, c.fill, c.border = bold, head_fill, box
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    r = r0
    for ln in s.lines:
        r += 1
        values: list[Any] = [
            ln["bucket"],
            int(ln["placements"]),
            _yuan(ln["placed_amount"]),
            _yuan(ln["collected"]),
            Decimal(int(ln["recovery_bp"])) / 10_000,
            None if ln.get("tier_min_bp") is None else Decimal(int(ln["tier_min_bp"])) / 10_000,
            Decimal(int(ln["rate_bp"])) / 10_000,
            _yuan(ln["commission"]),
        ]
        for j, v in enumerate(values, start=1):
            c = ws.cell(row=r, column=j, value=v)
            c.border = box
            if j in (3, 4, 8):
                c.number_format = _MONEY_FMT
            elif j in (5, 6, 7):
                c.number_format = _PCT_FMT
    r += 1
    total_row = [
        L["total"],
        sum(int(ln["placements"]) for ln in s.lines),
        _yuan(sum(int(ln["placed_amount"]) for ln in s.lines)),
        _yuan(s.collected),
        None,
        None,
        None,
        _yuan(s.gross),
    ]
    for j, cell_value in enumerate(total_row, start=1):
        c = ws.cell(row=r, column=j, value=cell_value)
        c.font, c.border = bold, box
        if j in (3, 4, 8):
            c.number_format = _MONEY_FMT
    r += 2
    for key, amount in (
        ("gross", s.gross),
        ("complaint_penalty", -s.complaint_penalty),
        ("qa_penalty", -s.qa_penalty),
        ("net", s.net),
        ("payable", s.payable),
    ):
        ws.cell(row=r, column=7, value=L[key]).font = bold
        c = ws.cell(row=r, column=8, value=_yuan(amount))
        c.number_format = _MONEY_FMT
        c.font = bold if key == "payable" else Font()
        r += 1
    if s.complaints_source == "none":
        ws.cell(row=r, column=1, value=L["no_register"]).font = Font(italic=True, color="666666")
        r += 1
    if s.penalties:
        r += 1
        ws.cell(row=r, column=1, value=L["penalties"]).font = bold
        r += 1
        for j, key in enumerate(("kind", "ref", "date", "amount"), start=1):
            c = ws.cell(row=r, column=j, value=L[key])
            c.font, c.fill, c.border = bold, head_fill, box
        for p in s.penalties:
            r += 1
            for j, pen_value in enumerate(
                (label(str(p["kind"]), locale), str(p["ref"]), p.get("on") or "—", _yuan(p["amount"])),
                start=1,
            ):
                c = ws.cell(row=r, column=j, value=pen_value)
                c.border = box
                if j == 4:
                    c.number_format = _MONEY_FMT
    r += 2
    ws.cell(row=r, column=1, value=L["confirmations"]).font = bold
    for side, who, at in (
        (L["lender_side"], s.lender_confirmed_by, s.lender_confirmed_at),
        (L["agency_side"], s.agency_confirmed_by, s.agency_confirmed_at),
    ):
        r += 1
        ws.cell(row=r, column=1, value=side)
        ws.cell(row=r, column=2, value=f"{who} · {at:%Y-%m-%d %H:%M} UTC" if at else L["awaited"])
    r += 2
    ws.cell(row=r, column=1, value=L["sha256"]).font = bold
    ws.cell(row=r, column=2, value=s.sha256)
    r += 1
    ws.cell(row=r, column=1, value=L["rule"]).font = Font(italic=True, color="666666")
    for j, width in enumerate((14, 12, 16, 16, 12, 16, 12, 16), start=1):
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.freeze_panes = ws.cell(row=r0 + 1, column=1)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
