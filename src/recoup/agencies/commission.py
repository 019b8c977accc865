"""A month's commission from the database: the inputs of :func:`recoup.agencies.kernel.commission`.

- **Placements** of the month (active on any day of it), with their bucket and amount at placement.
- **Collections credited to the agency**: the payments of the month credited under the payment-credit
  rules (回款归属, :func:`recoup.reporting.morning_credit.credited_frame`) to a user on the agency's
  staff register; the kernel keeps those received on days the placement was active.
- **Rates**: the rate card of the contract in force on the month's last day (else the latest contract
  overlapping the month); ``*`` stands for every bucket the card does not name.
- **Penalties**: the contract's complaint penalty for each complaint received in the month against the
  agency (the complaints register, :mod:`recoup.complaints`: complaints naming the agency, or made on a
  case while it was placed with it; a complaint closed as not upheld or withdrawn is not penalised), and
  its QA penalty for each red-line quality-inspection finding of the month on the agency's calls (not
  dismissed). Without a complaints register the complaint penalties are zero and the statement says so.

A service: ``session`` keyword, no writes.
"""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from recoup.agencies.errors import invalid
from recoup.agencies.kernel import (
    CREDITED_SCHEMA,
    PENALTIES_SCHEMA,
    PLACEMENTS_SCHEMA,
    RATES_SCHEMA,
    commission,
)
from recoup.agencies.models import Agency, AgencyContract, AgencyStaff, Placement
from recoup.auth.models import AppUser
from recoup.contact.models import QaFinding
from recoup.reporting.morning_credit import credited_frame

__all__ = [
    "MonthFigures",
    "complaint_rows",
    "contract_for_month",
    "month_bounds",
    "month_figures",
]

#: Complaint outcomes that carry no penalty.
NOT_PENALISED: Final = ("not_upheld", "withdrawn")


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """The first and last day of ``month`` (``YYYY-MM``)."""
    try:
        start = dt.datetime.strptime(month, "%Y-%m").date()
    except (TypeError, ValueError):
        raise invalid("month", month, "must be YYYY-MM", "月份格式须为 YYYY-MM") from None
    if start.year >= 9999 or start.year < 1970:
        raise invalid("month", month, "is out of range", "月份超出范围")
    nxt = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start, nxt - dt.timedelta(days=1)


@dataclass
class MonthFigures:
    """The month's commission: kernel lines and totals, with the contracts and the penalty events used."""

    month: str
    start: dt.date
    end: dt.date
    lines: pl.DataFrame
    totals: pl.DataFrame
    contracts: dict[int, AgencyContract | None] = field(default_factory=dict)
    penalties: list[dict[str, Any]] = field(default_factory=list)
    complaints_source: str = ""

    def lines_of(self, agency_id: int) -> list[dict[str, Any]]:
        return self.lines.filter(pl.col("agency_id") == agency_id).drop("agency_id").to_dicts()

    def totals_of(self, agency_id: int) -> dict[str, Any]:
        rows = self.totals.filter(pl.col("agency_id") == agency_id).to_dicts()
        if rows:
            return rows[0]
        zero = dict.fromkeys(self.totals.columns, 0)
        return {**zero, "agency_id": agency_id}


def contract_for_month(
    agency_id: int, start: dt.date, end: dt.date, *, session: Session
) -> AgencyContract | None:
    """The contract in force on ``end``, else the latest-starting one overlapping [start, end]."""
    rows = session.scalars(
        select(AgencyContract)
        .where(
            AgencyContract.agency_id == agency_id,
            AgencyContract.start_date <= end,
            AgencyContract.end_date >= start,
        )
        .order_by(AgencyContract.start_date.desc(), AgencyContract.id.desc())
    ).all()
    for c in rows:
        if c.start_date <= end <= c.end_date:
            return c
    return rows[0] if rows else None


def _frame(rows: list[tuple[Any, ...]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


def _placements(agency_ids: list[int], start: dt.date, end: dt.date, *, session: Session) -> pl.DataFrame:
    rows = session.execute(
        select(
            Placement.id,
            Placement.agency_id,
            Placement.case_id,
            Placement.bucket,
            Placement.placed_amount,
            Placement.start_date,
            Placement.ended_on,
        ).where(
            Placement.agency_id.in_(agency_ids),
            Placement.start_date.is_not(None),
            Placement.start_date <= end,
            or_(Placement.ended_on.is_(None), Placement.ended_on > start),
        )
    ).all()
    return _frame([tuple(r) for r in rows], PLACEMENTS_SCHEMA)


def _credited(start: dt.date, end: dt.date, *, session: Session) -> pl.DataFrame:
    staff = _frame(
        [tuple(r) for r in session.execute(select(AgencyStaff.user_id, AgencyStaff.agency_id)).all()],
        {"credited_id": pl.Int64(), "agency_id": pl.Int64()},
    )
    credit = credited_frame(start, end, session=session)
    return (
        credit.filter(pl.col("credited_kind") == "agency")
        .join(staff, on="credited_id", how="left")
        .select(*CREDITED_SCHEMA)
        .cast(CREDITED_SCHEMA)  # type: ignore[arg-type]
    )


def _rates(contracts: dict[int, AgencyContract | None], placements: pl.DataFrame) -> pl.DataFrame:
    rows: list[tuple[int, str, int, int]] = []
    for agency_id, contract in contracts.items():
        if contract is None:
            continue
        card = {str(e["bucket"]): e["tiers"] for e in contract.rates}
        buckets = set(placements.filter(pl.col("agency_id") == agency_id).get_column("bucket").to_list())
        for bucket in sorted(buckets | (set(card) - {"*"})):
            tiers = card.get(bucket, card.get("*"))
            for t in tiers or []:
                rows.append((agency_id, bucket, int(t["min_recovery_bp"]), int(t["rate_bp"])))
    return _frame(rows, RATES_SCHEMA)


def complaint_rows(
    agencies: list[Agency], start: dt.date, end: dt.date, *, session: Session
) -> tuple[list[tuple[int, int, dt.date]], str]:
    """(agency_id, complaint id, received_on) of the complaints of [start, end] penalised against each
    agency, and where they came from (``register``, or ``none`` without a complaints register)."""
    try:
        models = importlib.import_module("recoup.complaints.models")
    except ModuleNotFoundError:
        return [], "none"
    complaint = models.Complaint
    by_code = {a.code: a.id for a in agencies}
    found = session.execute(
        select(complaint.id, complaint.agency, complaint.case_id, complaint.received_on).where(
            complaint.kind == "complaint",
            complaint.received_on.between(start, end),
            or_(complaint.outcome.is_(None), complaint.outcome.not_in(NOT_PENALISED)),
        )
    ).all()
    out: list[tuple[int, int, dt.date]] = []
    for cid, code, case_id, received in found:
        if code:
            if code in by_code:
                out.append((by_code[code], int(cid), received))
            continue
        if case_id is None:
            continue
        placed = session.scalars(
            select(Placement.agency_id).where(
                Placement.case_id == case_id,
                Placement.agency_id.in_(list(by_code.values())),
                Placement.start_date.is_not(None),
                Placement.start_date <= received,
                or_(Placement.ended_on.is_(None), Placement.ended_on > received),
            )
        ).first()
        if placed is not None:
            out.append((int(placed), int(cid), received))
    return out, "register"


def _qa_rows(
    agencies: list[Agency], start: dt.date, end: dt.date, tz: dt.tzinfo, *, session: Session
) -> list[tuple[int, int, dt.date]]:
    """(agency_id, finding id, day found) of the red-line findings of the month on each agency's calls."""
    lo = dt.datetime.combine(start, dt.time(), tzinfo=tz)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    by_code = {a.code: a.id for a in agencies}
    staff = dict(
        session.execute(
            select(AppUser.username, AgencyStaff.agency_id).join(
                AgencyStaff, AgencyStaff.user_id == AppUser.id
            )
        ).all()
    )
    rows = session.execute(
        select(QaFinding.id, QaFinding.agency, QaFinding.made_by, QaFinding.created_at).where(
            QaFinding.severity == "red_line",
            QaFinding.status != "dismissed",
            QaFinding.created_at >= lo,
            QaFinding.created_at < hi,
        )
    ).all()
    out: list[tuple[int, int, dt.date]] = []
    for fid, code, made_by, created in rows:
        agency_id = by_code.get(code or "") or staff.get(made_by)
        if agency_id is not None and agency_id in by_code.values():
            out.append((int(agency_id), int(fid), created.astimezone(tz).date()))
    return out


def month_figures(
    month: str, *, session: Session, tz: dt.tzinfo, agency_ids: list[int] | None = None
) -> MonthFigures:
    """The commission of ``month`` for the agencies given (default: every agency)."""
    start, end = month_bounds(month)
    query = select(Agency).order_by(Agency.code)
    if agency_ids is not None:
        query = query.where(Agency.id.in_(agency_ids))
    agencies = list(session.scalars(query))
    ids = [a.id for a in agencies]
    contracts = {a.id: contract_for_month(a.id, start, end, session=session) for a in agencies}
    placements = _placements(ids, start, end, session=session)
    credited = _credited(start, end, session=session) if placements.height else _frame([], CREDITED_SCHEMA)
    complaints, source = complaint_rows(agencies, start, end, session=session)
    qa = _qa_rows(agencies, start, end, tz, session=session)
    events: list[dict[str, Any]] = []
    pen_rows: list[tuple[int, str, int]] = []
    for agency_id, cid, received in complaints:
        c = contracts.get(agency_id)
        amount = c.complaint_penalty if c is not None else 0
        pen_rows.append((agency_id, "complaint", amount))
        events.append(
            {
                "agency_id": agency_id,
                "kind": "complaint",
                "ref": cid,
                "on": received.isoformat(),
                "amount": amount,
            }
        )
    for agency_id, fid, found in qa:
        c = contracts.get(agency_id)
        amount = c.qa_penalty if c is not None else 0
        pen_rows.append((agency_id, "qa", amount))
        events.append(
            {"agency_id": agency_id, "kind": "qa", "ref": fid, "on": found.isoformat(), "amount": amount}
        )
    lines, totals = commission(
        placements,
        credited,
        _rates(contracts, placements),
        _frame(pen_rows, PENALTIES_SCHEMA),
        start=start,
        end=end,
    )
    return MonthFigures(month, start, end, lines, totals, contracts, events, source)
