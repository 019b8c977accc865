"""The errors of outsourced collection, each with a stable code (docs/agencies.md lists them)."""

from __future__ import annotations

from typing import Any

from recoup.errors import AuthError, ConflictError, RecoupError


class AgencyError(RecoupError):
    """A value given for an agency, contract, staff member or placement is invalid; ``details`` name it."""

    code = "agency.invalid"
    http_status = 422


class AgencyNotEligibleError(ConflictError):
    """The agency may not receive placements now: ``details["problems"]`` lists every reason."""

    code = "agency.not_eligible"


class SubOutsourcingError(AuthError):
    """An agency's own user tried to place or re-place cases (no sub-outsourcing, CN-OUTSRC)."""

    code = "agency.sub_outsourcing"
    http_status = 403


class PlacementStateError(ConflictError):
    """A placement cannot make this move from its status (recall of a recalled one, …)."""

    code = "agency.placement_state"


class NothingToPlaceError(ConflictError):
    """A placement batch found no case to place (none given, or no open agency_placement task)."""

    code = "agency.nothing_to_place"


class StatementError(ConflictError):
    """A statement cannot be issued or confirmed in its state (confirmed twice, by the wrong side, …)."""

    code = "agency.statement"


def invalid(field: str, value: object, en: str, zh: str, **details: Any) -> AgencyError:
    """An :class:`AgencyError` naming the field and the value, in both languages."""
    return AgencyError(f"{field}: {en} / {zh}", details={"field": field, "value": value, **details})


def text(field: str, value: str, limit: int, *, required: bool = True) -> str:
    clean = (value or "").strip()
    if required and not clean:
        raise invalid(field, value, "is required", "必填")
    if len(clean) > limit or any(ord(ch) < 32 for ch in clean):
        raise invalid(
            field, clean[:limit], f"at most {limit} characters, no control characters", f"最多 {limit} 个字符"
        )
    return clean
