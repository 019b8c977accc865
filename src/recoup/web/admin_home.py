"""The administration pages (``/admin``): the landing page and what every admin page shares.

The issue allows an established admin library (sqladmin, starlette-admin) for plain record screens. We
build these pages by hand with our own Jinja2 templates instead: those libraries render their own
templates, which neither our zh_CN/en gettext catalogs nor our permission table
(:data:`recoup.auth.service.PERMISSIONS`, checked per route by :func:`recoup.web.session.require_page`
and walked by the role × route test) reach, and every change here must go through the domain services
and the audit ledger rather than raw row edits.

Who may do what (one permission per route, as everywhere):

* ``admin.view`` — every page read-only (admin, manager, analyst, compliance, auditor);
* ``config.edit`` — validate documents, save draft strategies, template versions (inactive until
  activated) and preset copies under a name that is not in use;
* ``admin.activate`` — whatever changes what the next cycle or the dispatcher does: activate a strategy
  or template version, save the live strategy (``default``), the live preset or a decision table,
  promote a model. An analyst prepares, a manager or admin puts it into effect;
* ``user.manage`` — users, roles, passwords, teams and worker profiles.

Every change is written to the audit ledger with the acting username (who), the ledger's timestamp
(when) and the configuration version it produced (version). Forms that edit versioned configuration
carry the version they were opened on; a save on top of a newer version is refused (409) instead of
silently overwriting someone else's change.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.cases.models import Team
from recoup.configs.models import ConfigVersion
from recoup.errors import ConflictError, RecoupError
from recoup.ledger.service import do_append
from recoup.scoring.models import ModelVersion
from recoup.web.deps import DbSession
from recoup.web.labels import N_
from recoup.web.pages import redirect
from recoup.web.session import require_page
from recoup.web.templating import render

router = APIRouter(include_in_schema=False)

AdminViewer = Annotated[AppUser, require_page("admin.view")]
ConfigEditor = Annotated[AppUser, require_page("config.edit")]
Activator = Annotated[AppUser, require_page("admin.activate")]
UserManager = Annotated[AppUser, require_page("user.manage")]

#: The admin sections: (key, path, title, what it holds, the permission that changes things there).
SECTIONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("users", "/admin/users", N_("Users"), N_("Sign-in accounts, roles, language, passwords"), "user.manage"),
    (
        "teams",
        "/admin/teams",
        N_("Teams and agencies"),
        N_("Teams, team leads, members and worker profiles; agencies are teams of the kind agency"),
        "user.manage",
    ),
    (
        "strategies",
        "/admin/strategies",
        N_("Strategies"),
        N_("Which treatment each account gets: versions, rows, validation, differences, activation"),
        "config.edit",
    ),
    (
        "templates",
        "/admin/templates",
        N_("Message templates"),
        N_("SMS, e-mail and robot-call texts in Chinese and English, checked by the compliance linter"),
        "config.edit",
    ),
    (
        "presets",
        "/admin/presets",
        N_("Contact-policy presets"),
        N_("Contact hours, attempt limits and the other rules, with their sources"),
        "config.edit",
    ),
    (
        "models",
        "/admin/models",
        N_("Scoring models"),
        N_("Trained versions, their metrics, the champion"),
        "admin.activate",
    ),
    (
        "tables",
        "/admin/tables",
        N_("Decision tables"),
        N_("Buckets, five-category classes, case grades, segments and allocation pools"),
        "admin.activate",
    ),
)

_FLASH = "admin_flash"


class DocumentError(RecoupError):
    """An edited or uploaded document cannot be read; ``details`` carry the line and column."""

    code = "admin.bad_document"
    http_status = 422


def audit(session: Session, user: AppUser, event: str, payload: Mapping[str, Any]) -> None:
    """One audit-ledger entry for a change made on an admin page (ids and versions only, never PII)."""
    do_append(event, dict(payload), session=session, actor=user.username)


def flash(request: Request, message: str, *, error: bool = False) -> None:
    """A message for the next admin page this browser opens (kept in the signed session cookie)."""
    request.session[_FLASH] = [message[:500], error]


def done(request: Request, to: str, message: str) -> Response:
    """After a change: remember ``message`` and send the browser to ``to`` (post/redirect/get)."""
    flash(request, message)
    return redirect(request, to)


def admin_page(
    request: Request,
    user: AppUser,
    template: str,
    context: dict[str, Any],
    *,
    section: str,
    status: int = 200,
    here: str | None = None,
) -> Response:
    """Render an admin page: the section's sub-navigation, a pending flash message, the user's rights."""
    ctx = dict(context)
    pending = request.session.pop(_FLASH, None)
    if "flash" not in ctx and isinstance(pending, list) and len(pending) == 2:
        ctx["flash"], ctx["flash_error"] = str(pending[0]), bool(pending[1])
    ctx.setdefault("flash_error", False)
    ctx["section"] = section
    ctx["sections"] = list(SECTIONS)
    # The path the language switch returns to (a re-rendered form answers a POST to another path).
    ctx["here"] = here or request.url.path
    return render(request, template, ctx, user=user, status=status)


def error_page(
    request: Request,
    user: AppUser,
    template: str,
    context: dict[str, Any],
    exc: RecoupError,
    *,
    section: str,
    here: str,
) -> Response:
    """Re-render a form with the service's error (its message and the problems it lists)."""
    ctx = {**context, "flash": exc.message, "flash_error": True, "problems": problems_of(exc)}
    status = 422  # htmx swaps a 422 in place (base.html); the message says why
    return admin_page(request, user, template, ctx, section=section, status=status, here=here)


def problems_of(exc: RecoupError) -> list[dict[str, Any]]:
    """The itemised problems a service error carries (``details["errors"]`` or ``["problems"]``)."""
    items = exc.details.get("errors") or exc.details.get("problems") or []
    return [dict(i) for i in items if isinstance(i, Mapping)]


def check_base_version(latest: int | None, base: int | None, what: str) -> None:
    """Refuse to save on top of a version newer than the one the form was opened on."""
    if latest is not None and base is not None and latest != base:
        raise ConflictError(
            f"{what} was saved as version {latest} after you opened version {base}; reload the page and "
            f"make your change again / {what} 在您打开第 {base} 版之后已保存为第 {latest} 版，"
            "请刷新后重新修改",
            details={"latest": latest, "base": base},
        )


def parse_document(text: str, filename: str = "") -> dict[str, Any]:
    """A JSON (or, by file name or content, TOML) object; :class:`DocumentError` names line and column."""
    stripped = text.strip()
    if not stripped:
        raise DocumentError("the document is empty / 文档为空", details={"line": 1, "column": 1})
    as_toml = filename.lower().endswith(".toml") or not stripped.startswith(("{", "["))
    try:
        data: Any = tomllib.loads(text) if as_toml else json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            f" / JSON 格式错误（第 {exc.lineno} 行，第 {exc.colno} 列）",
            details={"line": exc.lineno, "column": exc.colno},
        ) from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        raise DocumentError(
            f"not valid TOML: {exc} / TOML 格式错误", details={"line": line, "column": col}
        ) from None
    if not isinstance(data, dict):
        raise DocumentError("the document must be a JSON object / 文档须为 JSON 对象", details={"line": 1})
    return data


def node_line(text: str, node: str | None) -> int | None:
    """The line of ``text`` where the row ``node`` (``"id": "node"`` or ``id = "node"``) starts."""
    if not node:
        return None
    if node.startswith("#") and node[1:].isdigit():
        return None
    pattern = re.compile(r"""["']?id["']?\s*[:=]\s*["']""" + re.escape(node) + r"""["']""")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return number
    return None


def with_lines(text: str, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``problems`` with the line of the row each names (``node`` or ``row_id``), for the editor."""
    out = []
    for p in problems:
        node = p.get("node") if p.get("node") is not None else p.get("row_id")
        line = p.get("line") or node_line(text, node if isinstance(node, str) else None)
        field, message = str(p.get("field") or ""), str(p.get("message") or "")
        # "strategy x v2, row "r": then.tone: …" → "…": the row and the field are shown beside it.
        short = message.split(f"{field}: ", 1)[1] if field and f"{field}: " in message else message
        out.append({**p, "line": line, "message": short})
    return out


def pretty(payload: Mapping[str, Any]) -> str:
    """A stored document as the editor shows it."""
    return json.dumps(payload, ensure_ascii=False, indent=2)


@router.get("/admin")
def admin_home(request: Request, user: AdminViewer, session: DbSession) -> Response:
    """The sections with what each holds and how many there are."""
    kinds = dict(
        session.execute(
            select(ConfigVersion.kind, func.count(func.distinct(ConfigVersion.name))).group_by(
                ConfigVersion.kind
            )
        ).all()
    )
    counts = {
        "users": session.scalar(select(func.count()).select_from(AppUser)) or 0,
        "teams": session.scalar(select(func.count()).select_from(Team)) or 0,
        "strategies": kinds.get("strategy", 0),
        "templates": kinds.get("message_template", 0),
        "presets": kinds.get("contact_preset", 0),
        "models": session.scalar(select(func.count()).select_from(ModelVersion)) or 0,
        "tables": kinds.get("decision_table", 0),
    }
    rights = [
        (perm, has_permission(user, perm))
        for perm in ("admin.view", "config.edit", "admin.activate", "user.manage")
    ]
    ctx = {"counts": counts, "rights": rights}
    return admin_page(request, user, "admin_home.html", ctx, section="home")


def admin_routers() -> list[APIRouter]:
    """Every admin page's router (``page_routers()`` of :mod:`recoup.web.app` mounts them)."""
    from recoup.web import (
        admin_models,
        admin_presets,
        admin_strategy,
        admin_tables,
        admin_teams,
        admin_templates,
        admin_users,
    )

    return [
        router,
        admin_users.router,
        admin_teams.router,
        admin_strategy.router,
        admin_templates.router,
        admin_presets.router,
        admin_models.router,
        admin_tables.router,
    ]
