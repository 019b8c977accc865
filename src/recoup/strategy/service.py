"""Strategies and experiments as versioned configuration. Services take ``session`` and never commit.

Strategies are stored as kind ``strategy`` under their name; the champion of the daily cycle is the
strategy named ``default`` (saved from :data:`~recoup.strategy.defaults.DEFAULT_STRATEGY` as version 1
on first use) unless an experiment is running. The running experiment is kind ``strategy_experiment``,
name ``current``; a version with ``"active": false`` stops it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.configs.models import ConfigVersion
from recoup.configs.service import do_save_version, get_latest
from recoup.errors import NotFoundError
from recoup.scoring.segments import SEGMENTS
from recoup.strategy.defaults import DEFAULT_NAME, DEFAULT_STRATEGY
from recoup.strategy.definition import Strategy, StrategyError, load_strategy
from recoup.strategy.experiments import Experiment, load_experiment
from recoup.strategy.kernel import Plan

__all__ = [
    "EXPERIMENT_KIND",
    "KIND",
    "current_experiment",
    "do_save_experiment",
    "do_save_strategy",
    "do_stop_experiment",
    "get_strategy",
    "known_segments",
    "list_strategies",
    "load_plan",
]

KIND = "strategy"
EXPERIMENT_KIND = "strategy_experiment"
EXPERIMENT_KEY = "current"


def known_segments(*, session: Session) -> list[str]:
    """The segment values the current segment table can produce (the cycle's stored version, else the
    shipped default) — what a strategy's ``when.segment`` may name."""
    row = get_latest("decision_table", "segment", session=session, missing_ok=True)
    table: dict[str, Any] = row.payload if row is not None else SEGMENTS
    values = {r.get("then", {}).get("segment") for r in table.get("rows", [])}
    values.add((table.get("default") or {}).get("segment"))
    return sorted(v for v in values if isinstance(v, str))


def _row(name: str, version: int | None, *, session: Session) -> ConfigVersion | None:
    if version is None:
        return get_latest(KIND, name, session=session, missing_ok=True)
    stmt = select(ConfigVersion).where(
        ConfigVersion.kind == KIND, ConfigVersion.name == name, ConfigVersion.version == version
    )
    return session.scalars(stmt).first()


def get_strategy(name: str = DEFAULT_NAME, *, session: Session, version: int | None = None) -> Strategy:
    """A stored strategy (the newest version unless ``version``); the default is saved as v1 on first use."""
    row = _row(name, version, session=session)
    if row is None and name == DEFAULT_NAME and version is None:
        row = do_save_version(KIND, name, DEFAULT_STRATEGY, session=session, comment="default ladder")
    if row is None:
        what = f"{name} v{version}" if version is not None else name
        raise NotFoundError(f"no strategy {what} · 没有该策略")
    # Stored versions were checked against the segments when saved; a later segment table must not make
    # a stored strategy unloadable, so segments are not re-checked here.
    return load_strategy(row.payload, version=row.version, segments=None)


def do_save_strategy(
    data: dict[str, Any], *, session: Session, created_by: str = "system", comment: str = ""
) -> Strategy:
    """Validate ``data`` and store it as the next version of its name (an unchanged document returns the
    newest version). Errors name the version it would have become, the node and the field. The read-only
    ``version`` and ``hash`` that ``recoup strategy show --json`` prints are ignored."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("version", "hash")}
    name = data.get("name") if isinstance(data, dict) else None
    latest = get_latest(KIND, name, session=session, missing_ok=True) if isinstance(name, str) else None
    if latest is None and name == DEFAULT_NAME:
        # The shipped ladder stays version 1 (the baseline); an operator's first edit becomes version 2.
        get_strategy(DEFAULT_NAME, session=session)
        latest = get_latest(KIND, DEFAULT_NAME, session=session)
    next_version = (latest.version + 1) if latest is not None else 1
    strategy = load_strategy(data, version=next_version, segments=known_segments(session=session))
    row = do_save_version(
        KIND,
        strategy.name,
        strategy.doc.model_dump(mode="json"),
        session=session,
        created_by=created_by,
        comment=comment,
    )
    return load_strategy(row.payload, version=row.version, segments=None)


def list_strategies(*, session: Session) -> list[tuple[str, int, int]]:
    """(name, newest version, number of versions) of every stored strategy."""
    stmt = (
        select(ConfigVersion.name, func.max(ConfigVersion.version), func.count())
        .where(ConfigVersion.kind == KIND)
        .group_by(ConfigVersion.name)
        .order_by(ConfigVersion.name)
    )
    return [(str(n), int(v), int(c)) for n, v, c in session.execute(stmt)]


def current_experiment(*, session: Session) -> Experiment | None:
    """The running experiment, or None (everyone gets the champion)."""
    row = get_latest(EXPERIMENT_KIND, EXPERIMENT_KEY, session=session, missing_ok=True)
    if row is None or not row.payload.get("active", True):
        return None
    return load_experiment(dict(row.payload))


def do_save_experiment(data: dict[str, Any], *, session: Session, created_by: str = "system") -> Experiment:
    """Validate an experiment (its arms' strategies must exist) and make it the running one."""
    exp = load_experiment(data)
    for i, arm in enumerate(exp.arms):
        try:
            get_strategy(arm.strategy, session=session, version=arm.version)
        except NotFoundError as exc:
            field = f"arms[{i}].{'version' if arm.version is not None else 'strategy'}"
            raise StrategyError(
                f"experiment {exp.name}: {field}: {exc.message}",
                details={"experiment": exp.name, "errors": [{"field": field, "message": exc.message}]},
            ) from None
    do_save_version(
        EXPERIMENT_KIND, EXPERIMENT_KEY, exp.model_dump(mode="json"), session=session, created_by=created_by
    )
    return exp


def do_stop_experiment(*, session: Session, created_by: str = "system") -> Experiment | None:
    """Stop the running experiment (everyone gets the champion from the next cycle); returns it."""
    exp = current_experiment(session=session)
    if exp is not None:
        payload = {**exp.model_dump(mode="json"), "active": False}
        do_save_version(EXPERIMENT_KIND, EXPERIMENT_KEY, payload, session=session, created_by=created_by)
    return exp


def load_plan(*, session: Session) -> Plan:
    """What decides today: the running experiment's arms, else the ``default`` strategy for everyone."""
    exp = current_experiment(session=session)
    if exp is None:
        return Plan(champion=get_strategy(DEFAULT_NAME, session=session))
    arms = {a.name: get_strategy(a.strategy, session=session, version=a.version) for a in exp.arms}
    return Plan(champion=arms[exp.champion.name], experiment=exp, arms=arms)
