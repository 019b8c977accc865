"""Vectorised parsing of extract text into typed columns, with a reason for every failure.

Each parser takes a text Series and returns ``Parsed(value, reason)``: the typed values, and a
text Series that is null where the cell is fine (or empty) and otherwise names the rule it
breaks. Work is staged through small frames so that no sub-expression is evaluated twice.
Amounts become exact integer minor units through integer arithmetic on the digits, never float.
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
    value: pl.Series
    reason: pl.Series  # null where fine, else a rule id


def _clean(e: pl.Expr) -> pl.Expr:
    e = e.cast(pl.String).str.replace_many(list(_FULLWIDTH), list(_FULLWIDTH.values())).str.strip_chars()
    return pl.when(e.str.len_chars() == 0).then(None).otherwise(e)


def clean_text(s: pl.Series) -> pl.Series:
    """Trimmed text with full-width digits and punctuation folded; empty becomes null."""
    return pl.DataFrame({"t": s}).select(_clean(pl.col("t"))).to_series().rename(s.name)


def _reason_when(df: pl.DataFrame, cond: pl.Expr, rule: str, base: str = "reason") -> pl.DataFrame:
    """Set ``reason`` to ``rule`` where it is still null and ``cond`` holds."""
    return df.with_columns(
        pl.when(pl.col(base).is_null() & cond).then(pl.lit(rule)).otherwise(pl.col(base)).alias("reason")
    )


def _out(df: pl.DataFrame, name: str) -> Parsed:
    df = df.with_columns(pl.when(pl.col("reason").is_null()).then(pl.col("value")).alias("value"))
    return Parsed(df.get_column("value").rename(name), df.get_column("reason").rename(name))


def scaled_decimal(t: pl.Series, scale: int, prefix: str = "number") -> Parsed:
    """Decimal text (optionally with an exponent) × 10**scale as an exact Int64.

    Reasons: ``unparseable``, ``precision`` (non-zero digits below the scale), ``too_large``,
    each prefixed with ``prefix.``.
    """
    df = pl.DataFrame({"t": t}, schema={"t": pl.String})
    df = df.with_columns(
        g=pl.col("t").str.extract_groups(_NUMBER), matched=pl.col("t").str.contains(_NUMBER)
    ).with_columns(
        sign=pl.col("g").struct.field("1"),
        ip=pl.col("g").struct.field("2").fill_null(""),
        fp=pl.col("g").struct.field("3").fill_null(""),
        ex=pl.col("g").struct.field("4").cast(pl.Int64, strict=False).fill_null(0),
    )
    df = df.with_columns(
        dtxt=(pl.col("ip") + pl.col("fp")).str.strip_chars_start("0"),
        shift=pl.lit(scale, pl.Int64) + pl.col("ex") - pl.col("fp").str.len_chars().cast(pl.Int64),
        empty=(pl.col("ip").str.len_chars() + pl.col("fp").str.len_chars()) == 0,
    ).with_columns(ndig=pl.col("dtxt").str.len_chars().cast(pl.Int64))
    ten = pl.lit(10, pl.Int64)
    df = df.with_columns(
        digits=pl.when(pl.col("ndig") == 0)
        .then(pl.lit(0, pl.Int64))
        .otherwise(pl.col("dtxt").str.slice(0, _MAX_DIGITS).cast(pl.Int64, strict=False)),
        up_pow=ten.pow(pl.col("shift").clip(0, _MAX_DIGITS)),
        down_pow=ten.pow((-pl.col("shift")).clip(0, _MAX_DIGITS)),
        reason=pl.lit(None, pl.String),
    )
    df = _reason_when(
        df, pl.col("t").is_not_null() & (pl.col("matched").not_() | pl.col("empty")), f"{prefix}.unparseable"
    )
    too_large = (pl.col("ndig") > _MAX_DIGITS) | (
        (pl.col("shift") > 0) & (pl.col("ndig") + pl.col("shift") > _MAX_DIGITS)
    )
    df = _reason_when(df, pl.col("t").is_not_null() & too_large, f"{prefix}.too_large")
    inexact = (pl.col("shift") < 0) & (
        ((-pl.col("shift") > _MAX_DIGITS) & (pl.col("ndig") > 0))
        | (pl.col("digits") % pl.col("down_pow") != 0)
    )
    df = _reason_when(df, pl.col("t").is_not_null() & inexact, f"{prefix}.precision")
    df = df.with_columns(
        value=pl.when(pl.col("shift") >= 0)
        .then(pl.col("digits") * pl.col("up_pow"))
        .otherwise(pl.col("digits") // pl.col("down_pow"))
    ).with_columns(
        value=pl.when(pl.col("t").is_null())
        .then(None)
        .when(pl.col("sign") == "-")
        .then(-pl.col("value"))
        .otherwise(pl.col("value"))
    )
    return _out(df, t.name)


_CURRENCY = r"(?i)[¥￥$€£]|CNY|RMB|USD|EUR|GBP|元|人民币"
#: Digits grouped in threes before the decimal point by one separator used throughout: ``1,234,567.89``,
#: ``1 234 567.89``, ``1'234'567.89``, ``1_234_567.89``. Anything else with a separator is refused,
#: never stripped: ``12,34`` may be a decimal comma (12.34) and must not become 1234.
_GROUPED = r"^[+-]?\d{1,3}(?:(?:,\d{3})+|(?: \d{3})+|(?:'\d{3})+|(?:_\d{3})+)(?:\.\d*)?$"
_SEPARATORS = r"[,' _]"
#: The largest amount accepted, in minor units (10**14: ¥1 trillion). Sums of up to 90,000 such
#: amounts still fit in Int64, so no balance, schedule or portfolio sum can wrap around.
MAX_AMOUNT_MINOR = 10**14


def amount(s: pl.Series, *, minor_digits: int) -> Parsed:
    """Money text → integer minor units: ``1,234.56``, ``¥1,234.56``, ``(12.00)``, ``1E+05``.

    Grouping separators are checked, not stripped (``12,34`` and ``1,2,3.4`` are refused as
    ``amount.bad_grouping``); amounts beyond :data:`MAX_AMOUNT_MINOR` are ``amount.too_large``."""
    df = pl.DataFrame({"t": s}).with_columns(t=_clean(pl.col("t")))
    df = df.with_columns(paren=pl.col("t").str.contains(r"^\(.*\)$")).with_columns(
        t=pl.col("t").str.replace_all(_CURRENCY, "").str.strip_chars().str.strip_chars("()").str.strip_chars()
    )
    df = df.with_columns(
        grouped=pl.col("t").str.contains(_GROUPED), has_sep=pl.col("t").str.contains(_SEPARATORS)
    ).with_columns(
        t=pl.when(pl.col("grouped")).then(pl.col("t").str.replace_all(_SEPARATORS, "")).otherwise(pl.col("t"))
    )
    df = df.with_columns(
        t=pl.when(pl.col("paren") & pl.col("t").str.starts_with("-").not_())
        .then(pl.lit("-") + pl.col("t"))
        .otherwise(pl.col("t"))
    )
    p = scaled_decimal(df.get_column("t").rename(s.name), minor_digits, "amount")
    df = df.with_columns(value=p.value, reason=p.reason)
    # Refused separators: the digits would parse without them (else the cell is plain unparseable).
    bad_group = (
        pl.col("t").is_not_null()
        & pl.col("has_sep")
        & pl.col("grouped").not_()
        & pl.col("t").str.replace_all(_SEPARATORS, "").str.contains(_NUMBER)
    )
    df = df.with_columns(
        reason=pl.when(bad_group).then(pl.lit("amount.bad_grouping")).otherwise(pl.col("reason"))
    )
    df = _reason_when(df, pl.col("value").abs() > MAX_AMOUNT_MINOR, "amount.too_large")
    return _out(df, s.name)


def rate_bp(s: pl.Series) -> Parsed:
    """Annual rate → basis points: ``18%`` and ``0.18`` are 1800. A bare number must be a fraction
    below 1 (``18`` is ambiguous: 18 % or 1800 %?)."""
    t = clean_text(s)
    df = pl.DataFrame({"t": t}).with_columns(pct=pl.col("t").str.ends_with("%"))
    bare = df.select(pl.col("t").str.strip_chars_end("%").str.strip_chars()).to_series()
    as_pct = scaled_decimal(bare, 2, "rate")
    as_frac = scaled_decimal(bare, 4, "rate")
    df = df.with_columns(
        value=pl.when(pl.col("pct")).then(as_pct.value).otherwise(as_frac.value),
        reason=pl.when(pl.col("pct")).then(as_pct.reason).otherwise(as_frac.reason),
    )
    df = _reason_when(df, pl.col("pct").not_() & (pl.col("value") >= 10_000), "rate.ambiguous")
    df = _reason_when(df, pl.col("value") < 0, "rate.negative")
    df = _reason_when(df, pl.col("value") > 100_000, "rate.too_large")
    return _out(df, s.name)


def integer(s: pl.Series) -> Parsed:
    """Whole numbers; ``12.0`` (a spreadsheet's float) is accepted, ``12.5`` is not."""
    df = pl.DataFrame({"t": s}).with_columns(t=_clean(pl.col("t")).str.replace_all(",", ""))
    df = df.with_columns(
        ok=pl.col("t").str.contains(r"^[+-]?\d{1,18}(\.0*)?$"),
        value=pl.col("t").str.replace(r"\.0*$", "").cast(pl.Int64, strict=False),
        reason=pl.lit(None, pl.String),
    )
    df = _reason_when(df, pl.col("t").is_not_null() & pl.col("ok").not_(), "int.unparseable")
    return _out(df, s.name)


_TRUE = ["true", "t", "yes", "y", "1", "是", "有效", "对"]
_FALSE = ["false", "f", "no", "n", "0", "否", "无效", "错"]


def boolean(s: pl.Series) -> Parsed:
    df = pl.DataFrame({"t": s}).with_columns(t=_clean(pl.col("t")).str.to_lowercase())
    df = df.with_columns(
        value=pl.when(pl.col("t").is_in(_TRUE)).then(True).when(pl.col("t").is_in(_FALSE)).then(False),
        reason=pl.lit(None, pl.String),
    )
    df = _reason_when(df, pl.col("t").is_not_null() & pl.col("value").is_null(), "bool.unparseable")
    return _out(df, s.name)


def date(s: pl.Series) -> Parsed:
    """Dates as 2026-11-24, 2026/11/24, 20261124, 2026年11月24日, or an Excel serial number."""
    df = pl.DataFrame({"t": s}).with_columns(t=_clean(pl.col("t")))
    df = df.with_columns(
        t=pl.col("t")
        .str.replace_many(["年", "月", "/", "."], ["-", "-", "-", "-"])
        .str.replace("日", "", literal=True)
        .str.replace(r"[ T].*$", "")  # a time part from a spreadsheet or an ISO timestamp
    )
    df = df.with_columns(
        serial=pl.col("t").str.extract(r"^(\d{1,5})(?:-0*)?$", 1).cast(pl.Int64, strict=False),
        e=pl.col("t").str.extract_groups(r"^(\d{4})(\d{2})(\d{2})$"),
        d=pl.col("t").str.extract_groups(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    )
    parts = [
        pl.coalesce(pl.col("e").struct.field(i), pl.col("d").struct.field(i)).str.zfill(2 if i != "1" else 4)
        for i in ("1", "2", "3")
    ]
    df = df.with_columns(
        from_text=pl.concat_str(parts, separator="-").str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        from_serial=pl.when((pl.col("serial") >= 1) & (pl.col("serial") <= 73_050))
        .then(pl.lit(_EXCEL_EPOCH) + pl.duration(days=pl.col("serial")))
        .cast(pl.Date),
    )
    df = df.with_columns(value=pl.coalesce("from_text", "from_serial"), reason=pl.lit(None, pl.String))
    df = _reason_when(df, pl.col("t").is_not_null() & pl.col("value").is_null(), "date.unparseable")
    in_range = pl.col("value").is_between(dt.date(1900, 1, 1), dt.date(2199, 12, 31))
    df = _reason_when(df, pl.col("t").is_not_null() & in_range.not_(), "date.out_of_range")
    return _out(df, s.name)


def enum(s: pl.Series, name: str, extra: dict[str, str] | None = None) -> Parsed:
    """Canonical enum value from the canonical spelling or a Chinese/English alias (any case);
    ``extra`` adds a lender's own codes (from the mapping file)."""
    lookup = {**enum_lookup(name), **{k.strip().lower(): v for k, v in (extra or {}).items()}}
    df = pl.DataFrame({"t": s}).with_columns(t=_clean(pl.col("t")))
    df = df.with_columns(
        value=pl.col("t").str.to_lowercase().replace_strict(lookup, default=None, return_dtype=pl.String),
        reason=pl.lit(None, pl.String),
    )
    df = _reason_when(df, pl.col("t").is_not_null() & pl.col("value").is_null(), "enum.unknown")
    return _out(df, s.name)


def channels(s: pl.Series) -> Parsed:
    """A list of contact channels (``voice,sms`` or ``电话、短信``) → canonical, sorted, comma-joined."""
    lookup = enum_lookup("contact_channel")
    df = pl.DataFrame({"t": s}).with_columns(t=_clean(pl.col("t")))
    df = df.with_columns(
        items=pl.col("t").str.to_lowercase().str.replace_all(r"[,、;；|/\s]+", ",").str.split(",")
    ).with_columns(
        mapped=pl.col("items").list.eval(
            pl.element()
            .filter(pl.element() != "")
            .replace_strict(lookup, default=None, return_dtype=pl.String)
        )
    )
    df = df.with_columns(
        bad=pl.col("mapped").list.eval(pl.element().is_null()).list.any(),
        value=pl.col("mapped").list.unique().list.sort().list.join(","),
        reason=pl.lit(None, pl.String),
    )
    df = _reason_when(df, pl.col("t").is_not_null() & pl.col("bad"), "enum.unknown")
    return _out(df, s.name)


def timezone(s: pl.Series) -> Parsed:
    df = pl.DataFrame({"t": s}).with_columns(t=_clean(pl.col("t")))
    df = df.with_columns(value=pl.col("t"), reason=pl.lit(None, pl.String))
    df = _reason_when(df, pl.col("t").is_not_null() & pl.col("t").is_in(_ZONES).not_(), "timezone.unknown")
    return _out(df, s.name)


#: Characters no id may hold: controls (C0, DEL, C1), and the invisible ones that make two ids look
#: alike (zero-width spaces and joiners, the byte-order mark, word joiners, bidirectional controls).
_INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_ID_BAD = f"[\\x00-\\x1f\\x7f-\\x9f\\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000{_INVISIBLE}]"
#: In free text a tab and a line break (a spreadsheet's Alt+Enter) are kept; other controls, including
#: NUL (which PostgreSQL cannot store), a lone CR and terminal escape sequences, are refused.
_TEXT_BAD = f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_INVISIBLE}]"


def ident(s: pl.Series) -> Parsed:
    """External ids: trimmed, at most 64 characters, no control, blank or invisible characters."""
    df = pl.DataFrame({"t": s}).with_columns(t=_clean(pl.col("t")))
    df = df.with_columns(value=pl.col("t"), reason=pl.lit(None, pl.String))
    bad = pl.col("t").str.contains(_ID_BAD) | (pl.col("t").str.len_chars() > 64)
    df = _reason_when(df, pl.col("t").is_not_null() & bad, "id.invalid")
    return _out(df, s.name)


def text(s: pl.Series) -> Parsed:
    """Free text: CRLF becomes LF; control and invisible characters are ``text.control_char``."""
    df = pl.DataFrame({"t": s}).with_columns(
        t=_clean(pl.col("t")).str.replace_all("\r\n", "\n", literal=True)
    )
    df = df.with_columns(value=pl.col("t"), reason=pl.lit(None, pl.String))
    df = _reason_when(df, pl.col("t").str.contains(_TEXT_BAD), "text.control_char")
    df = _reason_when(df, pl.col("t").str.len_chars() > 1000, "text.too_long")
    return _out(df, s.name)


def allowed_values(name: str) -> list[str]:
    return list(ENUMS[name])
