"""Users, roles, passwords and permissions on both databases, and the ``recoup user`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth import service as auth
from recoup.auth.models import AppUser, Role, user_role
from recoup.errors import AuthError, ConflictError

PASSWORD = "correct horse battery"


@pytest.fixture
def roles(session: Session) -> Session:
    auth.do_ensure_default_roles(session=session)
    return session


def test_default_roles_are_created_once(session: Session) -> None:
    created = auth.do_ensure_default_roles(session=session)
    assert set(created) <= set(auth.DEFAULT_ROLES)
    assert auth.do_ensure_default_roles(session=session) == []
    names = set(session.scalars(select(Role.name)))
    assert {"admin", "manager", "collector", "compliance", "agency", "auditor"} <= names
    for name, perms in auth.DEFAULT_ROLES.items():
        assert all(p == "*" or p in auth.PERMISSIONS for p in perms), name


def test_create_user_with_roles(roles: Session) -> None:
    user = auth.do_create_user(
        "zhang.san",
        PASSWORD,
        roles=["collector", "compliance"],
        display_name="张三",
        email="zhangsan@example.com",
        session=roles,
    )
    assert user.id is not None and user.is_active and user.locale == "zh_CN"
    assert user.role_names == ["collector", "compliance"]
    assert user.created_at.tzinfo is not None
    assert PASSWORD not in user.password_hash and user.password_hash.startswith("scrypt$")
    roles.expire_all()
    again = auth.get_user("zhang.san", session=roles)
    assert again is not None and again.role_names == ["collector", "compliance"]
    assert again.display_name == "张三"
    assert roles.scalar(select(user_role.c.user_id).where(user_role.c.user_id == user.id).limit(1)) == user.id


def test_duplicate_username_is_a_conflict(roles: Session) -> None:
    auth.do_create_user("li.si", PASSWORD, roles=["collector"], session=roles)
    with pytest.raises(ConflictError) as info:
        auth.do_create_user("li.si", PASSWORD + "x", roles=["manager"], session=roles)
    assert "li.si" in info.value.message and "already taken" in info.value.message
    assert "已存在" in info.value.message
    assert len(list(roles.scalars(select(AppUser).where(AppUser.username == "li.si")))) == 1


@pytest.mark.parametrize(
    ("username", "password", "role_names", "needles"),
    [
        ("ab", PASSWORD, ["collector"], ["username", "'ab'", "3–64", "用户名"]),
        ("Alice", PASSWORD, ["collector"], ["username", "'Alice'", "a-z"]),
        ("bob smith", PASSWORD, ["collector"], ["username", "'bob smith'"]),
        ("a" * 65, PASSWORD, ["collector"], ["username"]),
        ("wang.wu", "short", ["collector"], ["password too short", "10", "密码过短"]),
        ("wang.wu", PASSWORD, ["collector", "wizard"], ["unknown role", "wizard", "collector", "角色不存在"]),
    ],
)
def test_bad_new_user_names_the_problem(
    roles: Session, username: str, password: str, role_names: list[str], needles: list[str]
) -> None:
    with pytest.raises(AuthError) as info:
        auth.do_create_user(username, password, roles=role_names, session=roles)
    for needle in needles:
        assert needle in info.value.message
    assert info.value.details["field"] in {"username", "password", "roles"}
    assert roles.scalars(select(AppUser)).first() is None


def test_bad_email_and_locale(roles: Session) -> None:
    with pytest.raises(AuthError, match="email"):
        auth.check_new_user("wang.wu", PASSWORD, ["collector"], email="not-an-email", session=roles)
    with pytest.raises(AuthError, match="locale"):
        auth.check_new_user("wang.wu", PASSWORD, ["collector"], locale="fr", session=roles)


def test_authenticate(roles: Session) -> None:
    created = auth.do_create_user("zhao.liu", PASSWORD, roles=["collector"], session=roles)
    assert auth.authenticate("zhao.liu", PASSWORD, session=roles) is created
    with pytest.raises(AuthError) as wrong:
        auth.authenticate("zhao.liu", PASSWORD + "!", session=roles)
    with pytest.raises(AuthError) as unknown:
        auth.authenticate("nobody", PASSWORD, session=roles)
    assert wrong.value.message == unknown.value.message
    assert "invalid username or password" in wrong.value.message
    created.is_active = False
    with pytest.raises(AuthError) as disabled:
        auth.authenticate("zhao.liu", PASSWORD, session=roles)
    assert disabled.value.message == wrong.value.message


def test_permissions(roles: Session) -> None:
    collector = auth.do_create_user("c.one", PASSWORD, roles=["collector"], session=roles)
    admin = auth.do_create_user("a.one", PASSWORD, roles=["admin"], session=roles)
    mixed = auth.do_create_user("m.one", PASSWORD, roles=["auditor", "compliance"], session=roles)
    assert auth.has_permission(collector, "case.work")
    assert not auth.has_permission(collector, "pii.unmask")
    assert not auth.has_permission(collector, "config.edit")
    assert auth.has_permission(admin, "pii.unmask") and auth.has_permission(admin, "anything.at_all")
    assert auth.has_permission(mixed, "ledger.verify") and auth.has_permission(mixed, "pii.unmask")
    assert not auth.has_permission(mixed, "import.run")
    custom = Role(name="pii-officer", permissions=["pii.*"])
    roles.add(custom)
    roles.flush()
    officer = auth.do_create_user("p.one", PASSWORD, roles=["pii-officer"], session=roles)
    assert auth.has_permission(officer, "pii.unmask") and not auth.has_permission(officer, "case.view")
    admin.is_active = False
    assert not auth.has_permission(admin, "pii.unmask")


def test_deleting_a_role_cascades_to_memberships(roles: Session) -> None:
    role = Role(name="temp", permissions=["report.view"])
    roles.add(role)
    roles.flush()
    user = auth.do_create_user("t.one", PASSWORD, roles=["temp", "collector"], session=roles)
    roles.delete(role)
    roles.flush()
    roles.expire_all()
    assert user.role_names == ["collector"]


def test_password_hashes() -> None:
    a, b = auth.hash_password(PASSWORD), auth.hash_password(PASSWORD)
    assert a != b  # salted
    scheme, n, r, p, _salt, _digest = a.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", auth.SCRYPT_N, auth.SCRYPT_R, auth.SCRYPT_P)
    assert auth.verify_password(PASSWORD, a) and auth.verify_password(PASSWORD, b)
    assert not auth.verify_password(PASSWORD + " ", a)
    for broken in (
        "",
        "scrypt$1$2",
        "md5$16384$8$1$AAAA$AAAA",
        a.replace("scrypt$", "scrypt$x"),
        "scrypt$3$8$1$a$b",
    ):
        assert not auth.verify_password(PASSWORD, broken)


def _recoup(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "recoup"
    return subprocess.run(
        [str(exe), *args], input=stdin, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_create_and_list_users(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env |= {"RECOUP_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    up = _recoup("db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr

    created = _recoup(
        "user", "create", "alice", "--role", "collector", "--password-stdin", env=env, stdin=PASSWORD
    )
    assert created.returncode == 0, created.stderr
    assert "alice" in created.stdout

    listed = _recoup("user", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "alice" in listed.stdout and "催收员" in listed.stdout  # the role in the default language, zh_CN
    assert "scrypt" not in listed.stdout

    again = _recoup(
        "user", "create", "alice", "--role", "manager", "--password-stdin", env=env, stdin=PASSWORD
    )
    assert again.returncode != 0
    assert "already taken" in again.stderr and "alice" in again.stderr
    assert "Traceback" not in again.stderr + again.stdout

    short = _recoup(
        "user", "create", "bob", "--role", "collector", "--password-stdin", env=env, stdin="short\n"
    )
    assert short.returncode != 0 and "password too short" in short.stderr
    assert "Traceback" not in short.stderr + short.stdout
