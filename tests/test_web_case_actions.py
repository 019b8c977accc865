"""The collector's case page beyond logging a call: the repayment schedules and payments, a templated
message previewed with the linter's findings, refused with a forbidden phrase and queued in the outbox
otherwise (with the contact policy's verdict now), assistance and field-visit requests, a callback at a
date and time, and another holder's case answering 404 to every action (TestClient, CSRF as the pages
tests do it)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_case, make_phone, make_task, make_team, make_user
from recoup.auth.models import AppUser
from recoup.cases.models import Case, WorkerProfile
from recoup.cases.work_models import AssistRequest, FieldVisit
from recoup.config import Settings
from recoup.configs.service import do_save_version
from recoup.contact import templates
from recoup.contact.models import OutboxMessage
from recoup.contact.vocab import Channel
from recoup.db import utcnow
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import AccountInstallment, AccountPayment, CollectionAccount, ContactPoint
from recoup.strategy.models import WorkTask
from recoup.web import pages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: The factories' borrower, in full (the page shows it masked).
NAME = "张三丰"


def _login(client: TestClient, username: str) -> None:
    pages.THROTTLE.succeeded(f"user:{username}", "ip:testclient")
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/queue"},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"},
    )
    assert r.status_code == 204, r.text


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or ""}


def _floor(session: Session, settings: Settings) -> tuple[AppUser, Case, Case]:
    """collector ``coll1`` holding a case with a phone, an email, a schedule and payments; ``coll2``'s case;
    the shipped templates active; two field agents and a skip-trace team."""
    mine_user = make_user(session, "collector", name="coll1")
    other = make_user(session, "collector", name="coll2")
    case = make_case(session, holder=mine_user, dpd=40, overdue=200_000)
    make_phone(session, case)
    session.add(
        ContactPoint(
            external_id=f"EM{case.id}",
            borrower_id=case.borrower_id,
            kind="email",
            value="zhang.sanfeng@example.com",
            role="self",
            consent_channels="email",
        )
    )
    acc = session.scalars(select(CollectionAccount).where(CollectionAccount.case_id == case.id)).one()
    today = utcnow().astimezone(settings.tz).date()
    for seq, (due, paid) in enumerate(((100_000, 100_000), (100_000, 40_000), (100_000, 0)), start=1):
        session.add(
            AccountInstallment(
                account_id=acc.id,
                seq=seq,
                due_date=today + dt.timedelta(days=30 * (seq - 2) - 10),
                principal_due=due - 12_345,
                interest_due=12_345,
                principal_paid=min(paid, due - 12_345),
                interest_paid=max(0, paid - (due - 12_345)),
            )
        )
    session.add(
        AccountPayment(
            external_id=f"P{case.id}",
            account_id=acc.id,
            received_date=today - dt.timedelta(days=20),
            amount=40_000,
            channel="alipay",
        )
    )
    make_task(session, case)
    theirs = make_case(session, holder=other)
    make_phone(session, theirs, value="13900139000")
    templates.do_install_defaults(session=session, actor="test", preset="cn", domains=settings.link_domains)
    for _ in range(2):
        agent = make_user(session, "field_agent")
        session.add(WorkerProfile(user_id=agent.id, kind="field_agent", pools=[], skills={}))
    make_team(session, "skip-trace")
    session.flush()
    return mine_user, case, theirs


def _forbidden_template(session: Session) -> None:
    """A template with a threat, active (as if the linter's lexicon grew after it was activated)."""
    tpl = templates.do_save_template(
        templates.MessageTemplate(
            "overdue_warning",
            Channel.SMS,
            "zh_CN",
            "{{ signature }}{{ borrower_name }}您好，逾期{{ amount_overdue }}，"
            "再不还款后果自负。{{ opt_out }}",
        ),
        session=session,
        actor="test",
    )
    do_save_version(templates.ACTIVATION, tpl.key, {"version": tpl.version}, session=session, created_by="t")


def test_the_case_page_shows_schedules_payments_and_the_policy_per_channel(
    session: Session, settings: Settings
) -> None:
    _user, case, _theirs = _floor(session, settings)
    with api_client(session, settings) as client:
        _login(client, "coll1")
        page = client.get(f"/cases/{case.id}")
        assert page.status_code == 200
        text = page.text
        assert "还款计划" in text and "已收还款" in text
        assert "¥1,000.00" in text and "¥400.00" in text  # an instalment due; the payment received
        assert "支付宝" in text
        assert "已逾期" in text and "已还清" in text and "未到期" in text  # instalment statuses
        for channel in ("call", "sms", "email"):
            assert f'data-channel="{channel}"' in text
        assert "13800138000" not in text and "zhang.sanfeng@example.com" not in text and NAME not in text
        assert "overdue_warning" not in text and "reminder" in text  # the active templates to choose from
        english = client.get("/lang/en?next=/queue")
        assert english.status_code == 200
        page = client.get(f"/cases/{case.id}").text
        assert "Repayment schedule" in page and "not yet due" in page and "Request assistance" in page


def test_a_preview_shows_the_linters_findings_and_a_forbidden_phrase_is_refused(
    session: Session, settings: Settings
) -> None:
    _user, case, _theirs = _floor(session, settings)
    _forbidden_template(session)
    with api_client(session, settings) as client:
        _login(client, "coll1")
        fine = client.get(
            f"/cases/{case.id}/message",
            params={"template": "reminder:sms", "locale": "zh_CN"},
            headers={"hx-request": "true"},
        )
        assert fine.status_code == 200 and "<html" not in fine.text  # the fragment only
        assert "未发现问题" in fine.text and "138****8000" in fine.text
        assert NAME not in fine.text and "张**" in fine.text  # masked on screen
        bad = client.get(
            f"/cases/{case.id}/message",
            params={"template": "overdue_warning:sms", "locale": "zh_CN"},
            headers={"hx-request": "true"},
        )
        assert "CN-CONTENT.threat" in bad.text and "不能排队发送" in bad.text
        # Without JavaScript the preview is the whole page with the form open.
        page = client.get(f"/cases/{case.id}/message", params={"template": "overdue_warning:sms"})
        assert page.status_code == 200 and "CN-CONTENT.threat" in page.text and "<html" in page.text
        refused = client.post(
            f"/cases/{case.id}/message",
            data={"template": "overdue_warning:sms", "locale": "zh_CN"},
            headers=_csrf(client),
        )
        assert refused.status_code == 422 and "flash error" in refused.text
        assert "CN-CONTENT.threat" in refused.text
        # htmx swaps only a 2xx answer: the same refusal reaches it as 200 with the error in the page.
        again = client.post(
            f"/cases/{case.id}/message",
            data={"template": "overdue_warning:sms"},
            headers=_csrf(client) | {"hx-request": "true"},
        )
        assert again.status_code == 200 and "flash error" in again.text
        unknown = client.post(
            f"/cases/{case.id}/message", data={"template": "nothing:sms"}, headers=_csrf(client)
        )
        assert unknown.status_code == 422 and "没有可用的模板" in unknown.text
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    audit = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "contact.message_refused")).all()
    assert audit and "CN-CONTENT.threat" in audit[0].payload["rules"]


def test_an_allowed_message_is_queued_in_the_outbox_with_the_policys_verdict(
    session: Session, settings: Settings
) -> None:
    _user, case, _theirs = _floor(session, settings)
    with api_client(session, settings) as client:
        _login(client, "coll1")
        r = client.post(
            f"/cases/{case.id}/message",
            data={"template": "reminder:sms", "locale": "zh_CN"},
            headers=_csrf(client),
        )
        assert r.status_code == 200, r.text
        assert "消息已排队发送" in r.text
        assert "联系策略当前允许" in r.text or "联系策略当前将其顺延至" in r.text
        dup = client.post(
            f"/cases/{case.id}/message", data={"template": "reminder:sms"}, headers=_csrf(client)
        )
        assert "该消息已排队" in dup.text  # a double click in the same minute queues nothing twice
        mail = client.post(
            f"/cases/{case.id}/message",
            data={"template": "reminder:email", "locale": "en"},
            headers=_csrf(client),
        )
        assert mail.status_code == 200 and "消息已排队发送" in mail.text
    rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.channel, m.status) for m in rows] == [("sms", "pending"), ("email", "pending")]
    sms, email = rows
    assert sms.template and sms.template.startswith("reminder:sms:zh_CN@")
    assert NAME in sms.body and "【recoup 示例金融】" in sms.body and sms.as_of is None
    assert sms.expires_at is not None and sms.decision == "case page · coll1"
    assert email.subject and email.locale == "en" and "Dear" in email.body
    audit = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "contact.message_queued")).all()
    assert [a.payload["outbox_id"] for a in audit] == [sms.id, email.id]
    assert audit[0].payload["verdict_now"] in ("allowed", "deferred")
    assert NAME not in str(audit[0].payload) and "13800138000" not in str(audit[0].payload)


def test_assistance_and_a_field_visit_are_requested_with_the_services_checks(
    session: Session, settings: Settings
) -> None:
    _user, case, _theirs = _floor(session, settings)
    agents = sorted(
        session.scalars(
            select(AppUser.username)
            .join(WorkerProfile, WorkerProfile.user_id == AppUser.id)
            .where(WorkerProfile.kind == "field_agent")
        )
    )
    today = utcnow().astimezone(settings.tz).date()
    with api_client(session, settings) as client:
        _login(client, "coll1")
        ok = client.post(
            f"/cases/{case.id}/assist",
            data={"kind": "skip_trace", "team": "skip-trace", "deadline": str(today + dt.timedelta(days=3))},
            headers=_csrf(client),
        )
        assert ok.status_code == 200 and "已发起协催" in ok.text
        late = client.post(
            f"/cases/{case.id}/assist",
            data={"kind": "legal", "team": "skip-trace", "deadline": str(today + dt.timedelta(days=90))},
            headers=_csrf(client),
        )
        assert late.status_code == 422 and "截止日期最多为 30 天后" in late.text
        assert "deadline is at most" not in late.text  # the service's message in the reader's language
        both = client.post(
            f"/cases/{case.id}/assist",
            data={"kind": "legal", "team": "skip-trace", "assignee": "coll2", "deadline": str(today)},
            headers=_csrf(client),
        )
        assert both.status_code == 422 and "二选一" in both.text
        visit = client.post(
            f"/cases/{case.id}/visit",
            data={
                "planned_on": str(today + dt.timedelta(days=1)),
                "address_lat": "31.2304",
                "address_lon": "121.4737",
                "agent1": agents[0],
                "agent2": agents[1],
            },
            headers=_csrf(client),
        )
        assert visit.status_code == 200 and "外访申请已提交" in visit.text
        same = client.post(
            f"/cases/{case.id}/visit",
            data={
                "planned_on": str(today + dt.timedelta(days=1)),
                "address_lat": "31.2304",
                "address_lon": "121.4737",
                "agent1": agents[0],
                "agent2": agents[0],
            },
            headers=_csrf(client),
        )
        assert same.status_code == 422 and "两名不同人员" in same.text
        page = client.get(f"/cases/{case.id}").text
        assert "失联修复" in page and "待审批" in page
    assists = session.scalars(select(AssistRequest).where(AssistRequest.case_id == case.id)).all()
    assert [(a.kind, a.status, a.requested_by) for a in assists] == [("skip_trace", "open", "coll1")]
    visits = session.scalars(select(FieldVisit).where(FieldVisit.case_id == case.id)).all()
    assert [(v.status, v.requested_by, v.address_lat) for v in visits] == [("requested", "coll1", 31.2304)]


def test_a_callback_is_a_task_for_the_holder_at_the_agreed_time(session: Session, settings: Settings) -> None:
    user, case, _theirs = _floor(session, settings)
    tomorrow = utcnow().astimezone(settings.tz).date() + dt.timedelta(days=1)
    with api_client(session, settings) as client:
        _login(client, "coll1")
        r = client.post(
            f"/cases/{case.id}/callback",
            data={"on": str(tomorrow), "at": "15:30", "note": "下午方便"},
            headers=_csrf(client),
        )
        assert r.status_code == 200 and "已安排回拨" in r.text
        assert "下午方便" in r.text  # in the case's tasks list
        moved = client.post(
            f"/cases/{case.id}/callback", data={"on": str(tomorrow), "at": "16:45"}, headers=_csrf(client)
        )
        assert moved.status_code == 200
        past = client.post(
            f"/cases/{case.id}/callback",
            data={"on": str(tomorrow - dt.timedelta(days=2)), "at": "10:00"},
            headers=_csrf(client),
        )
        assert past.status_code == 422 and "回拨时间须晚于现在" in past.text
        queue = client.get("/queue")
        assert f'href="/cases/{case.id}"' in queue.text
    tasks = session.scalars(
        select(WorkTask).where(WorkTask.case_id == case.id, WorkTask.queue == "callback")
    ).all()
    assert len(tasks) == 1  # one callback per loan and day: the second one moved it
    task = tasks[0]
    want = dt.datetime.combine(tomorrow, dt.time(16, 45), tzinfo=settings.tz)
    assert task.due_at == want.astimezone(dt.UTC)
    assert (task.assignee_id, task.treatment, task.status, task.as_of) == (
        user.id,
        "agent_call",
        "open",
        tomorrow,
    )
    assert task.strategy == "contact-log"
    assert session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "case.callback_scheduled")).all()


def test_another_holders_case_is_404_for_every_action(session: Session, settings: Settings) -> None:
    _user, _case, theirs = _floor(session, settings)
    tomorrow = utcnow().astimezone(settings.tz).date() + dt.timedelta(days=1)
    posts = {
        "message": {"template": "reminder:sms", "locale": "zh_CN"},
        "callback": {"on": str(tomorrow), "at": "10:00"},
        "assist": {"kind": "skip_trace", "team": "skip-trace", "deadline": str(tomorrow)},
        "visit": {
            "planned_on": str(tomorrow),
            "address_lat": "31.2",
            "address_lon": "121.4",
            "agent1": "a",
            "agent2": "b",
        },
        "log": {"result": "no_answer", "contact_point_id": "1"},
        "promise": {"amount": "100", "due_date": str(tomorrow)},
    }
    with api_client(session, settings) as client:
        _login(client, "coll1")
        for action, data in posts.items():
            r = client.post(f"/cases/{theirs.id}/{action}", data=data, headers=_csrf(client))
            assert r.status_code == 404, (action, r.status_code)
            assert "未找到" in r.text
        preview = client.get(
            f"/cases/{theirs.id}/message", params={"template": "reminder:sms"}, headers={"hx-request": "true"}
        )
        assert preview.status_code == 404
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert session.scalar(select(func.count()).select_from(AssistRequest)) == 0
    assert session.scalar(select(func.count()).select_from(FieldVisit)) == 0
    assert session.scalars(select(WorkTask).where(WorkTask.case_id == theirs.id)).all() == []
