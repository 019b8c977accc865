"""The morning view a collections director opens first (``/morning``), and the export of each of its
tables and charts (``/morning/export/{table_id}.csv`` or ``.xlsx``).

Five sections, each figure labelled with the day or days it refers to:

1. **Yesterday and this month** (:mod:`recoup.web.morning_headline`): collections against target, the
   recovery curve against the same day of last month, entry, connect and right-party-contact rates, talk
   time per head, promises due today, complaints and stopped cases;
2. **Portfolio** (:mod:`recoup.web.morning_portfolio`): balances by bucket and five-category class, the
   roll-rate heatmap, vintage curves, recovery by segment against the 60 / 70 / 40 % targets;
3. **Operations** (:mod:`recoup.web.morning_ops`): leaderboards within bucket, agencies, the contact and
   promise funnels, workload and 7-day coverage;
4. **Strategy** and 5. **Compliance** (:mod:`recoup.web.morning_checks`): experiment arms with intervals;
   blocked attempts by rule, audit violations, quality-inspection findings, holds.

Figures refer to the last day the daily cycle completed (``as_of``, "yesterday" for the director) and are
computed once per (database, lake, day, cycle run) and kept for :data:`CACHE_SECONDS`, so the page and its
exports answer quickly; the definitions are METRICS.md's, in :mod:`recoup.reporting`. Exports hold
aggregated figures only — no names of borrowers, no phones, no ids — so they need no approval.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.config import Settings
from recoup.errors import NotFoundError, RecoupError
from recoup.reporting.morning_data import cycle_marker, last_complete_day
from recoup.web import morning_checks, morning_headline, morning_ops, morning_portfolio
from recoup.web.deps import DbSession
from recoup.web.i18n import translations
from recoup.web.labels import N_
from recoup.web.morning_context import Context
from recoup.web.session import require_page
from recoup.web.tables import NUMERIC, Formats, Table, to_csv, to_xlsx
from recoup.web.templating import render, request_locale

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Director = Annotated[AppUser, require_page("report.view")]

SECTION_MODULES: tuple[ModuleType, ...] = (morning_headline, morning_portfolio, morning_ops, morning_checks)
#: How long computed figures are reused (a rerun of the day's cycle recomputes them at once).
CACHE_SECONDS = 300.0
_CACHE_MAX = 8

#: Labels of the export files' second sheet (translated by the catalog).
_ABOUT = (N_("About"), N_("Table"), N_("Period"), N_("Currency"), N_("Exported at (UTC)"), N_("Note"))


@dataclass(frozen=True)
class Panel:
    """One figure on the page: its table, whether its chart spans the row, whether its table is open."""

    table: str
    wide: bool = False
    open: bool = False


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    module: str  # the module computing its tables
    panels: tuple[Panel, ...]


SECTIONS = (
    Section(
        "headline",
        N_("Yesterday and this month"),
        morning_headline.__name__,
        (Panel("collections"), Panel("recovery-curve")),
    ),
    Section(
        "portfolio",
        N_("Portfolio"),
        morning_portfolio.__name__,
        (
            Panel("buckets"),
            Panel("classes"),
            Panel("roll-rates", wide=True),
            Panel("vintages"),
            Panel("segments"),
        ),
    ),
    Section(
        "operations",
        N_("Operations"),
        morning_ops.__name__,
        (
            Panel("leaderboard", wide=True),
            Panel("contact-funnel"),
            Panel("promise-funnel"),
            Panel("workload"),
            Panel("coverage"),
            Panel("agencies", wide=True),
        ),
    ),
    Section("strategy", N_("Strategy"), morning_checks.__name__, (Panel("arms", wide=True, open=True),)),
    Section(
        "compliance",
        N_("Compliance"),
        morning_checks.__name__,
        (Panel("blocked"), Panel("violations"), Panel("qa"), Panel("holds")),
    ),
)


@dataclass(frozen=True)
class Figures:
    """Everything the page shows for one day, independent of the reader's language; ``bodies`` keeps
    the sections rendered in each language (they hold nothing about the reader)."""

    as_of: dt.date
    tables: dict[str, Table]
    computed_at: dt.datetime
    errors: dict[str, str] = field(default_factory=dict)  # module name → why its section is missing
    bodies: dict[str, Markup] = field(default_factory=dict)


_cache: dict[tuple[str, ...], tuple[float, Figures]] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget computed figures (tests; an operator after fixing data)."""
    with _lock:
        _cache.clear()


def compute(session: Session, settings: Settings, as_of: dt.date) -> Figures:
    """Every section's tables for ``as_of`` (read-only). A section that fails is reported on the page
    (its error's message) and logged; the other sections still show."""
    ctx = Context(session=session, settings=settings, as_of=as_of)
    tables: dict[str, Table] = {}
    errors: dict[str, str] = {}
    for module in SECTION_MODULES:
        try:
            computed = module.tables(ctx)
        except RecoupError as exc:
            log.warning("morning view: %s failed for %s: %s", module.__name__, as_of, exc.code)
            errors[module.__name__] = exc.message
            continue
        except Exception:
            log.exception("morning view: %s failed for %s", module.__name__, as_of)
            errors[module.__name__] = "internal error / 内部错误"
            continue
        tables.update((t.id, t) for t in computed)
    return Figures(as_of, tables, dt.datetime.now(dt.UTC), errors=errors)


def figures(request: Request, session: Session) -> Figures | None:
    """The figures of the last completed day (cached), or None before the first cycle."""
    settings: Settings = request.app.state.settings
    as_of = last_complete_day(session=session)
    if as_of is None:
        return None
    key = (
        str(session.get_bind().engine.url),
        settings.lake_uri,
        as_of.isoformat(),
        cycle_marker(as_of, session=session),
    )
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    figs = compute(session, settings, as_of)
    with _lock:
        for k in [k for k, (until, _f) in _cache.items() if until <= now]:
            del _cache[k]
        while len(_cache) >= _CACHE_MAX:
            del _cache[next(iter(_cache))]
        _cache[key] = (now + CACHE_SECONDS, figs)
    return figs


def formats(request: Request, user: AppUser) -> Formats:
    """Number, money and date formats in the reader's language."""
    settings: Settings = request.app.state.settings
    locale = request_locale(request, user)
    return Formats(
        locale, currency=settings.currency, digits=settings.minor_digits, gettext=translations(locale).gettext
    )


def _body(request: Request, user: AppUser, figs: Figures) -> Markup:
    """The sections in the reader's language, rendered once per day and language."""
    locale = request_locale(request, user)
    if locale not in figs.bodies:
        fmt = formats(request, user)
        charts: dict[str, Any] = {}
        for module in SECTION_MODULES:
            if module.__name__ not in figs.errors:
                charts.update(module.charts(figs.tables, fmt))
        settings: Settings = request.app.state.settings
        context = {
            "as_of": figs.as_of,
            "today": figs.as_of + dt.timedelta(days=1),
            "sections": SECTIONS,
            "tables": figs.tables,
            "charts": charts,
            "fmt": fmt,
            "kpi": {row["key"]: row for row in figs.tables["kpis"].rows} if "kpis" in figs.tables else {},
            "errors": figs.errors,
            "numeric": NUMERIC,
            "target_set": settings.collections_target_month is not None
            or settings.collections_target_day is not None,
            "computed_at": figs.computed_at,
        }
        html = render(request, "morning_body.html", context, user=user).body
        figs.bodies[locale] = Markup(bytes(html).decode("utf-8"))
    return figs.bodies[locale]


@router.get("/morning")
def morning(request: Request, user: Director, session: DbSession) -> Response:
    figs = figures(request, session)
    if figs is None:
        return render(request, "morning.html", {"as_of": None}, user=user)
    return render(
        request, "morning.html", {"as_of": figs.as_of, "body": _body(request, user, figs)}, user=user
    )


_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/morning/export/{table_id}.{ext}")
def export(table_id: str, ext: str, request: Request, user: Director, session: DbSession) -> Response:
    """One table of the morning view as CSV or XLSX, headers in the reader's language."""
    figs = figures(request, session)
    if ext not in _MEDIA or figs is None or table_id not in figs.tables:
        raise NotFoundError(f"no table {table_id}.{ext} in the morning view / 晨会看板中没有该表")
    table = figs.tables[table_id]
    fmt = formats(request, user)
    body = to_csv(table, fmt) if ext == "csv" else to_xlsx(table, fmt)
    name = f"recoup-{table.id}-{figs.as_of.isoformat()}.{ext}"
    return Response(
        body, media_type=_MEDIA[ext], headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
