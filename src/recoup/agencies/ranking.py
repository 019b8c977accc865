"""The monthly ranking of agencies (赛马) and next month's shares; the per-agency report.

A month's figures per agency come from :func:`recoup.agencies.commission.month_figures` (placements active
in the month, amount placed, collections credited during the placements, complaints, commission); the
ranking and the shares are :func:`recoup.agencies.kernel.rank_agencies` and
:func:`~recoup.agencies.kernel.next_shares`. :func:`do_set_next_shares` stores the shares for the month
after (each with the ranking row that set it) — the placement batches of that month use them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from recoup.agencies.commission import month_bounds, month_figures
from recoup.agencies.kernel import DEFAULT_COMPLAINT_VETO, PERFORMANCE_SCHEMA, next_shares, rank_agencies
from recoup.agencies.models import Agency, AgencyShare
from recoup.ledger.service import do_append
from recoup.strategy.models import WorkTask

__all__ = ["agency_report", "awaiting_placement", "do_set_next_shares", "next_month"]


def next_month(month: str) -> str:
    """The month after ``month`` (YYYY-MM)."""
    _start, end = month_bounds(month)
    return (end + dt.timedelta(days=1)).strftime("%Y-%m")


def awaiting_placement(*, session: Session) -> int:
    """Open agency_placement tasks on cases not placed yet (what the next batch may take)."""
    from recoup.agencies.models import Placement

    live = select(Placement.case_id).where(Placement.status.in_(("pending_notice", "active")))
    return int(
        session.scalar(
            select(func.count(func.distinct(WorkTask.case_id))).where(
                WorkTask.treatment == "agency_placement",
                WorkTask.status == "open",
                WorkTask.case_id.is_not(None),
                WorkTask.case_id.not_in(live),
            )
        )
        or 0
    )


def agency_report(
    month: str, *, session: Session, tz: dt.tzinfo, veto_per_10k: float = DEFAULT_COMPLAINT_VETO
) -> list[dict[str, Any]]:
    """Per agency for ``month``: code, name, status, placements, placed_amount, collected, recovery_bp,
    gross, complaint_penalty, qa_penalty, payable, complaints, complaints_per_10k, vetoed, rank and
    next_share_bp (the share the ranking gives it for the month after)."""
    figures = month_figures(month, session=session, tz=tz)
    agencies = list(session.scalars(select(Agency).order_by(Agency.code)))
    if not agencies:
        return []
    perf = pl.DataFrame(
        [
            {
                "agency_id": a.id,
                "cases": int(figures.totals_of(a.id)["placements"]),
                "placed_amount": int(figures.totals_of(a.id)["placed_amount"]),
                "collected": int(figures.totals_of(a.id)["collected"]),
                "complaints": int(figures.totals_of(a.id)["complaints"]),
            }
            for a in agencies
        ],
        schema=PERFORMANCE_SCHEMA,
    )
    ranked = rank_agencies(perf, complaint_veto_per_10k=veto_per_10k)
    eligible = ranked.filter(
        pl.col("agency_id").is_in([a.id for a in agencies if a.status == "whitelisted"])
    ).with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
    shares = (
        dict(next_shares(eligible).select("agency_id", "share_bp").iter_rows()) if eligible.height else {}
    )
    rows = {r["agency_id"]: r for r in ranked.iter_rows(named=True)}
    out: list[dict[str, Any]] = []
    for a in agencies:
        t, r = figures.totals_of(a.id), rows[a.id]
        out.append(
            {
                "agency_id": a.id,
                "code": a.code,
                "name": a.name,
                "status": a.status,
                "placements": int(t["placements"]),
                "placed_amount": int(t["placed_amount"]),
                "collected": int(t["collected"]),
                "recovery_bp": int(r["recovery_bp"]),
                "gross": int(t["gross"]),
                "complaint_penalty": int(t["complaint_penalty"]),
                "qa_penalty": int(t["qa_penalty"]),
                "payable": int(t["payable"]),
                "complaints": int(t["complaints"]),
                "complaints_per_10k": float(r["complaints_per_10k"]),
                "vetoed": bool(r["vetoed"]),
                "rank": int(r["rank"]),
                "next_share_bp": int(shares.get(a.id, 0)),
            }
        )
    out.sort(key=lambda row: int(row["rank"]))
    return out


def do_set_next_shares(
    month: str, *, session: Session, actor: str, tz: dt.tzinfo, veto_per_10k: float = DEFAULT_COMPLAINT_VETO
) -> list[AgencyShare]:
    """Rank the white-listed agencies on ``month`` and store their shares of the month after (replacing
    any stored for it). Audited as ``agency.shares``."""
    target = next_month(month)
    rows = [
        r
        for r in agency_report(month, session=session, tz=tz, veto_per_10k=veto_per_10k)
        if r["status"] == "whitelisted"
    ]
    session.execute(delete(AgencyShare).where(AgencyShare.month == target))
    made = []
    for rank, r in enumerate(rows, start=1):
        share = AgencyShare(
            month=target,
            agency_id=r["agency_id"],
            share_bp=r["next_share_bp"],
            rank=rank,
            basis={
                "ranked_on": month,
                "recovery_bp": r["recovery_bp"],
                "complaints_per_10k": r["complaints_per_10k"],
                "vetoed": r["vetoed"],
            },
            set_by=actor,
        )
        session.add(share)
        made.append(share)
    session.flush()
    do_append(
        "agency.shares",
        {"month": target, "ranked_on": month, "shares": {str(s.agency_id): s.share_bp for s in made}},
        session=session,
        actor=actor,
    )
    return made
