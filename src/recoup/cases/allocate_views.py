"""``/api/v1/allocations`` and ``/api/v1/cases/{id}/assign``: allocation batches and assignment by hand."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from recoup.auth.models import AppUser
from recoup.auth.service import get_user
from recoup.cases.allocate_flow import do_allocate, do_assign
from recoup.cases.views import VisibleCase
from recoup.config import Settings
from recoup.db import utcnow
from recoup.errors import NotFoundError
from recoup.web.deps import DbId, DbSession, require

router = APIRouter(tags=["allocation"])

Assigner = Annotated[AppUser, require("case.assign")]


class AllocationIn(BaseModel):
    as_of: dt.date
    kind: Literal["auto", "daily", "month_start"] = "auto"
    method: Literal["balanced", "round_robin", "performance"] = "balanced"
    dry_run: bool = False


class AssignIn(BaseModel):
    holder: str = Field(max_length=64, description="username")
    reason: str = Field(min_length=1, max_length=500)


class AssignOut(BaseModel):
    case_id: DbId
    holder: str
    changed: bool


@router.post("/allocations", status_code=201)
def allocate(body: AllocationIn, user: Assigner, session: DbSession) -> dict[str, Any]:
    """Run an allocation batch (分案 / 留案 / 回流); with ``dry_run`` nothing changes."""
    result = do_allocate(
        body.as_of,
        session=session,
        actor=user.username,
        kind=body.kind,
        method=body.method,
        dry_run=body.dry_run,
    )
    return result.to_json()  # a dry run wrote nothing


@router.post("/cases/{case_id}/assign", response_model=AssignOut)
def assign(
    request: Request, user: Assigner, case: VisibleCase, body: AssignIn, session: DbSession
) -> AssignOut:
    """Give a case to a holder by hand, with a reason (history and audit as for a batch)."""
    holder = get_user(body.holder, session=session)
    if holder is None:
        raise NotFoundError(f"no user {body.holder!r} / 用户不存在", details={"holder": body.holder})
    s: Settings = request.app.state.settings
    changed = do_assign(
        case,
        holder,
        session=session,
        actor=user.username,
        on=utcnow().astimezone(s.tz).date(),
        reason=body.reason,
    )
    return AssignOut(case_id=case.id, holder=holder.username, changed=changed)
