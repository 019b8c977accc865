"""Settlement certificates (结清证明): for a loan paid off (the book says so) or settled (an honoured
settlement on its case covered it). Its facts go to the ledger first and that entry's number and hash are
printed on the certificate; the file's own hash goes to a second entry (see :mod:`.documents`)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.db import utcnow
from recoup.documents.pdf import sha256_hex
from recoup.errors import NotFoundError, RecoupError
from recoup.lake import Book
from recoup.ledger.hashing import canonical_json
from recoup.ledger.service import do_append
from recoup.money import format_amount
from recoup.pii import PiiCipher
from recoup.portfolio.models import Borrower, CollectionAccount
from recoup.resolutions.documents import (
    SAMPLE_LENDER,
    TEMPLATES,
    _common,
    _day,
    _store_document,
    _style,
)
from recoup.resolutions.models import Resolution, ResolutionDocument

__all__ = ["CertificateRefusedError", "certificate_basis", "do_issue_certificate"]


class CertificateRefusedError(RecoupError):
    """An account that is neither paid off nor settled gets no settlement certificate."""

    code = "certificate.refused"
    http_status = 422
    exit_code = 65


def certificate_basis(
    account: CollectionAccount, *, session: Session, book: Book | None
) -> tuple[str, dt.date, Resolution | None]:
    """How the account ended: ``settled`` (an honoured settlement on its case covering it) or ``paid``
    (the book says the loan is paid off), with the day; :class:`CertificateRefusedError` otherwise."""
    settled = session.scalars(
        select(Resolution)
        .where(
            Resolution.case_id == account.case_id,
            Resolution.kind == "settlement",
            Resolution.status == "honoured",
        )
        .order_by(Resolution.id.desc())
    ).all()
    for res in settled:
        if account.external_id in (res.loans or ()):
            return "settled", res.ended_on or res.deadline, res
    if book is not None:
        loan = book.scan("loans").filter(pl.col("loan_id") == account.external_id).select("status").collect()
        if loan.height and loan.item(0, "status") == "paid_off":
            last = (
                book.scan("payments")
                .filter(pl.col("loan_id") == account.external_id)
                .select(pl.col("received_date").max())
                .collect()
                .item()
            )
            return "paid", last or book.manifest_as_of, None
    raise CertificateRefusedError(
        f"loan {account.external_id} is neither paid off nor settled; no settlement certificate"
        f" / 借款 {account.external_id} 尚未结清，不能开具结清证明",
        details={"account_id": account.id, "loan": account.external_id},
    )


def do_issue_certificate(
    account_id: int,
    *,
    session: Session,
    settings: Settings,
    actor: str,
    locale: str,
    book: Book | None,
    cipher: PiiCipher | None = None,
    now: dt.datetime | None = None,
) -> ResolutionDocument:
    """The settlement certificate (结清证明) of a paid-off or settled account, in ``locale``: issued once
    per account and language (asked again, the stored one is returned)."""
    account = session.get(CollectionAccount, account_id)
    if account is None or account.case_id is None:
        raise NotFoundError(f"no account {account_id} / 账户不存在", details={"account_id": account_id})
    existing = session.scalars(
        select(ResolutionDocument).where(
            ResolutionDocument.kind == "certificate",
            ResolutionDocument.account_id == account.id,
            ResolutionDocument.locale == locale,
        )
    ).first()
    if existing is not None:
        return existing
    basis, ended, res = certificate_basis(account, session=session, book=book)
    at = now or utcnow()
    issued = at.astimezone(settings.tz).date()
    number = f"CERT-{issued:%Y%m%d}-{account.id:06d}-{'ZH' if locale == 'zh_CN' else 'EN'}"
    agreement = None
    if res is not None:
        agreement = session.scalar(
            select(ResolutionDocument.number).where(
                ResolutionDocument.resolution_id == res.id, ResolutionDocument.kind == "agreement"
            )
        )
    facts = {
        "certificate_no": number,
        "basis": basis,
        "loan": account.external_id,
        "account_id": account.id,
        "case_id": account.case_id,
        "currency": account.currency,
        "principal": account.principal,
        "disbursed_on": account.disbursement_date.isoformat(),
        "ended_on": ended.isoformat(),
        "settled_paid": res.paid_amount if res is not None else None,
        "settled_waived": res.waived_total if res is not None else None,
        "agreement_no": agreement,
        "issued_on": issued.isoformat(),
        "lender": settings.lender_name or SAMPLE_LENDER,
    }
    facts_sha = sha256_hex(canonical_json(facts))
    fact_entry = do_append(
        "certificate.facts",
        {
            "certificate_no": number,
            "case_id": account.case_id,
            "account_id": account.id,
            "basis": basis,
            "resolution_id": res.id if res is not None else None,
            "facts_sha256": facts_sha,
        },
        session=session,
        actor=actor,
        settings=settings,
    )
    borrower = session.get(Borrower, account.borrower_id)
    assert borrower is not None

    def money(v: int) -> str:
        return format_amount(v, account.currency, style=_style(locale))  # type: ignore[arg-type]

    context = {
        **_common(settings, locale, borrower, cipher),
        "number": number,
        "basis": basis,
        "loan": account.external_id,
        "product": account.product_code,
        "principal": money(account.principal),
        "disbursed_on": _day(account.disbursement_date, locale),
        "ended_on": _day(ended, locale),
        "issued_on": _day(issued, locale),
        "settled_paid": money(res.paid_amount) if res is not None else None,
        "settled_waived": money(res.waived_total) if res is not None else None,
        "agreement_no": agreement,
        "ledger_seq": fact_entry.seq,
        "ledger_hash": fact_entry.entry_hash,
        "facts_sha256": facts_sha,
    }
    doc, _pdf = _store_document(
        kind="certificate",
        number=number,
        template=TEMPLATES["certificate"],
        context=context,
        locale=locale,
        case_id=account.case_id,
        resolution_id=res.id if res is not None else None,
        account_id=account.id,
        session=session,
        settings=settings,
        actor=actor,
        at=at,
    )
    doc.basis, doc.facts, doc.facts_sha256, doc.facts_seq = basis, facts, facts_sha, fact_entry.seq
    entry = do_append(
        "certificate.document",
        {
            "certificate_no": number,
            "document_id": doc.id,
            "sha256": doc.sha256,
            "facts_seq": fact_entry.seq,
            "locale": locale,
        },
        session=session,
        actor=actor,
        settings=settings,
    )
    doc.ledger_seq = entry.seq
    session.flush()
    return doc
