"""The stages of a legal matter as data: the stages, the moves allowed between them, the deadlines a
stage sets, and which moves interrupt the limitation period (民法典 §195(3)). Pure: no database.

Route (S3's "legal: assessment, suit, enforcement", with the Chinese pre-suit routes):

- ``assessment`` (评估) → a lawyer's letter, pre-suit mediation, a batch suit, a payment order, a suit,
  or ``result`` (not pursued);
- ``lawyer_letter`` (律师函) → the same routes onward;
- ``pre_suit_mediation`` (诉前调解) → ``judicial_confirmation`` (an agreement confirmed by the court,
  司法确认), a suit or batch suit when it fails, or ``result``;
- ``payment_order`` (支付令) → ``enforcement`` when no objection is raised within 15 days of service,
  a suit when the debtor objects (民事诉讼法 §227), or ``result``;
- ``batch_suit`` (批量诉讼) and ``suit`` (起诉) → ``hearing``, ``judgment`` (e.g. by default), ``result``;
- ``hearing`` (开庭) → ``judgment`` or ``result`` (settled in court);
- ``judgment`` (判决) → ``enforcement``, ``hearing`` (appeal), or ``result`` (paid);
- ``judicial_confirmation`` → ``enforcement`` or ``result``;
- ``enforcement`` (执行) → ``result``; ``result`` (结果) closes the matter with its outcome.

:data:`RULE_VERSION` hashes the whole table; every opening and move records it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from recoup.errors import RecoupError


class Stage(StrEnum):
    ASSESSMENT = "assessment"  # 评估
    LAWYER_LETTER = "lawyer_letter"  # 律师函
    PRE_SUIT_MEDIATION = "pre_suit_mediation"  # 诉前调解
    BATCH_SUIT = "batch_suit"  # 批量诉讼
    PAYMENT_ORDER = "payment_order"  # 支付令
    JUDICIAL_CONFIRMATION = "judicial_confirmation"  # 司法确认
    SUIT = "suit"  # 起诉
    HEARING = "hearing"  # 开庭
    JUDGMENT = "judgment"  # 判决
    ENFORCEMENT = "enforcement"  # 执行
    RESULT = "result"  # 结果


class Result(StrEnum):
    """How a matter ended (given with the move to ``result``)."""

    PAID = "paid"  # paid in full
    PARTLY_RECOVERED = "partly_recovered"
    SETTLED = "settled"  # mediation / settlement
    UNCOLLECTABLE = "uncollectable"  # won, nothing to enforce (终结本次执行)
    LOST = "lost"
    WITHDRAWN = "withdrawn"
    NOT_PURSUED = "not_pursued"


class CostKind(StrEnum):
    COURT_FEE = "court_fee"  # 诉讼费
    LAWYER_FEE = "lawyer_fee"  # 律师费
    PRESERVATION = "preservation"  # 保全费
    ENFORCEMENT = "enforcement"  # 执行费
    ANNOUNCEMENT = "announcement"  # 公告费
    SERVICE = "service"  # 送达 / 邮寄
    OTHER = "other"


class DocumentKind(StrEnum):
    LAWYER_LETTER = "lawyer_letter"  # 律师函
    COMPLAINT = "complaint"  # 起诉状 / 申请书
    EVIDENCE = "evidence"  # 证据
    SERVICE_PROOF = "service_proof"  # 送达回证
    MEDIATION_AGREEMENT = "mediation_agreement"  # 调解协议 / 调解书
    PAYMENT_ORDER = "payment_order"  # 支付令
    RULING = "ruling"  # 裁定书
    JUDGMENT = "judgment"  # 判决书
    ENFORCEMENT = "enforcement"  # 执行文书
    OTHER = "other"


class DeadlineKind(StrEnum):
    MEDIATION_ENDS = "mediation_ends"  # 诉前调解期限
    OBJECTION_WINDOW = "objection_window"  # 支付令异议期
    HEARING = "hearing"  # 开庭
    EVIDENCE = "evidence"  # 举证期限
    APPEAL_WINDOW = "appeal_window"  # 上诉期
    ENFORCEMENT_APPLICATION = "enforcement_application"  # 申请执行期限
    REVIEW = "review"  # 内部复核
    OTHER = "other"


@dataclass(frozen=True)
class StageDeadline:
    """A deadline a stage sets ``days`` after the move into it, with its basis."""

    kind: DeadlineKind
    days: int
    basis: str


S = Stage
#: THE table of moves: stage → the stages it may move to.
MOVES: Final[dict[Stage, tuple[Stage, ...]]] = {
    S.ASSESSMENT: (S.LAWYER_LETTER, S.PRE_SUIT_MEDIATION, S.BATCH_SUIT, S.PAYMENT_ORDER, S.SUIT, S.RESULT),
    S.LAWYER_LETTER: (S.PRE_SUIT_MEDIATION, S.BATCH_SUIT, S.PAYMENT_ORDER, S.SUIT, S.RESULT),
    S.PRE_SUIT_MEDIATION: (S.JUDICIAL_CONFIRMATION, S.SUIT, S.BATCH_SUIT, S.RESULT),
    S.PAYMENT_ORDER: (S.ENFORCEMENT, S.SUIT, S.RESULT),
    S.BATCH_SUIT: (S.HEARING, S.JUDGMENT, S.RESULT),
    S.SUIT: (S.HEARING, S.JUDGMENT, S.RESULT),
    S.HEARING: (S.JUDGMENT, S.RESULT),
    S.JUDGMENT: (S.ENFORCEMENT, S.HEARING, S.RESULT),
    S.JUDICIAL_CONFIRMATION: (S.ENFORCEMENT, S.RESULT),
    S.ENFORCEMENT: (S.RESULT,),
    S.RESULT: (),
}
#: The stage every matter opens in.
INITIAL: Final = S.ASSESSMENT
#: Deadlines set on entering a stage (operators add hearings and other dates by hand).
DEADLINES: Final[dict[Stage, tuple[StageDeadline, ...]]] = {
    S.ASSESSMENT: (StageDeadline(DeadlineKind.REVIEW, 30, "internal: decide the route within 30 days"),),
    S.PRE_SUIT_MEDIATION: (
        StageDeadline(DeadlineKind.MEDIATION_ENDS, 30, "pre-suit mediation usually lasts 30 days"),
    ),
    S.PAYMENT_ORDER: (
        StageDeadline(
            DeadlineKind.OBJECTION_WINDOW,
            15,
            "Civil Procedure Law §227 (民事诉讼法): 15 days after service (counted from the move)",
        ),
    ),
    S.JUDGMENT: (
        StageDeadline(
            DeadlineKind.APPEAL_WINDOW,
            15,
            "Civil Procedure Law §171 (民事诉讼法): 15 days after service (counted from the move)",
        ),
    ),
    S.JUDICIAL_CONFIRMATION: (
        StageDeadline(
            DeadlineKind.ENFORCEMENT_APPLICATION,
            730,
            "Civil Procedure Law §250 (民事诉讼法): apply for enforcement within 2 years",
        ),
    ),
}
#: Moves into these stages are legal actions that interrupt the limitation period (民法典 §195(3), (4);
#: 诉讼时效规定 §11–12: a suit, a payment order, mediation by a body entitled to settle the dispute,
#: an application for enforcement).
INTERRUPTING: Final = frozenset(
    {S.PRE_SUIT_MEDIATION, S.BATCH_SUIT, S.PAYMENT_ORDER, S.SUIT, S.JUDICIAL_CONFIRMATION, S.ENFORCEMENT}
)


def _version() -> str:
    doc = {
        "moves": {k.value: [v.value for v in vs] for k, vs in MOVES.items()},
        "deadlines": {k.value: [[d.kind.value, d.days] for d in ds] for k, ds in DEADLINES.items()},
        "interrupting": sorted(s.value for s in INTERRUPTING),
    }
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    return f"legal-stages:{digest[:12]}"


#: The version of the stage table (a hash of the data above).
RULE_VERSION: Final = _version()


class StageMoveError(RecoupError):
    """The stage table has no such move; ``details["allowed"]`` lists those it has."""

    code = "legal.invalid_stage_move"
    http_status = 409
    exit_code = 65


def allowed_from(stage: str) -> list[Stage]:
    try:
        return list(MOVES[Stage(stage)])
    except ValueError:
        return []


def check_move(stage: str, to_stage: str, *, result: str | None) -> Stage:
    """The target stage, if the table allows the move; a move to ``result`` needs a :class:`Result`."""
    allowed = allowed_from(stage)
    details = {"from": stage, "to": to_stage, "allowed": [s.value for s in allowed]}
    try:
        target = Stage(to_stage)
    except ValueError:
        target = None
    if target is None or target not in allowed:
        listed = ", ".join(details["allowed"]) or "none"
        raise StageMoveError(
            f"a matter cannot move from {stage} to {to_stage}; allowed: {listed} / "
            f"不能从 {stage} 转到 {to_stage}",
            details=details,
        )
    if target is Stage.RESULT:
        if result not in {r.value for r in Result}:
            raise StageMoveError(
                f"closing a matter needs a result, one of: {', '.join(r.value for r in Result)} / 请选择结果",
                details={**details, "missing": "result", "results": [r.value for r in Result]},
            )
    elif result is not None:
        raise StageMoveError(
            "only a move to result takes a result / 只有转到“结果”时才填写结果",
            details={**details, "missing": "no_result"},
        )
    return target


def table() -> dict[str, object]:
    """The stage table as plain data (API and docs)."""
    return {
        "version": RULE_VERSION,
        "initial": INITIAL.value,
        "stages": [s.value for s in Stage],
        "moves": {k.value: [v.value for v in vs] for k, vs in MOVES.items()},
        "deadlines": {
            k.value: [{"kind": d.kind.value, "days": d.days, "basis": d.basis} for d in ds]
            for k, ds in DEADLINES.items()
        },
        "interrupting": sorted(s.value for s in INTERRUPTING),
        "results": [r.value for r in Result],
    }
