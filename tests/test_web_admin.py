"""The administration pages (/admin) through the app (TestClient): every page renders for an admin and is
a 403 page for a collector; users (create, sign in with it, deactivate, reset the password), teams;
strategies (diff, validation errors with row, field and line, activation audited); templates (live
preview in both languages with the linter's findings, a bad text refused); contact-policy presets
(a copy with changed hours resolves); models (promotion); decision tables (a saved version)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from floor_factories import PASSWORD, api_client, make_team, make_user
from recoup.auth.models import AppUser
from recoup.config import Settings
from recoup.configs.models import ConfigVersion
from recoup.configs.service import get_latest
from recoup.contact.policy.presets import load_builtin, resolve
from recoup.contact.templates import do_install_defaults
from recoup.ledger.models import LedgerEntry
from recoup.scoring.registry import champion, do_train
from recoup.strategy.defaults import DEFAULT_STRATEGY
from recoup.strategy.service import do_save_strategy, get_strategy
from recoup.web import pages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    pages.THROTTLE.succeeded(f"user:{username}", "ip:testclient")
    client.get("/login")
    token = client.cookies.get("csrftoken")
    return client.post(
        "/login",
        data={"username": username, "password": password, "next": "/"},
        headers={"x-csrftoken": token or "", "hx-request": "true"},
    )


def _post(client: TestClient, url: str, data: Any, **kw: Any) -> Any:
    """A form post the way htmx sends it (CSRF header, hx-request)."""
    headers = {"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"}
    return client.post(url, data=data, headers=headers, **kw)


def _ledger(session: Session, kind: str) -> list[LedgerEntry]:
    return list(
        session.scalars(select(LedgerEntry).where(LedgerEntry.kind == kind).order_by(LedgerEntry.seq))
    )


def _strategy_with(**changes: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(DEFAULT_STRATEGY))
    for key, value in changes.items():
        doc[key] = value
    return doc


def test_every_admin_page_renders_for_an_admin_and_is_forbidden_to_a_collector(
    session: Session, settings: Settings
) -> None:
    admin = make_user(session, "admin", name="root1")
    collector = make_user(session, "collector", name="worker7")
    team = make_team(session, "M1-A", lead=admin)
    get_strategy(session=session)  # v1 of default
    changed = _strategy_with()
    changed["rows"][0]["note"] = "a new note"
    do_save_strategy(changed, session=session, created_by="root1")
    do_install_defaults(session=session, actor="setup")
    urls = [
        "/admin",
        "/admin/users",
        f"/admin/users/{collector.id}",
        "/admin/teams",
        f"/admin/teams/{team.id}",
        "/admin/strategies",
        "/admin/strategies/default",
        "/admin/strategies/default?version=1",
        "/admin/strategies/default/edit",
        "/admin/strategies/default/diff",
        "/admin/templates",
        "/admin/templates/edit?name=reminder&channel=sms",
        "/admin/templates/reminder:sms:zh_CN",
        "/admin/presets",
        "/admin/presets/cn",
        "/admin/models",
        "/admin/tables",
        "/admin/tables/bucket",
        "/admin/tables/loan_class/edit",
        "/admin/tables/allocation_pools",
    ]
    with api_client(session, settings) as client:
        assert _login(client, "root1").status_code == 204
        home = client.get("/admin")
        assert 'href="/admin"' in home.text and "管理" in home.text  # the nav link, in Chinese by default
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
            assert "admin_flash" not in r.text and "Traceback" not in r.text
        english = client.get("/lang/en?next=/admin/strategies")
        assert english.status_code == 200 and "Strategies" in english.text and "策略" not in english.text
        client.post("/logout", headers={"x-csrftoken": client.cookies.get("csrftoken") or ""})
        assert _login(client, "worker7").status_code == 204
        assert 'href="/admin"' not in client.get("/queue").text
        for url in urls:
            assert client.get(url).status_code == 403, url
        assert _post(client, "/admin/users", {"username": "x"}).status_code == 403


def test_an_admin_creates_a_user_who_then_signs_in(session: Session, settings: Settings) -> None:
    make_user(session, "admin", name="root2")
    team = make_team(session, "M2-B")
    with api_client(session, settings) as client:
        _login(client, "root2")
        bad = _post(
            client,
            "/admin/users",
            {"username": "new.collector", "password": "short", "roles": ["collector"]},
        )
        assert bad.status_code == 422 and "password too short" in bad.text
        assert session.scalar(select(AppUser).where(AppUser.username == "new.collector")) is None
        no_team = _post(
            client,
            "/admin/users",
            {
                "username": "new.collector",
                "password": "a long password",
                "roles": ["collector"],
                "team": "nope",
            },
        )
        assert no_team.status_code == 422 and "nope" in no_team.text
        assert (
            session.scalar(select(AppUser).where(AppUser.username == "new.collector")) is None
        )  # all or nothing
        made = _post(
            client,
            "/admin/users",
            {
                "username": "new.collector",
                "password": "a long password",
                "roles": ["collector"],
                "display_name": "新催收员",
                "locale": "en",
                "team": team.name,
                "worker_kind": "collector",
            },
        )
        assert made.status_code == 204, made.text
        new = session.scalar(select(AppUser).where(AppUser.username == "new.collector"))
        assert new is not None and new.role_names == ["collector"] and new.locale == "en"
        assert made.headers["hx-redirect"] == f"/admin/users/{new.id}"
        page = client.get(f"/admin/users/{new.id}")
        assert "用户已创建: new.collector" in page.text  # the flash after the redirect
        assert team.name in page.text
        [entry] = _ledger(session, "user.create")
        assert entry.actor == "root2" and entry.payload == {"user_id": new.id, "roles": ["collector"]}
    with api_client(session, settings) as other:
        assert _login(other, "new.collector", "a long password").status_code == 204
        assert other.get("/queue").status_code == 200
    with api_client(session, settings) as client:
        _login(client, "root2")
        off = _post(client, f"/admin/users/{new.id}/active", {"username": "new.collector", "active": "false"})
        assert off.status_code == 204 and not new.is_active
        assert _login(client, "new.collector", "a long password").status_code == 401
        _login(client, "root2")
        _post(client, f"/admin/users/{new.id}/active", {"username": "new.collector", "active": "true"})
        reset = _post(
            client,
            f"/admin/users/{new.id}/password",
            {"username": "new.collector", "password": "another long one", "password2": "another long one"},
        )
        assert reset.status_code == 204
        me = session.scalar(select(AppUser).where(AppUser.username == "root2"))
        assert me is not None
        self_off = _post(client, f"/admin/users/{me.id}/active", {"username": "root2", "active": "false"})
        assert self_off.status_code == 422 and me.is_active
        roles = _post(
            client,
            f"/admin/users/{new.id}/profile",
            {"username": "new.collector", "locale": "zh_CN", "roles": ["collector", "field_agent"]},
        )
        assert roles.status_code == 204 and new.role_names == ["collector", "field_agent"]
        assert {e.kind for e in session.scalars(select(LedgerEntry))} >= {
            "user.deactivate",
            "user.reactivate",
            "user.password_reset",
            "user.roles",
            "user.profile",
            "worker.set",
        }
    with api_client(session, settings) as other:
        assert _login(other, "new.collector", "another long one").status_code == 204


def test_teams_lead_and_members(session: Session, settings: Settings) -> None:
    make_user(session, "admin", name="root3")
    lead = make_user(session, "team_lead", name="lead3")
    member = make_user(session, "collector", name="member3")
    with api_client(session, settings) as client:
        _login(client, "root3")
        made = _post(client, "/admin/teams", {"name": "Agency One", "kind": "agency", "lead": ""})
        assert made.status_code == 204
        team_id = int(made.headers["hx-redirect"].rsplit("/", 1)[1])
        listing = client.get("/admin/teams").text
        assert "Agency One" in listing.split('id="agencies"')[1]  # listed as an agency
        assert (
            _post(
                client, f"/admin/teams/{team_id}/lead", {"team_name": "Agency One", "lead": lead.username}
            ).status_code
            == 204
        )
        assert (
            _post(
                client,
                f"/admin/teams/{team_id}/members",
                {"team_name": "Agency One", "username": member.username},
            ).status_code
            == 204
        )
        page = client.get(f"/admin/teams/{team_id}").text
        assert "member3" in page.split('id="members"')[1] and "lead3" in page
        wrong = _post(client, f"/admin/teams/{team_id}/lead", {"team_name": "Another", "lead": ""})
        assert wrong.status_code == 422
        gone = _post(
            client,
            f"/admin/teams/{team_id}/members/remove",
            {"team_name": "Agency One", "username": member.username},
        )
        assert gone.status_code == 204
    assert [e.payload["lead_id"] for e in _ledger(session, "team.lead")] == [lead.id]


def test_strategy_diff_validation_save_and_activation(session: Session, settings: Settings) -> None:
    make_user(session, "admin", name="root4")
    make_user(session, "analyst", name="analyst4")
    v1 = get_strategy(session=session)
    doc = v1.doc.model_dump(mode="json")
    first = doc["rows"][0]["id"]
    doc["rows"][0]["then"]["tone"] = "firm"
    with api_client(session, settings) as client:
        _login(client, "analyst4")
        # An analyst may not save `default` (it would take effect at once) ...
        refused = _post(
            client,
            "/admin/strategies/save",
            {"text": json.dumps(doc), "base_name": "default", "base_version": "1"},
        )
        assert refused.status_code == 422 and "admin.activate" in refused.text
        # ... but saves a draft under another name.
        draft = {**doc, "name": "challenger"}
        saved = _post(
            client,
            "/admin/strategies/save",
            {
                "text": json.dumps(draft, indent=2),
                "base_name": "default",
                "base_version": "1",
                "comment": "firmer",
            },
        )
        assert saved.status_code == 204, saved.text
        assert get_latest("strategy", "challenger", session=session) is not None
        # A bad document: every problem with its row, field and line.
        bad = json.loads(json.dumps(draft))
        bad["rows"][1]["then"]["treatment"] = "smss"
        text = json.dumps(bad, indent=2)
        checked = _post(client, "/admin/strategies/validate", {"text": text, "base_name": "challenger"})
        assert checked.status_code == 422
        row_id = bad["rows"][1]["id"]
        line = next(i for i, ln in enumerate(text.splitlines(), 1) if f'"id": "{row_id}"' in ln)
        problems = checked.text.split('id="problems"')[1].split("</ul>")[0]
        assert (
            "then.treatment" in problems and row_id in problems and "smss&#34; is not a treatment" in problems
        )
        assert f"<b>第 {line} 行</b>" in problems
        syntax = _post(
            client, "/admin/strategies/validate", {"text": '{"name": "x",\n "rows": [}', "base_name": "x"}
        )
        assert syntax.status_code == 422 and "line 2, column" in syntax.text and "第 2 行" in syntax.text
        good = _post(
            client, "/admin/strategies/validate", {"text": json.dumps(draft), "base_name": "challenger"}
        )
        assert good.status_code == 200 and 'id="checked"' in good.text
        assert client.post("/admin/strategies/challenger/activate", data={"version": "1"}).status_code == 403
        client.post("/logout", headers={"x-csrftoken": client.cookies.get("csrftoken") or ""})

        _login(client, "root4")
        activated = _post(client, "/admin/strategies/challenger/activate", {"version": "1"})
        assert activated.status_code == 204
        newest = get_strategy(session=session)
        assert newest.version == 2 and newest.rows()[first].then["tone"] == "firm"
        [entry] = _ledger(session, "strategy.activate")
        assert entry.actor == "root4"
        assert entry.payload["source"] == "challenger" and entry.payload["source_version"] == 1
        assert entry.payload["version"] == 2 and entry.payload["previous_version"] == 1
        again = _post(client, "/admin/strategies/challenger/activate", {"version": "1"})
        assert again.status_code == 204 and len(_ledger(session, "strategy.activate")) == 1
        diff = client.get("/admin/strategies/default/diff?a=1&b=2")
        assert diff.status_code == 200
        changed = diff.text.split('id="diff"')[1]
        assert 'class="changed"' in changed and first in changed and "tone" in changed and "firm" in changed
        # A stale editor (opened on v1) cannot overwrite v2.
        stale = _post(
            client,
            "/admin/strategies/save",
            {"text": json.dumps(v1.doc.model_dump(mode="json")), "base_name": "default", "base_version": "1"},
        )
        assert stale.status_code == 422 and "version 2" in stale.text


def test_template_preview_in_both_languages_with_the_linter(session: Session, settings: Settings) -> None:
    make_user(session, "admin", name="root5")
    make_user(session, "collector", name="worker5")
    form = {
        "name": "reminder",
        "channel": "sms",
        "preset": "cn",
        "body_zh_CN": "{{ signature }}{{ borrower_name }}您好，逾期{{ amount_overdue }}，再不还款后果自负。",
        "body_en": "{{ signature }}Dear {{ borrower_name }}, {{ amount_overdue }} is overdue. {{ opt_out }}",
    }
    with api_client(session, settings) as client:
        _login(client, "root5")
        r = _post(client, "/admin/templates/preview", form)
        assert r.status_code == 200
        zh, en = r.text.split('data-locale="en"')
        assert "张先生您好" in zh and "¥1,234.56" in zh  # rendered with the sample borrower
        assert "Dear Mr Smith" in en and "USD 1,234.56" in en
        assert "CN-CONTENT.threat" in zh and "<mark>后果自负</mark>" in zh
        assert "威胁" in zh or "Threat" in zh  # the finding's explanation
        assert "CN-CONTENT" not in en and "未发现问题" in en
        # A template with a finding cannot be saved; a clean one can, and is audited.
        refused = _post(client, "/admin/templates/save", form)
        assert refused.status_code == 422 and "CN-CONTENT.threat" in refused.text
        assert get_latest("message_template", "reminder:sms:zh_CN", session=session, missing_ok=True) is None
        clean = {
            **form,
            "body_zh_CN": "{{ signature }}{{ borrower_name }}您好，您的借款已逾期，请按时还款。{{ opt_out }}",
        }
        ok = _post(client, "/admin/templates/save", {**clean, "activate": "true"})
        assert ok.status_code == 204, ok.text
        assert {e.payload["key"] for e in _ledger(session, "template.save")} == {
            "reminder:sms:zh_CN",
            "reminder:sms:en",
        }
        assert len(_ledger(session, "template.activate")) == 2
        client.post("/logout", headers={"x-csrftoken": client.cookies.get("csrftoken") or ""})
        _login(client, "worker5")
        assert _post(client, "/admin/templates/preview", form).status_code == 403


def test_a_preset_copy_with_changed_hours_resolves(session: Session, settings: Settings) -> None:
    make_user(session, "admin", name="root6")
    make_user(session, "analyst", name="analyst6")
    cn = load_builtin("cn")
    form = {"new_name": "cn-late", "base_version": cn.version, "comment": "start later"}
    form |= {f"on.{rid}": "1" for rid in cn.rules}
    form |= {"p.CN-TIME.start": "09:00", "p.CN-FREQ-CONN.max": "2"}
    with api_client(session, settings) as client:
        _login(client, "analyst6")
        live = _post(client, "/admin/presets/cn/copy", {**form, "new_name": "cn"})
        assert live.status_code == 422 and "admin.activate" in live.text  # the preset in effect
        bad = _post(client, "/admin/presets/cn/copy", {**form, "p.CN-FREQ-CONN.max": "-1"})
        assert bad.status_code == 422 and "CN-FREQ-CONN.max" in bad.text
        assert get_latest("contact_preset", "cn-late", session=session, missing_ok=True) is None
        ok = _post(client, "/admin/presets/cn/copy", {**form, "on.CN-3P-GATE": ""} | {"on.CN-FREQ-INT": "1"})
        assert ok.status_code == 204, ok.text
    late = resolve("cn-late", session=session)
    assert late.version == "1"
    assert late.rules["CN-TIME"]["start"] == "09:00:00" and late.rules["CN-FREQ-CONN"]["max"] == 2
    assert "CN-FREQ-INT" in late.rules  # switched on
    assert late.rules["CN-FREQ-DIAL"] == cn.rules["CN-FREQ-DIAL"]  # unchanged
    [entry] = _ledger(session, "preset.save")
    assert (
        entry.actor == "analyst6" and entry.payload["name"] == "cn-late" and entry.payload["version"] == "1"
    )
    assert entry.payload["rules"] == ["CN-FREQ-CONN", "CN-FREQ-INT", "CN-TIME"]


def _frame(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 1200
    dates = np.array([dt.date(2024, m, 28) for m in range(1, 11)], dtype="datetime64[D]")
    dpd = rng.integers(0, 90, n)
    paid = rng.exponential(500, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 0.04 * dpd - 0.002 * paid)))).astype(np.int64)
    return pl.DataFrame(
        {"as_of": rng.choice(dates, n), "loan_id": np.arange(n), "dpd": dpd, "paid_30d": paid, "bad": y}
    ).with_columns(pl.col("as_of").cast(pl.Date))


def test_model_promotion(session: Session, settings: Settings) -> None:
    make_user(session, "admin", name="root7")
    make_user(session, "analyst", name="analyst7")
    for seed in (1, 2):
        do_train(
            "self_cure",
            _frame(seed),
            target="bad",
            kind="scorecard",
            features=["dpd", "paid_30d"],
            session=session,
        )
    with api_client(session, settings) as client:
        _login(client, "analyst7")
        listing = client.get("/admin/models")
        assert listing.status_code == 200 and "self_cure" in listing.text and "Promote" not in listing.text
        assert _post(client, "/admin/models/self_cure/promote", {"version": "2"}).status_code == 403
        client.post("/logout", headers={"x-csrftoken": client.cookies.get("csrftoken") or ""})
        _login(client, "root7")
        page = client.get("/admin/models").text
        assert "AUC" in page and page.count('name="version"') == 2
        assert _post(client, "/admin/models/self_cure/promote", {"version": "2"}).status_code == 204
        best = champion("self_cure", session=session)
        assert best is not None and best.version == 2
        assert _post(client, "/admin/models/self_cure/promote", {"version": "1"}).status_code == 204
        retired = _post(client, "/admin/models/self_cure/promote", {"version": "2"})
        assert retired.status_code == 204 and "retired" in client.get("/admin/models").text
    assert [e.actor for e in _ledger(session, "model.promoted")] == ["root7", "root7"]


def test_a_decision_table_version_is_validated_and_saved(session: Session, settings: Settings) -> None:
    make_user(session, "admin", name="root8")
    with api_client(session, settings) as client:
        _login(client, "root8")
        editor = client.get("/admin/tables/case_grade/edit")
        text = editor.text.split('name="text" class="doc" spellcheck="false">')[1].split("</textarea>")[0]
        import html

        table = json.loads(html.unescape(text))
        table["rows"][0]["when"]["max_dpd"] = {"ge": 121}
        bad = json.loads(json.dumps(table))
        bad["rows"][1]["when"]["max_dpx"] = {"ge": 1}
        refused = _post(client, "/admin/tables/case_grade/save", {"text": json.dumps(bad, indent=2)})
        assert refused.status_code == 422 and "max_dpx" in refused.text and "line" in refused.text.lower()
        saved = _post(
            client, "/admin/tables/case_grade/save", {"text": json.dumps(table), "comment": "later"}
        )
        assert saved.status_code == 204, saved.text
        page = client.get("/admin/tables/case_grade").text
        assert "max_dpd ≥ 121" in page and "v2" in page
    row = get_latest("decision_table", "case_grade", session=session)
    assert row is not None and row.version == 2 and row.created_by == "root8" and row.comment == "later"
    [entry] = _ledger(session, "decision_table.save")
    assert entry.payload["version"] == 2
    assert session.scalar(
        select(ConfigVersion.version).where(ConfigVersion.name == "case_grade", ConfigVersion.version == 1)
    )
