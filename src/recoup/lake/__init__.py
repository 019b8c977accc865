"""The lake: Delta tables per dataset, the import manifest, and "the book as of D"."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings
from recoup.lake.book import Book, latest_manifest
from recoup.lake.book import book_as_of as _book_as_of
from recoup.lake.store import ApplyResult, Lake

__all__ = ["ApplyResult", "Book", "Lake", "book_as_of", "get_lake", "latest_manifest"]


def get_lake(settings: Settings | None = None) -> Lake:
    return Lake((settings or get_settings()).lake_uri)


def book_as_of(as_of: dt.date, *, session: Session, lake: Lake | None = None) -> Book:
    """The state of every dataset as of ``as_of``, resolved through the ``lake_import`` manifest."""
    return _book_as_of(as_of, session=session, lake=lake or get_lake())
