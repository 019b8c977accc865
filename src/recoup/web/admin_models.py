"""Administration of scoring models (``/admin/models``): every trained version with its status, training
window and out-of-time holdout metrics (AUC, KS, Gini, Brier, lift of the riskiest decile), its model
card, and promotion to champion with the registry's own :func:`recoup.scoring.registry.do_promote`
(which checks the artefact's sha256, retires the previous champion and writes ``model.promoted`` to the
audit ledger). Promotion changes the scores of the next cycle, so it needs ``admin.activate``."""

from __future__ import annotations

from itertools import groupby
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from recoup import labels_domain
from recoup.errors import RecoupError
from recoup.scoring.models import ModelVersion
from recoup.scoring.registry import do_promote, get_version, list_versions
from recoup.web.admin_home import Activator, AdminViewer, admin_page, done, flash
from recoup.web.deps import DbSession
from recoup.web.pages import redirect, tr

router = APIRouter(include_in_schema=False)

STATUS_LABELS = labels_domain.MODEL_STATUS


def summary(row: ModelVersion) -> dict[str, Any]:
    """The figures a list shows for one version (None where the registry recorded none)."""
    m = row.metrics or {}
    hold = m.get("holdout") or {}
    lift = m.get("lift") or []
    return {
        "row": row,
        "auc": m.get("auc"),
        "ks": m.get("ks"),
        "gini": m.get("gini"),
        "brier": m.get("brier"),
        "bad_rate": m.get("bad_rate"),
        "holdout_n": hold.get("n") if isinstance(hold, dict) else None,
        "holdout": f"{hold.get('start')} – {hold.get('end')}"
        if isinstance(hold, dict) and hold.get("start")
        else "",
        "lift1": lift[0].get("lift") if lift and isinstance(lift[0], dict) else None,
        "features": len(row.features or []),
    }


@router.get("/admin/models")
def models_page(request: Request, user: AdminViewer, session: DbSession) -> Response:
    """Every model name with its versions, newest first; the champion marked."""
    rows = list_versions(session=session)
    models = [
        (name, [summary(r) for r in sorted(group, key=lambda r: -r.version)])
        for name, group in groupby(rows, key=lambda r: r.name)
    ]
    ctx = {"models": models, "status_labels": STATUS_LABELS}
    return admin_page(request, user, "admin_models.html", ctx, section="models")


@router.get("/admin/models/{name}/{version}")
def model_page(name: str, version: int, request: Request, user: AdminViewer, session: DbSession) -> Response:
    """One version: its figures and its model card."""
    row = get_version(name, version, session=session)
    ctx = {"m": summary(row), "status_labels": STATUS_LABELS}
    return admin_page(request, user, "admin_model.html", ctx, section="models")


@router.post("/admin/models/{name}/promote")
def model_promote(
    name: str,
    request: Request,
    user: Activator,
    session: DbSession,
    version: Annotated[int, Form(ge=1)],
) -> Response:
    """Make a version the champion (the previous one is retired)."""
    try:
        with session.begin_nested():
            before = get_version(name, version, session=session).status
            do_promote(name, version, session=session, actor=user.username)
    except RecoupError as exc:
        flash(request, exc.message, error=True)
        return redirect(request, "/admin/models")
    if before == "champion":
        return done(
            request, "/admin/models", tr(request, user, "Already the champion") + f": {name} v{version}"
        )
    return done(request, "/admin/models", tr(request, user, "Promoted to champion") + f": {name} v{version}")
