"""``recoup policy audit``: replay every recorded attempt through the policy as it stood at the time.

This independent replay is how violations are measured everywhere (strategy evaluation, reports),
never a counter kept by whoever sent. For each attempt: the preset version in force at the attempt's
time (the newest saved version created by then, else the built-in), the borrower's holds, consents and
flags as recorded by then, and every attempt made before it by anyone. An attempt whose verdict is not
``allowed`` is a violation (a deferred verdict means it was made at a time it was not allowed).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.configs.models import ConfigVersion
from recoup.contact.models import ContactAttempt
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import History, PriorAttempt, Proposal
from recoup.contact.policy.presets import KIND, from_payload, load_builtin
from recoup.contact.service import borrower_state
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Party

__all__ = ["PolicyHistory", "Violation", "audit"]

#: How far back the attempts before the window are read (the longest rule window is a month; the
#: emergency-contact gate looks at the last attempts whenever they were).
LOOKBACK_DAYS = 400


@dataclass(frozen=True)
class Violation:
    """A recorded attempt the policy would not have allowed."""

    attempt_id: int
    source: str
    external_id: str
    borrower_key: str
    debt_key: str | None
    at: str
    channel: str
    party: str
    destination: str  # masked
    made_by: str
    agency: str | None
    verdict: str
    rules: tuple[str, ...]
    preset: str

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["rules"] = list(self.rules)
        return out


class PolicyHistory:
    """Every saved version of a preset, loaded once: which one was in force at a given time."""

    def __init__(
        self, name: str, *, session: Session, domains: Sequence[str] = (), signatures: Sequence[str] = ()
    ) -> None:
        rows = session.scalars(
            select(ConfigVersion)
            .where(ConfigVersion.kind == KIND, ConfigVersion.name == name)
            .order_by(ConfigVersion.created_at, ConfigVersion.version)
        ).all()
        self.name = name
        self.kw: dict[str, Sequence[str]] = {"domains": domains, "signatures": signatures}
        self.starts = [r.created_at for r in rows]
        self.rows = list(rows)
        self.cache: dict[int, Policy] = {}

    def at(self, when: dt.datetime) -> Policy:
        """The policy as it stood at ``when`` (the built-in before any version was saved)."""
        i = bisect.bisect_right(self.starts, when) - 1
        if i not in self.cache:
            if i < 0:
                preset = load_builtin(self.name)
            else:
                row = self.rows[i]
                preset = from_payload(dict(row.payload), str(row.version))
            self.cache[i] = Policy(preset, domains=self.kw["domains"], signatures=self.kw["signatures"])
        return self.cache[i]


def _prior(rows: list[ContactAttempt]) -> list[PriorAttempt]:
    return [
        PriorAttempt(
            r.at,
            Channel(r.channel),
            Party(r.party),
            r.destination_hash,
            AttemptOutcome(r.outcome),
            r.debt_key,
        )
        for r in rows
    ]


def audit(
    *,
    session: Session,
    start: dt.date,
    end: dt.date,
    preset: str,
    timezone: str = "Asia/Shanghai",
    domains: Sequence[str] = (),
    signatures: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Violation]:
    """Yield the violations among attempts made on business dates ``start``…``end`` (inclusive).

    ``domains`` and ``signatures`` are the lender's link whitelist and registered SMS signatures
    (``Settings.link_domains`` / ``sms_signatures``), which the content rules of recorded messages need.
    """
    zone = ZoneInfo(timezone)
    lo = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    keys = session.scalars(
        select(ContactAttempt.borrower_key)
        .where(ContactAttempt.at >= lo, ContactAttempt.at < hi)
        .distinct()
        .order_by(ContactAttempt.borrower_key)
    ).all()
    versions = PolicyHistory(preset, session=session, domains=domains, signatures=signatures)
    for i, key in enumerate(keys):
        rows = list(
            session.scalars(
                select(ContactAttempt)
                .where(
                    ContactAttempt.borrower_key == key,
                    ContactAttempt.at >= lo - dt.timedelta(days=LOOKBACK_DAYS),
                    ContactAttempt.at < hi,
                )
                .order_by(ContactAttempt.at, ContactAttempt.id)
            )
        )
        history = History(_prior(rows))
        state = borrower_state(key, session=session)
        for r in rows:
            if r.at < lo:
                continue
            policy = versions.at(r.at)
            proposal = Proposal(
                id=str(r.id),
                at=r.at,
                channel=Channel(r.channel),
                party=Party(r.party),
                destination=r.destination_hash,
                destination_kind=DestinationKind(r.destination_kind) if r.destination_kind else None,
                debt_id=r.debt_key,
                content=r.content,
            )
            verdict = policy.judge(proposal, borrower=state.at(r.at), history=history, now=r.at)
            if verdict.verdict != "allowed":
                yield Violation(
                    attempt_id=r.id,
                    source=r.source,
                    external_id=r.external_id,
                    borrower_key=r.borrower_key,
                    debt_key=r.debt_key,
                    at=r.at.astimezone(zone).isoformat(),
                    channel=r.channel,
                    party=r.party,
                    destination=r.destination_masked,
                    made_by=r.made_by,
                    agency=r.agency,
                    verdict=verdict.verdict,
                    rules=verdict.rules,
                    preset=verdict.preset,
                )
        if progress is not None:
            progress(i + 1, len(keys))
