"""The import of one day's files: check them all, then apply them, then publish the day (or not yet).

1. :meth:`Importer.check` reads and validates every file and collects every problem of every file
   (a file that cannot be read, bad columns, bad rows) instead of stopping at the first; nothing is
   written when there is one, unless ``accept_partial`` turns bad rows into a reject file.
2. :meth:`Importer.write` writes the reject files, applies each dataset to its Delta table (one commit
   per dataset, tagged with the day and the file's hash), then, in one database transaction, either
   publishes the day — the ``lake_import`` manifest row and a ledger entry per file — or, for a single
   file of a day that is not complete yet, only records the file in the ledger
   (:mod:`~recoup.portfolio.publish`). Readers see a day only through its manifest row, so a crash
   before it leaves the day invisible, and a rerun skips the committed files and completes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.db import writing
from recoup.errors import (
    ImportColumnError,
    ImportFileError,
    ImportIntegrityError,
    ImportOrderError,
    ImportRowsError,
)
from recoup.lake import Lake, latest_manifest
from recoup.lake.models import LakeImport
from recoup.lake.store import AS_OF_KEY, ApplyResult
from recoup.pii import PiiCipher, cipher_from_settings
from recoup.portfolio.publish import day_status
from recoup.portfolio.readers import ROW, Mapping, read_table
from recoup.portfolio.rejects import rejects_dir, write_rejects
from recoup.portfolio.report import Problem, rows_error, sensitive_headers
from recoup.portfolio.spec import DATASETS, Dataset, lake_schema
from recoup.portfolio.validate import Context, Validated, validate

Progress = Callable[[str], None]


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
    #: whether the book as of ``as_of`` is readable after this import (a manifest row publishes it)
    published: bool = True
    #: the datasets a complete day holds (the mapping's declaration), those the day has, those missing
    declared: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    missing: list[str] = field(default_factory=list)
    #: where this import's reject files are (``--accept-partial``), and the mapping file used
    rejects_dir: Path | None = None
    mapping: str = ""

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)


@dataclass
class Prepared:
    """One file, read and validated: its good rows (None: committed before), and for a reject file the
    file's own cells and the validation."""

    outcome: FileOutcome
    good: pl.DataFrame | None
    rejects: tuple[pl.DataFrame, Validated] | None = None


def out_of_order(as_of: dt.date, last: dt.date) -> ImportOrderError:
    return ImportOrderError(
        f"extracts must be applied in date order: {as_of.isoformat()} is before the last imported "
        f"day {last.isoformat()}. 数据须按日期顺序导入。",
        details={"as_of": as_of.isoformat(), "last": last.isoformat()},
    )


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
        self._batch: dict[str, pl.DataFrame] = {}  # dataset → rows of this run's files, by key
        self.unreadable: set[str] = set()  # datasets whose file of this run could not be read

    # -- context for cross-file rules -------------------------------------------------------
    def _rows(self, name: str, columns: list[str]) -> pl.DataFrame:
        """Live rows of ``name`` as this run will leave them: the lake's, overlaid with the rows of
        files already checked in this run (a day's loans are parents of its installments)."""
        ds = DATASETS[name]
        cur = self.lake.current(name, columns, lake_schema(ds))
        batch = self._batch.get(name)
        if batch is None:
            return cur
        key = list(ds.key)
        live = batch.filter(~pl.col("deleted")) if "deleted" in batch.columns else batch
        return pl.concat([cur.join(batch.select(key), on=key, how="anti"), live.select(columns)])

    def _keys(self, name: str) -> pl.DataFrame | None:
        if name in self.unreadable:
            return None
        return self._rows(name, [DATASETS[name].key[0]]).unique()

    def _loan_dates(self) -> pl.DataFrame | None:
        return None if "loans" in self.unreadable else self._rows("loans", ["loan_id", "disbursement_date"])

    def _current(self, name: str, columns: list[str]) -> pl.DataFrame:
        return self.lake.current(name, columns, lake_schema(DATASETS[name]))

    def context(self) -> Context:
        return Context(
            minor_digits=self.settings.minor_digits,
            currency=self.settings.currency,
            parent_keys=self._keys,
            current_rows=self._current,
            loan_dates=self._loan_dates,
        )

    # -- checking -----------------------------------------------------------------------------
    def check_order(self, as_of: dt.date) -> None:
        """Refuse a day earlier than one the lake already holds (before anything is written).

        The lake, not the manifest, is asked: a commit left by a crashed later import is in the
        tables, and applying an earlier day on top of it would mix the two days."""
        last = self.lake.latest_as_of(list(DATASETS))
        if last is not None and as_of < last:
            raise out_of_order(as_of, last)

    def prepare(self, name: str, path: Path, mapping: Mapping, *, accept_partial: bool) -> Prepared:
        """Read and validate one file. A file that cannot be read or has bad columns raises; bad rows
        raise ImportRowsError unless ``accept_partial`` (then they go to a reject file)."""
        ds = DATASETS[name]
        self.progress(f"reading {path.name}")
        try:
            raw = read_table(path, sensitive=sensitive_headers(name, mapping))
        except (ImportFileError, ImportColumnError):
            self.unreadable.add(name)
            raise
        outcome = FileOutcome(name, path, raw.sha256, raw.frame.height, encoding=raw.encoding)
        if self.lake.committed_file(name, raw.sha256) is not None:
            return Prepared(outcome, None)  # committed before (a re-import, or a crashed run resumed)
        self.progress(f"validating {path.name} ({raw.frame.height:,} rows)")
        original = raw.frame
        try:
            v = validate(raw, ds, mapping, self.context())
        except ImportColumnError:
            self.unreadable.add(name)
            raise
        if v.errors.height and not accept_partial:
            # Later files of the day are checked against every row of this one whose key reads, so a
            # child of a bad row is not reported a second time as an orphan.
            keyed = v.frame.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in ds.key))
            self._batch[name] = keyed.drop(ROW)
            raise rows_error(path, v, self.settings.import_error_limit)
        rejects = None
        if v.errors.height:
            outcome.rejected = v.bad_rows.len()
            rejects = (original, v)
        good = v.good().drop(ROW)
        self._batch[name] = good
        return Prepared(outcome, good, rejects)

    def check(
        self, files: list[tuple[str, Path]], mapping: Mapping, *, accept_partial: bool
    ) -> tuple[list[Prepared], list[Problem]]:
        """Read and validate every file (parents first); every problem of every file is collected."""
        prepared: list[Prepared] = []
        problems: list[Problem] = []
        for name, path in files:
            try:
                prepared.append(self.prepare(name, path, mapping, accept_partial=accept_partial))
            except (ImportFileError, ImportColumnError, ImportRowsError) as exc:
                problems.append(Problem(exc, name, path.name))
        return prepared, problems

    # -- writing ------------------------------------------------------------------------------
    def write(
        self,
        prepared: list[Prepared],
        *,
        as_of: dt.date,
        full: bool,
        kind: str,
        declared: tuple[str, ...] = (),
        publish: bool = False,
    ) -> ImportOutcome:
        """Write reject files, apply every file, then publish the day when ``kind`` is ``"day"``, when
        ``publish``, or when the day is complete (:class:`~recoup.portfolio.publish.DayStatus`)."""
        result = ImportOutcome(as_of, declared=declared)
        for p in prepared:
            if p.rejects is not None:
                result.rejects_dir = rejects_dir(self.settings.data_dir, as_of)
                original, v = p.rejects
                p.outcome.reject_file = write_rejects(original, v, p.outcome.path, result.rejects_dir)
        cipher: PiiCipher | None = None
        for p in prepared:
            outcome, good = p.outcome, p.good
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
        status = day_status(as_of, declared, lake=self.lake, session=self.session)
        result.present, result.missing = status.present, status.missing
        if status.unpublished_days:
            days = ", ".join(d.isoformat() for d in status.unpublished_days)
            result.warnings.append(
                f"the day(s) {days} were never published; their files are part of the book as of "
                f"{as_of.isoformat()} / 之前未发布的日期的数据并入本日"
            )
        if kind == "file" and not publish and not status.complete:
            result.published = False
            if all(o.skipped for o in result.files):
                result.noop = True
                return result
            self._record_pending(result)
            return result
        mine = {o.sha256 for o in result.files}
        earlier = [p for p in status.pending if p["sha256"] not in mine]
        asked = (
            kind == "file" and publish and not status.published_before
        )  # --publish a day not yet published
        if (
            all(o.skipped for o in result.files)
            and not earlier
            and not asked
            and mine <= self._manifest_shas()
        ):
            result.noop = True
            return result
        self._record(result, kind=kind, earlier=earlier)
        return result

    def _manifest_shas(self) -> set[str]:
        """Hashes of every file a manifest row already records."""
        return {f.get("sha256") for files in self.session.scalars(select(LakeImport.files)) for f in files}

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

    @staticmethod
    def _file_entries(result: ImportOutcome) -> list[dict[str, Any]]:
        return [
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

    def _record(self, result: ImportOutcome, *, kind: str, earlier: list[dict[str, Any]]) -> None:
        """Publish the day: the manifest row (this run's files, and the files earlier single-file imports
        added to the day) and one ledger entry per file of this run."""
        from recoup.ledger.service import do_append

        last = latest_manifest(session=self.session)
        if last is not None and result.as_of < last.as_of:
            raise out_of_order(result.as_of, last.as_of)
        versions = self._pins(result)
        files = self._file_entries(result)
        recorded = files + [{**p, "added_earlier": True} for p in earlier]
        row = LakeImport(as_of=result.as_of, kind=kind, table_versions=versions, files=recorded)
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

    def _record_pending(self, result: ImportOutcome) -> None:
        """A file added to a day that is not published yet: a ledger entry, no manifest row."""
        from recoup.ledger.service import do_append

        for f in self._file_entries(result):
            do_append(
                "import.file",
                {**f, "as_of": result.as_of.isoformat(), "manifest_id": None, "published": False},
                session=self.session,
                actor="import",
            )
