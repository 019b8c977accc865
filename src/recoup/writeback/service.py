"""Creating write-back instructions in the caller's unit of work, and reading them.

Each instruction's id is derived from what caused it (kind, source, loan), so emitting it again — a
rerun of the cycle, a retried request — returns the first one. Creation is written to the audit ledger
(``writeback.created``: ids, amount and the payload's hash) and, when ``RECOUP_WRITEBACK_WEBHOOK_URL`` is
set, a signed post is planned in the outbox (:mod:`recoup.contact.system`), sent after commit by the
dispatcher. Services never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import NotFoundError, RecoupError
from recoup.ledger.hashing import payload_hash
from recoup.ledger.service import do_append
from recoup.pii import PiiCipher, cipher_from_settings
from recoup.writeback.models import WritebackInstruction

__all__ = [
    "Kind",
    "Status",
    "WritebackError",
    "do_emit",
    "exceptions",
    "get_instruction",
    "instruction_id_for",
    "list_instructions",
    "to_record",
]


class WritebackError(RecoupError):
    """A write-back value, file or option is invalid; ``details`` names it."""

    code = "writeback.invalid"
    http_status = 422
    exit_code = 65  # EX_DATAERR


class Kind(StrEnum):
    WAIVER = "waiver"
    PLAN = "plan"
    INTEREST_FREEZE = "interest_freeze"
    WRITE_OFF = "write_off"
    MANUAL_RECEIPT = "manual_receipt"


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    STALE = "stale"


#: Statuses reconciliation still decides (a stale one may still be confirmed or rejected late).
OPEN: Final = frozenset({Status.SENT.value, Status.STALE.value})
PROFILE: Final = "writeback"


def instruction_id_for(kind: str, source_ref: str, loan_id: str) -> str:
    """``WB-`` and 16 hex digits of sha256(kind, source, loan): the same cause gives the same id."""
    digest = hashlib.sha256("\x1f".join((kind, source_ref, loan_id)).encode("utf-8")).hexdigest()
    return "WB-" + digest[:16].upper()


def to_record(row: WritebackInstruction, settings: Settings | None = None) -> dict[str, Any]:
    """The instruction as the file, the webhook and the API carry it (amounts as decimal strings)."""
    from recoup.money import to_decimal_string

    digits = (settings or get_settings()).minor_digits
    return {
        "instruction_id": row.instruction_id,
        "kind": row.kind,
        "loan_id": row.loan_id,
        "business_date": row.business_date.isoformat(),
        "effective_date": row.effective_date.isoformat(),
        "currency": row.currency,
        "amount": to_decimal_string(int(row.amount), digits),
        "source_ref": row.source_ref,
        "payload": _decimal_payload(row.payload, digits),
    }


#: Payload keys holding minor units (shown as decimal strings outside).
_MONEY_KEYS: Final = frozenset(
    {"penalty", "fee", "interest", "principal", "amount", "total_due", "agreed", "paid"}
)


def _decimal_payload(value: Any, digits: int, key: str = "") -> Any:
    from recoup.money import to_decimal_string

    if isinstance(value, dict):
        return {k: _decimal_payload(v, digits, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimal_payload(v, digits, key) for v in value]
    if key in _MONEY_KEYS and isinstance(value, int) and not isinstance(value, bool):
        return to_decimal_string(value, digits)
    return value


def do_emit(
    kind: Kind | str,
    *,
    session: Session,
    source_ref: str,
    loan_id: str,
    business_date: dt.date,
    effective_date: dt.date | None = None,
    amount: int = 0,
    payload: dict[str, Any],
    currency: str | None = None,
    case_id: int | None = None,
    actor: str = "system",
    settings: Settings | None = None,
    cipher: PiiCipher | None = None,
) -> WritebackInstruction:
    """Create the instruction for ``(kind, source_ref, loan_id)``, or return the one already made."""
    s = settings or get_settings()
    k = Kind(kind)
    if not loan_id or len(loan_id) > 64 or not source_ref or len(source_ref) > 120:
        raise WritebackError(
            "write-back: a loan id (≤ 64) and a source (≤ 120 characters) are required · 缺少借据号或来源",
            details={"loan_id": loan_id, "source_ref": source_ref},
        )
    found = session.scalars(
        select(WritebackInstruction).where(
            WritebackInstruction.kind == k.value,
            WritebackInstruction.source_ref == source_ref,
            WritebackInstruction.loan_id == loan_id,
        )
    ).first()
    if found is not None:
        return found
    row = WritebackInstruction(
        instruction_id=instruction_id_for(k.value, source_ref, loan_id),
        kind=k.value,
        source_ref=source_ref,
        loan_id=loan_id,
        case_id=case_id,
        business_date=business_date,
        effective_date=effective_date or business_date,
        currency=currency or s.currency,
        amount=int(amount),
        payload=payload,
        status=Status.PENDING.value,
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    if s.writeback_webhook_url:
        body = json.dumps(to_record(row, s), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        msg = do_enqueue_webhook(row, body, session=session, settings=s, cipher=cipher)
        row.outbox_message_id = msg.message_id
    do_append(
        "writeback.created",
        {
            "instruction_id": row.instruction_id,
            "kind": row.kind,
            "source_ref": row.source_ref,
            "loan_id": row.loan_id,
            "business_date": row.business_date.isoformat(),
            "amount": row.amount,
            "payload_sha256": payload_hash(row.payload),
            "webhook": row.outbox_message_id is not None,
        },
        session=session,
        actor=actor,
        settings=s,
    )
    return row


def do_enqueue_webhook(
    row: WritebackInstruction,
    body: str,
    *,
    session: Session,
    settings: Settings,
    cipher: PiiCipher | None = None,
) -> Any:
    """Plan the instruction's signed post to the core system (sent after commit by the dispatcher)."""
    from recoup.contact.system import do_enqueue_system

    assert settings.writeback_webhook_url is not None
    return do_enqueue_system(
        session=session,
        profile=PROFILE,
        ref=row.instruction_id,
        url=settings.writeback_webhook_url,
        body=body,
        cipher=cipher or cipher_from_settings(settings),
        message_id=row.instruction_id,
    )


def get_instruction(instruction_id: str, *, session: Session) -> WritebackInstruction:
    row = session.scalars(
        select(WritebackInstruction).where(WritebackInstruction.instruction_id == instruction_id.strip())
    ).first()
    if row is None:
        raise NotFoundError(
            f"no write-back instruction {instruction_id!r} · 回写指令不存在",
            details={"instruction_id": instruction_id},
        )
    return row


def _check(value: str | None, allowed: type[StrEnum], option: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in {m.value for m in allowed}:
        raise WritebackError(
            f"{option} {value!r}: use one of {', '.join(m.value for m in allowed)} · 取值无效",
            details={"option": option, "value": value},
        )
    return value


def list_instructions(
    *,
    session: Session,
    status: str | None = None,
    kind: str | None = None,
    on: dt.date | None = None,
    limit: int = 500,
) -> list[WritebackInstruction]:
    """Instructions, newest first, filtered by status, kind and business date."""
    q = select(WritebackInstruction).order_by(
        WritebackInstruction.business_date.desc(), WritebackInstruction.id.desc()
    )
    st, kd = _check(status, Status, "--status"), _check(kind, Kind, "--kind")
    if st:
        q = q.where(WritebackInstruction.status == st)
    if kd:
        q = q.where(WritebackInstruction.kind == kd)
    if on is not None:
        q = q.where(WritebackInstruction.business_date == on)
    return list(session.scalars(q.limit(limit)))


def exceptions(*, session: Session) -> list[WritebackInstruction]:
    """What operations must chase: rejected and stale instructions, oldest first."""
    return list(
        session.scalars(
            select(WritebackInstruction)
            .where(WritebackInstruction.status.in_([Status.REJECTED.value, Status.STALE.value]))
            .order_by(WritebackInstruction.business_date, WritebackInstruction.id)
        )
    )
