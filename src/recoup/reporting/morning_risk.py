"""Queries behind the morning view's compliance and strategy sections (services: ``session`` keyword, no
writes). Definitions are those of :mod:`recoup.reporting.compliance_figures`.

- **Blocked attempts**: outbox messages the dispatcher did not send because of the contact policy —
  ``blocked`` at send time, or ``expired`` after the policy deferred them past their validity — with the
  rules of the verdict, for the messages planned on the days asked.
- **Audit violations**: :func:`recoup.contact.policy.audit.audit` (the independent replay) over the days
  asked.
- **QA findings**: ``QaFinding`` rows created on the days asked (local dates), dismissed ones excluded.
- **Holds**: contact holds in force at a moment, stops of collection (停催) in force, collectors stood
  down after a red-line finding.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from recoup.cases.work_models import CaseStop
from recoup.config import Settings
from recoup.contact.models import ContactHold, OutboxMessage, QaFinding, StandDown
from recoup.contact.policy.audit import audit
from recoup.lake.store import Outputs
from recoup.ledger.models import LedgerEntry
from recoup.reporting.morning_data import rows_frame, utc_bounds

__all__ = [
    "blocked_messages",
    "decisions_frame",
    "holds_in_force",
    "logged_against_policy",
    "qa_findings",
    "violations_frame",
]

_ID = pl.Int64()


def blocked_messages(start: dt.date, end: dt.date, *, session: Session) -> pl.DataFrame:
    """Messages planned on [start, end] that the policy stopped: channel, status, rules (List[String])."""
    rows = session.execute(
        select(OutboxMessage.channel, OutboxMessage.status, OutboxMessage.verdict_rules).where(
            OutboxMessage.as_of.between(start, end),
            or_(
                OutboxMessage.status == "blocked",
                (OutboxMessage.status == "expired") & (OutboxMessage.verdict == "deferred"),
            ),
        )
    ).all()
    return pl.DataFrame(
        {
            "channel": [r[0] for r in rows],
            "status": [r[1] for r in rows],
            "rules": [list(r[2] or []) for r in rows],
        },
        schema={"channel": pl.String(), "status": pl.String(), "rules": pl.List(pl.String())},
    )


def violations_frame(start: dt.date, end: dt.date, *, session: Session, settings: Settings) -> pl.DataFrame:
    """The policy audit's violations among attempts made on [start, end]: attempt_id, loan_id (the
    attempt's account, may be null), source (``collector``, ``agency`` …), channel, verdict, rules."""
    found = list(
        audit(
            session=session,
            start=start,
            end=end,
            preset=settings.jurisdiction,
            timezone=settings.timezone,
            domains=settings.link_domains,
            signatures=settings.sms_signatures,
        )
    )
    return pl.DataFrame(
        {
            "attempt_id": [v.attempt_id for v in found],
            "loan_id": [v.debt_key for v in found],
            "source": [v.source for v in found],
            "channel": [v.channel for v in found],
            "verdict": [v.verdict for v in found],
            "rules": [list(v.rules) for v in found],
        },
        schema={
            "attempt_id": _ID,
            "loan_id": pl.String(),
            "source": pl.String(),
            "channel": pl.String(),
            "verdict": pl.String(),
            "rules": pl.List(pl.String()),
        },
    )


def qa_findings(start: dt.date, end: dt.date, *, session: Session, tz: dt.tzinfo) -> pl.DataFrame:
    """Quality-inspection findings created on local dates [start, end] and not dismissed: rule,
    severity, status, agency."""
    lo, hi = utc_bounds(start, end, tz)
    rows = session.execute(
        select(QaFinding.rule, QaFinding.severity, QaFinding.status, QaFinding.agency).where(
            QaFinding.created_at >= lo, QaFinding.created_at < hi, QaFinding.status != "dismissed"
        )
    ).all()
    return rows_frame(
        rows, {"rule": pl.String(), "severity": pl.String(), "status": pl.String(), "agency": pl.String()}
    )


def holds_in_force(at: dt.datetime, today: dt.date, *, session: Session) -> pl.DataFrame:
    """What holds contact back at ``at``: one row per kind — ``kind`` (a contact hold's kind, ``stop:``
    + the reason of a stop of collection in force on ``today``, or ``stand_down``), ``what``
    (``hold``/``stop``/``stand_down``) and ``count``."""
    holds = session.execute(
        select(ContactHold.kind).where(
            ContactHold.start_at <= at, or_(ContactHold.end_at.is_(None), ContactHold.end_at > at)
        )
    ).all()
    stops = session.execute(
        select(CaseStop.reason).where(
            CaseStop.status == "active", or_(CaseStop.expires_on.is_(None), CaseStop.expires_on >= today)
        )
    ).all()
    downs = session.execute(select(StandDown.id).where(StandDown.lifted_at.is_(None))).all()
    rows = (
        [("hold", k) for (k,) in holds]
        + [("stop", f"stop:{r}") for (r,) in stops]
        + [("stand_down", "stand_down") for _ in downs]
    )
    return (
        rows_frame(rows, {"what": pl.String(), "kind": pl.String()})
        .group_by("what", "kind")
        .agg(count=pl.len().cast(pl.Int64))
        .sort(["what", "count", "kind"], descending=[False, True, False])
        .select("kind", "what", "count")
    )


DECISION_COLUMNS = ["as_of", "loan_id", "segment", "overdue_amount", "experiment", "arm"]


def decisions_frame(outputs: Outputs, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The cycle's decisions on [start, end] (``out/decisions``): as_of, loan_id, segment,
    overdue_amount, experiment, arm; empty before the first cycle."""
    schema = {
        "as_of": pl.Date(),
        "loan_id": pl.String(),
        "segment": pl.String(),
        "overdue_amount": _ID,
        "experiment": pl.String(),
        "arm": pl.String(),
    }
    scan = outputs.scan("decisions")
    if scan is None:
        return pl.DataFrame(schema=schema)
    return (
        scan.filter(pl.col("as_of").is_between(start, end)).select(DECISION_COLUMNS).collect().cast(schema)  # type: ignore[arg-type]
    )


def logged_against_policy(start: dt.date, end: dt.date, *, session: Session, tz: dt.tzinfo) -> pl.DataFrame:
    """Calls and visits people logged although the policy's verdict was not ``allowed`` (the ledger's
    ``contact.logged_against_policy`` entries) on local dates [start, end]: case_id, verdict, rules."""
    lo, hi = utc_bounds(start, end, tz)
    rows = session.scalars(
        select(LedgerEntry.payload).where(
            LedgerEntry.kind == "contact.logged_against_policy",
            LedgerEntry.recorded_at >= lo,
            LedgerEntry.recorded_at < hi,
        )
    ).all()
    return pl.DataFrame(
        {
            "case_id": [p.get("case_id") for p in rows],
            "verdict": [p.get("verdict") for p in rows],
            "rules": [list(p.get("rules") or []) for p in rows],
        },
        schema={"case_id": _ID, "verdict": pl.String(), "rules": pl.List(pl.String())},
    )
