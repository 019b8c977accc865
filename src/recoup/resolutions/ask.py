"""Asking for a plan, waiver or settlement (:func:`do_request`): the terms, the matrix's verdict, the
budget, and the one-step approval when the requester's own authority or a pre-approved pack covers it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.models import Case
from recoup.config import Settings
from recoup.db import utcnow
from recoup.ledger.service import do_append
from recoup.resolutions.decide import activate
from recoup.resolutions.models import Resolution, ResolutionInstalment
from recoup.resolutions.service import (
    ResolutionStateError,
    _evidence,
    _live,
    _team_name,
    _text,
    _today,
    authority,
    budget,
    check_budget,
    is_agency,
    matrix_for,
)
from recoup.resolutions.terms import (
    TARGET_STATE,
    Assessment,
    Terms,
    assess,
    case_terms,
    pack_misfits,
    propose,
    refuse,
    state_path,
)

__all__ = ["do_request"]

# ---------------------------------------------------------------------------------------------- asking


def do_request(
    case: Case,
    user: AppUser,
    *,
    kind: str,
    session: Session,
    settings: Settings,
    base: str | None = None,
    pay: int | None = None,
    waive: int | None = None,
    instalments: int = 1,
    first_due: dt.date | None = None,
    deadline: dt.date | None = None,
    pack_id: str | None = None,
    reason: str = "",
    locale: str | None = None,
    evidence: list[tuple[str, str]] | None = None,
    now: dt.datetime | None = None,
) -> Resolution:
    """Ask for a plan, waiver or settlement on ``case`` (amounts in minor units). Approved at once when
    the requester's own authority or a pre-approved pack covers it (never for an agency), else pending.
    :class:`~recoup.resolutions.terms.ResolutionRefusedError` names a broken rule,
    :class:`BudgetExceededError` says what is left, :class:`ResolutionStateError` when the case already
    has a pending or active one."""
    at = now or utcnow()
    today = _today(settings, at)
    if case.status != "open":
        raise refuse("case_state", f"a {case.state} case takes no plan or waiver / 案件已结案")
    live = _live(case.id, session)
    if live is not None:
        raise ResolutionStateError(
            f"the case already has a {live.status} {live.kind} (#{live.id}); withdraw it or wait for its "
            f"outcome / 该案件已有方案 #{live.id}（{live.status}），请撤回或等待其结果",
            details={"resolution_id": live.id, "status": live.status},
        )
    matrix = matrix_for(session, settings)
    chosen_base = base or ("whole" if kind == "settlement" else "overdue")
    terms = propose(
        matrix,
        case_terms(case.id, base=chosen_base, session=session, as_of=today),
        kind=kind,
        today=today,
        pay=pay,
        waive=waive,
        instalments=instalments,
        first_due=first_due,
        deadline=deadline,
    )
    if kind in TARGET_STATE:
        state_path(case.state, case.close_reason, TARGET_STATE[kind])
    found = assess(matrix, terms)
    pack = None
    if pack_id:
        pack = matrix.pack(pack_id)
        if pack is None:
            raise refuse(
                "pack", f"no offer pack {pack_id!r} in {matrix.label} / 没有该预批方案", pack=pack_id
            )
        misfits = pack_misfits(pack, terms)
        if misfits:
            raise refuse(
                "pack",
                f"outside the offer pack {pack.id}: {'; '.join(misfits)} / 超出预批方案 {pack.id} 的范围",
                pack=pack.id,
                misfits=misfits,
            )
    from recoup.funding.service import check_creditor_allows_waiver

    # Refused at once when the loans' creditor does not permit it (docs/funding.md); asked again at approval.
    check_creditor_allows_waiver(
        terms.case.loans,
        waived=terms.waived_total,
        owed=terms.case.total,
        on=today,
        session=session,
        settings=settings,
    )
    rank, role = authority(user, matrix, session=session)
    team = _team_name(user.id, session) or _team_name(case.holder_id, session)
    if terms.waived_total:
        check_budget(
            terms.waived_total,
            budget(team, on=today, matrix=matrix, session=session, settings=settings),
            settings,
        )
    lang = (
        locale
        if locale in ("zh_CN", "en")
        else settings.locale
        if settings.locale in ("zh_CN", "en")
        else "zh_CN"
    )
    res = _store(
        case,
        user,
        terms,
        found,
        team=team,
        role=role,
        pack=pack_id,
        reason=_text(reason, "reason"),
        locale=lang,
        at=at,
        today=today,
        session=session,
    )
    for ref, note in evidence or []:
        _evidence(res, user, ref, note, session=session, settings=settings, ledger=False)
    do_append(
        "resolution.requested",
        {
            "resolution_id": res.id,
            "case_id": case.id,
            "kind": kind,
            "base": chosen_base,
            "agreed": terms.agreed,
            "total_due": terms.total_due,
            "waived": terms.waived,
            "instalments": len(terms.instalments),
            "deadline": terms.deadline.isoformat(),
            "required_role": found.required_role,
            "rules": found.rules,
            "matrix": matrix.label,
            "pack": pack_id,
            "evidence": len(evidence or []),
        },
        session=session,
        actor=user.username,
        settings=settings,
    )
    agency = is_agency(user, matrix, session)
    if not agency and pack is not None:
        return activate(
            res, user, role, f"pack:{pack.id}", found, note="", session=session, settings=settings, at=at
        )
    if not agency and matrix.self_approve and rank >= found.required_rank:
        return activate(
            res, user, role, "own_authority", found, note="", session=session, settings=settings, at=at
        )
    return res


def _store(
    case: Case,
    user: AppUser,
    terms: Terms,
    found: Assessment,
    *,
    team: str | None,
    role: str | None,
    pack: str | None,
    reason: str,
    locale: str,
    at: dt.datetime,
    today: dt.date,
    session: Session,
) -> Resolution:
    c = terms.case
    res = Resolution(
        case_id=case.id,
        kind=terms.kind,
        status="pending",
        base=c.base,
        currency=c.currency,
        bucket=c.bucket,
        product=c.product,
        product_type=c.product_type,
        loans=list(c.loans),
        **{f"owed_{k}": v for k, v in c.owed.items()},
        **{f"waive_{k}": v for k, v in terms.waived.items()},
        agreed_amount=terms.agreed,
        total_due=terms.total_due,
        instalment_count=len(terms.instalments),
        first_due=terms.instalments[0].due_date,
        deadline=terms.deadline,
        grace_days=terms.grace_days,
        lag_days=terms.lag_days,
        starts_on=today,
        pack_id=pack,
        reason=reason,
        locale=locale,
        requested_by=user.username,
        requested_by_id=user.id,
        requested_at=at,
        requester_role=role,
        team=team,
        required_role=found.required_role,
        rules=found.rules,
        matrix_version=found.matrix,
        decision_note="",
        paid_amount=0,
    )
    session.add(res)
    session.flush()
    session.add_all(
        ResolutionInstalment(
            resolution_id=res.id, seq=i.seq, due_date=i.due_date, amount=i.amount, paid=0, status="pending"
        )
        for i in terms.instalments
    )
    session.flush()
    return res
