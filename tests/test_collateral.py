"""Collateral and disposal, hand-worked: the value kernel (latest valuation, loan-to-value, shortfall),
descriptions masked, repossession, a disposal approved by four eyes whose proceeds less costs are applied
to the account (a payment and the waterfall on the mirrored schedule), and the refusals (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import make_case, make_user
from legal_factories import account_of
from recoup.collateral.disposal import (
    applied_recovery,
    do_approve_disposal,
    do_complete_disposal,
    do_reject_disposal,
    do_request_disposal,
)
from recoup.collateral.kernel import latest_valuations, loan_values
from recoup.collateral.service import (
    CollateralInputError,
    CollateralStateError,
    do_add_item,
    do_repossess,
    do_sync_from_lake,
    do_value,
    loan_value_rows,
    masked_description,
)
from recoup.config import Settings
from recoup.ledger.models import LedgerEntry
from recoup.legal.common import LegalFourEyesError, balances
from recoup.portfolio.models import AccountInstallment, AccountPayment

NOW = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)


def test_value_kernel_hand_worked() -> None:
    """L1 owes ¥100,000. Its car was valued ¥80,000 in May and ¥60,000 in November (the latest counts);
    its deposit ¥10,000: value ¥70,000, LTV 100,000 / 70,000 = 142.857 % → 14,286 bp, shortfall ¥30,000.
    L2 owes ¥5,000 against a ¥20,000 item: LTV 25 %, no shortfall, cover ¥15,000. L3's only item was
    disposed of: no value, no LTV, the whole balance short."""
    items = pl.DataFrame(
        {
            "item_id": [1, 2, 3, 4],
            "loan_id": ["L1", "L1", "L2", "L3"],
            "status": ["repossessed", "held", "held", "disposed"],
        }
    )
    vals = pl.DataFrame(
        {
            "valuation_id": [1, 2, 3, 4, 5],
            "item_id": [1, 1, 2, 3, 4],
            "valued_on": [
                dt.date(2026, 5, 1),
                dt.date(2026, 11, 1),
                dt.date(2026, 6, 1),
                dt.date(2026, 6, 1),
                dt.date(2026, 6, 1),
            ],
            "value": [8_000_000, 6_000_000, 1_000_000, 2_000_000, 900_000],
        }
    )
    assert latest_valuations(vals).filter(pl.col("item_id") == 1).get_column("value").item() == 6_000_000
    bal = pl.DataFrame({"loan_id": ["L1", "L2", "L3"], "balance": [10_000_000, 500_000, 300_000]})
    got = {r["loan_id"]: r for r in loan_values(items, vals, bal).iter_rows(named=True)}
    assert (got["L1"]["collateral_value"], got["L1"]["ltv_bp"], got["L1"]["shortfall"]) == (
        7_000_000,
        14_286,
        3_000_000,
    )
    assert (got["L2"]["ltv_bp"], got["L2"]["shortfall"], got["L2"]["cover"]) == (2_500, 0, 1_500_000)
    assert (got["L3"]["collateral_value"], got["L3"]["ltv_bp"], got["L3"]["shortfall"]) == (0, None, 300_000)


def test_descriptions_are_masked() -> None:
    assert masked_description("vehicle", "2021款 大众朗逸 沪A12345 车主电话13812345678") == (
        "2021款 大众朗逸 沪A**** 车主电话138****5678"
    )
    assert masked_description("vehicle", "VIN LSVAU2180N2123456") == "VIN LSV**********3456"
    assert masked_description("property", "上海市浦东新区世纪大道100号1201室") == "上海市浦东新****"
    assert masked_description("equipment", "数控机床 XK714") == "数控机床 XK714"


@pytest.fixture
def pledged(session: Session, settings: Settings) -> dict[str, object]:
    """A case whose loan owes, overdue, penalty ¥500, interest ¥1,500, principal ¥40,000 (instalment 1,
    due 11-01) and principal ¥40,000 not yet due (instalment 2): ¥82,000; a car pledged on it."""
    legal = make_user(session, "legal")
    manager = make_user(session, "manager")
    case = make_case(session, dpd=31, overdue=4_200_000)
    acc = account_of(session, case)
    session.add_all(
        [
            AccountInstallment(
                account_id=acc.id,
                seq=1,
                due_date=dt.date(2026, 11, 1),
                principal_due=4_000_000,
                interest_due=150_000,
                fee_due=0,
                penalty_due=50_000,
            ),
            AccountInstallment(
                account_id=acc.id,
                seq=2,
                due_date=dt.date(2026, 12, 20),
                principal_due=4_000_000,
                interest_due=0,
            ),
        ]
    )
    session.flush()
    item = do_add_item(
        acc.external_id,
        kind="vehicle",
        description="大众朗逸 沪A12345",
        value=6_000_000,
        valued_on=dt.date(2026, 6, 1),
        session=session,
        actor=legal.username,
        settings=settings,
    )
    return {"legal": legal, "manager": manager, "case": case, "account": acc, "item": item}


def test_disposal_net_proceeds_are_applied_to_the_account(
    session: Session, settings: Settings, pledged: dict
) -> None:
    """Revalued at ¥50,000 (LTV 82,000 / 50,000 = 164 %); repossessed at a cost of ¥800; auctioned for
    ¥52,000 with ¥1,200 of costs: net 52,000 − 1,200 − 800 = ¥50,000, applied as payment COLL-… by the
    waterfall: instalment 1 penalty 500, interest 1,500, principal 40,000, then ¥8,000 of instalment 2's
    principal. The balance falls from ¥82,000 to ¥32,000; nothing is overdue any more."""
    item, acc, legal, manager = pledged["item"], pledged["account"], pledged["legal"], pledged["manager"]
    do_value(
        item.id,
        value=5_000_000,
        valued_on=dt.date(2026, 11, 30),
        source="appraisal",
        session=session,
        actor=legal.username,
        settings=settings,
    )
    row = loan_value_rows(session=session, loan_ids=[acc.external_id]).row(0, named=True)
    assert (row["balance"], row["collateral_value"], row["ltv_bp"], row["shortfall"]) == (
        8_200_000,
        5_000_000,
        16_400,
        3_200_000,
    )
    do_repossess(
        item.id,
        on=dt.date(2026, 11, 28),
        location="上海某停车场",
        costs=80_000,
        session=session,
        actor=legal.username,
        settings=settings,
    )
    d = do_request_disposal(
        item.id,
        method="auction",
        reason="borrower unreachable",
        reserve_price=4_500_000,
        session=session,
        actor=legal,
        settings=settings,
        now=NOW,
    )
    with pytest.raises(LegalFourEyesError) as four:
        do_approve_disposal(d.id, session=session, actor=legal, settings=settings)
    assert four.value.http_status == 403
    with pytest.raises(CollateralStateError):  # not approved yet
        do_complete_disposal(
            d.id,
            disposed_on=dt.date(2026, 12, 1),
            proceeds=1,
            costs=0,
            session=session,
            actor=legal,
            settings=settings,
            now=NOW,
        )
    do_approve_disposal(d.id, session=session, actor=manager, settings=settings)
    done = do_complete_disposal(
        d.id,
        disposed_on=dt.date(2026, 12, 1),
        proceeds=5_200_000,
        costs=120_000,
        buyer="某拍卖行",
        session=session,
        actor=legal,
        settings=settings,
        now=NOW,
    )
    assert done.status == "completed" and done.net_recovered == 5_000_000 and item.status == "disposed"
    from recoup.writeback.models import WritebackInstruction

    # The core system is told to post the receipt: one manual_receipt instruction with the payment id.
    wb = session.scalars(
        select(WritebackInstruction).where(WritebackInstruction.kind == "manual_receipt")
    ).one()
    assert (wb.loan_id, wb.amount, wb.payload["reference"]) == (acc.external_id, 5_000_000, done.payment_id)
    pay = session.scalars(select(AccountPayment).where(AccountPayment.external_id == done.payment_id)).one()
    assert (pay.amount, pay.received_date, pay.channel, pay.account_id) == (
        5_000_000,
        dt.date(2026, 12, 1),
        "other",
        acc.id,
    )
    inst = {
        i.seq: i
        for i in session.scalars(select(AccountInstallment).where(AccountInstallment.account_id == acc.id))
    }
    assert (inst[1].penalty_paid, inst[1].interest_paid, inst[1].principal_paid) == (
        50_000,
        150_000,
        4_000_000,
    )
    assert inst[2].principal_paid == 800_000
    assert balances([acc.id], session=session)[acc.id] == (3_200_000, 3_200_000)
    assert acc.overdue_amount == 0
    receipt = applied_recovery(done, session=session)
    assert receipt is not None and (receipt.payment_id, receipt.amount, receipt.loan_id) == (
        f"COLL-{d.id:08d}",
        5_000_000,
        acc.external_id,
    )
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "collateral.disposed")).all()[-1]
    assert entry.payload["net_recovered"] == 5_000_000 and "沪A" not in str(entry.payload)


def test_refusals(session: Session, settings: Settings, pledged: dict) -> None:
    item, legal, manager = pledged["item"], pledged["legal"], pledged["manager"]
    with pytest.raises(CollateralInputError):
        do_request_disposal(
            item.id, method="barter", reason="x", session=session, actor=legal, settings=settings
        )
    d = do_request_disposal(
        item.id, method="amc_transfer", reason="bulk sale", session=session, actor=legal, settings=settings
    )
    with pytest.raises(CollateralStateError):  # one disposal under way at a time
        do_request_disposal(
            item.id, method="sale", reason="x", session=session, actor=legal, settings=settings
        )
    with pytest.raises(CollateralInputError):  # a rejection says why
        do_reject_disposal(d.id, session=session, actor=manager, reason=" ", settings=settings)
    assert (
        do_reject_disposal(
            d.id, session=session, actor=manager, reason="price too low", settings=settings
        ).status
        == "rejected"
    )
    with pytest.raises(CollateralStateError):  # repossessed once
        do_repossess(
            item.id, on=dt.date(2026, 11, 1), session=session, actor=legal.username, settings=settings
        )
        do_repossess(
            item.id, on=dt.date(2026, 11, 2), session=session, actor=legal.username, settings=settings
        )


def test_sync_from_the_lake_is_idempotent(session: Session, settings: Settings, pledged: dict) -> None:
    loan = pledged["account"].external_id
    rows = pl.DataFrame(
        {
            "collateral_id": ["G0001", "G0002"],
            "loan_id": [loan, "L-NOT-IN-COLLECTIONS"],
            "type": ["real_estate", "vehicle"],
            "description": ["北京市朝阳区某路1号", "x"],
            "valuation": [300_000_000, 1],
            "valuation_date": [dt.date(2026, 5, 20), dt.date(2026, 5, 20)],
        }
    )
    assert do_sync_from_lake(rows, session=session, settings=settings) == (1, 1)
    assert do_sync_from_lake(rows, session=session, settings=settings) == (0, 0)
    row = loan_value_rows(session=session, loan_ids=[loan]).row(0, named=True)
    assert (row["items"], row["collateral_value"]) == (2, 306_000_000)
