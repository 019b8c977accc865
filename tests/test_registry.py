"""The model registry: training with an out-of-time holdout, artefacts checked by sha256, model cards,
promotion of one champion per name, the HTML report and the ``recoup model`` commands."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recoup.config import get_settings
from recoup.ledger.models import LedgerEntry
from recoup.scoring.fit import prepare
from recoup.scoring.models import ModelVersion
from recoup.scoring.registry import (
    ModelRegistryError,
    champion,
    check_promote,
    do_promote,
    do_train,
    evaluate_holdout,
    get_version,
    list_versions,
    load_model,
)
from recoup.scoring.report import render_report

RECOUP = str(Path(sys.executable).parent / "recoup")
FEATS = ["dpd", "paid_30d", "city", "bureau_score"]
DATES = [dt.date(2024, m, 28) for m in range(1, 11)]  # ten month-ends: the latest two are the holdout


def _frame(n: int = 2400, seed: int = 0, dates: list[dt.date] = DATES) -> pl.DataFrame:
    """Risk rises with days past due and falls with recent payments; third-tier cities are riskier."""
    rng = np.random.default_rng(seed)
    as_of = rng.choice(np.array(dates, dtype="datetime64[D]"), n)
    dpd = rng.integers(0, 90, n)
    paid = rng.exponential(500, n)
    city = rng.choice(["一线", "二线", "三线"], n)
    bureau = np.where(rng.random(n) < 0.2, np.nan, rng.normal(600, 50, n))
    logit = -1.5 + 0.04 * dpd - 0.002 * paid + np.where(city == "三线", 0.6, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pl.DataFrame(
        {
            "as_of": as_of,
            "loan_id": np.arange(n),
            "dpd": dpd,
            "paid_30d": paid,
            "city": city,
            "bureau_score": bureau,
            "bad": y,
        }
    ).with_columns(pl.col("as_of").cast(pl.Date))


@pytest.fixture
def lake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    monkeypatch.setenv("RECOUP_LAKE_URI", str(path))
    get_settings.cache_clear()
    return path


def _train(session: Session, kind: str = "scorecard", **kw: object) -> ModelVersion:
    frame = kw.pop("frame", None)
    return do_train(
        "self_cure",
        _frame() if frame is None else frame,  # type: ignore[arg-type]
        target="bad",
        kind=kind,
        features=FEATS,
        session=session,
        **kw,  # type: ignore[arg-type]
    )


def test_evaluate_holdout_tables_by_hand() -> None:
    class Fixed:
        def predict_proba(self, X: object) -> np.ndarray:
            p = np.linspace(0.05, 0.95, 20)
            return np.column_stack([1 - p, p])

    y = np.array([0] * 10 + [0, 1] * 5)  # the riskier half holds all 5 events
    m = evaluate_holdout(Fixed(), None, y)  # type: ignore[arg-type]
    assert [c["n"] for c in m["calibration"]] == [2] * 10
    assert m["calibration"][0]["mean_predicted"] == pytest.approx((0.05 + 0.05 + 0.9 / 19) / 2)
    assert m["calibration"][-1]["observed_rate"] == pytest.approx(0.5)
    # Decile 1 = the two riskiest rows, one event: rate 0.5, lift 0.5 / 0.25 = 2, captures 1 of 5.
    assert m["lift"][0] == pytest.approx(
        {"decile": 1, "n": 2, "bad_rate": 0.5, "lift": 2.0, "cum_capture": 0.2}
    )
    assert m["lift"][-1]["cum_capture"] == pytest.approx(1.0) and m["lift"][-1]["bad_rate"] == 0.0
    assert m["auc"] > 0.8 and m["gini"] == pytest.approx(2 * m["auc"] - 1)
    assert m["roc"]["fpr"][0] == 0.0 and m["roc"]["tpr"][-1] == 1.0
    with pytest.raises(ModelRegistryError, match="both classes"):
        evaluate_holdout(Fixed(), None, np.zeros(20))  # type: ignore[arg-type]


def test_train_records_a_candidate_with_out_of_time_metrics(session: Session, lake: Path) -> None:
    row = _train(session, kind="gbm", monotone={"dpd": 1, "paid_30d": -1})
    assert (row.name, row.version, row.kind, row.status) == ("self_cure", 1, "gbm", "candidate")
    assert (row.train_start, row.train_end, row.n_train) == (DATES[0], DATES[-1], 2400)
    assert row.features == FEATS and row.monotone == {"dpd": 1, "paid_30d": -1}
    m = row.metrics
    assert {"auc", "ks", "gini", "brier", "calibration", "lift", "importances"} <= set(m)
    h = m["holdout"]
    assert (h["method"], h["start"], h["end"]) == ("out_of_time", "2024-09-28", "2024-10-28")
    assert h["fit_end"] == "2024-08-28" and h["n"] + h["fit_n"] == 2400 and h["note"] is None
    assert m["auc"] > 0.72 and 0.3 < m["ks"] < 0.7 and m["brier"] < 0.22
    assert len(m["calibration"]) == 10 and len(m["lift"]) == 10
    assert sum(m["importances"].values()) == pytest.approx(1.0)
    assert max(m["importances"], key=m["importances"].get) == "dpd"

    path = Path(row.artefact_uri)
    assert (
        path == lake.resolve() / "models" / "self_cure" / "v1" / "model.joblib"
        and len(row.artefact_sha256) == 64
    )
    model = load_model(row)
    X, y, _ = prepare(_frame(seed=1).select([*FEATS, "bad"]), "bad", None)
    assert evaluate_holdout(model, X, y)["auc"] > 0.72

    card = (path.parent / "card.md").read_text(encoding="utf-8")
    assert card == row.card
    assert "2024-01-28 → 2024-10-28" in card and "2024-09-28 → 2024-10-28" in card
    assert f"| AUC | {m['auc']:.4f} |" in card and f"| KS | {m['ks']:.4f} |" in card
    assert "模型卡" in card and "Intended use · 预期用途" in card and "Limitations · 局限性" in card
    assert "days past due on D" in card and "increasing ↑" in card  # FEATURES descriptions, monotone
    assert row.artefact_sha256 in card

    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "model.trained")).one()
    assert entry.payload["artefact_sha256"] == row.artefact_sha256 and entry.payload["version"] == 1

    again = _train(session)
    assert again.version == 2 and Path(again.artefact_uri).parent.name == "v2"
    assert [r.version for r in list_versions(session=session, name="self_cure")] == [1, 2]
    assert list_versions(session=session, name="other") == []


def test_a_single_as_of_date_falls_back_to_a_random_holdout(session: Session, lake: Path) -> None:
    row = _train(session, frame=_frame(dates=[dt.date(2024, 6, 30)]))
    h = row.metrics["holdout"]
    assert h["method"] == "random" and h["n"] == 480 and "single as-of date" in h["note"]
    assert row.train_start == row.train_end == dt.date(2024, 6, 30)
    assert "Notes · 说明" in row.card and "random 20 %" in row.card


def test_promote_keeps_exactly_one_champion(session: Session, lake: Path) -> None:
    v1, v2 = _train(session), _train(session)
    assert champion("self_cure", session=session) is None
    do_promote("self_cure", 2, session=session, actor="alice")
    assert champion("self_cure", session=session) is v2 and v2.promoted_at is not None
    # The lower id becomes champion after the higher one: the old champion must be retired first.
    do_promote("self_cure", 1, session=session, actor="alice")
    assert (v1.status, v2.status) == ("champion", "retired")
    assert [r.status for r in list_versions(session=session, name="self_cure")].count("champion") == 1
    assert do_promote("self_cure", 1, session=session, actor="alice") is v1  # already champion: no change

    with pytest.raises(ModelRegistryError, match="retired") as exc:
        do_promote("self_cure", 2, session=session, actor="alice")
    assert exc.value.code == "model.registry"
    with pytest.raises(ModelRegistryError, match=r"no version 9 \(versions: 1, 2\)"):
        check_promote("self_cure", 9, session=session)
    with pytest.raises(ModelRegistryError, match="no versions trained"):
        get_version("nothing", 1, session=session)

    promoted = session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind == "model.promoted").order_by(LedgerEntry.seq)
    ).all()
    assert [(e.payload["version"], e.payload["previous_version"], e.actor) for e in promoted] == [
        (2, None, "alice"),
        (1, 2, "alice"),
    ]


def test_the_database_refuses_a_second_champion(session: Session) -> None:
    def row(version: int) -> ModelVersion:
        return ModelVersion(
            name="m",
            version=version,
            kind="gbm",
            target="y",
            status="champion",
            features=["a"],
            monotone={},
            train_start=dt.date(2024, 1, 1),
            train_end=dt.date(2024, 1, 1),
            n_train=1,
            metrics={},
            artefact_uri="x",
            artefact_sha256="0" * 64,
            card="",
        )

    session.add(row(1))
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(row(2))
        session.flush()


def test_a_changed_artefact_is_refused(session: Session, lake: Path) -> None:
    row = _train(session)
    path = Path(row.artefact_uri)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelRegistryError, match="sha256 mismatch"):
        load_model(row)
    with pytest.raises(ModelRegistryError, match="changed since training"):
        do_promote("self_cure", 1, session=session, actor="alice")
    path.unlink()
    with pytest.raises(ModelRegistryError, match="missing"):
        load_model(row)


def test_bad_training_requests_fail_before_any_work(session: Session, lake: Path) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"name": "../evil"}, "model name"),
        ({"kind": "forest"}, "unknown model kind"),
        ({"features": ["dpd", "nope"]}, "not found: nope"),
        ({"features": ["dpd", "bad"]}, "cannot be a feature"),
        ({"target": "missing"}, "target column"),
        ({"monotone": {"dpd": 1}}, "gbm models only"),
        ({"kind": "gbm", "monotone": {"dpd": 2}}, "-1, 0 or 1"),
        ({"frame": _frame().drop("as_of")}, "as_of"),
    ]
    for overrides, message in cases:
        args: dict[str, object] = {
            "name": "self_cure",
            "frame": _frame(n=50),
            "target": "bad",
            "kind": "scorecard",
            "features": FEATS,
        } | overrides
        with pytest.raises(ModelRegistryError, match=re.escape(message)):
            do_train(session=session, **args)  # type: ignore[arg-type]
    assert list_versions(session=session) == [] and not lake.exists()


def test_report_is_one_self_contained_page(session: Session, lake: Path) -> None:
    frame = _frame().with_columns(pl.col("dpd").alias("<script>x"))
    row = do_train(
        "self_cure", frame, target="bad", kind="scorecard", features=[*FEATS, "<script>x"], session=session
    )
    page = render_report(row)
    assert page.startswith("<!DOCTYPE html>") and page.count('src="data:image/png;base64,') == 4
    for heading in ("ROC curve · ROC 曲线", "Calibration · 校准", "Lift by decile · 分十等份提升度"):
        assert heading in page
    assert "Feature importance · 特征重要性" in page and "Model card · 模型卡" in page
    assert "<table>" in page and "2024-01-28 → 2024-10-28" in page
    assert "http://" not in page and "https://" not in page
    assert "<script>" not in page and "&lt;script&gt;x" in page

    fresh = render_report(row, holdout_frame=_frame(seed=3).with_columns(pl.col("dpd").alias("<script>x")))
    assert "supplied frame · 指定数据 (2,400 rows)" in fresh and fresh.count("data:image/png;base64,") == 4
    with pytest.raises(ModelRegistryError, match="lacks column"):
        render_report(row, holdout_frame=_frame(seed=3))


def test_model_commands(tmp_path: Path) -> None:
    data = tmp_path / "train.parquet"
    _frame(n=1500).write_parquet(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env["RECOUP_DATA_DIR"] = str(tmp_path / "data")
    env["COLUMNS"] = "200"  # no wrapping of rich output
    env["RECOUP_LOCALE"] = "en"  # the assertions read the English lines

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [RECOUP, "model", *args], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300
        )
        assert "Traceback" not in proc.stderr
        return proc

    for _ in range(2):
        t = run("train", "--name", "self_cure", "--target", "bad", "--kind", "scorecard", "--data", str(data))
        assert t.returncode == 0, t.stderr
    assert "self_cure v2" in t.stdout and "AUC" in t.stdout
    assert (tmp_path / "data" / "lake" / "models" / "self_cure" / "v2" / "card.md").exists()

    assert run("promote", "self_cure", "1").returncode == 0
    p = run("promote", "self_cure", "2")
    assert p.returncode == 0 and "v1 retired" in p.stdout
    listing = run("list", "--name", "self_cure")
    assert listing.returncode == 0 and "champion" in listing.stdout and "retired" in listing.stdout
    bad = run("promote", "self_cure", "1")
    assert bad.returncode == 65 and "model.registry" in bad.stderr and "retired" in bad.stderr

    r = run("report", "self_cure", "2")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "data" / "reports" / "model-self_cure-v2.html"
    assert "data:image/png;base64," in out.read_text(encoding="utf-8")
    custom = tmp_path / "m.html"
    assert run("report", "self_cure", "1", "--out", str(custom)).returncode == 0 and custom.exists()
