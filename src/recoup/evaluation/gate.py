"""The evaluation's policy gate and attempt log: every attempt the simulated collectors and the
dispatcher want to make is judged by the contact policy before the twin sees it, and every attempt made
is recorded like a real one (``contact_attempt`` in a run-local SQLite database) for the independent
``policy audit`` at the end of the run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import insert
from sqlalchemy.orm import Session

from recoup.contact.models import ContactAttempt
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import BorrowerContext, History, PriorAttempt, Proposal
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Party, Treatment
from recoup.pii import PiiCipher, mask_email, mask_phone
from recoup.simulate import Action
from recoup.strategy.definition import MESSAGE_TREATMENTS

__all__ = ["EVAL_KEY", "LENDER_TZ", "Attempt", "AttemptLog", "Destinations", "Gate", "Recorder"]

LENDER_TZ = "Asia/Shanghai"
#: A fixed key for the evaluation's own attempt log: its destinations are fake, and a fixed key keeps
#: the log byte-identical per seed (the deployment's PII key is never touched).
EVAL_KEY = hashlib.sha256(b"recoup strategy evaluate: fake destinations").digest()


# ------------------------------------------------------------------------------------------ the gate


@dataclass
class Attempt:
    """A planned contact attempt, or a legal step / placement (``channel`` None: contacts no one)."""

    pos: int  # row in the day's task frame
    loan_id: str
    borrower_id: str
    tz: str
    treatment: Treatment
    channel: Channel | None
    party: Party
    hour: int
    resource: str
    use: int
    minute: int = 0
    verdict: str = ""
    rules: tuple[str, ...] = ()

    @property
    def contacts(self) -> bool:
        return self.channel is not None


class AttemptLog:
    """One borrower's attempts as the policy sees them; the indexed :class:`History` is rebuilt only
    when the log changed since it was last judged."""

    __slots__ = ("history", "items")

    def __init__(self) -> None:
        self.items: list[PriorAttempt] = []
        self.history: History | None = None

    def add(self, attempt: PriorAttempt) -> None:
        self.items.append(attempt)
        self.history = None

    def indexed(self) -> History:
        if self.history is None:
            self.history = History(self.items)
        return self.history


class Destinations:
    """A stable fake destination per borrower, party and kind, and its keyed hash (what the log stores)."""

    _PREFIX: ClassVar[dict[Party, str]] = {
        Party.DEBTOR: "1990",
        Party.GUARANTOR: "1991",
        Party.EMERGENCY_CONTACT: "1992",
    }

    def __init__(self) -> None:
        self.cipher = PiiCipher(EVAL_KEY)
        self.cache: dict[tuple[str, Party, DestinationKind], tuple[str, str]] = {}

    @staticmethod
    def kind(channel: Channel) -> DestinationKind:
        if channel is Channel.EMAIL:
            return DestinationKind.EMAIL
        if channel is Channel.IM:
            return DestinationKind.IM
        if channel in (Channel.VISIT, Channel.LETTER):
            return DestinationKind.ADDRESS
        return DestinationKind.MOBILE

    def get(self, borrower: str, party: Party, kind: DestinationKind) -> tuple[str, str]:
        """(hash, masked) of the destination."""
        key = (borrower, party, kind)
        hit = self.cache.get(key)
        if hit is None:
            digits = borrower[1:]
            n = (
                int(digits)
                if digits.isdigit()
                else int(hashlib.sha256(borrower.encode()).hexdigest()[:6], 16)
            )
            who = party.value
            if kind is DestinationKind.MOBILE:
                text = self._PREFIX.get(party, "1993") + f"{n:07d}"
                masked = mask_phone(text)
            elif kind is DestinationKind.EMAIL:
                text = f"{who}.{n}@sim.invalid"
                masked = mask_email(text)
            else:
                text = f"{kind.value}:{who}:{n}"
                masked = f"{kind.value}:{who}:***"
            hit = (self.cipher.lookup_hash(text), masked)
            self.cache[key] = hit
        return hit


class Gate:
    """The only way an attempt reaches the twin: judged by the contact policy, with the borrower's
    attempts so far (earlier days with their real outcomes; earlier today with the worst outcome for
    every cap, since the twin tells today's outcomes only at the end of the day)."""

    def __init__(self, policy: Policy, destinations: Destinations) -> None:
        self.policy = policy
        self.dest = destinations
        self.logs: dict[str, AttemptLog] = {}
        self.contexts: dict[str, BorrowerContext] = {}
        self.zones: dict[str, ZoneInfo] = {}
        self.verdicts: Counter[str] = Counter()
        self.rules: Counter[str] = Counter()
        #: (loan, treatment, hour, party) of the attempts allowed today: what :meth:`actions` may build.
        self.allowed_today: set[tuple[str, str, int, str]] = set()
        self.seconds = 0.0
        self.passed = 0  # actions handed to the twin

    def _context(self, tz: str) -> BorrowerContext:
        ctx = self.contexts.get(tz)
        if ctx is None:
            ctx = self.contexts[tz] = BorrowerContext(timezone=tz)
        return ctx

    def at(self, day: dt.date, a: Attempt) -> dt.datetime:
        zone = self.zones.get(a.tz)
        if zone is None:
            zone = self.zones[a.tz] = ZoneInfo(a.tz)
        return dt.datetime.combine(day, dt.time(a.hour, a.minute), tzinfo=zone)

    def judge(self, day: dt.date, a: Attempt, today: list[PriorAttempt]) -> bool:
        """Judge ``a``; record the verdict on it; True when allowed."""
        assert a.channel is not None
        t0 = time.perf_counter()
        kind = self.dest.kind(a.channel)
        dest, _ = self.dest.get(a.borrower_id, a.party, kind)
        at = self.at(day, a)
        log = self.logs.get(a.borrower_id)
        if today:
            # Attempts made earlier today, each counted both as answered and as unanswered (the worst
            # case for every cap and for the emergency-contact gate).
            prior = (log.items if log is not None else []) + today
            history = History(prior)
        else:
            history = log.indexed() if log is not None else History(())
        proposal = Proposal(
            id=f"{a.loan_id}:{a.treatment.value}",
            at=at,
            channel=a.channel,
            party=a.party,
            destination=dest,
            destination_kind=kind,
            debt_id=a.loan_id,
        )
        v = self.policy.judge(proposal, borrower=self._context(a.tz), history=history)
        a.verdict, a.rules = v.verdict, v.rules
        self.verdicts[v.verdict] += 1
        for r in v.rules:
            self.rules[f"{v.verdict}:{r}"] += 1
        if v.verdict == "allowed":
            self.allowed_today.add((a.loan_id, a.treatment.value, a.hour, a.party.value))
            today.append(PriorAttempt(at, a.channel, a.party, dest, AttemptOutcome.NO_ANSWER, a.loan_id))
            today.append(PriorAttempt(at, a.channel, a.party, dest, AttemptOutcome.CONVERSATION, a.loan_id))
        self.seconds += time.perf_counter() - t0
        return v.verdict == "allowed"

    def work(self, day: dt.date, queue: list[Attempt], fits: Sequence[bool]) -> list[Attempt]:
        """The day's allowed attempts: the queue's prefix within capacity, judged in time order; the
        capacity freed by blocked and deferred ones goes to the next in the queue (borrowers not yet
        contacted today, so that no later-judged attempt lands before an earlier-judged one)."""
        self.allowed_today.clear()
        today: dict[str, list[PriorAttempt]] = {}
        slot: Counter[tuple[str, int]] = Counter()
        freed: Counter[str] = Counter()
        made: list[Attempt] = []
        chosen = [a for a, f in zip(queue, fits, strict=True) if f]
        for a in sorted(chosen, key=lambda x: (x.hour, x.pos)):
            if not a.contacts:
                a.verdict = "allowed"  # a legal review or a placement contacts no one
                made.append(a)
                continue
            # Attempts on one borrower in one hour get distinct minutes, so each counts for the next.
            a.minute = slot[(a.borrower_id, a.hour)]
            slot[(a.borrower_id, a.hour)] += 1
            if self.judge(day, a, today.setdefault(a.borrower_id, [])):
                made.append(a)
            else:
                freed[a.resource] += a.use
        if freed:
            for a, f in zip(queue, fits, strict=True):
                if f or freed[a.resource] < a.use or not a.contacts or today.get(a.borrower_id):
                    continue
                a.minute = slot[(a.borrower_id, a.hour)]
                slot[(a.borrower_id, a.hour)] += 1
                if self.judge(day, a, today.setdefault(a.borrower_id, [])):
                    freed[a.resource] -= a.use
                    made.append(a)
        for a in queue:
            if not a.verdict:
                a.verdict = "over_capacity"
        return made

    def actions(self, made: list[Attempt]) -> list[Action]:
        """Actions for the twin: only from attempts this gate allowed today (the one way the loop builds
        them); a contact the policy did not allow cannot become an action."""
        out = []
        for a in made:
            key = (a.loan_id, a.treatment.value, a.hour, a.party.value)
            if a.verdict != "allowed" or (a.contacts and key not in self.allowed_today):
                raise AssertionError(f"an unjudged attempt on {a.loan_id} would reach the twin")
            out.append(Action(a.loan_id, a.treatment, hour=a.hour, party=a.party))
        self.passed += len(out)
        return out

    def remember(self, day: dt.date, made: list[Attempt], outcomes: Mapping[str, str]) -> None:
        """Add the day's attempts with the outcomes the twin reported to the borrowers' logs."""
        for a in sorted(made, key=lambda x: (x.hour, x.minute, x.pos)):
            if not a.contacts:
                continue
            assert a.channel is not None
            kind = self.dest.kind(a.channel)
            dest, _ = self.dest.get(a.borrower_id, a.party, kind)
            outcome = AttemptOutcome(outcomes[a.loan_id])
            log = self.logs.get(a.borrower_id)
            if log is None:
                log = self.logs[a.borrower_id] = AttemptLog()
            log.add(PriorAttempt(self.at(day, a), a.channel, a.party, dest, outcome, a.loan_id))


# ------------------------------------------------------------------------------------------ recording


#: Who works each task in the twin (the log's ``made_by``; messages are sent by the dispatcher).
_MADE_BY = {Treatment.FIELD_VISIT: "sim-field", Treatment.LAWYER_LETTER: "sim-legal"}


class Recorder:
    """The attempt log: ``contact_attempt`` rows in a SQLite database of the run's own, with the same
    columns as a real attempt (keyed destination hash, masked destination, UTC time); the policy audit
    replays it at the end."""

    def __init__(self, path: Path, destinations: Destinations, preset_label: str) -> None:
        from recoup import migrate
        from recoup.db import make_engine

        self.path = path
        self.engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(self.engine)
        self.dest = destinations
        self.preset = preset_label
        self.borrowers: dict[str, str] = {}  # borrower key → time zone
        self.count = 0

    def write(self, day: dt.date, gate: Gate, made: list[Attempt], attempts: pl.DataFrame) -> None:
        by_loan = {r[0]: r for r in attempts.select("loan_id", "outcome", "disposition").iter_rows()}
        rows: list[dict[str, Any]] = []
        for a in made:
            if not a.contacts:
                continue
            assert a.channel is not None
            _, outcome, disposition = by_loan[a.loan_id]
            kind = self.dest.kind(a.channel)
            dest, masked = self.dest.get(a.borrower_id, a.party, kind)
            at = gate.at(day, a).astimezone(dt.UTC)
            message = a.treatment in MESSAGE_TREATMENTS
            made_by = "dispatcher" if message else _MADE_BY.get(a.treatment, "sim-collector")
            rows.append(
                {
                    "source": "dispatcher" if message else "collector",
                    "external_id": f"{day.isoformat()}:{a.loan_id}:{a.treatment.value}",
                    "borrower_key": a.borrower_id,
                    "debt_key": a.loan_id,
                    "party": a.party.value,
                    "channel": a.channel.value,
                    "destination_hash": dest,
                    "destination_masked": masked,
                    "destination_kind": kind.value,
                    "at": at,
                    "outcome": outcome,
                    "disposition": disposition,
                    "recording_ref": None,
                    "made_by": made_by,
                    "agency": None,
                    "content": None,
                    "preset": self.preset,
                    "created_at": at,
                }
            )
            self.borrowers.setdefault(a.borrower_id, a.tz)
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(ContactAttempt), rows)
            self.count += len(rows)

    def audit(self, first: dt.date, last: dt.date, preset: str) -> tuple[int, Counter[str]]:
        """The independent replay (``recoup policy audit``): violations and their rule ids."""
        from recoup.contact.policy.audit import audit
        from recoup.portfolio.models import Borrower

        with Session(self.engine) as session:
            if self.borrowers:
                # The audit reads each borrower's time zone (their clock decides the quiet hours).
                rows = [
                    {"external_id": k, "name": "", "timezone": tz} for k, tz in sorted(self.borrowers.items())
                ]
                session.execute(insert(Borrower), rows)
                session.commit()
            rules_hit: Counter[str] = Counter()
            n = 0
            for v in audit(session=session, start=first, end=last, preset=preset, timezone=LENDER_TZ):
                n += 1
                for r in v.rules:
                    rules_hit[r] += 1
        return n, rules_hit

    def close(self) -> None:
        self.engine.dispose()
