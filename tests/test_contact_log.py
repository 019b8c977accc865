"""The attempts table: agencies' logs imported, the lender's and agencies' attempts counted together."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.contact.attempt_import import do_import_attempts
from recoup.contact.models import ContactAttempt
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import HoldKind, Proposal
from recoup.contact.policy.presets import load_builtin
from recoup.contact.service import borrower_context, check_attempt, do_add_hold, do_record_attempt
from recoup.contact.vocab import AttemptOutcome, Channel, Party
from recoup.errors import ImportColumnError, ImportRowsError
from recoup.pii import PiiCipher

CIPHER = PiiCipher(bytes(range(32)))
SH = dt.timezone(dt.timedelta(hours=8))

LOG = """尝试编号,借款人编号,借据号,时间,渠道,对象,号码,结果,催收员,录音
A-1,B1,L1,2026-11-24 09:05:00,电话,本人,138 0000 0001,通话,ag-07,rec/1.wav
A-2,B1,L1,2026-11-24T10:05:00+08:00,call,debtor,13800000001,接通,ag-07,rec/2.wav
A-3,B1,L1,2026-11-24 10:30:00,短信,本人,13800000001,已送达,ag-09,
A-4,B2,L2,2026-11-24 11:00:00,电话,紧急联系人,13900000009,未接,ag-07,
"""


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "agency_log.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_import_agency_log_gbk_and_idempotent(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path, LOG, "gbk")
    rep = do_import_attempts(path, session=session, agency="AG1", timezone="Asia/Shanghai", cipher=CIPHER)
    assert (rep.rows, rep.added, rep.already_there) == (4, 4, 0)
    rows = session.scalars(select(ContactAttempt).order_by(ContactAttempt.external_id)).all()
    assert [r.external_id for r in rows] == ["AG1:A-1", "AG1:A-2", "AG1:A-3", "AG1:A-4"]
    a1 = rows[0]
    # A local time without an offset is the lender's time; stored as UTC.
    assert a1.at == dt.datetime(2026, 11, 24, 1, 5, tzinfo=dt.UTC)
    assert (a1.channel, a1.party, a1.outcome, a1.agency, a1.made_by) == (
        "call",
        "debtor",
        "conversation",
        "AG1",
        "ag-07",
    )
    # The number itself is not stored: a keyed hash (equal for both spellings) and a masked form.
    assert (
        a1.destination_hash == rows[1].destination_hash
        and "0001" not in a1.destination_masked.replace("*", "")[:3]
    )
    assert "13800000001" not in (a1.destination_masked + a1.destination_hash)
    assert rows[2].outcome == "connected" and rows[3].party == "emergency_contact"
    again = do_import_attempts(path, session=session, agency="AG1", timezone="Asia/Shanghai", cipher=CIPHER)
    assert (again.added, again.already_there) == (0, 4)
    assert session.scalar(select(func.count()).select_from(ContactAttempt)) == 4


def test_bad_rows_name_row_column_value_and_write_nothing(session: Session, tmp_path: Path) -> None:
    bad = LOG.replace("短信,本人", "飞鸽,本人").replace(
        "A-4,B2,L2,2026-11-24 11:00:00", "A-4,B2,L2,yesterday"
    )
    with pytest.raises(ImportRowsError) as err:
        do_import_attempts(_write(tmp_path, bad), session=session, agency="AG1", timezone="Asia/Shanghai")
    errors = err.value.details["errors"]
    assert {(e["row"], e["column"], e["value"]) for e in errors} == {
        ("4", "channel", "飞鸽"),
        ("5", "at", "yesterday"),
    }
    assert session.scalar(select(func.count()).select_from(ContactAttempt)) == 0
    with pytest.raises(ImportColumnError, match="outcome"):
        do_import_attempts(
            _write(tmp_path, "尝试编号,借款人编号,时间,渠道,号码,催收员\nA,B,2026-11-24 09:00:00,电话,1,c\n"),
            session=session,
            agency=None,
            timezone="Asia/Shanghai",
        )


def test_lender_and_agency_attempts_count_together(session: Session, tmp_path: Path) -> None:
    # The agency had two conversations with B1 this morning; the lender had one.
    do_import_attempts(
        _write(tmp_path, LOG), session=session, agency="AG1", timezone="Asia/Shanghai", cipher=CIPHER
    )
    do_record_attempt(
        session=session,
        source="collector",
        external_id="own-1",
        borrower_key="B1",
        debt_key="L1",
        at=dt.datetime(2026, 11, 24, 11, 0, tzinfo=SH),
        channel=Channel.CALL,
        party=Party.DEBTOR,
        destination="+86 13800000002",
        outcome=AttemptOutcome.CONVERSATION,
        made_by="alice",
        cipher=CIPHER,
    )
    policy = Policy(load_builtin("cn"))
    proposal = Proposal(
        "p", dt.datetime(2026, 11, 24, 15, 0, tzinfo=SH), Channel.CALL, Party.DEBTOR, "13800000003"
    )
    v = check_attempt(policy, session=session, borrower_key="B1", proposal=proposal, cipher=CIPHER)
    assert (v.verdict, v.rules) == ("deferred", ("CN-FREQ-CONN",))
    assert v.defer_until == dt.datetime(2026, 11, 25, 8, 0, tzinfo=SH)
    # An SMS is not a voice contact.
    sms = Proposal("q", proposal.at, Channel.SMS, Party.DEBTOR, "13800000001")
    assert (
        check_attempt(policy, session=session, borrower_key="B1", proposal=sms, cipher=CIPHER).verdict
        == "allowed"
    )


def test_hold_counts_from_when_it_was_recorded(session: Session) -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=SH)
    do_add_hold(
        session=session,
        borrower_key="B9",
        kind=HoldKind.STOP,
        start=start,
        reason="complaint",
        recorded_at=dt.datetime(2026, 11, 10, 9, 0, tzinfo=SH),
    )
    before = borrower_context("B9", session=session, known_at=dt.datetime(2026, 11, 5, tzinfo=SH))
    after = borrower_context("B9", session=session, known_at=dt.datetime(2026, 11, 11, tzinfo=SH))
    assert before.holds == () and len(after.holds) == 1 and after.holds[0].kind is HoldKind.STOP
    policy = Policy(load_builtin("cn"))
    p = Proposal("p", dt.datetime(2026, 11, 12, 10, 0, tzinfo=SH), Channel.CALL, Party.DEBTOR, "1")
    assert check_attempt(policy, session=session, borrower_key="B9", proposal=p, cipher=CIPHER).rules == (
        "HOLD-STOP",
    )


def test_attempt_facts_for_a_business_day(session: Session, tmp_path: Path) -> None:
    from recoup.contact.service import ATTEMPT_FACTS_SCHEMA, attempt_facts

    do_import_attempts(
        _write(tmp_path, LOG), session=session, agency="AG1", timezone="Asia/Shanghai", cipher=CIPHER
    )
    do_record_attempt(
        session=session,
        source="collector",
        external_id="late",
        borrower_key="B1",
        at=dt.datetime(2026, 11, 25, 0, 30, tzinfo=SH),
        channel=Channel.CALL,
        party=Party.DEBTOR,
        destination="13800000001",
        outcome=AttemptOutcome.NO_ANSWER,
        made_by="alice",
        cipher=CIPHER,
    )
    facts = attempt_facts(session=session, as_of=dt.date(2026, 11, 24), timezone="Asia/Shanghai")
    assert facts.schema == pl.Schema(ATTEMPT_FACTS_SCHEMA)
    assert facts.height == 4 and set(facts["agency"]) == {"AG1"}  # 00:30 on the 25th is the next day
    assert facts.filter(pl.col("loan_id") == "L1")["has_recording"].to_list() == [True, True, False]
    assert "destination" not in "".join(facts.columns).replace("destination_kind", "")
