"""The case lifecycle as data: states, close reasons, the one transition table and the deadlines.

Everything here is pure: :func:`check_transition` decides whether a move is allowed and raises the
right error; :mod:`recoup.cases.service` does it (:func:`~recoup.cases.service.do_transition`).

- **Who may make a transition** is the permission in its :class:`Edge`; a close reason may need one
  more (:data:`CLOSE_REASON_PERMISSION`: writing off and selling a debt are ``legal.manage``).
- **What it requires**: a reason text always; a close reason exactly when the target is ``closed``,
  one of the edge's ``close_reasons``; some edges only apply to a case closed with a given reason
  (``when_closed_as``).
- **Written off stays collectable** (账销案存): a write-off (核销) is an accounting event, not the end of
  the debt. A case closed as ``written_off`` keeps ``status = "open"`` (so the daily cycle keeps its
  accounts on it and never opens a second case for the borrower), may be reopened into negotiation or
  legal, or closed again with a final reason (paid, cured, sold, deceased, fraud); it can never be
  archived while written off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from recoup.errors import AuthError, RecoupError


class CaseState(StrEnum):
    INTAKE = "intake"  # 入催
    ALLOCATED = "allocated"  # 分案
    EARLY_COLLECTION = "early_collection"  # 催收
    NEGOTIATION = "negotiation"  # 协商
    PROMISE = "promise"  # 承诺还款
    PLAN = "plan"  # 分期
    SETTLEMENT = "settlement"  # 和解
    LEGAL = "legal"  # 诉讼
    ASSET_DISPOSAL = "asset_disposal"  # 资产处置
    CLOSED = "closed"  # 结案
    ARCHIVED = "archived"  # 归档


class CloseReason(StrEnum):
    PAID = "paid"
    CURED = "cured"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"  # 核销: still collectable
    SOLD = "sold"
    DECEASED = "deceased"
    FRAUD = "fraud"


S = CaseState
R = CloseReason

#: The states a case is worked in (everything before closed).
WORKING_STATES: Final = (
    S.INTAKE,
    S.ALLOCATED,
    S.EARLY_COLLECTION,
    S.NEGOTIATION,
    S.PROMISE,
    S.PLAN,
    S.SETTLEMENT,
    S.LEGAL,
    S.ASSET_DISPOSAL,
)

#: Close reasons open to every working state; ``settled`` only ends a settlement, and a write-off
#: needs collection to have been tried (not from intake or allocated).
_FINAL: Final = frozenset({R.PAID, R.CURED, R.SOLD, R.DECEASED, R.FRAUD})
_FINAL_OR_WRITE_OFF: Final = _FINAL | {R.WRITTEN_OFF}

#: A close reason that needs a permission beyond the edge's.
CLOSE_REASON_PERMISSION: Final[dict[CloseReason, str]] = {
    R.WRITTEN_OFF: "legal.manage",
    R.SOLD: "legal.manage",
}

#: The status column follows the state: "open" while collectable (working states, and closed as
#: written off), else "closed". The daily cycle's intake reads only the status.
COLLECTABLE_CLOSE_REASONS: Final = frozenset({R.WRITTEN_OFF})

#: Days a case may stay in each state before its deadline is missed (``None``: no deadline).
DEADLINE_DAYS: Final[dict[CaseState, int | None]] = {
    S.INTAKE: 1,
    S.ALLOCATED: 3,
    S.EARLY_COLLECTION: 30,
    S.NEGOTIATION: 14,
    S.PROMISE: 7,
    S.PLAN: 30,
    S.SETTLEMENT: 30,
    S.LEGAL: 180,
    S.ASSET_DISPOSAL: 180,
    S.CLOSED: 90,
    S.ARCHIVED: None,
}
#: A written-off case is reviewed for recovery this often instead of being archived.
WRITTEN_OFF_REVIEW_DAYS: Final = 180
MAX_REASON: Final = 500


@dataclass(frozen=True)
class Edge:
    """One allowed transition: the permission it needs, and what it requires."""

    permission: str
    close_reasons: frozenset[CloseReason] = frozenset()  # required (one of) when non-empty
    when_closed_as: frozenset[CloseReason] | None = None  # the case's current close reason must be one


def _closing(reasons: frozenset[CloseReason]) -> Edge:
    return Edge("case.close", close_reasons=reasons)


_WO: Final = frozenset({R.WRITTEN_OFF})

#: THE transition table: (from, to) → edge. Nothing else decides what may happen to a case.
TRANSITIONS: Final[dict[tuple[CaseState, CaseState], Edge]] = {
    (S.INTAKE, S.ALLOCATED): Edge("case.assign"),
    (S.ALLOCATED, S.EARLY_COLLECTION): Edge("case.work"),
    (S.EARLY_COLLECTION, S.NEGOTIATION): Edge("case.work"),
    (S.EARLY_COLLECTION, S.LEGAL): Edge("case.legal"),
    (S.NEGOTIATION, S.PROMISE): Edge("case.work"),
    (S.NEGOTIATION, S.PLAN): Edge("plan.approve"),
    (S.NEGOTIATION, S.SETTLEMENT): Edge("plan.approve"),
    (S.NEGOTIATION, S.LEGAL): Edge("case.legal"),
    (S.PROMISE, S.NEGOTIATION): Edge("case.work"),  # promise broken or kept in part
    (S.PROMISE, S.LEGAL): Edge("case.legal"),
    (S.PLAN, S.NEGOTIATION): Edge("case.work"),  # plan broken
    (S.PLAN, S.LEGAL): Edge("case.legal"),
    (S.SETTLEMENT, S.NEGOTIATION): Edge("case.work"),  # settlement not honoured
    (S.SETTLEMENT, S.LEGAL): Edge("case.legal"),
    (S.LEGAL, S.NEGOTIATION): Edge("case.legal"),  # mediation, settlement in court
    (S.LEGAL, S.ASSET_DISPOSAL): Edge("case.legal"),
    (S.INTAKE, S.CLOSED): _closing(_FINAL),
    (S.ALLOCATED, S.CLOSED): _closing(_FINAL),
    (S.EARLY_COLLECTION, S.CLOSED): _closing(_FINAL_OR_WRITE_OFF),
    (S.NEGOTIATION, S.CLOSED): _closing(_FINAL_OR_WRITE_OFF),
    (S.PROMISE, S.CLOSED): _closing(_FINAL_OR_WRITE_OFF),
    (S.PLAN, S.CLOSED): _closing(_FINAL_OR_WRITE_OFF),
    (S.SETTLEMENT, S.CLOSED): _closing(_FINAL_OR_WRITE_OFF | {R.SETTLED}),
    (S.LEGAL, S.CLOSED): _closing(_FINAL_OR_WRITE_OFF),
    (S.ASSET_DISPOSAL, S.CLOSED): _closing(_FINAL_OR_WRITE_OFF),
    # written off, still collectable: recovery resumes, or the case ends for good
    (S.CLOSED, S.NEGOTIATION): Edge("case.work", when_closed_as=_WO),
    (S.CLOSED, S.LEGAL): Edge("case.legal", when_closed_as=_WO),
    (S.CLOSED, S.CLOSED): Edge("case.close", close_reasons=_FINAL, when_closed_as=_WO),
    (S.CLOSED, S.ARCHIVED): Edge("case.archive", when_closed_as=frozenset(R) - _WO),
}

#: The state every new case starts in (the daily cycle's intake records it with no ``from``).
INITIAL_STATE: Final = S.INTAKE

#: The permissions the daily cycle acts with: it only opens (no permission) and closes cases.
CYCLE_PERMISSIONS: Final = frozenset({"case.close"})


class InvalidTransitionError(RecoupError):
    """The table has no such move from the case's state; ``details["allowed"]`` lists those it has."""

    code = "case.invalid_transition"
    http_status = 409


class TransitionRequirementError(RecoupError):
    """The move exists but lacks what it requires (a reason text, a valid close reason)."""

    code = "case.transition_incomplete"
    http_status = 422


class TransitionForbiddenError(AuthError):
    """The actor lacks the permission the move (or its close reason) needs."""

    code = "case.transition_forbidden"


def _state(value: str) -> CaseState:
    return CaseState(value)


def _close_reason(value: str | None) -> CloseReason | None:
    try:
        return CloseReason(value) if value else None
    except ValueError:  # an unknown (legacy) reason allows only what needs none
        return None


def allowed_from(state: str, close_reason: str | None = None) -> list[CaseState]:
    """The states a case in ``state`` (closed with ``close_reason``) may move to, in table order."""
    current = _state(state)
    reason = _close_reason(close_reason)
    return [
        to
        for (frm, to), edge in TRANSITIONS.items()
        if frm == current and (edge.when_closed_as is None or reason in edge.when_closed_as)
    ]


def holds(permissions: Collection[str], perm: str) -> bool:
    """Whether ``permissions`` grant ``perm`` (``*`` and ``prefix.*`` grant too, as in auth)."""
    return any(p in ("*", perm, perm.split(".", 1)[0] + ".*") for p in permissions)


def is_collectable(state: str, close_reason: str | None) -> bool:
    """Whether a case in ``state`` is still worked: its ``status`` column is then ``open``."""
    if state == S.ARCHIVED:
        return False
    return state != S.CLOSED or close_reason in COLLECTABLE_CLOSE_REASONS


def deadline(state: str, since: dt.date, close_reason: str | None = None) -> dt.date | None:
    """The last business day a case entering ``state`` on ``since`` may stay in it (None: no deadline)."""
    days = DEADLINE_DAYS[_state(state)]
    if state == S.CLOSED and close_reason in COLLECTABLE_CLOSE_REASONS:
        days = WRITTEN_OFF_REVIEW_DAYS
    return None if days is None else since + dt.timedelta(days=days)


def check_transition(
    case_state: str,
    to_state: str,
    *,
    permissions: Collection[str],
    reason: str,
    close_reason: str | None = None,
    current_close_reason: str | None = None,
) -> None:
    """Raise unless a case in ``case_state`` (closed as ``current_close_reason``) may move to
    ``to_state`` by someone holding ``permissions``, with ``reason`` and ``close_reason``.

    Order: the move must be in the table (:class:`InvalidTransitionError` with the allowed list),
    then the actor needs its permission (:class:`TransitionForbiddenError`), then its requirements
    must be met (:class:`TransitionRequirementError`).
    """
    allowed = allowed_from(case_state, current_close_reason)
    try:
        target = CaseState(to_state)
    except ValueError:
        target = None
    details = {"from": str(case_state), "to": str(to_state), "allowed": [str(s) for s in allowed]}
    if target is None or target not in allowed:
        listed = ", ".join(details["allowed"]) or "none"
        raise InvalidTransitionError(
            f"a case cannot move from {case_state} to {to_state}; allowed: {listed}", details=details
        )
    edge = TRANSITIONS[(_state(case_state), target)]
    needed = [edge.permission]
    if close_reason in CLOSE_REASON_PERMISSION:
        needed.append(CLOSE_REASON_PERMISSION[CloseReason(close_reason)])
    for perm in needed:
        if not holds(permissions, perm):
            raise TransitionForbiddenError(
                f"moving a case from {case_state} to {to_state} needs the permission {perm}",
                details={**details, "permission": perm},
            )
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON:
        raise TransitionRequirementError(
            f"a case transition needs a reason of 1 to {MAX_REASON} characters",
            details={**details, "missing": "reason"},
        )
    if edge.close_reasons:
        if close_reason not in edge.close_reasons:
            choices = sorted(str(r) for r in edge.close_reasons)
            raise TransitionRequirementError(
                f"closing a case from {case_state} needs a close reason, one of: {', '.join(choices)}",
                details={**details, "missing": "close_reason", "close_reasons": choices},
            )
    elif close_reason is not None:
        raise TransitionRequirementError(
            f"only closing a case takes a close reason (got {close_reason!r} for {to_state})",
            details={**details, "missing": "no_close_reason"},
        )
