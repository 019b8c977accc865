"""Stored promises to pay: the refusal rules, rescheduling on a second debtor promise, third-party promises
not counted, the ledger entry, and judging against a lake with seen-in-extract semantics and reversals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.cases.lifecycle import CaseState
from recoup.cases.models import Case, PromiseToPay
from recoup.cases.promise_service import (
    PromiseRefusedError,
    check_promise,
    do_judge_promises,
    do_make_promise,
)
from recoup.cases.service import _enter
from recoup.config import load_settings
from recoup.errors import NotFoundError
from recoup.lake import Lake, book_as_of
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.flows import import_dir
from recoup.portfolio.models import Borrower

SH = "Asia/Shanghai"
# 18:00 UTC on 11-19 is 11-20 02:00 in Shanghai: the promise is made on 11-20 there.
MADE = dt.datetime(2026, 11, 19, 18, 0, tzinfo=dt.UTC)
D = dt.date


def _case(session: Session, key: str, state: CaseState = CaseState.NEGOTIATION) -> Case:
    b = Borrower(external_id=key, name="张三", timezone=SH)
    session.add(b)
    session.flush()
    case = Case(borrower_id=b.id, opened_on=D(2026, 11, 1), status="open", grade=1, grade_rule="r1")
    _enter(
        case,
        state,
        "paid" if state in (CaseState.CLOSED, CaseState.ARCHIVED) else None,
        now=MADE,
        on=D(2026, 11, 1),
    )
    session.add(case)
    session.flush()
    return case


def _promise(session: Session, case: Case, **kw: object) -> PromiseToPay:
    args: dict[str, object] = {
        "actor": "agent1",
        "by": "debtor",
        "amount": 30000,
        "due_date": D(2026, 11, 22),
        "made_at": MADE,
        "tz": SH,
    }
    args.update(kw)
    return do_make_promise(case.id, session=session, **args)  # type: ignore[arg-type]


# --- refusals -------------------------------------------------------------------------------------------

OK = {"case_state": "negotiation", "by": "debtor", "amount": 30000, "made_on": D(2026, 11, 20)}


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"case_state": "closed"}, "case_state"),
        ({"case_state": "archived"}, "case_state"),
        ({"by": "someone"}, "by"),
        ({"amount": 0}, "amount_positive"),
        ({"amount": -5}, "amount_positive"),
        ({"amount": 99}, "amount_minimum"),
        ({"due_date": D(2026, 11, 19)}, "due_before_made"),
        ({"due_date": D(2026, 11, 28)}, "horizon"),  # 8 days > default 7
        ({"due_date": D(2026, 11, 24), "bucket": "M1"}, "horizon"),  # 4 days > 3 for M1
    ],
)
def test_check_promise_refuses_naming_the_rule(changes: dict[str, object], rule: str) -> None:
    args: dict[str, object] = {**OK, "due_date": D(2026, 11, 22), **changes}
    with pytest.raises(PromiseRefusedError) as err:
        check_promise(**args)  # type: ignore[arg-type]
    assert err.value.details["rule"] == rule
    assert err.value.code == "promise.refused" and err.value.http_status == 422


@pytest.mark.parametrize(
    ("due", "bucket"),
    [(D(2026, 11, 20), None), (D(2026, 11, 27), None), (D(2026, 11, 23), "M1"), (D(2026, 11, 27), "M3")],
)
def test_check_promise_accepts_the_edges(due: dt.date, bucket: str | None) -> None:
    check_promise(**OK, due_date=due, bucket=bucket)  # type: ignore[arg-type]
    check_promise(**{**OK, "amount": 100}, due_date=due, bucket=bucket)  # type: ignore[arg-type]


def test_make_promise_refuses_on_a_closed_case_and_writes_nothing(session: Session) -> None:
    case = _case(session, "PC1", CaseState.CLOSED)
    with pytest.raises(PromiseRefusedError) as err:
        _promise(session, case)
    assert err.value.details["rule"] == "case_state"
    assert session.scalars(select(PromiseToPay).where(PromiseToPay.case_id == case.id)).all() == []


def test_make_promise_refuses_naive_time_unknown_tz_and_missing_case(session: Session) -> None:
    case = _case(session, "PC2")
    with pytest.raises(PromiseRefusedError) as err:
        _promise(session, case, made_at=dt.datetime(2026, 11, 20, 10))
    assert err.value.details["rule"] == "made_at"
    with pytest.raises(PromiseRefusedError) as err:
        _promise(session, case, tz="Mars/Base")
    assert err.value.details["rule"] == "tz"
    with pytest.raises(NotFoundError):
        do_make_promise(
            10**9,
            session=session,
            actor="a",
            by="debtor",
            amount=100,
            due_date=D(2026, 11, 22),
            made_at=MADE,
            tz=SH,
        )


# --- making promises ------------------------------------------------------------------------------------


def test_made_on_is_the_local_date_and_ledger_entry_written(session: Session) -> None:
    case = _case(session, "PC3")
    p = _promise(session, case, recording_ref="rec-1")
    assert (p.made_on, p.status, p.kept_amount, p.made_by, p.recording_ref) == (
        D(2026, 11, 20),
        "pending",
        0,
        "agent1",
        "rec-1",
    )
    assert p.made_at == MADE and p.judged_as_of is None
    # In UTC the same instant is 11-19: a due date of 11-19 is then not before the promise.
    utc = _promise(session, case, tz="UTC", due_date=D(2026, 11, 19))
    assert utc.made_on == D(2026, 11, 19)
    entry = session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind == "promise.made").order_by(LedgerEntry.seq.desc())
    ).first()
    assert entry is not None
    assert entry.payload == {
        "promise_id": utc.id,
        "case_id": case.id,
        "by": "debtor",
        "amount": 30000,
        "rescheduled": [p.id],  # p was pending, due 11-22 >= 11-19
    }


def test_second_debtor_promise_reschedules_the_pending_one(session: Session) -> None:
    case = _case(session, "PC4")
    first = _promise(session, case)
    third = _promise(session, case, by="third_party", amount=50000)
    assert third.status == "not_counted"
    # Made on the first one's due date: reschedules it.
    second = _promise(
        session, case, made_at=dt.datetime(2026, 11, 22, 1, tzinfo=dt.UTC), due_date=D(2026, 11, 25)
    )
    assert (first.status, first.kept_amount, second.status, third.status) == (
        "rescheduled",
        0,
        "pending",
        "not_counted",
    )
    # Made the day after the second's due date: the second stays pending, to be judged on its own.
    fourth = _promise(
        session, case, made_at=dt.datetime(2026, 11, 26, 1, tzinfo=dt.UTC), due_date=D(2026, 11, 28)
    )
    assert (second.status, fourth.status) == ("pending", "pending")


def test_third_party_promise_reschedules_nothing(session: Session) -> None:
    case = _case(session, "PC5")
    first = _promise(session, case)
    _promise(session, case, by="third_party")
    assert first.status == "pending"


# --- judging against the lake ---------------------------------------------------------------------------

BORROWERS = "borrower_id,name\nJ1,甲\nJ2,乙\nJ3,丙\n"
LOANS = (
    "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
    "disbursement_date,status\n"
    + "".join(f"K{i},J{i},CASH3,cash_loan,equal_principal,3000,18%,3,2026-08-01,active\n" for i in (1, 2, 3))
)
PAY = "payment_id,loan_id,received_date,amount,channel,reverses\n"


def _import(tmp_path: Path, session: Session, lake: Lake, day: dt.date, files: dict[str, str]) -> None:
    d = tmp_path / day.isoformat()
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    import_dir(d, as_of=day, settings=load_settings(data_dir=tmp_path / "data"), lake=lake, session=session)


def _status(session: Session, *promises: PromiseToPay) -> list[tuple[str, int]]:
    out = []
    for p in promises:
        session.refresh(p)
        out.append((p.status, p.kept_amount))
    return out


def test_judge_with_seen_in_extract_and_reversals(session: Session, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    # 11-20: a payment before the promise window (does not count).
    _import(
        tmp_path,
        session,
        lake,
        D(2026, 11, 20),
        {
            "borrowers.csv": BORROWERS,
            "loans.csv": LOANS,
            "payments.csv": PAY + "Y0,K1,2026-11-01,50,alipay,\n",
        },
    )
    # 11-22: 100 toward J1's promise; 100 toward J3's.
    _import(
        tmp_path,
        session,
        lake,
        D(2026, 11, 22),
        {"payments.csv": PAY + "Y1,K1,2026-11-21,100,alipay,\nY3,K3,2026-11-21,100,alipay,\n"},
    )
    # 11-24: J1's second payment (received on the due date, seen two days later); Y3 reversed.
    _import(
        tmp_path,
        session,
        lake,
        D(2026, 11, 24),
        {"payments.csv": PAY + "Y2,K1,2026-11-22,200,alipay,\nY4,K3,2026-11-23,100,alipay,Y3\n"},
    )
    c1, c2, c3 = (_case(session, k) for k in ("J1", "J2", "J3"))
    p1, p2, p3 = (_promise(session, c) for c in (c1, c2, c3))
    tp = _promise(session, c1, by="third_party", amount=10000)

    counts = do_judge_promises(
        D(2026, 11, 21), session=session, book=book_as_of(D(2026, 11, 21), session=session, lake=lake)
    )
    assert counts == {"pending": 3}  # the third-party promise is final already, not judged again
    assert _status(session, p1, p2, p3, tp) == [
        ("pending", 0),
        ("pending", 0),
        ("pending", 0),
        ("not_counted", 0),
    ]
    assert p1.judged_as_of == D(2026, 11, 21) and tp.judged_as_of is None

    counts = do_judge_promises(
        D(2026, 11, 23), session=session, book=book_as_of(D(2026, 11, 23), session=session, lake=lake)
    )
    assert counts == {"partially_kept": 2, "broken": 1}
    # Y2 (received 11-22) is not yet seen as of 11-23.
    assert _status(session, p1, p2, p3) == [
        ("partially_kept", 10000),
        ("broken", 0),
        ("partially_kept", 10000),
    ]

    counts = do_judge_promises(
        D(2026, 11, 24), session=session, book=book_as_of(D(2026, 11, 24), session=session, lake=lake)
    )
    assert counts == {"kept": 1, "broken": 2}
    # Seen in the 11-24 extract, Y2 counts from then on; the reversal Y4 takes Y3 back.
    assert _status(session, p1, p2, p3) == [("kept", 30000), ("broken", 0), ("broken", 0)]
    assert p1.judged_as_of == D(2026, 11, 24)

    # Kept is final: not judged again. Broken is judged again only within the late-extract window.
    counts = do_judge_promises(
        D(2026, 12, 10), session=session, book=book_as_of(D(2026, 12, 10), session=session, lake=lake)
    )
    assert counts == {}
    assert _status(session, p1, p2) == [("kept", 30000), ("broken", 0)]
    assert p2.judged_as_of == D(2026, 11, 24)


def test_judge_with_no_open_promises_is_empty(session: Session, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _import(tmp_path, session, lake, D(2026, 11, 20), {"borrowers.csv": BORROWERS, "loans.csv": LOANS})
    book = book_as_of(D(2026, 11, 20), session=session, lake=lake)
    # Promises made after as_of are not judged yet.
    _promise(
        session,
        _case(session, "J1"),
        made_at=dt.datetime(2026, 11, 25, 1, tzinfo=dt.UTC),
        due_date=D(2026, 11, 26),
    )
    assert do_judge_promises(D(2026, 11, 20), session=session, book=book) == {}
