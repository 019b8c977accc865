"""Factories for the collections floor: people with roles, borrowers with accounts in collections and
their cases, held by someone or not (import as ``from floor_factories import …``)."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth import service as auth
from recoup.auth.models import AppUser
from recoup.auth.tokens import do_issue_personal_token
from recoup.cases.models import Case, CaseHolding, Team, WorkerProfile
from recoup.config import Settings
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy.models import WorkTask
from recoup.web.app import create_app

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


@functools.cache
def _password_hash(password: str) -> str:
    """One real scrypt hash of ``password`` per test process, shared by the factory's users: a hash
    costs ~65 ms by design and the suite makes well over a thousand users (tests/test_auth.py tests
    hashing itself, with a fresh salt each time)."""
    return auth.hash_password(password)


def make_user(session: Session, role: str, *, name: str | None = None, team: Team | None = None) -> AppUser:
    """An active user holding ``role`` (and a worker profile in ``team`` when given): what
    ``auth.do_create_user`` makes, the same validation, with the password hashed once per process."""
    auth.do_ensure_default_roles(session=session)
    username = name or f"{role.replace('_', '-')}.{next(_seq)}"
    roles = auth.check_new_user(username, PASSWORD, [role], session=session)
    user = AppUser(
        username=username,
        display_name="",
        email="",
        password_hash=_password_hash(PASSWORD),
        locale="zh_CN",
        is_active=True,
        roles=roles,
    )
    session.add(user)
    session.flush()
    if team is not None:
        session.add(
            WorkerProfile(user_id=user.id, team_id=team.id, kind="collector", pools=["m1"], skills={})
        )
        session.flush()
    return user


def make_team(session: Session, name: str, lead: AppUser | None = None) -> Team:
    team = Team(name=name, kind="collection", lead_id=lead.id if lead else None)
    session.add(team)
    session.flush()
    return team


def make_case(
    session: Session,
    *,
    holder: AppUser | None = None,
    dpd: int = 10,
    overdue: int = 150_000,
    as_of: dt.date = dt.date(2026, 12, 1),
    state: str = "allocated",
) -> Case:
    """A borrower with one account in collections and its open case (held by ``holder`` if given)."""
    n = next(_seq)
    borrower = Borrower(external_id=f"B{n:06d}", name="张三丰", customer_type="individual")
    session.add(borrower)
    session.flush()
    case = Case(
        borrower_id=borrower.id,
        status="open",
        state=state,
        grade=1,
        grade_rule="G1",
        opened_on=as_of - dt.timedelta(days=dpd),
        holder_id=holder.id if holder else None,
        held_since=as_of if holder else None,
    )
    session.add(case)
    session.flush()
    session.add(
        CollectionAccount(
            external_id=f"L{n:06d}",
            borrower_id=borrower.id,
            product_code="CASH",
            product_type="installment",
            repayment_method="equal_installment",
            currency="CNY",
            principal=1_000_000,
            annual_rate_bp=1800,
            term_months=12,
            disbursement_date=as_of - dt.timedelta(days=200),
            loan_status="active",
            status="open",
            case_id=case.id,
            opened_on=as_of - dt.timedelta(days=dpd),
            as_of=as_of,
            outstanding_principal=800_000,
            overdue_amount=overdue,
            dpd=dpd,
        )
    )
    if holder is not None:
        session.add(CaseHolding(case_id=case.id, holder_id=holder.id, start_date=as_of, reason="manual"))
    session.flush()
    return case


def token_for(session: Session, user: AppUser) -> str:
    """A personal API token for ``user`` (no password round trip)."""
    return do_issue_personal_token(user, "test", days=1, session=session).token


@contextmanager
def api_client(session: Session, settings: Settings) -> Iterator[TestClient]:
    """A TestClient on an app whose every request is a savepoint of the test's session."""

    @contextmanager
    def factory() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    app: FastAPI = create_app(settings, session_factory=factory)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def make_phone(
    session: Session, case: Case, *, value: str = "13800138000", role: str = "debtor"
) -> ContactPoint:
    """A mobile number of the case's borrower, with consent to calls."""
    point = ContactPoint(
        external_id=f"CP{next(_seq):06d}",
        borrower_id=case.borrower_id,
        kind="phone",
        value=value,
        role=role,
        consent_channels="call,sms",
    )
    session.add(point)
    session.flush()
    return point


def make_task(
    session: Session,
    case: Case,
    *,
    treatment: str = "agent_call",
    as_of: dt.date = dt.date(2026, 12, 1),
    priority: int = 0,
) -> WorkTask:
    """An open task on ``case`` assigned to its holder."""
    loan = session.scalar(select(CollectionAccount.external_id).where(CollectionAccount.case_id == case.id))
    task = WorkTask(
        as_of=as_of,
        debt_key=loan or "",
        borrower_key="",
        treatment=treatment,
        queue="m1",
        priority=priority,
        strategy="test",
        strategy_version=1,
        node="n",
        arm="a",
        reason="test",
        status="open",
        case_id=case.id,
        assignee_id=case.holder_id,
    )
    session.add(task)
    session.flush()
    return task
