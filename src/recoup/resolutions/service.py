"""Plans, waivers and settlements: the shared pieces of asking (:mod:`.ask`) and deciding (:mod:`.decide`)
— errors, who has what authority, the monthly waiver budgets, the stored terms — and hardship evidence.
Services take ``session`` and never commit.

Who approves is the approval matrix's (:mod:`recoup.resolutions.matrix`): a request needs the highest
role any of its lines needs (:func:`recoup.resolutions.terms.assess`). A requester whose own role covers
it approves it in one step (when the matrix allows), as does a request within a pre-approved offer pack;
anything else waits for a second person whose role is at least the one required — never the requester,
and never an agency (agencies may request waivers, never approve them). An approval is checked again
against the matrix version in force then, the team's monthly waiver budget, and the hardship evidence the
matrix requires; it moves the case (a plan to ``plan``, a settlement to ``settlement``) and makes the
agreement PDF, whose hash goes to the audit ledger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.models import Team, WorkerProfile
from recoup.config import Settings
from recoup.errors import AuthError, ConflictError, NotFoundError, RecoupError
from recoup.ledger.service import do_append
from recoup.money import format_amount
from recoup.resolutions.matrix import Matrix
from recoup.resolutions.matrix_load import resolve
from recoup.resolutions.models import Resolution, ResolutionEvidence, ResolutionInstalment
from recoup.resolutions.terms import (
    CaseTerms,
    Instalment,
    Terms,
    refuse,
)

__all__ = [
    "LIVE",
    "Budget",
    "BudgetExceededError",
    "ResolutionForbiddenError",
    "ResolutionStateError",
    "authority",
    "budget",
    "check_budget",
    "do_add_evidence",
    "get_resolution",
    "is_agency",
    "matrix_for",
    "terms_of",
]

#: Statuses of a resolution still in play (a case has at most one).
LIVE: Final = ("pending", "active")
#: Statuses that count against the monthly waiver budget.
BUDGETED: Final = ("active", "honoured")
MAX_TEXT: Final = 500


class ResolutionForbiddenError(AuthError):
    """The user may not decide this request (their role is below the one the matrix names, they asked for
    it themselves, or they are an agency); the message says who may."""

    code = "resolution.not_authorised"
    http_status = 403
    exit_code = 77  # EX_NOPERM


class BudgetExceededError(RecoupError):
    """A waiver beyond what is left of the team's monthly budget; ``details`` has the figures."""

    code = "resolution.budget_exceeded"
    http_status = 422
    exit_code = 65


class ResolutionStateError(ConflictError):
    """The resolution (or the case) is not in a state that allows this."""

    code = "resolution.state"


def matrix_for(session: Session, settings: Settings) -> Matrix:
    return resolve(session=session, minor_digits=settings.minor_digits)


def _today(settings: Settings, now: dt.datetime) -> dt.date:
    return now.astimezone(settings.tz).date()


def _money(amount: int, settings: Settings) -> str:
    return format_amount(amount, settings.currency)


def get_resolution(resolution_id: int, *, session: Session, lock: bool = False) -> Resolution:
    res = session.get(Resolution, resolution_id, with_for_update=lock)
    if res is None:
        raise NotFoundError(
            f"no resolution {resolution_id} / 没有该方案", details={"resolution_id": resolution_id}
        )
    return res


# ----------------------------------------------------------------------------------------------- people


def _team_name(user_id: int | None, session: Session) -> str | None:
    if user_id is None:
        return None
    name = session.scalar(
        select(Team.name)
        .join(WorkerProfile, WorkerProfile.team_id == Team.id)
        .where(WorkerProfile.user_id == user_id)
    )
    return str(name) if name is not None else None


def is_agency(user: AppUser, matrix: Matrix, session: Session) -> bool:
    if any(r in matrix.request_only for r in user.role_names):
        return True
    kind = session.scalar(select(WorkerProfile.kind).where(WorkerProfile.user_id == user.id))
    return kind == "agency"


def authority(user: AppUser, matrix: Matrix, *, session: Session) -> tuple[int, str | None]:
    """The user's rank on the matrix's ladder and the role giving it ((0, None): may not approve)."""
    if not user.is_active or is_agency(user, matrix, session):
        return 0, None
    return matrix.authority(user.role_names)


# ----------------------------------------------------------------------------------------------- budget


@dataclass(frozen=True)
class Budget:
    team: str | None
    month: str  # YYYY-MM
    limit: int
    used: int

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


def budget(team: str | None, *, on: dt.date, matrix: Matrix, session: Session, settings: Settings) -> Budget:
    """The team's waiver budget for the month of ``on`` and what approved waivers used of it (those
    approved that month and not lapsed, broken, rejected or withdrawn)."""
    start = dt.datetime.combine(on.replace(day=1), dt.time(), tzinfo=settings.tz)
    end = dt.datetime.combine(
        (on.replace(day=28) + dt.timedelta(days=4)).replace(day=1), dt.time(), tzinfo=settings.tz
    )
    waived = (
        Resolution.waive_penalty
        + Resolution.waive_fee
        + Resolution.waive_interest
        + Resolution.waive_principal
    )
    used = session.scalar(
        select(func.coalesce(func.sum(waived), 0)).where(
            Resolution.team.is_(None) if team is None else Resolution.team == team,
            Resolution.status.in_(BUDGETED),
            Resolution.decided_at >= start.astimezone(dt.UTC),
            Resolution.decided_at < end.astimezone(dt.UTC),
        )
    )
    return Budget(team, on.strftime("%Y-%m"), matrix.budget_for(team), int(used or 0))


def check_budget(amount: int, left: Budget, settings: Settings) -> None:
    """:class:`BudgetExceededError` when ``amount`` is more than is left of the budget."""
    if amount <= left.left:
        return
    who = left.team or "(no team)"
    raise BudgetExceededError(
        f"team {who} has {_money(left.left, settings)} left of its {_money(left.limit, settings)} "
        f"waiver budget for {left.month}; this waiver is {_money(amount, settings)}"
        f" / 团队 {who} 本月（{left.month}）减免额度剩余 {_money(left.left, settings)}，"
        f"本次减免 {_money(amount, settings)}，超出额度",
        details={
            "team": left.team,
            "month": left.month,
            "limit": left.limit,
            "used": left.used,
            "left": left.left,
            "asked": amount,
        },
    )


def _text(value: str, field: str) -> str:
    text = (value or "").strip()
    if len(text) > MAX_TEXT:
        raise refuse(field, f"{field} is longer than {MAX_TEXT} characters / 文字过长")
    return text


def _live(case_id: int, session: Session) -> Resolution | None:
    return session.scalars(
        select(Resolution).where(Resolution.case_id == case_id, Resolution.status.in_(LIVE)).limit(1)
    ).first()


def terms_of(res: Resolution, *, session: Session) -> Terms:
    """The stored terms of ``res`` (what the matrix is asked about again at approval)."""
    rows = session.scalars(
        select(ResolutionInstalment)
        .where(ResolutionInstalment.resolution_id == res.id)
        .order_by(ResolutionInstalment.seq)
    ).all()
    case = CaseTerms(
        case_id=res.case_id,
        base=res.base,
        as_of=res.starts_on,
        owed=res.owed,
        bucket=res.bucket,
        product=res.product,
        product_type=res.product_type,
        currency=res.currency,
        max_dpd=0,
        loans=tuple(res.loans or ()),
    )
    return Terms(
        res.kind,
        case,
        res.waived,
        res.agreed_amount,
        tuple(Instalment(r.seq, r.due_date, r.amount) for r in rows),
        res.grace_days,
        res.lag_days,
    )


# ---------------------------------------------------------------------------------------------- evidence


def _evidence(
    res: Resolution,
    user: AppUser,
    reference: str,
    note: str,
    *,
    session: Session,
    settings: Settings,
    ledger: bool = True,
) -> ResolutionEvidence:
    import hashlib

    ref = (reference or "").strip()
    if not ref or len(ref) > 300:
        raise refuse(
            "evidence", "hardship evidence needs a reference of 1 to 300 characters / 请填写证明材料编号"
        )
    text = (note or "").strip()
    if len(text) > 1000:
        raise refuse("evidence", "the evidence note is longer than 1000 characters / 说明过长")
    row = ResolutionEvidence(resolution_id=res.id, reference=ref, note=text, added_by=user.username)
    session.add(row)
    session.flush()
    if ledger:
        do_append(
            "resolution.evidence",
            {
                "resolution_id": res.id,
                "evidence_id": row.id,
                "reference_sha256": hashlib.sha256(ref.encode()).hexdigest(),
            },
            session=session,
            actor=user.username,
            settings=settings,
        )
    return row


def do_add_evidence(
    resolution_id: int, user: AppUser, reference: str, note: str = "", *, session: Session, settings: Settings
) -> ResolutionEvidence:
    """Attach hardship evidence (a reference to a document kept elsewhere, and a note) to a pending or
    active resolution; the ledger records its id and the reference's hash (the note may be personal)."""
    res = get_resolution(resolution_id, session=session, lock=True)
    if res.status not in LIVE:
        raise ResolutionStateError(
            f"resolution {res.id} is {res.status}; evidence goes with a pending or active one / 该方案已结束",
            details={"resolution_id": res.id, "status": res.status},
        )
    return _evidence(res, user, reference, note, session=session, settings=settings)
