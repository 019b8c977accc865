"""Reject files of ``--accept-partial``: the rows that were not imported, as the lender sent them.

Each invalid row is written with the lender's own headers and cell text (not the format's field
names), preceded by its spreadsheet row number and the reasons, to
``DATA_DIR/rejects/<as-of>/<file>.rejects.csv`` — under the data directory, never into the input
folder (a drop folder other systems read and write). UTF-8 with BOM, so spreadsheets show Chinese text;
no cell may start a formula; written under a temporary name and renamed over, so a symbolic link
planted at the name is replaced, not followed; readable by its owner only (it holds the lender's rows).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl

from recoup import cellsafe
from recoup.errors import StorageError
from recoup.portfolio.readers import ROW
from recoup.portfolio.validate import Validated

#: Exit status of an import that committed but rejected rows (``--accept-partial``): the valid rows are
#: in the book, the others in the reject files. Distinct from success (0) and from refusals (65, 75…).
EXIT_REJECTED = 3

#: The columns a reject file puts before the lender's own.
ROW_COLUMN = "row"
REASON_COLUMN = "reject_reason"


def rejects_dir(data_dir: Path, as_of: dt.date) -> Path:
    """Where the reject files of the day ``as_of`` go."""
    return data_dir / "rejects" / as_of.isoformat()


def _mkdir_private(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StorageError(
            f"{path}: cannot create the reject folder ({exc.strerror}) / 无法创建拒绝文件目录",
            details={"path": str(path)},
        ) from None
    if path.is_symlink() or not path.is_dir():
        raise StorageError(f"{path}: the reject folder is not a directory", details={"path": str(path)})


def _free(name: str, taken: set[str]) -> str:
    out = name
    while out in taken:
        out = "_" + out
    return out


def write_rejects(original: pl.DataFrame, v: Validated, source: Path, directory: Path) -> Path:
    """Write the rows of ``original`` (the file's cells under its own headers, with ``__row``) that
    ``v`` rejects, with their reasons, to ``directory``; returns the file's path."""
    reasons = v.errors.group_by("row").agg(
        pl.concat_str(
            [pl.col("column"), pl.lit(": "), pl.col("message"), pl.lit(" ["), pl.col("rule"), pl.lit("]")]
        )
        .str.join("; ")
        .alias("__reason")
    )
    own = [c for c in original.columns if c != ROW]
    row_col = _free(ROW_COLUMN, set(own))
    reason_col = _free(REASON_COLUMN, set(own) | {row_col})
    src = original.join(reasons, left_on=ROW, right_on="row", how="inner").sort(ROW)
    out = src.select(pl.col(ROW).alias(row_col), pl.col("__reason").alias(reason_col), *own)
    _mkdir_private(directory)
    path = directory / f"{source.stem}.rejects.csv"
    data = b"\xef\xbb\xbf" + cellsafe.frame(out).write_csv().encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path
