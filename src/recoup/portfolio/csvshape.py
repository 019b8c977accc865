"""Why a CSV file is not a table: the first line whose structure is broken, shown, with its likely cause.

The CSV reader only says that something is wrong somewhere ("found more fields than defined"). When it
refuses a file, :func:`diagnose` walks the text once more, line by line (lines without a quote are split
directly, the rest character by character, RFC 4180), and names the first line that

- holds more fields than the header line — with the cause when it is the common one: an amount written
  with a thousands separator and no quotes (``1,234.56`` read as the two cells ``1`` and ``234.56``);
- has a quote inside an unquoted cell, or text after a closing quote (a stray quote);
- opens a quoted cell that is never closed (an unbalanced quote swallowing the rest of the file).

The line is shown as the file has it, cut to :data:`SHOWN_CHARS` characters, with the cells of personal
data columns masked to their shape and phone and id numbers masked wherever they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoup.errors import ImportFileError
from recoup.pii import mask_text
from recoup.portfolio.messages import ECHO_CHARS, clip

#: Longest line shown in a message, in characters.
SHOWN_CHARS = 160

_LEAD = re.compile(r"^\s*[-+(]?\s*(?:[¥￥$]|CNY|RMB)?\s*\d{1,3}$", re.I)
_GROUP = re.compile(r"^\d{3}$")
_LAST_GROUP = re.compile(r"^\d{3}(?:\.\d*)?\s*(?:元|\))?\s*$")


@dataclass(frozen=True)
class Broken:
    """The first broken line of a CSV file."""

    line: int  # 1-based physical line where the problem shows
    text: str  # that line, masked and clipped
    message: str  # what is wrong and the likely cause (English / 中文)
    cause: str  # "thousands_separator", "extra_fields", "stray_quote", "unclosed_quote"
    fields: int | None = None
    expected: int | None = None

    def details(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "cause": self.cause,
            "fields": self.fields,
            "expected": self.expected,
            "shown": self.text,
        }


@dataclass
class _Record:
    start: int  # physical line the record starts on
    fields: list[str]
    problem: tuple[int, str] | None = None  # (line, "stray_quote" | "unclosed_quote")


def _records(text: str, sep: str) -> Iterator[_Record]:
    """The records of ``text``, stopping after the first one with a quoting problem."""
    lines = text.split("\n")
    i, n = 0, len(lines)
    while i < n:
        line = lines[i].removesuffix("\r")
        if i == n - 1 and line == "":
            return
        if '"' not in line:
            yield _Record(i + 1, line.split(sep))
            i += 1
            continue
        rec = _Record(i + 1, [])
        cell: list[str] = []
        quoted = False  # inside a quoted cell
        started = True  # at the start of a cell
        after_close = False  # just after a quoted cell's closing quote
        opened = i + 1  # the line of the last opening quote
        j = 0
        while True:
            if j >= len(line):
                if quoted:  # a line break inside a quoted cell: continue on the next line
                    i += 1
                    if i >= n:
                        rec.problem = (opened, "unclosed_quote")
                        yield rec
                        return
                    cell.append("\n")
                    line = lines[i].removesuffix("\r")
                    j = 0
                    continue
                rec.fields.append("".join(cell))
                break
            c = line[j]
            if quoted:
                if c == '"':
                    if j + 1 < len(line) and line[j + 1] == '"':
                        cell.append('"')
                        j += 2
                        continue
                    quoted, after_close = False, True
                else:
                    cell.append(c)
            elif c == sep:
                rec.fields.append("".join(cell))
                cell, started, after_close = [], True, False
            elif c == '"':
                if started:
                    quoted, started, opened = True, False, i + 1
                else:
                    rec.problem = (i + 1, "stray_quote")
                    yield rec
                    return
            elif after_close:
                rec.problem = (i + 1, "stray_quote")
                yield rec
                return
            else:
                cell.append(c)
                started = False
            j += 1
        yield rec
        i += 1


def _thousands(fields: list[str], extra: int) -> tuple[int, str] | None:
    """Where ``extra`` surplus fields come from an unquoted grouped amount: (index, the amount)."""
    for k in range(len(fields) - extra):
        if not _LEAD.match(fields[k]):
            continue
        parts = fields[k + 1 : k + 1 + extra]
        if len(parts) == extra and all(_GROUP.match(p) for p in parts[:-1]) and _LAST_GROUP.match(parts[-1]):
            return k, ",".join([fields[k].strip(), *(p.strip() for p in parts)])
    return None


def _masked_line(
    raw: str,
    sep: str,
    headers: list[str],
    extra: int,
    sensitive: Callable[[str], bool] | None,
    split_at: int | None = None,
) -> str:
    """``raw`` with the cells under a personal-data header masked, phone and id numbers masked, cut to
    :data:`SHOWN_CHARS`. A line with ``extra`` surplus fields is aligned with the headers around the
    cell split in pieces (``split_at``), or, when that is not known, masked under either alignment."""
    cells = raw.split(sep)
    if sensitive is not None:
        for k, cell in enumerate(cells):
            if extra <= 0:
                under = {k}
            elif split_at is None:
                under = {k, k - extra}
            else:
                under = {k if k <= split_at else max(split_at, k - extra)}
            if any(0 <= h < len(headers) and sensitive(headers[h]) for h in under):
                body = cell.strip().strip('"')
                cells[k] = (body[:1] + "*" * max(0, len(body) - 2) + body[-1:]) if len(body) > 2 else "**"
    return clip(mask_text(sep.join(cells)), SHOWN_CHARS)


def diagnose(text: str, sep: str, *, sensitive: Callable[[str], bool] | None = None) -> Broken | None:
    """The first broken line of the CSV ``text`` (separator ``sep``), or None when none is found."""
    records = _records(text, sep)
    header = next(records, None)
    if header is None:
        return None
    lines = text.split("\n")

    def shown(line: int, extra: int = 0, split_at: int | None = None) -> str:
        raw = lines[line - 1].removesuffix("\r") if 0 < line <= len(lines) else ""
        return _masked_line(raw, sep, header.fields, extra, sensitive, split_at)

    if header.problem is not None:
        return _quote_problem(header.problem, shown(header.problem[0]))
    width = len(header.fields)
    for rec in records:
        if rec.problem is not None:
            return _quote_problem(rec.problem, shown(rec.problem[0]))
        extra = len(rec.fields) - width
        if extra <= 0:
            continue
        found = _thousands(rec.fields, extra)
        head = f"line {rec.start} has {len(rec.fields)} fields but the header line has {width}"
        if found is not None:
            k, amount = found
            col = header.fields[k].strip() if k < width else f"column {k + 1}"
            return Broken(
                rec.start,
                shown(rec.start, extra, k),
                f"{head}: the amount {amount} in column {clip(col)!r} is not in quotes, so its thousands "
                f'separator splits it into {extra + 1} cells; write "{amount}" (in quotes) or '
                f"{amount.replace(',', '')} / 第{rec.start}行字段数多于表头：含千分位逗号的金额须加引号",
                "thousands_separator",
                len(rec.fields),
                width,
            )
        return Broken(
            rec.start,
            shown(rec.start, extra),
            f"{head}: a cell holds the separator {sep!r} without quotes around it (put the cell in double "
            f"quotes) / 第{rec.start}行字段数多于表头：含分隔符的单元格须加引号",
            "extra_fields",
            len(rec.fields),
            width,
        )
    return None


def _quote_problem(problem: tuple[int, str], text: str) -> Broken:
    line, cause = problem
    if cause == "unclosed_quote":
        message = (
            f"line {line} opens a quoted cell that is never closed, so the rest of the file reads as one "
            f'cell: a stray or unbalanced quote (") / 第{line}行的引号未闭合'
        )
    else:
        message = (
            f'line {line} has a stray quote ("): a quote inside a cell must be doubled ("") and the '
            f"whole cell put in quotes, or the quote removed / 第{line}行有多余的引号"
        )
    return Broken(line, text, message, cause)


def not_a_table(
    data: bytes,
    path: Path,
    sep: str,
    exc: BaseException,
    *,
    sensitive: Callable[[str], bool] | None = None,
) -> ImportFileError:
    """The error for a CSV file (UTF-8 ``data``) the reader refused with ``exc``: the broken line shown,
    with its likely cause, or else the reader's own reason."""
    broken = diagnose(data.decode("utf-8", errors="replace"), sep, sensitive=sensitive)
    if broken is None:
        why = clip(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 2 * ECHO_CHARS)
        return ImportFileError(
            f"{path.name}: the file is truncated or not a table ({why}) / 文件不完整或不是表格",
            details={"file": str(path)},
        )
    return ImportFileError(
        f"{path.name}: not a table as it stands: {broken.message}\n    line {broken.line}: {broken.text}",
        details={"file": str(path), **broken.details()},
    )
