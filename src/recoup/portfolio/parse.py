"""Vectorised parsing of extract text into typed columns, with a reason for every failure.

Each parser takes an expression over a text column and returns ``Parsed(value, reason)``: the
typed value, and a text expression that is null when the cell is fine (or empty) and otherwise
the id of the rule it breaks. Amounts become exact integer minor units through integer
arithmetic on the digits, never through float.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import polars as pl

from recoup.portfolio.spec import ENUMS, enum_lookup

_FULLWIDTH = {chr(0xFF10 + i): str(i) for i in range(10)} | {
    "，": ",",
    "．": ".",
    "－": "-",
    "＋": "+",
    "（": "(",
    "）": ")",
    "　": " ",
    "％": "%",
    "／": "/",
    "：": ":",
}
_NUMBER = r"^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,3}))?$"
# 18 significant digits always fit in Int64 (max ≈ 9.22e18).
_MAX_DIGITS = 18
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_ZONES = sorted(zoneinfo.available_timezones())


@dataclass(frozen=True)
class Parsed:
    value: pl.Expr
    reason: pl.Expr


def clean_text(col: str | pl.Expr) -> pl.Expr:
    """Trimmed text with full-width digits and punctuation folded; empty becomes null."""
    e = pl.col(col) if isinstance(col, str) else col
    e = e.cast(pl.String).str.replace_many(list(_FULLWIDTH), list(_FULLWIDTH.values()))
    e = e.str.strip_chars()
    return pl.when(e.str.len_chars() == 0).then(None).otherwise(e)


def scaled_decimal(text: pl.Expr, scale: int | pl.Expr) -> Parsed:
    """Decimal text (optionally with an exponent) × 10**scale as an exact Int64.

    Reasons: ``number.unparseable``, ``number.precision`` (digits below the scale that are not
    zero), ``number.too_large``.
    """
    groups = text.str.extract_groups(_NUMBER)
    sign = groups.struct.field("1")
    ip = groups.struct.field("2").fill_null("")
    fp = groups.struct.field("3").fill_null("")
    ex = groups.struct.field("4").cast(pl.Int64, strict=False).fill_null(0)
    digits_txt = (ip + fp).str.strip_chars_start("0")
    ndig = digits_txt.str.len_chars()
    digits = (
        pl.when(ndig == 0)
        .then(pl.lit(0, pl.Int64))
        .otherwise(digits_txt.str.slice(0, _MAX_DIGITS).cast(pl.Int64, strict=False))
    )
    shift = pl.lit(scale, pl.Int64) + ex - fp.str.len_chars().cast(pl.Int64)
    ten = pl.lit(10, pl.Int64)
    # Only raise ten to exponents that cannot overflow; out-of-range cases are flagged below.
    up = digits * ten.pow(shift.clip(0, _MAX_DIGITS))
    down_pow = ten.pow((-shift).clip(0, _MAX_DIGITS))
    down = digits // down_pow
    exact_down = (digits % down_pow) == 0
    value = pl.when(shift >= 0).then(up).otherwise(down)
    value = pl.when(sign == "-").then(-value).otherwise(value)
    bad_shape = groups.struct.field("2").is_null() & groups.struct.field("3").is_null()
    unparseable = text.is_not_null() & (
        text.str.contains(_NUMBER).not_() | bad_shape | ((ip.str.len_chars() + fp.str.len_chars()) == 0)
    )
    too_large = (ndig > _MAX_DIGITS) | ((shift > 0) & (ndig + shift > _MAX_DIGITS))
    precision = (shift < 0) & (((-shift) > _MAX_DIGITS) & (ndig > 0) | exact_down.not_())
    reason = (
        pl.when(unparseable)
        .then(pl.lit("number.unparseable"))
        .when(too_large)
        .then(pl.lit("number.too_large"))
        .when(precision)
        .then(pl.lit("number.precision"))
        .otherwise(pl.lit(None, pl.String))
    )
    return Parsed(pl.when(reason.is_null() & text.is_not_null()).then(value), reason)


_CURRENCY_NOISE = r"(?i)[\s,_'¥￥$€£]|CNY|RMB|USD|EUR|GBP|元|人民币"


def amount(col: str, *, minor_digits: int) -> Parsed:
    """Money text → integer minor units: ``1,234.56``, ``¥1,234.56``, ``(12.00)``, ``1E+05``."""
    t = clean_text(col)
    paren = t.str.contains(r"^\(.*\)$")
    t = t.str.replace_all(_CURRENCY_NOISE, "").str.strip_chars("()")
    t = pl.when(paren & t.str.starts_with("-").not_()).then(pl.lit("-") + t).otherwise(t)
    p = scaled_decimal(t, minor_digits)
    reason = p.reason.str.replace("number.", "amount.", literal=True)
    return Parsed(p.value, reason)


def rate_bp(col: str) -> Parsed:
    """Annual rate → basis points: ``18%`` and ``0.18`` are 1800; a bare number above 1 is a percent."""
    t = clean_text(col)
    pct = t.str.ends_with("%")
    bare = t.str.strip_chars_end("%").str.strip_chars()
    as_pct = scaled_decimal(bare, 2)
    as_frac = scaled_decimal(bare, 4)
    use_pct = pct | (as_frac.value > 10_000)
    value = pl.when(use_pct).then(as_pct.value).otherwise(as_frac.value)
    reason = pl.when(use_pct).then(as_pct.reason).otherwise(as_frac.reason)
    reason = reason.str.replace("number.", "rate.", literal=True)
    reason = pl.when(reason.is_null() & (value < 0)).then(pl.lit("rate.negative")).otherwise(reason)
    reason = pl.when(reason.is_null() & (value > 100_000)).then(pl.lit("rate.too_large")).otherwise(reason)
    return Parsed(pl.when(reason.is_null()).then(value), reason)


def integer(col: str) -> Parsed:
    """Whole numbers; ``12.0`` (a spreadsheet's float) is accepted, ``12.5`` is not."""
    t = clean_text(col).str.replace_all(",", "")
    ok = t.str.contains(r"^[+-]?\d{1,18}(\.0*)?$")
    value = t.str.replace(r"\.0*$", "").cast(pl.Int64, strict=False)
    reason = pl.when(t.is_not_null() & ok.not_()).then(pl.lit("int.unparseable"))
    return Parsed(pl.when(ok).then(value), reason.otherwise(pl.lit(None, pl.String)))


_TRUE = ["true", "t", "yes", "y", "1", "是", "有效", "对"]
_FALSE = ["false", "f", "no", "n", "0", "否", "无效", "错"]


def boolean(col: str) -> Parsed:
    t = clean_text(col).str.to_lowercase()
    value = pl.when(t.is_in(_TRUE)).then(True).when(t.is_in(_FALSE)).then(False).otherwise(None)
    reason = pl.when(t.is_not_null() & value.is_null()).then(pl.lit("bool.unparseable"))
    return Parsed(value, reason.otherwise(pl.lit(None, pl.String)))


def date(col: str) -> Parsed:
    """Dates as 2026-11-24, 2026/11/24, 20261124, 2026年11月24日, or an Excel serial number."""
    t = clean_text(col)
    t = t.str.replace_many(["年", "月", "/", "."], ["-", "-", "-", "-"]).str.replace("日", "", literal=True)
    t = t.str.replace(r"[ T].*$", "")  # a time part from a spreadsheet or ISO timestamp
    serial_txt = t.str.extract(r"^(\d{1,5})(?:-0*)?$", 1)
    eight = t.str.extract_groups(r"^(\d{4})(\d{2})(\d{2})$")
    ymd = t.str.extract_groups(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
    y = pl.coalesce(eight.struct.field("1"), ymd.struct.field("1"))
    m = pl.coalesce(eight.struct.field("2"), ymd.struct.field("2")).str.zfill(2)
    d = pl.coalesce(eight.struct.field("3"), ymd.struct.field("3")).str.zfill(2)
    from_text = pl.concat_str([y, m, d], separator="-").str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    serial = serial_txt.cast(pl.Int64, strict=False)
    from_serial = pl.when((serial >= 1) & (serial <= 73_050)).then(
        pl.lit(_EXCEL_EPOCH) + pl.duration(days=serial)
    )
    value = pl.coalesce(from_text, from_serial.cast(pl.Date))
    in_range = value.is_between(dt.date(1900, 1, 1), dt.date(2199, 12, 31))
    reason = (
        pl.when(t.is_not_null() & value.is_null())
        .then(pl.lit("date.unparseable"))
        .when(t.is_not_null() & in_range.not_())
        .then(pl.lit("date.out_of_range"))
        .otherwise(pl.lit(None, pl.String))
    )
    return Parsed(pl.when(reason.is_null()).then(value), reason)


def enum(col: str, name: str) -> Parsed:
    """Canonical enum value from the canonical spelling or a Chinese/English alias (any case)."""
    lookup = enum_lookup(name)
    t = clean_text(col)
    value = t.str.to_lowercase().replace_strict(lookup, default=None, return_dtype=pl.String)
    reason = pl.when(t.is_not_null() & value.is_null()).then(pl.lit("enum.unknown"))
    return Parsed(value, reason.otherwise(pl.lit(None, pl.String)))


def channels(col: str) -> Parsed:
    """A list of contact channels (``voice,sms`` or ``电话、短信``) → canonical, sorted, comma-joined."""
    lookup = enum_lookup("contact_channel")
    t = clean_text(col)
    items = t.str.to_lowercase().str.replace_all(r"[,、;；|/\s]+", ",").str.split(",")
    mapped = items.list.eval(
        pl.element().filter(pl.element() != "").replace_strict(lookup, default=None, return_dtype=pl.String)
    )
    bad = mapped.list.eval(pl.element().is_null()).list.any()
    value = mapped.list.unique().list.sort().list.join(",")
    reason = pl.when(t.is_not_null() & bad).then(pl.lit("enum.unknown"))
    return Parsed(pl.when(bad.not_()).then(value), reason.otherwise(pl.lit(None, pl.String)))


def timezone(col: str) -> Parsed:
    t = clean_text(col)
    ok = t.is_in(_ZONES)
    reason = pl.when(t.is_not_null() & ok.not_()).then(pl.lit("timezone.unknown"))
    return Parsed(pl.when(ok).then(t), reason.otherwise(pl.lit(None, pl.String)))


def ident(col: str) -> Parsed:
    """External ids: trimmed, at most 64 characters, no control characters."""
    t = clean_text(col)
    bad = t.str.contains(r"[\x00-\x1f\x7f]") | (t.str.len_chars() > 64)
    reason = pl.when(t.is_not_null() & bad).then(pl.lit("id.invalid"))
    return Parsed(pl.when(bad.not_()).then(t), reason.otherwise(pl.lit(None, pl.String)))


def text(col: str) -> Parsed:
    t = clean_text(col)
    bad = t.str.len_chars() > 1000
    reason = pl.when(t.is_not_null() & bad).then(pl.lit("text.too_long"))
    return Parsed(pl.when(bad.not_()).then(t), reason.otherwise(pl.lit(None, pl.String)))


def allowed_values(name: str) -> list[str]:
    return list(ENUMS[name])
