"""Funding partners, each loan's creditor over time, guarantor payouts (代偿), the waiver authority a
creditor gives and where recoveries go.

- The register: :func:`do_save_partner`, :func:`list_partners`, :func:`partner_of`. The lender's own money
  is the creditor ``own`` without being registered (register ``own`` to set its terms).
- A loan's creditor: on first sight its extract's ``funding_partner`` (matched to a partner by code, else
  by name; empty or 自有资金 is ``own``) from its disbursement date; from a payout's date the guarantor.
  :func:`history_frame` reads it (first-sight rows computed for loans never recorded, nothing written);
  :func:`do_sync_creditors` records first sight; :func:`creditor_on` answers for one loan and day.
- :func:`do_record_payout` records a payout and moves the creditor (ledger ``funding.payout``).
- :func:`check_creditor_allows_waiver` is what the resolutions' approval asks (403 naming the creditor).
- :func:`recoveries_by_creditor` splits a period's collections by the creditor on each payment's date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Final

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import AuthError, ConflictError, NotFoundError, RecoupError
from recoup.funding.kernel import HISTORY_SCHEMA, creditor_of_payments, split_by_creditor
from recoup.funding.models import FundingPartner, GuarantorPayout, LoanCreditor
from recoup.ledger.service import do_append
from recoup.money import format_amount
from recoup.portfolio.models import CollectionAccount

__all__ = [
    "KINDS",
    "OWN",
    "CreditorRefusesWaiverError",
    "FundingInputError",
    "FundingStateError",
    "check_creditor_allows_waiver",
    "creditor_on",
    "do_record_payout",
    "do_save_partner",
    "do_sync_creditors",
    "history_frame",
    "list_partners",
    "list_payouts",
    "partner_of",
    "partners_frame",
    "recoveries_by_creditor",
    "recoveries_detail",
]

OWN: Final = "own"
KINDS: Final = ("own", "bank", "trust", "guarantor")
KIND_ZH: Final = {"own": "自有资金", "bank": "银行", "trust": "信托", "guarantor": "担保公司"}
#: Extract values meaning the lender's own money.
OWN_ALIASES: Final = frozenset({"", "own", "自有资金", "自营"})


class FundingInputError(RecoupError):
    """A value given is invalid; ``details["field"]`` names it."""

    code = "funding.refused"
    http_status = 422
    exit_code = 65


class FundingStateError(ConflictError):
    """The payout is not possible in the loan's creditor history (dated before a later change)."""

    code = "funding.invalid_state"
    exit_code = 65


class CreditorRefusesWaiverError(AuthError):
    """The loan's current creditor (资金方 or the guarantor that paid out) does not permit this waiver."""

    code = "funding.waiver_not_permitted"
    http_status = 403
    exit_code = 77


def _refuse(field: str, en: str, zh: str) -> FundingInputError:
    return FundingInputError(f"{en} / {zh}", details={"field": field})


def _own() -> FundingPartner:
    """The lender's own money when ``own`` is not registered: waivers under the lender's own matrix."""
    return FundingPartner(
        code=OWN,
        name="自有资金 / lender's own",
        kind="own",
        permits_waivers=True,
        waiver_limit=None,
        waiver_max_bp=None,
        recovery_share_bp=10_000,
        active=True,
        note="",
        created_by="system",
    )


# ----------------------------------------------------------------------------------------- the register


def do_save_partner(
    code: str,
    *,
    session: Session,
    actor: str,
    name: str | None = None,
    kind: str | None = None,
    permits_waivers: bool | None = None,
    waiver_limit: int | None = None,
    waiver_max_bp: int | None = None,
    recovery_share_bp: int | None = None,
    note: str | None = None,
    update: bool = False,
    settings: Settings | None = None,
) -> FundingPartner:
    """Register a funding partner (or change one with ``update``); ledger ``funding.partner_saved``."""
    s = settings or get_settings()
    c = (code or "").strip()
    if not 1 <= len(c) <= 100:
        raise _refuse("code", "the code needs 1 to 100 characters", "代码须为 1–100 个字符")
    p = session.scalar(select(FundingPartner).where(FundingPartner.code == c))
    if p is not None and not update:
        raise FundingStateError(
            f"funding partner {c} exists; change it with --update / 资金方 {c} 已存在", details={"code": c}
        )
    if p is None and update:
        raise NotFoundError(f"no funding partner {c} / 资金方 {c} 不存在", details={"code": c})
    if p is None:
        if kind is None:
            raise _refuse("kind", f"give the kind: {', '.join(KINDS)}", "请填写类型")
        p = FundingPartner(code=c, name=c, created_by=actor, created_at=utcnow(), note="")
        p.permits_waivers, p.recovery_share_bp, p.active = True, 10_000, True
    if kind is not None:
        if kind not in KINDS:
            raise _refuse("kind", f"kind is one of {', '.join(KINDS)}", "类型须为 own/bank/trust/guarantor")
        p.kind = kind
    if name is not None:
        n = name.strip()
        if not 1 <= len(n) <= 200:
            raise _refuse("name", "the name needs 1 to 200 characters", "名称须为 1–200 个字符")
        p.name = n
    if permits_waivers is not None:
        p.permits_waivers = permits_waivers
    if waiver_limit is not None:
        if waiver_limit < 0:
            raise _refuse("waiver_limit", "the waiver limit cannot be negative", "减免上限不能为负")
        p.waiver_limit = waiver_limit or None
    if waiver_max_bp is not None:
        if not 0 <= waiver_max_bp <= 10_000:
            raise _refuse("waiver_max", "the waiver share is 0–100%", "减免比例须为 0–100%")
        p.waiver_max_bp = waiver_max_bp or None
    if recovery_share_bp is not None:
        if not 0 <= recovery_share_bp <= 10_000:
            raise _refuse("share", "the share of recoveries is 0–100%", "回收分成比例须为 0–100%")
        p.recovery_share_bp = recovery_share_bp
    if note is not None:
        p.note = note.strip()[:500]
    session.add(p)
    session.flush()
    do_append(
        "funding.partner_saved",
        {
            "partner_id": p.id,
            "code": p.code,
            "kind": p.kind,
            "permits_waivers": p.permits_waivers,
            "waiver_limit": p.waiver_limit,
            "waiver_max_bp": p.waiver_max_bp,
            "recovery_share_bp": p.recovery_share_bp,
        },
        session=session,
        actor=actor,
        settings=s,
    )
    return p


def list_partners(*, session: Session) -> list[FundingPartner]:
    return list(session.scalars(select(FundingPartner).order_by(FundingPartner.kind, FundingPartner.code)))


def partner_of(code: str, *, session: Session) -> FundingPartner | None:
    """The registered partner ``code``; ``own`` unregistered is the lender's default; else None."""
    p = session.scalar(select(FundingPartner).where(FundingPartner.code == code))
    if p is None and code == OWN:
        return _own()
    return p


def partners_frame(*, session: Session) -> pl.DataFrame:
    """``creditor, name, kind, recovery_share_bp`` of every registered partner (and ``own``)."""
    rows = [(p.code, p.name, p.kind, p.recovery_share_bp) for p in list_partners(session=session)]
    if not any(r[0] == OWN for r in rows):
        o = _own()
        rows.append((o.code, o.name, o.kind, o.recovery_share_bp))
    return pl.DataFrame(
        rows,
        schema={"creditor": pl.String, "name": pl.String, "kind": pl.String, "recovery_share_bp": pl.Int64},
        orient="row",
    )


# ----------------------------------------------------------------------------------------- the creditor


def _matcher(session: Session) -> dict[str, str]:
    """extract value → partner code (by code, then by name)."""
    out: dict[str, str] = {}
    for p in list_partners(session=session):
        out.setdefault(p.name, p.code)
    for p in list_partners(session=session):
        out[p.code] = p.code
    return out


def _code_for(value: str | None, matcher: dict[str, str]) -> str:
    v = (value or "").strip()
    if v in matcher:
        return matcher[v]
    return OWN if v in OWN_ALIASES else v


def _unrecorded(session: Session, loan_ids: list[str] | None) -> list[tuple[str, str | None, dt.date]]:
    """(loan, funding_partner, disbursement date) of mirrored loans without any creditor row."""
    recorded = select(LoanCreditor.loan_id)
    stmt = select(
        CollectionAccount.external_id, CollectionAccount.funding_partner, CollectionAccount.disbursement_date
    ).where(CollectionAccount.external_id.not_in(recorded))
    if loan_ids is not None:
        out: list[tuple[str, str | None, dt.date]] = []
        for i in range(0, len(loan_ids), 900):
            part = loan_ids[i : i + 900]
            out.extend(tuple(r) for r in session.execute(stmt.where(CollectionAccount.external_id.in_(part))))  # type: ignore[misc]
        return out
    return [tuple(r) for r in session.execute(stmt)]  # type: ignore[misc]


def do_sync_creditors(
    *, session: Session, loan_ids: Iterable[str] | None = None, actor: str = "system"
) -> int:
    """Record the first-sight creditor of every mirrored loan (of ``loan_ids``) that has none: its
    extract's funding partner from its disbursement date. Returns how many were recorded."""
    ids = list(loan_ids) if loan_ids is not None else None
    matcher = _matcher(session)
    rows = _unrecorded(session, ids)
    session.add_all(
        LoanCreditor(
            loan_id=loan,
            creditor=_code_for(fp, matcher),
            since=since,
            source="extract",
            recorded_by=actor,
            recorded_at=utcnow(),
        )
        for loan, fp, since in rows
    )
    session.flush()
    return len(rows)


def history_frame(*, session: Session, loan_ids: Iterable[str] | None = None) -> pl.DataFrame:
    """``loan_id, creditor, since, source`` of the loans (all mirrored loans by default): the recorded rows
    and, for loans never recorded, their first-sight row (computed, not written)."""
    ids = list(loan_ids) if loan_ids is not None else None
    stmt = select(LoanCreditor.loan_id, LoanCreditor.creditor, LoanCreditor.since, LoanCreditor.source)
    recorded: list[tuple[str, str, dt.date, str]] = []
    if ids is None:
        recorded = [tuple(r) for r in session.execute(stmt)]  # type: ignore[misc]
    else:
        for i in range(0, len(ids), 900):
            part = ids[i : i + 900]
            recorded.extend(tuple(r) for r in session.execute(stmt.where(LoanCreditor.loan_id.in_(part))))  # type: ignore[misc]
    matcher = _matcher(session)
    virtual = [
        (loan, _code_for(fp, matcher), since, "extract") for loan, fp, since in _unrecorded(session, ids)
    ]
    return pl.DataFrame(
        recorded + virtual, schema={**HISTORY_SCHEMA, "source": pl.String()}, orient="row"
    ).sort("loan_id", "since")


def creditor_on(loan_id: str, on: dt.date, *, session: Session) -> str:
    """The loan's creditor on ``on`` (``own`` for a loan never seen)."""
    hist = history_frame(session=session, loan_ids=[loan_id])
    if hist.is_empty():
        return OWN
    before = hist.filter(pl.col("since") <= on)
    row = before.tail(1) if not before.is_empty() else hist.head(1)
    return str(row.item(0, "creditor"))


# ------------------------------------------------------------------------------------------- payouts


def do_record_payout(
    loan_id: str,
    *,
    guarantor: str,
    amount: int,
    paid_on: dt.date,
    session: Session,
    actor: str,
    reference: str = "",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> GuarantorPayout:
    """Record guarantor ``guarantor``'s payout (代偿) of ``amount`` on ``paid_on``: from that day it is the
    loan's creditor. A further payout by the creditor itself changes nothing in the history."""
    s = settings or get_settings()
    at = now or utcnow()
    account = session.scalar(select(CollectionAccount).where(CollectionAccount.external_id == loan_id))
    if account is None:
        raise NotFoundError(
            f"no loan {loan_id} in collections / 借据 {loan_id} 不存在", details={"loan_id": loan_id}
        )
    g = session.scalar(select(FundingPartner).where(FundingPartner.code == guarantor))
    if g is None:
        raise NotFoundError(
            f"no funding partner {guarantor}; register it first / 资金方 {guarantor} 未登记",
            details={"guarantor": guarantor},
        )
    if g.kind != "guarantor" or not g.active:
        raise _refuse(
            "guarantor",
            f"{guarantor} is a {g.kind}, not an active guarantor",
            f"{guarantor} 不是有效的担保公司",
        )
    if amount <= 0:
        raise _refuse("amount", "the payout amount must be positive", "代偿金额须大于零")
    if paid_on > at.astimezone(s.tz).date():
        raise _refuse("date", "a payout is recorded once paid, not in advance", "代偿日期不能晚于今天")
    do_sync_creditors(session=session, loan_ids=[loan_id], actor=actor)
    hist = history_frame(session=session, loan_ids=[loan_id])
    latest = hist.tail(1)
    last: dt.date = latest.item(0, "since")
    if paid_on < last:
        raise FundingStateError(
            f"loan {loan_id}'s creditor changed on {last}; a payout cannot be dated before it"
            f" / 借据 {loan_id} 的债权人已于 {last} 变更，代偿日期不能早于此日",
            details={"loan_id": loan_id, "since": str(last)},
        )
    previous = creditor_on(loan_id, paid_on, session=session)
    payout = GuarantorPayout(
        loan_id=loan_id,
        guarantor=g.code,
        previous_creditor=previous,
        amount=amount,
        currency=account.currency or s.currency,
        paid_on=paid_on,
        reference=(reference or "").strip()[:200],
        recorded_by=actor,
        recorded_at=at,
    )
    session.add(payout)
    session.flush()
    if previous != g.code:
        session.add(
            LoanCreditor(
                loan_id=loan_id,
                creditor=g.code,
                since=paid_on,
                source="payout",
                payout_id=payout.id,
                recorded_by=actor,
                recorded_at=at,
            )
        )
        session.flush()
    do_append(
        "funding.payout",
        {
            "payout_id": payout.id,
            "loan_id": loan_id,
            "guarantor": g.code,
            "previous_creditor": previous,
            "amount": amount,
            "paid_on": paid_on.isoformat(),
        },
        session=session,
        actor=actor,
        settings=s,
    )
    return payout


def list_payouts(*, session: Session, loan_id: str | None = None, limit: int = 200) -> list[GuarantorPayout]:
    q = (
        select(GuarantorPayout)
        .order_by(GuarantorPayout.paid_on.desc(), GuarantorPayout.id.desc())
        .limit(limit)
    )
    if loan_id:
        q = q.where(GuarantorPayout.loan_id == loan_id)
    return list(session.scalars(q))


# ------------------------------------------------------------------------------------ waiver authority


def check_creditor_allows_waiver(
    loan_ids: Iterable[str],
    *,
    waived: int,
    owed: int,
    on: dt.date,
    session: Session,
    settings: Settings | None = None,
) -> None:
    """Refuse (403 :class:`CreditorRefusesWaiverError`) a waiver of ``waived`` out of ``owed`` (minor units)
    on loans one of whose creditors on ``on`` does not permit waivers, or permits less. A creditor not in
    the register sets no limit (the lender's approval matrix alone decides)."""
    if waived <= 0:
        return
    s = settings or get_settings()

    def fmt(v: int) -> str:
        return format_amount(v, s.currency)

    for loan in sorted(set(loan_ids)):
        code = creditor_on(loan, on, session=session)
        p = partner_of(code, session=session)
        if p is None:
            continue
        who = f"{p.name} ({p.code})"
        details = {"loan_id": loan, "creditor": p.code, "waived": waived}
        if not p.permits_waivers:
            raise CreditorRefusesWaiverError(
                f"the creditor of loan {loan}, {who}, does not permit waivers; ask it first"
                f" / 借据 {loan} 的债权人 {who} 不允许减免，请先征得其同意",
                details=details,
            )
        if p.waiver_limit is not None and waived > p.waiver_limit:
            raise CreditorRefusesWaiverError(
                f"the creditor of loan {loan}, {who}, permits waivers up to {fmt(p.waiver_limit)};"
                f" this one is {fmt(waived)} / 借据 {loan} 的债权人 {who} 允许的减免上限为 "
                f"{fmt(p.waiver_limit)}，本次减免 {fmt(waived)}",
                details={**details, "limit": p.waiver_limit},
            )
        if p.waiver_max_bp is not None and owed > 0 and waived * 10_000 > p.waiver_max_bp * owed:
            share = f"{p.waiver_max_bp / 100:g}%"
            asked = f"{waived * 100 / owed:.1f}%"
            raise CreditorRefusesWaiverError(
                f"the creditor of loan {loan}, {who}, permits waivers up to {share} of what is owed;"
                f" this one is {asked} / 借据 {loan} 的债权人 {who} 允许的减免比例上限为 {share}，"
                f"本次为 {asked}",
                details={**details, "max_bp": p.waiver_max_bp},
            )


# ---------------------------------------------------------------------------------------- recoveries


def recoveries_detail(
    *,
    session: Session,
    start: dt.date,
    end: dt.date,
    lake_payments: pl.DataFrame | pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Every payment received on [start, end] (reversals negative) with the loan's creditor on that day."""
    from recoup.legal.limitation import payments_frame

    pays = payments_frame(session=session, lake_payments=lake_payments).filter(
        pl.col("received_date").is_between(start, end)
    )
    signed = pays.with_columns(
        amount=pl.when(pl.col("reverses").is_not_null()).then(-pl.col("amount")).otherwise(pl.col("amount"))
    )
    loans = signed.get_column("loan_id").unique().to_list()
    return creditor_of_payments(signed, history_frame(session=session, loan_ids=loans))


def recoveries_by_creditor(
    *,
    session: Session,
    start: dt.date,
    end: dt.date,
    lake_payments: pl.DataFrame | pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Collections on [start, end] per creditor on each payment's date, with the creditor's and the
    lender's parts (:func:`recoup.funding.kernel.split_by_creditor`)."""
    detail = recoveries_detail(session=session, start=start, end=end, lake_payments=lake_payments)
    return split_by_creditor(detail, partners_frame(session=session))
