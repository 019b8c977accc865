"""The audit ledger's pages for compliance officers and auditors (``audit.view``), read-only:

- ``/audit``: the entries newest first, 100 a page (keyset on ``seq``), filtered by kind (a prefix such
  as ``pii.``), actor, a date range in the installation's timezone, and a case or borrower id named in
  the payload; each row's time, kind, actor, a masked summary of the payload and its hash;
- ``/audit/{seq}``: one entry, its whole payload (masked), its hash and previous hash, its own checks and
  whether the chain verifies up to it;
- ``/audit/verify``: the chain verification (``recoup ledger verify``'s walk: hashes, chain, signatures,
  checkpoints), reused per process for a few minutes while the ledger head is unchanged;
- ``/audit/export.csv``: the filtered list as CSV (usernames of actors, never borrowers' data).

Queries and checks live in :mod:`recoup.web.audit_view`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from recoup.auth.models import AppUser
from recoup.errors import NotFoundError
from recoup.ledger.models import LedgerEntry
from recoup.web.audit_view import (
    PAGE_SIZE,
    Filters,
    Verification,
    check_entry,
    head_seq,
    iter_filtered,
    known_kinds,
    last_verification,
    load_page,
    local_time,
    pretty_payload,
    summarize,
    verification,
)
from recoup.web.deps import DbId, DbSession
from recoup.web.i18n import translations
from recoup.web.labels import N_
from recoup.web.pages import settings_of
from recoup.web.session import require_page
from recoup.web.tables import Column, Formats, Table, to_csv
from recoup.web.templating import render, request_locale

router = APIRouter(include_in_schema=False)

Auditor = Annotated[AppUser, require_page("audit.view")]

#: Rows one CSV export carries at most (the newest matching ones).
EXPORT_MAX: Final = 100_000
#: Why the chain broke, by the verifier's ``reason`` code.
BREAK_LABELS: Final = {
    "payload_hash": N_("the payload was changed after it was written"),
    "payload": N_("the payload is not valid JSON"),
    "items": N_("the item count and the items root disagree"),
    "prev_hash": N_("the link to the previous entry is broken"),
    "entry_hash": N_("the entry's hash does not match its content"),
    "signature": N_("the signature is missing or does not verify"),
    "missing": N_("an entry is missing"),
    "truncated": N_("the newest entries were deleted"),
    "head": N_("the newest entry was replaced"),
    "checkpoint": N_("a checkpoint does not match"),
}
CSV_COLUMNS: Final = (
    Column("seq", N_("Entry"), "int"),
    Column("time", N_("Time")),
    Column("kind", N_("Kind")),
    Column("actor", N_("Actor")),
    Column("summary", N_("Details")),
    Column("entry_hash", N_("Entry hash")),
)

FilterText = Annotated[str, Query(max_length=120)]
FilterDay = Annotated[str, Query(alias="from", max_length=20)]


def _filters(kind: str, actor: str, start: str, end: str, case: str, borrower: str) -> Filters:
    return Filters.parse(kind=kind, actor=actor, start=start, end=end, case=case, borrower=borrower)


def _cache(request: Request) -> dict[str, Any]:
    state = request.app.state
    cache: dict[str, Any] | None = getattr(state, "audit_cache", None)
    if cache is None:
        cache = {}
        state.audit_cache = cache
    return cache


def _common(request: Request) -> dict[str, Any]:
    s = settings_of(request)
    return {"tz_name": s.timezone, "local": lambda value: local_time(value, s.tz), "watermark": True}


@router.get("/audit")
def audit_list(
    request: Request,
    user: Auditor,
    session: DbSession,
    kind: FilterText = "",
    actor: FilterText = "",
    start: FilterDay = "",
    end: Annotated[str, Query(alias="to", max_length=20)] = "",
    case: Annotated[str, Query(max_length=12)] = "",
    borrower: Annotated[str, Query(max_length=12)] = "",
    before: DbId | None = None,
    after: DbId | None = None,
) -> Response:
    """The ledger entries newest first, filtered, one page at a time."""
    s = settings_of(request)
    filters = _filters(kind, actor, start, end, case, borrower)
    page = load_page(filters, session=session, tz=s.tz, before=before, after=after)
    last = last_verification(_cache(request))
    ctx = {
        "broken_seq": last.broken_seq if last is not None else None,
        **_common(request),
        "filters": filters,
        "page": page,
        "summaries": {e.seq: summarize(e.payload) for e in page.entries},
        "kinds": known_kinds(session=session),
        "newer_url": "/audit" + filters.query(after=page.first) if page.newer and page.first else None,
        "older_url": "/audit" + filters.query(before=page.last) if page.older and page.last else None,
        "newest_url": "/audit" + filters.query() if (before or after) else None,
        "export_url": "/audit/export.csv" + filters.query(),
        "page_size": PAGE_SIZE,
    }
    return render(request, "audit_list.html", ctx, user=user)


def _panel(request: Request, user: AppUser, result: Verification, *, status: int = 200) -> Response:
    ctx = {**_common(request), "v": result, "break_labels": BREAK_LABELS}
    if request.headers.get("hx-request"):
        return render(request, "_audit_verify.html", ctx, user=user, status=status)
    return render(request, "audit_verify.html", ctx, user=user, status=status)


@router.get("/audit/verify")
def audit_verify(request: Request, user: Auditor, session: DbSession, fresh: bool = False) -> Response:
    """The chain verification panel (a fragment for htmx, a page otherwise); ``fresh`` runs it again
    rather than reusing this process's result of the last few minutes."""
    result = verification(_cache(request), session=session, settings=settings_of(request), fresh=fresh)
    return _panel(request, user, result)


@router.get("/audit/export.csv")
def audit_export(
    request: Request,
    user: Auditor,
    session: DbSession,
    kind: FilterText = "",
    actor: FilterText = "",
    start: FilterDay = "",
    end: Annotated[str, Query(alias="to", max_length=20)] = "",
    case: Annotated[str, Query(max_length=12)] = "",
    borrower: Annotated[str, Query(max_length=12)] = "",
) -> Response:
    """The filtered entries (newest first, at most :data:`EXPORT_MAX`) as CSV, header in the reader's
    language; summaries masked like the page's."""
    s = settings_of(request)
    filters = _filters(kind, actor, start, end, case, borrower)
    rows = [
        {
            "seq": e.seq,
            "time": local_time(e.recorded_at, s.tz),
            "kind": e.kind,
            "actor": e.actor,
            "summary": summarize(e.payload),
            "entry_hash": e.entry_hash,
        }
        for e in iter_filtered(filters, session=session, tz=s.tz, limit=EXPORT_MAX)
    ]
    locale = request_locale(request, user)
    fmt = Formats(locale, currency=s.currency, digits=s.minor_digits, gettext=translations(locale).gettext)
    table = Table(id="audit", title=N_("Audit ledger"), columns=CSV_COLUMNS, rows=rows)
    name = f"recoup-audit-{dt.datetime.now(s.tz):%Y%m%d-%H%M}.csv"
    return Response(
        to_csv(table, fmt),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/audit/{seq}")
def audit_entry(seq: DbId, request: Request, user: Auditor, session: DbSession) -> Response:
    """One entry: its whole payload (masked), hashes, its own checks and the chain's verdict up to it."""
    s = settings_of(request)
    entry = session.get(LedgerEntry, seq)
    if entry is None:
        raise NotFoundError(f"no audit ledger entry {seq} / 审计日志中没有条目 {seq}")
    result = verification(_cache(request), session=session, settings=s)
    ctx = {
        **_common(request),
        "e": entry,
        "payload": pretty_payload(entry.payload),
        "check": check_entry(entry, session=session, settings=s),
        "v": result,
        "covered": result.covers(seq),
        "break_labels": BREAK_LABELS,
        "head": head_seq(session=session),
        "case_id": entry.payload.get("case_id") if isinstance(entry.payload, dict) else None,
    }
    return render(request, "audit_entry.html", ctx, user=user)
