"""Legal matters (法律案件): opened from a case, moved through the stages of :mod:`recoup.legal.stages`,
with court, the court's case number (案号), the amount claimed, costs, documents (by reference) and
deadlines. Services take ``session`` as a keyword and never commit; every change is in the audit ledger
(ids, codes and amounts only).

**Opening a matter** (``legal.manage``) moves the case into the lifecycle state ``legal`` when it is not
there yet — through :func:`recoup.cases.service.do_transition`, so the lifecycle table decides (and the
opener needs ``case.legal``) — and completes the case's live ``legal_review`` tasks (the strategy's
"legal review" in the ``legal`` queue): the matter is that review's outcome. A case has at most one open
matter. A debt past its limitation date (:mod:`recoup.legal.limitation`) is refused
(``legal.time_barred``) unless the opener acknowledges it: the debtor may plead limitation (民法典 §192),
and suing on a time-barred debt is forbidden under some presets (US-TBD).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.access import effective_permissions, get_visible_case
from recoup.cases.lifecycle import CaseState
from recoup.cases.models import Case
from recoup.cases.service import do_transition
from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import NotFoundError
from recoup.ledger.service import do_append
from recoup.legal import stages
from recoup.legal.common import (
    LegalStateError,
    TimeBarredError,
    balances,
    business_day,
    missing,
    refuse,
    text,
)
from recoup.legal.models import (
    LegalCost,
    LegalDeadline,
    LegalDocument,
    LegalMatter,
    LegalMatterAccount,
    LegalStageMove,
    LimitationStatus,
)
from recoup.portfolio.models import CollectionAccount
from recoup.strategy.models import WorkTask

__all__ = [
    "MatterDetail",
    "do_add_cost",
    "do_add_deadline",
    "do_add_document",
    "do_close_deadline",
    "do_move_stage",
    "do_open_matter",
    "do_update_matter",
    "get_matter",
    "list_matters",
    "matter_detail",
    "open_deadlines",
]

LIVE = ("open", "in_progress")
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_AMOUNT = 10**15  # minor units: no claim or cost is larger


def _audit(
    kind: str, payload: dict[str, object], *, session: Session, actor: str, settings: Settings
) -> None:
    do_append(kind, payload, session=session, actor=actor, settings=settings)


def _money(value: int, field: str, *, allow_zero: bool = False) -> int:
    if not (0 if allow_zero else 1) <= value <= MAX_AMOUNT:
        raise refuse(field, f"{field} must be a positive amount", f"{field} 须为正数金额", value=value)
    return value


def get_matter(matter_id: int, user: AppUser, *, session: Session) -> LegalMatter:
    """Matter ``matter_id`` if ``user`` may see its case; :class:`NotFoundError` (404) otherwise."""
    matter = session.get(LegalMatter, matter_id)
    if matter is None:
        raise missing("matter", matter_id)
    try:
        get_visible_case(matter.case_id, user, session=session)
    except NotFoundError:
        raise missing("matter", matter_id) from None
    return matter


def _lock(matter_id: int, *, session: Session) -> LegalMatter:
    matter = session.scalars(
        select(LegalMatter)
        .where(LegalMatter.id == matter_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if matter is None:
        raise missing("matter", matter_id)
    return matter


def _stage_deadlines(
    matter: LegalMatter, stage: stages.Stage, *, on: dt.date, actor: str, now: dt.datetime
) -> list[LegalDeadline]:
    return [
        LegalDeadline(
            matter_id=matter.id,
            kind=d.kind.value,
            due_on=on + dt.timedelta(days=d.days),
            note=d.basis,
            source="stage",
            stage=stage.value,
            status="open",
            created_by=actor,
            created_at=now,
        )
        for d in stages.DEADLINES.get(stage, ())
    ]


def do_open_matter(
    case: Case,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    court: str | None = None,
    claim_amount: int | None = None,
    loan_ids: list[str] | None = None,
    acknowledge_time_barred: bool = False,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> tuple[LegalMatter, list[int]]:
    """Open a matter on ``case`` (its open accounts, or those of ``loan_ids``); returns the matter and
    the ids of the ``legal_review`` tasks it completed."""
    s = settings or get_settings()
    at = now or utcnow()
    why = text(reason, "reason")
    where = text(court, "court", high=200) if court else None
    if case.status != "open":
        raise LegalStateError(
            f"case {case.id} is closed: no legal matter / 案件 {case.id} 已结案", details={"case_id": case.id}
        )
    busy = session.scalar(
        select(LegalMatter.id).where(LegalMatter.case_id == case.id, LegalMatter.status == "open").limit(1)
    )
    if busy is not None:
        raise LegalStateError(
            f"case {case.id} already has the open legal matter {busy} / 案件已有进行中的法律案件 {busy}",
            details={"case_id": case.id, "matter_id": busy},
        )
    accounts = list(
        session.scalars(
            select(CollectionAccount)
            .where(CollectionAccount.case_id == case.id, CollectionAccount.status == "open")
            .order_by(CollectionAccount.id)
        )
    )
    if loan_ids:
        wanted = set(loan_ids)
        unknown = sorted(wanted - {a.external_id for a in accounts})
        if unknown:
            raise refuse(
                "loan_ids",
                f"not open accounts of case {case.id}: {', '.join(unknown)}",
                "不是本案件的在催账户",
                loan_ids=unknown,
            )
        accounts = [a for a in accounts if a.external_id in wanted]
    if not accounts:
        raise LegalStateError(
            f"case {case.id} has no open account / 案件没有在催账户", details={"case_id": case.id}
        )
    today = business_day(at, s)
    limits = list(
        session.scalars(
            select(LimitationStatus).where(LimitationStatus.account_id.in_([a.id for a in accounts]))
        )
    )
    barred = sorted(x.loan_id for x in limits if x.limitation_date < today)
    earliest = min((x.limitation_date for x in limits), default=None)
    if barred and not acknowledge_time_barred:
        raise TimeBarredError(
            f"past the limitation date ({earliest}): {', '.join(barred)}; acknowledge it to open the matter "
            f"anyway / 已过诉讼时效（{earliest}），确认后方可立案",
            details={"case_id": case.id, "loan_ids": barred, "limitation_date": str(earliest)},
        )
    bal = balances([a.id for a in accounts], session=session)
    claim = (
        _money(claim_amount, "claim_amount") if claim_amount is not None else sum(b for b, _ in bal.values())
    )
    if case.state != CaseState.LEGAL:
        do_transition(
            case.id,
            CaseState.LEGAL,
            session=session,
            actor=actor.username,
            permissions=effective_permissions(actor),
            reason=f"legal matter: {why}"[:500],
            now=at,
            settings=s,
        )
    matter = LegalMatter(
        case_id=case.id,
        stage=stages.INITIAL.value,
        status="open",
        stage_since=at,
        court=where,
        claim_amount=claim,
        currency=accounts[0].currency or s.currency,
        reason=why,
        opened_by=actor.username,
        opened_at=at,
        limitation_date=earliest,
        rule_version=stages.RULE_VERSION,
    )
    session.add(matter)
    session.flush()
    session.add_all(
        LegalMatterAccount(matter_id=matter.id, account_id=a.id, loan_id=a.external_id) for a in accounts
    )
    session.add(
        LegalStageMove(
            matter_id=matter.id,
            from_stage=None,
            to_stage=stages.INITIAL.value,
            on=today,
            at=at,
            actor=actor.username,
            reason=why,
            rule_version=stages.RULE_VERSION,
        )
    )
    session.add_all(_stage_deadlines(matter, stages.INITIAL, on=today, actor=actor.username, now=at))
    tasks = list(
        session.scalars(
            select(WorkTask)
            .where(
                WorkTask.case_id == case.id,
                WorkTask.treatment == "legal_review",
                WorkTask.status.in_(LIVE),
            )
            .order_by(WorkTask.id)
        )
    )
    for t in tasks:
        t.status, t.result, t.done_at, t.updated_at = "done", "matter_opened", at, at
        t.note = f"legal matter {matter.id} opened / 已立法律案件 {matter.id}"
    session.flush()
    _audit(
        "legal.matter_opened",
        {
            "matter_id": matter.id,
            "case_id": case.id,
            "accounts": [a.id for a in accounts],
            "stage": matter.stage,
            "claim_amount": claim,
            "rule_version": stages.RULE_VERSION,
            "time_barred_acknowledged": bool(barred),
            "tasks_completed": [t.id for t in tasks],
        },
        session=session,
        actor=actor.username,
        settings=s,
    )
    return matter, [t.id for t in tasks]


def do_move_stage(
    matter_id: int,
    to_stage: str,
    *,
    session: Session,
    actor: AppUser,
    reason: str,
    result: str | None = None,
    recovered_amount: int | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> LegalStageMove:
    """Move a matter to ``to_stage`` if the stage table allows it; ``result`` closes it."""
    s = settings or get_settings()
    at = now or utcnow()
    why = text(reason, "reason")
    matter = _lock(matter_id, session=session)
    if matter.status != "open":
        raise LegalStateError(
            f"matter {matter.id} is closed / 法律案件 {matter.id} 已结案", details={"matter_id": matter.id}
        )
    target = stages.check_move(matter.stage, to_stage, result=result)
    today = business_day(at, s)
    frm = matter.stage
    for d in session.scalars(
        select(LegalDeadline).where(
            LegalDeadline.matter_id == matter.id,
            LegalDeadline.status == "open",
            LegalDeadline.source == "stage",
            LegalDeadline.stage == frm,
        )
    ):
        d.status, d.done_by, d.done_at = "cancelled", actor.username, at
    move = LegalStageMove(
        matter_id=matter.id,
        from_stage=frm,
        to_stage=target.value,
        on=today,
        at=at,
        actor=actor.username,
        reason=why,
        rule_version=stages.RULE_VERSION,
    )
    session.add(move)
    matter.stage, matter.stage_since = target.value, at
    if target is stages.Stage.RESULT:
        matter.status, matter.result, matter.closed_at = "closed", result, at
        matter.recovered_amount = _money(recovered_amount or 0, "recovered_amount", allow_zero=True)
    session.add_all(_stage_deadlines(matter, target, on=today, actor=actor.username, now=at))
    session.flush()
    _audit(
        "legal.stage_moved",
        {
            "matter_id": matter.id,
            "move_id": move.id,
            "from": frm,
            "to": target.value,
            "result": result,
            "recovered_amount": matter.recovered_amount if result else None,
            "rule_version": stages.RULE_VERSION,
        },
        session=session,
        actor=actor.username,
        settings=s,
    )
    return move


def do_update_matter(
    matter_id: int,
    *,
    session: Session,
    actor: AppUser,
    court: str | None = None,
    court_case_number: str | None = None,
    claim_amount: int | None = None,
    settings: Settings | None = None,
) -> LegalMatter:
    """Set the court, the court's case number (案号) and the amount claimed (those given)."""
    s = settings or get_settings()
    matter = _lock(matter_id, session=session)
    changed: list[str] = []
    if court is not None:
        matter.court = text(court, "court", high=200)
        changed.append("court")
    if court_case_number is not None:
        matter.court_case_number = text(court_case_number, "court_case_number", high=100)
        changed.append("court_case_number")
    if claim_amount is not None:
        matter.claim_amount = _money(claim_amount, "claim_amount")
        changed.append("claim_amount")
    if not changed:
        raise refuse("court", "nothing to change", "没有要修改的内容")
    session.flush()
    _audit(
        "legal.matter_updated",
        {"matter_id": matter.id, "changed": changed, "claim_amount": matter.claim_amount},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return matter


def _choice(value: str, allowed: type[StrEnum], field: str) -> str:
    options = [v.value for v in allowed]
    if value not in options:
        raise refuse(field, f"unknown {field} {value!r}", f"未知的{field}", allowed=options)
    return value


def do_add_cost(
    matter_id: int,
    *,
    session: Session,
    actor: AppUser,
    kind: str,
    amount: int,
    incurred_on: dt.date,
    note: str = "",
    settings: Settings | None = None,
) -> LegalCost:
    s = settings or get_settings()
    matter = _lock(matter_id, session=session)
    cost = LegalCost(
        matter_id=matter.id,
        kind=_choice(kind, stages.CostKind, "kind"),
        amount=_money(amount, "amount"),
        currency=matter.currency,
        incurred_on=incurred_on,
        note=note.strip()[:500],
        recorded_by=actor.username,
        recorded_at=utcnow(),
    )
    session.add(cost)
    session.flush()
    _audit(
        "legal.cost_added",
        {"matter_id": matter.id, "cost_id": cost.id, "kind": cost.kind, "amount": cost.amount},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return cost


def do_add_document(
    matter_id: int,
    *,
    session: Session,
    actor: AppUser,
    kind: str,
    title: str,
    reference: str,
    sha256: str | None = None,
    settings: Settings | None = None,
) -> LegalDocument:
    """Record a document by reference (where it is kept), with its sha256 when known."""
    s = settings or get_settings()
    matter = _lock(matter_id, session=session)
    digest = (sha256 or "").strip().lower() or None
    if digest is not None and not _SHA256.fullmatch(digest):
        raise refuse("sha256", "sha256 must be 64 hexadecimal digits", "sha256 须为 64 位十六进制")
    doc = LegalDocument(
        matter_id=matter.id,
        kind=_choice(kind, stages.DocumentKind, "kind"),
        title=text(title, "title", high=200),
        reference=text(reference, "reference", high=300),
        sha256=digest,
        recorded_by=actor.username,
        recorded_at=utcnow(),
    )
    session.add(doc)
    session.flush()
    _audit(
        "legal.document_added",
        {"matter_id": matter.id, "document_id": doc.id, "kind": doc.kind, "sha256": doc.sha256},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return doc


def do_add_deadline(
    matter_id: int,
    *,
    session: Session,
    actor: AppUser,
    kind: str,
    due_on: dt.date,
    note: str = "",
    settings: Settings | None = None,
) -> LegalDeadline:
    s = settings or get_settings()
    matter = _lock(matter_id, session=session)
    if matter.status != "open":
        raise LegalStateError(
            f"matter {matter.id} is closed / 法律案件 {matter.id} 已结案", details={"matter_id": matter.id}
        )
    row = LegalDeadline(
        matter_id=matter.id,
        kind=_choice(kind, stages.DeadlineKind, "kind"),
        due_on=due_on,
        note=note.strip()[:500],
        source="manual",
        stage=matter.stage,
        status="open",
        created_by=actor.username,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    _audit(
        "legal.deadline_added",
        {"matter_id": matter.id, "deadline_id": row.id, "kind": row.kind, "due_on": due_on.isoformat()},
        session=session,
        actor=actor.username,
        settings=s,
    )
    return row


def do_close_deadline(
    deadline_id: int,
    user: AppUser,
    *,
    session: Session,
    status: str = "done",
    settings: Settings | None = None,
) -> LegalDeadline:
    """Mark an open deadline ``done`` (met) or ``cancelled``."""
    s = settings or get_settings()
    row = session.get(LegalDeadline, deadline_id)
    if row is None:
        raise missing("deadline", deadline_id)
    get_matter(row.matter_id, user, session=session)
    if status not in ("done", "cancelled"):
        raise refuse("status", "status is done or cancelled", "状态须为 done 或 cancelled")
    if row.status != "open":
        raise LegalStateError(
            f"deadline {row.id} is {row.status} / 期限 {row.id} 已{row.status}",
            details={"deadline_id": row.id, "status": row.status},
        )
    row.status, row.done_by, row.done_at = status, user.username, utcnow()
    session.flush()
    _audit(
        "legal.deadline_closed",
        {"matter_id": row.matter_id, "deadline_id": row.id, "status": status},
        session=session,
        actor=user.username,
        settings=s,
    )
    return row


def list_matters(
    *, session: Session, status: str | None = "open", stage: str | None = None
) -> list[LegalMatter]:
    q = select(LegalMatter).order_by(LegalMatter.stage_since.desc(), LegalMatter.id.desc())
    if status:
        q = q.where(LegalMatter.status == status)
    if stage:
        q = q.where(LegalMatter.stage == stage)
    return list(session.scalars(q))


def open_deadlines(
    *, session: Session, matter_ids: list[int] | None = None, until: dt.date | None = None
) -> list[LegalDeadline]:
    """Open deadlines (of ``matter_ids``, or all), earliest first, up to ``until`` when given."""
    q = select(LegalDeadline).where(LegalDeadline.status == "open")
    if matter_ids is not None:
        q = q.where(LegalDeadline.matter_id.in_(matter_ids or [-1]))
    if until is not None:
        q = q.where(LegalDeadline.due_on <= until)
    return list(session.scalars(q.order_by(LegalDeadline.due_on, LegalDeadline.id)))


@dataclass
class MatterDetail:
    matter: LegalMatter
    accounts: list[LegalMatterAccount]
    moves: list[LegalStageMove]
    costs: list[LegalCost]
    documents: list[LegalDocument]
    deadlines: list[LegalDeadline]
    allowed: list[str] = field(default_factory=list)

    @property
    def cost_total(self) -> int:
        return sum(c.amount for c in self.costs)


def matter_detail(matter: LegalMatter, *, session: Session) -> MatterDetail:
    mid = matter.id
    return MatterDetail(
        matter=matter,
        accounts=list(
            session.scalars(
                select(LegalMatterAccount)
                .where(LegalMatterAccount.matter_id == mid)
                .order_by(LegalMatterAccount.id)
            )
        ),
        moves=list(
            session.scalars(
                select(LegalStageMove).where(LegalStageMove.matter_id == mid).order_by(LegalStageMove.id)
            )
        ),
        costs=list(
            session.scalars(select(LegalCost).where(LegalCost.matter_id == mid).order_by(LegalCost.id))
        ),
        documents=list(
            session.scalars(
                select(LegalDocument).where(LegalDocument.matter_id == mid).order_by(LegalDocument.id)
            )
        ),
        deadlines=list(
            session.scalars(
                select(LegalDeadline)
                .where(LegalDeadline.matter_id == matter.id)
                .order_by(LegalDeadline.status != "open", LegalDeadline.due_on, LegalDeadline.id)
            )
        ),
        allowed=[x.value for x in stages.allowed_from(matter.stage)] if matter.status == "open" else [],
    )
