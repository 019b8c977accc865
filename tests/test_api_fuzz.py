"""The API under generated requests (schemathesis on /openapi.json, a manager's token): at least 1,000
requests over every operation, no 5xx, and every 4xx in the one error envelope. Runs on SQLite and, when
RECOUP_TEST_PG_URL is set, on PostgreSQL (each request a savepoint of the test's rolled-back session)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_phone, make_task, make_user, token_for
from recoup.cases.models import Case
from recoup.cases.work_models import AssistRequest, CaseStop, FieldVisit
from recoup.config import Settings
from recoup.resolutions.ask import do_request
from recoup.resolutions.models import Resolution, ResolutionDocument
from recoup.strategy.models import WorkTask

#: Generated requests per operation; with every operation of the API this is well over 1,000 (the
#: acceptance figure, on SQLite). PostgreSQL runs the same checks on a third as many (make test's time).
PER_OPERATION = {"sqlite": 30, "postgresql": 10}
MINIMUM_REQUESTS = {"sqlite": 1_000, "postgresql": 300}


def _envelope_problem(status: int, body: bytes) -> str | None:
    """Why a 4xx body is not the error envelope (None when it is)."""
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return "not JSON"
    if not isinstance(doc, dict) or set(doc) != {"error"} or not isinstance(doc["error"], dict):
        return f"not the envelope: {str(doc)[:200]}"
    err = doc["error"]
    if set(err) != {"code", "message", "details"} or not err["code"] or not err["message"]:
        return f"incomplete envelope: {str(err)[:200]}"
    return None


#: Path parameters that name rows: half the generated requests use a row that exists right now, so the
#: fuzz reaches the routes' logic instead of stopping at 404.
ROWS: dict[str, Any] = {
    "case_id": Case,
    "task_id": WorkTask,
    "stop_id": CaseStop,
    "assist_id": AssistRequest,
    "visit_id": FieldVisit,
    "resolution_id": Resolution,
    "document_id": ResolutionDocument,
}


def _fuzz(
    session: Session,
    operation: Any,
    auth: dict[str, str],
    per_op: dict[str, Counter[int]],
    failures: list[str],
    examples: int = PER_OPERATION["sqlite"],
) -> None:
    """Send ``examples`` generated requests to one operation, noting statuses and failures."""

    @given(case=operation.as_strategy(), real=st.booleans(), pick=st.integers(0, 1_000))
    @hsettings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, real: bool, pick: int) -> None:
        # The schema declares the bearer scheme, so a token is generated too: use the manager's.
        case.headers = {**(case.headers or {}), **auth}
        for name, model in ROWS.items():
            if real and case.path_parameters and name in case.path_parameters:
                ids = session.scalars(select(model.id).order_by(model.id)).all()
                if ids:
                    case.path_parameters[name] = ids[pick % len(ids)]
        response = case.call()
        per_op[f"{case.method} {operation.path}"][response.status_code] += 1
        label = f"{case.method} {case.formatted_path}"
        if response.status_code >= 500:
            failures.append(f"{label}: {response.status_code} {response.content[:300]!r}")
        elif response.status_code >= 400:
            problem = _envelope_problem(response.status_code, response.content)
            if problem:
                failures.append(f"{label}: {response.status_code} {problem}")

    run()


def test_generated_requests_never_crash_and_errors_use_the_envelope(
    session: Session, settings: Settings
) -> None:
    dialect = session.get_bind().dialect.name
    manager = make_user(session, "manager")
    collector = make_user(session, "collector")
    for _ in range(3):
        case = make_case(session, holder=collector)
        make_phone(session, case)
        make_task(session, case)
    # A pending waiver and an approved plan with its agreement, so the resolution routes reach their logic.
    do_request(case, collector, kind="waiver", waive=10_000, session=session, settings=settings)
    planned = make_case(session, holder=collector)
    do_request(planned, manager, kind="plan", instalments=3, session=session, settings=settings)
    auth = {"Authorization": f"Bearer {token_for(session, manager)}"}
    with api_client(session, settings) as client:
        app = client.app
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=auth)
        per_op: dict[str, Counter[int]] = defaultdict(Counter)
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 30, "the API lost operations?"
        for operation in operations:
            # A fresh token per operation: generated calls may revoke tokens (DELETE /auth/tokens/{id}).
            auth = {"Authorization": f"Bearer {token_for(session, manager)}"}
            _fuzz(session, operation, auth, per_op, failures, PER_OPERATION[dialect])
        statuses = sum(per_op.values(), Counter())
    total = sum(statuses.values())
    for op_label, seen in sorted(per_op.items()):
        print(op_label, dict(seen))
    print(f"{total} generated requests over {len(operations)} operations; statuses {dict(statuses)}")
    assert not failures, "\n".join(failures[:20])
    assert total >= MINIMUM_REQUESTS[dialect]
    assert any(200 <= s < 300 for s in statuses), "no generated request ever succeeded"


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-s"])
