"""Users, roles, passwords and permissions. Services take ``session`` and never commit."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser, Role
from recoup.errors import AuthError, ConflictError

#: Every permission the app checks, with what it allows. Together with :data:`DEFAULT_ROLES` this is
#: THE permission table (role × action): the API's routes, the CLI and the tests all read it.
PERMISSIONS: Final[dict[str, str]] = {
    "pii.unmask": "see full ID numbers, phones, emails and addresses, giving a reason (each view is audited)"
    " / 说明理由后查看完整的身份证号、电话、邮箱和地址（每次查看均记入审计）",
    "pii.review": "review who revealed personal data and why, and the alerts on too many reveals"
    " / 审查个人信息查看记录（谁、为何查看）及过量查看告警",
    "export.request": "ask for an export of one's visible cases; another user approves it"
    " / 申请导出本人可见的案件清单，须由他人审批",
    "export.approve": "approve or reject another user's export request (four eyes)"
    " / 审批他人的导出申请（双人复核）",
    "import.run": "import lender extracts into the lake",
    "cycle.run": "run or rerun the daily cycle",
    "config.edit": "edit strategies, buckets, segments, templates and policies",
    "case.view": "see the cases one holds or has a task on",
    "case.view_team": "see the cases held by one's team (team leads)",
    "case.view_all": "see every case",
    "case.work": "log contacts, promises to pay and notes on cases; work one's task queue",
    "case.assign": "allocate cases to queues, collectors and agencies",
    "case.stop": "stop and resume collection on a case (停催 / 复催)",
    "case.legal": "move cases into and through legal action and asset disposal",
    "case.close": "close cases (writing off or selling also needs legal.manage)",
    "case.archive": "archive closed cases",
    "visit.approve": "approve field visits (外访)",
    "plan.approve": "approve repayment plans, settlements and waivers",
    "legal.manage": "open and manage legal matters, collateral and write-offs",
    "agency.manage": "place and recall cases, manage agencies and commissions",
    "complaint.handle": "handle complaints and contact-policy holds",
    "report.view": "see reports and KPIs",
    "audit.view": "read the audit ledger",
    "ledger.verify": "verify the audit ledger and its checkpoints",
    "user.manage": "create users and assign roles",
    "api.docs": "read the API's documentation (/api/docs and /openapi.json)",
    "admin.view": "open the administration pages read-only: users, teams, strategies, templates, presets, "
    "models, decision tables / 只读查看管理页面：用户、团队、策略、模板、预设、模型、决策表",
    "admin.activate": "put configuration into effect: activate strategy and template versions, save the live "
    "strategy, presets and decision tables, promote models"
    " / 使配置生效：启用策略与模板版本、保存生效中的策略、预设与决策表、晋升模型",
}

#: The roles every installation starts with (name → permissions). ``*`` grants everything.
#: A role with ``case.view`` only sees what it holds (collector, field agent, agency user).
DEFAULT_ROLES: Final[dict[str, list[str]]] = {
    "admin": ["*"],
    "manager": [
        "case.view",
        "case.view_all",
        "case.work",
        "case.assign",
        "case.stop",
        "case.legal",
        "case.close",
        "case.archive",
        "visit.approve",
        "plan.approve",
        "agency.manage",
        "config.edit",
        "import.run",
        "cycle.run",
        "report.view",
        "pii.unmask",
        "pii.review",
        "export.request",
        "export.approve",
        "api.docs",
        "admin.view",
        "admin.activate",
    ],
    "analyst": [
        "case.view",
        "case.view_all",
        "config.edit",
        "report.view",
        "api.docs",
        "admin.view",
        "export.request",
    ],
    "team_lead": [
        "case.view",
        "case.view_team",
        "case.work",
        "case.assign",
        "visit.approve",
        "report.view",
        "pii.unmask",
        "export.request",
    ],
    "collector": ["case.view", "case.work"],
    "field_agent": ["case.view", "case.work", "pii.unmask"],
    "legal": [
        "case.view",
        "case.view_all",
        "case.work",
        "case.legal",
        "legal.manage",
        "report.view",
        "pii.unmask",
        "export.request",
    ],
    "compliance": [
        "case.view",
        "case.view_all",
        "case.stop",
        "complaint.handle",
        "audit.view",
        "ledger.verify",
        "report.view",
        "pii.unmask",
        "pii.review",
        "export.request",
        "export.approve",
        "admin.view",
    ],
    "agency": ["case.view", "case.work"],
    "auditor": [
        "case.view",
        "case.view_all",
        "audit.view",
        "ledger.verify",
        "report.view",
        "admin.view",
        "pii.review",
    ],
}

LOCALES: Final = ("zh_CN", "en")
USERNAME_RE: Final = re.compile(r"[a-z0-9._-]{3,64}", re.ASCII)
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 1024

# scrypt cost for new hashes (~65 ms and 32 MiB each); old hashes keep the parameters they carry.
SCRYPT_N: Final = 2**15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32


class InvalidUserError(AuthError):
    """A new user's name, password, roles, email or locale are not acceptable."""

    code = "auth.invalid_user"
    http_status = 422


class AuthenticationError(AuthError):
    """Unknown user, wrong password or disabled account (one message for all three)."""

    code = "auth.failed"
    http_status = 401


# --- passwords -------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * n * r * p + 2**20
    )


def hash_password(password: str) -> str:
    """A salted scrypt hash: ``scrypt$n$r$p$salt$hash`` (salt and hash base64url)."""
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, _HASH_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time compare); a malformed hash never matches."""
    try:
        scheme, n_s, r_s, p_s, salt_s, hash_s = stored.split("$")
        n, r, p = int(n_s), int(r_s), int(p_s)
        salt, expected = _unb64(salt_s), _unb64(hash_s)
    except (ValueError, binascii.Error):
        return False
    if scheme != "scrypt" or n < 2 or n & (n - 1) or not (1 <= r <= 32 and 1 <= p <= 16 and n <= 2**20):
        return False
    if not salt or not 16 <= len(expected) <= 64:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(expected)), expected)


#: Checked against when the user is unknown, so both failures take the same time.
_DUMMY_HASH: Final = hash_password("recoup-dummy-password")


# --- roles -----------------------------------------------------------------------------------


def do_ensure_default_roles(*, session: Session) -> list[str]:
    """Create the missing :data:`DEFAULT_ROLES` (existing roles keep their permissions); names created."""
    existing = set(session.scalars(select(Role.name).where(Role.name.in_(DEFAULT_ROLES))))
    created = [name for name in DEFAULT_ROLES if name not in existing]
    session.add_all(Role(name=name, permissions=list(DEFAULT_ROLES[name])) for name in created)
    session.flush()
    return created


def get_roles(names: Iterable[str], *, session: Session) -> list[Role]:
    """The roles named ``names`` (unknown names are left out)."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    return list(session.scalars(select(Role).where(Role.name.in_(wanted)).order_by(Role.name)))


def has_permission(user: AppUser, perm: str) -> bool:
    """Whether an active ``user`` holds ``perm`` through a role (``*`` or ``prefix.*`` also grant it)."""
    if not user.is_active:
        return False
    prefix = perm.split(".", 1)[0] + ".*"
    return any(p in ("*", perm, prefix) for role in user.roles for p in role.permissions)


# --- users -----------------------------------------------------------------------------------


def get_user(username: str, *, session: Session) -> AppUser | None:
    """The user called ``username``, if any."""
    return session.scalars(select(AppUser).where(AppUser.username == username)).one_or_none()


def list_users(*, session: Session) -> list[AppUser]:
    """Every user, by username."""
    return list(session.scalars(select(AppUser).order_by(AppUser.username)))


def check_username(username: str) -> None:
    """3–64 characters of ``a-z 0-9 . _ -``."""
    if not USERNAME_RE.fullmatch(username):
        raise InvalidUserError(
            f"invalid username {username!r}: use 3–64 characters of a-z, 0-9, '.', '_' or '-'"
            f" / 用户名 {username!r} 无效：须为 3–64 个字符，仅限小写字母、数字、'.'、'_'、'-'",
            details={"field": "username", "value": username},
        )


def check_password(password: str) -> None:
    """At least :data:`MIN_PASSWORD` characters (and at most :data:`MAX_PASSWORD`)."""
    if len(password) < MIN_PASSWORD:
        raise InvalidUserError(
            f"password too short: at least {MIN_PASSWORD} characters, got {len(password)}"
            f" / 密码过短：至少 {MIN_PASSWORD} 个字符，实际 {len(password)} 个",
            details={"field": "password", "min_length": MIN_PASSWORD, "length": len(password)},
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidUserError(
            f"password too long: at most {MAX_PASSWORD} characters / 密码过长：最多 {MAX_PASSWORD} 个字符",
            details={"field": "password", "max_length": MAX_PASSWORD, "length": len(password)},
        )


def check_roles(roles: Sequence[str], *, session: Session) -> list[Role]:
    """The roles named ``roles``; InvalidUserError naming any that do not exist."""
    found = get_roles(roles, session=session)
    missing = sorted(set(roles) - {r.name for r in found})
    if missing:
        known = list(session.scalars(select(Role.name).order_by(Role.name)))
        raise InvalidUserError(
            f"unknown role(s): {', '.join(missing)}; known roles: {', '.join(known) or '(none)'}"
            f" / 角色不存在：{', '.join(missing)}；可用角色：{', '.join(known) or '（无）'}",
            details={"field": "roles", "unknown": missing, "known": known},
        )
    return found


def check_username_free(username: str, *, session: Session) -> None:
    """ConflictError if ``username`` is taken."""
    if get_user(username, session=session) is not None:
        raise ConflictError(
            f"username {username!r} is already taken / 用户名 {username!r} 已存在",
            details={"field": "username", "value": username},
        )


def check_new_user(
    username: str,
    password: str,
    roles: Sequence[str],
    *,
    session: Session,
    email: str = "",
    locale: str = "zh_CN",
) -> list[Role]:
    """Validate a new user; returns the role rows. InvalidUserError or ConflictError name the problem."""
    check_username(username)
    check_password(password)
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise InvalidUserError(
            f"invalid email address {email!r} / 邮箱地址 {email!r} 无效",
            details={"field": "email", "value": email},
        )
    if locale not in LOCALES:
        raise InvalidUserError(
            f"unsupported locale {locale!r}; one of {', '.join(LOCALES)} / 不支持的语言 {locale!r}",
            details={"field": "locale", "value": locale},
        )
    found = check_roles(roles, session=session)
    check_username_free(username, session=session)
    return found


def do_create_user(
    username: str,
    password: str,
    *,
    roles: Sequence[str],
    display_name: str = "",
    email: str = "",
    locale: str = "zh_CN",
    session: Session,
) -> AppUser:
    """Create an active user holding ``roles`` (validated by :func:`check_new_user`)."""
    found = check_new_user(username, password, roles, session=session, email=email, locale=locale)
    user = AppUser(
        username=username,
        display_name=display_name.strip(),
        email=email.strip(),
        password_hash=hash_password(password),
        locale=locale,
        is_active=True,
        roles=found,
    )
    try:
        with session.begin_nested():  # a concurrent insert of the same name fails here, not at commit
            session.add(user)
    except IntegrityError:
        raise ConflictError(
            f"username {username!r} is already taken / 用户名 {username!r} 已存在",
            details={"field": "username", "value": username},
        ) from None
    return user


def authenticate(username: str, password: str, *, session: Session) -> AppUser:
    """The active user whose password matches; AuthenticationError (one message) otherwise."""
    user = get_user(username, session=session) if len(username) <= 64 else None
    ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not ok or not user.is_active or len(password) > MAX_PASSWORD:
        raise AuthenticationError(
            "invalid username or password / 用户名或密码错误", details={"username": username}
        )
    return user
