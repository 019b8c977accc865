"""Every API route against every role of the permission table, and holder visibility: a collector or
an agency user reaches only the cases they hold (404 otherwise), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from floor_factories import api_client, make_case, make_team, make_user, token_for
from recoup.agencies.placement import do_place_batch
from recoup.auth.models import AppUser
from recoup.auth.service import DEFAULT_ROLES, PERMISSIONS, has_permission
from recoup.cases.models import Case
from recoup.config import Settings, load_settings
from recoup.web.app import api_operations
from test_agencies import ON, eligible_agency

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


ROUTES = api_operations()
GUARDED = [r for r in ROUTES if r.permission]


def _call(client: TestClient, method: str, path: str, token: str | None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method in {"GET", "DELETE"}:
        return client.request(method, path, headers=headers)
    return client.request(method, path, headers=headers, json=body if body is not None else {})


def _fill(path: str, case_id: int) -> str:
    return re.sub(r"\{[a-z_]+\}", lambda m: str(case_id) if m.group(0) == "{case_id}" else "1", path)


def test_every_route_declares_a_known_permission_or_is_deliberately_open() -> None:
    open_routes = {(r.method, r.path) for r in ROUTES if not r.permission}
    # Open to any signed-in user (their own account) or to everyone (sign-in): nothing about cases.
    assert {p for _, p in open_routes} <= {
        "/api/v1/auth/token",
        "/api/v1/auth/me",
        "/api/v1/auth/tokens",
        "/api/v1/auth/tokens/{token_id}",
        "/api/v1/channels/{channel}/callbacks",  # signed by the provider (HMAC), not a user
    }
    assert all(r.permission in PERMISSIONS for r in GUARDED)
    assert GUARDED, "no guarded route found"


@pytest.fixture
def people(session: Session) -> dict[str, tuple[AppUser, str, Case]]:
    """One user per default role, each holding a case of their own."""
    out = {}
    for role in DEFAULT_ROLES:
        user = make_user(session, role)
        out[role] = (user, token_for(session, user), make_case(session, holder=user))
    return out


def test_every_role_against_every_guarded_route(
    session: Session, settings: Settings, people: dict[str, tuple[AppUser, str, Case]]
) -> None:
    """A role lacking a route's permission gets 403 auth.forbidden; a role holding it never does.
    Together the routes exercise every (role, permission) pair the routes use."""
    pairs: set[tuple[str, str]] = set()
    with api_client(session, settings) as client:
        for route in GUARDED:
            perm = route.permission
            assert perm is not None
            for role, (user, token, case) in people.items():
                for method in (route.method,):
                    r = _call(client, method, _fill(route.path, case.id), token)
                    allowed = has_permission(user, perm)
                    if allowed:
                        assert r.status_code != 403, (role, method, route.path, r.json())
                    else:
                        assert r.status_code == 403, (role, method, route.path, r.status_code)
                        assert r.json()["error"]["code"] == "auth.forbidden"
                    pairs.add((role, perm))
    used = {r.permission for r in GUARDED}
    assert pairs == {(role, p) for role in DEFAULT_ROLES for p in used if p}


def test_no_token_is_401_with_the_envelope(session: Session, settings: Settings) -> None:
    with api_client(session, settings) as client:
        for route in GUARDED:
            for method in (route.method,):
                r = _call(client, method, _fill(route.path, 1), None)
                assert r.status_code == 401
                assert r.json()["error"]["code"] == "auth.invalid_token"
                assert r.headers["www-authenticate"] == "Bearer"
        r = _call(client, "GET", "/api/v1/cases", "rcp_not-a-token")
        assert r.status_code == 401


def test_holders_see_only_their_cases_on_every_case_route(session: Session, settings: Settings) -> None:
    lead = make_user(session, "team_lead")
    team = make_team(session, "M1-A", lead=lead)
    a = make_user(session, "collector", team=team)
    b = make_user(session, "collector")
    agency = make_user(session, "agency")
    manager = make_user(session, "manager")
    case_a, case_b, case_g = (
        make_case(session, holder=a),
        make_case(session, holder=b),
        make_case(session, holder=b),
    )
    # An agency's user sees exactly the cases placed with their agency (recoup.agencies).
    eligible_agency(session, "AG-PERM", [agency])
    us = load_settings(data_dir=settings.data_dir, jurisdiction="us")  # no borrower notice first
    do_place_batch(ON, session=session, actor=manager, settings=us, case_ids=[case_g.id], seed=1)
    unheld = make_case(session)
    tokens = {u.username: token_for(session, u) for u in (a, b, agency, manager, lead)}
    case_routes = [r for r in GUARDED if "{case_id}" in r.path]
    assert case_routes
    with api_client(session, settings) as client:
        for user, mine in ((a, case_a), (b, case_b), (agency, case_g)):
            token = tokens[user.username]
            listed = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).json()
            assert [c["id"] for c in listed["items"]] == [mine.id]
            assert listed["total"] == 1
            # Routes the role may use at all (the others answer 403 before any case is looked at).
            usable = [r for r in case_routes if r.permission and has_permission(user, r.permission)]
            assert len(usable) >= 5
            for other in {case_a, case_b, case_g, unheld} - {mine}:
                for route in usable:
                    for method in (route.method,):
                        r = _call(client, method, _fill(route.path, other.id), token)
                        assert r.status_code == 404, (user.username, method, route.path, r.json())
                        assert r.json()["error"]["code"] == "not_found"
            for route in usable:
                for method in (route.method,):
                    r = _call(client, method, _fill(route.path, mine.id), token)
                    assert r.status_code != 404, (user.username, method, route.path, r.json())
        # A missing case and another holder's case answer alike.
        missing = client.get(
            "/api/v1/cases/999999", headers={"Authorization": f"Bearer {tokens[a.username]}"}
        )
        assert missing.json()["error"]["code"] == "not_found"
        seen = client.get(
            "/api/v1/cases?per_page=200", headers={"Authorization": f"Bearer {tokens[manager.username]}"}
        )
        assert {case_a.id, case_b.id, case_g.id, unheld.id} <= {c["id"] for c in seen.json()["items"]}
        team_view = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {tokens[lead.username]}"})
        assert {c["id"] for c in team_view.json()["items"]} == {case_a.id}


def test_sign_in_and_personal_tokens(session: Session, settings: Settings) -> None:
    user = make_user(session, "collector")
    with api_client(session, settings) as client:
        bad = client.post(
            "/api/v1/auth/token", data={"username": user.username, "password": "wrong password"}
        )
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "auth.failed"
        r = client.post(
            "/api/v1/auth/token", data={"username": user.username, "password": "correct horse battery"}
        )
        assert r.status_code == 200 and r.json()["token_type"] == "bearer"
        access = r.json()["access_token"]
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"}).json()
        assert me["username"] == user.username and me["permissions"] == ["case.view", "case.work"]
        made = client.post(
            "/api/v1/auth/tokens",
            json={"name": "dialer", "days": 30},
            headers={"Authorization": f"Bearer {access}"},
        )
        assert made.status_code == 201
        personal = made.json()["token"]
        assert personal.startswith("rcp_")
        listed = client.get("/api/v1/auth/tokens", headers={"Authorization": f"Bearer {personal}"}).json()
        assert [t["name"] for t in listed] == ["dialer"] and "token" not in listed[0]
        gone = client.delete(
            f"/api/v1/auth/tokens/{made.json()['id']}", headers={"Authorization": f"Bearer {access}"}
        )
        assert gone.status_code == 204
        after = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {personal}"})
        assert after.status_code == 401


def test_errors_use_the_envelope(session: Session, settings: Settings) -> None:
    user = make_user(session, "collector")
    token = token_for(session, user)
    case = make_case(session, holder=user)
    with api_client(session, settings) as client:
        for r, status, code in (
            (client.get("/api/v1/nowhere"), 404, "not_found"),
            (
                client.get("/api/v1/cases?per_page=100000", headers={"Authorization": f"Bearer {token}"}),
                422,
                "request.invalid",
            ),
            (
                client.post(
                    f"/api/v1/cases/{case.id}/transitions",
                    json={"to_state": "legal", "reason": "court"},
                    headers={"Authorization": f"Bearer {token}"},
                ),
                409,
                "case.invalid_transition",
            ),
        ):
            assert r.status_code == status, r.json()
            assert set(r.json()) == {"error"} and r.json()["error"]["code"] == code
            assert set(r.json()["error"]) == {"code", "message", "details"}
        # The API's documentation is behind api.docs (a collector lacks it): envelope for the JSON, the
        # sign-in page for the Swagger UI; a manager's token reads both.
        anonymous = client.get("/openapi.json")
        assert anonymous.status_code == 401 and set(anonymous.json()) == {"error"}
        denied = client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "auth.forbidden"
        assert client.get("/api/docs", follow_redirects=False).headers["location"].startswith("/login")
        boss = {"Authorization": f"Bearer {token_for(session, make_user(session, 'manager'))}"}
        assert client.get("/openapi.json", headers=boss).json()["info"]["title"] == "recoup"
        docs = client.get("/api/docs", headers=boss)
        assert docs.status_code == 200 and "/static/swagger-ui-5.36.0/swagger-ui-bundle.js" in docs.text
        assert client.get("/static/swagger-ui-5.36.0/swagger-ui-bundle.js").status_code == 200


def _page_routes() -> list[tuple[str, str, str]]:
    from fastapi.routing import APIRoute

    from recoup.web.app import page_routers
    from recoup.web.deps import permission_of

    return [
        (method, route.path, perm)
        for router in page_routers()
        for route in router.routes
        if isinstance(route, APIRoute) and (perm := permission_of(route))
        for method in sorted(route.methods or ())
    ]


def test_every_role_against_every_page(session: Session, settings: Settings) -> None:
    """The pages read the same permission table: a role lacking a page's permission gets the 403 page."""
    from recoup.web import pages

    routes = _page_routes()
    assert {p for _m, p, _perm in routes} >= {"/queue", "/cases/{case_id}", "/morning"}
    seen: set[tuple[str, str]] = set()
    for role in DEFAULT_ROLES:
        user = make_user(session, role)
        case = make_case(session, holder=user)
        pages.THROTTLE.succeeded(f"user:{user.username}", "ip:testclient")
        with api_client(session, settings) as client:
            client.get("/login")
            token = client.cookies.get("csrftoken") or ""
            signed = client.post(
                "/login",
                data={"username": user.username, "password": "correct horse battery"},
                headers={"x-csrftoken": token, "hx-request": "true"},
            )
            assert signed.status_code == 204, signed.text
            for method, path, perm in routes:
                url = _fill(path, case.id)
                r = client.request(method, url, headers={"x-csrftoken": token}, follow_redirects=False)
                if has_permission(user, perm):
                    assert r.status_code != 403, (role, method, path)
                else:
                    assert r.status_code == 403, (role, method, path, r.status_code)
                seen.add((role, perm))
    assert seen == {(role, perm) for role in DEFAULT_ROLES for _m, _p, perm in routes}
