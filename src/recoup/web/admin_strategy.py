"""Administration of strategies (``/admin/strategies``): the stored versions, one version as a table of
its rows (conditions → treatment, with the note that explains each), the differences between two
versions, the editor that validates a document (typed or uploaded, JSON or TOML) and saves it, and
activation.

What decides: the daily cycle uses the newest version of the strategy named ``default`` (unless an
experiment names other arms), exactly as ``recoup strategy save`` leaves it. So saving ``default`` puts
the document into effect and needs ``admin.activate`` as well as ``config.edit``; an analyst saves a
draft under another name, and someone holding ``admin.activate`` activates it: its document becomes
the next version of ``default`` (activating an older version of ``default`` is a rollback, done the same
way, so the history keeps every step). The CLI asks for no second person, so neither does this page.
Services: :mod:`recoup.strategy.service` and :mod:`recoup.strategy.definition`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import has_permission
from recoup.configs.models import ConfigVersion
from recoup.configs.service import get_latest
from recoup.errors import ConflictError, NotFoundError, RecoupError
from recoup.strategy.defaults import DEFAULT_NAME, DEFAULT_STRATEGY
from recoup.strategy.definition import Strategy, StrategyError, condition_text, load_strategy
from recoup.strategy.service import (
    KIND,
    current_experiment,
    do_save_strategy,
    get_strategy,
    known_segments,
    list_strategies,
)
from recoup.web.admin_home import (
    Activator,
    AdminViewer,
    ConfigEditor,
    admin_page,
    audit,
    check_base_version,
    done,
    flash,
    parse_document,
    pretty,
    problems_of,
    with_lines,
)
from recoup.web.deps import DbSession, ForbiddenError
from recoup.web.labels import TREATMENT_LABELS
from recoup.web.pages import redirect, tr

router = APIRouter(include_in_schema=False)

#: What a row's difference is shown by (the decision's outputs, then the row's own fields).
_THEN = ("treatment", "template", "tone", "queue", "priority", "required_notice")
_DOC_FIELDS = ("description", "lender_name", "signature", "hotline", "payment_link", "opt_out", "send_hour")


def _versions(name: str, session: Session) -> list[ConfigVersion]:
    stmt = (
        select(ConfigVersion)
        .where(ConfigVersion.kind == KIND, ConfigVersion.name == name)
        .order_by(ConfigVersion.version.desc())
    )
    return list(session.scalars(stmt))


def _load(name: str, version: int | None, session: Session) -> Strategy:
    """A stored version, or (nothing stored yet) the shipped default as a draft — never saved by a GET."""
    stored = get_latest(KIND, name, session=session, missing_ok=True) is not None
    if name == DEFAULT_NAME and version is None and not stored:
        return load_strategy(DEFAULT_STRATEGY)
    return get_strategy(name, session=session, version=version)


def table_rows(strategy: Strategy) -> list[dict[str, Any]]:
    """The rows as the pages show them: position, node, conditions in words, outputs, note."""
    out = []
    for pos, row in enumerate(strategy.table.rows, start=1):
        out.append({"pos": pos, "id": row.id, "when": condition_text(row.when), **row.then, "note": row.note})
    d = strategy.table.default or {}
    out.append({"pos": None, "id": "default", "when": None, **d, "note": ""})
    return out


def _kept_in_order(a: list[str], b: list[str]) -> list[str]:
    """The longest run of rows both versions keep in the same relative order (a longest common
    subsequence); the other rows common to both moved. An insertion above a row is not a move."""
    n, m = len(a), len(b)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = best[i + 1][j + 1] + 1 if a[i] == b[j] else max(best[i + 1][j], best[i][j + 1])
    out, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            out.append(a[i])
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return out


def diff(old: Strategy, new: Strategy) -> dict[str, Any]:
    """Rows added, removed, changed (field by field, old → new) or moved, and changed document fields.
    Order matters: the first matching row decides, so a move is a change of behaviour too."""
    a = {r["id"]: r for r in table_rows(old)}
    b = {r["id"]: r for r in table_rows(new)}
    rows: list[dict[str, Any]] = []
    order_a = [rid for rid, r in a.items() if r["pos"] is not None and rid in b]
    order_b = [rid for rid, r in b.items() if r["pos"] is not None and rid in a]
    moved_ids = set(order_b) - set(_kept_in_order(order_a, order_b))
    for rid, rb in b.items():
        ra = a.get(rid)
        if ra is None:
            rows.append({"change": "added", "id": rid, "row": rb, "fields": []})
            continue
        fields = [
            (f, ra.get(f), rb.get(f))
            for f in ("when", *_THEN, "note")
            if (ra.get(f) or None) != (rb.get(f) or None)
        ]
        moved = rid in moved_ids
        if fields or moved:
            change = "changed" if fields else "moved"
            rows.append({"change": change, "id": rid, "row": rb, "fields": fields, "from": ra["pos"]})
    rows.extend(
        {"change": "removed", "id": rid, "row": ra, "fields": []} for rid, ra in a.items() if rid not in b
    )
    da, db = old.doc.model_dump(mode="json"), new.doc.model_dump(mode="json")
    doc = [(f, da.get(f), db.get(f)) for f in _DOC_FIELDS if da.get(f) != db.get(f)]
    return {"rows": rows, "doc": doc}


@router.get("/admin/strategies")
def strategies_page(request: Request, user: AdminViewer, session: DbSession) -> Response:
    """Every stored strategy with its versions (who saved each, when, why) and what decides now."""
    names = list_strategies(session=session)
    listing = [{"name": n, "newest": v, "count": c, "versions": _versions(n, session)} for n, v, c in names]
    ctx = {
        "strategies": listing,
        "shipped_only": not any(n == DEFAULT_NAME for n, _v, _c in names),
        "experiment": current_experiment(session=session),
        "default_name": DEFAULT_NAME,
    }
    return admin_page(request, user, "admin_strategies.html", ctx, section="strategies")


@router.get("/admin/strategies/{name}")
def strategy_page(
    name: str, request: Request, user: AdminViewer, session: DbSession, version: int | None = None
) -> Response:
    """One version as a table: position, node, conditions → treatment, template, tone, queue, priority."""
    strategy = _load(name, version, session)
    versions = _versions(name, session)
    newest = versions[0].version if versions else None
    ctx = {
        "strategy": strategy,
        "rows": table_rows(strategy),
        "versions": versions,
        "row": next((v for v in versions if v.version == strategy.version), None),
        "live": name == DEFAULT_NAME and strategy.version is not None and strategy.version == newest,
        "treatment_labels": TREATMENT_LABELS,
        "default_name": DEFAULT_NAME,
    }
    return admin_page(request, user, "admin_strategy.html", ctx, section="strategies")


@router.get("/admin/strategies/{name}/diff")
def strategy_diff(
    name: str,
    request: Request,
    user: AdminViewer,
    session: DbSession,
    a: int | None = None,
    b: int | None = None,
) -> Response:
    """Version ``a`` (default: the one before the newest) against version ``b`` (default: the newest)."""
    versions = _versions(name, session)
    if not versions:
        raise NotFoundError(f"no stored strategy {name} · 没有该策略")
    b_v = b if b is not None else versions[0].version
    a_v = a if a is not None else (versions[1].version if len(versions) > 1 else b_v)
    old = get_strategy(name, session=session, version=a_v)
    new = get_strategy(name, session=session, version=b_v)
    ctx = {
        "name": name,
        "old": old,
        "new": new,
        "diff": diff(old, new),
        "versions": versions,
        "treatment_labels": TREATMENT_LABELS,
    }
    return admin_page(request, user, "admin_strategy_diff.html", ctx, section="strategies")


def _editor(
    request: Request,
    user: AppUser,
    text: str,
    *,
    base_name: str,
    base_version: int | None,
    status: int = 200,
    **extra: Any,
) -> Response:
    ctx = {"text": text, "base_name": base_name, "base_version": base_version, "comment": "", **extra}
    ctx.setdefault("problems", [])
    ctx["treatment_labels"] = TREATMENT_LABELS
    ctx["default_name"] = DEFAULT_NAME
    return admin_page(
        request,
        user,
        "admin_strategy_edit.html",
        ctx,
        section="strategies",
        status=status,
        here="/admin/strategies",
    )


@router.get("/admin/strategies/{name}/edit")
def strategy_edit(
    name: str,
    request: Request,
    user: ConfigEditor,
    session: DbSession,
    version: int | None = None,
    copy: bool = False,
) -> Response:
    """The editor on a version's document (JSON); validate, then save as the next version (``copy``: the
    document renamed ``NAME-draft``, to save as a new strategy)."""
    strategy = _load(name, version, session)
    doc = strategy.doc.model_dump(mode="json")
    if copy:
        doc["name"] = f"{name}-draft"
    return _editor(request, user, pretty(doc), base_name=name, base_version=strategy.version)


def _text(text: str, upload: UploadFile | None) -> tuple[str, str]:
    """The document: an uploaded file (UTF-8, at most 1 MB) replaces the typed text."""
    if upload is not None and upload.filename:
        raw = upload.file.read(1_000_001)
        if len(raw) > 1_000_000:
            raise StrategyError("the file is larger than 1 MB / 文件超过 1 MB")
        try:
            return raw.decode("utf-8-sig"), upload.filename
        except UnicodeDecodeError:
            raise StrategyError("the file is not UTF-8 text / 文件不是 UTF-8 文本") from None
    return text, ""


def _check(text: str, filename: str, session: Session) -> Strategy:
    data = parse_document(text, filename)
    return load_strategy(data, segments=known_segments(session=session))


@router.post("/admin/strategies/validate")
def strategy_validate(
    request: Request,
    user: ConfigEditor,
    session: DbSession,
    text: Annotated[str, Form(max_length=1_000_000)],
    base_name: Annotated[str, Form(max_length=80)],
    base_version: Annotated[int | None, Form()] = None,
    upload: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Check a document without saving it: every problem with its row, field and line, or its rows."""
    try:
        text, filename = _text(text, upload)
        strategy = _check(text, filename, session)
    except RecoupError as exc:
        problems = with_lines(text, problems_of(exc) or [{"message": exc.message, **exc.details}])
        return _editor(
            request, user, text, base_name=base_name, base_version=base_version, problems=problems, status=422
        )
    note = tr(request, user, "Valid") + f": {len(strategy.table.rows)} " + tr(request, user, "rows")
    return _editor(
        request,
        user,
        text,
        base_name=base_name,
        base_version=base_version,
        checked=table_rows(strategy),
        flash=note,
    )


@router.post("/admin/strategies/save")
def strategy_save(
    request: Request,
    user: ConfigEditor,
    session: DbSession,
    text: Annotated[str, Form(max_length=1_000_000)],
    base_name: Annotated[str, Form(max_length=80)],
    base_version: Annotated[int | None, Form()] = None,
    comment: Annotated[str, Form(max_length=500)] = "",
    upload: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Validate and save as the next version of the document's name (audited as ``strategy.save``)."""
    try:
        text, filename = _text(text, upload)
        with session.begin_nested():
            data = parse_document(text, filename)
            name = data.get("name")
            if name == DEFAULT_NAME and not has_permission(user, "admin.activate"):
                raise ForbiddenError(
                    f"saving {DEFAULT_NAME!r} puts it into effect and needs admin.activate; save it under "
                    f"another name and ask a manager to activate it / 保存 {DEFAULT_NAME} 即生效，需要 "
                    "admin.activate 权限；请以其他名称保存后由经理启用",
                    details={"permission": "admin.activate"},
                )
            latest = (
                get_latest(KIND, name, session=session, missing_ok=True) if isinstance(name, str) else None
            )
            if name != base_name and latest is not None:
                raise ConflictError(
                    f"there is already a strategy called {name!r} (version {latest.version}); open it to "
                    f"change it, or choose another name"
                    f" / 已存在名为 {name!r} 的策略，请打开该策略修改或换一个名称",
                    details={"name": name, "latest": latest.version},
                )
            if name == base_name:
                check_base_version(latest.version if latest else None, base_version, f"strategy {name}")
            saved = do_save_strategy(data, session=session, created_by=user.username, comment=comment.strip())
            if latest is not None and latest.version == saved.version:
                raise StrategyError(
                    f"nothing changed: this is version {saved.version} already"
                    f" / 内容未变化，仍为第 {saved.version} 版"
                )
            audit(
                session,
                user,
                "strategy.save",
                {
                    "name": saved.name,
                    "version": saved.version,
                    "hash": saved.hash,
                    "rows": len(saved.table.rows),
                },
            )
    except RecoupError as exc:
        problems = with_lines(text, problems_of(exc) or [{"message": exc.message, **exc.details}])
        status = 422  # htmx swaps a 422 in place (base.html); the message says why
        return _editor(
            request,
            user,
            text,
            base_name=base_name,
            base_version=base_version,
            problems=problems,
            comment=comment,
            status=status,
        )
    message = tr(request, user, "Saved") + f": {saved.label}"
    return done(request, f"/admin/strategies/{saved.name}?version={saved.version}", message)


@router.post("/admin/strategies/{name}/activate")
def strategy_activate(
    name: str,
    request: Request,
    user: Activator,
    session: DbSession,
    version: Annotated[int, Form(ge=1)],
) -> Response:
    """Make version ``version`` of ``name`` the one the next cycle decides with: its document becomes the
    next version of ``default`` (audited as ``strategy.activate`` with the source and the new version)."""
    here = f"/admin/strategies/{name}?version={version}"
    try:
        with session.begin_nested():
            source = get_strategy(name, session=session, version=version)
            before = get_latest(KIND, DEFAULT_NAME, session=session, missing_ok=True)
            doc = {**source.doc.model_dump(mode="json"), "name": DEFAULT_NAME}
            saved = do_save_strategy(
                doc, session=session, created_by=user.username, comment=f"activated {source.label}"
            )
            if before is not None and before.version == saved.version:
                return done(request, here, tr(request, user, "This version is already in effect"))
            audit(
                session,
                user,
                "strategy.activate",
                {
                    "source": name,
                    "source_version": version,
                    "version": saved.version,
                    "previous_version": before.version if before is not None else None,
                    "hash": saved.hash,
                },
            )
    except RecoupError as exc:
        flash(request, exc.message, error=True)
        return redirect(request, here)
    message = tr(request, user, "Activated: the next cycle decides with") + f" {saved.label}"
    return done(request, f"/admin/strategies/{DEFAULT_NAME}?version={saved.version}", message)
