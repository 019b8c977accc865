"""Writing a generated extract as a day's directory (optionally Chinese headers, GBK, mapping)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.portfolio.spec import DATASETS, ENUMS, Kind
from recoup.portfolio.synth.vocab import CHINESE_HEADERS

Ints = npt.NDArray[np.int64]
Days = npt.NDArray[np.datetime64]

# --------------------------------------------------------------------------------------------- writing

_CODECS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "gbk": "gb18030",
    "gb18030": "gb18030",
}


def _zh(enum: str, canonical: str) -> str:
    """The first Chinese alias of an enum value (the canonical value when it has none)."""
    for alias in ENUMS[enum][canonical]:
        if any("\u4e00" <= ch <= "\u9fff" for ch in alias):
            return alias
    return canonical


def _chinese_cells(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Enum values as their Chinese aliases and booleans as 是/否, as a Chinese core system writes them."""
    out: list[pl.Expr] = []
    for f in DATASETS[name].fields:
        if f.name not in frame.columns:
            continue
        c = pl.col(f.name)
        if f.kind is Kind.ENUM and f.enum is not None:
            zh = {v: _zh(f.enum, v) for v in ENUMS[f.enum]}
            out.append(c.replace(zh))
        elif f.kind is Kind.CHANNELS:
            zh = {v: _zh("contact_channel", v) for v in ENUMS["contact_channel"]}
            out.append(c.str.split(",").list.eval(pl.element().replace(zh)).list.join("、").alias(f.name))
        elif f.kind is Kind.BOOL:
            out.append(c.replace({"true": "是", "false": "否"}))
    return frame.with_columns(out)


def mapping_toml(datasets: Sequence[str] | None = None) -> str:
    """The ``mapping.toml`` that maps :data:`CHINESE_HEADERS` to the format's names."""
    lines = [
        "# 表头映射：机构系统的列名 = 数据格式的字段名（见 docs/extract-format.md）",
        "# Header mapping: the lender's column name = the extract format's field name.",
    ]
    for name in datasets or list(DATASETS):
        lines += ["", f"[{name}]"]
        lines += [f'"{zh}" = "{field}"' for field, zh in CHINESE_HEADERS[name].items()]
    return "\n".join(lines) + "\n"


def write_extract(
    frames: dict[str, pl.DataFrame],
    directory: str | Path,
    *,
    chinese_headers: bool = False,
    encoding: str = "utf-8",
) -> Path:
    """Write ``frames`` as a day's directory: one CSV per non-empty dataset; returns the directory.

    ``chinese_headers`` writes the Chinese headers (:data:`CHINESE_HEADERS`), enum values and booleans
    a Chinese lender sends, under the Chinese file names (``借据.csv``), with a matching
    ``mapping.toml``. ``encoding`` is ``utf-8``, ``utf-8-sig`` or ``gbk`` (written with the GB 18030
    codec, identical to GBK for every character GBK has).
    """
    codec = _CODECS.get(encoding.lower().replace("_", "-"))
    if codec is None:
        raise ValueError(f"unsupported encoding {encoding!r}; one of {', '.join(_CODECS)}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        ds = DATASETS[name]
        if frame.height == 0:
            continue  # nothing to send (the importer refuses a file with a header but no rows)
        if chinese_headers:
            frame = _chinese_cells(name, frame).rename(CHINESE_HEADERS[name], strict=False)
        path = out / f"{ds.title_zh if chinese_headers else name}.csv"
        path.write_bytes(frame.write_csv().encode(codec))
    if chinese_headers:
        (out / "mapping.toml").write_text(
            mapping_toml([n for n in DATASETS if n in frames]), encoding="utf-8"
        )
    return out
