"""``recoup user``: create and list users of the operational app."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from recoup.auth import service
from recoup.console import make_console
from recoup.db import session_scope
from recoup.errors import AuthError, RecoupError
from recoup.i18n import _
from recoup.labels_domain import role_label

app = typer.Typer(
    help="Users and roles of the operational app. 用户与角色管理。",
    no_args_is_help=True,
)


class DatabaseNotReadyError(RecoupError):
    code = "db.not_ready"
    http_status = 503
    exit_code = 69  # EX_UNAVAILABLE


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    """A committed session with the default roles present; a missing schema is a clear error."""
    try:
        with session_scope() as session:
            service.do_ensure_default_roles(session=session)
            yield session
    except (OperationalError, ProgrammingError) as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        raise DatabaseNotReadyError(
            f"the database is not ready ({first}); run `recoup db upgrade` first"
            f" / 数据库未就绪，请先运行 `recoup db upgrade`"
        ) from None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise AuthError("no password on standard input / 标准输入中没有密码")
        return password
    value: str = typer.prompt(
        _("Password"),
        hide_input=True,
        confirmation_prompt=_("Repeat password"),
    )
    return value


@app.command("create")
def create(
    username: str = typer.Argument(..., help="Login name: 3–64 of a-z 0-9 . _ - / 登录名"),
    role: list[str] = typer.Option(..., "--role", "-r", help="Role to grant (repeatable) / 角色（可重复）"),
    display_name: str = typer.Option("", "--display-name", help="Name shown in the app / 显示名称"),
    email: str = typer.Option("", "--email", help="Email address / 邮箱"),
    locale: str = typer.Option("zh_CN", "--locale", help="zh_CN or en / 界面语言"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from one line of stdin / 从标准输入读取密码"
    ),
) -> None:
    """Create a user with one or more roles (prompts for the password twice). 创建用户。"""
    with _unit_of_work() as session:  # fail on a bad name or role before asking for a password
        service.check_username(username)
        service.check_roles(role, session=session)
        service.check_username_free(username, session=session)
    password = _read_password(password_stdin)
    with _unit_of_work() as session:
        user = service.do_create_user(
            username,
            password,
            roles=role,
            display_name=display_name,
            email=email,
            locale=locale,
            session=session,
        )
        names = ", ".join(role_label(r) for r in user.role_names)
    typer.echo(_("created user {username} ({roles})").format(username=username, roles=names))


@app.command("list")
def list_users() -> None:
    """List users with their roles (never password hashes). 列出用户。"""
    with _unit_of_work() as session:
        users = service.list_users(session=session)
        rows = [
            (
                str(u.id),
                u.username,
                u.display_name,
                u.email,
                ", ".join(role_label(r) for r in u.role_names),
                u.locale,
                _("yes") if u.is_active else _("no"),
                u.created_at.strftime("%Y-%m-%d %H:%M"),
            )
            for u in users
        ]
    table = Table(title=_("Users"))
    heads = ("ID", _("Username"), _("Display name"), _("Email"), _("Roles"), _("Language"), _("Active"))
    for header in (*heads, _("Created (UTC)")):
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    make_console().print(table)
    if not rows:
        typer.echo(_("no users yet; create one with `recoup user create`"))
