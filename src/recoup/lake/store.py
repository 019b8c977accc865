"""Delta tables of the lake: one per dataset, applied by MERGE keyed by the lender's ids.

A row leaves only through the explicit ``_deleted`` flag; payments are append-only; ``full``
snapshots close (flag as deleted) the rows they do not contain. Each commit carries the file's
SHA-256 in its commit metadata, so re-applying the same file — including after a crash between
the lake commit and the manifest — is recognised and skipped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from recoup.portfolio.spec import Dataset, lake_schema

SHA_KEY = "recoup.file_sha256"
AS_OF_KEY = "recoup.as_of"


@dataclass(frozen=True)
class ApplyResult:
    dataset: str
    version: int
    inserted: int
    updated: int
    deleted: int
    skipped: bool = False  # the same file was already committed


class Lake:
    """The lake under ``root`` (a local path or any URI delta-rs understands)."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    def uri(self, name: str) -> str:
        return f"{self.root}/{name}"

    def _table(self, name: str, version: int | None = None) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri(name), version=version)
        except TableNotFoundError:
            return None

    def version(self, name: str) -> int | None:
        """The newest committed version of ``name``, or None if the table does not exist."""
        t = self._table(name)
        return None if t is None else int(t.version())

    def committed_file(self, name: str, sha256: str, *, limit: int = 500) -> dict[str, Any] | None:
        """The commit of ``name`` that applied the file with this hash, if any (newest ``limit``)."""
        t = self._table(name)
        if t is None:
            return None
        for commit in t.history(limit=limit):
            if commit.get(SHA_KEY) == sha256:
                return commit
        return None

    def commit_info(self, name: str, version: int) -> dict[str, Any] | None:
        """The commit metadata of ``name`` at ``version`` (read from the newest table's history:
        delta-rs mislabels the history of a table opened at an older version)."""
        t = self._table(name)
        if t is None:
            return None
        depth = int(t.version()) - version + 1
        if depth < 1:
            return None
        for commit in t.history(limit=depth):
            if int(commit.get("version", -1)) == version:
                return commit
        return None

    def commits_after(self, name: str, version: int) -> list[dict[str, Any]]:
        """The commits of ``name`` newer than ``version`` (-1: all), newest first."""
        t = self._table(name)
        if t is None:
            return []
        depth = int(t.version()) - version
        return [] if depth < 1 else [c for c in t.history(limit=depth) if int(c.get("version", -1)) > version]

    def latest_as_of(self, names: list[str]) -> dt.date | None:
        """The newest business date any of ``names``'s latest commits was applied for (a commit
        with no manifest row, left by a crashed import, counts: its rows are in the table)."""
        dates = []
        for name in names:
            t = self._table(name)
            if t is None:
                continue
            for commit in t.history(limit=1):
                if commit.get(AS_OF_KEY):
                    dates.append(dt.date.fromisoformat(str(commit[AS_OF_KEY])))
        return max(dates) if dates else None

    def scan(self, name: str, version: int | None = None) -> pl.LazyFrame | None:
        """Every row of ``name`` at ``version`` (latest if None), deleted rows included."""
        if self.version(name) is None:
            return None
        return pl.scan_delta(self.uri(name), version=version)

    def current(self, name: str, columns: list[str], schema: dict[str, pl.DataType]) -> pl.DataFrame:
        """The live (not deleted) rows of the newest version, ``columns`` only."""
        lf = self.scan(name)
        if lf is None:
            return pl.DataFrame(schema={c: schema[c] for c in columns})
        return lf.filter(~pl.col("_deleted")).select(columns).collect()

    def apply(
        self,
        ds: Dataset,
        frame: pl.DataFrame,
        *,
        as_of: dt.date,
        source: str,
        sha256: str,
        full: bool = False,
    ) -> ApplyResult:
        """MERGE ``frame`` (typed rows in lake columns, incl. ``deleted``) into ``ds``'s table."""
        schema = lake_schema(ds)
        done = self.committed_file(ds.name, sha256)
        if done is not None:
            return ApplyResult(ds.name, int(done.get("version", -1)), 0, 0, 0, skipped=True)
        data = frame.with_columns(
            pl.lit(as_of).alias("_as_of"),
            (pl.col("deleted") if "deleted" in frame.columns else pl.lit(False)).alias("_deleted"),
            pl.lit(source).alias("_source"),
        ).select([pl.col(c).cast(t) for c, t in schema.items()])
        props = CommitProperties(
            custom_metadata={SHA_KEY: sha256, AS_OF_KEY: as_of.isoformat(), "recoup.source": source}
        )
        table = self._table(ds.name)
        if table is None:
            Path(self.uri(ds.name)).parent.mkdir(
                parents=True, exist_ok=True
            ) if "://" not in self.root else None
            write_deltalake(self.uri(ds.name), data.to_arrow(), mode="append", commit_properties=props)
            v = self.version(ds.name)
            assert v is not None
            return ApplyResult(ds.name, v, data.filter(~pl.col("_deleted")).height, 0, 0)
        on = " AND ".join(f"t.{k} = s.{k}" for k in ds.key)
        content = [c for c in schema if c not in ds.key and c not in {"_as_of", "_source"}]
        changed = " OR ".join(f"(t.{c} IS DISTINCT FROM s.{c})" for c in content)
        merger = table.merge(data.to_arrow(), on, source_alias="s", target_alias="t", commit_properties=props)
        if not ds.append_only:
            merger = merger.when_matched_update_all(predicate=changed)
        merger = merger.when_not_matched_insert_all()
        if full and not ds.append_only:
            merger = merger.when_not_matched_by_source_update(
                updates={"_deleted": "true", "_as_of": f"'{as_of.isoformat()}'", "_source": f"'{source}'"},
                predicate="t._deleted = false",
            )
        try:
            metrics = merger.execute()
        except CommitFailedError as exc:
            from recoup.locks import LockBusyError

            raise LockBusyError(
                f"{ds.name}: another writer committed to the lake at the same time ({exc}); nothing "
                "of this file was applied. Run the import again.",
                details={"dataset": ds.name},
            ) from None
        v = self.version(ds.name)
        assert v is not None
        return ApplyResult(
            ds.name,
            v,
            int(metrics.get("num_target_rows_inserted", 0)),
            int(metrics.get("num_target_rows_updated", 0)),
            int(metrics.get("num_target_rows_deleted", 0)),
        )

    def rewrite_column(
        self,
        name: str,
        frame: pl.DataFrame,
        *,
        key: tuple[str, ...],
        column: str,
        as_of: dt.date,
        metadata: dict[str, str],
    ) -> int:
        """Set ``column`` of the rows of ``name`` matched on ``key`` to ``frame``'s values, in one
        commit tagged with ``as_of`` and ``metadata``; no other column changes (a key rotation
        re-encrypting a column). Returns the new version."""
        table = self._table(name)
        if table is None:
            raise ValueError(f"lake table {name} does not exist")
        on = " AND ".join(f"t.{k} = s.{k}" for k in key)
        props = CommitProperties(custom_metadata={AS_OF_KEY: as_of.isoformat(), **metadata})
        try:
            (
                table.merge(
                    frame.select([*key, column]).to_arrow(),
                    on,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=props,
                )
                .when_matched_update(updates={column: f"s.{column}"})
                .execute()
            )
        except CommitFailedError as exc:
            from recoup.locks import LockBusyError

            raise LockBusyError(
                f"{name}: another writer committed to the lake at the same time ({exc}); nothing was "
                "changed. Run the command again.",
                details={"dataset": name},
            ) from None
        v = self.version(name)
        assert v is not None
        return v


class Outputs:
    """The daily cycle's output tables (``account_daily`` …), partitioned by ``as_of``.

    A rerun for D replaces D's partition in one Delta commit (overwrite with a predicate), so
    replays give the same result and a crash leaves either the old or the new partition.
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def uri(self, name: str) -> str:
        return self.lake.uri(f"out/{name}")

    def exists(self, name: str) -> bool:
        try:
            DeltaTable(self.uri(name))
        except TableNotFoundError:
            return False
        return True

    def replace(self, name: str, frame: pl.DataFrame, *, as_of: dt.date) -> int:
        """Write ``frame`` (whose ``as_of`` column is all ``as_of``) as D's partition; returns the version."""
        if frame.height and frame.get_column("as_of").n_unique() != 1:
            raise ValueError("a partition holds exactly one as_of")
        data = frame.to_arrow()
        if not self.exists(name):
            Path(self.uri(name)).parent.mkdir(
                parents=True, exist_ok=True
            ) if "://" not in self.lake.root else None
            write_deltalake(self.uri(name), data, mode="append", partition_by=["as_of"])
        else:
            write_deltalake(
                self.uri(name),
                data,
                mode="overwrite",
                predicate=f"as_of = '{as_of.isoformat()}'",
                partition_by=["as_of"],
                schema_mode=None,
            )
        return int(DeltaTable(self.uri(name)).version())

    def read(self, name: str, as_of: dt.date) -> pl.DataFrame | None:
        """D's partition, or None if the table or the partition does not exist."""
        if not self.exists(name):
            return None
        out = pl.scan_delta(self.uri(name)).filter(pl.col("as_of") == as_of).collect()
        return out if out.height else None

    def latest_before(self, name: str, as_of: dt.date) -> pl.DataFrame | None:
        """The newest partition strictly before D (the previous business day's state)."""
        if not self.exists(name):
            return None
        lf = pl.scan_delta(self.uri(name))
        prev = lf.filter(pl.col("as_of") < as_of).select(pl.col("as_of").max()).collect().item()
        if prev is None:
            return None
        return lf.filter(pl.col("as_of") == prev).collect()

    def scan(self, name: str) -> pl.LazyFrame | None:
        return pl.scan_delta(self.uri(name)) if self.exists(name) else None
