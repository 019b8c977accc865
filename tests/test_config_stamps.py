"""The newest configuration stamps are read once per unit of work (configs/cache.py): a version saved in
the unit of work is seen at once, one written behind the session's back only from its next transaction
(SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

from sqlalchemy import insert
from sqlalchemy.orm import Session

from recoup.configs.cache import STAMPS_KEY, latest_stamp, saved_names
from recoup.configs.models import ConfigVersion
from recoup.configs.service import canonical_json, do_save_version


def test_stamps_follow_saves_in_the_unit_of_work_and_new_transactions(session: Session) -> None:
    assert latest_stamp("test_kind", "a", session=session) is None
    assert STAMPS_KEY in session.info  # read once …
    v1 = do_save_version("test_kind", "a", {"x": 1}, session=session)
    assert STAMPS_KEY not in session.info  # … and forgotten when a version is flushed
    assert latest_stamp("test_kind", "a", session=session) == (1, v1.content_sha256)
    do_save_version("test_kind", "b", {"x": 2}, session=session)
    assert saved_names("test_kind", session=session) == ["a", "b"]

    # Written without the ORM (as another process would): this unit of work keeps its snapshot …
    payload = {"x": 3}
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    session.execute(
        insert(ConfigVersion).values(
            kind="test_kind", name="a", version=2, payload=payload, content_sha256=digest, created_by="t"
        )
    )
    assert latest_stamp("test_kind", "a", session=session) == (1, v1.content_sha256)
    # … and the next transaction sees it.
    session.commit()
    assert latest_stamp("test_kind", "a", session=session) == (2, digest)
