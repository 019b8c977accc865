"""The legal routes under generated requests with the roles that may use them (the suite-wide fuzz uses a
manager's token, which most legal routes refuse with 403): a legal officer on every legal operation and a
manager on the approvals, with real matters, write-offs and sales in the database half the time. No 5xx,
and every 4xx in the error envelope."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
import schemathesis
from sqlalchemy.orm import Session

import test_api_fuzz
from floor_factories import api_client, make_case, make_task, make_user, token_for
from legal_factories import add_address, add_schedule
from recoup.config import Settings
from recoup.legal.matters import do_open_matter
from recoup.legal.models import DebtSale, LegalDeadline, LegalMatter, WriteOff
from recoup.legal.sales import do_create_sale
from recoup.legal.writeoffs import do_request_write_off

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_legal_routes_under_generated_requests(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    lawyer, manager = make_user(session, "legal"), make_user(session, "manager")
    for i in range(3):
        case = make_case(session, state="early_collection")
        add_schedule(session, case, last_due=dt.date(2026, 6, 1) - dt.timedelta(days=400 * i))
        add_address(session, case)
        make_task(session, case, treatment="legal_review")
    matter_case = make_case(session, state="negotiation")
    do_open_matter(matter_case, session=session, actor=lawyer, reason="fuzz", settings=settings)
    wo_case = make_case(session, state="negotiation")
    add_schedule(session, wo_case, last_due=dt.date(2026, 1, 1))
    do_request_write_off(wo_case, session=session, actor=lawyer, reason="fuzz", settings=settings)
    sale_case = make_case(session, state="negotiation")
    today = dt.datetime.now(settings.tz).date()
    do_create_sale(
        session=session,
        actor=lawyer,
        buyer="AMC",
        cutoff_date=today,
        transfer_date=today,
        case_ids=[sale_case.id],
        settings=settings,
    )
    for name, model in (
        ("matter_id", LegalMatter),
        ("write_off_id", WriteOff),
        ("sale_id", DebtSale),
        ("deadline_id", LegalDeadline),
    ):
        monkeypatch.setitem(test_api_fuzz.ROWS, name, model)
    per_op: dict[str, Counter[int]] = defaultdict(Counter)
    failures: list[str] = []
    with api_client(session, settings) as client:
        docs = {"Authorization": f"Bearer {token_for(session, manager)}"}  # api.docs reads the schema
        schema = schemathesis.openapi.from_asgi("/openapi.json", client.app, headers=docs)
        operations = [r.ok() for r in schema.get_all_operations()]
        mine = [
            op
            for op in operations
            if op.path.startswith("/api/v1/legal")
            or op.path.endswith(("/legal-matters", "/limitation", "/limitation-events", "/write-offs"))
        ]
        assert len(mine) >= 25
        for op in mine:
            user = manager if op.path.endswith(("/approve", "/reject", "/recoveries")) else lawyer
            test_api_fuzz._fuzz(
                session, op, {"Authorization": f"Bearer {token_for(session, user)}"}, per_op, failures
            )
    statuses = sum(per_op.values(), Counter())
    print(dict(statuses))
    assert not failures, "\n".join(failures[:20])
    assert sum(statuses.values()) >= 25 * 20
    assert any(200 <= s < 300 for s in statuses)
