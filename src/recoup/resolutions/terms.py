"""The terms of a proposed plan, waiver or settlement, and what the approval matrix says of them.

:func:`case_terms` reads what the case owes (per component, on the overdue or the whole balance) with its
bucket and product; :func:`propose` turns a request (pay X, or waive Y, in N instalments) into
:class:`Terms` (the waiver split penalty → fee → interest → principal, the schedule from
:func:`recoup.money.schedule`); :func:`assess` asks the matrix which role must approve them and
:func:`pack_misfits` whether a pre-approved pack covers them. Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup import rules
from recoup.cases import lifecycle
from recoup.configs.cache import latest_built, latest_stamp
from recoup.delinquency.tables import BUCKETS
from recoup.errors import MoneyError, RecoupError
from recoup.money import schedule
from recoup.portfolio.models import AccountInstallment, CollectionAccount
from recoup.resolutions.kernel import InstalmentDue, owed, split_waiver
from recoup.resolutions.matrix import BASES, COMPONENTS, KINDS, Matrix, Pack

__all__ = [
    "Assessment",
    "CaseTerms",
    "ResolutionRefusedError",
    "Terms",
    "assess",
    "case_terms",
    "case_terms_on",
    "pack_misfits",
    "propose",
    "state_path",
]

#: The case state each kind puts the case in once approved (a waiver leaves the state as it is).
TARGET_STATE: Final = {"plan": lifecycle.CaseState.PLAN, "settlement": lifecycle.CaseState.SETTLEMENT}
#: The permissions the system acts with when an approval the matrix allowed moves the case.
APPROVAL_PERMISSIONS: Final = frozenset({"case.work", "plan.approve"})


class ResolutionRefusedError(RecoupError):
    """A request breaks a rule; ``details["rule"]`` names it."""

    code = "resolution.refused"
    http_status = 422
    exit_code = 65  # EX_DATAERR


def refuse(rule: str, message: str, **details: Any) -> ResolutionRefusedError:
    return ResolutionRefusedError(message, details={"rule": rule, **details})


@dataclass(frozen=True)
class CaseTerms:
    """What a case owes on ``base`` as of ``as_of``, and what the matrix is asked about."""

    case_id: int
    base: str
    as_of: dt.date
    owed: dict[str, int]
    bucket: str
    product: str
    product_type: str
    currency: str
    max_dpd: int
    loans: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(self.owed.values())


def _bucket_table(session: Session) -> rules.DecisionTable:
    saved = latest_built(
        "decision_table", "bucket", session=session, build=lambda payload, _v: rules.load_table(payload)
    )
    return saved if saved is not None else _builtin_buckets()


@functools.cache
def _builtin_buckets() -> rules.DecisionTable:
    return rules.load_table(BUCKETS)


#: (bucket table version, dpd, product type) → bucket: the evaluator builds a frame for one row, which
#: costs milliseconds a page would pay per request for an answer that depends on these alone.
_BUCKETS: dict[tuple[tuple[int, str] | None, int, str], str] = {}


def _bucket_of(session: Session, dpd: int, product_type: str) -> str:
    key = (latest_stamp("decision_table", "bucket", session=session), dpd, product_type)
    found = _BUCKETS.get(key)
    if found is None:
        frame = pl.DataFrame(
            {
                "dpd": [dpd],
                "missed_installments": [0],
                "product_type": [product_type],
                "bucket_by_cycle": [False],
            }
        )
        found = str(rules.evaluate(frame, _bucket_table(session)).item(0, "bucket") or "C")
        if len(_BUCKETS) > 4096:
            _BUCKETS.clear()
        _BUCKETS[key] = found
    return found


def case_terms(case_id: int, *, base: str, session: Session, as_of: dt.date) -> CaseTerms:
    """The balance of the case's open accounts (the mirror of the last extract) per component."""
    return case_terms_on((base,), case_id, session=session, as_of=as_of)[base]


def case_terms_on(
    bases: Sequence[str],
    case_id: int,
    *,
    session: Session,
    as_of: dt.date,
    accounts: Sequence[CollectionAccount] | None = None,
) -> dict[str, CaseTerms]:
    """:func:`case_terms` on each of ``bases``, the case read once (the case page shows both). A caller
    that has read the case's ``accounts`` with their instalments already passes them."""
    for base in bases:
        if base not in BASES:
            raise refuse("base", f"base {base!r} is not one of {', '.join(BASES)} / 基数无效", value=base)
    if accounts is None:
        accounts = list(
            session.scalars(
                select(CollectionAccount)
                .where(CollectionAccount.case_id == case_id, CollectionAccount.status == "open")
                .order_by(CollectionAccount.dpd.desc(), CollectionAccount.id)
            )
        )
        rows: Sequence[AccountInstallment] = session.scalars(
            select(AccountInstallment).where(AccountInstallment.account_id.in_([a.id for a in accounts]))
        ).all()
    else:
        accounts = sorted((a for a in accounts if a.status == "open"), key=lambda a: (-a.dpd, a.id))
        rows = [i for a in accounts for i in a.installments]
    if not accounts:
        raise refuse("no_account", "the case has no account in collections / 该案件没有在催账户")
    dues = [
        InstalmentDue(
            due_date=i.due_date,
            penalty=(i.penalty_due or 0) - (i.penalty_paid or 0),
            fee=(i.fee_due or 0) - (i.fee_paid or 0),
            interest=i.interest_due - (i.interest_paid or 0),
            principal=i.principal_due - (i.principal_paid or 0),
        )
        for i in rows
    ]
    worst = accounts[0]
    bucket = _bucket_of(session, worst.dpd, worst.product_type)
    out: dict[str, CaseTerms] = {}
    for base in bases:
        if rows:  # instalments due before the extract's date are overdue
            parts = owed(dues, as_of=min(a.as_of for a in accounts), base=base).as_dict()
        else:  # a mirror without a schedule: the overdue amount is all it tells (taken as principal)
            overdue = sum(a.overdue_amount for a in accounts)
            whole = max(sum(a.outstanding_principal for a in accounts), overdue)
            parts = {
                "penalty": 0,
                "fee": 0,
                "interest": 0,
                "principal": whole if base == "whole" else overdue,
            }
        out[base] = CaseTerms(
            case_id=case_id,
            base=base,
            as_of=as_of,
            owed=parts,
            bucket=bucket,
            product=worst.product_code,
            product_type=worst.product_type,
            currency=worst.currency,
            max_dpd=worst.dpd,
            loans=tuple(a.external_id for a in accounts),
        )
    return out


@dataclass(frozen=True)
class Instalment:
    seq: int
    due_date: dt.date
    amount: int


@dataclass(frozen=True)
class Terms:
    """A proposal: ``waived`` per component, the ``agreed`` sum (owed − waived) and its instalments
    (their sum is ``total_due``: the agreed sum plus a plan's interest)."""

    kind: str
    case: CaseTerms
    waived: dict[str, int]
    agreed: int
    instalments: tuple[Instalment, ...]
    grace_days: int
    lag_days: int

    @property
    def waived_total(self) -> int:
        return sum(self.waived.values())

    @property
    def total_due(self) -> int:
        return sum(i.amount for i in self.instalments)

    @property
    def deadline(self) -> dt.date:
        return self.instalments[-1].due_date


def propose(
    matrix: Matrix,
    case: CaseTerms,
    *,
    kind: str,
    today: dt.date,
    pay: int | None = None,
    waive: int | None = None,
    instalments: int = 1,
    first_due: dt.date | None = None,
    deadline: dt.date | None = None,
) -> Terms:
    """The terms of a request (amounts in minor units); :class:`ResolutionRefusedError` names the first
    rule it breaks: ``kind``, ``amount`` (give exactly one of pay / waive; a waiver must waive something;
    a settlement is on the whole balance), ``minimum``, ``deadline``, ``instalments``, ``first_due``."""
    if kind not in KINDS:
        raise refuse("kind", f"kind {kind!r} is not one of {', '.join(KINDS)} / 类型无效", value=kind)
    if kind == "settlement" and case.base != "whole":
        raise refuse("base", "a settlement is on the whole balance / 和解须针对全部欠款")
    if case.total <= 0:
        raise refuse("nothing_owed", "the case owes nothing on this base / 该基数下没有欠款")
    if kind != "plan" and (pay is None) == (waive is None):
        raise refuse(
            "amount", "give either the amount to pay or the amount to waive / 请填写应还金额或减免金额"
        )
    if pay is not None and waive is not None:
        raise refuse("amount", "give either the amount to pay or the amount to waive / 应还与减免只能填一项")
    waived_total = waive if waive is not None else (case.total - pay if pay is not None else 0)
    if not 0 <= waived_total <= case.total:
        raise refuse(
            "amount",
            f"the amount must lie between 0 and the balance {case.total} / 金额须在 0 与欠款之间",
            balance=case.total,
        )
    if kind == "waiver" and waived_total == 0:
        raise refuse("amount", "a waiver must waive something / 减免金额须大于 0")
    waived = split_waiver(case.owed, waived_total)
    agreed = case.total - waived_total
    if kind == "plan":
        if not 2 <= instalments <= matrix.plan_max_instalments:
            raise refuse(
                "instalments",
                f"a plan has 2 to {matrix.plan_max_instalments} instalments / 分期期数须为 2 至 "
                f"{matrix.plan_max_instalments} 期",
                max=matrix.plan_max_instalments,
            )
        first = first_due or today + dt.timedelta(days=7)
        if not today <= first <= today + dt.timedelta(days=matrix.plan_first_due_days):
            raise refuse(
                "first_due",
                f"the first instalment falls due within {matrix.plan_first_due_days} days / 首期还款日须在 "
                f"{matrix.plan_first_due_days} 天内",
                first_due=first.isoformat(),
            )
        try:
            rows = schedule(agreed, matrix.plan_rate_bp, instalments, matrix.plan_method, first_due=first)
        except MoneyError as exc:
            raise refuse("instalments", exc.message) from exc
        plan = tuple(Instalment(r.seq, r.due_date, r.total) for r in rows)
        if min(i.amount for i in plan) < matrix.min_instalment:
            raise refuse(
                "minimum",
                f"an instalment would be below the minimum {matrix.min_instalment} / 每期金额低于下限",
                minimum=matrix.min_instalment,
            )
        return Terms(kind, case, waived, agreed, plan, matrix.plan_grace_days, matrix.extract_lag_days)
    if agreed < matrix.min_payment:
        raise refuse(
            "minimum",
            f"the sum to pay is below the minimum {matrix.min_payment} / 应还金额低于下限",
            minimum=matrix.min_payment,
        )
    due = deadline or today + dt.timedelta(days=7)
    if not today <= due <= today + dt.timedelta(days=matrix.waiver_deadline_days):
        raise refuse(
            "deadline",
            f"the deadline must lie within {matrix.waiver_deadline_days} days / 还款期限须在 "
            f"{matrix.waiver_deadline_days} 天内",
            deadline=due.isoformat(),
        )
    return Terms(
        kind,
        case,
        waived,
        agreed,
        (Instalment(1, due, agreed),),
        matrix.waiver_grace_days,
        matrix.extract_lag_days,
    )


@dataclass(frozen=True)
class Line:
    """One line the matrix was asked about: a waived component (or the total) and the role it needs."""

    component: str
    amount: int
    pct_bp: int
    role: str
    rule: str


@dataclass(frozen=True)
class Assessment:
    """Which role must approve ``terms`` under ``matrix`` (the highest any line needs), and why."""

    matrix: str
    required_role: str
    required_rank: int
    lines: tuple[Line, ...] = field(default=())

    @property
    def rules(self) -> list[str]:
        return [f"{line.component}:{line.rule}" for line in self.lines]

    def deciding(self) -> Line | None:
        """The line that needs the required role (the first, in waiving order)."""
        return next((line for line in self.lines if line.role == self.required_role), None)


def _share(part: int, whole: int) -> int:
    """``part`` as basis points of ``whole`` (rounded up, so a share is never understated)."""
    return 10_000 if whole <= 0 else -(-part * 10_000 // whole)


def assess(matrix: Matrix, terms: Terms) -> Assessment:
    """Ask the matrix about every waived component, the total, and (for a plan) the plan itself."""
    case = terms.case
    wanted = [(c, terms.waived[c], case.owed[c]) for c in COMPONENTS if terms.waived[c] > 0]
    if wanted:
        wanted.append(("total", terms.waived_total, case.total))
    lines: list[Line] = []
    if wanted:
        frame = pl.DataFrame(
            {
                "kind": [terms.kind] * len(wanted),
                "bucket": [case.bucket] * len(wanted),
                "product": [case.product] * len(wanted),
                "product_type": [case.product_type] * len(wanted),
                "component": [w[0] for w in wanted],
                "amount": [w[1] for w in wanted],
                "pct_bp": [_share(w[1], w[2]) for w in wanted],
            },
            schema={
                "kind": pl.String,
                "bucket": pl.String,
                "product": pl.String,
                "product_type": pl.String,
                "component": pl.String,
                "amount": pl.Int64,
                "pct_bp": pl.Int64,
            },
        )
        for row in matrix.waiver_roles(frame).iter_rows(named=True):
            role = row["role"] or matrix.ladder[-1]
            lines.append(
                Line(row["component"], row["amount"], row["pct_bp"], role, row["waiver_rule"] or "default")
            )
    if terms.kind == "plan":
        role, rule = matrix.plan_role(
            bucket=case.bucket,
            product=case.product,
            product_type=case.product_type,
            base=case.base,
            instalments=len(terms.instalments),
        )
        lines.append(Line("plan", len(terms.instalments), 0, role, rule))
    if not lines:
        return Assessment(matrix.label, matrix.ladder[0], 1)
    top = max(lines, key=lambda line: matrix.rank(line.role))
    return Assessment(matrix.label, top.role, matrix.rank(top.role), tuple(lines))


def pack_misfits(pack: Pack, terms: Terms) -> list[str]:
    """Why ``terms`` fall outside the pre-approved ``pack`` (empty: they fit)."""
    case = terms.case
    out: list[str] = []
    if not pack.applies(
        kind=terms.kind, bucket=case.bucket, product=case.product, product_type=case.product_type
    ):
        out.append(f"the pack is for {pack.kind} in {', '.join(pack.buckets) or 'any bucket'}")
    if pack.base is not None and case.base != pack.base:
        out.append(f"the pack is on the {pack.base} balance")
    for c in COMPONENTS:
        if terms.waived[c] and c not in pack.components:
            out.append(f"the pack waives no {c}")
        elif terms.waived[c] and _share(terms.waived[c], case.owed[c]) > pack.max_pct_bp:
            out.append(f"{c} waived beyond {pack.max_pct_bp / 100:g}%")
    if terms.waived_total > pack.max_amount:
        out.append(f"more than {pack.max_amount} waived in all")
    if pack.deadline_days is not None and terms.deadline > case.as_of + dt.timedelta(days=pack.deadline_days):
        out.append(f"the deadline is later than {pack.deadline_days} days")
    if pack.max_instalments is not None and len(terms.instalments) > pack.max_instalments:
        out.append(f"more than {pack.max_instalments} instalments")
    return out


def state_path(state: str, close_reason: str | None, target: str) -> list[lifecycle.CaseState]:
    """The states a case in ``state`` passes through to reach ``target`` with the permissions an
    approval acts with (shortest path in the lifecycle table; empty when it is already there).
    :class:`ResolutionRefusedError` when the table has no such path (a case in legal, say)."""
    if state == target:
        return []
    frontier: list[tuple[str, str | None, list[lifecycle.CaseState]]] = [(state, close_reason, [])]
    seen = {state}
    while frontier:
        nxt: list[tuple[str, str | None, list[lifecycle.CaseState]]] = []
        for here, reason, path in frontier:
            for to in lifecycle.allowed_from(here, reason):
                edge = lifecycle.TRANSITIONS[(lifecycle.CaseState(here), to)]
                if edge.permission not in APPROVAL_PERMISSIONS or edge.close_reasons or to in seen:
                    continue
                if to == target:
                    return [*path, to]
                seen.add(to)
                nxt.append((to, None, [*path, to]))
        frontier = nxt
    raise refuse(
        "case_state",
        f"a case in {state} cannot move to {target} through an approval; move it to negotiation first"
        f" / 案件当前状态为 {state}，须先转入协商",
        state=state,
        target=str(target),
    )
