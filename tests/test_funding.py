"""Funding partners and guarantor payouts (资金方 / 代偿), hand-worked: a payout changes a loan's creditor
on its date; a creditor that permits no waiver refuses one (403 naming it) and the guarantor that paid out
allows it after, within its limit; collections split across the payout date (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import make_case, make_user
from legal_factories import account_of, add_payment
from pdf_support import requires_pdf
from recoup.config import Settings
from recoup.funding.kernel import creditor_of_payments, split_by_creditor
from recoup.funding.service import (
    CreditorRefusesWaiverError,
    FundingInputError,
    FundingStateError,
    creditor_on,
    do_record_payout,
    do_save_partner,
    do_sync_creditors,
    history_frame,
    recoveries_by_creditor,
)
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import AccountInstallment
from recoup.resolutions.ask import do_request

NOW = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai, business day 2026-12-02
PAYOUT_DAY = dt.date(2026, 11, 25)


def test_kernel_splits_collections_across_the_payout_date_hand_worked() -> None:
    """L1 is the bank's (70 % share of recoveries) until the guarantor pays out on 11-25 (100 %).
    Paid ¥1,000 on 11-20, ¥500 on 11-25, ¥300 on 11-28, reversed ¥100 on 11-29; L2 (own) ¥200.
    Bank: ¥1,000 → ¥700 to it, ¥300 the lender's. Guarantor: 500 + 300 − 100 = ¥700, all its own.
    Own: ¥200, all the lender's (the lender's own money is its own creditor)."""
    history = pl.DataFrame(
        {
            "loan_id": ["L1", "L1", "L2"],
            "creditor": ["BANK", "GUAR", "own"],
            "since": [dt.date(2026, 1, 5), PAYOUT_DAY, dt.date(2026, 3, 1)],
        }
    )
    pays = pl.DataFrame(
        {
            "loan_id": ["L1", "L1", "L1", "L1", "L2"],
            "received_date": [
                dt.date(2026, 11, 20),
                dt.date(2026, 11, 25),
                dt.date(2026, 11, 28),
                dt.date(2026, 11, 29),
                dt.date(2026, 11, 21),
            ],
            "amount": [100_000, 50_000, 30_000, -10_000, 20_000],
        }
    )
    labelled = creditor_of_payments(pays, history)
    assert labelled.get_column("creditor").to_list() == ["BANK", "GUAR", "GUAR", "GUAR", "own"]
    partners = pl.DataFrame(
        {
            "creditor": ["BANK", "GUAR", "own"],
            "name": ["某银行", "某担保", "自有资金"],
            "kind": ["bank", "guarantor", "own"],
            "recovery_share_bp": [7_000, 10_000, 10_000],
        }
    )
    got = {r["creditor"]: r for r in split_by_creditor(labelled, partners).iter_rows(named=True)}
    assert (got["BANK"]["collected"], got["BANK"]["to_creditor"], got["BANK"]["to_lender"]) == (
        100_000,
        70_000,
        30_000,
    )
    assert (got["GUAR"]["collected"], got["GUAR"]["to_creditor"], got["GUAR"]["payments"]) == (
        70_000,
        70_000,
        3,
    )
    assert got["own"]["collected"] == 20_000


def test_kernel_rounds_the_creditors_part_down_and_labels_early_payments() -> None:
    """¥0.05 at 33.33 %: the creditor's part is ⌊5 × 3,333 / 10,000⌋ = 1 fen, the lender keeps 4; a
    payment before the first history row belongs to the first creditor; a loan without history to own."""
    history = pl.DataFrame({"loan_id": ["L1"], "creditor": ["T"], "since": [dt.date(2026, 6, 1)]})
    pays = pl.DataFrame(
        {"loan_id": ["L1", "L9"], "received_date": [dt.date(2026, 5, 1)] * 2, "amount": [5, 7]}
    )
    labelled = creditor_of_payments(pays, history)
    assert labelled.get_column("creditor").to_list() == ["T", "own"]
    partners = pl.DataFrame(
        {"creditor": ["T"], "name": ["信托"], "kind": ["trust"], "recovery_share_bp": [3_333]}
    )
    got = {r["creditor"]: r for r in split_by_creditor(labelled, partners).iter_rows(named=True)}
    assert (got["T"]["to_creditor"], got["T"]["to_lender"]) == (1, 4)
    assert got["own"]["kind"] == "unregistered" or got["own"]["kind"] == "own"


@pytest.fixture
def funded(session: Session, settings: Settings) -> dict[str, object]:
    """A bank that permits no waiver (70 % of recoveries), a guarantor that permits up to ¥500 and 30 %,
    and a case in M1 whose loan the bank funds: one overdue instalment owing penalty ¥800, fee ¥200,
    interest ¥500, principal ¥2,500."""
    do_save_partner(
        "BANK1",
        name="某城商行",
        kind="bank",
        permits_waivers=False,
        recovery_share_bp=7_000,
        session=session,
        actor="test",
        settings=settings,
    )
    do_save_partner(
        "GUAR1",
        name="某融资担保公司",
        kind="guarantor",
        waiver_limit=50_000,
        waiver_max_bp=3_000,
        session=session,
        actor="test",
        settings=settings,
    )
    collector = make_user(session, "collector")
    case = make_case(session, holder=collector, dpd=10, overdue=400_000)
    acc = account_of(session, case)
    acc.funding_partner = "某城商行"  # the extract names the partner; matched by name
    session.add(
        AccountInstallment(
            account_id=acc.id,
            seq=1,
            due_date=dt.date(2026, 11, 21),
            principal_due=250_000,
            interest_due=50_000,
            fee_due=20_000,
            penalty_due=80_000,
        )
    )
    session.flush()
    return {"collector": collector, "case": case, "loan": acc.external_id, "since": acc.disbursement_date}


def test_a_payout_changes_the_creditor_on_its_date(
    session: Session, settings: Settings, funded: dict
) -> None:
    loan = funded["loan"]
    assert creditor_on(loan, PAYOUT_DAY, session=session) == "BANK1"  # first sight: the extract's partner
    p = do_record_payout(
        loan,
        guarantor="GUAR1",
        amount=400_000,
        paid_on=PAYOUT_DAY,
        session=session,
        actor="legal1",
        reference="DC-2026-001",
        settings=settings,
        now=NOW,
    )
    assert p.previous_creditor == "BANK1"
    assert creditor_on(loan, PAYOUT_DAY - dt.timedelta(days=1), session=session) == "BANK1"
    assert creditor_on(loan, PAYOUT_DAY, session=session) == "GUAR1"
    hist = history_frame(session=session, loan_ids=[loan])
    assert hist.select("creditor", "since", "source").rows() == [
        ("BANK1", funded["since"], "extract"),
        ("GUAR1", PAYOUT_DAY, "payout"),
    ]
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "funding.payout")).all()[-1]
    assert entry.payload["amount"] == 400_000 and entry.payload["guarantor"] == "GUAR1"
    # A payout dated before the change is refused; so is one by a partner that is not a guarantor.
    with pytest.raises(FundingStateError):
        do_record_payout(
            loan,
            guarantor="GUAR1",
            amount=1,
            paid_on=PAYOUT_DAY - dt.timedelta(days=3),
            session=session,
            actor="legal1",
            settings=settings,
            now=NOW,
        )
    with pytest.raises(FundingInputError):
        do_record_payout(
            loan,
            guarantor="BANK1",
            amount=1,
            paid_on=PAYOUT_DAY,
            session=session,
            actor="legal1",
            settings=settings,
            now=NOW,
        )


@requires_pdf
def test_waiver_refused_by_the_bank_and_allowed_by_the_guarantor_after_its_payout(
    session: Session, settings: Settings, funded: dict
) -> None:
    """Waiving ¥300 of penalty is within a collector's own authority (C-PEN), yet the bank permits no
    waiver: 403 naming it. After the guarantor's payout the same request is approved at once; ¥600 is over
    the guarantor's ¥500 limit: 403 naming the guarantor and its limit."""
    case, collector = funded["case"], funded["collector"]
    ask = dict(
        kind="waiver",
        deadline=dt.date(2026, 12, 7),
        session=session,
        settings=settings,
        now=NOW,
        reason="hardship",
    )
    with pytest.raises(CreditorRefusesWaiverError) as refused:
        do_request(case, collector, waive=30_000, **ask)
    assert refused.value.http_status == 403 and refused.value.code == "funding.waiver_not_permitted"
    assert "某城商行 (BANK1)" in refused.value.message and "不允许减免" in refused.value.message
    do_record_payout(
        funded["loan"],
        guarantor="GUAR1",
        amount=400_000,
        paid_on=PAYOUT_DAY,
        session=session,
        actor="legal1",
        settings=settings,
        now=NOW,
    )
    with pytest.raises(CreditorRefusesWaiverError) as over:
        do_request(case, collector, waive=60_000, **ask)
    assert "某融资担保公司 (GUAR1)" in over.value.message and "¥500.00" in over.value.message
    res = do_request(case, collector, waive=30_000, **ask)
    assert res.status == "active" and res.approval_basis == "own_authority"


def test_recoveries_split_across_the_payout_date(session: Session, settings: Settings, funded: dict) -> None:
    """¥1,000 on 11-20 (the bank's: 70 % = ¥700 to it) and ¥600 on 11-26 after the 11-25 payout (the
    guarantor's, all of it)."""
    case = funded["case"]
    add_payment(session, case, on=dt.date(2026, 11, 20), amount=100_000)
    add_payment(session, case, on=dt.date(2026, 11, 26), amount=60_000)
    add_payment(session, case, on=dt.date(2026, 12, 3), amount=99_900)  # next month: not in November
    do_record_payout(
        funded["loan"],
        guarantor="GUAR1",
        amount=400_000,
        paid_on=PAYOUT_DAY,
        session=session,
        actor="legal1",
        settings=settings,
        now=NOW,
    )
    got = {
        r["creditor"]: r
        for r in recoveries_by_creditor(
            session=session, start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30)
        ).iter_rows(named=True)
        if r["creditor"] in ("BANK1", "GUAR1")
    }
    assert (got["BANK1"]["collected"], got["BANK1"]["to_creditor"], got["BANK1"]["to_lender"]) == (
        100_000,
        70_000,
        30_000,
    )
    assert (got["GUAR1"]["collected"], got["GUAR1"]["to_creditor"]) == (60_000, 60_000)


def test_first_sight_is_recorded_once(session: Session, settings: Settings, funded: dict) -> None:
    loan = funded["loan"]
    assert do_sync_creditors(session=session, loan_ids=[loan]) == 1
    assert do_sync_creditors(session=session, loan_ids=[loan]) == 0
    assert creditor_on(loan, NOW.date(), session=session) == "BANK1"


def test_portfolio_by_creditor(session: Session, settings: Settings, funded: dict) -> None:
    """A day's positions split by creditor: before the payout the bank's loan is the bank's; after it the
    guarantor's; a loan never mirrored falls back to its extract's partner (自有资金 → own)."""
    from recoup.funding.report import portfolio_by_creditor

    loan = funded["loan"]
    positions = pl.DataFrame(
        {
            "loan_id": [loan, "LX-1"],
            "borrower_id": ["B1", "B2"],
            "funding_partner": ["某城商行", "自有资金"],
            "outstanding_principal": [250_000, 100_000],
            "overdue_amount": [400_000, 0],
        }
    )
    before = portfolio_by_creditor(positions, as_of=PAYOUT_DAY - dt.timedelta(days=1), session=session)
    assert dict(before.select("creditor", "loans").rows()) == {"BANK1": 1, "own": 1, None: 2}
    do_record_payout(
        loan,
        guarantor="GUAR1",
        amount=400_000,
        paid_on=PAYOUT_DAY,
        session=session,
        actor="legal1",
        settings=settings,
        now=NOW,
    )
    after = portfolio_by_creditor(positions, as_of=PAYOUT_DAY, session=session)
    rows = {r["creditor"]: r for r in after.iter_rows(named=True)}
    assert rows["GUAR1"]["outstanding_principal"] == 250_000 and "BANK1" not in rows


def test_approval_is_refused_once_the_creditor_changed(
    session: Session, settings: Settings, funded: dict
) -> None:
    """A ¥800 penalty waiver asked while the loan's creditor allowed it waits for a team lead (over the
    collector's C-PEN limit); a guarantor that permits no waiver pays out meanwhile: the approval is
    refused with 403 naming the guarantor (the hook in the approval, not only in the request)."""
    from recoup.resolutions.decide import do_approve

    do_save_partner("BANK1", permits_waivers=True, update=True, session=session, actor="t", settings=settings)
    do_save_partner(
        "GUAR0",
        name="不减免担保",
        kind="guarantor",
        permits_waivers=False,
        session=session,
        actor="t",
        settings=settings,
    )
    res = do_request(
        funded["case"],
        funded["collector"],
        kind="waiver",
        waive=80_000,
        deadline=dt.date(2026, 12, 7),
        session=session,
        settings=settings,
        now=NOW,
        reason="x",
    )
    assert res.status == "pending"
    do_record_payout(
        funded["loan"],
        guarantor="GUAR0",
        amount=1_000,
        paid_on=NOW.date(),
        session=session,
        actor="legal1",
        settings=settings,
        now=NOW,
    )
    manager = make_user(session, "manager")
    with pytest.raises(CreditorRefusesWaiverError) as refused:
        do_approve(res.id, manager, session=session, settings=settings, now=NOW)
    assert "不减免担保 (GUAR0)" in refused.value.message
