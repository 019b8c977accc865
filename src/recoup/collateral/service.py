"""Collateral items, valuations and repossession; their description masked; values per loan.

- :func:`do_sync_from_lake` takes the lake's ``collateral`` rows of the loans in collections (new items,
  and each new valuation the extract carries); :func:`do_add_item` adds one by hand.
- :func:`do_value` records a valuation; :func:`do_repossess` the repossession (date, where, costs).
- :func:`masked_description` hides phone numbers, ID numbers, plates and a property's address.
- :func:`loan_value_rows` gives per loan the collateral value, loan-to-value and shortfall
  (:mod:`recoup.collateral.kernel`) against the balance of the mirrored schedule.

Disposal and the recovery applied to the account are :mod:`recoup.collateral.disposal`. Every change goes
to the audit ledger (ids and amounts, never the description).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Final

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.collateral.kernel import loan_values
from recoup.collateral.models import CollateralItem, CollateralRepossession, CollateralValuation
from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import ConflictError, NotFoundError, RecoupError
from recoup.ledger.service import do_append
from recoup.pii import mask_address, mask_text
from recoup.portfolio.models import CollectionAccount

__all__ = [
    "KINDS",
    "VALUATION_SOURCES",
    "CollateralInputError",
    "CollateralStateError",
    "do_add_item",
    "do_repossess",
    "do_sync_from_lake",
    "do_value",
    "get_item",
    "item_valuations",
    "list_items",
    "loan_value_rows",
    "masked_description",
    "repossession_of",
]

KINDS: Final = ("vehicle", "property", "equipment", "deposit", "receivable", "other")
#: The extract's collateral types (docs/extract-format.md) → ours.
_FROM_EXTRACT: Final = {"real_estate": "property"}
VALUATION_SOURCES: Final = ("extract", "appraisal", "market", "auction", "manual")


class CollateralInputError(RecoupError):
    """A value given is invalid; ``details["field"]`` names it."""

    code = "collateral.refused"
    http_status = 422
    exit_code = 65


class CollateralStateError(ConflictError):
    """The move is not possible in the item's (or the disposal's) current state."""

    code = "collateral.invalid_state"
    exit_code = 65


def refuse(field: str, en: str, zh: str) -> CollateralInputError:
    return CollateralInputError(f"{en} / {zh}", details={"field": field})


_PLATE = re.compile(
    r"([京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领][A-Z])[A-Z0-9]{4,6}"
)
_VIN = re.compile(r"(?<![A-Z0-9])([A-HJ-NPR-Z0-9]{3})[A-HJ-NPR-Z0-9]{10}([0-9]{4})(?![A-Z0-9])")


def masked_description(kind: str, text: str) -> str:
    """The description with its personal data masked: phones and ID numbers (as in logs), number
    plates and VINs (a vehicle's keeper is identifiable), and a property's address."""
    if kind == "property":
        return mask_address(text)
    out = mask_text(text)
    out = _PLATE.sub(lambda m: m.group(1) + "****", out)
    return _VIN.sub(lambda m: m.group(1) + "**********" + m.group(2), out)


def get_item(item_id: int, *, session: Session, lock: bool = False) -> CollateralItem:
    q = select(CollateralItem).where(CollateralItem.id == item_id)
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    item = session.scalars(q).one_or_none()
    if item is None:
        raise NotFoundError(
            f"no collateral item {item_id} / 押品 {item_id} 不存在", details={"item_id": item_id}
        )
    return item


def list_items(
    *, session: Session, loan_id: str | None = None, status: str | None = None, limit: int = 500
) -> list[CollateralItem]:
    q = select(CollateralItem).order_by(CollateralItem.id.desc()).limit(limit)
    if loan_id:
        q = q.where(CollateralItem.loan_id == loan_id)
    if status:
        q = q.where(CollateralItem.status == status)
    return list(session.scalars(q))


def item_valuations(item_id: int, *, session: Session) -> list[CollateralValuation]:
    return list(
        session.scalars(
            select(CollateralValuation)
            .where(CollateralValuation.item_id == item_id)
            .order_by(CollateralValuation.valued_on.desc(), CollateralValuation.id.desc())
        )
    )


def repossession_of(item_id: int, *, session: Session) -> CollateralRepossession | None:
    return session.scalar(select(CollateralRepossession).where(CollateralRepossession.item_id == item_id))


def _account(loan_id: str, session: Session) -> CollectionAccount:
    a = session.scalar(select(CollectionAccount).where(CollectionAccount.external_id == loan_id))
    if a is None:
        raise NotFoundError(
            f"no loan {loan_id} in collections / 借据 {loan_id} 不存在", details={"loan_id": loan_id}
        )
    return a


def _check_day(on: dt.date, field: str, settings: Settings) -> None:
    if on > utcnow().astimezone(settings.tz).date():
        raise refuse(field, f"{field} cannot be in the future", f"{field} 不能晚于今天")


def do_add_item(
    loan_id: str,
    *,
    kind: str,
    description: str,
    session: Session,
    actor: str,
    value: int | None = None,
    valued_on: dt.date | None = None,
    settings: Settings | None = None,
) -> CollateralItem:
    """Add an item by hand to a loan in collections (with a first valuation when given)."""
    s = settings or get_settings()
    account = _account(loan_id, session)
    if kind not in KINDS:
        raise refuse("kind", f"kind is one of {', '.join(KINDS)}", "押品类型无效")
    d = (description or "").strip()
    if len(d) > 500:
        raise refuse("description", "the description has at most 500 characters", "描述最多 500 个字符")
    item = CollateralItem(
        loan_id=loan_id,
        kind=kind,
        description=d,
        status="held",
        currency=account.currency or s.currency,
        source="manual",
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(item)
    session.flush()
    do_append(
        "collateral.added",
        {"item_id": item.id, "loan_id": loan_id, "kind": kind, "source": "manual"},
        session=session,
        actor=actor,
        settings=s,
    )
    if value is not None:
        do_value(
            item.id,
            value=value,
            valued_on=valued_on or utcnow().astimezone(s.tz).date(),
            source="manual",
            session=session,
            actor=actor,
            settings=s,
        )
    return item


def do_value(
    item_id: int,
    *,
    value: int,
    valued_on: dt.date,
    source: str,
    session: Session,
    actor: str,
    note: str = "",
    settings: Settings | None = None,
) -> CollateralValuation:
    """Record a valuation of an item (ledger ``collateral.valued``)."""
    s = settings or get_settings()
    item = get_item(item_id, session=session)
    if source not in VALUATION_SOURCES:
        raise refuse("source", f"source is one of {', '.join(VALUATION_SOURCES)}", "估值来源无效")
    if value < 0:
        raise refuse("value", "a value cannot be negative", "估值不能为负")
    _check_day(valued_on, "date", s)
    dup = session.scalar(
        select(CollateralValuation.id).where(
            CollateralValuation.item_id == item.id,
            CollateralValuation.valued_on == valued_on,
            CollateralValuation.source == source,
        )
    )
    if dup is not None:
        raise CollateralStateError(
            f"item {item.id} already has a {source} valuation on {valued_on} / 该押品当日已有同来源估值",
            details={"item_id": item.id, "valuation_id": dup},
        )
    v = CollateralValuation(
        item_id=item.id,
        valued_on=valued_on,
        value=value,
        source=source,
        note=(note or "").strip()[:500],
        recorded_by=actor,
        recorded_at=utcnow(),
    )
    session.add(v)
    session.flush()
    do_append(
        "collateral.valued",
        {
            "item_id": item.id,
            "valuation_id": v.id,
            "value": value,
            "on": valued_on.isoformat(),
            "source": source,
        },
        session=session,
        actor=actor,
        settings=s,
    )
    return v


def do_repossess(
    item_id: int,
    *,
    on: dt.date,
    session: Session,
    actor: str,
    location: str = "",
    costs: int = 0,
    note: str = "",
    settings: Settings | None = None,
) -> CollateralRepossession:
    """Record that a held item was repossessed (收回) on ``on``, where it is kept and what it cost."""
    s = settings or get_settings()
    item = get_item(item_id, session=session, lock=True)
    if item.status != "held":
        raise CollateralStateError(
            f"item {item.id} is {item.status}; only a held item is repossessed"
            f" / 押品状态为 {item.status}，不能收回",
            details={"item_id": item.id, "status": item.status},
        )
    if costs < 0:
        raise refuse("costs", "costs cannot be negative", "费用不能为负")
    _check_day(on, "date", s)
    r = CollateralRepossession(
        item_id=item.id,
        repossessed_on=on,
        location=(location or "").strip()[:300],
        costs=costs,
        note=(note or "").strip()[:500],
        recorded_by=actor,
        recorded_at=utcnow(),
    )
    item.status = "repossessed"
    session.add(r)
    session.flush()
    do_append(
        "collateral.repossessed",
        {"item_id": item.id, "loan_id": item.loan_id, "on": on.isoformat(), "costs": costs},
        session=session,
        actor=actor,
        settings=s,
    )
    return r


def do_sync_from_lake(
    collateral: pl.DataFrame, *, session: Session, actor: str = "system", settings: Settings | None = None
) -> tuple[int, int]:
    """Take the lake's ``collateral`` rows (``collateral_id, loan_id, type, description, valuation,
    valuation_date``) of loans in collections: new items, and valuations not yet recorded. Returns
    (items added, valuations added); one ledger entry ``collateral.synced`` when anything was."""
    s = settings or get_settings()
    mirrored = {r for (r,) in session.execute(select(CollectionAccount.external_id))}
    rows = collateral.filter(pl.col("loan_id").cast(pl.String).is_in(list(mirrored)))
    known = {
        ext: (iid, st)
        for ext, iid, st in session.execute(
            select(CollateralItem.external_id, CollateralItem.id, CollateralItem.status).where(
                CollateralItem.external_id.is_not(None)
            )
        )
    }
    have = {
        (i, d)
        for i, d in session.execute(
            select(CollateralValuation.item_id, CollateralValuation.valued_on).where(
                CollateralValuation.source == "extract"
            )
        )
    }
    added = valued = 0
    today = utcnow().astimezone(s.tz).date()
    for r in rows.iter_rows(named=True):
        ext = str(r["collateral_id"])
        if ext not in known:
            kind = _FROM_EXTRACT.get(str(r["type"]), str(r["type"]))
            item = CollateralItem(
                external_id=ext,
                loan_id=str(r["loan_id"]),
                kind=kind if kind in KINDS else "other",
                description=str(r.get("description") or "")[:500],
                status="held",
                currency=s.currency,
                source="extract",
                created_by=actor,
                created_at=utcnow(),
            )
            session.add(item)
            session.flush()
            known[ext] = (item.id, "held")
            added += 1
        iid = known[ext][0]
        value, on = r.get("valuation"), r.get("valuation_date") or today
        if value is not None and (iid, on) not in have:
            session.add(
                CollateralValuation(
                    item_id=iid,
                    valued_on=on,
                    value=int(value),
                    source="extract",
                    recorded_by=actor,
                    recorded_at=utcnow(),
                )
            )
            have.add((iid, on))
            valued += 1
    session.flush()
    if added or valued:
        do_append(
            "collateral.synced",
            {"items": added, "valuations": valued},
            session=session,
            actor=actor,
            settings=s,
        )
    return added, valued


def loan_value_rows(*, session: Session, loan_ids: Iterable[str] | None = None) -> pl.DataFrame:
    """Per loan with collateral (of ``loan_ids`` when given): items, collateral value, balance (the
    mirrored schedule's unpaid parts), ``ltv_bp``, ``shortfall``, ``cover``."""
    from recoup.legal.common import balances

    q = select(CollateralItem.id, CollateralItem.loan_id, CollateralItem.status)
    ids = list(loan_ids) if loan_ids is not None else None
    if ids is not None:
        q = q.where(CollateralItem.loan_id.in_(ids))
    items = pl.DataFrame(
        [tuple(r) for r in session.execute(q)],
        schema={"item_id": pl.Int64, "loan_id": pl.String, "status": pl.String},
        orient="row",
    )
    vq = select(
        CollateralValuation.id,
        CollateralValuation.item_id,
        CollateralValuation.valued_on,
        CollateralValuation.value,
    )
    item_ids = items.get_column("item_id").to_list()
    vals = pl.DataFrame(
        [tuple(r) for r in session.execute(vq.where(CollateralValuation.item_id.in_(item_ids)))]
        if item_ids
        else [],
        schema={"valuation_id": pl.Int64, "item_id": pl.Int64, "valued_on": pl.Date, "value": pl.Int64},
        orient="row",
    )
    loans = sorted(set(items.get_column("loan_id").to_list()))
    accounts = (
        dict(
            session.execute(
                select(CollectionAccount.external_id, CollectionAccount.id).where(
                    CollectionAccount.external_id.in_(loans)
                )
            ).all()
        )
        if loans
        else {}
    )
    bal = balances(accounts.values(), session=session)
    balance_frame = pl.DataFrame(
        [(loan, bal.get(accounts[loan], (0, 0))[0] if loan in accounts else 0) for loan in loans],
        schema={"loan_id": pl.String, "balance": pl.Int64},
        orient="row",
    )
    return loan_values(items, vals, balance_frame).sort("loan_id")
