"""Simulated collectors working the real queue: the twin uses recoup the way a lender's people do.

Each simulated collector is a demo user with a worker profile. Every morning, after the cycle on the
previous day's extract, the day's allocation batch runs (:func:`recoup.cases.allocate_flow.do_allocate`)
and each collector takes the tasks of their queue (:func:`recoup.cases.tasks.queue_for`) in order within
their daily minutes, asking the contact policy before dialling
(:func:`recoup.cases.contact_log.precheck_contact`). The calls they decide to make are handed to the
twin's world as :class:`~recoup.simulate.events.Action` s for that day; the world's borrowers answer,
refuse or promise according to their hidden types, and pay (or not) in the days after. What the world
says happened on each call is then logged through :func:`recoup.cases.contact_log.do_log_contact`, and
each promise through :func:`recoup.cases.promise_service.do_make_promise`, negotiated within the
promise rules (horizon, the holder's period). The cycle judges the promises from later extracts, like
anyone's.

What still differs from a person: a simulated collector does not read the case page; talk time is a
constant; field agents and messages a collector would send are not simulated here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth import service as auth
from recoup.auth.models import AppUser
from recoup.cases.allocate_flow import do_allocate
from recoup.cases.contact_log import do_log_contact, precheck_contact
from recoup.cases.models import Case, Team, WorkerProfile
from recoup.cases.promise_service import HORIZON_DAYS, PromiseRefusedError, do_make_promise
from recoup.cases.tasks import do_start_task, queue_for
from recoup.config import Settings
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.contact.vocab import Disposition, Party, Treatment
from recoup.pii import PiiCipher
from recoup.portfolio.models import CollectionAccount, ContactPoint
from recoup.simulate.events import Action, DayEvents

#: The demo's people sign in with this password (printed by the demo; never a production default).
DEMO_PASSWORD: Final = "recoup-demo"
#: The demo's people besides the collectors: (username, role, display name, worker kind or None).
DEMO_PEOPLE: Final = (
    ("admin", "admin", "管理员", None),
    ("manager", "manager", "催收经理", None),
    ("leader1", "team_lead", "组长一", None),
    ("field1", "field_agent", "外访员一", "field_agent"),
    ("agency1", "agency", "委外机构一", "agency"),
    ("compliance1", "compliance", "合规专员一", None),
)
TALK_MINUTES: Final = 8  # a call with its wrap-up, as a collector plans the day
DAY_START: Final = dt.time(9, 0)


@dataclass
class FloorDay:
    """What the simulated floor did on one day."""

    allocated: int = 0
    tasks_done: int = 0
    calls: int = 0
    right_party: int = 0
    promises: int = 0
    skipped_by_policy: int = 0
    by_collector: dict[str, int] = field(default_factory=dict)


def do_setup_floor(n_collectors: int, *, session: Session) -> list[str]:
    """Create the demo's people (:data:`DEMO_PEOPLE`, ``collector1`` … ``collectorN`` in team lead
    ``leader1``'s team) with worker profiles where they hold cases; idempotent. Their usernames."""
    auth.do_ensure_default_roles(session=session)
    users: dict[str, AppUser] = {}
    for name, role, display, _kind in DEMO_PEOPLE:
        users[name] = auth.get_user(name, session=session) or auth.do_create_user(
            name, DEMO_PASSWORD, roles=[role], display_name=display, session=session
        )
    team = session.scalars(select(Team).where(Team.name == "demo M1+")).one_or_none()
    if team is None:
        team = Team(name="demo M1+", kind="collection", lead_id=users["leader1"].id)
        session.add(team)
        session.flush()
    names = [f"collector{i + 1}" for i in range(n_collectors)]
    for i, name in enumerate(names):
        users[name] = auth.get_user(name, session=session) or auth.do_create_user(
            name, DEMO_PASSWORD, roles=["collector"], display_name=f"催收员{i + 1}", session=session
        )
    pools = ["m1", "m1-yue", "m2m3", "m4plus"]
    for name, kind in [*((n, "collector") for n in names), ("field1", "field_agent")]:
        if session.get(WorkerProfile, users[name].id) is None:
            session.add(
                WorkerProfile(
                    user_id=users[name].id,
                    team_id=team.id,
                    kind=kind,
                    pools=pools if kind == "collector" else [],
                    skills={},
                    cap=400,
                    daily_minutes=420,
                )
            )
    session.flush()
    return [name for name, *_ in DEMO_PEOPLE] + names


@dataclass(frozen=True)
class PlannedCall:
    """A call a simulated collector decided to make (the policy allowed it before dialling)."""

    action: Action
    username: str
    case_id: int
    task_id: int
    point_id: int
    at: dt.datetime


#: The world's disposition of a call → what the collector logs.
_RESULTS: Final[dict[str, str]] = {
    Disposition.RIGHT_PARTY_CONTACT.value: "right_party",
    Disposition.THIRD_PARTY_CONTACT.value: "wrong_party",
    Disposition.NO_ANSWER.value: "no_answer",
    Disposition.BUSY.value: "no_answer",
    Disposition.VOICEMAIL.value: "no_answer",
    Disposition.WRONG_NUMBER.value: "wrong_number",
    Disposition.DISCONNECTED.value: "wrong_number",
    Disposition.REFUSED.value: "refused",
    Disposition.PROMISE_TO_PAY.value: "promise",
    Disposition.COMPLAINT.value: "dispute",
}


class FloorTwin:
    """The demo's simulated collectors (see the module docstring)."""

    def __init__(self, *, settings: Settings, cipher: PiiCipher) -> None:
        self.settings = settings
        self.cipher = cipher

    def _policy(self, session: Session) -> Policy:
        s = self.settings
        return Policy(
            resolve(s.jurisdiction, session=session), domains=s.link_domains, signatures=s.sms_signatures
        )

    def plan_day(self, day: dt.date, *, session: Session, out: FloorDay) -> list[PlannedCall]:
        """The morning of ``day``: allocate, then every collector goes down their queue and decides whom
        to call (and when) within their minutes; nothing is logged yet."""
        result = do_allocate(day, session=session, actor="leader1")
        out.allocated += result.counts.get("allocated", 0) + result.counts.get("returned", 0)
        policy = self._policy(session)
        rows = session.execute(
            select(AppUser, WorkerProfile.daily_minutes)
            .join(WorkerProfile, WorkerProfile.user_id == AppUser.id)
            .where(WorkerProfile.active, WorkerProfile.kind == "collector")
            .order_by(AppUser.username)
        ).all()
        planned: list[PlannedCall] = []
        for user, minutes in rows:
            planned.extend(self._plan(user, day, minutes, policy=policy, session=session, out=out))
        return planned

    def _plan(
        self, user: AppUser, day: dt.date, minutes: int, *, policy: Policy, session: Session, out: FloorDay
    ) -> list[PlannedCall]:
        queue = queue_for(user, session=session, today=day)
        clock = dt.datetime.combine(day, DAY_START, tzinfo=self.settings.tz)
        used = 0
        calls: list[PlannedCall] = []
        seen: set[int] = set()
        for row in queue.iter_rows(named=True):
            if used + TALK_MINUTES > minutes:
                break
            if row["treatment"] != "agent_call" or row["case_id"] in seen:
                continue
            case = session.get(Case, row["case_id"])
            if case is None or case.status != "open":
                continue
            phone = session.scalars(
                select(ContactPoint)
                .where(
                    ContactPoint.borrower_id == case.borrower_id,
                    ContactPoint.kind.in_(("phone", "mobile")),
                    ContactPoint.role.in_(("self", "debtor")),
                    ContactPoint.is_valid,
                )
                .order_by(ContactPoint.id)
                .limit(1)
            ).one_or_none()
            loan = session.scalar(
                select(CollectionAccount.external_id)
                .where(CollectionAccount.case_id == case.id, CollectionAccount.status == "open")
                .order_by(CollectionAccount.dpd.desc(), CollectionAccount.id)
                .limit(1)
            )
            if phone is None or loan is None:
                continue
            local = clock + dt.timedelta(minutes=used)
            at = local.astimezone(dt.UTC)
            verdict = precheck_contact(
                case, point=phone, channel="call", at=at, policy=policy, session=session, cipher=self.cipher
            )
            if verdict.verdict != "allowed":
                out.skipped_by_policy += 1
                continue
            do_start_task(row["task_id"], user, session=session)
            seen.add(case.id)
            used += TALK_MINUTES  # planned at the longest; the day's clock is the collector's plan
            action = Action(loan_id=loan, treatment=Treatment.AGENT_CALL, hour=local.hour, party=Party.DEBTOR)
            calls.append(PlannedCall(action, user.username, case.id, row["task_id"], phone.id, at))
        return calls

    def record_day(
        self, planned: list[PlannedCall], events: DayEvents, *, session: Session, out: FloorDay
    ) -> None:
        """Log what the world says happened on each planned call, and the promises made on them."""
        policy = self._policy(session)
        attempts = events.attempts.filter(pl.col("treatment") == Treatment.AGENT_CALL.value)
        by_loan = {r["loan_id"]: r for r in attempts.iter_rows(named=True)}
        promises = {r["loan_id"]: r for r in events.promises.iter_rows(named=True)}
        for call in planned:
            seen = by_loan.get(call.action.loan_id)
            if seen is None:
                continue
            result = _RESULTS.get(str(seen["disposition"]), "no_answer")
            case = session.get(Case, call.case_id)
            user = auth.get_user(call.username, session=session)
            if case is None or user is None:
                continue
            do_log_contact(
                case,
                session=session,
                actor=call.username,
                channel="call",
                result=result,
                contact_point_id=call.point_id,
                policy=policy,
                settings=self.settings,
                cipher=self.cipher,
                at=call.at,
                task_id=call.task_id,
                now=call.at,
            )
            out.calls += 1
            out.tasks_done += 1
            out.right_party += int(bool(seen["reached"]))
            out.by_collector[call.username] = out.by_collector.get(call.username, 0) + 1
            promise = promises.get(call.action.loan_id)
            if result == "promise" and promise is not None:
                out.promises += int(self._promise(case, user, call.at, promise, session=session))

    def _promise(
        self, case: Case, user: AppUser, at: dt.datetime, promise: dict[str, object], *, session: Session
    ) -> bool:
        """Record the borrower's promise within the rules: the date they named, brought forward to the
        bucket's horizon and the end of the holder's period if it is later (the borrower still pays when
        they meant to, so such a promise may be judged broken)."""
        made_on = at.astimezone(self.settings.tz).date()
        dpd = session.scalar(
            select(CollectionAccount.dpd)
            .where(CollectionAccount.case_id == case.id, CollectionAccount.status == "open")
            .order_by(CollectionAccount.dpd.desc())
            .limit(1)
        )
        bucket = "M1" if (dpd or 0) <= 30 else "M2+"
        named = promise["promised_date"]
        assert isinstance(named, dt.date)
        due = max(
            made_on, min(named, made_on + dt.timedelta(days=HORIZON_DAYS.get(bucket, HORIZON_DAYS["*"])))
        )
        if case.period_end is not None:
            due = min(due, case.period_end)
        amount = promise["amount"]
        assert isinstance(amount, int)
        try:
            do_make_promise(
                case.id,
                session=session,
                actor=user.username,
                by="debtor",
                amount=amount,
                due_date=due,
                made_at=at,
                tz=self.settings.tz,
                bucket=bucket,
                period_end=case.period_end,
            )
        except PromiseRefusedError:
            return False
        return True
