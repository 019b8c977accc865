"""The demo's scores (issue 14, item 7): once a self-cure champion is promoted, the day's decisions carry
a score and the score-driven segments apply, and the demo's line says so; before it, the line says the
segments come from days past due. The demo's trainer waits for enough history and, when no label has
matured, says why instead of stopping the demo. (``make demo`` itself trains from its own history on
day 40: a full 60-day run is too slow for a unit test; the timing is in the closing report.)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine

from factories import imported_book
from recoup.config import get_settings
from recoup.cycle.runner import Cycle
from recoup.db import session_scope
from recoup.demo_scores import TRAIN_AFTER_DAYS, SelfCureChampion, scores_line
from recoup.lake.store import Outputs
from recoup.scoring import registry
from recoup.scoring.features import FEATURES

AS_OF = dt.date(2026, 11, 20)


def test_decisions_carry_scores_once_a_champion_is_promoted(
    own_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOUP_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("RECOUP_LOCALE", "en")
    get_settings.cache_clear()
    lake = imported_book(tmp_path, own_engine, AS_OF, n=800)
    cycle = Cycle(engine=own_engine, lake=lake)
    cycle.run(AS_OF)
    before = scores_line(engine=own_engine, lake=lake, as_of=AS_OF)
    assert "0 of" in before and "no model (segments by days past due)" in before

    # The demo's trainer: nothing before TRAIN_AFTER_DAYS days of history; then a try, which here (one
    # day of history, no matured label) says why and lets the demo go on; with days left it stays quiet
    # and tries again later.
    champ = SelfCureChampion(engine=own_engine, lake=lake, start=AS_OF)
    assert champ.after_day(AS_OF) is None
    start = AS_OF - dt.timedelta(days=TRAIN_AFTER_DAYS - 1)
    champ = SelfCureChampion(engine=own_engine, lake=lake, start=start)
    note = champ.after_day(AS_OF)
    assert note is not None and note.startswith("self-cure model not trained") and "no labelled rows" in note
    assert champ.after_day(AS_OF) is None and not champ.trained  # the next try is days later
    quiet = SelfCureChampion(engine=own_engine, lake=lake, start=start, last=AS_OF + dt.timedelta(days=20))
    assert quiet.after_day(AS_OF) is None and quiet.note is not None  # retries left: nothing printed

    # A champion trained on the day's features with a planted signal: accounts 10 or more days past due
    # seldom cure, so the mild ones among them score below 0.3 (the segment row SEV-LOW-CURE).
    out = Outputs(lake)
    feats = out.read("features", AS_OF)
    assert feats is not None
    feats = feats.sort("loan_id")  # the same rows in the same order on every backend
    dpd = feats.get_column("dpd").fill_null(0).to_numpy()
    target = (np.random.default_rng(0).random(feats.height) < np.where(dpd >= 10, 0.03, 0.9)).astype(int)
    names = [f for f in FEATURES if f != "bureau_score"]
    train = feats.select("as_of", *names).with_columns(self_cure_30=pl.Series(target))
    with session_scope(own_engine) as s:
        row = registry.do_train(
            "self_cure", train, target="self_cure_30", kind="gbm", features=names, session=s
        )
        registry.do_promote("self_cure", row.version, session=s, actor="test")
    cycle.run(AS_OF, force=True)
    decisions = out.read("decisions", AS_OF)
    assert decisions is not None and decisions.height > 0
    assert decisions.get_column("score").null_count() == 0
    scores = out.read("scores", AS_OF)
    assert scores is not None
    low = scores.filter(pl.col("segment_rule") == "SEV-LOW-CURE")
    assert low.height > 0 and (low.get_column("score") < 0.3).all()
    line = scores_line(engine=own_engine, lake=lake, as_of=AS_OF)
    n = f"{decisions.height:,}"
    assert f"{n} of {n} decisions carry a score (100%) from self_cure v1" in line
    assert f"SEV-LOW-CURE {low.height}" in line
    get_settings.cache_clear()
