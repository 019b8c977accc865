"""The book as of a date: every dataset at the Delta versions the manifest recorded for it.

Readers resolve a date only through the ``lake_import`` manifest, never by listing files, so a
half-imported day is invisible and any past day reads back exactly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.errors import NotFoundError
from recoup.lake.models import LakeImport
from recoup.lake.store import Lake
from recoup.portfolio.spec import DATASETS, lake_schema


@dataclass(frozen=True)
class Book:
    """The state of every dataset as of ``as_of`` (live rows only, deleted rows filtered out)."""

    as_of: dt.date
    manifest_id: int
    manifest_as_of: dt.date
    versions: dict[str, int]
    lake: Lake

    def scan(self, name: str, *, include_deleted: bool = False) -> pl.LazyFrame:
        """A lazy frame of ``name``; an empty frame with the right schema if it was never imported."""
        if name not in DATASETS:
            raise NotFoundError(f"unknown dataset {name!r}; one of {', '.join(DATASETS)}")
        v = self.versions.get(name)
        if v is None:
            return pl.LazyFrame(schema=lake_schema(DATASETS[name]))
        lf = pl.scan_delta(self.lake.uri(name), version=v)
        return lf if include_deleted else lf.filter(~pl.col("_deleted"))

    def frame(self, name: str) -> pl.DataFrame:
        return self.scan(name).collect()


def latest_manifest(*, session: Session, on_or_before: dt.date | None = None) -> LakeImport | None:
    stmt = select(LakeImport).order_by(LakeImport.as_of.desc(), LakeImport.id.desc()).limit(1)
    if on_or_before is not None:
        stmt = stmt.where(LakeImport.as_of <= on_or_before)
    return session.scalars(stmt).first()


def book_as_of(as_of: dt.date, *, session: Session, lake: Lake) -> Book:
    """The book as of ``as_of``: the newest manifest row dated on or before it."""
    row = latest_manifest(session=session, on_or_before=as_of)
    if row is None:
        raise NotFoundError(f"no extract has been imported for {as_of.isoformat()} or earlier")
    return Book(as_of, row.id, row.as_of, {k: int(v) for k, v in row.table_versions.items()}, lake)
