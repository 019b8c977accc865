"""A lender's header mapping: header normalisation (:func:`normalize_header`), reading the mapping
file (:func:`load_mapping`) and renaming a file's columns to the format's names (:func:`apply_mapping`)."""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recoup.errors import ImportColumnError, ImportFileError
from recoup.portfolio.encoding import decode_text
from recoup.portfolio.files import read_regular_file
from recoup.portfolio.messages import ECHO_CHARS, clip, quote, quote_list
from recoup.portfolio.spec import DATASETS, ENUMS

if TYPE_CHECKING:
    from recoup.portfolio.readers import RawTable

#: Largest mapping file, in bytes.
MAX_MAPPING_BYTES = 1 << 20

_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"), None)


def normalize_header(header: str) -> str:
    """How headers are compared: full-width forms folded (NFKC), byte-order and zero-width marks
    removed, surrounding spaces trimmed, letter case folded."""
    return unicodedata.normalize("NFKC", header).translate(_INVISIBLE).strip().casefold()


@dataclass(frozen=True)
class Mapping:
    """A lender's header names → the format's names, per dataset (or for all), headers to skip, and
    extra enum aliases. ``columns["files"]`` maps file names or glob patterns to datasets; ``day``
    lists the datasets a complete day holds (``[day] datasets = [...]``)."""

    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # dataset or "*" → {header: name}
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # enum → {lender value: canonical}
    source: str = ""
    ignore: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dataset or "*" → headers to skip
    day: tuple[str, ...] = ()

    def for_dataset(self, dataset: str) -> dict[str, str]:
        return {**self.columns.get("*", {}), **self.columns.get(dataset, {})}

    @property
    def files(self) -> dict[str, str]:
        """``[files]``: file name or glob pattern → dataset."""
        return self.columns.get("files", {})

    @property
    def declared(self) -> tuple[str, ...]:
        """The datasets a complete day holds: ``[day] datasets``, else those ``[files]`` names (in the
        format's order); empty when the mapping declares none."""
        named = set(self.day) if self.day else set(self.files.values())
        return tuple(n for n in DATASETS if n in named)


def is_pattern(entry: str) -> bool:
    """Whether a ``[files]`` entry is a glob pattern (``*``, ``?`` or ``[…]``) rather than a name."""
    return any(c in entry for c in "*?[")


def _fold_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def file_matches(entry: str, file_name: str) -> bool:
    """Whether the ``[files]`` entry (a name or a glob) matches ``file_name``: compared with full-width
    forms folded and ignoring letter case, as Windows does."""
    return fnmatch.fnmatchcase(_fold_name(file_name), _fold_name(entry))


def _did_you_mean(word: str, options: Iterable[str], *, fmt: str = "{!r}") -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {fmt.format(close[0])}?" if close else ""


def load_mapping(path: Path | None) -> Mapping:
    """Read a TOML (or JSON) mapping file: ``[loans] "借据号" = "loan_id"``, ``ignore = ["备注"]``;
    ``[files] "JJ_*.csv" = "loans"``; ``[day] datasets = ["loans", …]``; ``[values.ENUM]``."""
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
    day: tuple[str, ...] = ()
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
        if section == "day":
            day = _day_section(table, bad)
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
                if not file_name.strip():
                    raise bad("[files] has an empty file name")
                files[file_name] = dataset
            continue
        key = "*" if section in {"columns", "*"} else section
        if key != "*" and key not in DATASETS:
            raise bad(
                f"unknown section [{clip(section)}]; sections are [columns], [files], [day], [values.ENUM] "
                f"and one per dataset ({', '.join(DATASETS)}){_did_you_mean(section, DATASETS, fmt='[{}]')}"
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
        columns=columns,
        values=values,
        source=name,
        ignore={k: tuple(v) for k, v in ignore.items()},
        day=day,
    )


def _day_section(table: dict[str, Any], bad: Any) -> tuple[str, ...]:
    """``[day] datasets = ["loans", "installments", …]``: the datasets a complete day holds."""
    unknown_keys = [k for k in table if k != "datasets"]
    if unknown_keys:
        raise bad(f"[day] takes only `datasets = [...]`, not {quote_list(unknown_keys)}")
    names = table.get("datasets")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise bad('[day] datasets must be a list of dataset names, e.g. datasets = ["loans", "installments"]')
    for n in names:
        if n not in DATASETS:
            raise bad(
                f"[day] datasets: {quote(n)} is not a dataset; datasets are {', '.join(DATASETS)}"
                f"{_did_you_mean(n, DATASETS)} / 未知数据集"
            )
    return tuple(dict.fromkeys(names))


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
