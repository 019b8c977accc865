"""``/api/v1/writeback…``: write-back instructions to the core system, for operations (``report.view``).
Amounts are decimal strings in major units; the rules are :mod:`recoup.writeback` (docs/writeback.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from recoup.auth.models import AppUser
from recoup.config import Settings
from recoup.web.deps import DbSession, require
from recoup.writeback.models import WritebackInstruction
from recoup.writeback.service import exceptions, get_instruction, list_instructions, to_record

router = APIRouter(tags=["writeback"])

Viewer = Annotated[AppUser, require("report.view")]


def _out(row: WritebackInstruction, s: Settings) -> dict[str, Any]:
    return {
        **to_record(row, s),
        "status": row.status,
        "sent_on": row.sent_on,
        "confirmed_extract": row.confirmed_extract,
        "stale_on": row.stale_on,
        "ack_status": row.ack_status,
        "reason": row.reason,
        "resolved_at": row.resolved_at,
    }


@router.get("/writeback")
def list_route(
    request: Request,
    user: Viewer,
    session: DbSession,
    status: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    on: Annotated[dt.date | None, Query(alias="date")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Instructions, newest first, filtered by status, kind and business date."""
    s: Settings = request.app.state.settings
    rows = list_instructions(session=session, status=status, kind=kind, on=on, limit=limit)
    return {"instructions": [_out(r, s) for r in rows]}


@router.get("/writeback/exceptions")
def exceptions_route(request: Request, user: Viewer, session: DbSession) -> dict[str, Any]:
    """Rejected and stale instructions, oldest first: what operations must chase."""
    s: Settings = request.app.state.settings
    return {"exceptions": [_out(r, s) for r in exceptions(session=session)]}


@router.get("/writeback/{instruction_id}")
def show_route(
    instruction_id: Annotated[str, Path(max_length=40)],
    request: Request,
    user: Viewer,
    session: DbSession,
) -> dict[str, Any]:
    """One instruction with its payload and status."""
    s: Settings = request.app.state.settings
    return _out(get_instruction(instruction_id, session=session), s)
