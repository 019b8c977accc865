"""Administration of decision tables (``/admin/tables``): buckets, the five-category loan classes,
transitions, case grades and segments — the cycle's versioned tables (:mod:`recoup.cycle.config`) — each
shown as rows of conditions → outcome with its stored version, who saved it and when; and, read-only,
the tables still shipped in code (allocation pools, the collectors' must-do list).

The cycle uses the newest stored version of each table (the shipped default until one is saved), so
saving a version puts it into effect: it needs ``admin.activate`` and goes through
:func:`recoup.cycle.config.do_save_table`, which validates it with the shared evaluator
(:func:`recoup.rules.load_table`); problems name the row, the field and the line. Audited as
``decision_table.save``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup import rules
from recoup.auth.models import AppUser
from recoup.cases.tables import ALLOCATION_POOLS, MUST_DO
from recoup.configs.models import ConfigVersion
from recoup.configs.service import get_latest
from recoup.cycle.config import DEFAULTS, KIND, do_save_table
from recoup.errors import NotFoundError, RecoupError
from recoup.strategy.definition import condition_text
from recoup.web.admin_home import (
    Activator,
    AdminViewer,
    ConfigEditor,
    admin_page,
    audit,
    check_base_version,
    done,
    parse_document,
    pretty,
    problems_of,
    with_lines,
)
from recoup.web.deps import DbSession
from recoup.web.labels import N_
from recoup.web.pages import tr

router = APIRouter(include_in_schema=False)

TABLE_LABELS = {
    "bucket": N_("Delinquency buckets"),
    "loan_class": N_("Five-category loan classification"),
    "transition": N_("Bucket transitions"),
    "case_grade": N_("Case grades"),
    "segment": N_("Segments"),
    "allocation_pools": N_("Allocation pools"),
    "must_do": N_("Must-do list of the queue"),
}
#: Tables shipped in code, shown read-only (no versioned store yet).
CODE_TABLES: dict[str, dict[str, Any]] = {"allocation_pools": ALLOCATION_POOLS, "must_do": MUST_DO}


def rows_of(table: rules.DecisionTable) -> list[dict[str, Any]]:
    """Position, id, conditions in words, outcome, note; then what applies when no row matches."""
    out = [
        {"pos": i, "id": r.id, "when": condition_text(r.when), "then": r.then, "note": r.note}
        for i, r in enumerate(table.rows, start=1)
    ]
    if table.mode == "first":
        out.append({"pos": None, "id": None, "when": None, "then": table.default or {}, "note": ""})
    return out


def _versions(name: str, session: Session) -> list[ConfigVersion]:
    stmt = (
        select(ConfigVersion)
        .where(ConfigVersion.kind == KIND, ConfigVersion.name == name)
        .order_by(ConfigVersion.version.desc())
    )
    return list(session.scalars(stmt))


def _current(
    name: str, session: Session, version: int | None = None
) -> tuple[rules.DecisionTable, ConfigVersion | None]:
    """The stored version (newest unless ``version``), else the shipped default (not saved by a GET)."""
    if name in CODE_TABLES:
        return rules.load_table(CODE_TABLES[name]), None
    if name not in DEFAULTS:
        raise NotFoundError(f"no decision table {name!r}; one of {', '.join(DEFAULTS)} · 没有该决策表")
    rows = _versions(name, session)
    row = next((r for r in rows if version is None or r.version == version), None)
    if row is None and version is not None:
        raise NotFoundError(f"no version {version} of decision table {name} · 没有该版本")
    return rules.load_table(row.payload if row is not None else DEFAULTS[name]), row


@router.get("/admin/tables")
def tables_page(request: Request, user: AdminViewer, session: DbSession) -> Response:
    items = []
    for name in [*DEFAULTS, *CODE_TABLES]:
        table, row = _current(name, session)
        items.append({"name": name, "table": table, "row": row, "in_code": name in CODE_TABLES})
    ctx = {"tables": items, "labels": TABLE_LABELS}
    return admin_page(request, user, "admin_tables.html", ctx, section="tables")


@router.get("/admin/tables/{name}")
def table_page(
    name: str, request: Request, user: AdminViewer, session: DbSession, version: int | None = None
) -> Response:
    table, row = _current(name, session, version)
    ctx = {
        "name": name,
        "table": table,
        "row": row,
        "rows": rows_of(table),
        "versions": _versions(name, session) if name in DEFAULTS else [],
        "in_code": name in CODE_TABLES,
        "labels": TABLE_LABELS,
    }
    return admin_page(request, user, "admin_table.html", ctx, section="tables")


def _editor(
    request: Request, user: AppUser, name: str, text: str, base: int | None, **extra: Any
) -> Response:
    status = int(extra.pop("status", 200))
    ctx = {"name": name, "text": text, "base_version": base, "labels": TABLE_LABELS, "comment": "", **extra}
    ctx.setdefault("problems", [])
    return admin_page(
        request,
        user,
        "admin_table_edit.html",
        ctx,
        section="tables",
        status=status,
        here=f"/admin/tables/{name}",
    )


@router.get("/admin/tables/{name}/edit")
def table_edit(name: str, request: Request, user: ConfigEditor, session: DbSession) -> Response:
    if name in CODE_TABLES:
        raise NotFoundError(f"{name} is shipped in code and cannot be edited here · 该表不可在此编辑")
    table, row = _current(name, session)
    return _editor(request, user, name, pretty(table.model_dump(mode="json")), row.version if row else None)


def _check(name: str, text: str) -> rules.DecisionTable:
    data = parse_document(text)
    table = rules.load_table(data)
    if table.name != name:
        raise rules.RuleTableError(
            f"the table's name must stay {name!r}, not {table.name!r} / 表名须为 {name}",
            details={"errors": [{"field": "name", "message": f"name must be {name!r}"}]},
        )
    return table


@router.post("/admin/tables/{name}/validate")
def table_validate(
    name: str,
    request: Request,
    user: ConfigEditor,
    text: Annotated[str, Form(max_length=1_000_000)],
    base_version: Annotated[int | None, Form()] = None,
) -> Response:
    """Check an edited table without saving: its problems (row, field, line) or its rows."""
    try:
        table = _check(name, text)
    except RecoupError as exc:
        problems = with_lines(text, problems_of(exc) or [{"message": exc.message, **exc.details}])
        return _editor(request, user, name, text, base_version, problems=problems, status=422)
    note = tr(request, user, "Valid") + f": {len(table.rows)} " + tr(request, user, "rows")
    return _editor(request, user, name, text, base_version, checked=rows_of(table), flash=note)


@router.post("/admin/tables/{name}/save")
def table_save(
    name: str,
    request: Request,
    user: Activator,
    session: DbSession,
    text: Annotated[str, Form(max_length=1_000_000)],
    base_version: Annotated[int | None, Form()] = None,
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Validate and save the next version; the next cycle classifies with it."""
    try:
        with session.begin_nested():
            table = _check(name, text)
            if name not in DEFAULTS:
                raise NotFoundError(f"no decision table {name!r} · 没有该决策表")
            latest = get_latest(KIND, name, session=session, missing_ok=True)
            check_base_version(latest.version if latest else None, base_version, f"table {name}")
            data = table.model_dump(mode="json")
            before = latest.payload if latest is not None else DEFAULTS[name]
            if {**data, "version": 0} == {**rules.load_table(before).model_dump(mode="json"), "version": 0}:
                raise rules.RuleTableError("nothing changed / 没有修改")
            data["version"] = (latest.version + 1) if latest is not None else 1
            if latest is None:  # the shipped default is version 1, as the cycle would have saved it
                do_save_table(dict(DEFAULTS[name]), session=session, created_by="system")
                data["version"] = 2
            version = do_save_table(data, session=session, created_by=user.username)
            saved = get_latest(KIND, name, session=session)
            if saved is not None and comment.strip():
                saved.comment = comment.strip()[:500]
            audit(
                session,
                user,
                "decision_table.save",
                {"name": name, "version": version, "hash": rules.table_hash(table)[:12]},
            )
    except RecoupError as exc:
        problems = with_lines(text, problems_of(exc) or [{"message": exc.message, **exc.details}])
        status = 422  # htmx swaps a 422 in place (base.html); the message says why
        return _editor(
            request, user, name, text, base_version, problems=problems, comment=comment, status=status
        )
    return done(request, f"/admin/tables/{name}", tr(request, user, "Saved") + f": {name} v{version}")
