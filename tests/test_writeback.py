"""Write-back to the core system (docs/writeback.md): the acceptance round trip through a simulated core
system — it reads the day's file, applies some instructions to its next extract, rejects one in its
acknowledgement file and ignores one — then reconciliation reports confirmed, rejected and pending
instructions, and the pending one turns stale after RECOUP_WRITEBACK_STALE_DAYS; the export is
byte-for-byte idempotent; the emission is idempotent per source."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings, load_settings
from recoup.lake import Lake
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.flows import import_dir
from recoup.writeback.emit import do_freeze, do_manual_receipt
from recoup.writeback.files import COLUMNS, do_apply_ack, do_export
from recoup.writeback.models import WritebackInstruction
from recoup.writeback.reconcile import do_reconcile
from recoup.writeback.service import Kind, WritebackError, do_emit, exceptions, instruction_id_for

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]

D = dt.date
DAY1, DAY2 = D(2026, 11, 20), D(2026, 11, 21)
LOANS = ["L1", "L2", "L3", "L4", "L5"]
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def _inst_rows() -> dict[str, list[dict[str, str]]]:
    """Each loan: three instalments of principal 1,000, interest 100; the first overdue with fee 100 and
    penalty 300 (in yuan, as the extract carries them)."""
    out: dict[str, list[dict[str, str]]] = {}
    for loan in LOANS:
        out[loan] = [
            {
                "loan_id": loan,
                "seq": str(k),
                "due_date": f"2026-{9 + k:02d}-15",
                "principal_due": "1000.00",
                "interest_due": "100.00",
                "fee_due": "100.00" if k == 1 else "0",
                "penalty_due": "300.00" if k == 1 else "0",
                "principal_paid": "0",
                "interest_paid": "0",
                "fee_paid": "0",
                "penalty_paid": "0",
            }
            for k in (1, 2, 3)
        ]
    return out


def _write_day(
    folder: Path, loans: dict[str, str], inst: dict[str, list[dict[str, str]]], pays: list[str]
) -> None:
    folder.mkdir(parents=True)
    (folder / "borrowers.csv").write_text("borrower_id,name\n" + "".join(f"B{x[1:]},借款人\n" for x in LOANS))
    (folder / "loans.csv").write_text(
        "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
        "disbursement_date,status\n"
        + "".join(
            f"{x},B{x[1:]},CASH3,cash_loan,equal_principal,3000,18%,3,2026-09-15,{loans[x]}\n" for x in LOANS
        )
    )
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(inst["L1"][0]), lineterminator="\n")
    w.writeheader()
    for rows in inst.values():
        w.writerows(rows)
    (folder / "installments.csv").write_text(buf.getvalue())
    if pays:
        (folder / "payments.csv").write_text(
            "payment_id,loan_id,received_date,amount,channel,reference,reverses\n" + "".join(pays)
        )


def _import(folder: Path, day: dt.date, *, session: Session, lake: Lake, tmp_path: Path) -> None:
    import_dir(
        folder, as_of=day, settings=load_settings(data_dir=tmp_path / "data"), lake=lake, session=session
    )


class FakeCoreSystem:
    """The lender's core system, simulated: reads our file, applies what it agrees to on its book, answers
    with an acknowledgement file rejecting what ``reject`` names and silently skipping ``ignore``."""

    def __init__(self, reject: set[str], ignore: set[str]) -> None:
        self.reject, self.ignore = reject, ignore
        self.loans = dict.fromkeys(LOANS, "active")
        self.inst = _inst_rows()
        self.pays: list[str] = []
        self.acks: list[tuple[str, str, str]] = []

    def receive(self, path: Path) -> None:
        with path.open(encoding="utf-8", newline="") as fp:
            rows = list(csv.DictReader(fp))
        for r in rows:
            kind, loan = r["kind"], r["loan_id"]
            if kind in self.ignore:
                continue
            if kind in self.reject:
                self.acks.append((r["instruction_id"], "rejected", "loan under litigation hold / 诉讼冻结"))
                continue
            self.acks.append((r["instruction_id"], "accepted", ""))
            if kind == "waiver":  # lower what is due by the waived amounts on the first instalment
                first = self.inst[loan][0]
                for c in ("penalty", "fee", "interest", "principal"):
                    left = float(first[f"{c}_due"]) - float(r[f"waive_{c}"] or 0)
                    first[f"{c}_due"] = f"{left:.2f}"
            elif kind == "plan":  # the plan's instalments replace the schedule
                plan = [p.split(":") for p in r["instalments"].split(";")]
                self.inst[loan] = [
                    {
                        **self.inst[loan][0],
                        "seq": seq,
                        "due_date": due,
                        "principal_due": amt,
                        "interest_due": "0",
                        "fee_due": "0",
                        "penalty_due": "0",
                    }
                    for seq, due, amt in plan
                ]
            elif kind == "write_off":
                self.loans[loan] = "written_off"
            elif kind == "manual_receipt":
                payload = json.loads(r["payload"])
                self.pays.append(
                    f"P-{r['instruction_id']},{loan},{payload['received_date']},{r['amount']},bank_transfer,"
                    f"{r['reference']},\n"
                )

    def ack_file(self, path: Path) -> Path:
        path.write_text(
            "id,status,reason\n" + "".join(f"{i},{s},{why}\n" for i, s, why in self.acks), "utf-8"
        )
        return path


def _emit_day1(session: Session, settings: Settings) -> dict[str, WritebackInstruction]:
    waiver = do_emit(
        Kind.WAIVER,
        session=session,
        source_ref="resolution:1",
        loan_id="L1",
        business_date=DAY1,
        amount=40_000,
        payload={"resolution_id": 1, "loans": ["L1"], "waive": {"penalty": 30_000, "fee": 10_000}},
        settings=settings,
    )
    plan = do_emit(
        Kind.PLAN,
        session=session,
        source_ref="resolution:2",
        loan_id="L2",
        business_date=DAY1,
        effective_date=D(2026, 12, 1),
        amount=330_000,
        payload={
            "resolution_id": 2,
            "loans": ["L2"],
            "instalments": [
                {"seq": 1, "due_date": "2026-12-01", "amount": 110_000},
                {"seq": 2, "due_date": "2027-01-01", "amount": 110_000},
                {"seq": 3, "due_date": "2027-02-01", "amount": 110_000},
            ],
        },
        settings=settings,
    )
    wo = do_emit(
        Kind.WRITE_OFF,
        session=session,
        source_ref="write_off:9",
        loan_id="L3",
        business_date=DAY1,
        amount=340_000,
        payload={"write_off_id": 9, "amount": 340_000, "principal": 300_000},
        settings=settings,
    )
    receipt = do_manual_receipt(
        "L4",
        session=session,
        amount=50_000,
        received=DAY1,
        reference="CASH-0001",
        reason="cash at a field visit",
        actor="ops",
        settings=settings,
    )
    freeze = do_freeze("L5", session=session, start=DAY1, reason="hardship", actor="ops", settings=settings)
    return {"waiver": waiver, "plan": plan, "write_off": wo, "receipt": receipt, "freeze": freeze}


def test_round_trip_through_a_simulated_core_system(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    core = FakeCoreSystem(reject={"write_off"}, ignore={"interest_freeze"})
    _write_day(tmp_path / "d1", core.loans, core.inst, [])
    _import(tmp_path / "d1", DAY1, session=session, lake=lake, tmp_path=tmp_path)
    made = _emit_day1(session, settings)
    assert all(r.status == "pending" for r in made.values())

    res = do_export(DAY1, session=session, settings=settings, now=NOW)
    assert (res.count, res.newly_sent) == (5, 5)
    assert res.csv == settings.data_dir / "writeback" / "outgoing" / "writeback_20261120.csv"
    header = res.csv.read_text("utf-8").splitlines()[0]
    assert header == ",".join(COLUMNS)
    assert {r.status for r in made.values()} == {"sent"}

    core.receive(res.csv)
    _write_day(tmp_path / "d2", core.loans, core.inst, core.pays)
    _import(tmp_path / "d2", DAY2, session=session, lake=lake, tmp_path=tmp_path)
    ack = do_apply_ack(core.ack_file(tmp_path / "ack.csv"), session=session, settings=settings, now=NOW)
    assert ack.rejected == [made["write_off"].instruction_id]
    assert len(ack.accepted) == 3  # the ignored freeze is not in the acknowledgement at all

    rep = do_reconcile(DAY2, session=session, lake=lake, settings=settings, now=NOW)
    assert rep.extract == DAY2
    assert sorted(rep.confirmed) == sorted(made[k].instruction_id for k in ("waiver", "plan", "receipt"))
    assert rep.pending == [made["freeze"].instruction_id]
    assert rep.stale == []
    status = {k: r.status for k, r in made.items()}
    assert status == {
        "waiver": "confirmed",
        "plan": "confirmed",
        "receipt": "confirmed",
        "write_off": "rejected",
        "freeze": "sent",
    }
    assert made["waiver"].confirmed_extract == DAY2
    assert made["write_off"].reason == "loan under litigation hold / 诉讼冻结"
    assert [r.instruction_id for r in exceptions(session=session)] == [made["write_off"].instruction_id]

    # Two days later (3 after it was sent) the ignored freeze is stale and joins the exception list.
    assert do_reconcile(D(2026, 11, 22), session=session, lake=lake, settings=settings).stale == []
    later = do_reconcile(D(2026, 11, 23), session=session, lake=lake, settings=settings)
    assert later.stale == [made["freeze"].instruction_id]
    assert {r.instruction_id: r.status for r in exceptions(session=session)} == {
        made["write_off"].instruction_id: "rejected",
        made["freeze"].instruction_id: "stale",
    }
    kinds = set(session.scalars(select(LedgerEntry.kind).where(LedgerEntry.kind.like("writeback.%"))))
    assert kinds == {
        "writeback.created",
        "writeback.exported",
        "writeback.acknowledged",
        "writeback.reconciled",
    }


def test_nothing_is_confirmed_without_a_later_extract(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    core = FakeCoreSystem(reject=set(), ignore=set())
    _write_day(tmp_path / "d1", core.loans, core.inst, [])
    _import(tmp_path / "d1", DAY1, session=session, lake=lake, tmp_path=tmp_path)
    made = _emit_day1(session, settings)
    do_export(DAY1, session=session, settings=settings)
    rep = do_reconcile(DAY1, session=session, lake=lake, settings=settings)
    assert rep.confirmed == [] and len(rep.pending) == 5
    assert made["write_off"].status == "sent"


def test_export_is_idempotent_and_emission_too(session: Session, settings: Settings, tmp_path: Path) -> None:
    made = _emit_day1(session, settings)
    again = do_freeze("L5", session=session, start=DAY1, reason="hardship", actor="ops", settings=settings)
    assert again.id == made["freeze"].id
    assert made["freeze"].instruction_id == instruction_id_for("interest_freeze", "freeze:2026-11-20", "L5")
    first = do_export(DAY1, session=session, settings=settings, now=NOW, out_dir=tmp_path / "out")
    a, j = first.csv.read_bytes(), first.jsonl.read_bytes()
    second = do_export(
        DAY1, session=session, settings=settings, now=NOW + dt.timedelta(hours=5), out_dir=tmp_path / "out"
    )
    assert (second.csv.read_bytes(), second.jsonl.read_bytes(), second.newly_sent) == (a, j, 0)
    assert first.sha256 == second.sha256
    rows = list(csv.DictReader(io.StringIO(a.decode("utf-8"))))
    waiver = next(r for r in rows if r["kind"] == "waiver")
    assert (waiver["waive_penalty"], waiver["waive_fee"], waiver["amount"]) == ("300.00", "100.00", "400.00")
    plan = next(r for r in rows if r["kind"] == "plan")
    assert plan["instalments"] == "1:2026-12-01:1100.00;2:2027-01-01:1100.00;3:2027-02-01:1100.00"
    lines = [json.loads(x) for x in j.decode("utf-8").splitlines()]
    assert [x["instruction_id"] for x in lines] == [r["instruction_id"] for r in rows]
    assert lines[0]["payload"]["waive"] == {"fee": "100.00", "penalty": "300.00"}
    assert do_export(D(2026, 11, 19), session=session, settings=settings, out_dir=tmp_path / "out").count == 0


def test_a_bad_acknowledgement_changes_nothing(session: Session, settings: Settings, tmp_path: Path) -> None:
    made = _emit_day1(session, settings)
    do_export(DAY1, session=session, settings=settings, out_dir=tmp_path)
    bad = tmp_path / "ack.csv"
    bad.write_text(f"id,status,reason\n{made['waiver'].instruction_id},rejected,no\nWB-NOPE,rejected,x\n")
    with pytest.raises(WritebackError) as info:
        do_apply_ack(bad, session=session, settings=settings)
    assert info.value.details["row"] == 3 and info.value.details["column"] == "id"
    assert made["waiver"].status == "sent"
    bad.write_text(f"id,status,reason\n{made['waiver'].instruction_id},maybe,\n")
    with pytest.raises(WritebackError, match="column status"):
        do_apply_ack(bad, session=session, settings=settings)
