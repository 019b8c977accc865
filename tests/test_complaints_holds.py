"""Contact holds and consents as people manage them (SQLite and PostgreSQL): listed with their origin,
placed by hand, lifted with a reason — an open complaint's hold only with a second person's approval,
never by the person complained about, a case stop's hold only through the stop — consents withdrawn and
granted again, all judged by the one contact policy; the ledger; and the ``recoup contact`` commands
(holds, hold --lift / --approve-lift, consent, consents) and ``recoup complaint list``, with their
JSON and exit statuses."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_user, token_for
from recoup import cli
from recoup.cases.models import Case
from recoup.cases.stops import do_request_stop
from recoup.complaints import consents, holds, service
from recoup.config import Settings
from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import Proposal, Verdict
from recoup.contact.policy.presets import resolve
from recoup.contact.service import check_attempt
from recoup.contact.vocab import Channel, DestinationKind, Party
from recoup.db import get_engine, upgraded_session, utcnow
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.models import Borrower

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MOBILE = "13800138000"


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _key(session: Session, case: Case) -> str:
    key = session.scalar(select(Borrower.external_id).where(Borrower.id == case.borrower_id))
    assert key is not None
    return key


def _judge(session: Session, borrower: str, channel: Channel) -> Verdict:
    """The policy's verdict on contacting the borrower on ``channel`` tomorrow at 10:00 Shanghai."""
    from zoneinfo import ZoneInfo

    sh = ZoneInfo("Asia/Shanghai")
    day = utcnow().astimezone(sh).date() + dt.timedelta(days=1)
    at = dt.datetime.combine(day, dt.time(10), tzinfo=sh).astimezone(dt.UTC)
    proposal = Proposal(
        id=f"t:{uuid.uuid4().hex}",
        at=at,
        channel=channel,
        party=Party.DEBTOR,
        destination=MOBILE,
        destination_kind=DestinationKind.MOBILE,
        content="【示例银行】您的借款已逾期，请通过官方App还款。退订回T" if channel is Channel.SMS else None,
    )
    return check_attempt(
        Policy(resolve("cn", session=session)), session=session, borrower_key=borrower, proposal=proposal
    )


def _ledger(session: Session, prefix: str) -> list[str]:
    return [
        e.kind
        for e in session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))
        if e.kind.startswith(prefix)
    ]


def test_a_complaints_hold_is_lifted_only_with_a_second_person(session: Session, settings: Settings) -> None:
    a = make_user(session, "compliance")
    b = make_user(session, "compliance")
    accused = make_user(session, "compliance")
    case = make_case(session)
    key = _key(session, case)
    row = service.do_open_complaint(
        session=session,
        actor=a.username,
        source="hotline",
        category="threats_abuse",
        case_id=case.id,
        collector_id=accused.id,
        settings=settings,
    )
    ta, tb, tx = token_for(session, a), token_for(session, b), token_for(session, accused)
    with api_client(session, settings) as client:
        listed = client.get(f"/api/v1/holds?borrower_key={key}", headers=_h(ta)).json()
        assert [
            (h["id"], h["rule"], h["origin"], h["origin_id"], h["four_eyes"], h["active"]) for h in listed
        ] == [(row.hold_id, "HOLD-STOP", "complaint", row.id, True, True)]
        url = f"/api/v1/holds/{row.hold_id}/lift"
        no_reason = client.post(url, json={"reason": "  "}, headers=_h(ta))
        assert no_reason.status_code == 422 and no_reason.json()["error"]["code"] == "hold.invalid"
        accused_try = client.post(url, json={"reason": "我要解除"}, headers=_h(tx))
        assert accused_try.status_code == 403 and accused_try.json()["error"]["code"] == "hold.four_eyes"
        asked = client.post(url, json={"reason": "借款人要求协商"}, headers=_h(ta))
        assert asked.status_code == 200, asked.json()
        assert asked.json()["active"] is True and asked.json()["lifts"][0]["status"] == "requested"
        assert client.post(url, json={"reason": "again"}, headers=_h(tb)).status_code == 409  # one pending
        own = client.post(f"{url}/approve", headers=_h(ta))
        assert own.status_code == 403 and own.json()["error"]["code"] == "hold.four_eyes"
        rejected = client.post(f"{url}/reject", json={"note": "投诉未结"}, headers=_h(tb))
        assert rejected.status_code == 200 and rejected.json()["active"] is True
        assert _judge(session, key, Channel.CALL).verdict == "blocked"
        client.post(url, json={"reason": "借款人书面要求恢复联系"}, headers=_h(ta))
        approved = client.post(f"{url}/approve", json={"note": "同意"}, headers=_h(tb))
        assert approved.status_code == 200 and approved.json()["active"] is False
        assert [x["status"] for x in approved.json()["lifts"]] == ["rejected", "approved"]
        assert approved.json()["lifts"][1]["decided_by"] == b.username
        assert client.post(url, json={"reason": "x"}, headers=_h(ta)).status_code == 409  # ended
        assert client.post(f"{url}/approve", headers=_h(tb)).status_code == 409  # nothing pending
        assert client.get("/api/v1/holds/2000000", headers=_h(ta)).status_code == 404
        assert client.get(f"/api/v1/holds?borrower_key={key}", headers=_h(ta)).json() == []
        ended = client.get(f"/api/v1/holds?borrower_key={key}&include_ended=true", headers=_h(ta)).json()
        assert [h["id"] for h in ended] == [row.hold_id]
    assert _judge(session, key, Channel.CALL).verdict == "allowed"
    assert row.status == "open"
    assert _ledger(session, "hold.") == [
        "hold.lift_requested",
        "hold.lift_rejected",
        "hold.lift_requested",
        "hold.lifted",
    ]
    # Closing the complaint later changes nothing more on the ended hold.
    service.do_resolve(
        row.id,
        session=session,
        actor=a,
        outcome="not_upheld",
        root_cause="no_fault",
        resolution="核实无误",
        settings=settings,
    )
    assert [x.status for x in holds.lifts_of(row.hold_id or 0, session=session)] == ["rejected", "approved"]


def test_manual_holds_and_a_case_stops_hold(session: Session, settings: Settings) -> None:
    a = make_user(session, "compliance")
    case = make_case(session)
    key = _key(session, case)
    token = token_for(session, a)
    now = utcnow()
    with api_client(session, settings) as client:
        for body, field in (
            ({"borrower_key": "NOPE", "kind": "stop", "reason": "x"}, "borrower_key"),
            ({"borrower_key": key, "kind": "stop", "reason": "x", "start": "2026-01-01T10:00:00"}, "start"),
            (
                {"borrower_key": key, "kind": "stop", "reason": "x", "start": "2020-01-01T10:00:00+08:00"},
                "start",
            ),
            (
                {
                    "borrower_key": key,
                    "kind": "stop",
                    "reason": "x",
                    "end": (now - dt.timedelta(hours=1)).isoformat(),
                },
                "end",
            ),
            ({"borrower_key": key, "kind": "stop", "reason": "x", "channels": []}, "channels"),
        ):
            r = client.post("/api/v1/holds", json=body, headers=_h(token))
            assert r.status_code == 422, (body, r.json())
            assert r.json()["error"]["details"]["field"] == field
        placed = client.post(
            "/api/v1/holds",
            json={
                "borrower_key": key,
                "kind": "do_not_contact",
                "channels": ["sms"],
                "reason": "借款人要求不发短信",
            },
            headers=_h(token),
        )
        assert placed.status_code == 201, placed.json()
        h = placed.json()
        assert (h["rule"], h["origin"], h["four_eyes"], h["approved_by"]) == (
            "HOLD-DNC",
            "manual",
            False,
            a.username,
        )
        sms = _judge(session, key, Channel.SMS)
        assert sms.verdict == "blocked" and "HOLD-DNC" in sms.rules
        assert _judge(session, key, Channel.CALL).verdict == "allowed"  # only the channel it names
        lifted = client.post(
            f"/api/v1/holds/{h['id']}/lift", json={"reason": "借款人重新同意"}, headers=_h(token)
        )
        assert lifted.status_code == 200 and lifted.json()["active"] is False
        assert lifted.json()["lifts"][0]["decided_by"] == a.username  # one person: requester and approver
        assert _judge(session, key, Channel.SMS).verdict == "allowed"
        stop, _cancelled, _assist = do_request_stop(
            case, session=session, actor=a, reason="death", settings=settings
        )
        assert stop.hold_id is not None
        refused = client.post(f"/api/v1/holds/{stop.hold_id}/lift", json={"reason": "x"}, headers=_h(token))
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "hold.from_stop"
        assert refused.json()["error"]["details"]["stop_id"] == stop.id
        stop_hold = client.get(f"/api/v1/holds/{stop.hold_id}", headers=_h(token)).json()
        assert stop_hold["origin"] == "stop" and stop_hold["active"] is True
    assert _ledger(session, "hold.") == ["hold.placed", "hold.lifted"]


def test_consents_withdrawn_and_granted_again_reach_the_policy(session: Session, settings: Settings) -> None:
    case = make_case(session)
    key = _key(session, case)
    assert _judge(session, key, Channel.SMS).verdict == "allowed"
    withdrawn = consents.do_withdraw_consent(
        session=session, actor="officer", borrower_key=key, channel=Channel.SMS, how="call"
    )
    assert len(withdrawn) == 1 and withdrawn[0].revoked_at is not None  # none in force: the revocation itself
    verdict = _judge(session, key, Channel.SMS)
    assert verdict.verdict == "blocked" and "CONSENT-REVOKED" in verdict.rules
    assert _judge(session, key, Channel.CALL).verdict == "allowed"
    granted = consents.do_grant_consent(
        session=session, actor="officer", borrower_key=key, channel=Channel.SMS, how="app"
    )
    assert _judge(session, key, Channel.SMS).verdict == "allowed"
    again = consents.do_withdraw_consent(
        session=session, actor="officer", borrower_key=key, channel=Channel.SMS
    )
    assert [c.id for c in again] == [granted.id]  # the consent in force is revoked
    assert "CONSENT-REVOKED" in _judge(session, key, Channel.SMS).rules
    with pytest.raises(consents.ConsentInputError):
        consents.do_grant_consent(session=session, actor="x", borrower_key="NOPE", channel=Channel.SMS)
    assert _ledger(session, "consent.") == ["consent.withdrawn", "consent.granted", "consent.withdrawn"]


# --- the commands -----------------------------------------------------------------------------

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def db() -> Iterator[dict[str, object]]:
    """The default database of the test's data dir with alice and bob (compliance), carl (collector) and
    a borrower whose complaint is open."""
    with upgraded_session() as session:
        alice = make_user(session, "compliance", name="alice")
        make_user(session, "compliance", name="bob")
        make_user(session, "collector", name="carl")
        case = make_case(session)
        key = _key(session, case)
        row = service.do_open_complaint(
            session=session, actor=alice.username, source="hotline", category="frequency", case_id=case.id
        )
        out: dict[str, object] = {"borrower": key, "hold_id": row.hold_id, "complaint_id": row.id}
    yield out
    get_engine().dispose()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``run("contact", "holds")`` → (exit status, stdout, stderr) of ``recoup.cli.main`` on an app with the
    contact group and this package's commands."""
    from recoup.complaints.cli import mount
    from recoup.contact.cli import app as contact_app

    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)
    app.add_typer(contact_app, name="contact")
    mount(app)
    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(cli, "_mount", lambda argv=None: None)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["recoup", *args])
        umask = os.umask(0o022)
        os.umask(umask)
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        finally:
            os.umask(umask)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def _envelope(out: str, err: str) -> dict[str, dict[str, object]]:
    """The JSON error envelope, wherever the CLI printed it (stdout with --json, else stderr)."""
    doc: dict[str, dict[str, object]] = json.loads(out.strip() or err.strip())
    return doc


def test_the_contact_commands(db: dict[str, object], run: Run) -> None:
    hold_id, borrower = str(db["hold_id"]), str(db["borrower"])
    code, out, _ = run("contact", "holds", "--json")
    assert code == 0
    listed = json.loads(out)
    assert (
        listed["count"] == 1
        and listed["holds"][0]["origin"] == "complaint"
        and listed["holds"][0]["four_eyes"]
    )
    code, out, _ = run("contact", "holds", "--borrower", borrower)
    assert code == 0 and "HOLD-STOP" in out and "complaint" in out

    code, out, err = run("contact", "hold", hold_id, "--lift", "--reason", "协商", "--by", "carl", "--json")
    assert (
        code == 77 and _envelope(out, err)["error"]["code"] == "auth.forbidden"
    )  # carl may not handle holds
    code, out, err = run("contact", "hold", "abc", "--lift", "--reason", "x", "--by", "alice")
    assert code == 64 and "usage" in out + err
    code, out, err = run("contact", "hold", hold_id, "--lift", "--by", "alice", "--json")
    assert code == 64 and _envelope(out, err)["error"]["code"] == "usage"  # no reason
    code, out, _ = run(
        "contact", "hold", hold_id, "--lift", "--reason", "借款人要求协商", "--by", "alice", "--json"
    )
    assert code == 0 and json.loads(out)["lift"]["status"] == "requested"
    code, out, err = run("contact", "hold", hold_id, "--approve-lift", "--by", "alice", "--json")
    assert code == 77 and _envelope(out, err)["error"]["code"] == "hold.four_eyes"
    code, out, _ = run("contact", "hold", hold_id, "--approve-lift", "--by", "bob")
    assert code == 0 and f"暂停 {hold_id} 已解除" in out  # the default language, zh_CN
    code, out, err = run("contact", "hold", "999999", "--lift", "--reason", "x", "--by", "bob", "--json")
    assert code == 66 and _envelope(out, err)["error"]["code"] == "not_found"

    code, out, _ = run(
        "contact",
        "hold",
        borrower,
        "--kind",
        "cease",
        "--start",
        utcnow().isoformat(),
        "--reason",
        "律师函",
        "--json",
    )
    assert code == 0 and json.loads(out)["kind"] == "cease"
    code, out, err = run("contact", "hold", borrower, "--reason", "x")
    assert code == 64  # placing needs --kind and --start

    code, out, _ = run(
        "contact", "consent", borrower, "--channel", "sms", "--withdraw", "--how", "电话告知", "--json"
    )
    assert code == 0 and json.loads(out)["action"] == "withdrawn" and len(json.loads(out)["consent_ids"]) == 1
    code, out, _ = run("contact", "consent", borrower, "--channel", "sms", "--grant", "--by", "alice")
    assert code == 0 and f"{borrower}：已记录短信渠道同意" in out  # the default language, zh_CN
    code, out, err = run("contact", "consent", borrower, "--channel", "fax", "--grant", "--json")
    assert code == 64 and _envelope(out, err)["error"]["details"]["option"] == "--channel"
    code, out, err = run("contact", "consent", "NOPE", "--channel", "sms", "--grant", "--json")
    assert code == 65 and _envelope(out, err)["error"]["code"] == "consent.invalid"
    code, out, _ = run("contact", "consents", "--borrower", borrower, "--json")
    assert code == 0 and json.loads(out)["count"] == 2

    code, out, _ = run("complaint", "list", "--json")
    assert code == 0 and json.loads(out)["complaints"][0]["id"] == db["complaint_id"]
    code, out, _ = run("complaint", "list")
    assert code == 0 and "hotline" not in out and "客服热线" in out
    code, out, err = run("complaint", "list", "--status", "weird")
    assert code == 64
    with upgraded_session() as session:
        kinds = _ledger(session, "hold.") + _ledger(session, "consent.")
    assert kinds == ["hold.lift_requested", "hold.lifted", "consent.withdrawn", "consent.granted"]
