"""What the legal services share: their errors (stable codes, both languages), the business day, the
balance owed on an account from its mirrored schedule, four-eyes and the combined authority of a decision."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases import lifecycle
from recoup.cases.access import effective_permissions
from recoup.config import Settings
from recoup.errors import AuthError, ConflictError, NotFoundError, RecoupError
from recoup.portfolio.models import AccountInstallment


class LegalInputError(RecoupError):
    """A value given is invalid; ``details["field"]`` names it."""

    code = "legal.refused"
    http_status = 422
    exit_code = 65  # EX_DATAERR


class LegalStateError(ConflictError):
    """The move is not possible in the record's (or its case's) current state."""

    code = "legal.invalid_state"
    exit_code = 65


class LegalFourEyesError(AuthError):
    """The person who asked for a write-off or a sale may not decide it."""

    code = "legal.four_eyes"
    http_status = 403
    exit_code = 77  # EX_NOPERM


class TimeBarredError(ConflictError):
    """A legal matter on a debt past its limitation date needs an explicit acknowledgement."""

    code = "legal.time_barred"
    exit_code = 65


class TooEarlyError(ConflictError):
    """A sale is transferred on or after its transfer date, never before."""

    code = "legal.too_early"
    exit_code = 65


def refuse(field: str, english: str, chinese: str, **details: Any) -> LegalInputError:
    return LegalInputError(f"{english} / {chinese}", details={"field": field, **details})


def missing(what: str, ident: object) -> NotFoundError:
    names = {
        "matter": "法律案件",
        "write_off": "核销",
        "sale": "债权转让",
        "deadline": "期限",
        "case": "案件",
    }
    return NotFoundError(
        f"no {what.replace('_', '-')} {ident} / {names.get(what, what)} {ident} 不存在",
        details={f"{what}_id": ident},
    )


def business_day(at: dt.datetime, settings: Settings) -> dt.date:
    """The lender's calendar day of ``at``."""
    return at.astimezone(settings.tz).date()


def text(value: str, field: str, *, low: int = 1, high: int = 500) -> str:
    """A stripped text of ``low``–``high`` characters, or :class:`LegalInputError`."""
    v = (value or "").strip()
    if not low <= len(v) <= high:
        raise refuse(
            field, f"{field} needs {low} to {high} characters", f"{field} 长度须为 {low}–{high} 个字符"
        )
    return v


def balances(account_ids: Iterable[int], *, session: Session) -> dict[int, tuple[int, int]]:
    """account id → (remaining balance of every component, remaining principal) from the mirrored schedule,
    in minor units (unpaid parts only; overpaid parts count as zero)."""
    ids = list(account_ids)
    out: dict[int, tuple[int, int]] = dict.fromkeys(ids, (0, 0))
    if not ids:
        return out
    inst = AccountInstallment
    rows = session.execute(
        select(
            inst.account_id,
            inst.principal_due,
            inst.principal_paid,
            inst.interest_due,
            inst.interest_paid,
            inst.fee_due,
            inst.fee_paid,
            inst.penalty_due,
            inst.penalty_paid,
        ).where(inst.account_id.in_(ids))
    ).all()
    for aid, pd, pp, idue, ip, fd, fp, ped, pep in rows:
        total, principal = out[aid]
        p = max(int(pd) - int(pp), 0)
        rest = max(int(idue) - int(ip), 0) + max(int(fd) - int(fp), 0) + max(int(ped) - int(pep), 0)
        out[aid] = (total + p + rest, principal + p)
    return out


def check_four_eyes(requested_by_id: int, actor: AppUser, what: str, ident: int) -> None:
    if requested_by_id == actor.id:
        raise LegalFourEyesError(
            f"you asked for {what} {ident}: another person decides it / 申请人不能自行审批（双人复核）",
            details={f"{what.replace('-', '_')}_id": ident},
        )


def combined_permissions(users: Iterable[AppUser | None]) -> frozenset[str]:
    """The permissions the people of a decision hold together (requester, approver, executor): a
    decision taken by four eyes carries the authority of both."""
    out: set[str] = set()
    for u in users:
        if u is not None:
            out |= effective_permissions(u)
    return frozenset(out)


def _lifecycle_version() -> str:
    doc = {
        f"{a.value}>{b.value}": [e.permission, sorted(r.value for r in e.close_reasons)]
        for (a, b), e in lifecycle.TRANSITIONS.items()
    }
    close = sorted(f"{k.value}:{v}" for k, v in lifecycle.CLOSE_REASON_PERMISSION.items())
    digest = hashlib.sha256(json.dumps([doc, close], sort_keys=True).encode()).hexdigest()
    return f"case-lifecycle:{digest[:12]}"


#: The version of the case lifecycle table a write-off or a sale was allowed by.
LIFECYCLE_VERSION: Final = _lifecycle_version()
