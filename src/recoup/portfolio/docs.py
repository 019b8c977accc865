"""``docs/extract-format.md``, rendered from the format's definition so the two cannot drift.

:func:`render_extract_format` builds the Markdown from :mod:`recoup.portfolio.spec` (datasets, fields,
enums and their aliases, examples) and :mod:`recoup.portfolio.validate` (the rules). A test compares
the committed file with it; ``python -m recoup.portfolio.docs`` rewrites the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from pathlib import Path

from recoup.portfolio import readers
from recoup.portfolio.parse import _FALSE, _TRUE, MAX_AMOUNT_MINOR
from recoup.portfolio.rejects import EXIT_REJECTED
from recoup.portfolio.spec import DATASETS, ENUMS, MAX_EMERGENCY_CONTACTS, Dataset, Field, Kind
from recoup.portfolio.validate import RULES, money_text

__all__ = [
    "AMOUNT_FORMS",
    "DATE_FORMS",
    "DOC_PATH",
    "RATE_FORMS",
    "example_csv",
    "render_extract_format",
    "write_extract_format",
]

#: Where the rendered document lives in a source checkout.
DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "extract-format.md"

#: Amount texts the docs show, with the fen they become (a test checks them against the parser).
AMOUNT_FORMS: dict[str, int] = {
    "1234.56": 123456,
    "1,234.56": 123456,
    "¥1,234.56": 123456,
    "￥1,234.56": 123456,
    "$12.00": 1200,
    "CNY 100": 10000,
    "100元": 10000,
    "1E+05": 10_000_000,
}
#: Date texts the docs show; each is 2026-11-24.
DATE_FORMS = ("2026-11-24", "2026/11/24", "2026.11.24", "20261124", "2026年11月24日")
#: Rate texts the docs show, with their basis points.
RATE_FORMS: dict[str, int] = {"18%": 1800, "18.25%": 1825, "0.18": 1800}

_KIND_NAMES: dict[Kind, str] = {
    Kind.ID: "id",
    Kind.TEXT: "text",
    Kind.DATE: "date",
    Kind.AMOUNT: "amount",
    Kind.RATE: "rate",
    Kind.INT: "integer",
    Kind.BOOL: "boolean",
    Kind.ENUM: "enum",
    Kind.TIMEZONE: "timezone",
    Kind.CHANNELS: "channel list",
}

_KINDS_TABLE: tuple[tuple[Kind, str], ...] = (
    (Kind.ID, "The lender's identifier: trimmed text of at most 64 characters without control characters."),
    (Kind.TEXT, "Free text of at most 1000 characters."),
    (Kind.DATE, "A calendar date (see *Dates*), stored as a date."),
    (Kind.AMOUNT, "Money in yuan (major units) as text (see *Amounts*), stored as integer fen (Int64)."),
    (
        Kind.RATE,
        "An annual rate (see *Rates*), stored as integer basis points in a column named `<field>_bp`.",
    ),
    (Kind.INT, "A whole number; `12.0` (a spreadsheet's float) is accepted, `12.5` is not."),
    (Kind.BOOL, "True or false (see *Booleans*)."),
    (Kind.ENUM, "One of the allowed values, or one of its aliases (any letter case)."),
    (Kind.TIMEZONE, "An IANA time zone name such as `Asia/Shanghai`."),
    (
        Kind.CHANNELS,
        "Contact channels separated by `,` `、` `;` `|` `/` or spaces, e.g. `voice,sms` or `电话、短信`.",
    ),
)


def _size(n: int) -> str:
    """A byte count as the docs show it (``1 GiB``)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,} bytes"


def _code(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _allowed(f: Field) -> str:
    if f.kind is Kind.ENUM and f.enum is not None:
        return "; ".join(
            f"`{v}`" + (f" ({', '.join(aliases)})" if aliases else "") for v, aliases in ENUMS[f.enum].items()
        )
    if f.kind is Kind.CHANNELS:
        return "; ".join(f"`{v}` ({', '.join(a)})" for v, a in ENUMS["contact_channel"].items())
    if f.kind is Kind.BOOL:
        return "`true` / `false` (是 / 否)"
    if f.kind is Kind.INT and (f.min_int is not None or f.max_int is not None):
        lo = f.min_int if f.min_int is not None else 0
        return f"{lo}–{f.max_int}" if f.max_int is not None else f"≥ {lo}"
    if f.kind is Kind.AMOUNT:
        return "> 0" if f.positive else "≥ 0" if f.nonneg else ""
    return ""


def _description(f: Field) -> str:
    parts = [f.doc[:1].upper() + f.doc[1:]] if f.doc else []
    if f.kind is Kind.RATE:
        parts.append(f"Stored as `{f.lake_name}`.")
    if f.zero_default:
        parts.append("Empty means 0.")
    return _cell(" ".join(p if p.endswith(".") else p + "." for p in parts))


def example_csv(ds: Dataset) -> str:
    """A header and one row of ``ds`` built from its fields' example values."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ds.names)
    w.writerow([f.example for f in ds.fields])
    return buf.getvalue()


def _dataset_section(ds: Dataset) -> list[str]:
    out = [f"### `{ds.name}` · {ds.title_zh}", "", ds.doc, ""]
    out.append(
        f"- File: `{ds.name}.csv` or `{ds.title_zh}.csv` (or `.xlsx`, `.parquet`), with or without a date "
        f"(`{ds.title_zh}_20261124.csv`)."
    )
    key = " + ".join(f"`{k}`" for k in ds.key)
    out.append(f"- Key: {key}.")
    if ds.parents:
        refs = ", ".join(
            f"`{col}` → `{parent}`" if parent != ds.name else f"`{col}` → an earlier `{parent}` row"
            for col, parent in ds.parents.items()
        )
        out.append(f"- References: {refs} (the referenced row must exist in the book or in the same day).")
    if ds.append_only:
        out.append(
            "- Append-only: a row, once imported, never changes; correct a payment with a reversal row "
            "whose `reverses` names it."
        )
    elif "deleted" in ds.names:
        out.append("- Rows are upserts by key; `deleted` = `true` removes a row from the book.")
    if ds.name == "contact_points":
        out.append(f"- At most {MAX_EMERGENCY_CONTACTS} live `emergency_contact` rows per borrower.")
    out += [
        "",
        "| Field | Type | Required | Description | Allowed values |",
        "|---|---|---|---|---|",
    ]
    for f in ds.fields:
        out.append(
            f"| `{f.name}` | {_KIND_NAMES[f.kind]} | {'yes' if f.required else ''} | "
            f"{_description(f)} | {_cell(_allowed(f))} |"
        )
    out += ["", f"Example (`{ds.name}.csv`):", "", "```csv", example_csv(ds).rstrip("\n"), "```", ""]
    return out


def _intro() -> list[str]:
    serial = (dt.date(2026, 11, 24) - dt.date(1899, 12, 30)).days
    amounts = ", ".join(f"`{t}`" for t in AMOUNT_FORMS)
    amount_results = ", ".join(f"`{t}` → {v}" for t, v in AMOUNT_FORMS.items() if t in {"1,234.56", "1E+05"})
    dates = ", ".join(f"`{t}`" for t in DATE_FORMS)
    rates = ", ".join(f"`{t}` → {bp} bp" for t, bp in RATE_FORMS.items())
    files = "\n".join(
        f"| `{d.name}` | `{d.name}.csv`, `{d.name}-2026-11-24.xlsx` "
        f"| `{d.title_zh}.csv`, `{d.title_zh}_20261124.csv` |"
        for d in DATASETS.values()
    )
    biggest = money_text(MAX_AMOUNT_MINOR, "CNY")
    exit_rejected = EXIT_REJECTED
    true_words = " ".join(f"`{w}`" for w in _TRUE)
    ratio, expanded = readers.XLSX_MAX_RATIO, _size(readers.XLSX_MAX_EXPANDED_BYTES)
    max_file, max_text = _size(readers.MAX_FILE_BYTES), _size(readers.MAX_TEXT_BYTES)
    max_rows, max_cols, max_cell = f"{readers.MAX_ROWS:,}", readers.MAX_COLUMNS, f"{readers.MAX_CELL_CHARS:,}"
    max_head, echo = readers.MAX_HEADER_CHARS, readers.ECHO_CHARS
    false_words = " ".join(f"`{w}`" for w in _FALSE)
    rules = "\n".join(
        f"| `{rule}` | "
        f"{_cell(msg.format(allowed='…', first='N', parent='parent', currency='CNY', max_amount=biggest))} |"
        for rule, msg in RULES.items()
    )
    return (
        f"""# The extract format · 数据格式

<!-- Generated from src/recoup/portfolio/spec.py by recoup.portfolio.docs.render_extract_format();
     do not edit by hand: run `python -m recoup.portfolio.docs`. -->

**简介** 贷款机构的核心系统是账务的唯一权威来源（book of record）。它每天导出一组文件，
每个数据集一个文件，recoup 用 `recoup import 目录 --as-of 日期` 导入。金额以"元"为单位的文本给出，
导入后精确保存为整数"分"；表头可以是机构自己的中文列名，通过 `mapping.toml` 映射到本格式的字段名；
文件可以是 UTF-8 或 GBK 编码的 CSV、XLSX 或 Parquet。任何一行不合格，整个文件都不会导入
（除非使用 `--accept-partial`）。

## How extracts work

The lender's core system is the **book of record**: it owns loans, schedules and what was paid, and
recoup never changes them. Every business day the core system exports an **extract** for that day's
date (the *as-of* date): a directory holding **one file per dataset**. recoup applies it with

```sh
recoup import DIR --as-of 2026-11-24 [--mapping mapping.toml] [--full] [--accept-partial]
recoup import loans FILE --as-of 2026-11-24 [--publish]     # a single dataset file
```

A day's directory need not contain every dataset: send what changed (an upsert of changed rows) or
everything (a snapshot, with `--full`). The datasets are applied parents first, in the order of the
sections below. Extracts must be applied in date order. A worked example ships with recoup in
`src/recoup/sample/extract/` (60 synthetic loans, GBK, Chinese headers).

**One day, one publication.** A day becomes readable as a whole, through one manifest row; until
then "the book as of D" is the previous day's. `recoup import DIR` checks every file of the day,
applies them and publishes the day at once: a half-imported day is never visible, and re-running the
same command completes a day that crashed midway. A single file (`recoup import loans FILE`) is
added to its day, and publishes the day only when the day is complete — when every dataset the
mapping declares for a day has its file:

```toml
[day]
datasets = ["borrowers", "loans", "installments", "payments"]
```

(without `[day]`, the datasets the mapping's `[files]` section names) — or when `--publish` is
given, or when the day was published before (a correction). Until then the output says which
datasets the day is waiting for. A single file uses `--mapping`, else `mapping.toml` beside it.

### File names

A file belongs to a dataset by its name: the dataset's English name (or its singular, `loan`) or its
Chinese title, then nothing, or a date or any suffix after `_` `-` `.` or a space, or a date written
straight after it; a date may also come first (`20261124_借据.csv`). Letter case and full-width forms
do not matter. The extensions are `.csv` `.tsv` `.txt` `.xlsx` `.xlsm` `.parquet` `.pq`. A
`[files]` section in the mapping names files by name or by glob pattern (`*` any text, `?` one
character, `[…]` one of the characters), before the names below:

```toml
[files]
"JJ_*.csv" = "loans"
"HKJH_2026????.xlsx" = "installments"
```

In `recoup import DIR`, a `[files]` entry that matches no file of the directory is an error, and so
are a file that two entries claim for different datasets and two files for one dataset. Other files
are ignored with a warning, listed in the output, and in the error when the day is refused (also
when no file at all was recognised).

| Dataset | File names | Chinese file names |
|---|---|---|
{files}

### Encodings and file types

- **CSV**: UTF-8, UTF-8 with BOM, or GBK / GB2312 / GB18030 — detected automatically. The whole
  file must be in one of them: a UTF-8 file with some rows in GBK (a row pasted from another file),
  or a GBK file with some UTF-8 rows, is refused, naming the first such line and its byte offset,
  and so is any other encoding (UTF-16, Big5, Latin-1…). Nothing is decoded by guess. The separator
  (`,` tab `;` `|`) is detected from the header line. The first line holds the headers.
- **XLSX**: the first worksheet; the first non-empty row holds the headers. Numbers typed into cells
  are read back as the text the user typed. A value to the right of the last header is refused.
  Before a workbook is opened its archive is checked: a part that expands more than {ratio}-fold, or
  a workbook that expands beyond {expanded} in all, is refused (a "zip bomb").
- **Parquet**: any column types; every value is read as text and parsed like CSV cells.

**Limits.** Only regular files are read: a symbolic link, FIFO, device or socket in the day's
directory (a dataset file or `mapping.toml`) is refused before anything is read — copy the file
itself into the directory. A file may hold at most {max_file}, {max_rows} data rows, {max_cols} columns
(in XLSX, formatted empty cells count) and {max_text} of cell text; a cell at most {max_cell}
characters and a header {max_head}. A file beyond a limit is refused whole (`import.bad_file`),
naming the row and column; an error message quotes at most {echo} characters of any value.

Full-width digits and punctuation (`１２３４．５６`) are folded to ASCII, cells are trimmed, and an
empty cell means "no value".

### Column names and mapping files

Headers are compared trimmed, ignoring letter case and full-width forms (`Loan_ID`, ` loan_id `
and `ｌｏａｎ＿ｉｄ` are all `loan_id`), with the field names and with the headers a mapping file
lists. Headers that equal a field name need no mapping. Otherwise a mapping file maps
the lender's own headers to the format's field names, one TOML section per dataset; the section
`[columns]` applies to every dataset, `[values.ENUM]` adds aliases for an enumeration, `[files]`
names files and `[day]` declares the datasets of a complete day. recoup uses `mapping.toml` (or
`mapping.json`) in the day's directory (for a single file, beside it), or the file given with
`--mapping`:

```toml
[loans]
"借据号" = "loan_id"
"客户号" = "borrower_id"
"放款金额" = "principal"
"年化利率" = "annual_rate"
"还款方式" = "repayment_method"

[installments]
"借据号" = "loan_id"
"期次" = "seq"
"应还日期" = "due_date"
"应还本金" = "principal_due"
"已还本金" = "principal_paid"

[values.product_type]
"信用贷" = "cash_loan"
```

Every column of a file must be accounted for; otherwise the file is refused (`import.bad_column`):

- two columns whose headers compare equal (`principal` and `PRINCIPAL `) are refused, naming both;
- a column that is neither a field nor mapped is refused, with the closest field or mapped header as
  a suggestion (`maturty_date`: did you mean `maturity_date`?). To skip columns on purpose, list them
  under `ignore` in the dataset's section, or in `[columns]` for every dataset:

  ```toml
  [loans]
  ignore = ["备注", "经办人"]
  ```

- two columns that give the same field (both mapped to it, or one mapped and the other the field's
  own name) are refused. A mapping may list several headers for one field, say an old and a new
  name, as long as a file holds only one of them.

A mapping that names a field the dataset does not have is an error (with the closest field name), as
is a `[files]` entry whose value is not a dataset. A missing required column rejects the file,
naming the closest header present.

### Cell values

| Type | Meaning |
|---|---|
""".splitlines()
        + [f"| {_KIND_NAMES[k]} | {_cell(text)} |" for k, text in _KINDS_TABLE]
        + f"""
**Amounts** are decimal text in the major unit of the lender's currency (yuan for CNY), never in
fen. Accepted forms:
{amounts};
and accounting negatives such as `(12.00)`. recoup converts them to **exact integer fen** with
integer arithmetic, never through a float:
{amount_results}.
Digits below the currency's minor unit are rejected unless they are zeros (`12.50` and `12.500` are
fine, `12.345` is not). No field takes a negative amount, so `-12.00` and `(12.00)` are rejected
(`amount.negative`).

**Dates**:
{dates},
or an Excel serial number (`{serial}` is 2026-11-24); a time part is ignored. Dates must fall in
1900–2199.

**Rates** are annual:
{rates}.
They are stored as integer basis points in the column `annual_rate_bp`. A bare number must be a
fraction below 1: `18` is ambiguous (18 % or 1800 %?) and is rejected (`rate.ambiguous`), as are
rates finer than a basis point, negative or above 1000 %.

**Booleans** (any letter case): true is {true_words}; false is {false_words}.

**Enumerations** accept the canonical value or any alias listed in the field tables (any letter
case); `[values.ENUM]` in the mapping adds the lender's own words.

## How rows are applied

- **Upserts by external id.** Every dataset has a key made of the lender's ids (`installments`:
  `loan_id` + `seq`). A row with a new key is inserted, a row with a known key replaces the stored
  one — send the complete row: a column left out or empty is stored empty — and an unchanged row
  changes nothing. Importing the same file again is a no-op (files are
  recognised by their SHA-256).
- **Explicit deletion.** A row leaves the book only when it is sent with `deleted` = `true`; a row
  that is merely absent from a day's file stays as it was.
- **Payments are append-only.** A payment id, once imported, cannot change (re-sending it with
  other content is rejected); a reversal is a new payment row whose `reverses` names the reversed
  `payment_id`.
- **`--full` snapshots.** With `--full` the files are complete snapshots: rows of the book that are
  absent from a dataset's file are closed (flagged deleted). Payments are never closed.
- **Emergency contacts.** A borrower may have at most {MAX_EMERGENCY_CONTACTS} emergency contacts
  (`role` = `emergency_contact`), counting those already in the book; contacting them is restricted
  by the contact policy.
- **Personal data.** National id numbers are stored encrypted with a keyed hash for lookup; phone
  numbers, emails and addresses are masked in every output.

## Rejection rules

Every file of the day is read and validated before anything is written, and **every** problem of
every file is reported in one run: files that cannot be read, bad columns, and bad rows (up to
`RECOUP_IMPORT_ERROR_LIMIT`, default 50, per file). A file with **any** invalid row is rejected whole
and nothing of the day is imported; the error names the file, the row (as a spreadsheet shows it: the
header is row 1), the column (your own header), the value and the rule. Amounts in messages are in
the currency's major unit (`paid ¥1,000.00 > due ¥985.15`).

A CSV file that is not a table is refused naming the line and showing it (personal data masked), with
the likely cause: an amount with a thousands separator and no quotes (`1,234.56` reads as the two
cells `1` and `234.56`: write `"1,234.56"` or `1234.56`), another cell holding the separator without
quotes, or a stray or unbalanced quote (`"`).

With `--accept-partial` the valid rows are imported and the invalid ones are written, under your own
headers, with their row numbers and reasons, to `DATA_DIR/rejects/<as-of>/<file>.rejects.csv`
(UTF-8 with BOM, so spreadsheets show Chinese text); the output names the folder, and the command
exits with status {exit_rejected} (imported with rejects) instead of 0. Files that cannot be read and bad
columns still refuse the whole day.

| Rule | Message |
|---|---|
{rules}

## Datasets
""".splitlines()
    )


def render_extract_format() -> str:
    """The Markdown of ``docs/extract-format.md``."""
    lines = _intro()
    for ds in DATASETS.values():
        lines += ["", *_dataset_section(ds)]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_extract_format(path: Path = DOC_PATH) -> Path:
    """Write :func:`render_extract_format` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_extract_format(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"written {write_extract_format(Path(sys.argv[1]) if len(sys.argv) > 1 else DOC_PATH)}")
