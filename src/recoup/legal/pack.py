"""The buyer's data pack of a debt sale: what the buyer needs to take the debts over, with a manifest of
hashes so both sides can prove what was handed over.

Files (under ``DATA_DIR/sales/sale-<id>/<UTC timestamp>/``, owner-only permissions):

- ``accounts.csv`` and ``accounts.xlsx`` — one row per loan: the borrower (name, ID number, own phones
  and address **in clear**: the buyer takes over the debt and must be able to contact the debtor),
  the loan, the balance at selection, the overdue amount, days past due, the cut-off date, the
  limitation date and whether it was written off;
- ``payments_after_cutoff.csv`` — payments received after the cut-off (the buyer's money, passed on);
- ``notices.csv`` — the notice of transfer per loan: queued (its outbox message id) or ``no_address``;
- ``manifest.json`` — the sale, the totals and each file's name, size, rows and sha256.

The manifest's sha256 is stored on the sale and written to the audit ledger (``sale.pack_built``, hashes
only: the ledger never holds personal data). Money is written as decimal strings in currency units; text
cells are neutralised against spreadsheet formulas (:mod:`recoup.cellsafe`).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup import cellsafe
from recoup.auth.models import AppUser
from recoup.config import CURRENCY_MINOR_DIGITS, Settings, get_settings
from recoup.db import utcnow
from recoup.errors import StorageError
from recoup.ledger.service import do_append
from recoup.legal.common import LegalStateError, missing
from recoup.legal.models import DebtSale, LimitationStatus, WriteOff, WriteOffAccount
from recoup.legal.sale_rules import SaleStatus, sale_accounts
from recoup.legal.sale_sold import buyer_payments
from recoup.money import to_decimal_string
from recoup.pii import PiiCipher, cipher_from_settings
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint

__all__ = ["ACCOUNT_COLUMNS", "PackResult", "do_build_pack", "read_manifest", "verify_pack"]

ACCOUNT_COLUMNS = (
    "loan_id",
    "borrower_id",
    "borrower_name",
    "national_id",
    "phones",
    "address",
    "product_code",
    "currency",
    "principal",
    "balance_at_selection",
    "principal_at_selection",
    "overdue_amount",
    "days_past_due",
    "cutoff_date",
    "limitation_date",
    "written_off_on",
)
PAYMENT_COLUMNS = ("loan_id", "payment_id", "received_date", "amount")
NOTICE_COLUMNS = ("loan_id", "notice_status", "notice_message_id")


@dataclass(frozen=True)
class PackResult:
    directory: Path
    manifest: dict[str, Any]
    manifest_sha256: str


def _csv(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows([[cellsafe.cell(v) for v in r] for r in rows])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # a BOM: spreadsheets open it as UTF-8


def _xlsx(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "accounts"
    ws.append(list(header))
    for c in ws[1]:
        c.font = Font(bold=True)
    for r in rows:
        ws.append([cellsafe.cell(v) for v in r])
    for i, name in enumerate(header, start=1):
        width = max([len(name), *(len(r[i - 1]) for r in rows)])
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _write(path: Path, data: bytes) -> dict[str, Any]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return {"name": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _account_rows(sale: DebtSale, *, session: Session, cipher: PiiCipher, digits: int) -> list[list[str]]:
    rows = sale_accounts(sale.id, session=session)
    accounts = {
        a.id: a
        for a in session.scalars(
            select(CollectionAccount).where(CollectionAccount.id.in_([r.account_id for r in rows]))
        )
    }
    borrowers = {
        b.id: b
        for b in session.scalars(
            select(Borrower).where(Borrower.id.in_(sorted({a.borrower_id for a in accounts.values()})))
        )
    }
    points: dict[int, list[ContactPoint]] = {}
    for cp in session.scalars(
        select(ContactPoint)
        .where(
            ContactPoint.borrower_id.in_(sorted(borrowers)),
            ContactPoint.role.in_(("self", "debtor")),
            ContactPoint.is_valid.is_(True),
        )
        .order_by(ContactPoint.id)
    ):
        points.setdefault(cp.borrower_id, []).append(cp)
    limits = dict(
        session.execute(
            select(LimitationStatus.account_id, LimitationStatus.limitation_date).where(
                LimitationStatus.account_id.in_(list(accounts))
            )
        ).all()
    )
    written = dict(
        session.execute(
            select(WriteOffAccount.account_id, WriteOff.written_off_on)
            .join(WriteOff, WriteOff.id == WriteOffAccount.write_off_id)
            .where(WriteOff.status == "approved", WriteOffAccount.account_id.in_(list(accounts)))
        ).all()
    )
    out = []
    for r in rows:
        a = accounts[r.account_id]
        b = borrowers[a.borrower_id]
        mine = points.get(b.id, [])
        nid = cipher.decrypt(b.national_id_enc) if b.national_id_enc else ""
        lim = limits.get(a.id)
        wo = written.get(a.id)
        out.append(
            [
                r.loan_id,
                b.external_id,
                b.name or "",
                nid,
                "; ".join(cp.value for cp in mine if cp.kind == "phone"),
                "; ".join(cp.value for cp in mine if cp.kind == "address"),
                a.product_code,
                a.currency,
                to_decimal_string(int(a.principal), digits),
                to_decimal_string(r.balance, digits),
                to_decimal_string(r.principal, digits),
                to_decimal_string(int(a.overdue_amount), digits),
                str(a.dpd),
                sale.cutoff_date.isoformat(),
                lim.isoformat() if lim else "",
                wo.isoformat() if wo else "",
            ]
        )
    return out


def do_build_pack(
    sale_id: int,
    *,
    session: Session,
    actor: AppUser,
    settings: Settings | None = None,
    cipher: PiiCipher | None = None,
    lake_payments: pl.DataFrame | pl.LazyFrame | None = None,
    now: dt.datetime | None = None,
) -> PackResult:
    """Write the buyer's data pack of an approved or transferred sale; the manifest's hash is stored on the
    sale and in the audit ledger. Each call writes a new pack (payments after the cut-off keep coming)."""
    s = settings or get_settings()
    at = now or utcnow()
    sale = session.get(DebtSale, sale_id)
    if sale is None:
        raise missing("sale", sale_id)
    if sale.status not in (SaleStatus.APPROVED.value, SaleStatus.TRANSFERRED.value):
        raise LegalStateError(
            f"debt sale {sale.id} is {sale.status}: a data pack needs an approved sale / 转让尚未批准",
            details={"sale_id": sale.id, "status": sale.status},
        )
    digits = CURRENCY_MINOR_DIGITS.get(sale.currency, 2)
    c = cipher or cipher_from_settings(s)
    accounts = _account_rows(sale, session=session, cipher=c, digits=digits)
    pays = buyer_payments(sale, session=session, lake_payments=lake_payments)
    pay_rows = [
        [
            r["loan_id"],
            r["payment_id"],
            r["received_date"].isoformat(),
            to_decimal_string(r["amount"], digits),
        ]
        for r in pays.iter_rows(named=True)
    ]
    notice_rows = [
        [r.loan_id, r.notice_status or "not_sent", r.notice_message_id or ""]
        for r in sale_accounts(sale.id, session=session)
    ]
    stamp = at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    directory = Path(s.data_dir) / "sales" / f"sale-{sale.id}" / stamp
    try:
        directory.mkdir(parents=True, exist_ok=False, mode=0o700)
        files = [
            {**_write(directory / "accounts.csv", _csv(ACCOUNT_COLUMNS, accounts)), "rows": len(accounts)},
            {**_write(directory / "accounts.xlsx", _xlsx(ACCOUNT_COLUMNS, accounts)), "rows": len(accounts)},
            {
                **_write(directory / "payments_after_cutoff.csv", _csv(PAYMENT_COLUMNS, pay_rows)),
                "rows": len(pay_rows),
            },
            {
                **_write(directory / "notices.csv", _csv(NOTICE_COLUMNS, notice_rows)),
                "rows": len(notice_rows),
            },
        ]
        sale_rows = sale_accounts(sale.id, session=session)
        manifest: dict[str, Any] = {
            "sale_id": sale.id,
            "buyer": sale.buyer,
            "status": sale.status,
            "cutoff_date": sale.cutoff_date.isoformat(),
            "transfer_date": sale.transfer_date.isoformat(),
            "currency": sale.currency,
            "created_at": at.astimezone(dt.UTC).isoformat(),
            "created_by": actor.username,
            "totals": {
                "accounts": len(accounts),
                "cases": len({r.case_id for r in sale_rows}),
                "balance_at_selection": to_decimal_string(sum(r.balance for r in sale_rows), digits),
                "payments_after_cutoff": to_decimal_string(int(pays.get_column("amount").sum() or 0), digits),
            },
            "files": files,
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
        _write(directory / "manifest.json", data)
    except OSError as exc:
        raise StorageError(
            f"cannot write the data pack under {directory}: {exc.strerror} / 无法写入数据包",
            details={"path": str(directory)},
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    sale.pack_manifest_sha256, sale.pack_path = digest, str(directory)
    session.flush()
    do_append(
        "sale.pack_built",
        {
            "sale_id": sale.id,
            "manifest_sha256": digest,
            "files": [{"name": f["name"], "sha256": f["sha256"]} for f in files],
        },
        session=session,
        actor=actor.username,
        settings=s,
    )
    return PackResult(directory, manifest, digest)


def read_manifest(directory: Path) -> dict[str, Any]:
    """A pack's manifest (``OSError`` when it is not there, ``ValueError`` when it is not JSON)."""
    data = json.loads((directory / "manifest.json").read_text("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ValueError("not a data pack manifest")
    return data


def verify_pack(directory: Path) -> list[str]:
    """The files of a pack whose size or sha256 no longer match its manifest (empty: intact)."""
    manifest = read_manifest(directory)
    bad = []
    for f in manifest["files"]:
        path = directory / f["name"]
        try:
            data = path.read_bytes()
        except OSError:
            bad.append(f["name"])
            continue
        if len(data) != f["bytes"] or hashlib.sha256(data).hexdigest() != f["sha256"]:
            bad.append(f["name"])
    return bad
