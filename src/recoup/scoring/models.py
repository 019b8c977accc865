"""``model_version``: the model registry. One row per trained version of a named model; at most one
``champion`` per name (the service enforces it; a partial unique index backs it on both engines)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow

#: Lifecycle of a version: trained → candidate → champion → retired (never back).
STATUSES = ("candidate", "champion", "retired")

_ONE_CHAMPION = text("status = 'champion'")


class ModelVersion(Base):
    __tablename__ = "model_version"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        Index(
            "uq_model_version_champion",
            "name",
            unique=True,
            sqlite_where=_ONE_CHAMPION,
            postgresql_where=_ONE_CHAMPION,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # gbm / scorecard
    target: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), default="candidate")
    features: Mapped[list[str]] = mapped_column(JSON)
    monotone: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    train_start: Mapped[dt.date] = mapped_column(Date)
    train_end: Mapped[dt.date] = mapped_column(Date)
    n_train: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    artefact_uri: Mapped[str] = mapped_column(String(1000))
    artefact_sha256: Mapped[str] = mapped_column(String(64))
    card: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    promoted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(120), default="system")
