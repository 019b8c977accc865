"""Factories for the legal tests: a case's account with a schedule and payments, an address, and the
contact policy's verdict on a message (import as ``from legal_factories import …``)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.cases.models import Case
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import Proposal, Verdict
from recoup.contact.policy.presets import resolve
from recoup.contact.service import check_attempt
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.portfolio.models import (
    AccountInstallment,
    AccountPayment,
    Borrower,
    CollectionAccount,
    ContactPoint,
)

SH = ZoneInfo("Asia/Shanghai")
_seq = itertools.count(1)


def account_of(session: Session, case: Case) -> CollectionAccount:
    return session.scalars(select(CollectionAccount).where(CollectionAccount.case_id == case.id)).one()


def borrower_key(session: Session, case: Case) -> str:
    b = session.get(Borrower, case.borrower_id)
    assert b is not None
    return b.external_id


def add_schedule(
    session: Session,
    case: Case,
    *,
    last_due: dt.date,
    n: int = 3,
    principal: int = 100_000,
    interest: int = 5_000,
) -> CollectionAccount:
    """``n`` monthly instalments ending on ``last_due``, nothing paid: the balance is n × (principal +
    interest) minor units."""
    acc = account_of(session, case)
    for i in range(n):
        due = last_due - dt.timedelta(days=30 * (n - 1 - i))
        session.add(
            AccountInstallment(
                account_id=acc.id,
                seq=i + 1,
                due_date=due,
                principal_due=principal,
                interest_due=interest,
                fee_due=0,
                penalty_due=0,
                principal_paid=0,
                interest_paid=0,
                fee_paid=0,
                penalty_paid=0,
            )
        )
    session.flush()
    return acc


def add_payment(
    session: Session, case: Case, *, on: dt.date, amount: int = 10_000, reverses: str | None = None
) -> AccountPayment:
    acc = account_of(session, case)
    p = AccountPayment(
        external_id=f"P{next(_seq):06d}-{uuid.uuid4().hex[:6]}",
        account_id=acc.id,
        received_date=on,
        amount=amount,
        channel="bank_transfer",
        reverses=reverses,
    )
    session.add(p)
    session.flush()
    return p


def add_address(session: Session, case: Case, value: str = "上海市浦东新区世纪大道100号") -> ContactPoint:
    cp = ContactPoint(
        external_id=f"AD{next(_seq):06d}-{uuid.uuid4().hex[:6]}",
        borrower_id=case.borrower_id,
        kind="address",
        value=value,
        role="self",
        consent_channels="letter,visit",
    )
    session.add(cp)
    session.flush()
    return cp


def verdict(
    session: Session,
    case: Case,
    *,
    at: dt.datetime,
    content: str,
    channel: Channel = Channel.SMS,
    preset: str = "cn",
) -> Verdict:
    """The contact policy's verdict on a message to the case's borrower at ``at``."""
    acc = account_of(session, case)
    proposal = Proposal(
        id=f"test:{uuid.uuid4().hex}",
        at=at,
        channel=channel,
        party=Party.DEBTOR,
        destination="13800138000" if channel is not Channel.LETTER else "上海市",
        destination_kind=DestinationKind.MOBILE if channel is not Channel.LETTER else DestinationKind.ADDRESS,
        debt_id=acc.external_id,
        content=content,
    )
    policy = Policy(resolve(preset, session=session))
    return check_attempt(policy, session=session, borrower_key=borrower_key(session, case), proposal=proposal)
