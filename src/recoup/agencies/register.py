"""The agency register: agencies and their team, the PIPL Art. 21 processing contract, service contracts
with their rate cards, yearly reviews and the white list, the staff register and its training.

Services take ``session`` as a keyword argument, never commit, and write every change to the audit ledger
(ids and codes only). ``check_*`` validates, ``do_*`` changes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.agencies.errors import AgencyNotEligibleError, invalid, text
from recoup.agencies.models import (
    Agency,
    AgencyContract,
    AgencyReview,
    Placement,
)
from recoup.agencies.staff import trained_staff_ids
from recoup.cases import people
from recoup.cases.models import Team
from recoup.errors import ConflictError, MoneyError, NotFoundError
from recoup.ledger.service import do_append
from recoup.money import parse_rate_bp

__all__ = [
    "BUCKET_NAMES",
    "REVIEW_DAYS",
    "STATUSES",
    "check_eligible",
    "check_rates",
    "contract_on",
    "do_add_contract",
    "do_register_agency",
    "do_review",
    "do_set_pipl_contract",
    "do_set_status",
    "eligibility",
    "get_agency",
    "list_agencies",
    "parse_rate_specs",
]

STATUSES: Final = ("candidate", "whitelisted", "suspended", "removed")
#: Days from one passed review to the next one's deadline (the yearly review, CN-OUTSRC).
REVIEW_DAYS: Final = 365
#: Buckets a rate card may name (the bucket table's labels), ``*`` for any other bucket.
BUCKET_NAMES: Final = ("C", "M1", "M2", "M3", "M4", "M5", "M6", "M7+", "*")
_CODE: Final = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
_MAX_TEXT: Final = 500


def get_agency(key: str | int, *, session: Session) -> Agency:
    """The agency with id ``key`` (an int) or code ``key`` (a str); 404 when there is none."""
    agency = (
        session.get(Agency, key)
        if isinstance(key, int)
        else session.scalars(select(Agency).where(Agency.code == key)).one_or_none()
    )
    if agency is None:
        raise NotFoundError(f"no agency {key} / 委外机构 {key} 不存在", details={"agency": key})
    return agency


def list_agencies(*, session: Session) -> list[Agency]:
    """Every agency, by code."""
    return list(session.scalars(select(Agency).order_by(Agency.code)))


def do_register_agency(
    code: str, name: str, *, session: Session, actor: str, team: str | None = None, note: str = ""
) -> Agency:
    """Register an agency as a white-list candidate, linked to its team of the kind ``agency``: the team
    called ``team`` if given (it must be of that kind and not linked yet: the approximation of agencies as
    teams carries over), else a new team named after the agency."""
    if not _CODE.fullmatch(code or ""):
        raise invalid("code", code, "2–64 letters, digits, . _ -", "机构代码须为 2–64 个字母、数字或 . _ -")
    clean_name = text("name", name, 200)
    clean_note = text("note", note, _MAX_TEXT, required=False)
    if session.scalars(select(Agency.id).where(Agency.code == code)).first() is not None:
        raise ConflictError(
            f"agency {code} is already registered / 机构 {code} 已登记", details={"code": code}
        )
    if team is not None:
        team_row = people.get_team(team, session=session)
        if team_row.kind != "agency":
            raise invalid("team", team, "is not a team of the kind agency", "该团队不是委外机构类型")
        if session.scalars(select(Agency.id).where(Agency.team_id == team_row.id)).first() is not None:
            raise ConflictError(
                f"team {team!r} already belongs to an agency / 该团队已关联其他机构", details={"team": team}
            )
    else:
        team_name = clean_name[:80]
        if session.scalars(select(Team.id).where(Team.name == team_name)).first() is not None:
            team_name = f"{clean_name[:60]} ({code})"[:80]
        team_row = people.do_create_team(team_name, "agency", session=session, actor=actor)
    agency = Agency(
        code=code, name=clean_name, team_id=team_row.id, status="candidate", note=clean_note, created_by=actor
    )
    session.add(agency)
    session.flush()
    do_append(
        "agency.registered",
        {"agency_id": agency.id, "code": code, "team_id": team_row.id},
        session=session,
        actor=actor,
    )
    return agency


def do_set_pipl_contract(
    agency: Agency, *, ref: str, signed_on: dt.date, session: Session, actor: str, signed: bool = True
) -> Agency:
    """Record the agency's personal-information processing contract (PIPL Art. 21: purpose, duration,
    processing method, categories of data, protection measures, deletion at the end); ``signed=False``
    withdraws it (no new placement then)."""
    agency.pipl_contract = signed
    agency.pipl_contract_ref = text("ref", ref, 100) if signed else None
    agency.pipl_signed_on = signed_on if signed else None
    session.flush()
    do_append(
        "agency.pipl_contract",
        {"agency_id": agency.id, "signed": signed, "signed_on": signed_on.isoformat() if signed else None},
        session=session,
        actor=actor,
    )
    return agency


def _whole(field: str, value: Any, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise invalid(field, value, f"must be a whole number in [{lo}, {hi}]", f"须为 [{lo}, {hi}] 内的整数")
    return value


def check_rates(rates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A rate card, checked: one entry per bucket (:data:`BUCKET_NAMES`), each with tiers of increasing
    ``min_recovery_bp`` starting at 0, rates in [0, 10000] bp."""
    if not isinstance(rates, Sequence) or isinstance(rates, str) or not rates:
        raise invalid("rates", rates, "give at least one bucket with its tiers", "至少需要一个账龄段的费率")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, entry in enumerate(rates):
        where = f"rates[{i}]"
        if not isinstance(entry, Mapping):
            raise invalid(where, entry, "must be an object with bucket and tiers", "须包含 bucket 与 tiers")
        bucket = entry.get("bucket")
        if bucket not in BUCKET_NAMES or bucket in seen:
            raise invalid(
                f"{where}.bucket",
                bucket,
                f"must be one of {', '.join(BUCKET_NAMES)}, once",
                "账龄段无效或重复",
            )
        seen.add(str(bucket))
        tiers = entry.get("tiers")
        if not isinstance(tiers, Sequence) or isinstance(tiers, str) or not tiers:
            raise invalid(f"{where}.tiers", tiers, "give at least one tier", "至少需要一档")
        clean: list[dict[str, int]] = []
        for j, tier in enumerate(tiers):
            if not isinstance(tier, Mapping):
                raise invalid(f"{where}.tiers[{j}]", tier, "must be an object", "须为对象")
            low = _whole(f"{where}.tiers[{j}].min_recovery_bp", tier.get("min_recovery_bp"), 0, 10_000)
            rate = _whole(f"{where}.tiers[{j}].rate_bp", tier.get("rate_bp"), 0, 10_000)
            if clean and low <= clean[-1]["min_recovery_bp"]:
                raise invalid(f"{where}.tiers[{j}].min_recovery_bp", low, "tiers must increase", "档位须递增")
            clean.append({"min_recovery_bp": low, "rate_bp": rate})
        if clean[0]["min_recovery_bp"] != 0:
            raise invalid(
                f"{where}.tiers[0].min_recovery_bp",
                clean[0]["min_recovery_bp"],
                "the first tier starts at 0",
                "首档须从 0 开始",
            )
        out.append({"bucket": bucket, "tiers": clean})
    return out


def do_add_contract(
    agency: Agency,
    *,
    ref: str,
    start: dt.date,
    end: dt.date,
    rates: Sequence[Mapping[str, Any]],
    complaint_penalty: int = 0,
    qa_penalty: int = 0,
    session: Session,
    actor: str,
) -> AgencyContract:
    """Add a service contract (dates inclusive, a rate card, penalties per complaint and per red-line
    QA finding in minor units). The latest-starting contract covering a day is the one in force."""
    if end < start:
        raise invalid("end", end.isoformat(), "is before the start", "结束日早于开始日")
    clean = check_rates(rates)
    for field, value in (("complaint_penalty", complaint_penalty), ("qa_penalty", qa_penalty)):
        _whole(field, value, 0, 10**12)
    contract = AgencyContract(
        agency_id=agency.id,
        ref=text("ref", ref, 100),
        start_date=start,
        end_date=end,
        rates=clean,
        complaint_penalty=complaint_penalty,
        qa_penalty=qa_penalty,
        created_by=actor,
    )
    session.add(contract)
    session.flush()
    do_append(
        "agency.contract",
        {
            "agency_id": agency.id,
            "contract_id": contract.id,
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        session=session,
        actor=actor,
    )
    return contract


def contract_on(agency_id: int, on: dt.date, *, session: Session) -> AgencyContract | None:
    """The contract in force on ``on`` (the latest-starting one covering it)."""
    return session.scalars(
        select(AgencyContract)
        .where(
            AgencyContract.agency_id == agency_id,
            AgencyContract.start_date <= on,
            AgencyContract.end_date >= on,
        )
        .order_by(AgencyContract.start_date.desc(), AgencyContract.id.desc())
        .limit(1)
    ).first()


def do_review(
    agency: Agency, *, outcome: str, on: dt.date, note: str = "", session: Session, actor: str
) -> AgencyReview:
    """Record the yearly review: ``pass`` puts (or keeps) the agency on the white list until
    ``on + REVIEW_DAYS``; ``fail`` suspends it (no new placement; its placements run to their expiry
    unless recalled)."""
    if outcome not in ("pass", "fail"):
        raise invalid("outcome", outcome, "must be pass or fail", "评估结果须为 pass 或 fail")
    if agency.status == "removed":
        raise ConflictError(
            f"agency {agency.code} was removed from the list / 机构已移出名单", details={"code": agency.code}
        )
    due = on + dt.timedelta(days=REVIEW_DAYS) if outcome == "pass" else None
    review = AgencyReview(
        agency_id=agency.id,
        reviewed_on=on,
        outcome=outcome,
        note=text("note", note, _MAX_TEXT, required=False),
        next_due=due,
        reviewed_by=actor,
    )
    session.add(review)
    if outcome == "pass":
        agency.status = "whitelisted"
        agency.whitelisted_on = agency.whitelisted_on or on
        agency.review_due = due
    else:
        agency.status = "suspended"
    session.flush()
    do_append(
        "agency.review",
        {
            "agency_id": agency.id,
            "review_id": review.id,
            "outcome": outcome,
            "next_due": due.isoformat() if due else None,
        },
        session=session,
        actor=actor,
    )
    return review


def do_set_status(
    agency: Agency, status: str, *, reason: str, on: dt.date, session: Session, actor: str
) -> list[int]:
    """Suspend an agency (no new placement) or remove it from the white list for good (its live
    placements are recalled as ``delisted``). Returns the ids of the placements recalled. Reinstating
    a suspended agency takes a passed review (:func:`do_review`)."""
    if status not in ("suspended", "removed"):
        raise invalid(
            "status",
            status,
            "must be suspended or removed (a passed review reinstates)",
            "状态须为 suspended 或 removed",
        )
    why = text("reason", reason, _MAX_TEXT)
    if agency.status == "removed":
        raise ConflictError(
            f"agency {agency.code} was removed already / 机构已移出名单", details={"code": agency.code}
        )
    agency.status = status
    recalled: list[int] = []
    if status == "removed":
        from recoup.agencies.recall import do_recall

        live = session.scalars(
            select(Placement).where(
                Placement.agency_id == agency.id, Placement.status.in_(("pending_notice", "active"))
            )
        ).all()
        for p in live:
            do_recall(p, reason="delisted", note=why, on=on, session=session, actor=actor)
            recalled.append(p.id)
    session.flush()
    do_append(
        "agency.status",
        {"agency_id": agency.id, "status": status, "recalled": len(recalled)},
        session=session,
        actor=actor,
    )
    return recalled


def eligibility(agency: Agency, on: dt.date, *, session: Session) -> list[tuple[str, str]]:
    """Why the agency may not receive placements on ``on`` (empty: it may): (code, bilingual message)."""
    problems: list[tuple[str, str]] = []
    if agency.status != "whitelisted":
        problems.append(("not_whitelisted", f"not on the white list (status {agency.status}) / 不在白名单内"))
    elif agency.review_due is None or agency.review_due < on:
        problems.append(("review_overdue", f"the yearly review was due {agency.review_due} / 年度评估已逾期"))
    if not agency.pipl_contract:
        problems.append(
            ("no_pipl_contract", "no PIPL Art. 21 processing contract / 未签署个人信息委托处理协议")
        )
    if contract_on(agency.id, on, session=session) is None:
        problems.append(("no_contract", f"no service contract in force on {on} / 当日无有效委外合同"))
    if not trained_staff_ids(agency.id, on, session=session):
        problems.append(("no_trained_staff", "no active staff with a valid training / 无已培训的在岗人员"))
    return problems


def check_eligible(agency: Agency, on: dt.date, *, session: Session) -> None:
    """:class:`AgencyNotEligibleError` listing every reason the agency may not receive placements."""
    problems = eligibility(agency, on, session=session)
    if problems:
        raise AgencyNotEligibleError(
            f"agency {agency.code} cannot receive placements on {on}: " + "; ".join(m for _c, m in problems),
            details={"agency": agency.code, "problems": [c for c, _m in problems]},
        )


def parse_rate_specs(specs: Sequence[str]) -> list[dict[str, Any]]:
    """A rate card written as text, one bucket per item: ``M4:0=10%,20%=15%`` is bucket M4 at 10 % from
    0 % recovery and 15 % from 20 % (percentages; ``%`` optional). Checked by :func:`check_rates`."""
    out: list[dict[str, Any]] = []
    for spec in specs:
        bucket, sep, tiers = spec.partition(":")
        if not sep or not tiers.strip():
            raise invalid(
                "rates",
                spec,
                "write BUCKET:FROM=RATE,… e.g. M4:0=10%,20%=15%",
                "费率格式应为 M4:0=10%,20%=15%",
            )
        rows = []
        for part in tiers.split(","):
            low, eq, rate = (x.strip() for x in part.partition("="))
            if not eq or not low or not rate:
                raise invalid("rates", spec, f"{part!r} is not FROM=RATE", "费率格式有误")
            try:
                rows.append({"min_recovery_bp": _bp(low), "rate_bp": _bp(rate)})
            except MoneyError:
                raise invalid("rates", spec, f"{part!r}: not percentages", "费率须为百分比") from None
        out.append({"bucket": bucket.strip(), "tiers": rows})
    return check_rates(out)


def _bp(text: str) -> int:
    return parse_rate_bp(text if text.endswith("%") else f"{text}%")
