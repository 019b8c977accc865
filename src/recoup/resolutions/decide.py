"""Deciding a pending request: approving it (the second step, checked against the matrix in force),
rejecting or withdrawing it; :func:`activate` makes an approved resolution take effect (case state,
agreement PDF, ledger)."""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.models import Case
from recoup.cases.service import do_transition
from recoup.config import Settings
from recoup.db import utcnow
from recoup.ledger.service import do_append
from recoup.resolutions.matrix import Matrix
from recoup.resolutions.models import Resolution, ResolutionEvidence
from recoup.resolutions.service import (
    ResolutionForbiddenError,
    ResolutionStateError,
    _money,
    _text,
    _today,
    authority,
    budget,
    check_budget,
    get_resolution,
    is_agency,
    matrix_for,
    terms_of,
)
from recoup.resolutions.terms import (
    APPROVAL_PERMISSIONS,
    TARGET_STATE,
    Assessment,
    assess,
    refuse,
    state_path,
)

__all__ = ["PART_ZH", "ROLE_ZH", "activate", "do_approve", "do_reject", "do_withdraw"]

#: Role and component names in Chinese, for the messages.
ROLE_ZH: Final = {
    "collector": "催收员",
    "team_lead": "组长",
    "manager": "经理",
    "admin": "管理员",
    "agency": "委外机构",
}
PART_ZH: Final = {"penalty": "罚息", "fee": "费用", "interest": "利息", "principal": "本金", "total": "合计"}


def _forbidden(
    res: Resolution,
    why: tuple[str, str],
    found: Assessment,
    own: str | None,
    matrix: Matrix,
    settings: Settings,
) -> ResolutionForbiddenError:
    """A 403 saying who may decide (the role the matrix names, the line and rule that need it) and, for a
    role on the ladder, what that role may approve of the line."""
    need = found.required_role
    en, zh = why[0].format(role=need), why[1].format(role=ROLE_ZH.get(need, need))
    line = found.deciding()
    if line is not None and line.component != "plan":
        amount, share = _money(line.amount, settings), f"{line.pct_bp / 100:g}%"
        en += f" ({line.component} waived {amount}, {share} of what is owed; rule {line.rule})"
        part = PART_ZH.get(line.component, line.component)
        zh += f"（{part}减免 {amount}，占应还 {share}；规则 {line.rule}）"
        ctx = {
            "kind": res.kind,
            "bucket": res.bucket,
            "product": res.product,
            "product_type": res.product_type,
            "component": line.component,
        }
        limit = matrix.role_limit(own, ctx) if own is not None else None
        if limit is not None and limit[1] is not None:
            cap = _money(limit[1], settings) + (f" and {limit[2] / 100:g}%" if limit[2] is not None else "")
            en += f"; a {own} may approve up to {cap} (rule {limit[0]})"
            zh += f"；{ROLE_ZH.get(own or '', own)}最多可批 {cap.replace(' and ', '、')}（规则 {limit[0]}）"
    elif line is not None:
        en += f" ({line.amount} instalments; rule {line.rule})"
        zh += f"（分 {line.amount} 期；规则 {line.rule}）"
    return ResolutionForbiddenError(
        f"{en} / {zh}",
        details={
            "resolution_id": res.id,
            "required_role": need,
            "your_role": own,
            "rules": found.rules,
            "matrix": found.matrix,
        },
    )


def _decidable(
    res: Resolution, user: AppUser, *, session: Session, settings: Settings, approving: bool
) -> tuple[Matrix, Assessment, str | None]:
    """Raise unless ``user`` may decide ``res`` now; the matrix, its assessment and the user's role."""
    if res.status != "pending":
        raise ResolutionStateError(
            f"resolution {res.id} is {res.status}, not awaiting a decision / 该方案不在待审批状态",
            details={"resolution_id": res.id, "status": res.status},
        )
    matrix = matrix_for(session, settings)
    found = assess(matrix, terms_of(res, session=session))
    rank, role = authority(user, matrix, session=session)
    if is_agency(user, matrix, session):
        raise _forbidden(
            res,
            (
                "agencies may request waivers and plans, never approve them; a {role} or above decides",
                "委外机构只能申请减免和分期，不能审批；须由{role}或以上审批",
            ),
            found,
            None,
            matrix,
            settings,
        )
    if rank < found.required_rank:
        who = role or ", ".join(user.role_names) or "your role"
        raise _forbidden(
            res,
            (
                f"this {res.kind} needs a {{role}} or above to approve it; {who} may not",
                "该申请超出您的审批权限，须由{role}或以上审批",
            ),
            found,
            role,
            matrix,
            settings,
        )
    if approving and (user.id == res.requested_by_id or user.username == res.requested_by):
        raise _forbidden(
            res,
            (
                "you asked for this; another person, a {role} or above, approves it",
                "申请人不能审批自己的申请；须由另一位{role}或以上审批",
            ),
            found,
            role,
            matrix,
            settings,
        )
    return matrix, found, role


def do_approve(
    resolution_id: int,
    user: AppUser,
    *,
    session: Session,
    settings: Settings,
    note: str = "",
    now: dt.datetime | None = None,
) -> Resolution:
    """Approve a pending request (the second step): :class:`ResolutionForbiddenError` (403) unless the
    user's role is at least the one the current matrix names and they did not ask for it; then the
    evidence and the budget are checked again and the resolution becomes ``active``."""
    at = now or utcnow()
    res = get_resolution(resolution_id, session=session, lock=True)
    matrix, found, role = _decidable(res, user, session=session, settings=settings, approving=True)
    needs = [c for c in matrix.evidence_required if res.waived.get(c)]
    if needs:
        count = session.scalar(select(func.count()).where(ResolutionEvidence.resolution_id == res.id))
        if not count:
            raise refuse(
                "evidence",
                f"waiving {', '.join(needs)} needs hardship evidence; attach a reference first"
                " / 减免本金须附困难证明",
                components=needs,
            )
    if res.waived_total:
        check_budget(
            res.waived_total,
            budget(res.team, on=_today(settings, at), matrix=matrix, session=session, settings=settings),
            settings,
        )
    return activate(
        res,
        user,
        role,
        "two_step",
        found,
        note=_text(note, "note"),
        session=session,
        settings=settings,
        at=at,
    )


def activate(
    res: Resolution,
    user: AppUser,
    role: str | None,
    basis: str,
    found: Assessment,
    *,
    note: str,
    session: Session,
    settings: Settings,
    at: dt.datetime,
) -> Resolution:
    from recoup.funding.service import check_creditor_allows_waiver
    from recoup.resolutions.documents import do_make_agreement

    # The loans' creditor (资金方, or a guarantor after its payout) must permit the waiver (docs/funding.md).
    check_creditor_allows_waiver(
        res.loans,
        waived=res.waived_total,
        owed=res.owed_total,
        on=_today(settings, at),
        session=session,
        settings=settings,
    )
    res.status = "active"
    res.decided_by, res.decided_at, res.decider_role = user.username, at, role
    res.decision_note, res.approval_basis, res.decided_matrix = note, basis, found.matrix
    res.rules = found.rules
    case = session.get(Case, res.case_id, with_for_update=True)
    assert case is not None
    moved: list[str] = []
    if res.kind in TARGET_STATE:
        for state in state_path(case.state, case.close_reason, TARGET_STATE[res.kind]):
            do_transition(
                case.id,
                state,
                session=session,
                actor=user.username,
                permissions=APPROVAL_PERMISSIONS,
                reason=f"{res.kind} #{res.id} approved ({basis})",
                now=at,
                settings=settings,
            )
            moved.append(str(state))
    session.flush()
    do_append(
        "resolution.approved",
        {
            "resolution_id": res.id,
            "case_id": res.case_id,
            "kind": res.kind,
            "basis": basis,
            "role": role,
            "required_role": found.required_role,
            "rules": found.rules,
            "matrix": found.matrix,
            "waived_total": res.waived_total,
            "case_states": moved,
        },
        session=session,
        actor=user.username,
        settings=settings,
    )
    do_make_agreement(res, session=session, settings=settings, actor=user.username, now=at)
    if res.kind == "plan":  # the core system restructures the schedule (docs/writeback.md)
        from recoup.writeback.emit import emit_plan

        emit_plan(
            res, session=session, on=at.astimezone(settings.tz).date(), actor=user.username, settings=settings
        )
    return res


def do_reject(
    resolution_id: int,
    user: AppUser,
    *,
    session: Session,
    settings: Settings,
    note: str = "",
    now: dt.datetime | None = None,
) -> Resolution:
    """Reject a pending request: by someone who could have approved it (the requester withdraws instead)."""
    res = get_resolution(resolution_id, session=session, lock=True)
    _matrix, found, role = _decidable(res, user, session=session, settings=settings, approving=True)
    return _close(
        res,
        user,
        "rejected",
        role,
        _text(note, "note"),
        found.matrix,
        session=session,
        settings=settings,
        at=now or utcnow(),
    )


def do_withdraw(
    resolution_id: int,
    user: AppUser,
    *,
    session: Session,
    settings: Settings,
    note: str = "",
    now: dt.datetime | None = None,
) -> Resolution:
    """Withdraw a pending request: its requester, or someone who could approve it."""
    res = get_resolution(resolution_id, session=session, lock=True)
    if user.id == res.requested_by_id or user.username == res.requested_by:
        if res.status != "pending":
            raise ResolutionStateError(
                f"resolution {res.id} is {res.status}; only a pending request is withdrawn"
                " / 只能撤回待审批的申请",
                details={"resolution_id": res.id, "status": res.status},
            )
        role, matrix_label = res.requester_role, res.matrix_version
    else:
        _matrix, found, role = _decidable(res, user, session=session, settings=settings, approving=False)
        matrix_label = found.matrix
    return _close(
        res,
        user,
        "withdrawn",
        role,
        _text(note, "note"),
        matrix_label,
        session=session,
        settings=settings,
        at=now or utcnow(),
    )


def _close(
    res: Resolution,
    user: AppUser,
    status: str,
    role: str | None,
    note: str,
    matrix: str,
    *,
    session: Session,
    settings: Settings,
    at: dt.datetime,
) -> Resolution:
    res.status = status
    res.decided_by, res.decided_at, res.decider_role = user.username, at, role
    res.decision_note, res.decided_matrix = note, matrix
    session.flush()
    do_append(
        f"resolution.{status}",
        {"resolution_id": res.id, "case_id": res.case_id, "kind": res.kind, "role": role, "matrix": matrix},
        session=session,
        actor=user.username,
        settings=settings,
    )
    return res
