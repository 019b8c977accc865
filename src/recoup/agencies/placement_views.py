"""``/api/v1/placements`` (``agency.manage``) and ``/api/v1/agency`` (an agency's own users): placement
batches, recalls, the agencies' day, deletion confirmations, and one's own agency with its statements."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response

from recoup.agencies import placement as placing
from recoup.agencies import recall, register, staff, statements
from recoup.agencies.api_common import (
    AgencyUser,
    AgencyWorker,
    Locale,
    Manager,
    placements_out,
    router,
    settings_of,
    statement_file_response,
    statement_out,
    today_of,
)
from recoup.agencies.models import Agency, AgencyStatement, Placement, PlacementBatch
from recoup.agencies.queries import list_placements
from recoup.agencies.schemas import (
    BatchIn,
    BatchOut,
    DayIn,
    DayOut,
    DeletionIn,
    MyAgencyOut,
    PlacementOut,
    RecallIn,
    StatementOut,
)
from recoup.auth.models import AppUser
from recoup.errors import NotFoundError
from recoup.web.deps import DbId, DbSession, cipher_of

# --- placements (agency.manage) -----------------------------------------------------------------------


def _batch_out(batch: PlacementBatch, *, session: DbSession) -> BatchOut:
    return BatchOut(
        id=batch.id,
        as_of=batch.as_of,
        expires_on=batch.expires_on,
        seed=batch.seed,
        source=batch.source,
        shares=batch.shares,
        notice_required=batch.notice_required,
        counts=batch.counts,
        placements=placements_out(
            list_placements(session=session, batch_id=batch.id, limit=10_000), session=session
        ),
    )


@router.post("/placements/batches", response_model=BatchOut, status_code=201)
def place_batch(request: Request, user: Manager, body: BatchIn, session: DbSession) -> BatchOut:
    """Place a random, stratified batch (赛马): the cases with open agency_placement tasks (or those
    named), dealt to the eligible agencies (or those named) by this month's shares."""
    result = placing.do_place_batch(
        body.as_of or today_of(request),
        session=session,
        actor=user,
        settings=settings_of(request),
        case_ids=body.case_ids,
        agencies=body.agencies,
        seed=body.seed,
        days=body.days,
        cipher=cipher_of(request),
    )
    return _batch_out(result.batch, session=session)


@router.get("/placements", response_model=list[PlacementOut])
def placements(
    user: Manager,
    session: DbSession,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern=r"^(pending_notice|active|recalled|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=5_000)] = 500,
) -> list[PlacementOut]:
    """Placements, newest first (one agency's, one status)."""
    agency_id = register.get_agency(agency, session=session).id if agency else None
    items = list_placements(session=session, agency_id=agency_id, status=status, limit=limit)
    return placements_out(items, session=session)


def _placement(placement_id: int, *, session: DbSession) -> Placement:
    p = session.get(Placement, placement_id)
    if p is None:
        raise NotFoundError(
            f"no placement {placement_id} / 委外 {placement_id} 不存在",
            details={"placement_id": placement_id},
        )
    return p


@router.post("/placements/{placement_id}/recall", response_model=PlacementOut)
def recall_placement(
    placement_id: DbId, request: Request, user: Manager, body: RecallIn, session: DbSession
) -> PlacementOut:
    """Recall a placement now (complaint, death, lawsuit, manual …): the agency's access ends at once."""
    p = recall.do_recall(
        _placement(placement_id, session=session),
        reason=body.reason,
        note=body.note,
        on=body.on or today_of(request),
        session=session,
        actor=user.username,
    )
    return placements_out([p], session=session)[0]


@router.post("/placements/day", response_model=DayOut)
def agency_day(request: Request, user: Manager, body: DayIn, session: DbSession) -> DayOut:
    """What the cycle does each day, now: activate notified placements, recall expired ones and those
    to recall early."""
    out = recall.do_agency_day(body.as_of or today_of(request), session=session, actor=user.username)
    return DayOut(activated=out.activated, cancelled=out.cancelled, recalled=out.recalled)


@router.post("/placements/deletion", response_model=list[PlacementOut])
def confirm_deletion_for_agency(user: Manager, body: DeletionIn, session: DbSession) -> list[PlacementOut]:
    """Record, on the agency's behalf, its confirmation that it deleted recalled cases' data."""
    items = [_placement(i, session=session) for i in body.placement_ids]
    done = recall.do_confirm_deletion(items, by=user, ref=body.ref, session=session)
    return placements_out(done, session=session)


# --- the agency's own users -----------------------------------------------------------------------------


def _my_agency(user: AppUser, *, session: DbSession) -> Agency:
    agency = staff.agency_of_user(user.id, session=session)
    if agency is None:
        raise NotFoundError("you are not on an agency's staff register / 您不在委外机构人员名册中")
    return agency


@router.get("/agency", response_model=MyAgencyOut)
def my_agency(user: AgencyUser, session: DbSession) -> MyAgencyOut:
    """One's own agency: the cases placed with it now, recalled ones awaiting the deletion confirmation,
    and its statements (404 for anyone not on an agency's register)."""
    agency = _my_agency(user, session=session)
    return MyAgencyOut(
        agency=agency.code,
        name=agency.name,
        placements=placements_out(
            list_placements(session=session, agency_id=agency.id, status="active", limit=10_000),
            session=session,
        ),
        awaiting_deletion=placements_out(
            list_placements(session=session, agency_id=agency.id, awaiting_deletion=True, limit=10_000),
            session=session,
        ),
        statements=[
            statement_out(s, session=session)
            for s in statements.list_statements(session=session, agency_id=agency.id)
        ],
    )


def _my_statement(statement_id: int, user: AppUser, *, session: DbSession) -> AgencyStatement:
    agency = _my_agency(user, session=session)
    s = session.get(AgencyStatement, statement_id)
    if s is None or s.agency_id != agency.id:
        raise NotFoundError(
            f"no statement {statement_id} / 结算单不存在", details={"statement_id": statement_id}
        )
    return s


@router.post("/agency/statements/{statement_id}/confirm", response_model=StatementOut)
def confirm_statement_agency(statement_id: DbId, user: AgencyWorker, session: DbSession) -> StatementOut:
    """The agency's confirmation of its statement."""
    s = statements.do_confirm_statement(
        _my_statement(statement_id, user, session=session), user, "agency", session=session
    )
    return statement_out(s, session=session)


@router.get("/agency/statements/{statement_id}/file", response_class=Response)
def my_statementstatement_file_response(
    statement_id: DbId,
    user: AgencyUser,
    session: DbSession,
    kind: Annotated[str, Query(pattern=r"^(pdf|xlsx)$")] = "xlsx",
    locale: Locale = "zh_CN",
) -> Response:
    """One's agency's statement as XLSX or PDF."""
    return statement_file_response(
        _my_statement(statement_id, user, session=session), kind, locale, session=session
    )


@router.post("/agency/deletion", response_model=list[PlacementOut])
def confirm_deletion(user: AgencyWorker, body: DeletionIn, session: DbSession) -> list[PlacementOut]:
    """Confirm that one's agency deleted the data of recalled placements (with its reference)."""
    agency = _my_agency(user, session=session)
    items = []
    for pid in body.placement_ids:
        p = session.get(Placement, pid)
        if p is None or p.agency_id != agency.id:
            raise NotFoundError(f"no placement {pid} / 委外 {pid} 不存在", details={"placement_id": pid})
        items.append(p)
    done = recall.do_confirm_deletion(items, by=user, ref=body.ref, session=session)
    return placements_out(done, session=session)
