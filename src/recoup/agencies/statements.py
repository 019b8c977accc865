"""Monthly commission statements (佣金结算单): issued by the lender after the month ends, confirmed by both
sides — the lender (a user with ``agency.manage``, never one of the agency's) and the agency (one of its
staff). The statement's figures are hashed (SHA-256 of their canonical JSON) and the hash goes to the
ledger with the issue and with each confirmation, so both sides confirmed the same figures. A statement
with any confirmation is frozen; an unconfirmed one is reissued in place (recomputed).

Services take ``session`` and never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.agencies.commission import month_bounds, month_figures
from recoup.agencies.errors import StatementError, invalid
from recoup.agencies.models import Agency, AgencyStatement
from recoup.agencies.staff import agency_of_user
from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.configs.service import canonical_json
from recoup.db import utcnow
from recoup.errors import NotFoundError
from recoup.ledger.service import do_append

__all__ = [
    "SIDES",
    "do_confirm_statement",
    "do_issue_statement",
    "get_statement",
    "list_statements",
    "statement_hash",
]

SIDES: Final = ("lender", "agency")


def statement_hash(
    agency_code: str,
    month: str,
    lines: list[dict[str, Any]],
    totals: dict[str, Any],
    penalties: list[dict[str, Any]],
) -> str:
    """SHA-256 (hex) of the statement's figures."""
    body = {"agency": agency_code, "month": month, "lines": lines, "totals": totals, "penalties": penalties}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _totals(s: AgencyStatement) -> dict[str, Any]:
    return {
        "collected": s.collected,
        "gross": s.gross,
        "complaint_penalty": s.complaint_penalty,
        "qa_penalty": s.qa_penalty,
        "net": s.net,
        "payable": s.payable,
    }


def get_statement(statement_id: int, *, session: Session) -> AgencyStatement:
    found = session.get(AgencyStatement, statement_id)
    if found is None:
        raise NotFoundError(
            f"no statement {statement_id} / 结算单 {statement_id} 不存在",
            details={"statement_id": statement_id},
        )
    return found


def list_statements(
    *, session: Session, agency_id: int | None = None, month: str | None = None
) -> list[AgencyStatement]:
    """Statements, newest month first (one agency's, one month's, or all)."""
    query = select(AgencyStatement).order_by(AgencyStatement.month.desc(), AgencyStatement.agency_id)
    if agency_id is not None:
        query = query.where(AgencyStatement.agency_id == agency_id)
    if month is not None:
        query = query.where(AgencyStatement.month == month)
    return list(session.scalars(query))


def do_issue_statement(
    agency: Agency, month: str, *, session: Session, actor: AppUser | str, tz: dt.tzinfo, today: dt.date
) -> AgencyStatement:
    """Compute and issue ``agency``'s statement for ``month`` (a month that has ended by ``today``)."""
    _start, end = month_bounds(month)
    if today <= end:
        raise invalid("month", month, f"has not ended yet (today is {today})", "该月尚未结束")
    who = actor if isinstance(actor, str) else actor.username
    if not isinstance(actor, str) and (
        agency_of_user(actor.id, session=session) is not None or "agency" in actor.role_names
    ):
        raise StatementError(
            "an agency cannot issue its own statement / 机构不能自行出具结算单", details={"month": month}
        )
    figures = month_figures(month, session=session, tz=tz, agency_ids=[agency.id])
    lines = figures.lines_of(agency.id)
    totals = figures.totals_of(agency.id)
    penalties = [
        {k: v for k, v in e.items() if k != "agency_id"}
        for e in figures.penalties
        if e["agency_id"] == agency.id
    ]
    contract = figures.contracts.get(agency.id)
    found = session.scalars(
        select(AgencyStatement).where(AgencyStatement.agency_id == agency.id, AgencyStatement.month == month)
    ).one_or_none()
    if found is not None and (found.lender_confirmed_at or found.agency_confirmed_at):
        raise StatementError(
            f"the statement of {agency.code} for {month} has a confirmation: it cannot be reissued"
            " / 结算单已确认，不能重出",
            details={"statement_id": found.id},
        )
    s = found or AgencyStatement(agency_id=agency.id, month=month, issued_by=who, sha256="")
    s.contract_id = contract.id if contract is not None else None
    s.lines, s.penalties = lines, penalties
    s.collected, s.gross = int(totals["collected"]), int(totals["gross"])
    s.complaint_penalty, s.qa_penalty = int(totals["complaint_penalty"]), int(totals["qa_penalty"])
    s.net, s.payable = int(totals["net"]), int(totals["payable"])
    s.complaints_source = figures.complaints_source
    s.status, s.issued_by, s.issued_at = "issued", who, utcnow()
    s.sha256 = statement_hash(agency.code, month, lines, _totals(s), penalties)
    if found is None:
        session.add(s)
    session.flush()
    do_append(
        "agency.statement_issued",
        {
            "statement_id": s.id,
            "agency_id": agency.id,
            "month": month,
            "sha256": s.sha256,
            "payable": s.payable,
        },
        session=session,
        actor=who,
    )
    return s


def do_confirm_statement(
    statement: AgencyStatement, user: AppUser, side: str, *, session: Session
) -> AgencyStatement:
    """One side confirms the statement: ``lender`` (``agency.manage``, not one of an agency's users) or
    ``agency`` (a user on that agency's staff register). Confirmed by both: ``confirmed``."""
    if side not in SIDES:
        raise invalid("side", side, "must be lender or agency", "确认方须为 lender 或 agency")
    mine = agency_of_user(user.id, session=session)
    if side == "lender":
        if mine is not None or "agency" in user.role_names or not has_permission(user, "agency.manage"):
            raise StatementError(
                "the lender's side is confirmed by a user with agency.manage / 出借方须由委外管理人员确认",
                details={"statement_id": statement.id},
            )
        if statement.lender_confirmed_at is not None:
            raise StatementError(
                "the lender confirmed already / 出借方已确认", details={"statement_id": statement.id}
            )
        statement.lender_confirmed_by, statement.lender_confirmed_at = user.username, utcnow()
    else:
        if mine is None or mine.id != statement.agency_id:
            raise NotFoundError(
                f"no statement {statement.id} / 结算单不存在", details={"statement_id": statement.id}
            )
        if statement.agency_confirmed_at is not None:
            raise StatementError(
                "the agency confirmed already / 机构已确认", details={"statement_id": statement.id}
            )
        statement.agency_confirmed_by, statement.agency_confirmed_at = user.username, utcnow()
    if statement.lender_confirmed_at is not None and statement.agency_confirmed_at is not None:
        statement.status = "confirmed"
    session.flush()
    do_append(
        "agency.statement_confirmed",
        {"statement_id": statement.id, "side": side, "sha256": statement.sha256, "status": statement.status},
        session=session,
        actor=user.username,
    )
    return statement
