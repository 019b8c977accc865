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
constant; messages a collector would send are not simulated here. Field agents are not simulated
either, but :func:`do_plan_field_visits` gives them a day's work: visits requested by the cases'
holders and approved by the team lead through :mod:`recoup.cases.visits`, for the field agents to
check in to and report from the phone pages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

import polars as pl
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from recoup.auth import service as auth
from recoup.auth.models import AppUser
from recoup.cases.allocate_flow import do_allocate
from recoup.cases.contact_log import do_log_contact, precheck_contact
from recoup.cases.models import Case, Team, WorkerProfile
from recoup.cases.promise_service import HORIZON_DAYS, PromiseRefusedError, do_make_promise
from recoup.cases.tasks import do_start_task, queue_for
from recoup.cases.visits import do_approve_visit, do_request_visit
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.presets import resolve
from recoup.contact.vocab import Disposition, Party, Treatment
from recoup.pii import PiiCipher
from recoup.portfolio.models import CollectionAccount, ContactPoint
from recoup.simulate.events import Action, DayEvents
from recoup.simulate.floor_offers import Offer, choose_offer, do_record_accepted

#: The demo's people sign in with this password (printed by the demo; never a production default).
DEMO_PASSWORD: Final = "recoup-demo"
#: The demo's people besides the collectors: (username, role, display name, worker kind or None).
DEMO_PEOPLE: Final = (
    ("admin", "admin", "管理员", None),
    ("manager", "manager", "催收经理", None),
    ("leader1", "team_lead", "组长一", None),
    ("field1", "field_agent", "外访员一", "field_agent"),
    ("field2", "field_agent", "外访员二", "field_agent"),
    ("agency1", "agency", "委外机构一", "agency"),
    ("agency2", "agency", "委外机构二", "agency"),
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
    offers: int = 0  # calls that carried a plan or settlement offer (floor_offers)
    settle_offers: int = 0  # of which settlement offers (collectors' and the agencies' calls)
    plans: int = 0  # accepted on the call and recorded as active plans
    settlements: int = 0  # accepted and recorded as active settlements
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
    agents = [(name, "field_agent") for name, _role, _display, kind in DEMO_PEOPLE if kind == "field_agent"]
    for name, kind in [*((n, "collector") for n in names), *agents]:
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
    task_id: int | None
    point_id: int
    at: dt.datetime
    offer: Offer | None = None


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


def call_target(case: Case, *, session: Session) -> tuple[ContactPoint, str, int] | None:
    """Whom a call on ``case`` dials and about what: the borrower's first valid phone, the loan of the
    case's most overdue open account and its days past due; None when there is no phone or no open loan."""
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
    top = session.execute(
        select(CollectionAccount.external_id, CollectionAccount.dpd)
        .where(CollectionAccount.case_id == case.id, CollectionAccount.status == "open")
        .order_by(CollectionAccount.dpd.desc(), CollectionAccount.id)
        .limit(1)
    ).one_or_none()
    if phone is None or top is None:
        return None
    return phone, str(top.external_id), int(top.dpd or 0)


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
            if row["treatment"] not in ("agent_call", "plan_offer") or row["case_id"] in seen:
                continue
            case = session.get(Case, row["case_id"])
            if case is None or case.status != "open":
                continue
            target = call_target(case, session=session)
            if target is None:
                continue
            phone, loan, max_dpd = target
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
            offer = choose_offer(
                case, row["treatment"], max_dpd, day, session=session, settings=self.settings
            )
            action = Action(
                loan_id=loan,
                treatment=offer.treatment if offer else Treatment.AGENT_CALL,
                hour=local.hour,
                party=Party.DEBTOR,
                amount=offer.each if offer else 0,
                installments=offer.instalments if offer else 0,
            )
            out.offers += int(offer is not None)
            out.settle_offers += int(offer is not None and offer.kind == "settlement")
            calls.append(PlannedCall(action, user.username, case.id, row["task_id"], phone.id, at, offer))
        return calls

    def record_day(
        self, planned: list[PlannedCall], events: DayEvents, *, session: Session, out: FloorDay
    ) -> None:
        """Log what the world says happened on each planned call, and the promises made on them."""
        policy = self._policy(session)
        calls = (Treatment.AGENT_CALL.value, Treatment.PLAN_OFFER.value, Treatment.SETTLEMENT_OFFER.value)
        attempts = events.attempts.filter(pl.col("treatment").is_in(calls))
        by_loan = {r["loan_id"]: r for r in attempts.iter_rows(named=True)}
        promises = {r["loan_id"]: r for r in events.promises.iter_rows(named=True)}
        accepted = {r["loan_id"]: r for r in events.offers.filter(pl.col("accepted")).iter_rows(named=True)}
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
            offer = accepted.get(call.action.loan_id)
            if call.offer is not None and offer is not None:
                first = offer["first_date"]
                if do_record_accepted(
                    case, user, call.offer, first, call.at, session=session, settings=self.settings
                ):
                    out.plans += int(call.offer.kind == "plan")
                    out.settlements += int(call.offer.kind == "settlement")
            elif result == "promise" and promise is not None:
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


# ------------------------------------------------------------------------------------------ field visits

#: The demo's field team (two registered field agents go together on every visit).
FIELD_AGENTS: Final = ("field1", "field2")
#: City centres (lat, lon) of the cities of the synthetic extracts. Addresses are not geocoded: a
#: visit's point is its city's centre moved by up to about 3 km, the same for the same address.
_CITY_TEXT: Final = """
北京 39.9042 116.4074 | 上海 31.2304 121.4737 | 广州 23.1291 113.2644 | 深圳 22.5431 114.0579
成都 30.5728 104.0668 | 杭州 30.2741 120.1551 | 重庆 29.5630 106.5516 | 武汉 30.5928 114.3055
西安 34.3416 108.9398 | 苏州 31.2989 120.5853 | 南京 32.0603 118.7969 | 天津 39.0842 117.2009
长沙 28.2282 112.9388 | 郑州 34.7466 113.6254 | 东莞 23.0207 113.7518 | 青岛 36.0671 120.3826
合肥 31.8206 117.2272 | 沈阳 41.8057 123.4315 | 宁波 29.8683 121.5440 | 昆明 25.0389 102.7183
南宁 22.8170 108.3665 | 福州 26.0745 119.2965 | 济南 36.6512 117.1201 | 石家庄 38.0428 114.5149
贵阳 26.6470 106.6302 | 太原 37.8706 112.5489 | 南昌 28.6820 115.8579 | 温州 27.9943 120.6994
徐州 34.2044 117.2859 | 乌鲁木齐 43.8256 87.6168 | 哈尔滨 45.8038 126.5349 | 绵阳 31.4675 104.6796
赣州 25.8310 114.9350 | 洛阳 34.6197 112.4540 | 柳州 24.3264 109.4281 | 襄阳 32.0090 112.1224
遵义 27.7256 106.9272 | 湛江 21.2707 110.3594 | 曲靖 25.4900 103.7962 | 汉中 33.0676 107.0238
南充 30.8373 106.1107 | 周口 33.6260 114.6969 | 邵阳 27.2389 111.4677 | 普宁 23.2973 116.1659
仁怀 27.7917 106.4017 | 邳州 34.3340 117.9590 | 宣威 26.2190 104.1045
"""
CITY_CENTRES: Final[dict[str, tuple[float, float]]] = {
    name: (float(lat), float(lon))
    for name, lat, lon in (item.split() for item in _CITY_TEXT.replace("\n", "|").split("|") if item.strip())
}


def _visit_point(city: str, point_id: int) -> tuple[float, float]:
    """A stand-in for geocoding: the city centre moved by up to ±0.025° (about 3 km), fixed per address."""
    lat, lon = CITY_CENTRES[city]
    h = (point_id * 2_654_435_761) % 2**32
    return round(lat + ((h % 1000) / 1000 - 0.5) * 0.05, 6), round(
        lon + ((h // 1000 % 1000) / 1000 - 0.5) * 0.05, 6
    )


def do_plan_field_visits(
    day: dt.date,
    *,
    session: Session,
    settings: Settings,
    n: int = 4,
    approver: str = "leader1",
    now: dt.datetime | None = None,
) -> list[int]:
    """The field team's day, as a team lead arranges it: up to ``n`` visits on ``day`` for
    :data:`FIELD_AGENTS`, on the most overdue open cases held by collectors whose borrower has an address
    in the city where most such addresses are. Each visit is requested by the case's holder and approved
    by ``approver`` (:mod:`recoup.cases.visits`: two registered agents, four eyes). Idempotent: a day on
    which the agents already have visits gets none. The ids of the visits made."""
    agent_ids = [u.id for name in FIELD_AGENTS if (u := auth.get_user(name, session=session)) is not None]
    if len(agent_ids) < len(FIELD_AGENTS) or auth.get_user(approver, session=session) is None:
        return []
    planned = session.scalar(
        select(func.count(FieldVisit.id)).where(
            FieldVisit.planned_on == day,
            or_(FieldVisit.agent1_id.in_(agent_ids), FieldVisit.agent2_id.in_(agent_ids)),
        )
    )
    if planned:
        return []
    dpd = (
        select(CollectionAccount.case_id, func.max(CollectionAccount.dpd).label("dpd"))
        .where(CollectionAccount.status == "open")
        .group_by(CollectionAccount.case_id)
        .subquery()
    )
    rows = session.execute(
        select(Case, ContactPoint, AppUser.username)
        .join(dpd, dpd.c.case_id == Case.id)
        .join(AppUser, AppUser.id == Case.holder_id)
        .join(WorkerProfile, WorkerProfile.user_id == AppUser.id)
        .join(ContactPoint, ContactPoint.borrower_id == Case.borrower_id)
        .where(
            Case.status == "open",
            Case.stopped.is_(False),
            WorkerProfile.kind == "collector",
            ContactPoint.kind == "address",
            ContactPoint.is_valid,
        )
        .order_by(dpd.c.dpd.desc(), Case.id, ContactPoint.id)
    ).all()
    by_city: dict[str, list[tuple[Case, ContactPoint, str]]] = {}
    seen: set[int] = set()
    for case, point, holder in rows:
        city = next((c for c in CITY_CENTRES if point.value.startswith(c)), None)
        if city is None or case.id in seen or holder == approver:
            continue
        seen.add(case.id)
        by_city.setdefault(city, []).append((case, point, holder))
    if not by_city:
        return []
    city = max(by_city, key=lambda c: (len(by_city[c]), c))
    made: list[int] = []
    for case, point, holder in by_city[city][:n]:
        lat, lon = _visit_point(city, point.id)
        visit = do_request_visit(
            case,
            session=session,
            actor=holder,
            settings=settings,
            planned_on=day,
            address_point_id=point.id,
            address_lat=lat,
            address_lon=lon,
            agent1=FIELD_AGENTS[0],
            agent2=FIELD_AGENTS[1],
            now=now,
        )
        do_approve_visit(visit, session=session, actor=approver, settings=settings, now=now)
        made.append(visit.id)
    return made
