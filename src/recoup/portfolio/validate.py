"""Validation of one extract file against the format: every bad row, with the rule it breaks.

Parsing is vectorised (:mod:`recoup.portfolio.parse`); each failure becomes a row of the error
frame ``(row, column, value, rule, message)`` where ``row`` is the spreadsheet row (header = 1)
and ``column`` the user's own header. Cross-field and cross-file rules (paid more than due, due
before disbursement, unknown parent, too many emergency contacts…) are joins, not loops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import polars as pl

from recoup.errors import ImportColumnError
from recoup.money import format_amount
from recoup.portfolio import parse
from recoup.portfolio.readers import (
    ECHO_ITEMS,
    ROW,
    Mapping,
    RawTable,
    apply_mapping,
    clip,
    normalize_header,
    quote,
    quote_list,
)
from recoup.portfolio.spec import ENUMS, MAX_EMERGENCY_CONTACTS, Dataset, Field, Kind

#: rule id → message template (English / 中文); {allowed} is filled for enums.
RULES: dict[str, str] = {
    "required.missing": "a value is required / 必填",
    "amount.unparseable": "not an amount / 不是金额",
    "amount.precision": "more decimal places than the currency has / 小数位超过币种精度",
    "amount.too_large": "amount too large (at most {max_amount}) / 金额过大",
    "amount.bad_grouping": "thousands separators must split the digits before the decimal point into "
    "groups of three (12,34 could be a decimal comma) / 千分位分隔符位置不正确",
    "amount.negative": "must not be negative / 不能为负数",
    "amount.not_positive": "must be greater than zero / 必须大于零",
    "rate.unparseable": "not a rate (e.g. 18% or 0.18) / 不是利率",
    "rate.precision": "finer than a basis point / 精度超过万分之一",
    "rate.too_large": "rate above 1000% / 利率超过1000%",
    "rate.negative": "must not be negative / 不能为负数",
    "rate.ambiguous": "a bare number must be a fraction below 1: write 18% or 0.18 / 请写成18%或0.18",
    "date.unparseable": "not a date (e.g. 2026-11-24) / 不是日期",
    "date.out_of_range": "date outside 1900–2199 / 日期超出范围",
    "int.unparseable": "not a whole number / 不是整数",
    "int.out_of_range": "outside the allowed range / 超出允许范围",
    "bool.unparseable": "not true/false (是/否) / 不是布尔值",
    "enum.unknown": "unknown value; allowed: {allowed} / 未知取值",
    "timezone.unknown": "unknown timezone (e.g. Asia/Shanghai) / 未知时区",
    "id.invalid": "id longer than 64 characters, or with blank, control or invisible characters "
    "(e.g. a zero-width space) / 编号无效（含空白、控制或不可见字符）",
    "text.control_char": "control or invisible characters (NUL, ESC, a lone CR, a zero-width or "
    "bidirectional mark) / 含控制字符或不可见字符",
    "text.too_long": "text longer than 1000 characters / 文本过长",
    "id.duplicate": "duplicate id in this file (first at row {first}) / 文件内编号重复",
    "ref.unknown": "refers to a {parent} id that does not exist / 关联的{parent}不存在",
    "paid.exceeds_due": "paid more than due / 已还金额超过应还金额",
    "date.before_disbursement": "due date before the loan's disbursement date / 应还日期早于放款日",
    "date.maturity_before_disbursement": "maturity before disbursement / 到期日早于放款日",
    "contacts.too_many_emergency": ("more than 2 emergency contacts for this borrower / 紧急联系人超过2个"),
    "currency.mismatch": "currency differs from the lender's currency {currency} / 币种与机构币种不一致",
    "payment.changed": "payment already imported with different content; payments are append-only, "
    "send a reversal instead / 还款流水只能追加，请以冲正处理",
    "payment.reverses_self": "a payment cannot reverse itself / 不能冲正自身",
}

ERROR_SCHEMA = {
    "row": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "rule": pl.String,
    "message": pl.String,
}


@dataclass
class Context:
    """What validation needs beyond the file: the lake's current keys and the lender's settings."""

    minor_digits: int = 2
    currency: str = "CNY"
    #: dataset → key frame of rows that exist (lake, plus earlier files of the same day); None when
    #: they cannot be known (the day's file of that dataset could not be read): the check is skipped
    parent_keys: Callable[[str], pl.DataFrame | None] | None = None
    #: dataset → frame of current rows (used for append-only and per-borrower counts)
    current_rows: Callable[[str, list[str]], pl.DataFrame] | None = None
    loan_dates: Callable[[], pl.DataFrame | None] | None = None  # → loan_id, disbursement_date


@dataclass
class Validated:
    dataset: Dataset
    frame: pl.DataFrame  # typed rows in the format's names (plus __row), bad rows included
    errors: pl.DataFrame  # row, column, value, rule, message
    headers: dict[str, str]  # format name → user's header

    @property
    def bad_rows(self) -> pl.Series:
        return self.errors.get_column("row").unique()

    def good(self) -> pl.DataFrame:
        return self.frame.filter(~pl.col(ROW).is_in(self.bad_rows.implode()))


def _parse(f: Field, col: pl.Series, ctx: Context, mapping: Mapping) -> parse.Parsed:
    match f.kind:
        case Kind.AMOUNT:
            p = parse.amount(col, minor_digits=ctx.minor_digits)
            if f.positive:
                return _extra_rule(p, p.value <= 0, "amount.not_positive")
            if f.nonneg:
                return _extra_rule(p, p.value < 0, "amount.negative")
            return p
        case Kind.RATE:
            return parse.rate_bp(col)
        case Kind.DATE:
            return parse.date(col)
        case Kind.INT:
            p = parse.integer(col)
            lo = f.min_int if f.min_int is not None else (0 if f.nonneg else None)
            out = pl.Series([False] * len(col))
            if lo is not None:
                out = out | (p.value < lo).fill_null(False)
            if f.max_int is not None:
                out = out | (p.value > f.max_int).fill_null(False)
            return _extra_rule(p, out, "int.out_of_range")
        case Kind.BOOL:
            return parse.boolean(col)
        case Kind.ENUM:
            assert f.enum is not None
            return parse.enum(col, f.enum, mapping.values.get(f.enum))
        case Kind.CHANNELS:
            return parse.channels(col)
        case Kind.TIMEZONE:
            return parse.timezone(col)
        case Kind.ID:
            return parse.ident(col)
        case _:
            return parse.text(col)


def _extra_rule(p: parse.Parsed, bad: pl.Series, rule: str) -> parse.Parsed:
    """Add a value rule on top of a parse: ``rule`` where the cell parsed but ``bad`` holds."""
    hit = p.reason.is_null() & bad.fill_null(False)
    reason = pl.select(pl.when(hit).then(pl.lit(rule)).otherwise(p.reason)).to_series().rename(p.reason.name)
    value = pl.select(pl.when(hit).then(None).otherwise(p.value)).to_series().rename(p.value.name)
    return parse.Parsed(value, reason)


def money_text(minor: int | None, currency: str) -> str:
    """An amount in integer minor units as a person reads it, in the major unit: ``¥1,234.56``."""
    return "" if minor is None else format_amount(int(minor), currency)


def _paid_over_due(r: dict[str, int | None], *, currency: str) -> str:
    return f"paid {money_text(r['paid'], currency)} > due {money_text(r['due'], currency)}"


def _message(rule: str, f: Field | None, **kw: str) -> str:
    tpl = RULES.get(rule, rule)
    allowed = ", ".join(ENUMS[f.enum]) if f is not None and f.enum else ""
    return tpl.format(
        allowed=allowed,
        first=kw.get("first", "?"),
        parent=kw.get("parent", ""),
        currency=kw.get("currency", ""),
        max_amount=kw.get("max_amount", ""),
    )


def _missing_columns(raw: RawTable, ds: Dataset, mapping: Mapping) -> None:
    present = set(raw.frame.columns)
    missing = [f for f in ds.fields if f.required and f.name not in present]
    if not missing:
        return
    import difflib

    unmatched = [*raw.unknown, *raw.ignored]
    expected = {f.name: [h for h, t in mapping.for_dataset(ds.name).items() if t == f.name] for f in missing}
    parts = []
    details = []
    for f in missing:
        cands = difflib.get_close_matches(f.name, unmatched, n=1, cutoff=0.5)
        for alias in expected[f.name]:
            cands = cands or difflib.get_close_matches(alias, unmatched, n=1, cutoff=0.3)
        hint = f" (closest header present: {quote(cands[0])})" if cands else ""
        via = f" (mapped from {quote_list(expected[f.name], 5)})" if expected[f.name] else ""
        parts.append(f"{f.name}{via}{hint}")
        details.append({"column": f.name, "closest": clip(cands[0]) if cands else None})
    raise ImportColumnError(
        f"{raw.path.name}: missing required column(s) for {ds.name}: {'; '.join(parts)}. "
        f"Headers present: {quote_list(raw.headers)} / 缺少必填列",
        details={"file": str(raw.path), "missing": details},
    )


def _unknown_columns(raw: RawTable, ds: Dataset, mapping: Mapping) -> None:
    """Refuse a column that is neither a field, nor mapped to one, nor listed under ``ignore``: a
    misspelt header (``maturty_date``) would otherwise leave its field empty without a word."""
    if not raw.unknown:
        return
    import difflib

    # what a header may have meant: a field name, or a header the mapping maps (→ its field)
    options: dict[str, tuple[str, str]] = {n: (n, n) for n in ds.names}
    for h, t in mapping.for_dataset(ds.name).items():
        options.setdefault(normalize_header(h), (h, t))
    parts = []
    details = []
    for header in raw.unknown:
        close = difflib.get_close_matches(normalize_header(header), list(options), n=1, cutoff=0.6)
        hint = ""
        suggestion = None
        if close:
            written, suggestion = options[close[0]]
            via = f", mapped to {suggestion!r}" if written != suggestion else ""
            hint = f" (did you mean {quote(written)}{via}?)"
        parts.append(f"{quote(header)}{hint}")
        details.append({"column": clip(header), "suggestion": suggestion})
    shown = parts[:ECHO_ITEMS] + (
        [f"… and {len(parts) - ECHO_ITEMS} more"] if len(parts) > ECHO_ITEMS else []
    )
    example = f"[{ds.name}] ignore = [{', '.join(_toml(h) for h in raw.unknown[:3])}]"
    raise ImportColumnError(
        f"{raw.path.name}: unknown column(s) for {ds.name}: {', '.join(shown)}. Rename the header, map "
        f"it to a {ds.name} field in the mapping file, or, to skip it on purpose, list it there: "
        f"{example} / 未知列：请更正表头、在映射文件中映射，或列入 ignore",
        details={"file": str(raw.path), "unknown": details[:ECHO_ITEMS], "unknown_count": len(details)},
    )


def _toml(header: str) -> str:
    """A header as a TOML string (clipped)."""
    return '"' + clip(header).replace("\\", "\\\\").replace('"', '\\"') + '"'


def validate(raw: RawTable, ds: Dataset, mapping: Mapping, ctx: Context) -> Validated:
    """Parse and check every row of ``raw`` as dataset ``ds``; never raises for bad rows."""
    headers = apply_mapping(raw, ds.name, ds.names, mapping)
    _missing_columns(raw, ds, mapping)
    _unknown_columns(raw, ds, mapping)
    src = raw.frame
    present = [f for f in ds.fields if f.name in src.columns]
    parsed = {f.name: _parse(f, src.get_column(f.name), ctx, mapping) for f in present}
    typed = src.select(
        pl.col(ROW),
        *(pl.col(f.name).alias(f"__t_{f.name}") for f in present),
    ).with_columns(
        *(parsed[f.name].value.cast(f.dtype).alias(f.name) for f in present),
        *(parsed[f.name].reason.alias(f"__r_{f.name}") for f in present),
    )
    missing_optional = [f for f in ds.fields if f.name not in src.columns]
    typed = typed.with_columns(pl.lit(None, f.dtype).alias(f.name) for f in missing_optional)
    if "deleted" in ds.names:
        typed = typed.with_columns(pl.col("deleted").fill_null(False))
    zero = [f.name for f in ds.fields if f.zero_default]
    if zero:
        typed = typed.with_columns(pl.col(zero).fill_null(0))

    errs: list[pl.DataFrame] = []

    def add(mask: pl.Expr, column: str, rule: str, value: pl.Expr | None = None, **kw: str) -> None:
        f = ds.field(column) if column in ds.names else None
        rows = typed.filter(mask)
        if rows.height == 0:
            return
        val = (
            value
            if value is not None
            else (pl.col(f"__t_{column}") if f"__t_{column}" in typed.columns else pl.lit(None, pl.String))
        )
        errs.append(
            rows.select(
                pl.col(ROW).alias("row"),
                pl.lit(headers.get(column, column)).alias("column"),
                val.cast(pl.String).alias("value"),
                pl.lit(rule).alias("rule"),
                pl.lit(_message(rule, f, **kw)).alias("message"),
            )
        )

    # Cell-level parse failures, one frame per (column, rule).
    max_amount = money_text(parse.MAX_AMOUNT_MINOR, ctx.currency)
    for f in present:
        r = f"__r_{f.name}"
        for rule in typed.get_column(r).drop_nulls().unique().to_list():
            add(pl.col(r) == rule, f.name, rule, max_amount=max_amount)
        if f.required:
            add(
                pl.col(f"__t_{f.name}").is_null() | (pl.col(f"__t_{f.name}").str.strip_chars() == ""),
                f.name,
                "required.missing",
                value=pl.lit(""),
            )

    key = list(ds.key)
    ok_key = pl.all_horizontal(pl.col(k).is_not_null() for k in key)
    dup = (
        typed.filter(ok_key)
        .with_columns(pl.col(ROW).min().over(key).alias("__first"), pl.len().over(key).alias("__n"))
        .filter((pl.col("__n") > 1) & (pl.col(ROW) != pl.col("__first")))
    )
    for first in dup.get_column("__first").unique().to_list():
        rows = dup.filter(pl.col("__first") == first).get_column(ROW)
        add(
            pl.col(ROW).is_in(rows.implode()),
            key[0],
            "id.duplicate",
            value=pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator="/"),
            first=str(first),
        )

    _cross_rules(ds, typed, ctx, add)

    errors = pl.concat(errs, how="vertical") if errs else pl.DataFrame(schema=ERROR_SCHEMA)
    errors = errors.unique().sort(["row", "column", "rule"])
    frame = typed.select(ROW, *(pl.col(f.name).alias(f.lake_name) for f in ds.fields))
    if "currency" in frame.columns:
        frame = frame.with_columns(pl.col("currency").str.to_uppercase().fill_null(ctx.currency))
    return Validated(ds, frame, errors, headers)


Add = Callable[..., None]


def _cross_rules(ds: Dataset, t: pl.DataFrame, ctx: Context, add: Add) -> None:
    for column, parent in ds.parents.items():
        if ctx.parent_keys is None:
            break
        found = ctx.parent_keys(parent)
        if found is None:
            continue  # the parent's file of the day could not be read: its ids are unknown
        keys = found
        pkey = keys.columns[0]
        if parent == ds.name:  # payments reversing payments: the same file counts too
            keys = pl.concat([keys, t.select(pl.col(ds.key[0]).alias(pkey))]).unique()
        known = keys.get_column(pkey).implode()
        add(
            pl.col(column).is_not_null() & ~pl.col(column).is_in(known),
            column,
            "ref.unknown",
            parent=parent.rstrip("s"),
        )
    if ds.name == "installments":
        for p in ("principal", "interest", "fee", "penalty"):
            # Both amounts as the lender wrote them: in the major unit, formatted alike.
            add(
                pl.col(f"{p}_paid") > pl.col(f"{p}_due"),
                f"{p}_paid",
                "paid.exceeds_due",
                value=pl.struct(
                    pl.col(f"{p}_paid").alias("paid"), pl.col(f"{p}_due").alias("due")
                ).map_elements(partial(_paid_over_due, currency=ctx.currency), return_dtype=pl.String),
            )
        dates = ctx.loan_dates() if ctx.loan_dates is not None else None
        if dates is not None:
            joined = t.join(dates, on="loan_id", how="left")
            bad = joined.filter(pl.col("due_date") < pl.col("disbursement_date")).get_column(ROW)
            add(pl.col(ROW).is_in(bad.implode()), "due_date", "date.before_disbursement")
    if ds.name == "loans":
        add(
            pl.col("maturity_date") < pl.col("disbursement_date"),
            "maturity_date",
            "date.maturity_before_disbursement",
        )
        add(
            pl.col("currency").is_not_null() & (pl.col("currency").str.to_uppercase() != ctx.currency),
            "currency",
            "currency.mismatch",
            currency=ctx.currency,
        )
    if ds.name == "payments":
        add(pl.col("reverses") == pl.col("payment_id"), "reverses", "payment.reverses_self")
        if ctx.current_rows is not None:
            cols = ["payment_id", "loan_id", "received_date", "amount", "channel", "reverses"]
            cur = ctx.current_rows("payments", cols)
            if cur.height:
                j = t.join(cur, on="payment_id", how="inner", suffix="__cur")
                changed = pl.any_horizontal(
                    pl.col(c).ne_missing(pl.col(f"{c}__cur")) for c in cols if c != "payment_id"
                )
                bad = j.filter(changed).get_column(ROW)
                add(pl.col(ROW).is_in(bad.implode()), "payment_id", "payment.changed")
    if ds.name == "contact_points":
        mine = t.filter(~pl.col("deleted")).select(ROW, "contact_id", "borrower_id", "role")
        others = pl.DataFrame(schema={"contact_id": pl.String, "borrower_id": pl.String, "role": pl.String})
        if ctx.current_rows is not None:
            cur = ctx.current_rows("contact_points", ["contact_id", "borrower_id", "role"])
            if cur.height:
                others = cur.filter(~pl.col("contact_id").is_in(t.get_column("contact_id").implode()))
        em = pl.concat([mine.drop(ROW), others]).filter(pl.col("role") == "emergency_contact")
        over = em.group_by("borrower_id").len().filter(pl.col("len") > MAX_EMERGENCY_CONTACTS)
        add(
            (pl.col("role") == "emergency_contact")
            & ~pl.col("deleted")
            & pl.col("borrower_id").is_in(over.get_column("borrower_id").implode()),
            "role",
            "contacts.too_many_emergency",
            value=pl.col("borrower_id"),
        )
