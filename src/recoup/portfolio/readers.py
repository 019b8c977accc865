"""Reading extract files into text frames: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 — detected),
XLSX and Parquet, and applying a lender's header mapping.

Every cell stays text here; :mod:`recoup.portfolio.validate` parses it. The frame carries
``__row``, the row number as the user sees it in a spreadsheet (header = row 1).
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import json
import tomllib
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from charset_normalizer import from_bytes

from recoup.errors import ImportColumnError, ImportFileError

ROW = "__row"
_CHINESE_ENCODINGS = {"gbk", "gb2312", "gb18030", "hz", "cp936"}


@dataclass
class RawTable:
    """A file's cells as text, with where they came from."""

    path: Path
    frame: pl.DataFrame  # String columns named by the file's own headers, plus __row
    encoding: str
    fmt: str
    sha256: str
    headers: list[str] = field(default_factory=list)


def detect_encoding(raw: bytes) -> str:
    """The text encoding of ``raw``: utf-8-sig, utf-8 or gb18030 (which reads GBK and GB2312)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(raw[:1_000_000]).best()
    if best is None:
        raise ImportFileError("cannot detect the text encoding: is this a CSV file?")
    enc = best.encoding.lower().replace("-", "").replace("_", "")
    if enc in {e.replace("-", "") for e in _CHINESE_ENCODINGS} or enc.startswith("gb"):
        return "gb18030"
    return best.encoding


def _sniff_separator(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";", "|")}
    sep = max(counts, key=lambda s: counts[s])
    return sep if counts[sep] > 0 else ","


def read_csv_bytes(raw: bytes, path: Path, sha: str) -> RawTable:
    if not raw.strip():
        raise ImportFileError(f"{path.name}: the file is empty", details={"file": str(path)})
    try:
        enc = detect_encoding(raw)
    except ImportFileError as exc:
        raise ImportFileError(f"{path.name}: {exc.message}", details={"file": str(path)}) from None
    if enc != "utf-8":
        try:
            raw = raw.decode(enc).encode("utf-8")
        except (UnicodeDecodeError, LookupError) as exc:
            raise ImportFileError(
                f"{path.name}: cannot decode the file as {enc}: {exc}", details={"file": str(path)}
            ) from None
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
    first = raw.split(b"\n", 1)[0].decode("utf-8", "replace")
    if "\x00" in first:
        raise ImportFileError(f"{path.name}: not a text table (binary content)", details={"file": str(path)})
    try:
        frame = pl.read_csv(
            io.BytesIO(raw),
            infer_schema=False,
            separator=_sniff_separator(first),
            truncate_ragged_lines=False,
            raise_if_empty=True,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.ShapeError) as exc:
        msg = str(exc).splitlines()[0]
        raise ImportFileError(
            f"{path.name}: the file is truncated or not a table ({msg})", details={"file": str(path)}
        ) from None
    return RawTable(path, _finish(frame, path), enc, "csv", sha, list(frame.columns))


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


def read_xlsx(path: Path, sha: str) -> RawTable:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise ImportFileError(f"{path.name}: not a readable XLSX workbook ({exc})") from None
    try:
        ws = wb.worksheets[0]
        header: list[str] | None = None
        rows: list[list[str | None]] = []
        numbers: list[int] = []
        for idx, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            if all(c is None or not str(c).strip() for c in cells):
                continue
            if header is None:
                header = [str(c).strip() if c is not None else "" for c in cells]
                continue
            rows.append(cells[: len(header)] + [None] * (len(header) - len(cells)))
            numbers.append(idx)
    finally:
        wb.close()
    if header is None or not rows:
        raise ImportFileError(f"{path.name}: the workbook has no data rows", details={"file": str(path)})
    _check_headers(header, path)
    frame = pl.DataFrame(rows, schema=dict.fromkeys(header, pl.String), orient="row")
    frame = frame.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))
    frame = frame.filter(~pl.all_horizontal(pl.exclude(ROW).is_null()))
    return RawTable(path, frame, "xlsx", "xlsx", sha, header)


def read_parquet(path: Path, sha: str) -> RawTable:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for a bad file
        raise ImportFileError(f"{path.name}: not a readable Parquet file ({exc})") from None
    if frame.height == 0:
        raise ImportFileError(f"{path.name}: the file has no rows", details={"file": str(path)})
    frame = frame.select(pl.all().cast(pl.String))
    return RawTable(path, _finish(frame, path), "parquet", "parquet", sha, list(frame.columns))


def _check_headers(headers: list[str], path: Path) -> None:
    seen: set[str] = set()
    for h in headers:
        if not h:
            raise ImportFileError(f"{path.name}: a column has an empty header (row 1)")
        if h in seen:
            raise ImportFileError(f"{path.name}: the header {h!r} appears twice (row 1)")
        seen.add(h)


def _finish(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    renamed = {c: c.strip().lstrip("\ufeff") for c in frame.columns}
    frame = frame.rename(renamed)
    _check_headers(list(frame.columns), path)
    frame = frame.with_columns(pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias(ROW))
    frame = frame.filter(~pl.all_horizontal(pl.exclude(ROW).is_null()))
    if frame.height == 0:
        raise ImportFileError(
            f"{path.name}: the file has a header but no data rows", details={"file": str(path)}
        )
    return frame


def read_table(path: Path) -> RawTable:
    """Read a CSV, XLSX or Parquet file into text cells."""
    import hashlib

    if not path.exists():
        raise ImportFileError(f"{path}: no such file", details={"file": str(path)})
    if path.is_dir():
        raise ImportFileError(f"{path}: is a directory; give a file or use `recoup import DIR`")
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        return read_xlsx(path, sha)
    if suffix in {".parquet", ".pq"}:
        return read_parquet(path, sha)
    if suffix in {".csv", ".txt", ".tsv", ""}:
        return read_csv_bytes(raw, path, sha)
    raise ImportFileError(f"{path.name}: unsupported file type {suffix!r} (CSV, XLSX or Parquet)")


# ----------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class Mapping:
    """A lender's header names → the format's names, per dataset (or for all), and extra enum aliases."""

    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # dataset or "*" → {header: name}
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # enum → {lender value: canonical}
    source: str = ""

    def for_dataset(self, dataset: str) -> dict[str, str]:
        return {**self.columns.get("*", {}), **self.columns.get(dataset, {})}


def load_mapping(path: Path | None) -> Mapping:
    """Read a TOML (or JSON) mapping file: ``[loans] "借据号" = "loan_id"``; ``[values.ENUM]``."""
    if path is None:
        return Mapping()
    if not path.exists():
        raise ImportFileError(f"{path}: mapping file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
        data: dict[str, Any] = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path.name}: the mapping file is not valid TOML/JSON: {exc}") from None
    columns: dict[str, dict[str, str]] = {}
    values: dict[str, dict[str, str]] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ImportFileError(f"{path.name}: [{section}] must be a table of header = name")
        if section == "values":
            for enum_name, pairs in table.items():
                values[enum_name] = {str(k): str(v) for k, v in dict(pairs).items()}
        else:
            columns["*" if section in {"columns", "*"} else section] = {
                str(k): str(v) for k, v in table.items()
            }
    from recoup.portfolio.spec import DATASETS, ENUMS

    for section in columns:
        if section not in {"*", "files", *DATASETS}:
            close = difflib.get_close_matches(section, list(DATASETS), n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            raise ImportFileError(
                f"{path.name}: unknown section [{section}]; sections are [columns], [files], [values.ENUM] "
                f"and one per dataset ({', '.join(DATASETS)}){hint}"
            )
    for enum_name, pairs in values.items():
        if enum_name not in ENUMS:
            raise ImportFileError(
                f"{path.name}: [values.{enum_name}]: unknown enumeration; one of {', '.join(ENUMS)}"
            )
        for raw_value, canonical in pairs.items():
            if canonical not in ENUMS[enum_name]:
                raise ImportFileError(
                    f"{path.name}: [values.{enum_name}] maps {raw_value!r} to {canonical!r}; allowed: "
                    f"{', '.join(ENUMS[enum_name])}"
                )
    return Mapping(columns=columns, values=values, source=path.name)


def apply_mapping(raw: RawTable, dataset: str, names: tuple[str, ...], mapping: Mapping) -> dict[str, str]:
    """Rename ``raw.frame`` columns to the format's names; returns name → the user's header."""
    own = mapping.for_dataset(dataset)
    for header, name in own.items():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ImportColumnError(
                f"mapping {mapping.source}: [{dataset}] maps {header!r} to {name!r}, which is not a "
                f"{dataset} field{hint}",
                details={"mapping": mapping.source, "header": header, "target": name},
            )
    rename: dict[str, str] = {}
    for header in raw.headers:
        low = header.strip().lower()
        target: str | None = own.get(header, low if low in names else None)
        if target is not None and target not in rename.values():
            rename[header] = target
    raw.frame = raw.frame.rename(rename)
    return {v: k for k, v in rename.items()}


def closest_header(name: str, headers: list[str], mapping_keys: list[str]) -> str | None:
    """The header present in the file that most resembles the missing column ``name``."""
    cands = difflib.get_close_matches(name, headers, n=1, cutoff=0.4)
    return cands[0] if cands else None
