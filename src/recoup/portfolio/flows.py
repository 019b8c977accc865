"""Importing extracts: one file (``recoup import DATASET FILE``) or a whole day (``recoup import DIR``).

The order of work keeps the promise that nothing is half-written:

1. read and validate every file (nothing is written if any row is bad, unless the user asked for
   ``accept_partial``, which writes the good rows and a reject file beside the input);
2. apply each dataset to its Delta table (one commit per dataset, tagged with the file's hash);
3. in one database transaction, append the ``lake_import`` manifest row and one ledger entry
   per file. Readers see the day only through that manifest row, so a crash before step 3
   leaves the day invisible, and a rerun skips the already-committed files and completes it.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from recoup import cellsafe
from recoup.config import Settings
from recoup.db import writing
from recoup.errors import ImportFileError, ImportIntegrityError, ImportOrderError, ImportRowsError
from recoup.lake import Lake, latest_manifest
from recoup.lake.models import LakeImport
from recoup.lake.store import AS_OF_KEY, ApplyResult
from recoup.locks import Held, exclusive
from recoup.pii import PiiCipher, cipher_from_settings, mask_text
from recoup.portfolio.readers import ROW, Mapping, RawTable, load_mapping, read_table
from recoup.portfolio.spec import DATASETS, Dataset, lake_schema
from recoup.portfolio.validate import Context, Validated, validate

Progress = Callable[[str], None]
TABULAR = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".parquet", ".pq")


@dataclass
class FileOutcome:
    dataset: str
    path: Path
    sha256: str
    rows: int
    rejected: int = 0
    reject_file: Path | None = None
    result: ApplyResult | None = None
    encoding: str = ""

    @property
    def skipped(self) -> bool:
        return self.result is not None and self.result.skipped


@dataclass
class ImportOutcome:
    as_of: dt.date
    files: list[FileOutcome] = field(default_factory=list)
    manifest_id: int | None = None
    noop: bool = False
    warnings: list[str] = field(default_factory=list)


class _StepAside(Exception):
    """An import for an earlier day is waiting: let it go first, then start again."""


def _out_of_order(as_of: dt.date, last: dt.date) -> ImportOrderError:
    return ImportOrderError(
        f"extracts must be applied in date order: {as_of.isoformat()} is before the last imported "
        f"day {last.isoformat()}. 数据须按日期顺序导入。",
        details={"as_of": as_of.isoformat(), "last": last.isoformat()},
    )


def _locked(
    as_of: dt.date,
    settings: Settings,
    session: Session,
    run: Callable[[Held], ImportOutcome],
) -> ImportOutcome:
    """Run ``run`` holding the import lock: one lake writer at a time, earlier days first."""
    while True:
        try:
            with exclusive(
                "import",
                data_dir=settings.data_dir,
                bind=session.get_bind(),
                wait_s=settings.lock_wait_seconds,
                order=as_of.isoformat(),
                what=f"import as of {as_of.isoformat()}",
            ) as held:
                return run(held)
        except _StepAside:
            continue


def dataset_for_file(path: Path, mapping: Mapping) -> str | None:
    """Which dataset a file in a day's directory holds: by its name (``loans.csv``, ``借据.xlsx``),
    or by a ``[files]`` entry in the mapping."""
    files = mapping.columns.get("files", {})
    if path.name in files:
        return files[path.name]
    stem = path.stem.lower()
    for name, ds in DATASETS.items():
        if stem in {name, ds.title_zh} or stem.startswith(f"{name}_") or stem.startswith(f"{name}-"):
            return name
    return None


#: Fields whose values are personal data: an error shows only their shape, never the value.
_SENSITIVE = frozenset({"national_id", "value", "name", "address"})
_ECHO_CHARS = 80


def _echo(value: object, *, sensitive: bool) -> str | None:
    """A cell value as an error may show it: personal data masked, long values cut."""
    if value is None:
        return None
    text = str(value)
    if sensitive:
        return (text[:1] + "*" * max(0, len(text) - 2) + text[-1:] if len(text) > 2 else "**")[:_ECHO_CHARS]
    text = mask_text(text)
    return text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + f"… ({len(text):,} characters)"


def _format_errors(path: Path, v: Validated, limit: int) -> tuple[str, list[dict[str, Any]]]:
    n_rows = v.bad_rows.len()
    hidden = [v.headers.get(n, n) for n in _SENSITIVE if n in v.dataset.names]
    shown = v.errors.head(limit).with_columns(
        pl.struct("column", "value")
        .map_elements(lambda r: _echo(r["value"], sensitive=r["column"] in hidden), return_dtype=pl.String)
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
    return head + "\n" + "\n".join(lines), shown.to_dicts()


def _write_rejects(raw: RawTable, v: Validated) -> Path:
    reasons = v.errors.group_by("row").agg(
        pl.concat_str(
            [pl.col("column"), pl.lit(": "), pl.col("message"), pl.lit(" ["), pl.col("rule"), pl.lit("]")]
        )
        .str.join("; ")
        .alias("reject_reason")
    )
    src = raw.frame.join(reasons, left_on=ROW, right_on="row", how="inner").sort(ROW)
    out = src.rename({ROW: "row"}).select("row", "reject_reason", pl.exclude("row", "reject_reason"))
    path = raw.path.with_name(f"{raw.path.stem}.rejects.csv")
    # UTF-8 with BOM so that spreadsheet programs show the Chinese text correctly; no cell may start a
    # formula; written beside and then renamed over, so a symlink planted at the name is replaced, not
    # followed, and the file (which holds the lender's rows) is readable by its owner only.
    data = b"\xef\xbb\xbf" + cellsafe.frame(out).write_csv().encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def _to_lake(ds: Dataset, frame: pl.DataFrame, cipher: PiiCipher | None) -> pl.DataFrame:
    """Typed rows → lake columns: national ids encrypted with a keyed hash for lookup."""
    if "national_id" in frame.columns:
        assert cipher is not None
        ids = frame.get_column("national_id")
        frame = frame.with_columns(
            ids.map_elements(cipher.encrypt, return_dtype=pl.String).alias("national_id_enc"),
            ids.map_elements(lambda x: cipher.lookup_hash(x, "national_id"), return_dtype=pl.String).alias(
                "national_id_hash"
            ),
        ).drop("national_id")
    keep = [c for c in lake_schema(ds) if c in frame.columns] + (
        ["deleted"] if "deleted" in frame.columns else []
    )
    return frame.select(keep)


class Importer:
    """Validates and applies extract files for one as-of date."""

    def __init__(self, *, settings: Settings, lake: Lake, session: Session, progress: Progress | None = None):
        self.settings = settings
        self.lake = lake
        self.session = session
        self.progress = progress or (lambda _msg: None)
        self._batch: dict[str, pl.DataFrame] = {}  # dataset → good typed rows of this run

    # -- context for cross-file rules -------------------------------------------------------
    def _rows(self, name: str, columns: list[str]) -> pl.DataFrame:
        """Live rows of ``name`` as this run will leave them: the lake's, overlaid with the good rows
        of files already prepared in this run (a day's loans are parents of its installments)."""
        ds = DATASETS[name]
        cur = self.lake.current(name, columns, lake_schema(ds))
        batch = self._batch.get(name)
        if batch is None:
            return cur
        key = list(ds.key)
        live = batch.filter(~pl.col("deleted")) if "deleted" in batch.columns else batch
        return pl.concat([cur.join(batch.select(key), on=key, how="anti"), live.select(columns)])

    def _keys(self, name: str) -> pl.DataFrame:
        return self._rows(name, [DATASETS[name].key[0]]).unique()

    def _current(self, name: str, columns: list[str]) -> pl.DataFrame:
        return self.lake.current(name, columns, lake_schema(DATASETS[name]))

    def context(self) -> Context:
        return Context(
            minor_digits=self.settings.minor_digits,
            currency=self.settings.currency,
            parent_keys=self._keys,
            current_rows=self._current,
            loan_dates=lambda: self._rows("loans", ["loan_id", "disbursement_date"]),
        )

    # -- the steps ----------------------------------------------------------------------------
    def check_order(self, as_of: dt.date) -> None:
        """Refuse a day earlier than one the lake already holds (before anything is written).

        The lake, not the manifest, is asked: a commit left by a crashed later import is in the
        tables, and applying an earlier day on top of it would mix the two days."""
        last = self.lake.latest_as_of(list(DATASETS))
        if last is not None and as_of < last:
            raise _out_of_order(as_of, last)

    def _check_manifest_order(self, as_of: dt.date) -> None:
        last = latest_manifest(session=self.session)
        if last is not None and as_of < last.as_of:
            raise _out_of_order(as_of, last.as_of)

    def _manifest_shas(self) -> set[str]:
        """Hashes of every file a manifest row already records."""
        from sqlalchemy import select

        return {f.get("sha256") for files in self.session.scalars(select(LakeImport.files)) for f in files}

    def prepare(
        self, name: str, path: Path, mapping: Mapping, *, accept_partial: bool
    ) -> tuple[FileOutcome, pl.DataFrame | None]:
        """Read and validate one file; raise ImportRowsError unless ``accept_partial``."""
        ds = DATASETS[name]
        self.progress(f"reading {path.name}")
        raw = read_table(path)
        outcome = FileOutcome(name, path, raw.sha256, raw.frame.height, encoding=raw.encoding)
        if self.lake.committed_file(name, raw.sha256) is not None:
            return outcome, None  # committed before (a re-import, or a crashed run being resumed)
        self.progress(f"validating {path.name} ({raw.frame.height:,} rows)")
        v = validate(raw, ds, mapping, self.context())
        if v.errors.height:
            if not accept_partial:
                message, shown = _format_errors(path, v, self.settings.import_error_limit)
                raise ImportRowsError(
                    message,
                    details={
                        "file": str(path),
                        "dataset": name,
                        "errors": shown,
                        "error_count": v.errors.height,
                        "invalid_rows": v.bad_rows.len(),
                    },
                )
            outcome.reject_file = _write_rejects(raw, v)
            outcome.rejected = v.bad_rows.len()
        good = v.good().drop(ROW)
        self._batch[name] = good
        return outcome, good

    def write(
        self,
        outcomes: list[tuple[FileOutcome, pl.DataFrame | None]],
        *,
        as_of: dt.date,
        full: bool,
        kind: str,
    ) -> ImportOutcome:
        result = ImportOutcome(as_of)
        cipher: PiiCipher | None = None
        for outcome, good in outcomes:
            ds = DATASETS[outcome.dataset]
            if good is None:
                commit = self.lake.committed_file(ds.name, outcome.sha256)
                outcome.result = ApplyResult(ds.name, int((commit or {}).get("version", -1)), 0, 0, 0, True)
            else:
                self.progress(f"writing {ds.name} ({good.height:,} rows)")
                if "national_id" in good.columns and cipher is None:
                    cipher = cipher_from_settings(self.settings)
                lake_rows = _to_lake(ds, good, cipher)
                outcome.result = self.lake.apply(
                    ds, lake_rows, as_of=as_of, source=outcome.path.name, sha256=outcome.sha256, full=full
                )
            result.files.append(outcome)
        writing(self.session)  # the manifest transaction starts here, with the write lock
        if all(o.skipped for o in result.files) and {o.sha256 for o in result.files} <= self._manifest_shas():
            result.noop = True
            return result
        self._record(result, kind=kind)
        return result

    def _pins(self, result: ImportOutcome) -> dict[str, int]:
        """The version of every dataset that the book as of this day is, checked: a table this run
        applied is pinned at this run's commit; every pinned commit is of this day or earlier."""
        versions = {name: v for name in DATASETS if (v := self.lake.version(name)) is not None}
        last = latest_manifest(session=self.session)
        previous = {k: int(x) for k, x in last.table_versions.items()} if last is not None else {}
        mine = {o.dataset: o.result.version for o in result.files if o.result and not o.result.skipped}
        for name, v in versions.items():
            if name in mine and mine[name] != v:
                raise ImportIntegrityError(
                    f"{name}: the lake moved on to version {v} while this import committed version "
                    f"{mine[name]}; another writer changed the lake. Nothing was recorded.",
                    details={"dataset": name, "committed": mine[name], "latest": v},
                )
            # Every commit since the previous manifest's pin is this day's or an earlier one's.
            for info in self.lake.commits_after(name, int(previous.get(name, -1))):
                tagged = info.get(AS_OF_KEY)
                if tagged is None or dt.date.fromisoformat(str(tagged)) > result.as_of:
                    raise ImportIntegrityError(
                        f"{name}: version {info.get('version')} was written for "
                        f"{tagged or 'an unknown day'}, not for {result.as_of.isoformat()} or earlier; "
                        "nothing was recorded.",
                        details={"dataset": name, "version": info.get("version"), "as_of": tagged},
                    )
        return versions

    def _record(self, result: ImportOutcome, *, kind: str) -> None:
        from recoup.ledger.service import do_append

        self._check_manifest_order(result.as_of)
        versions = self._pins(result)
        files = [
            {
                "dataset": o.dataset,
                "file": o.path.name,
                "sha256": o.sha256,
                "rows": o.rows,
                "rejected": o.rejected,
                "version": o.result.version if o.result else None,
                "inserted": o.result.inserted if o.result else 0,
                "updated": o.result.updated if o.result else 0,
                "deleted": o.result.deleted if o.result else 0,
            }
            for o in result.files
        ]
        row = LakeImport(as_of=result.as_of, kind=kind, table_versions=versions, files=files)
        self.session.add(row)
        self.session.flush()
        result.manifest_id = row.id
        for f in files:
            do_append(
                "import.file",
                {**f, "as_of": result.as_of.isoformat(), "manifest_id": row.id},
                session=self.session,
                actor="import",
            )


def import_file(
    dataset: str,
    path: Path,
    *,
    as_of: dt.date,
    settings: Settings,
    lake: Lake,
    session: Session,
    mapping: Path | None = None,
    full: bool = False,
    accept_partial: bool = False,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Import one dataset file for ``as_of``; the session is flushed, not committed."""
    if dataset not in DATASETS:
        raise ImportFileError(f"unknown dataset {dataset!r}; one of {', '.join(DATASETS)}")
    m = load_mapping(mapping)

    def run(held: Held) -> ImportOutcome:
        imp = Importer(settings=settings, lake=lake, session=session, progress=progress)
        prepared = [imp.prepare(dataset, path, m, accept_partial=accept_partial)]
        return _apply(imp, held, prepared, as_of=as_of, full=full, kind="file")

    return _locked(as_of, settings, session, run)


def _apply(
    imp: Importer,
    held: Held,
    prepared: list[tuple[FileOutcome, pl.DataFrame | None]],
    *,
    as_of: dt.date,
    full: bool,
    kind: str,
) -> ImportOutcome:
    if any(good is not None for _o, good in prepared):
        imp.check_order(as_of)
    # A day that skips days the lake has not seen gives their imports, if they are starting right
    # now, a moment to queue up: started together, consecutive days then apply in date order.
    last = imp.lake.latest_as_of(list(DATASETS))
    grace = imp.settings.import_gap_wait_seconds if last is not None and (as_of - last).days > 1 else 0.0
    deadline = time.monotonic() + grace
    while not held.earlier_waiting():
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    else:
        raise _StepAside
    return imp.write(prepared, as_of=as_of, full=full, kind=kind)


def import_dir(
    directory: Path,
    *,
    as_of: dt.date,
    settings: Settings,
    lake: Lake,
    session: Session,
    mapping: Path | None = None,
    full: bool = False,
    accept_partial: bool = False,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Import a day's directory: every dataset file, then one manifest row for the day."""
    if not directory.is_dir():
        raise ImportFileError(f"{directory}: not a directory")
    mpath = mapping
    if mpath is None:
        for cand in ("mapping.toml", "mapping.json"):
            if os.path.lexists(directory / cand):
                mpath = directory / cand
    m = load_mapping(mpath)
    found: dict[str, Path] = {}
    warnings: list[str] = []
    for p in sorted(directory.iterdir()):
        if p.suffix.lower() not in TABULAR or p.name.endswith(".rejects.csv"):
            continue
        name = dataset_for_file(p, m)
        if name is None:
            warnings.append(f"{p.name}: not a known dataset file name; ignored")
            continue
        if name in found:
            raise ImportFileError(f"{directory}: two files for {name}: {found[name].name} and {p.name}")
        found[name] = p
    if not found:
        raise ImportFileError(
            f"{directory}: no dataset files found (expected names like "
            f"{', '.join(f'{n}.csv' for n in DATASETS)})"
        )

    def run(held: Held) -> ImportOutcome:
        imp = Importer(settings=settings, lake=lake, session=session, progress=progress)
        prepared = [
            imp.prepare(n, found[n], m, accept_partial=accept_partial) for n in DATASETS if n in found
        ]
        return _apply(imp, held, prepared, as_of=as_of, full=full, kind="day")

    out = _locked(as_of, settings, session, run)
    out.warnings = warnings
    return out
