"""Resolutions as the API, the CLI's ``--json`` and the pages show them; listing what a user may decide."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.cases.access import visible_cases
from recoup.cases.models import Case
from recoup.config import Settings
from recoup.money import to_decimal_string
from recoup.resolutions.matrix import Matrix, Pack
from recoup.resolutions.models import Resolution, ResolutionDocument, ResolutionEvidence, ResolutionInstalment
from recoup.resolutions.schemas import (
    DocumentOut,
    EvidenceOut,
    InstalmentOut,
    PackOut,
    ResolutionOut,
)
from recoup.resolutions.service import authority, matrix_for, terms_of
from recoup.resolutions.terms import assess

__all__ = ["decidable", "document_out", "may_decide", "offer_packs", "pack_out", "resolution_out"]


def _m(amount: int, settings: Settings) -> str:
    return to_decimal_string(amount, settings.minor_digits)


def document_out(doc: ResolutionDocument) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
        number=doc.number,
        kind=doc.kind,
        locale=doc.locale,
        sha256=doc.sha256,
        ledger_seq=doc.ledger_seq,
        facts_seq=doc.facts_seq,
        basis=doc.basis,
        created_at=doc.created_at,
        download=f"/api/v1/documents/{doc.id}/pdf",
    )


def resolution_out(res: Resolution, *, session: Session, settings: Settings) -> ResolutionOut:
    rows = session.scalars(
        select(ResolutionInstalment)
        .where(ResolutionInstalment.resolution_id == res.id)
        .order_by(ResolutionInstalment.seq)
    ).all()
    evidence = session.scalars(
        select(ResolutionEvidence)
        .where(ResolutionEvidence.resolution_id == res.id)
        .order_by(ResolutionEvidence.id)
    ).all()
    agreement = session.scalars(
        select(ResolutionDocument)
        .where(ResolutionDocument.resolution_id == res.id, ResolutionDocument.kind == "agreement")
        .order_by(ResolutionDocument.id.desc())
    ).first()
    return ResolutionOut(
        id=res.id,
        case_id=res.case_id,
        kind=res.kind,
        status=res.status,
        base=res.base,
        bucket=res.bucket,
        currency=res.currency,
        owed={k: _m(v, settings) for k, v in res.owed.items()},
        waived={k: _m(v, settings) for k, v in res.waived.items()},
        waived_total=_m(res.waived_total, settings),
        agreed=_m(res.agreed_amount, settings),
        total_due=_m(res.total_due, settings),
        paid=_m(res.paid_amount, settings),
        instalments=[
            InstalmentOut(
                seq=r.seq,
                due_date=r.due_date,
                amount=_m(r.amount, settings),
                paid=_m(r.paid, settings),
                status=r.status,
            )
            for r in rows
        ],
        deadline=res.deadline,
        starts_on=res.starts_on,
        pack=res.pack_id,
        reason=res.reason,
        required_role=res.required_role,
        rules=list(res.rules or []),
        matrix_version=res.matrix_version,
        requested_by=res.requested_by,
        requested_at=res.requested_at,
        requester_role=res.requester_role,
        team=res.team,
        decided_by=res.decided_by,
        decided_at=res.decided_at,
        decider_role=res.decider_role,
        approval_basis=res.approval_basis,
        decided_matrix=res.decided_matrix,
        decision_note=res.decision_note,
        judged_as_of=res.judged_as_of,
        ended_on=res.ended_on,
        missed_seq=res.missed_seq,
        evidence=[
            EvidenceOut(id=e.id, reference=e.reference, note=e.note, added_by=e.added_by, added_at=e.added_at)
            for e in evidence
        ],
        agreement=document_out(agreement) if agreement is not None else None,
    )


def pack_out(pack: Pack, *, locale: str, settings: Settings) -> PackOut:
    return PackOut(
        id=pack.id,
        kind=pack.kind,
        title=pack.title[1] if locale == "zh_CN" else pack.title[0],
        base=pack.base,
        components=list(pack.components),
        max_pct=f"{pack.max_pct_bp / 100:g}%",
        max_amount=_m(pack.max_amount, settings),
        deadline_days=pack.deadline_days,
        max_instalments=pack.max_instalments,
    )


def offer_packs(
    matrix: Matrix, *, kind: str | None, bucket: str, product: str, product_type: str
) -> list[Pack]:
    """The pre-approved packs that may be offered on a case of this bucket and product (what the strategy
    reads to offer a plan or a settlement)."""
    return [
        p
        for p in matrix.packs
        if (kind is None or p.kind == kind)
        and p.applies(kind=p.kind, bucket=bucket, product=product, product_type=product_type)
    ]


def may_decide(res: Resolution, user: AppUser, matrix: Matrix, *, session: Session) -> bool:
    """Whether ``user`` may approve ``res`` now (pending, not their own, their role high enough)."""
    if res.status != "pending" or user.id == res.requested_by_id or user.username == res.requested_by:
        return False
    rank, _role = authority(user, matrix, session=session)
    return rank > 0 and rank >= assess(matrix, terms_of(res, session=session)).required_rank


def decidable(user: AppUser, *, session: Session, settings: Settings) -> list[Resolution]:
    """The pending requests on cases ``user`` sees that they may approve, oldest first."""
    matrix = matrix_for(session, settings)
    seen = visible_cases(user).with_only_columns(Case.id)
    pending = session.scalars(
        select(Resolution)
        .where(Resolution.status == "pending", Resolution.case_id.in_(seen))
        .order_by(Resolution.requested_at, Resolution.id)
    ).all()
    return [r for r in pending if may_decide(r, user, matrix, session=session)]
