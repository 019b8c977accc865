"""The demo's self-cure champion (issue 14, item 7): once the simulated lender has enough history, the
demo builds a training table from its own lake, trains ``self_cure`` and promotes it — through the
services a lender uses (:func:`recoup.scoring.table.build_table`, :func:`~recoup.scoring.registry.do_train`,
:func:`~recoup.scoring.registry.do_promote`) — so the later days' cycle scores the accounts in
collections and the segments and the ladder's score rows apply. :func:`scores_line` says what share of
the day's decisions carry a score and which score-driven segments and strategy rows were used.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import Engine

from recoup.errors import RecoupError
from recoup.i18n import _
from recoup.lake import Lake

__all__ = ["TRAIN_AFTER_DAYS", "SelfCureChampion", "scores_line"]

#: Days of history before the demo trains: the 30-day self-cure window plus ten labelled as-of dates.
TRAIN_AFTER_DAYS = 40
RETRY_DAYS = 5
MODEL = "self_cure"
TARGET = "self_cure_30"


class SelfCureChampion:
    """Trains and promotes the demo's self-cure champion on the first day with enough history; when the
    labels are still too few (a small demo lender), tries again every :data:`RETRY_DAYS` days."""

    def __init__(self, *, engine: Engine, lake: Lake, start: dt.date, last: dt.date | None = None) -> None:
        self.engine, self.lake, self.start, self.last = engine, lake, start, last
        self.next_try = start + dt.timedelta(days=TRAIN_AFTER_DAYS - 1)
        self.trained = False
        self.note: str | None = None  # what happened, for the demo's output

    def after_day(self, day: dt.date) -> str | None:
        """Call after the cycle of ``day``: returns what to print (the model promoted, or why none could
        be trained when no try is left), else None."""
        if self.trained or day < self.next_try:
            return None
        try:
            self.note = self._train(day)
        except (RecoupError, ValueError) as exc:  # too few labels, one class only: the demo goes on unscored
            self.next_try = day + dt.timedelta(days=RETRY_DAYS)
            reason = exc.message if isinstance(exc, RecoupError) else str(exc)
            self.note = _("self-cure model not trained: {reason}").format(reason=reason)
            return self.note if self.last is None or self.next_try > self.last else None
        self.trained = True
        return self.note

    def _train(self, day: dt.date) -> str:
        from recoup.db import session_scope
        from recoup.lake import book_as_of
        from recoup.lake.store import Outputs
        from recoup.scoring.features import FEATURES
        from recoup.scoring.registry import do_promote, do_train
        from recoup.scoring.table import TARGETS, build_table

        end = day - dt.timedelta(days=TARGETS[TARGET])
        with session_scope(self.engine) as session:
            book = book_as_of(day, session=session, lake=self.lake)
        # Every delinquent account-day: a demo lender is small, one day per account and month too few.
        frame = build_table(Outputs(self.lake), book, target=TARGET, start=self.start, end=end, sample="all")
        with session_scope(self.engine) as session:
            row = do_train(
                MODEL,
                frame,
                target=TARGET,
                kind="gbm",
                features=list(FEATURES),
                session=session,
                created_by="demo",
            )
            do_promote(MODEL, row.version, session=session, actor="demo")
            auc, version, rows = float(row.metrics["auc"]), row.version, row.n_train
        return _(
            "self-cure model {model} v{version} trained on the demo's own history ({rows} account-days, "
            "{start} → {end}), holdout AUC {auc}, promoted champion: the cycle scores accounts from {next}"
        ).format(
            model=MODEL,
            version=version,
            rows=f"{rows:,}",
            start=self.start,
            end=end,
            auc=f"{auc:.3f}",
            next=day + dt.timedelta(days=1),
        )


def _score_rules(table: dict[str, Any] | Any) -> set[str]:
    """Ids of the rows of a decision table or strategy whose condition tests ``score``."""
    rows = table.get("rows", []) if isinstance(table, dict) else getattr(table, "rows", [])
    out = set()
    for r in rows:
        when = r.get("when", {}) if isinstance(r, dict) else r.when
        if "score" in when:
            out.add(str(r.get("id") if isinstance(r, dict) else r.id))
    return out


def scores_line(*, engine: Engine, lake: Lake, as_of: dt.date) -> str:
    """The share of ``as_of``'s decisions that carry a score, by which model, and the score-driven
    segment rules and strategy rows that decided."""
    from recoup.configs.service import get_latest
    from recoup.db import session_scope
    from recoup.lake.store import Outputs
    from recoup.scoring.segments import SEGMENTS
    from recoup.strategy.service import load_plan

    out = Outputs(lake)
    decisions, scores = out.read("decisions", as_of), out.read("scores", as_of)
    if decisions is None or not decisions.height:
        return _("scores: no decisions on {as_of}").format(as_of=as_of)
    with session_scope(engine) as session:
        row = get_latest("decision_table", "segment", session=session, missing_ok=True)
        segment_rules = _score_rules(row.payload if row is not None else SEGMENTS)
        ladder_rules = set().union(*(_score_rules(s.doc) for s in load_plan(session=session).strategies()))
    scored = decisions.filter(decisions.get_column("score").is_not_null())
    models = sorted(
        {m for m in (scores.get_column("model_version").to_list() if scores is not None else []) if m}
    )
    seg = Counter(
        r
        for r in (scores.get_column("segment_rule").to_list() if scores is not None else [])
        if r in segment_rules
    )
    nodes = Counter(n for n in decisions.get_column("node").to_list() if n in ladder_rules)
    listed = ", ".join(f"{k} {v}" for k, v in sorted(seg.items())) or _("none")
    ladder = ", ".join(f"{k} {v}" for k, v in sorted(nodes.items())) or _("none")
    return _(
        "scores on {as_of}: {scored} of {total} decisions carry a score ({share}) from {models}; "
        "score-driven segments: {segments}; score-driven strategy rows: {rows}"
    ).format(
        as_of=as_of,
        scored=f"{scored.height:,}",
        total=f"{decisions.height:,}",
        share=f"{scored.height / decisions.height:.0%}",
        models=", ".join(models) or _("no model (segments by days past due)"),
        segments=listed,
        rows=ladder,
    )
