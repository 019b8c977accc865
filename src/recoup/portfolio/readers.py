"""Reading extract files into text frames: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 — detected),
XLSX and Parquet, and applying a lender's header mapping.

Every cell stays text here; :mod:`recoup.portfolio.validate` parses it. The frame carries
``__row``, the row number as the user sees it in a spreadsheet (header = row 1).

The day's directory is often a drop folder that other systems write to, so reading is defensive:

- only a regular file is read — never a symbolic link, FIFO, device or socket — and never more
  than :data:`MAX_FILE_BYTES`;
- a text file is entirely UTF-8 or entirely GBK/GB18030, decoded strictly: a file that mixes the
  two, or is in any other encoding, is refused with the first offending line, never guessed;
- headers are compared trimmed, case-folded and with full-width forms folded
  (:func:`normalize_header`), and two headers that compare equal are refused;
- cells, rows, columns and the total text are bounded (the ``MAX_*`` constants), and an XLSX
  archive is checked for its expanded size and compression ratio before it is opened;
- a value quoted in an error message is cut to :data:`ECHO_CHARS` characters (:func:`clip`).

The work is split by use case: :mod:`~recoup.portfolio.files` (safe opening, bounded reads),
:mod:`~recoup.portfolio.encoding` (text encodings), :mod:`~recoup.portfolio.mapping` (header
mapping), :mod:`~recoup.portfolio.messages` (clipped echoes) and this module (CSV, XLSX and Parquet
to :class:`RawTable`, the size limits), which re-exports the others' public names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from recoup.errors import ImportColumnError, ImportFileError, RecoupError
from recoup.portfolio.csvshape import not_a_table
from recoup.portfolio.encoding import ENCODINGS, decode_text, detect_encoding
from recoup.portfolio.files import MAX_FILE_BYTES, _regular_stat, read_regular_file
from recoup.portfolio.mapping import (
    MAX_MAPPING_BYTES,
    Mapping,
    apply_mapping,
    closest_header,
    load_mapping,
    normalize_header,
)
from recoup.portfolio.messages import ECHO_CHARS, ECHO_ITEMS, clip, quote, quote_list

__all__ = [
    "ECHO_CHARS",
    "ECHO_ITEMS",
    "ENCODINGS",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_HEADER_CHARS",
    "MAX_MAPPING_BYTES",
    "MAX_ROWS",
    "MAX_TEXT_BYTES",
    "ROW",
    "XLSX_MAX_EXPANDED_BYTES",
    "XLSX_MAX_MEMBERS",
    "XLSX_MAX_RATIO",
    "XLSX_RATIO_FLOOR",
    "Mapping",
    "RawTable",
    "apply_mapping",
    "check_xlsx_archive",
    "clip",
    "closest_header",
    "decode_text",
    "detect_encoding",
    "load_mapping",
    "normalize_header",
    "quote",
    "quote_list",
    "read_csv_bytes",
    "read_parquet",
    "read_regular_file",
    "read_table",
    "read_xlsx",
]

ROW = "__row"

# ----------------------------------------------------------------------------- limits

# MAX_FILE_BYTES (files.py) and MAX_MAPPING_BYTES (mapping.py) live with the code that reads them.
#: Largest total of cell text once decoded or decompressed, in bytes (XLSX shared strings and
#: Parquet dictionaries can repeat one long value on every row).
MAX_TEXT_BYTES = 1 << 30
#: Most data rows in one file.
MAX_ROWS = 10_000_000
#: Most columns in one file (the widest dataset has 14 fields; the rest must be ignored explicitly).
MAX_COLUMNS = 512
#: Longest cell, in characters (free text fields allow 1000).
MAX_CELL_CHARS = 4_096
#: Longest header, in characters.
MAX_HEADER_CHARS = 256
#: XLSX archives: most members, largest total expanded size, and the highest compression ratio of
#: a member that expands beyond :data:`XLSX_RATIO_FLOOR` bytes (a zip bomb expands 1000-fold).
XLSX_MAX_MEMBERS = 10_000
XLSX_MAX_EXPANDED_BYTES = 1 << 30
XLSX_MAX_RATIO = 100
XLSX_RATIO_FLOOR = 1 << 20


@dataclass
class RawTable:
    """A file's cells as text, with where they came from."""

    path: Path
    frame: pl.DataFrame  # String columns named by the file's own headers, plus __row
    encoding: str
    fmt: str
    sha256: str
    headers: list[str] = field(default_factory=list)
    #: set by :func:`apply_mapping`: headers that match no field, and headers the mapping ignores
    unknown: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _trim(header: str | None) -> str:
    return "" if header is None else header.replace("\ufeff", "").strip()


def _check_headers(headers: list[str | None], path: Path, *, row: int = 1) -> list[str]:
    """The trimmed headers; refuses an empty, overlong, reserved or repeated one (after normalisation)."""
    name = path.name
    if len(headers) > MAX_COLUMNS:
        raise ImportFileError(
            f"{name}: {len(headers):,} columns; at most {MAX_COLUMNS} are read / 列数过多",
            details={"file": str(path), "columns": len(headers)},
        )
    out: list[str] = []
    seen: dict[str, tuple[int, str]] = {}  # normalised → (column, header as written)
    for i, raw in enumerate(headers, start=1):
        h = _trim(raw)
        if not h:
            raise ImportFileError(
                f"{name}: column {i} has an empty header (row {row}) / 表头为空",
                details={"file": str(path), "column": i},
            )
        if len(h) > MAX_HEADER_CHARS:
            raise ImportColumnError(
                f"{name}: the header of column {i} (row {row}) is {len(h):,} characters long, more than "
                f"{MAX_HEADER_CHARS}: {quote(h)} / 表头过长",
                details={"file": str(path), "column": i, "header": clip(h)},
            )
        key = normalize_header(h)
        if key == ROW:
            raise ImportColumnError(
                f"{name}: column {i} has the reserved header {quote(h)} / 表头为保留字",
                details={"file": str(path), "column": i, "header": h},
            )
        if key in seen:
            j, other = seen[key]
            raise ImportColumnError(
                f"{name}: columns {j} and {i} have the same header, {quote(other)} and {quote(raw)} "
                f"(headers are compared trimmed, ignoring letter case and full-width forms); remove or "
                f"rename one / 表头重复",
                details={"file": str(path), "columns": [j, i], "headers": [clip(other), clip(raw)]},
            )
        seen[key] = (i, raw or "")
        out.append(h)
    return out


# ----------------------------------------------------------------------------- CSV


def _sniff_separator(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";", "|")}
    sep = max(counts, key=lambda s: counts[s])
    return sep if counts[sep] > 0 else ","


def read_csv_bytes(
    raw: bytes, path: Path, sha: str, *, sensitive: Callable[[str], bool] | None = None
) -> RawTable:
    """A CSV file's cells as text. When it is not a table, the error shows the first broken line, with
    the cells under headers ``sensitive`` picks masked (:mod:`~recoup.portfolio.csvshape`)."""
    if not raw.strip():
        raise ImportFileError(f"{path.name}: the file is empty", details={"file": str(path)})
    text, enc = decode_text(raw, path.name)
    if enc == "utf-8":
        data = raw
    elif enc == "utf-8-sig":
        data = raw[3:]
    else:
        data = text.encode("utf-8")
    del text
    end = data.find(b"\n")
    first = (data if end < 0 else data[:end]).decode("utf-8")
    if len(first) > MAX_COLUMNS * (MAX_HEADER_CHARS + 3):
        raise ImportFileError(
            f"{path.name}: the first line is {len(first):,} characters long; it is not a header line "
            f"/ 第一行不是表头",
            details={"file": str(path)},
        )
    sep = _sniff_separator(first)
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            infer_schema=False,
            separator=sep,
            truncate_ragged_lines=False,
            raise_if_empty=True,
            n_rows=MAX_ROWS + 2,
        )
    except pl.exceptions.PolarsError as exc:
        raise not_a_table(data, path, sep, exc, sensitive=sensitive) from None
    if frame.height == 0:
        # A first line polars cannot split (an unbalanced quote: `a","b"`) can come back as no
        # rows at all instead of an error.
        raise ImportFileError(
            f"{path.name}: the header line cannot be read (an unbalanced quote?); the file is not a table "
            f"/ 无法读取表头",
            details={"file": str(path)},
        )
    if frame.height > MAX_ROWS + 1:
        raise _too_many_rows(path)
    headers = _check_headers(list(frame.row(0)), path)
    body = frame.slice(1).rename(dict(zip(frame.columns, headers, strict=True)))
    return RawTable(path, _finish(body, path), enc, "csv", sha, headers)


def _too_many_rows(path: Path) -> ImportFileError:
    return ImportFileError(
        f"{path.name}: more than {MAX_ROWS:,} data rows; split the file / 行数过多",
        details={"file": str(path), "limit": MAX_ROWS},
    )


def _finish(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    frame = frame.with_columns(pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias(ROW))
    frame = frame.filter(~pl.all_horizontal(pl.exclude(ROW).is_null()))
    if frame.height == 0:
        raise ImportFileError(
            f"{path.name}: the file has a header but no data rows", details={"file": str(path)}
        )
    _check_cells(frame, path)
    return frame


def _cell_too_long(path: Path, row: int, column: str, value: str) -> ImportFileError:
    return ImportFileError(
        f"{path.name}: row {row}, column {quote(column)}: a cell of {len(value):,} characters, more than "
        f"{MAX_CELL_CHARS:,}: {quote(value)} / 单元格内容过长",
        details={
            "file": str(path),
            "row": row,
            "column": clip(column),
            "value": clip(value),
            "length": len(value),
            "limit": MAX_CELL_CHARS,
        },
    )


def _too_much_text(path: Path, size: int) -> ImportFileError:
    return ImportFileError(
        f"{path.name}: the cells hold {size:,} bytes of text; at most {MAX_TEXT_BYTES:,} are read "
        f"/ 文件内容过大",
        details={"file": str(path), "bytes": size, "limit": MAX_TEXT_BYTES},
    )


def _check_cells(frame: pl.DataFrame, path: Path) -> None:
    """Refuse a frame whose text exceeds :data:`MAX_TEXT_BYTES` or has a cell over :data:`MAX_CELL_CHARS`.

    Byte lengths are read first (constant time per cell, even for values shared by many rows);
    characters are counted only in cells that could be too long."""
    cols = [c for c, t in frame.schema.items() if c != ROW and t == pl.String]
    if not cols:
        return
    stats = frame.select(
        *(pl.col(c).str.len_bytes().max().alias(f"m{i}") for i, c in enumerate(cols)),
        *(pl.col(c).str.len_bytes().cast(pl.UInt64).sum().alias(f"s{i}") for i, c in enumerate(cols)),
    ).row(0, named=True)
    total = sum(int(stats[f"s{i}"] or 0) for i in range(len(cols)))
    if total > MAX_TEXT_BYTES:
        raise _too_much_text(path, total)
    first: tuple[int, int, str, str] | None = None
    for i, c in enumerate(cols):
        if (stats[f"m{i}"] or 0) <= MAX_CELL_CHARS:
            continue
        hit = (
            frame.select(ROW, c)
            .filter(pl.col(c).str.len_bytes() > MAX_CELL_CHARS)
            .filter(pl.col(c).str.len_chars() > MAX_CELL_CHARS)
            .head(1)
        )
        if hit.height:
            row, value = hit.row(0)
            if first is None or (row, i) < first[:2]:
                first = (row, i, c, value)
    if first is not None:
        raise _cell_too_long(path, first[0], first[2], first[3])


# ----------------------------------------------------------------------------- XLSX


def _cell(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        # Spreadsheets store numbers as binary floats; repr gives the shortest text that round-trips,
        # which is what the user typed (e.g. 1234.56), and the text parser then stays exact.
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


def _not_xlsx(path: Path, exc: BaseException | str) -> ImportFileError:
    why = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    return ImportFileError(
        f"{path.name}: not a readable XLSX workbook ({clip(why, 2 * ECHO_CHARS)})",
        details={"file": str(path)},
    )


def check_xlsx_archive(data: bytes, path: Path) -> None:
    """Refuse an XLSX archive that expands too far (members, total size, compression ratio) before
    any of it is decompressed. ``zipfile`` never inflates a member beyond its declared size."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _not_xlsx(path, f"not a zip archive: {exc}") from None
    if len(infos) > XLSX_MAX_MEMBERS:
        raise ImportFileError(
            f"{path.name}: the workbook archive has {len(infos):,} parts; at most {XLSX_MAX_MEMBERS:,} "
            f"/ 工作簿结构异常",
            details={"file": str(path), "members": len(infos)},
        )
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > XLSX_RATIO_FLOOR and ratio > XLSX_MAX_RATIO:
            raise ImportFileError(
                f"{path.name}: refused: the workbook part {quote(info.filename)} expands {ratio:,.0f}-fold "
                f"({info.compress_size:,} → {info.file_size:,} bytes), more than {XLSX_MAX_RATIO}-fold "
                f"(a zip bomb?) / 工作簿解压后异常庞大",
                details={"file": str(path), "member": clip(info.filename), "ratio": round(ratio)},
            )
    if total > XLSX_MAX_EXPANDED_BYTES:
        raise ImportFileError(
            f"{path.name}: refused: the workbook expands to {total:,} bytes; at most "
            f"{XLSX_MAX_EXPANDED_BYTES:,} / 工作簿解压后过大",
            details={"file": str(path), "bytes": total, "limit": XLSX_MAX_EXPANDED_BYTES},
        )


def _xlsx_cells(wb: Any, path: Path) -> tuple[list[str], list[list[str | None]], list[int]]:
    from openpyxl.utils import get_column_letter

    if not wb.worksheets:
        raise ImportFileError(f"{path.name}: the workbook has no worksheet", details={"file": str(path)})
    ws = wb.worksheets[0]
    # Rows come as wide as their last cell, not as the sheet's declared dimension (which may claim
    # 16,384 columns); a row wider than MAX_COLUMNS stops the read at once.
    ws.reset_dimensions()
    header: list[str] | None = None
    width = 0
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    text = 0
    for idx, values in enumerate(ws.iter_rows(values_only=True), start=1):
        if len(values) > MAX_COLUMNS:
            raise ImportFileError(
                f"{path.name}: row {idx} reaches column {get_column_letter(len(values))} "
                f"({len(values):,}); at most {MAX_COLUMNS} columns are read — delete the unused columns "
                f"(formatted empty cells count) / 列数过多",
                details={"file": str(path), "row": idx, "columns": len(values)},
            )
        cells = [_cell(v) for v in values]
        filled = [j for j, c in enumerate(cells) if c is not None and c.strip()]
        if not filled:
            continue
        for j in filled:
            c = cells[j]
            assert c is not None
            text += len(c)
            if len(c) > MAX_CELL_CHARS:
                col = header[j] if header is not None and j < width else get_column_letter(j + 1)
                raise _cell_too_long(path, idx, col, c)
        if text > MAX_TEXT_BYTES:
            raise _too_much_text(path, text)
        if header is None:
            width = filled[-1] + 1
            header = _check_headers(cells[:width], path, row=idx)
            continue
        if filled[-1] >= width:
            j = filled[-1]
            raise ImportFileError(
                f"{path.name}: row {idx}, column {get_column_letter(j + 1)}: a value beyond the last header "
                f"(column {get_column_letter(width)}): {quote(cells[j])} / 数据超出表头范围",
                details={"file": str(path), "row": idx, "column": j + 1, "value": clip(cells[j])},
            )
        if len(rows) >= MAX_ROWS:
            raise _too_many_rows(path)
        rows.append(cells[:width] + [None] * (width - len(cells)))
        numbers.append(idx)
    if header is None or not rows:
        raise ImportFileError(f"{path.name}: the workbook has no data rows", details={"file": str(path)})
    return header, rows, numbers


def read_xlsx(data: bytes, path: Path, sha: str) -> RawTable:
    """The first worksheet of the XLSX workbook ``data`` (the bytes of ``path``)."""
    from openpyxl import load_workbook

    check_xlsx_archive(data, path)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many types (KeyError, ParseError, TypeError…) for a bad file
        raise _not_xlsx(path, exc) from None
    try:
        header, rows, numbers = _xlsx_cells(wb, path)
    except RecoupError:
        raise
    except Exception as exc:
        raise _not_xlsx(path, exc) from None
    finally:
        wb.close()
    frame = pl.DataFrame(rows, schema=dict.fromkeys(header, pl.String), orient="row")
    frame = frame.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))
    frame = frame.filter(~pl.all_horizontal(pl.exclude(ROW).is_null()))
    return RawTable(path, frame, "xlsx", "xlsx", sha, header)


# ----------------------------------------------------------------------------- Parquet


def _byte_size(column: str, dtype: pl.DataType) -> pl.Expr | None:
    """Total bytes of a text-like column, computed without copying its values."""
    c = pl.col(column)
    if dtype == pl.String:
        size = c.str.len_bytes()
    elif dtype == pl.Binary:
        size = c.bin.size()
    elif isinstance(dtype, (pl.Categorical, pl.Enum)):
        size = c.cat.len_bytes()
    else:
        return None
    return size.cast(pl.UInt64).sum()


def read_parquet(data: bytes, path: Path, sha: str) -> RawTable:
    """The Parquet file ``data`` (the bytes of ``path``), every value as text."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        n_rows, n_columns = int(meta.num_rows), int(meta.num_columns)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise ImportFileError(
            f"{path.name}: not a readable Parquet file ({clip(exc, 2 * ECHO_CHARS)})",
            details={"file": str(path)},
        ) from None
    if n_columns > MAX_COLUMNS:
        raise ImportFileError(
            f"{path.name}: {n_columns:,} columns; at most {MAX_COLUMNS} are read / 列数过多",
            details={"file": str(path), "columns": n_columns},
        )
    if n_rows > MAX_ROWS:
        raise _too_many_rows(path)
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several types for a bad file
        raise ImportFileError(
            f"{path.name}: not a readable Parquet file ({clip(exc, 2 * ECHO_CHARS)})",
            details={"file": str(path)},
        ) from None
    if frame.height == 0:
        raise ImportFileError(f"{path.name}: the file has no rows", details={"file": str(path)})
    headers = _check_headers(list(frame.columns), path)
    frame = frame.rename(dict(zip(frame.columns, headers, strict=True)))
    # The size of the text before the cast, which copies every value: a Parquet dictionary can
    # repeat one long value on every row at almost no cost in the file.
    sizes = [_byte_size(c, t) for c, t in frame.schema.items()]
    exprs = [e for e in sizes if e is not None]
    size = int(frame.select(pl.sum_horizontal(exprs)).item() or 0) if exprs else 0
    if size > MAX_TEXT_BYTES:
        raise _too_much_text(path, size)
    try:
        frame = frame.select(pl.all().cast(pl.String))
    except Exception as exc:
        raise ImportFileError(
            f"{path.name}: a column cannot be read as text ({clip(exc, 2 * ECHO_CHARS)}) / 列类型无法读取",
            details={"file": str(path)},
        ) from None
    return RawTable(path, _finish(frame, path), "parquet", "parquet", sha, headers)


# ----------------------------------------------------------------------------- any file

_READERS = {".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet", ".pq": "parquet"}
_TEXT = {".csv", ".txt", ".tsv", ""}


def read_table(path: Path, *, sensitive: Callable[[str], bool] | None = None) -> RawTable:
    """Read a CSV, XLSX or Parquet file into text cells (only a regular file, within the limits).

    ``sensitive`` tells which headers hold personal data, to mask a broken CSV line an error shows."""
    _regular_stat(path)
    suffix = path.suffix.lower()
    if suffix not in _READERS and suffix not in _TEXT:
        raise ImportFileError(f"{path.name}: unsupported file type {suffix!r} (CSV, XLSX or Parquet)")
    data = read_regular_file(path)
    sha = hashlib.sha256(data).hexdigest()
    kind = _READERS.get(suffix)
    if kind == "xlsx":
        return read_xlsx(data, path, sha)
    if kind == "parquet":
        return read_parquet(data, path, sha)
    return read_csv_bytes(data, path, sha, sensitive=sensitive)
