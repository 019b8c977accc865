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
"""

from __future__ import annotations

import datetime as dt
import difflib
import errno
import hashlib
import io
import json
import os
import re
import stat
import tomllib
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from charset_normalizer import from_bytes

from recoup.errors import ImportColumnError, ImportFileError, RecoupError
from recoup.portfolio.spec import DATASETS, ENUMS

ROW = "__row"

# ----------------------------------------------------------------------------- limits

#: Largest file read, in bytes, as stored (CSV, XLSX or Parquet).
MAX_FILE_BYTES = 1 << 30
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
#: Largest mapping file, in bytes.
MAX_MAPPING_BYTES = 1 << 20
#: Longest value quoted in an error message, in characters.
ECHO_CHARS = 80
#: Most items (headers, columns) listed in one error message.
ECHO_ITEMS = 20

#: The encodings a text file may be in (GB 18030 reads GBK and GB 2312).
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
_SUPPORTED = "UTF-8, UTF-8 with BOM, or GBK / GB2312 / GB18030"


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


# ----------------------------------------------------------------------------- messages


def clip(value: object, limit: int = ECHO_CHARS) -> str:
    """``value`` as text of at most ``limit`` characters, cut with "…": what an error may quote."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value: object) -> str:
    """``repr`` of the clipped value: one line, at most :data:`ECHO_CHARS` characters plus quotes."""
    return repr(clip(value))


def quote_list(values: Iterable[object], limit: int = ECHO_ITEMS) -> str:
    """Clipped values, comma-separated, at most ``limit`` of them."""
    items = list(values)
    shown = ", ".join(quote(v) for v in items[:limit])
    return shown + (f", … and {len(items) - limit} more" if len(items) > limit else "")


_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"), None)


def normalize_header(header: str) -> str:
    """How headers are compared: full-width forms folded (NFKC), byte-order and zero-width marks
    removed, surrounding spaces trimmed, letter case folded."""
    return unicodedata.normalize("NFKC", header).translate(_INVISIBLE).strip().casefold()


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


# ----------------------------------------------------------------------------- files


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _regular_stat(path: Path) -> os.stat_result:
    """``lstat`` of ``path``, refusing anything but a regular file (a symlink is not followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file", details={"file": str(path)}) from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read ({exc.strerror})", details={"file": str(path)}) from None
    if stat.S_ISLNK(st.st_mode):
        raise ImportFileError(
            f"{path}: is a symbolic link; only regular files are read (copy the file itself into the "
            f"folder) / 不读取符号链接",
            details={"file": str(path), "reason": "symlink"},
        )
    if stat.S_ISDIR(st.st_mode):
        raise ImportFileError(
            f"{path}: is a directory; give a file or use `recoup import DIR`",
            details={"file": str(path), "reason": "directory"},
        )
    if not stat.S_ISREG(st.st_mode):
        raise ImportFileError(
            f"{path}: is {_kind(st.st_mode)}, not a regular file; only regular files are read / 不是普通文件",
            details={"file": str(path), "reason": "not_regular"},
        )
    return st


def _too_large(path: Path, size: int | None, limit: int) -> ImportFileError:
    got = f"{size:,} bytes" if size is not None else "larger than that"
    return ImportFileError(
        f"{path.name}: the file is {got}; at most {limit:,} bytes are read / 文件过大",
        details={"file": str(path), "bytes": size, "limit": limit},
    )


def read_regular_file(path: Path, *, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` (default :data:`MAX_FILE_BYTES`).

    A symlink, FIFO, device, socket or directory is refused before anything is opened; the file is
    opened with ``O_NOFOLLOW | O_NONBLOCK`` (so a symlink or FIFO swapped in meanwhile cannot
    redirect or block the read) and must still be the same regular file once open.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    st = _regular_stat(path)
    if st.st_size > limit:
        raise _too_large(path, st.st_size, limit)
    flags = os.O_RDONLY
    for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC", "O_BINARY", "O_NOCTTY"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImportFileError(
                f"{path}: is a symbolic link; only regular files are read / 不读取符号链接",
                details={"file": str(path), "reason": "symlink"},
            ) from None
        raise ImportFileError(f"{path}: cannot read ({exc.strerror})", details={"file": str(path)}) from None
    with os.fdopen(fd, "rb", closefd=True) as fh:
        now = os.fstat(fh.fileno())
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise ImportFileError(
                f"{path}: the file was replaced while it was being opened; try again",
                details={"file": str(path), "reason": "replaced"},
            )
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _too_large(path, None, limit)
    return data


# ----------------------------------------------------------------------------- text encodings

_UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_CJK = re.compile("[\u4e00-\u9fff]")
_SAMPLE_BYTES = 512 * 1024  # of lines with non-ASCII bytes, to judge a GBK file
_SAMPLE_LINE = 64 * 1024
#: A GBK file's non-ASCII characters must mostly be common Chinese characters (GB 2312); text in
#: Latin-1 or Shift-JIS decodes as GBK into rare ones (about 0 %), Chinese text gives 60–100 %.
_MIN_GB2312_SHARE = 0.5


def _position(raw: bytes, offset: int) -> dict[str, Any]:
    return {
        "line": raw.count(b"\n", 0, offset) + 1,
        "byte_offset": offset,
        "bytes": raw[offset : offset + 8].hex(" "),
    }


def _at(pos: dict[str, Any]) -> str:
    return f"line {pos['line']} (byte offset {pos['byte_offset']:,}: {pos['bytes']})"


@dataclass
class _Census:
    """Lines with non-ASCII bytes: valid UTF-8 with Chinese characters, or not valid UTF-8."""

    utf8: int = 0
    other: int = 0
    first_utf8: int = 0  # line number
    first_utf8_offset: int = 0
    sample: bytearray = field(default_factory=bytearray)


def _census(raw: bytes) -> _Census:
    out = _Census()
    pos, line, n = 0, 0, len(raw)
    while pos < n:
        end = raw.find(b"\n", pos)
        end = n if end < 0 else end
        line += 1
        chunk = raw[pos:end]
        if (
            (line == 1 or not chunk.isascii())
            and len(out.sample) < _SAMPLE_BYTES
            and len(chunk) <= _SAMPLE_LINE
        ):
            out.sample += chunk + b"\n"
        if not chunk.isascii():
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError:
                out.other += 1
            else:
                if _CJK.search(text):
                    out.utf8 += 1
                    if not out.first_utf8:
                        out.first_utf8, out.first_utf8_offset = line, pos
        pos = end + 1
    return out


def _gb2312_share(text: str) -> float:
    """The share of ``text``'s non-ASCII characters that GB 2312 (common simplified Chinese) has."""
    ascii_n = len(text.encode("ascii", errors="ignore"))
    other = len(text) - ascii_n
    if other == 0:
        return 1.0
    common = (len(text.encode("gb2312", errors="ignore")) - ascii_n) // 2
    return common / other


def _is_gb(encoding: str) -> bool:
    enc = encoding.lower().replace("-", "").replace("_", "")
    return enc.startswith("gb") or enc in {"cp936", "ms936", "hz"}


def decode_text(raw: bytes, name: str) -> tuple[str, str]:
    """The text of ``raw`` and its encoding, one of :data:`ENCODINGS`.

    The whole file must be valid in that one encoding. A file that is UTF-8 except for some lines
    (or GBK except for some UTF-8 lines), UTF-16/32, binary, or in another encoding (Big5, Latin-1…)
    is refused, naming the first offending line and byte offset; nothing is ever decoded by guess.
    """

    def refuse(message: str, **details: Any) -> ImportFileError:
        return ImportFileError(f"{name}: {message}", details={"file": name, **details})

    for bom, label in _WIDE_BOMS:
        if raw.startswith(bom):
            raise refuse(
                f"unsupported text encoding {label}; supported encodings are {_SUPPORTED} — save the file "
                f"as CSV UTF-8 / 不支持的文件编码，请另存为 UTF-8",
                encoding=label,
            )
    nul = raw.find(b"\x00")
    if nul >= 0:
        pos = _position(raw, nul)
        raise refuse(
            f"not a text table: binary content, a NUL byte at {_at(pos)}. UTF-16 text or a spreadsheet "
            f"under a text file name? Supported encodings are {_SUPPORTED} / 不是文本表格",
            **pos,
        )
    if raw.startswith(_UTF8_BOM):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            pos = _position(raw, exc.start + 3)
            raise refuse(
                f"mixed text encodings: the file starts with a UTF-8 byte-order mark, but {_at(pos)} is not "
                f"valid UTF-8 (a row in another encoding, such as GBK?); save the whole file as UTF-8 "
                f"/ 文件编码不一致",
                encoding="utf-8-sig",
                **pos,
            ) from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    census = _census(raw)
    if census.utf8 and census.utf8 >= census.other:
        pos = _position(raw, first_bad)
        raise refuse(
            f"mixed text encodings: the file is UTF-8, but {_at(pos)} is not valid UTF-8 "
            f"({census.other} line(s) are not; rows pasted from a GBK file?); save the whole file in one "
            f"encoding / 文件编码不一致：UTF-8 文件中混有其他编码的行",
            encoding="utf-8",
            bad_lines=census.other,
            **pos,
        )
    if census.utf8:
        pos = _position(raw, census.first_utf8_offset)
        raise refuse(
            f"mixed text encodings: the file is GBK/GB18030, but line {census.first_utf8} is UTF-8 "
            f"({census.utf8} such line(s)); save the whole file in one encoding / 文件编码不一致：GBK 文件中"
            f"混有 UTF-8 的行",
            encoding="gb18030",
            utf8_lines=census.utf8,
            **pos,
        )
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        pos = _position(raw, exc.start)
        raise refuse(
            f"unsupported text encoding: the file is neither UTF-8 nor GBK/GB18030: {_at(pos)} is valid in "
            f"neither; supported encodings are {_SUPPORTED} / 不支持的文件编码",
            **pos,
        ) from None
    sample = bytes(census.sample)
    candidates = [m.encoding for m in from_bytes(sample)]
    share = _gb2312_share(sample.decode("gb18030", errors="replace"))
    if not any(_is_gb(c) for c in candidates) or share < _MIN_GB2312_SHARE:
        guess = next((c for c in candidates if not _is_gb(c)), "an unknown encoding")
        raise refuse(
            f"unsupported text encoding: the file is not UTF-8 and does not read as Chinese text in "
            f"GBK/GB18030 (it looks like {guess}); supported encodings are {_SUPPORTED} / 不支持的文件编码",
            encoding=guess,
            gb2312_share=round(share, 3),
        )
    return text.removeprefix("\ufeff"), "gb18030"


def detect_encoding(raw: bytes) -> str:
    """The text encoding of ``raw``, one of :data:`ENCODINGS`; refuses any other (:func:`decode_text`)."""
    return decode_text(raw, "the file")[1]


# ----------------------------------------------------------------------------- CSV


def _sniff_separator(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";", "|")}
    sep = max(counts, key=lambda s: counts[s])
    return sep if counts[sep] > 0 else ","


def read_csv_bytes(raw: bytes, path: Path, sha: str) -> RawTable:
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
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            infer_schema=False,
            separator=_sniff_separator(first),
            truncate_ragged_lines=False,
            raise_if_empty=True,
            n_rows=MAX_ROWS + 2,
        )
    except pl.exceptions.PolarsError as exc:
        msg = clip(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 2 * ECHO_CHARS)
        raise ImportFileError(
            f"{path.name}: the file is truncated or not a table ({msg})", details={"file": str(path)}
        ) from None
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


def read_table(path: Path) -> RawTable:
    """Read a CSV, XLSX or Parquet file into text cells (only a regular file, within the limits)."""
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
    return read_csv_bytes(data, path, sha)


# ----------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class Mapping:
    """A lender's header names → the format's names, per dataset (or for all), headers to skip, and
    extra enum aliases. ``columns["files"]`` maps file names to datasets."""

    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # dataset or "*" → {header: name}
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # enum → {lender value: canonical}
    source: str = ""
    ignore: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dataset or "*" → headers to skip

    def for_dataset(self, dataset: str) -> dict[str, str]:
        return {**self.columns.get("*", {}), **self.columns.get(dataset, {})}


def _did_you_mean(word: str, options: Iterable[str], *, fmt: str = "{!r}") -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {fmt.format(close[0])}?" if close else ""


def load_mapping(path: Path | None) -> Mapping:
    """Read a TOML (or JSON) mapping file: ``[loans] "借据号" = "loan_id"``, ``ignore = ["备注"]``;
    ``[files] "JJ.csv" = "loans"``; ``[values.ENUM]``."""
    if path is None:
        return Mapping()
    if not os.path.lexists(path):
        raise ImportFileError(f"{path}: mapping file not found", details={"file": str(path)})
    name = path.name
    text, _enc = decode_text(read_regular_file(path, limit=MAX_MAPPING_BYTES), name)
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ImportFileError(
            f"{name}: the mapping file is not valid TOML/JSON: {clip(exc, 2 * ECHO_CHARS)}",
            details={"file": str(path)},
        ) from None

    def bad(message: str) -> ImportFileError:
        return ImportFileError(f"{name}: {message}", details={"mapping": name})

    if not isinstance(data, dict):
        raise bad("the mapping must be a table of sections ([loans], [columns], [files], [values.ENUM])")
    columns: dict[str, dict[str, str]] = {}
    ignore: dict[str, list[str]] = {}
    values: dict[str, dict[str, str]] = {}
    seen: dict[str, dict[str, str]] = {}  # section → normalised header → header as written
    for section, table in data.items():
        if not isinstance(table, dict):
            hint = (
                " (write `ignore = [...]` inside [columns] or a dataset's section)"
                if section == "ignore"
                else ""
            )
            raise bad(f"[{clip(section)}] must be a table of header = name{hint}")
        if section == "values":
            for enum_name, pairs in table.items():
                if not isinstance(pairs, dict):
                    raise bad(f"[values.{clip(enum_name)}] must be a table of lender value = canonical value")
                values[enum_name] = {str(k): str(v) for k, v in pairs.items()}
            continue
        if section == "files":
            files = columns.setdefault("files", {})
            for file_name, dataset in table.items():
                if not isinstance(dataset, str) or dataset not in DATASETS:
                    raise bad(
                        f"[files] {quote(file_name)} = {quote(dataset)}: not a dataset; datasets are "
                        f"{', '.join(DATASETS)}{_did_you_mean(str(dataset), DATASETS)} / 未知数据集"
                    )
                if "/" in file_name or "\\" in file_name:
                    raise bad(f"[files] {quote(file_name)}: give a file name in the day's folder, not a path")
                files[file_name] = dataset
            continue
        key = "*" if section in {"columns", "*"} else section
        if key != "*" and key not in DATASETS:
            raise bad(
                f"unknown section [{clip(section)}]; sections are [columns], [files], [values.ENUM] and one "
                f"per dataset ({', '.join(DATASETS)}){_did_you_mean(section, DATASETS, fmt='[{}]')}"
            )
        target = columns.setdefault(key, {})
        norm = seen.setdefault(key, {})
        for header, name_ in table.items():
            if header == "ignore" and isinstance(name_, list):
                if not all(isinstance(h, str) for h in name_):
                    raise bad(f"[{section}] ignore must be a list of headers in quotes")
                ignore.setdefault(key, []).extend(name_)
                continue
            if not isinstance(name_, str):
                raise bad(f"[{section}] {quote(header)} must be mapped to a field name in quotes")
            n = normalize_header(header)
            if n in norm and target[norm[n]] != name_:
                raise bad(
                    f"[{section}] maps {quote(norm[n])} and {quote(header)}, the same header (headers are "
                    f"compared trimmed, ignoring letter case and full-width forms), to different fields"
                )
            norm[n] = header
            target[header] = name_
    for key, skipped in ignore.items():
        mapped = {normalize_header(h) for h in columns.get(key, {})}
        both = [h for h in skipped if normalize_header(h) in mapped]
        if both:
            section = "columns" if key == "*" else key
            raise bad(f"[{section}] both maps and ignores {quote_list(both)}; keep one")
    for enum_name, pairs in values.items():
        if enum_name not in ENUMS:
            raise bad(f"[values.{clip(enum_name)}]: unknown enumeration; one of {', '.join(ENUMS)}")
        for raw_value, canonical in pairs.items():
            if canonical not in ENUMS[enum_name]:
                raise bad(
                    f"[values.{enum_name}] maps {quote(raw_value)} to {quote(canonical)}; allowed: "
                    f"{', '.join(ENUMS[enum_name])}"
                )
    return Mapping(
        columns=columns, values=values, source=name, ignore={k: tuple(v) for k, v in ignore.items()}
    )


def apply_mapping(raw: RawTable, dataset: str, names: tuple[str, ...], mapping: Mapping) -> dict[str, str]:
    """Rename ``raw.frame`` columns to the format's names; returns name → the user's header.

    Each header is compared (:func:`normalize_header`) with the dataset's section of the mapping,
    then with ``[columns]`` (at each level a header is either mapped or ignored), then with the field
    names. Two headers giving one field are refused; headers that match nothing are left in
    ``raw.unknown`` for validation to refuse, headers the mapping ignores in ``raw.ignored``.
    """
    own = mapping.for_dataset(dataset)
    for header, name in own.items():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ImportColumnError(
                f"mapping {mapping.source}: [{dataset}] maps {quote(header)} to {quote(name)}, which is "
                f"not a {dataset} field{hint}",
                details={"mapping": mapping.source, "header": clip(header), "target": clip(name)},
            )
    levels = [
        (
            {normalize_header(h): t for h, t in mapping.columns.get(key, {}).items()},
            {normalize_header(h) for h in mapping.ignore.get(key, ())},
        )
        for key in (dataset, "*")
    ]
    rename: dict[str, str] = {}
    source: dict[str, str] = {}  # field → header
    unknown: list[str] = []
    ignored: list[str] = []
    for header in raw.headers:
        key = normalize_header(header)
        target: str | None = None
        skip = False
        for table, skipped in levels:
            if key in table:
                target = table[key]
                break
            if key in skipped:
                skip = True
                break
        else:
            target = key if key in names else None
        if skip:
            ignored.append(header)
            continue
        if target is None:
            unknown.append(header)
            continue
        if target in source:
            raise ImportColumnError(
                f"{raw.path.name}: the columns {quote(source[target])} and {quote(header)} both give the "
                f"{dataset} field {target!r}; keep one, or list the other under `ignore` in the mapping's "
                f"[{dataset}] section / 两列对应同一字段",
                details={
                    "file": str(raw.path),
                    "field": target,
                    "headers": [clip(source[target]), clip(header)],
                },
            )
        source[target] = header
        rename[header] = target
    # An ignored column whose header is literally a field name another header gives: drop it, so
    # that the rename cannot collide.
    clash = [h for h in ignored if h in source]
    frame = raw.frame.drop(clash) if clash else raw.frame
    raw.frame = frame.rename(rename)
    raw.unknown, raw.ignored = unknown, ignored
    return source


def closest_header(name: str, headers: list[str], mapping_keys: list[str]) -> str | None:
    """The header present in the file that most resembles the missing column ``name``."""
    cands = difflib.get_close_matches(name, headers, n=1, cutoff=0.4)
    return cands[0] if cands else None
