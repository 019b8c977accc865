"""The registry's stored versions: the error, reading a version and its artefact (sha256-checked), and
promoting one champion per name (split from :mod:`recoup.scoring.registry`)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Literal

import joblib  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.db import utcnow
from recoup.errors import RecoupError
from recoup.ledger.service import do_append
from recoup.scoring.estimators import GBMClassifier, ScorecardClassifier
from recoup.scoring.models import ModelVersion

__all__ = [
    "Estimator",
    "Holdout",
    "ModelRegistryError",
    "champion",
    "check_promote",
    "do_promote",
    "get_version",
    "list_versions",
    "load_model",
]

Estimator = GBMClassifier | ScorecardClassifier
Holdout = Literal["time", "random"]


class ModelRegistryError(RecoupError):
    code = "model.registry"
    http_status = 422
    exit_code = 65


# --- reading and promotion ------------------------------------------------------------------------


def _artefact_bytes(row: ModelVersion) -> bytes:
    path = Path(row.artefact_uri.removeprefix("file://"))
    try:
        data = path.read_bytes()
    except OSError:
        raise ModelRegistryError(
            f"{row.name} v{row.version}: artefact {path} is missing · 模型文件不存在",
            details={"path": str(path)},
        ) from None
    if hashlib.sha256(data).hexdigest() != row.artefact_sha256:
        raise ModelRegistryError(
            f"{row.name} v{row.version}: artefact {path} changed since training (sha256 mismatch) · "
            "模型文件已被改动",
            details={"path": str(path), "expected_sha256": row.artefact_sha256},
        )
    return data


def load_model(version_row: ModelVersion) -> Estimator:
    """The version's estimator, after checking the artefact's sha256 against the registry."""
    obj = joblib.load(io.BytesIO(_artefact_bytes(version_row)))
    if not isinstance(obj, GBMClassifier | ScorecardClassifier):
        raise ModelRegistryError(f"{version_row.name} v{version_row.version}: artefact is not a recoup model")
    return obj


def list_versions(*, session: Session, name: str | None = None) -> list[ModelVersion]:
    """Every version (of ``name``, when given), by name then version."""
    q = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.version)
    if name is not None:
        q = q.where(ModelVersion.name == name)
    return list(session.scalars(q))


def get_version(name: str, version: int, *, session: Session) -> ModelVersion:
    """Version ``version`` of ``name``; ModelRegistryError when there is none."""
    row = session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    )
    if row is None:
        known = [r.version for r in list_versions(session=session, name=name)]
        raise ModelRegistryError(
            f"model {name!r} has no version {version}"
            + (f" (versions: {', '.join(map(str, known))})" if known else " (no versions trained)")
            + " · 模型版本不存在",
            details={"name": name, "version": version},
        )
    return row


def champion(name: str, *, session: Session) -> ModelVersion | None:
    """The champion of ``name``, if one was promoted."""
    return session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.status == "champion")
    )


def check_promote(name: str, version: int, *, session: Session) -> ModelVersion:
    """The version to promote; refuses unknown and retired versions and changed artefacts."""
    row = get_version(name, version, session=session)
    if row.status == "retired":
        raise ModelRegistryError(
            f"{name} v{version} is retired and cannot be promoted again; promote a candidate or retrain · "
            "已退役的模型版本不能再次晋升",
            details={"name": name, "version": version, "status": row.status},
        )
    _artefact_bytes(row)
    return row


def do_promote(name: str, version: int, *, session: Session, actor: str) -> ModelVersion:
    """Make ``version`` the champion of ``name``; the previous champion is retired. Promoting the current
    champion again changes nothing."""
    row = check_promote(name, version, session=session)
    if row.status == "champion":
        return row
    prev = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.name == name, ModelVersion.status == "champion")
        .with_for_update()
    )
    if prev is not None:
        prev.status = "retired"
        session.flush()  # before the new champion, for the one-champion unique index
    row.status = "champion"
    row.promoted_at = utcnow()
    session.flush()
    do_append(
        "model.promoted",
        {
            "model_version_id": row.id,
            "name": name,
            "version": version,
            "artefact_sha256": row.artefact_sha256,
            "previous_version": prev.version if prev is not None else None,
        },
        session=session,
        actor=actor,
    )
    return row
