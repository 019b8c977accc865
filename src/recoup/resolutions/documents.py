"""The documents of a resolution: the signed agreement (还款/减免/和解协议) made when a plan, waiver or
settlement is approved, and the settlement certificate (结清证明) of an account paid off or settled.

**Where they live.** A PDF is a file under ``DATA_DIR/documents/<kind>/YYYY/MM/<number>.pdf`` (written
atomically, readable by the owner only); the database keeps its path, size and SHA-256, and the audit
ledger keeps the hash (``resolution.agreement`` / ``certificate.document``). Files rather than database
rows: a PDF with its embedded CJK font subset is a few hundred kB and never changes, the database stays
small and fast to back up, and a document is erased like the other personal files (visit photos) when
its retention ends — while the ledger entry, which holds no personal data, stays and proves what was
signed.

**Tamper evidence.** :func:`verify_document` recomputes the file's hash and compares it with the
database *and* the ledger entry (whose own hash chain and signature ``recoup ledger verify`` checks, and
whose inclusion ``recoup ledger prove SEQ`` proves): an altered, replaced or missing file is reported as
``document.altered``.

**The certificate's ledger hash.** A certificate cannot hold the hash of its own file, so its facts (the
loan, how and when it ended, the amounts) are first written to the ledger (``certificate.facts``: their
SHA-256), and that entry's number and hash are printed on the certificate; the file's hash then goes to a
second entry. Anyone holding the certificate can ask for ``recoup ledger prove <number>``.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.cases.models import Case
from recoup.config import Settings
from recoup.db import utcnow
from recoup.documents.pdf import render_pdf, sha256_hex
from recoup.errors import LedgerIntegrityError, NotFoundError, RecoupError, StorageError
from recoup.ledger.hashing import payload_hash
from recoup.ledger.models import LedgerEntry
from recoup.ledger.service import do_append
from recoup.money import format_amount
from recoup.pii import PiiCipher, cipher_from_settings, mask
from recoup.portfolio.models import Borrower
from recoup.resolutions.models import Resolution, ResolutionDocument, ResolutionInstalment

__all__ = [
    "DocumentAlteredError",
    "DocumentCheck",
    "do_make_agreement",
    "document_path",
    "read_document",
    "verify_document",
]

SAMPLE_LENDER: Final = "recoup 示例金融 (sample lender)"
TEMPLATES: Final = {"agreement": "resolutions_agreement.html", "certificate": "resolutions_certificate.html"}


class DocumentAlteredError(LedgerIntegrityError):
    """A stored document no longer matches the hash recorded in the database and the audit ledger."""

    code = "document.altered"
    http_status = 409


def documents_root(settings: Settings) -> Path:
    return settings.data_dir / "documents"


def document_path(doc: ResolutionDocument, settings: Settings) -> Path:
    return documents_root(settings) / doc.path


def _write(data: bytes, relative: str, settings: Settings) -> None:
    """Write ``data`` to ``relative`` under the documents directory atomically (0600)."""
    target = documents_root(settings) / relative
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".pdf")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except OSError as exc:
        raise StorageError(f"cannot store document {relative}: {exc.strerror} / 无法保存文档") from exc


def read_document(doc: ResolutionDocument, settings: Settings) -> bytes:
    try:
        return document_path(doc, settings).read_bytes()
    except OSError as exc:
        raise DocumentAlteredError(
            f"document {doc.number} is missing from the store / 文档 {doc.number} 已丢失",
            details={"document_id": doc.id, "number": doc.number, "reason": "missing"},
        ) from exc


# ----------------------------------------------------------------------------------------- formatting


def _style(locale: str) -> str:
    return "zh" if locale == "zh_CN" else "en"


def _day(value: dt.date | None, locale: str) -> str:
    if value is None:
        return "—"
    return f"{value.year}年{value.month}月{value.day}日" if locale == "zh_CN" else value.strftime("%-d %B %Y")


def _borrower(borrower: Borrower, cipher: PiiCipher | None, settings: Settings) -> dict[str, str]:
    """The borrower's name and masked ID number (the key is only loaded when there is an ID to read)."""
    id_masked = "—"
    if borrower.national_id_enc:
        try:
            key = cipher if cipher is not None else cipher_from_settings(settings)
            id_masked = mask("national_id", key.decrypt(borrower.national_id_enc))
        except RecoupError:
            id_masked = "—"
    return {"name": borrower.name, "id_masked": id_masked}


def _common(settings: Settings, locale: str, borrower: Borrower, cipher: PiiCipher | None) -> dict[str, Any]:
    return {
        "lender": settings.lender_name or SAMPLE_LENDER,
        "hotline": settings.hotline or "—",
        "borrower": _borrower(borrower, cipher, settings),
        "zh": locale == "zh_CN",
    }


def _store_document(
    *,
    kind: str,
    number: str,
    template: str,
    context: dict[str, Any],
    locale: str,
    case_id: int,
    resolution_id: int | None,
    account_id: int | None,
    session: Session,
    settings: Settings,
    actor: str,
    at: dt.datetime,
) -> tuple[ResolutionDocument, bytes]:
    pdf = render_pdf(template, context, locale=locale).pdf
    relative = f"{kind}/{at:%Y}/{at:%m}/{number}.pdf"
    _write(pdf, relative, settings)
    doc = ResolutionDocument(
        number=number,
        kind=kind,
        case_id=case_id,
        resolution_id=resolution_id,
        account_id=account_id,
        locale=locale,
        path=relative,
        sha256=sha256_hex(pdf),
        size=len(pdf),
        ledger_seq=0,
        created_by=actor,
        created_at=at,
    )
    session.add(doc)
    session.flush()
    return doc, pdf


# ---------------------------------------------------------------------------------------- agreement


def agreement_context(
    res: Resolution,
    *,
    session: Session,
    settings: Settings,
    number: str,
    cipher: PiiCipher | None,
    made: dt.date,
) -> dict[str, Any]:
    """What the agreement shows (amounts formatted for its language)."""
    loc = res.locale
    case = session.get(Case, res.case_id)
    borrower = session.get(Borrower, case.borrower_id) if case is not None else None
    if borrower is None:
        raise NotFoundError(f"case {res.case_id} has no borrower / 案件没有借款人")

    def money(v: int) -> str:
        return format_amount(v, res.currency, style=_style(loc))  # type: ignore[arg-type]

    parts = [
        ("penalty", "Penalty interest", "罚息"),
        ("fee", "Fees", "费用"),
        ("interest", "Interest", "利息"),
        ("principal", "Principal", "本金"),
    ]
    rows = [
        {
            "en": en,
            "zh": zh,
            "owed": money(res.owed[k]),
            "waived": money(res.waived[k]),
            "payable": money(res.owed[k] - res.waived[k]),
        }
        for k, en, zh in parts
    ]
    instalments = session.scalars(
        select(ResolutionInstalment)
        .where(ResolutionInstalment.resolution_id == res.id)
        .order_by(ResolutionInstalment.seq)
    ).all()
    return {
        **_common(settings, loc, borrower, cipher),
        "number": number,
        "kind": res.kind,
        "base": res.base,
        "case_id": res.case_id,
        "resolution_id": res.id,
        "loans": list(res.loans or ()),
        "rows": rows,
        "owed_total": money(res.owed_total),
        "waived_total": money(res.waived_total),
        "agreed": money(res.agreed_amount),
        "total_due": money(res.total_due),
        "plan_interest": money(res.total_due - res.agreed_amount),
        "has_plan_interest": res.total_due > res.agreed_amount,
        "has_waiver": res.waived_total > 0,
        "instalments": [
            {"seq": i.seq, "due": _day(i.due_date, loc), "amount": money(i.amount)} for i in instalments
        ],
        "deadline": _day(res.deadline, loc),
        "grace_days": res.grace_days,
        "made_on": _day(made, loc),
        "approval": res.decided_matrix or res.matrix_version,
    }


def do_make_agreement(
    res: Resolution,
    *,
    session: Session,
    settings: Settings,
    actor: str,
    cipher: PiiCipher | None = None,
    now: dt.datetime | None = None,
) -> ResolutionDocument:
    """Render the agreement of an approved ``res`` in its language, store it, and write its SHA-256 to
    the ledger (``resolution.agreement``). Returns the document row (``ledger_seq`` set)."""
    at = now or utcnow()
    made = at.astimezone(settings.tz).date()
    number = f"AGR-{made:%Y%m%d}-{res.id:06d}"
    context = agreement_context(
        res,
        session=session,
        settings=settings,
        number=number,
        cipher=cipher,
        made=made,
    )
    doc, _pdf = _store_document(
        kind="agreement",
        number=number,
        template=TEMPLATES["agreement"],
        context=context,
        locale=res.locale,
        case_id=res.case_id,
        resolution_id=res.id,
        account_id=None,
        session=session,
        settings=settings,
        actor=actor,
        at=at,
    )
    entry = do_append(
        "resolution.agreement",
        {
            "resolution_id": res.id,
            "case_id": res.case_id,
            "document_id": doc.id,
            "number": number,
            "sha256": doc.sha256,
            "template": TEMPLATES["agreement"],
            "locale": res.locale,
        },
        session=session,
        actor=actor,
        settings=settings,
    )
    doc.ledger_seq = entry.seq
    session.flush()
    return doc


# ------------------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class DocumentCheck:
    document_id: int
    number: str
    sha256: str
    ledger_seq: int


def verify_document(doc: ResolutionDocument, *, session: Session, settings: Settings) -> DocumentCheck:
    """Check a stored document against its hash in the database and in its ledger entry (and that entry
    against its own recorded hash); :class:`DocumentAlteredError` names what differs."""
    data = read_document(doc, settings)
    actual = sha256_hex(data)
    where = {"document_id": doc.id, "number": doc.number, "ledger_seq": doc.ledger_seq}
    entry = session.get(LedgerEntry, doc.ledger_seq)
    if entry is None or entry.payload.get("sha256") is None:
        raise DocumentAlteredError(
            f"document {doc.number}: ledger entry {doc.ledger_seq} does not record it"
            " / 账本中没有该文档的记录",
            details={**where, "reason": "ledger"},
        )
    if payload_hash(entry.payload) != entry.payload_sha256:
        raise DocumentAlteredError(
            f"ledger entry {doc.ledger_seq} has been altered; run `recoup ledger verify` / 账本条目已被篡改",
            details={**where, "reason": "ledger"},
        )
    recorded = str(entry.payload["sha256"])
    if actual != recorded or doc.sha256 != recorded:
        raise DocumentAlteredError(
            f"document {doc.number} has been altered: its SHA-256 is {actual}, the ledger (entry "
            f"{doc.ledger_seq}) recorded {recorded} / 文档 {doc.number} 已被篡改，与账本记录的哈希不符",
            details={**where, "reason": "hash", "actual": actual, "recorded": recorded},
        )
    return DocumentCheck(doc.id, doc.number, actual, doc.ledger_seq)
