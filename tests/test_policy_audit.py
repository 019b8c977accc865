"""``policy audit`` finds every attempt planted against the rules in a seeded log, and none of the lawful.

The log mixes lender, agency and dispatcher attempts for 240 borrowers built from templates with random
days, times and numbers (seeded). Each planted attempt carries the rule it breaks; the audit must
report exactly the planted attempts, each with that rule. Two templates check "the policy as it stood
at the time": a hold recorded only after the attempt, and a stricter preset version saved mid-month.
"""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.configs.models import ConfigVersion
from recoup.contact.models import ContactAttempt
from recoup.contact.policy.audit import audit
from recoup.contact.policy.model import ConsentScope, HoldKind
from recoup.contact.policy.presets import do_save_preset
from recoup.contact.service import do_add_hold, do_record_attempt, do_record_consent
from recoup.contact.vocab import AttemptOutcome as O
from recoup.contact.vocab import Channel, Party
from recoup.pii import PiiCipher
from recoup.portfolio.models import Borrower, ContactPoint

SH = ZoneInfo("Asia/Shanghai")
TEMPLATES = (
    "lawful",
    "night",
    "night_urumqi",
    "cap",
    "dial",
    "party",
    "gate_early",
    "gate_ok",
    "hold",
    "hold_late",
    "revoked",
    "preset_before",
    "preset_after",
)


class Log:
    def __init__(self, session: Session, cipher: PiiCipher) -> None:
        self.session = session
        self.cipher = cipher
        self.n = 0
        self.planted: dict[int, str] = {}
        self.lawful: set[int] = set()

    def add(
        self,
        b: str,
        at: dt.datetime,
        *,
        outcome: O = O.NO_ANSWER,
        dest: str = "13800000001",
        channel: Channel = Channel.CALL,
        party: Party = Party.DEBTOR,
        by: str = "c1",
        agency: str | None = None,
        breaks: str | None = None,
    ) -> None:
        self.n += 1
        row = do_record_attempt(
            session=self.session,
            source="agency" if agency else "collector",
            external_id=f"a{self.n}",
            borrower_key=b,
            debt_key=f"L-{b}",
            at=at,
            channel=channel,
            party=party,
            destination=dest,
            outcome=outcome,
            made_by=by,
            agency=agency,
            cipher=self.cipher,
        )
        if breaks:
            self.planted[row.id] = breaks
        else:
            self.lawful.add(row.id)


def _borrower(session: Session, key: str, tz: str = "Asia/Shanghai", emergency: int = 2) -> None:
    b = Borrower(external_id=key, name="张三", timezone=tz)
    session.add(b)
    session.flush()
    for i in range(emergency):
        session.add(
            ContactPoint(
                external_id=f"{key}-e{i}",
                borrower_id=b.id,
                kind="phone",
                value=f"1390000{i:04d}",
                role="emergency_contact",
            )
        )
    session.flush()


def _at(day: dt.date, hh: int, mm: int = 0, tz: ZoneInfo = SH) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=tz)


def test_audit_finds_exactly_the_planted(session: Session) -> None:
    rng = random.Random(20261124)
    cipher = PiiCipher(bytes(range(32)))
    log = Log(session, cipher)
    # A stricter version of cn (two connected calls a day) saved on 20 November, 00:00 Shanghai time.
    version = do_save_preset("cn", "cn", {"CN-FREQ-CONN": {"max": 2}}, session=session, actor="officer")
    row = session.scalars(select(ConfigVersion).where(ConfigVersion.name == "cn")).one()
    assert version.version == "1"
    row.created_at = _at(dt.date(2026, 11, 20), 0)
    session.flush()

    for i in range(240):
        t = TEMPLATES[i % len(TEMPLATES)]
        b = f"B{i:04d}"
        _borrower(session, b, tz="Asia/Urumqi" if t == "night_urumqi" else "Asia/Shanghai")
        day = dt.date(2026, 11, 2) + dt.timedelta(days=rng.randrange(0, 17))  # before the 20th
        mm = rng.randrange(0, 60)
        if t == "lawful":
            log.add(b, _at(day, 9, mm), outcome=O.CONVERSATION)
            log.add(b, _at(day, 14, mm), channel=Channel.SMS, outcome=O.CONNECTED)
            log.add(b, _at(day, 21, mm), outcome=O.NO_ANSWER, agency="AG1", by="ag1-7")
        elif t == "night":
            log.add(b, _at(day, 10, mm), outcome=O.CONVERSATION)
            hh = rng.choice([22, 23, 0, 5, 7])
            log.add(
                b,
                _at(day + dt.timedelta(days=1), hh, mm),
                channel=Channel.SMS,
                outcome=O.CONNECTED,
                breaks="CN-TIME",
            )
        elif t == "night_urumqi":
            # 09:30 in Beijing is 07:30 in Urumqi, where this borrower lives.
            log.add(b, _at(day, 9, 30), outcome=O.CONVERSATION, breaks="CN-TIME")
            log.add(b, _at(day, 11, mm), outcome=O.CONVERSATION)
        elif t == "cap":
            log.add(b, _at(day, 9, mm), outcome=O.CONVERSATION)
            log.add(b, _at(day, 11, mm), outcome=O.CONNECTED, agency="AG2", by="ag2-1", dest="13800000002")
            log.add(b, _at(day, 13, mm), outcome=O.CONVERSATION)
            log.add(
                b, _at(day, 16, mm), outcome=O.CONVERSATION, agency="AG1", by="ag1-3", breaks="CN-FREQ-CONN"
            )
        elif t == "dial":
            for k in range(6):
                log.add(b, _at(day, 9 + k, mm), outcome=rng.choice([O.NO_ANSWER, O.FAILED]))
            log.add(b, _at(day, 17, mm), outcome=O.NO_ANSWER, breaks="CN-FREQ-DIAL")
        elif t == "party":
            log.add(
                b,
                _at(day, 10, mm),
                party=Party.THIRD_PARTY,
                dest="13700000000",
                outcome=O.CONVERSATION,
                breaks="CN-PARTY",
            )
        elif t == "gate_early":
            log.add(b, _at(day, 9, mm), outcome=O.NO_ANSWER)
            log.add(
                b,
                _at(day, 10, mm),
                party=Party.EMERGENCY_CONTACT,
                dest="13900000000",
                outcome=O.CONVERSATION,
                breaks="CN-3P-GATE",
            )
        elif t == "gate_ok":
            for k in range(3):
                log.add(b, _at(day, 9 + k, mm), outcome=O.NO_ANSWER)
            log.add(
                b, _at(day, 13, mm), party=Party.EMERGENCY_CONTACT, dest="13900000000", outcome=O.CONVERSATION
            )
        elif t == "hold":
            do_add_hold(
                session=session,
                borrower_key=b,
                kind=HoldKind.CEASE,
                start=_at(day - dt.timedelta(days=2), 0),
                recorded_at=_at(day - dt.timedelta(days=2), 9),
            )
            log.add(b, _at(day, 10, mm), channel=Channel.SMS, outcome=O.CONNECTED, breaks="HOLD-CEASE")
        elif t == "hold_late":
            # The hold started earlier but was recorded only the next day: the call was lawful then.
            do_add_hold(
                session=session,
                borrower_key=b,
                kind=HoldKind.STOP,
                start=_at(day - dt.timedelta(days=5), 0),
                recorded_at=_at(day + dt.timedelta(days=1), 9),
            )
            log.add(b, _at(day, 10, mm), outcome=O.CONVERSATION)
        elif t == "revoked":
            do_record_consent(
                session=session,
                borrower_key=b,
                channel=Channel.SMS,
                destination="13800000001",
                granted_at=_at(day - dt.timedelta(days=30), 9),
                revoked_at=_at(day - dt.timedelta(days=1), 9),
                recorded_at=_at(day - dt.timedelta(days=1), 9),
                scope=ConsentScope.CONTACT,
                cipher=cipher,
            )
            log.add(b, _at(day, 10, mm), outcome=O.CONVERSATION)
            log.add(
                b,
                _at(day, 11, mm),
                channel=Channel.SMS,
                dest="+86 138-0000-0001",
                outcome=O.CONNECTED,
                breaks="CONSENT-REVOKED",
            )
        elif t in ("preset_before", "preset_after"):
            d = dt.date(2026, 11, 18) if t == "preset_before" else dt.date(2026, 11, 21)
            log.add(b, _at(d, 9, mm), outcome=O.CONVERSATION)
            log.add(b, _at(d, 11, mm), outcome=O.CONVERSATION)
            log.add(
                b,
                _at(d, 15, mm),
                outcome=O.CONVERSATION,
                breaks="CN-FREQ-CONN" if t == "preset_after" else None,
            )

    assert len(log.planted) >= 150 and len(log.lawful) >= 300
    found = list(audit(session=session, start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30), preset="cn"))
    got = {v.attempt_id: v for v in found}
    assert set(got) == set(log.planted), {
        "missed": sorted(set(log.planted) - set(got))[:5],
        "false": [got[k] for k in sorted(set(got) - set(log.planted))][:3],
    }
    for attempt_id, rule in log.planted.items():
        assert rule in got[attempt_id].rules, (rule, got[attempt_id])
    # Versions: before the 20th the built-in judged; after it, version 1 of the saved preset.
    after = [v for v in found if v.at >= "2026-11-21"]
    assert after and all(v.preset == "cn@1" for v in after)
    assert all(v.preset.startswith("cn@builtin.") for v in found if v.at < "2026-11-20")
    # Nothing personal in what the audit prints: destinations are masked.
    assert all("*" in v.destination for v in found)
    # The window is honoured.
    none = list(audit(session=session, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31), preset="cn"))
    assert none == []
    assert session.query(ContactAttempt).count() == log.n
