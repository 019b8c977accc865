"""The ``lake_import`` manifest: readers resolve "the book as of D" only through it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class LakeImport(Base):
    """One row per committed import: the Delta version of every dataset table as of ``as_of``.

    Rows are append-only; for a date D the newest row with ``as_of <= D`` defines the book.
    """

    __tablename__ = "lake_import"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "day" (a directory) or "file"
    table_versions: Mapped[dict[str, int]] = mapped_column(JSON)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
