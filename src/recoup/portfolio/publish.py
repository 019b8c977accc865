"""One day, one publication: when a day's files make the book as of that day readable.

A day is published by its ``lake_import`` manifest row (readers resolve "the book as of D" only through
it). ``recoup import DIR`` applies a whole day and publishes it at once. A single-file import adds its
file to the day (a Delta commit tagged with the day) and publishes the day only when the day is
complete — every dataset the lender's mapping declares (``[day] datasets``, else the datasets its
``[files]`` names) has a file applied for the day — or when ``--publish`` asks, or when the day was
published before (a correction of a published day is published again). Until then the day stays
invisible, exactly as a day whose import crashed midway.

What a day holds is read from the lake itself: the commits since the previous day's manifest that are
tagged with this day and carry a file's hash. No other state is kept, so a crash at any point leaves
nothing to repair.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.lake import Lake, latest_manifest
from recoup.lake.models import LakeImport
from recoup.lake.store import AS_OF_KEY, SHA_KEY
from recoup.portfolio.spec import DATASETS

SOURCE_KEY = "recoup.source"


@dataclass
class DayStatus:
    """What the lake holds for one day that no manifest row publishes yet."""

    as_of: dt.date
    declared: tuple[str, ...]
    #: datasets with a file applied for this day (published or not)
    present: tuple[str, ...] = ()
    #: a manifest row for this very day exists
    published_before: bool = False
    #: files applied since the newest manifest row (of this day or an earlier one that was never
    #: published): dataset, file, sha256, version, as_of
    pending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        """Declared datasets with no file for the day yet."""
        return [d for d in self.declared if d not in self.present]

    @property
    def complete(self) -> bool:
        return self.published_before or (bool(self.declared) and not self.missing)

    @property
    def unpublished_days(self) -> list[dt.date]:
        """Earlier days whose files reached the lake but were never published (they join this day's book)."""
        days = {dt.date.fromisoformat(str(p["as_of"])) for p in self.pending}
        return sorted(d for d in days if d < self.as_of)


def day_status(as_of: dt.date, declared: tuple[str, ...], *, lake: Lake, session: Session) -> DayStatus:
    """The state of the day ``as_of`` in the lake, against the datasets ``declared`` for a complete day."""
    before = latest_manifest(session=session, on_or_before=as_of - dt.timedelta(days=1))
    newest = latest_manifest(session=session)
    since = {k: int(v) for k, v in before.table_versions.items()} if before is not None else {}
    newest_pins = {k: int(v) for k, v in newest.table_versions.items()} if newest is not None else {}
    present: set[str] = set()
    pending: list[dict[str, Any]] = []
    day = as_of.isoformat()
    for name in DATASETS:
        for commit in lake.commits_after(name, since.get(name, -1)):
            tagged, sha = commit.get(AS_OF_KEY), commit.get(SHA_KEY)
            if sha is None or tagged is None:
                continue  # not a file's commit (a key rotation re-encrypting a column)
            if str(tagged) == day:
                present.add(name)
            version = int(commit.get("version", -1))
            if version > newest_pins.get(name, -1) and str(tagged) <= day:
                pending.append(
                    {
                        "dataset": name,
                        "file": commit.get(SOURCE_KEY),
                        "sha256": sha,
                        "version": version,
                        "as_of": str(tagged),
                    }
                )
    published = (
        session.scalars(select(LakeImport.id).where(LakeImport.as_of == as_of).limit(1)).first() is not None
    )
    return DayStatus(
        as_of,
        declared,
        tuple(n for n in DATASETS if n in present),
        published,
        sorted(pending, key=lambda p: (p["as_of"], list(DATASETS).index(p["dataset"]), p["version"])),
    )
