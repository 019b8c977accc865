"""The case lifecycle: every edge of the transition table walked from intake on a real database,
every invalid move refused with the allowed list, permissions, history rows, ledger entries,
deadlines, the overdue query and the migration's backfill."""

from __future__ import annotations

import datetime as dt
from collections import deque
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from recoup import migrate
from recoup.cases import lifecycle
from recoup.cases.lifecycle import (
    CLOSE_REASON_PERMISSION,
    DEADLINE_DAYS,
    TRANSITIONS,
    CaseState,
    CloseReason,
    InvalidTransitionError,
    TransitionForbiddenError,
    TransitionRequirementError,
    allowed_from,
    check_transition,
)
from recoup.cases.models import Case
from recoup.cases.service import _enter, do_transition, list_transitions, overdue_cases
from recoup.db import make_engine
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import Borrower

S = CaseState
ALL = frozenset({"*"})
# 20:00 UTC is the next morning in Shanghai: business dates follow the lender's timezone.
NOW = dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 12, 2)

Config = tuple[CaseState, CloseReason | None]
Step = tuple[CaseState, CloseReason | None]


def _moves(config: Config) -> list[tuple[CaseState, CloseReason | None]]:
    """Every (target, close reason) the table allows from ``config``."""
    state, current = config
    out: list[tuple[CaseState, CloseReason | None]] = []
    for to in allowed_from(state, current):
        edge = TRANSITIONS[(state, to)]
        out.extend((to, r) for r in sorted(edge.close_reasons)) if edge.close_reasons else out.append(
            (to, None)
        )
    return out


def _after(config: Config, to: CaseState, reason: CloseReason | None) -> Config:
    if to == S.CLOSED:
        return (to, reason)
    return (to, config[1] if to == S.ARCHIVED else None)


def _shortest_paths() -> dict[Config, list[Step]]:
    """Breadth-first from intake: the shortest walk reaching each reachable (state, close reason)."""
    start: Config = (S.INTAKE, None)
    paths: dict[Config, list[Step]] = {start: []}
    queue = deque([start])
    while queue:
        config = queue.popleft()
        for to, reason in _moves(config):
            nxt = _after(config, to, reason)
            if nxt not in paths:
                paths[nxt] = [*paths[config], (to, reason)]
                queue.append(nxt)
    return paths


PATHS = _shortest_paths()
#: One walk per edge and close reason: the shortest path to the edge's source, then the edge.
WALKS = sorted(
    {tuple([*PATHS[config], move]) for config in PATHS for move in _moves(config)},
    key=lambda w: (len(w), [(str(s), str(r)) for s, r in w]),
)


def _case(session: Session, key: str) -> Case:
    b = Borrower(external_id=key, name="张三", timezone="Asia/Shanghai")
    session.add(b)
    session.flush()
    case = Case(borrower_id=b.id, opened_on=TODAY, status="open", grade=1, grade_rule="r1")
    _enter(case, S.INTAKE, None, now=NOW, on=TODAY)
    session.add(case)
    session.flush()
    return case


def _walk(session: Session, case: Case, steps: list[Step] | tuple[Step, ...]) -> None:
    for i, (to, reason) in enumerate(steps):
        do_transition(
            case.id,
            to,
            session=session,
            actor="alice",
            permissions=ALL,
            reason=f"step {i}",
            close_reason=reason,
            now=NOW + dt.timedelta(minutes=i),
        )


# --- the table itself ---------------------------------------------------------------------------


def test_every_state_and_edge_is_reachable_and_walked() -> None:
    assert {s for s, _ in PATHS} == set(CaseState)
    walked = {(w[-2][0] if len(w) > 1 else S.INTAKE, w[-1][0]) for w in WALKS}
    assert walked == set(TRANSITIONS)
    # every close reason ends some walk; written off leaves the case collectable
    assert {w[-1][1] for w in WALKS if w[-1][0] == S.CLOSED} == set(CloseReason)
    assert set(DEADLINE_DAYS) == set(CaseState)
    for edge in TRANSITIONS.values():
        assert edge.permission in lifecycle_permissions()


def lifecycle_permissions() -> set[str]:
    from recoup.auth.service import PERMISSIONS

    return set(PERMISSIONS)


def test_default_roles_can_walk_what_they_should() -> None:
    from recoup.auth.service import DEFAULT_ROLES

    manager, collector = DEFAULT_ROLES["manager"], DEFAULT_ROLES["collector"]
    for perm in ("case.legal", "case.close", "case.archive", "case.assign"):
        assert lifecycle.holds(manager, perm)
        assert not lifecycle.holds(collector, perm)
    assert lifecycle.holds(collector, "case.work")
    assert lifecycle.holds(["case.*"], "case.close") and lifecycle.holds(["*"], "legal.manage")


@pytest.mark.parametrize("config", sorted(PATHS, key=str), ids=lambda c: f"{c[0]}-{c[1]}")
def test_every_invalid_pair_is_refused_with_the_allowed_list(config: Config) -> None:
    state, current = config
    allowed = allowed_from(state, current)
    for to in [*CaseState, "nowhere"]:
        if to in allowed:
            continue
        with pytest.raises(InvalidTransitionError) as err:
            check_transition(
                state, to, permissions=ALL, reason="x", close_reason=None, current_close_reason=current
            )
        assert err.value.code == "case.invalid_transition" and err.value.http_status == 409
        assert err.value.details == {"from": state, "to": str(to), "allowed": [str(s) for s in allowed]}
        assert err.value.envelope()["error"]["details"]["allowed"] == [str(s) for s in allowed]


def test_permissions_per_edge_and_close_reason() -> None:
    for (frm, to), edge in TRANSITIONS.items():
        current = next(iter(edge.when_closed_as)) if edge.when_closed_as else None
        for reason in sorted(edge.close_reasons) or [None]:
            needed = {edge.permission} | (
                {CLOSE_REASON_PERMISSION[reason]} if reason in CLOSE_REASON_PERMISSION else set()
            )
            kw = {"reason": "why", "close_reason": reason, "current_close_reason": current}
            check_transition(frm, to, permissions=needed, **kw)  # type: ignore[arg-type]
            for missing in needed:
                with pytest.raises(TransitionForbiddenError) as err:
                    check_transition(frm, to, permissions=needed - {missing}, **kw)  # type: ignore[arg-type]
                assert err.value.details["permission"] == missing and err.value.http_status == 403


def test_requirements_reason_and_close_reason() -> None:
    with pytest.raises(TransitionRequirementError, match="reason"):
        check_transition(S.INTAKE, S.ALLOCATED, permissions=ALL, reason="  ")
    with pytest.raises(TransitionRequirementError):
        check_transition(S.INTAKE, S.ALLOCATED, permissions=ALL, reason="x" * 501)
    with pytest.raises(TransitionRequirementError) as err:
        check_transition(S.NEGOTIATION, S.CLOSED, permissions=ALL, reason="done")
    assert err.value.details["missing"] == "close_reason"
    # settled only ends a settlement; a write-off needs collection to have been tried
    with pytest.raises(TransitionRequirementError):
        check_transition(S.NEGOTIATION, S.CLOSED, permissions=ALL, reason="x", close_reason="settled")
    with pytest.raises(TransitionRequirementError):
        check_transition(S.INTAKE, S.CLOSED, permissions=ALL, reason="x", close_reason="written_off")
    with pytest.raises(TransitionRequirementError):
        check_transition(S.INTAKE, S.ALLOCATED, permissions=ALL, reason="x", close_reason="paid")
    # written off: collectable, reopenable, never archived; other closed cases only archive
    assert allowed_from(S.CLOSED, "written_off") == [S.NEGOTIATION, S.LEGAL, S.CLOSED]
    assert allowed_from(S.CLOSED, "paid") == [S.ARCHIVED]
    assert allowed_from(S.ARCHIVED) == []
    assert lifecycle.is_collectable(S.CLOSED, "written_off") and not lifecycle.is_collectable(
        S.CLOSED, "paid"
    )


def test_deadlines() -> None:
    day = dt.date(2026, 1, 31)
    assert lifecycle.deadline(S.INTAKE, day) == dt.date(2026, 2, 1)
    assert lifecycle.deadline(S.EARLY_COLLECTION, day) == dt.date(2026, 3, 2)
    assert lifecycle.deadline(S.CLOSED, day, "written_off") == day + dt.timedelta(days=180)
    assert lifecycle.deadline(S.ARCHIVED, day) is None


# --- on the database ----------------------------------------------------------------------------


def test_walk_every_edge_from_intake(session: Session) -> None:
    for n, walk in enumerate(WALKS):
        case = _case(session, f"LC-W{n}")
        _walk(session, case, walk)
        session.refresh(case)
        last, reason = walk[-1]
        assert case.state == last
        if last == S.CLOSED:
            assert case.close_reason == reason and case.closed_on == TODAY
            assert case.status == ("open" if reason == "written_off" else "closed")
        elif last == S.ARCHIVED:
            assert case.status == "closed" and case.state_due is None
        else:
            assert case.status == "open" and case.close_reason is None and case.closed_on is None
        assert case.state_since == NOW + dt.timedelta(minutes=len(walk) - 1)
        assert case.state_due == lifecycle.deadline(last, TODAY, case.close_reason)
        rows = list_transitions(case.id, session=session)
        assert [(r.to_state, r.close_reason) for r in rows] == [(str(s), r) for s, r in walk]
        assert [r.from_state for r in rows] == [S.INTAKE] + [str(s) for s, _ in walk[:-1]]
        assert all(r.actor == "alice" and r.at.tzinfo is not None for r in rows)
        entries = session.scalars(
            select(LedgerEntry).where(LedgerEntry.kind == "case.transition").order_by(LedgerEntry.seq)
        ).all()
        mine = [e.payload for e in entries if e.payload["case_id"] == case.id]
        assert mine == [
            {
                "case_id": case.id,
                "transition_id": r.id,
                "from": r.from_state,
                "to": r.to_state,
                "close_reason": r.close_reason,
            }
            for r in rows
        ]


def test_invalid_and_forbidden_moves_change_nothing(session: Session) -> None:
    for n, (config, path) in enumerate(sorted(PATHS.items(), key=lambda kv: str(kv[0]))):
        case = _case(session, f"LC-I{n}")
        _walk(session, case, path)
        before = (case.state, case.state_due, len(list_transitions(case.id, session=session)))
        allowed = [str(s) for s in allowed_from(*config)]
        for to in CaseState:
            if to in allowed:
                continue
            with pytest.raises(InvalidTransitionError) as err:
                do_transition(case.id, to, session=session, actor="bob", permissions=ALL, reason="try")
            assert err.value.details["allowed"] == allowed
        assert (case.state, case.state_due, len(list_transitions(case.id, session=session))) == before
    case = _case(session, "LC-F")
    with pytest.raises(TransitionForbiddenError):
        do_transition(
            case.id, S.ALLOCATED, session=session, actor="bob", permissions={"case.work"}, reason="x"
        )
    do_transition(case.id, S.ALLOCATED, session=session, actor="bob", permissions={"case.assign"}, reason="x")
    assert case.state == S.ALLOCATED


def test_overdue_cases(session: Session) -> None:
    fresh = _case(session, "LC-O1")  # intake on TODAY, due the day after
    later = _case(session, "LC-O2")
    _walk(session, later, [(S.ALLOCATED, None), (S.EARLY_COLLECTION, None)])  # due TODAY + 30
    archived = _case(session, "LC-O3")
    _walk(session, archived, [(S.CLOSED, CloseReason.PAID), (S.ARCHIVED, None)])
    mine = {fresh.id, later.id, archived.id}

    def overdue(day: dt.date) -> list[int]:
        return [c.id for c in overdue_cases(day, session=session) if c.id in mine]

    assert overdue(TODAY + dt.timedelta(days=1)) == []  # the due day itself is still in time
    assert overdue(TODAY + dt.timedelta(days=2)) == [fresh.id]
    assert overdue(TODAY + dt.timedelta(days=31)) == [fresh.id, later.id]
    assert overdue(TODAY + dt.timedelta(days=3650)) == [fresh.id, later.id]  # archived: no deadline


def test_migration_backfills_state(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(eng, "0013")
    with eng.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO borrower (id, external_id, name, updated_at) VALUES (1, 'B1', 'x', '2026-01-01')"
            )
        )
        rows = [
            (1, "open", None, None, "2026-11-01"),
            (2, "closed", "2026-11-05", "paid_off", "2026-11-01"),
            (3, "closed", "2026-11-06", "cured", "2026-11-02"),
        ]
        for cid, status, closed_on, reason, opened in rows:
            conn.execute(
                text(
                    "INSERT INTO collection_case (id, borrower_id, status, grade, grade_rule, opened_on,"
                    " closed_on, close_reason, config_version, updated_at)"
                    " VALUES (:i, 1, :s, 1, 'r', :o, :c, :r, '', '2026-11-01')"
                ),
                {"i": cid, "s": status, "o": opened, "c": closed_on, "r": reason},
            )
    migrate.upgrade(eng)
    with Session(eng) as s:
        got = {
            c.id: (c.state, c.close_reason, c.state_since, c.state_due)
            for c in s.scalars(select(Case).order_by(Case.id))
        }
    assert got == {
        1: ("intake", None, dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.date(2026, 11, 2)),
        2: (
            "closed",
            "paid",
            dt.datetime(2026, 11, 5, tzinfo=dt.UTC),
            dt.date(2026, 11, 5) + dt.timedelta(90),
        ),
        3: (
            "closed",
            "cured",
            dt.datetime(2026, 11, 6, tzinfo=dt.UTC),
            dt.date(2026, 11, 6) + dt.timedelta(90),
        ),
    }
    eng.dispose()
