"""The ``recoup agency`` Typer apps and the helpers its commands share (dates, months, money, users)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import typer

from recoup.console import make_console
from recoup.errors import NotFoundError, UsageError

__all__ = [
    "ACTOR",
    "JSON_OPT",
    "app",
    "console",
    "emit",
    "parse_date",
    "parse_month",
    "pct",
    "staff_app",
    "today",
    "user_named",
    "yuan",
]

app = typer.Typer(
    help="Agencies (委外): register, placement in 赛马 batches, recall, commission statements. 委外管理。",
    no_args_is_help=True,
)
staff_app = typer.Typer(
    help="An agency's staff register and training. 委外人员名册与培训。", no_args_is_help=True
)
app.add_typer(staff_app, name="staff")
console = make_console()
ACTOR = "cli"
JSON_OPT = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON")


def emit(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, default=str))


def parse_date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a date (YYYY-MM-DD) · 日期格式应为 YYYY-MM-DD",
            details={"option": option, "value": text},
        ) from None


def parse_month(text: str | None) -> str:
    from recoup.config import get_settings

    if text is None:  # the last complete month
        first = dt.datetime.now(get_settings().tz).date().replace(day=1)
        return (first - dt.timedelta(days=1)).strftime("%Y-%m")
    try:
        dt.datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise UsageError(
            f"--month {text!r} is not a month (YYYY-MM) · 月份格式应为 YYYY-MM",
            details={"option": "--month", "value": text},
        ) from None
    return text


def today() -> dt.date:
    from recoup.config import get_settings

    return dt.datetime.now(get_settings().tz).date()


def yuan(minor: int) -> str:
    from recoup.money import format_amount

    return format_amount(int(minor), "CNY")


def pct(bp: int) -> str:
    return f"{bp / 100:.2f}%"


def user_named(username: str, session: Any) -> Any:
    """The user called ``username`` (not_found when there is none)."""
    from recoup.auth.service import get_user

    user = get_user(username, session=session)
    if user is None:
        raise NotFoundError(f"no user {username} / 用户 {username} 不存在", details={"username": username})
    return user
