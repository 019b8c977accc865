"""Rendering pages: one Jinja2 environment over ``web/templates`` with autoescaping, a per-request
``_`` (the request's catalog), money and dates formatted for the locale, and the signed-in user."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.core import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import NumberPattern, format_percent
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.config import Settings
from recoup.web.i18n import DEFAULT, LOCALES, negotiate, translations
from recoup.web.session import UserView

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def request_locale(request: Request, user: AppUser | UserView | None = None) -> str:
    """The user's language, else the ``lang`` cookie, else ``Accept-Language``."""
    cookie = request.cookies.get("lang")
    if user is not None and user.locale in LOCALES:
        return user.locale
    if cookie in LOCALES:
        return str(cookie)
    settings: Settings = request.app.state.settings
    return negotiate(request.headers.get("accept-language"), settings.locale or DEFAULT)


def _babel(locale: str) -> str:
    return "zh_Hans_CN" if locale == "zh_CN" else "en"


@functools.cache
def _money_pattern(locale: str) -> tuple[Locale, NumberPattern]:
    # Parsing the locale and its currency pattern is most of format_currency's cost; pages format
    # hundreds of amounts, so do it once per locale.
    loc = Locale.parse(_babel(locale))
    pattern = loc.currency_formats["standard"]
    assert isinstance(pattern, NumberPattern)
    return loc, pattern


@functools.lru_cache(maxsize=65536)
def format_money(minor: int, *, currency: str, digits: int, locale: str) -> str:
    """``minor`` units as an amount of ``currency`` for ``locale`` (Decimal, never float)."""
    loc, pattern = _money_pattern(locale)
    return str(pattern.apply(Decimal(minor).scaleb(-digits), loc, currency=currency))


@functools.lru_cache(maxsize=65536)
def format_when(value: dt.datetime, tz: dt.tzinfo, locale: str) -> str:
    """``value`` as a short date and time in ``tz`` for ``locale``. Babel takes ~0.2 ms per call and a
    case page shows dozens of timestamps, the same ones request after request: remembered."""
    return format_datetime(value.astimezone(tz), format="short", tzinfo=tz, locale=_babel(locale))


@functools.lru_cache(maxsize=65536)
def format_day(value: dt.date, locale: str) -> str:
    """``value`` as a medium date for ``locale`` (remembered, as :func:`format_when`)."""
    return format_date(value, format="medium", locale=_babel(locale))


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    user: AppUser | UserView | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Render template ``name`` for ``request`` in the request's language."""
    locale = request_locale(request, user)
    tr = translations(locale)
    settings: Settings = request.app.state.settings
    currency = settings.currency
    digits = settings.minor_digits
    loc = _babel(locale)

    def money(minor: int | None) -> str:
        return "—" if minor is None else format_money(minor, currency=currency, digits=digits, locale=locale)

    def day(value: dt.date | None) -> str:
        return "—" if value is None else format_day(value, locale)

    def when(value: dt.datetime | None) -> str:
        return "—" if value is None else format_when(value, settings.tz, locale)

    def pct(value: float | None) -> str:
        return "—" if value is None else format_percent(value, format="#,##0.0%", locale=loc)

    def can(permission: str) -> bool:
        return isinstance(user, AppUser) and has_permission(user, permission)

    ctx = {
        "request": request,
        "user": user,
        "can": can,
        "locale": locale,
        "_": tr.gettext,
        "money": money,
        "day": day,
        "when": when,
        "pct": pct,
        **(context or {}),
    }
    html = _env.get_template(name).render(ctx)
    return HTMLResponse(html, status_code=status)
