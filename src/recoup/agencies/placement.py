"""Placement batches (委外, 赛马): which cases, which agencies, the kernel's deal, and the notice first.

- **Which cases.** A batch takes the open cases with an open ``agency_placement`` task (what the
  strategy decided: the tasks the daily decisions create) that are not stopped, not placed already and
  not recalled early before (a complaint, a death, a lawsuit: such a case is placed again only by naming
  it); or exactly the cases named. The tasks it takes are done (``result = placed``): placement is what
  they asked for. On a placed case the strategy's later ``agency_placement`` task is the agency's work
  item in its queue (assigned to the agency user holding the case, carried from day to day).
- **Which agencies.** Those named (default: every eligible agency), each eligible on the day
  (white-listed, review not overdue, a PIPL Art. 21 contract, a service contract in force, trained
  staff), with this month's shares (:class:`~recoup.agencies.models.AgencyShare`: set by last month's
  ranking) or equal shares. :func:`recoup.agencies.kernel.place_stratified` deals the cases (seeded).
- **Notice first (CN-OUTSRC).** When the preset requires it, each placement is ``pending_notice`` with
  the borrower's notice queued in the outbox; it becomes ``active`` once the notice is ``sent``
  (:mod:`recoup.agencies.recall`: the cycle's intake step, or ``recoup agency activate``), and is
  cancelled if the notice cannot go. Otherwise it is active at once (:mod:`recoup.agencies.holding`).
- **No sub-outsourcing.** An agency's user can never place or re-place a case.

Services take ``session`` and never commit; each batch goes to the audit ledger.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from recoup import rules
from recoup.agencies.errors import NothingToPlaceError, SubOutsourcingError, invalid
from recoup.agencies.holding import activate
from recoup.agencies.kernel import DEFAULT_BANDS, band_ranges, place_stratified
from recoup.agencies.models import Agency, AgencyShare, Placement, PlacementBatch
from recoup.agencies.notice import do_queue_notice, notice_reachable, notice_required
from recoup.agencies.register import check_eligible, eligibility
from recoup.agencies.staff import agency_of_user
from recoup.auth.models import AppUser
from recoup.cases.models import Case
from recoup.config import Settings
from recoup.db import utcnow
from recoup.delinquency.tables import BUCKETS
from recoup.errors import NotFoundError
from recoup.ledger.service import do_append
from recoup.pii import PiiCipher, cipher_from_settings
from recoup.portfolio.models import CollectionAccount
from recoup.strategy.models import WorkTask

__all__ = [
    "DEFAULT_DAYS",
    "EARLY_REASONS",
    "LIVE",
    "MAX_DAYS",
    "RECALL_REASONS",
    "BatchResult",
    "case_frame",
    "check_not_agency",
    "do_place_batch",
    "live_placement",
    "month_shares",
]

#: Placements that keep the case with (or on its way to) the agency.
LIVE: Final = ("pending_notice", "active")
RECALL_REASONS: Final = (
    "expired",
    "complaint",
    "death",
    "lawsuit",
    "stopped",
    "closed",
    "delisted",
    "manual",
)
#: Early recalls after which the case is not placed again unless named.
EARLY_REASONS: Final = ("complaint", "death", "lawsuit")
DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366
_CHUNK: Final = 900


@dataclass
class BatchResult:
    """What a placement batch did."""

    batch: PlacementBatch
    placements: list[Placement] = field(default_factory=list)
    tasks_done: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        by_agency: dict[str, int] = {}
        for p in self.placements:
            by_agency[str(p.agency_id)] = by_agency.get(str(p.agency_id), 0) + 1
        return {
            "placed": len(self.placements),
            "pending_notice": sum(p.status == "pending_notice" for p in self.placements),
            "active": sum(p.status == "active" for p in self.placements),
            "cancelled": sum(p.status == "cancelled" for p in self.placements),
            "by_agency": by_agency,
            "tasks_done": self.tasks_done,
            "skipped": dict(self.skipped),
        }


def live_placement(case_id: int, *, session: Session) -> Placement | None:
    """The case's pending or active placement, if any."""
    return session.scalars(
        select(Placement)
        .where(Placement.case_id == case_id, Placement.status.in_(LIVE))
        .order_by(Placement.id.desc())
    ).first()


def _chunks(values: list[int]) -> list[list[int]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def case_frame(case_ids: Sequence[int], *, session: Session) -> pl.DataFrame:
    """case_id, dpd (the case's worst), balance (overdue of its open accounts) and bucket (the bucket
    table on that dpd) of the given cases that have an open account."""
    rows: list[tuple[int, int, int]] = []
    for part in _chunks(sorted(set(case_ids))):
        rows.extend(
            (int(c or 0), int(d or 0), int(a or 0))
            for c, d, a in session.execute(
                select(
                    CollectionAccount.case_id,
                    func.max(CollectionAccount.dpd),
                    func.sum(CollectionAccount.overdue_amount),
                )
                .where(CollectionAccount.case_id.in_(part), CollectionAccount.status == "open")
                .group_by(CollectionAccount.case_id)
            )
        )
    frame = pl.DataFrame(
        rows, schema={"case_id": pl.Int64, "dpd": pl.Int64, "balance": pl.Int64}, orient="row"
    )
    inputs = frame.with_columns(
        missed_installments=pl.lit(0, pl.Int64),
        product_type=pl.lit("", pl.String),
        bucket_by_cycle=pl.lit(False),
    )
    out = rules.evaluate(inputs, rules.load_table(BUCKETS), rule_column="bucket_rule")
    return out.select("case_id", "dpd", "balance", "bucket").sort("case_id")


def check_not_agency(actor: AppUser | str, *, session: Session) -> str:
    """No sub-outsourcing: an agency's user never places a case. The actor's name for the ledger (a
    string is the command line's operator, the lender's)."""
    if isinstance(actor, str):
        return actor
    if "agency" in actor.role_names or agency_of_user(actor.id, session=session) is not None:
        raise SubOutsourcingError(
            "an agency cannot place or re-place cases (no sub-outsourcing) / 委外机构不得转委托案件",
            details={"username": actor.username},
        )
    return actor.username


def month_shares(month: str, agencies: Sequence[Agency], *, session: Session) -> dict[int, int]:
    """The shares (bp) of ``agencies`` for ``month`` (YYYY-MM): the stored ones (set by last month's
    ranking) when any of them has one, renormalised over those with a share > 0; else equal shares."""
    ids = [a.id for a in agencies]
    stored = dict(
        session.execute(
            select(AgencyShare.agency_id, AgencyShare.share_bp).where(
                AgencyShare.month == month, AgencyShare.agency_id.in_(ids)
            )
        ).all()
    )
    if stored:
        return {a: int(stored.get(a, 0)) for a in ids if stored.get(a, 0) > 0}
    n = len(ids)
    base = {a: 10_000 // n for a in ids}
    if ids:
        base[ids[0]] += 10_000 - sum(base.values())
    return base


def _candidates(*, session: Session) -> tuple[list[int], dict[int, list[int]]]:
    """Open, unstopped, unplaced cases with an open agency_placement task, not recalled early before;
    with the ids of those tasks per case."""
    tasks: dict[int, list[int]] = {}
    for tid, cid in session.execute(
        select(WorkTask.id, WorkTask.case_id).where(
            WorkTask.treatment == "agency_placement", WorkTask.status == "open", WorkTask.case_id.is_not(None)
        )
    ):
        tasks.setdefault(int(cid or 0), []).append(int(tid))
    ids = sorted(tasks)
    ok: list[int] = []
    for part in _chunks(ids):
        live = set(
            session.scalars(
                select(Placement.case_id).where(Placement.case_id.in_(part), Placement.status.in_(LIVE))
            )
        )
        early = set(
            session.scalars(
                select(Placement.case_id).where(
                    Placement.case_id.in_(part), Placement.end_reason.in_(EARLY_REASONS)
                )
            )
        )
        open_ = set(
            session.scalars(
                select(Case.id).where(Case.id.in_(part), Case.status == "open", Case.stopped.is_(False))
            )
        )
        ok.extend(c for c in part if c in open_ and c not in live and c not in early)
    return ok, {c: tasks[c] for c in ok}


def _named(case_ids: Sequence[int], *, session: Session) -> tuple[list[int], dict[int, list[int]]]:
    ids = sorted(set(case_ids))
    for cid in ids:
        case = session.get(Case, cid)
        if case is None:
            raise NotFoundError(f"no case {cid} / 案件 {cid} 不存在", details={"case_id": cid})
        if case.status != "open" or case.stopped:
            raise invalid("case_ids", cid, "is closed or stopped", "案件已结案或已停催")
        if live_placement(cid, session=session) is not None:
            raise invalid("case_ids", cid, "is placed already", "案件已委外")
    tasks: dict[int, list[int]] = {}
    for part in _chunks(ids):
        for tid, task_case in session.execute(
            select(WorkTask.id, WorkTask.case_id).where(
                WorkTask.case_id.in_(part),
                WorkTask.treatment == "agency_placement",
                WorkTask.status == "open",
            )
        ):
            tasks.setdefault(int(task_case or 0), []).append(int(tid))
    return ids, tasks


def do_place_batch(
    on: dt.date,
    *,
    session: Session,
    actor: AppUser | str,
    settings: Settings,
    case_ids: Sequence[int] | None = None,
    agencies: Sequence[str] | None = None,
    seed: int | None = None,
    days: int = DEFAULT_DAYS,
    bands: Sequence[int] = DEFAULT_BANDS,
    cipher: PiiCipher | None = None,
) -> BatchResult:
    """Place a random, stratified batch on ``on`` (see the module docstring); the placements expire
    ``days`` days later. ``seed`` None draws one (recorded on the batch, so the batch can be re-drawn)."""
    who = check_not_agency(actor, session=session)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise invalid("days", days, f"must be 1–{MAX_DAYS}", f"委外期限须为 1–{MAX_DAYS} 天")
    band_ranges(bands)  # checks the edges
    from recoup.agencies.register import get_agency, list_agencies

    chosen = (
        [get_agency(c, session=session) for c in agencies]
        if agencies
        else [a for a in list_agencies(session=session) if a.status == "whitelisted"]
    )
    if agencies:
        for a in chosen:
            check_eligible(a, on, session=session)
    else:
        chosen = [a for a in chosen if not eligibility(a, on, session=session)]
    if not chosen:
        raise NothingToPlaceError(
            "no agency may receive placements today (white list, review, contracts, staff)"
            " / 当日无可接案的委外机构",
            details={"as_of": on.isoformat()},
        )
    shares = month_shares(on.strftime("%Y-%m"), chosen, session=session)
    chosen = [a for a in chosen if a.id in shares]
    if not chosen:
        raise NothingToPlaceError(
            "every chosen agency has a zero share this month / 所选机构本月份额均为 0",
            details={"month": on.strftime("%Y-%m")},
        )
    ids, tasks = _named(case_ids, session=session) if case_ids else _candidates(session=session)
    need_notice = notice_required(settings, session=session)
    unreachable: list[int] = []
    if need_notice:  # no notice, no placement: such cases stay with the lender (their tasks stay open)
        reachable = notice_reachable(ids, session=session)
        unreachable = [c for c in ids if c not in reachable]
        ids = [c for c in ids if c in reachable]
    cases = case_frame(ids, session=session)
    if cases.is_empty():
        why = (
            f"; {len(unreachable)} case(s) have no mobile or email for the borrower's notice (CN-OUTSRC)"
            if unreachable
            else ""
        )
        raise NothingToPlaceError(
            f"no case to place: no open agency_placement task on an unplaced case{why} / 没有待委外的案件",
            details={"as_of": on.isoformat(), "no_notice_destination": unreachable[:100]},
        )
    used_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    dealt = place_stratified(
        cases.select("case_id", "bucket", "balance"),
        pl.DataFrame(
            {"agency_id": list(shares), "share_bp": list(shares.values())},
            schema={"agency_id": pl.Int64, "share_bp": pl.Int64},
        ),
        seed=used_seed,
        bands=bands,
    )
    by_id = {a.id: a for a in chosen}
    batch = PlacementBatch(
        as_of=on,
        expires_on=on + dt.timedelta(days=days),
        seed=used_seed,
        source="cases" if case_ids else "tasks",
        bands=list(bands),
        shares={by_id[a].code: bp for a, bp in shares.items()},
        notice_required=need_notice,
        created_by=who,
    )
    session.add(batch)
    session.flush()
    result = BatchResult(batch)
    if unreachable:
        result.skipped["no notice destination"] = len(unreachable)
    c = (cipher or cipher_from_settings(settings)) if need_notice else None
    balance = dict(cases.select("case_id", "balance").iter_rows())
    now = utcnow()
    for row in dealt.iter_rows(named=True):
        case = session.get(Case, row["case_id"])
        assert case is not None
        agency = by_id[row["agency_id"]]
        p = Placement(
            batch_id=batch.id,
            case_id=case.id,
            agency_id=agency.id,
            status="pending_notice",
            bucket=row["bucket"],
            band=row["band"],
            placed_amount=int(balance[case.id]),
            placed_on=on,
            expires_on=batch.expires_on,
            previous_holder_id=case.holder_id,
        )
        session.add(p)
        session.flush()
        if c is not None:
            notice = do_queue_notice(
                placement_id=p.id,
                case_id=case.id,
                borrower_id=case.borrower_id,
                agency_name=agency.name,
                on=on,
                session=session,
                settings=settings,
                cipher=c,
            )
            p.notice_key = notice.key
            if notice.key is None:
                p.status, p.ended_on, p.end_reason, p.end_note = (
                    "cancelled",
                    on,
                    "notice",
                    notice.problem or "",
                )
                result.skipped["no notice"] = result.skipped.get("no notice", 0) + 1
        else:
            activate(p, case, on=on, session=session, actor=who)
        result.placements.append(p)
        if p.status != "cancelled":
            for tid in tasks.get(case.id, []):
                session.execute(
                    update(WorkTask)
                    .where(WorkTask.id == tid, WorkTask.status == "open")
                    .values(
                        status="done",
                        result="placed",
                        done_at=now,
                        note=f"placement {p.id} · {agency.code}",
                        updated_at=now,
                    )
                )
                result.tasks_done += 1
    batch.counts = result.counts()
    session.flush()
    do_append(
        "agency.batch",
        {
            "batch_id": batch.id,
            "as_of": on.isoformat(),
            "seed": used_seed,
            "shares": batch.shares,
            "notice_required": need_notice,
            "placed": len(result.placements),
        },
        session=session,
        actor=who,
    )
    return result
