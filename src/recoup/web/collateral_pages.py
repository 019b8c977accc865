"""The collateral pages: ``/collateral`` (items with each loan's collateral value, loan-to-value and
shortfall; adding an item), ``/collateral/items/{id}`` (valuations, repossession, disposal and its
outcome) and ``/collateral/approvals`` (disposals awaiting a second person).

Permissions (one table): ``legal.manage`` for the items and disposals; ``plan.approve`` to approve or
reject another person's disposal. Descriptions are shown masked. The rules are
:mod:`recoup.collateral`'s; a refusal comes back as a flash message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from recoup import labels_domain
from recoup.auth.models import AppUser
from recoup.collateral import disposal as disposals
from recoup.collateral import service as collateral
from recoup.collateral.models import CollateralItem
from recoup.errors import RecoupError, parse_day
from recoup.web.deps import DbId, DbSession
from recoup.web.legal_common import flash, minor, take_flash, today_of
from recoup.web.pages import redirect, settings_of, tr
from recoup.web.session import require_page
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

Lawyer = Annotated[AppUser, require_page("legal.manage")]
Approver = Annotated[AppUser, require_page("plan.approve")]

KIND_LABELS: Final = labels_domain.COLLATERAL_KIND
STATUS_LABELS: Final = labels_domain.COLLATERAL_STATUS
METHOD_LABELS: Final = labels_domain.DISPOSAL_METHOD
SOURCE_LABELS: Final = labels_domain.VALUATION_SOURCE


def _labels() -> dict[str, Any]:
    return {
        "kind_labels": KIND_LABELS,
        "status_labels": STATUS_LABELS,
        "method_labels": METHOD_LABELS,
        "source_labels": SOURCE_LABELS,
        "masked": collateral.masked_description,
    }


@router.get("/collateral")
def collateral_page(
    request: Request,
    user: Lawyer,
    session: DbSession,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Items (newest first) with each loan's value, LTV and shortfall, and the form to add an item."""
    chosen = status if status in ("held", "repossessed", "disposed") else None
    items = collateral.list_items(session=session, status=chosen)
    values = collateral.loan_value_rows(session=session, loan_ids={i.loan_id for i in items})
    message, error = take_flash(request)
    ctx = {
        **_labels(),
        "items": items,
        "loans": {r["loan_id"]: r for r in values.iter_rows(named=True)},
        "status": chosen,
        "pending": len(disposals.list_disposals(session=session, status="requested")),
        "today": today_of(request),
        "flash": message,
        "flash_error": error,
        "section": "collateral",
        "watermark": True,
    }
    return render(request, "collateral_list.html", ctx, user=user)


@router.post("/collateral/items")
def add_item(
    request: Request,
    user: Lawyer,
    session: DbSession,
    loan_id: Annotated[str, Form(max_length=64)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    value: Annotated[str, Form(max_length=40)] = "",
    valued_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        with session.begin_nested():
            item = collateral.do_add_item(
                loan_id.strip(),
                kind=kind,
                description=description,
                session=session,
                actor=user.username,
                value=minor(request, value, "value"),
                valued_on=parse_day(valued_on, "valued_on") if valued_on.strip() else None,
                settings=settings_of(request),
            )
    except RecoupError as exc:
        flash(request, exc.message, error=True)
        return redirect(request, "/collateral")
    flash(request, tr(request, user, "Collateral item added."))
    return redirect(request, f"/collateral/items/{item.id}")


@router.get("/collateral/items/{item_id}")
def item_page(item_id: DbId, request: Request, user: Lawyer, session: DbSession) -> Response:
    """An item: its valuations, repossession and disposals, with the forms for the next step."""
    item = collateral.get_item(item_id, session=session)
    values = collateral.loan_value_rows(session=session, loan_ids=[item.loan_id])
    message, error = take_flash(request)
    ctx = {
        **_labels(),
        "item": item,
        "loan": values.row(0, named=True) if values.height else None,
        "valuations": collateral.item_valuations(item.id, session=session),
        "repossession": collateral.repossession_of(item.id, session=session),
        "disposals": disposals.item_disposals(item.id, session=session),
        "methods": disposals.METHODS,
        "sources": [s for s in collateral.VALUATION_SOURCES if s != "extract"],
        "today": today_of(request),
        "flash": message,
        "flash_error": error,
        "section": "collateral",
        "watermark": True,
    }
    return render(request, "collateral_item.html", ctx, user=user)


def _change(request: Request, session: DbSession, to: str, run: Callable[[], object], done: str) -> Response:
    try:
        with session.begin_nested():
            run()
    except RecoupError as exc:
        if exc.http_status == 404:
            raise
        flash(request, exc.message, error=True)
    else:
        flash(request, done)
    return redirect(request, to)


def _item(item_id: int, session: DbSession) -> CollateralItem:
    return collateral.get_item(item_id, session=session)


@router.post("/collateral/items/{item_id}/value")
def value_item(
    item_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    value: Annotated[str, Form(max_length=40)] = "",
    valued_on: Annotated[str, Form(max_length=10)] = "",
    source: Annotated[str, Form(max_length=20)] = "appraisal",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _item(item_id, session)

    def run() -> None:
        amount = minor(request, value, "value")
        if amount is None:
            raise collateral.refuse("value", "give the value", "请填写估值")
        collateral.do_value(
            item_id,
            value=amount,
            valued_on=parse_day(valued_on, "valued_on"),
            source=source,
            note=note,
            session=session,
            actor=user.username,
            settings=settings_of(request),
        )

    return _change(
        request, session, f"/collateral/items/{item_id}", run, tr(request, user, "Valuation recorded.")
    )


@router.post("/collateral/items/{item_id}/repossess")
def repossess_item(
    item_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    on: Annotated[str, Form(max_length=10)] = "",
    location: Annotated[str, Form(max_length=300)] = "",
    costs: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _item(item_id, session)

    def run() -> None:
        collateral.do_repossess(
            item_id,
            on=parse_day(on, "on"),
            location=location,
            costs=minor(request, costs, "costs") or 0,
            note=note,
            session=session,
            actor=user.username,
            settings=settings_of(request),
        )

    return _change(
        request, session, f"/collateral/items/{item_id}", run, tr(request, user, "Repossession recorded.")
    )


@router.post("/collateral/items/{item_id}/disposals")
def request_disposal(
    item_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    method: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    reserve_price: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    _item(item_id, session)

    def run() -> None:
        disposals.do_request_disposal(
            item_id,
            method=method,
            reason=reason,
            reserve_price=minor(request, reserve_price, "reserve_price"),
            session=session,
            actor=user,
            settings=settings_of(request),
        )

    done = tr(
        request, user, "Disposal requested; another user who approves plans and settlements decides it."
    )
    return _change(request, session, f"/collateral/items/{item_id}", run, done)


@router.post("/collateral/disposals/{disposal_id}/complete")
def complete_disposal(
    disposal_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    disposed_on: Annotated[str, Form(max_length=10)] = "",
    proceeds: Annotated[str, Form(max_length=40)] = "",
    costs: Annotated[str, Form(max_length=40)] = "",
    buyer: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    d = disposals.get_disposal(disposal_id, session=session)

    def run() -> None:
        disposals.do_complete_disposal(
            disposal_id,
            disposed_on=parse_day(disposed_on, "disposed_on"),
            proceeds=minor(request, proceeds, "proceeds") or 0,
            costs=minor(request, costs, "costs") or 0,
            buyer=buyer,
            session=session,
            actor=user,
            settings=settings_of(request),
        )

    done = tr(request, user, "Disposal completed; the net recovery was applied to the account.")
    return _change(request, session, f"/collateral/items/{d.item_id}", run, done)


@router.post("/collateral/disposals/{disposal_id}/cancel")
def cancel_disposal(
    disposal_id: DbId,
    request: Request,
    user: Lawyer,
    session: DbSession,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    d = disposals.get_disposal(disposal_id, session=session)

    def run() -> None:
        disposals.do_cancel_disposal(
            disposal_id, session=session, actor=user, reason=reason, settings=settings_of(request)
        )

    return _change(
        request, session, f"/collateral/items/{d.item_id}", run, tr(request, user, "Disposal cancelled.")
    )


@router.get("/collateral/approvals")
def approvals_page(request: Request, user: Approver, session: DbSession) -> Response:
    """Disposals awaiting a second person's decision."""
    pending = disposals.list_disposals(session=session, status="requested")
    items = {d.item_id: collateral.get_item(d.item_id, session=session) for d in pending}
    values = collateral.loan_value_rows(session=session, loan_ids={i.loan_id for i in items.values()})
    message, error = take_flash(request)
    ctx = {
        **_labels(),
        "rows": pending,
        "items": items,
        "loans": {r["loan_id"]: r for r in values.iter_rows(named=True)},
        "flash": message,
        "flash_error": error,
        "section": "collateral",
        "watermark": True,
    }
    return render(request, "collateral_approvals.html", ctx, user=user)


def _decide(
    request: Request, user: AppUser, session: DbSession, run: Callable[[], object], done: str
) -> Response:
    try:
        with session.begin_nested():
            run()
    except RecoupError as exc:
        if exc.http_status == 404:
            raise
        flash(request, exc.message, error=True)
    else:
        flash(request, done)
    return redirect(request, "/collateral/approvals")


@router.post("/collateral/disposals/{disposal_id}/approve")
def approve_disposal(
    disposal_id: DbId,
    request: Request,
    user: Approver,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    def run() -> None:
        disposals.do_approve_disposal(
            disposal_id, session=session, actor=user, note=note, settings=settings_of(request)
        )

    return _decide(request, user, session, run, tr(request, user, "Disposal approved."))


@router.post("/collateral/disposals/{disposal_id}/reject")
def reject_disposal(
    disposal_id: DbId,
    request: Request,
    user: Approver,
    session: DbSession,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    def run() -> None:
        disposals.do_reject_disposal(
            disposal_id, session=session, actor=user, reason=note, settings=settings_of(request)
        )

    return _decide(request, user, session, run, tr(request, user, "Disposal rejected."))
