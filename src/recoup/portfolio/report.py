"""What an import error tells a person: every bad row of a file (:func:`rows_error`), and every problem
of every file of a day in one error (:func:`day_error`), with personal data masked and values cut."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from recoup.errors import ImportColumnError, ImportError_, ImportFileError, ImportRowsError
from recoup.pii import mask_text
from recoup.portfolio.mapping import Mapping, normalize_header
from recoup.portfolio.validate import Validated

#: Fields whose values are personal data: an error shows only their shape, never the value.
SENSITIVE = frozenset({"national_id", "value", "name", "contact_name", "address"})
_ECHO_CHARS = 80


def echo(value: object, *, sensitive: bool) -> str | None:
    """A cell value as an error may show it: personal data masked, long values cut."""
    if value is None:
        return None
    text = str(value)
    if sensitive:
        return (text[:1] + "*" * max(0, len(text) - 2) + text[-1:] if len(text) > 2 else "**")[:_ECHO_CHARS]
    text = mask_text(text)
    return text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + f"… ({len(text):,} characters)"


def sensitive_headers(dataset: str, mapping: Mapping) -> Callable[[str], bool]:
    """A predicate: does this header (the lender's own) hold personal data in ``dataset``?"""
    mapped = {normalize_header(h): t for h, t in mapping.for_dataset(dataset).items()}

    def check(header: str) -> bool:
        key = normalize_header(header)
        return mapped.get(key, key) in SENSITIVE

    return check


def rows_error(path: Path, v: Validated, limit: int) -> ImportRowsError:
    """The error for a file with invalid rows: up to ``limit`` of them, each with its row, column (the
    lender's header), value (masked when personal) and rule."""
    n_rows = v.bad_rows.len()
    hidden = [v.headers.get(n, n) for n in SENSITIVE if n in v.dataset.names]
    shown = v.errors.head(limit).with_columns(
        pl.struct("column", "value")
        .map_elements(lambda r: echo(r["value"], sensitive=r["column"] in hidden), return_dtype=pl.String)
        .alias("value")
    )
    lines = [
        f"  row {r['row']}, column {r['column']!r}, value {r['value']!r}: {r['message']} [{r['rule']}]"
        for r in shown.iter_rows(named=True)
    ]
    more = v.errors.height - shown.height
    if more > 0:
        lines.append(f"  … and {more} more error(s)")
    head = (
        f"{path.name}: {n_rows} invalid row(s) in {v.dataset.name}; nothing was imported "
        f"(use --accept-partial to import the valid rows and write a reject file):"
    )
    return ImportRowsError(
        head + "\n" + "\n".join(lines),
        details={
            "file": str(path),
            "dataset": v.dataset.name,
            "errors": shown.to_dicts(),
            "error_count": v.errors.height,
            "invalid_rows": n_rows,
        },
    )


@dataclass
class Problem:
    """One file's (or the directory's) reason to refuse the day."""

    error: ImportError_
    dataset: str | None = None
    file: str | None = None


#: When files fail in different ways, the day's error takes the code of the earliest stage that failed.
_STAGES: tuple[type[ImportError_], ...] = (ImportFileError, ImportColumnError, ImportRowsError)


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.splitlines())


def day_error(problems: list[Problem], *, warnings: list[str], what: str) -> ImportError_:
    """One error for every problem of a day (``what`` names it: a directory or a file).

    A single problem keeps its own error (class, message and details), with the ignored files added;
    several make one error listing each file's, of the class of the earliest stage that failed (a file
    that cannot be read, then bad columns, then bad rows), with ``details["files"]`` per file and
    ``details["errors"]`` every row error shown, each naming its file."""
    if len(problems) == 1:
        only = problems[0].error
        if not warnings:
            return only
        message = only.message + "\n" + "\n".join(f"  also: {w}" for w in warnings)
        out = type(only)(message, details={**only.details, "warnings": warnings})
        return out
    kind: type[ImportError_] = next(
        (k for k in _STAGES if any(isinstance(p.error, k) for p in problems)), ImportFileError
    )
    files = {p.file for p in problems if p.file}
    count = sum(int(p.error.details.get("error_count", 1)) for p in problems)
    where = f"in {len(files)} file(s)" + (
        " and the directory" if any(p.file is None for p in problems) else ""
    )
    head = (
        f"{what}: {count} error(s) {where}; nothing was imported — every file was checked, fix them all "
        f"and run again / 共 {count} 处错误，未导入任何数据："
    )
    parts = [head, *(_indent(p.error.message) for p in problems)]
    parts += [f"  also: {w}" for w in warnings]
    errors: list[dict[str, Any]] = []
    for p in problems:
        for e in p.error.details.get("errors", []) if isinstance(p.error, ImportRowsError) else []:
            errors.append({"file": p.file, **e})
    details: dict[str, Any] = {
        "files": [
            {"file": p.file, "dataset": p.dataset, "code": p.error.code, "message": p.error.message}
            | {k: v for k, v in p.error.details.items() if k not in {"file", "dataset", "errors"}}
            for p in problems
        ],
        "errors": errors,
        "error_count": count,
        "warnings": warnings,
    }
    return kind("\n".join(parts), details=details)
