"""Intake of a day's directory: which file holds which dataset.

A file belongs to a dataset by its name — the dataset's English name (or its singular), or its Chinese
title, with an optional date or suffix after it (``借据_20261120.csv``, ``loans-2026-11-20.xlsx``,
``还款计划20261120.csv``) or a date before it (``20261120_借据.csv``) — or by an entry of the mapping's
``[files]`` section: a file name or a glob pattern (``"JJ_*.csv" = "loans"``), which comes first.

Everything that goes wrong here is collected, not raised one at a time: two files for one dataset, a
file two patterns claim for different datasets, a ``[files]`` entry that matches no file; and every
file that is ignored is listed, so an error shows the whole picture of the directory.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from recoup.errors import ImportFileError
from recoup.portfolio.mapping import Mapping, file_matches, is_pattern
from recoup.portfolio.messages import quote
from recoup.portfolio.spec import DATASETS

#: File name extensions read as extract files.
TABULAR = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".parquet", ".pq")
#: Reject files written by older versions beside the input; never read as input.
REJECTS_SUFFIX = ".rejects.csv"

#: English singulars accepted besides the dataset names (``loan_20261120.csv``).
_SINGULAR = {
    "borrowers": "borrower",
    "contact_points": "contact_point",
    "loans": "loan",
    "installments": "installment",
    "payments": "payment",
    "bureau_updates": "bureau_update",
}
_SEPARATORS = re.compile(r"[\s\-.·]+")
_DATE_PREFIX = r"(?:\d[\d_]*_)?"


def _fold(stem: str) -> str:
    """A file stem as names are compared: full-width forms folded, case folded, and spaces, hyphens and
    dots read as ``_`` (``Contact-Points 2026.11.20`` → ``contact_points_2026_11_20``)."""
    return _SEPARATORS.sub("_", unicodedata.normalize("NFKC", stem).casefold()).strip("_")


def _names(name: str) -> list[str]:
    ds = DATASETS[name]
    out = [name, ds.title_zh]
    if name in _SINGULAR:
        out.append(_SINGULAR[name])
    return out


#: One regex per dataset: an optional date before the name, then the name, then nothing, or a suffix
#: after ``_`` (a separator) or starting with a digit (a date written straight after the name).
_RULES: dict[str, re.Pattern[str]] = {
    name: re.compile(
        rf"^{_DATE_PREFIX}(?:{'|'.join(re.escape(n) for n in sorted(_names(name), key=len, reverse=True))})"
        r"(?:_.*|\d.*)?$"
    )
    for name in DATASETS
}


def dataset_by_name(file_name: str) -> str | None:
    """The dataset a file's name says it holds, by the built-in naming rules (not the mapping)."""
    stem = _fold(Path(file_name).stem)
    hits = [name for name, rule in _RULES.items() if rule.match(stem)]
    return hits[0] if len(hits) == 1 else None


def dataset_for_file(path: Path, mapping: Mapping) -> str | None:
    """Which dataset a file in a day's directory holds: by a ``[files]`` entry (a name or a glob), else
    by its name. ``None`` when nothing claims it, or when ``[files]`` entries claim it for two datasets."""
    claims = {ds for entry, ds in mapping.files.items() if file_matches(entry, path.name)}
    if claims:
        return claims.pop() if len(claims) == 1 else None
    return dataset_by_name(path.name)


def naming_help() -> str:
    """How to name files, for messages: every dataset's Chinese and English name."""
    names = ", ".join(f"{ds.title_zh} / {n}" for n, ds in DATASETS.items())
    return (
        f"a file's name must start with a dataset's Chinese or English name ({names}), optionally "
        f"followed by a date or suffix after _ or - (借据_20261120.csv, loans-2026-11-20.xlsx), or be "
        f'listed in the mapping\'s [files] section, e.g. "JJ_*.csv" = "loans" '
        f"/ 文件名须以数据集的中文或英文名开头"
    )


@dataclass
class DayFiles:
    """What a day's directory holds: dataset → file, the files ignored (with why), and the problems
    that stop the import (two files for a dataset, a ``[files]`` entry matching nothing…)."""

    found: dict[str, Path] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    conflicted: set[str] = field(default_factory=set)  # datasets with more than one file


def scan_day(directory: Path, mapping: Mapping) -> DayFiles:
    """Assign every file of ``directory`` to a dataset (see the module's docstring)."""
    out = DayFiles()
    by_dataset: dict[str, list[Path]] = {}
    entry_hits: dict[str, int] = dict.fromkeys(mapping.files, 0)
    for p in sorted(directory.iterdir(), key=lambda q: q.name):
        name = p.name
        if name.lower().endswith(REJECTS_SUFFIX) or name in {"mapping.toml", "mapping.json"}:
            continue
        claims: dict[str, list[str]] = {}
        for entry, ds in mapping.files.items():
            if file_matches(entry, name):
                entry_hits[entry] += 1
                claims.setdefault(ds, []).append(entry)
        if len(claims) > 1:
            shown = "; ".join(f"{', '.join(quote(e) for e in es)} → {ds}" for ds, es in claims.items())
            out.problems.append(
                f"{name}: the mapping's [files] entries claim it for different datasets ({shown}); make "
                f"the patterns exclusive / 文件被映射到多个数据集"
            )
            continue
        if claims:
            dataset = next(iter(claims))
        else:
            if p.suffix.lower() not in TABULAR:
                if not name.startswith(".") and (os.path.isfile(p) or os.path.islink(p)):
                    out.ignored.append(f"{name}: not an extract file type ({', '.join(TABULAR)}); ignored")
                continue
            found = dataset_by_name(name)
            if found is None:
                out.ignored.append(f"{name}: not a known dataset file name; ignored / 文件名无法识别，已忽略")
                continue
            dataset = found
        by_dataset.setdefault(dataset, []).append(p)
    for dataset in DATASETS:
        paths = by_dataset.get(dataset, [])
        if len(paths) == 1:
            out.found[dataset] = paths[0]
        elif len(paths) > 1:
            out.conflicted.add(dataset)
            out.problems.append(
                f"{directory.name}: {len(paths)} files for {dataset}: {', '.join(q.name for q in paths)}; "
                f"a day holds one file per dataset / 同一数据集有多个文件"
            )
    for entry, hits in entry_hits.items():
        if hits == 0:
            kind = "pattern" if is_pattern(entry) else "file name"
            out.problems.append(
                f"{mapping.source or 'mapping'}: [files] {kind} {quote(entry)} (→ {mapping.files[entry]}) "
                f"matches no file in {directory.name} / [files] 条目未匹配任何文件"
            )
    return out


def no_files_error(directory: Path, day: DayFiles) -> ImportFileError:
    """The error for a directory in which no file was recognised, listing what was ignored and why."""
    lines = [f"{directory}: no dataset files found; {naming_help()}"]
    lines += [f"  {w}" for w in day.ignored]
    lines += [f"  {p}" for p in day.problems]
    return ImportFileError(
        "\n".join(lines),
        details={"directory": str(directory), "ignored": day.ignored, "problems": day.problems},
    )
