"""``/writeback``: the write-back instructions to the core system for operations — filtered by status and
kind, counts per status, and the exceptions (rejected, stale) first in mind. Permission ``report.view``;
the rules are :mod:`recoup.writeback` (docs/writeback.md). Read-only: files, acknowledgements and
reconciliation run from the command line (``recoup writeback …``), as the daily jobs do."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from recoup import labels_domain
from recoup.auth.models import AppUser
from recoup.web.deps import DbSession
from recoup.web.session import require_page
from recoup.web.templating import render
from recoup.writeback.models import WritebackInstruction
from recoup.writeback.service import Kind, Status, list_instructions

router = APIRouter(include_in_schema=False)

Viewer = Annotated[AppUser, require_page("report.view")]

STATUS_LABELS: Final = labels_domain.WRITEBACK_STATUS
KIND_LABELS: Final = labels_domain.WRITEBACK_KIND
TAGS: Final = {"confirmed": "ok", "rejected": "bad", "stale": "bad", "sent": "", "pending": "must"}


@router.get("/writeback")
def writeback_page(
    request: Request,
    user: Viewer,
    session: DbSession,
    status: Annotated[str, Query(max_length=20)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Instructions, newest first, with their counts per status."""
    st = status if status in {s.value for s in Status} else ""
    kd = kind if kind in {k.value for k in Kind} else ""
    rows = list_instructions(session=session, status=st or None, kind=kd or None, limit=500)
    counts = dict(
        session.execute(
            select(WritebackInstruction.status, func.count()).group_by(WritebackInstruction.status)
        ).all()
    )
    ctx = {
        "rows": rows,
        "status": st,
        "kind": kd,
        "counts": {s.value: int(counts.get(s.value, 0)) for s in Status},
        "status_labels": STATUS_LABELS,
        "kind_labels": KIND_LABELS,
        "tags": TAGS,
    }
    return render(request, "writeback.html", ctx, user=user)
