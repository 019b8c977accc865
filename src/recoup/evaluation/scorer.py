"""The evaluation's self-cure scorer (issue 14, item 7): every strategy in a comparison gets the same one.

A lender scores its accounts in collections with a self-cure model trained on its own history. The twin's
evaluation does the same, on a **separate history** — a warm-up run of the twin on a seed the evaluation
does not use (:data:`SCORER_SEED`), with the same number of loans, for the evaluated days plus the 30-day
label window, decided by the baseline ladder without scores (the lender before it had a model):

1. every day the lender's lake of that run (:class:`~recoup.evaluation.lake_view.LakeView`: the cycle's
   ``delinquency()`` and ``features()`` kernels on what an extract holds — never the twin's hidden types);
2. the ``recoup model build-table`` recipe: :func:`recoup.scoring.table.labelled` for ``self_cure_30``
   with every delinquent account-day (``sample="all"``, as the demo's small lender trains: one day per
   account and month leaves a few hundred rows at the sizes evaluated here);
3. the fit of ``recoup model train``: the latest ~20 % of as-of dates held out (AUC on them reported), the
   kind chosen for ``auto`` by 5-fold cross-validation on the rest — folds by account, since one account
   appears on many days and plain folds would let a model recognise it — between the GBM with the
   self-cure model's default monotone constraints and the scorecard; then refitted on every row.

The fitted :class:`TwinScorer` is cached per (loans, days, seed, kind, prices/capacity versions,
:data:`RECIPE`) under ``DATA_DIR/models/eval-scorers``. In an evaluation run it is bound to the run's own
twin (:meth:`TwinScorer.bind`): each day the same kernels compute the features of that twin's book, and
the model's probability fills the decision frame's ``score``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.evaluation.lake_view import TARGET_INPUT, LakeView
from recoup.scoring.segments import SEGMENTS
from recoup.simulate import World
from recoup.strategy.definition import Strategy

__all__ = [
    "RECIPE",
    "SCORER_SEED",
    "ScoreCounts",
    "TwinScorer",
    "cache_path",
    "eval_scorer",
    "score_rules",
    "shared_scorer",
    "train_scorer",
    "training_seed",
]

#: Bump when the training recipe changes: cached scorers of another recipe are not reused.
RECIPE = 1
#: The warm-up run's seed: never one of the evaluated seeds (1…K); the next free one if it is.
SCORER_SEED = 1001
TARGET = "self_cure_30"
MODEL = "self_cure"


def _ids(df: pl.DataFrame) -> pl.Series:
    return df.get_column("i").cast(pl.Int64)


class _Bound:
    """A :class:`TwinScorer` bound to one run's twin: scores the day's decision frame."""

    def __init__(self, scorer: TwinScorer, world: World) -> None:
        self.scorer = scorer
        self.view = LakeView(world)

    def __call__(self, frame: pl.DataFrame) -> pl.Series:
        from recoup.scoring.features import FEATURES

        self.view.advance()
        feats = self.view.features.rename({"loan_id": "i"}).drop("as_of", "borrower_id")
        rows = (
            pl.DataFrame({"i": _ids(frame)})
            .with_row_index("_pos")
            .join(feats, on="i", how="inner")
            .sort("_pos")
        )
        score = np.full(frame.height, np.nan)
        if rows.height:
            x = rows.select(pl.col(list(FEATURES)).cast(pl.Float64)).to_pandas()
            score[rows.get_column("_pos").to_numpy()] = self.scorer.model.predict_proba(x)[:, 1]
        return pl.Series("score", score, dtype=pl.Float64).fill_nan(None)


@dataclass(frozen=True, eq=False)
class TwinScorer:
    """A fitted self-cure model and how it was trained; :meth:`bind` gives a run its scorer."""

    model: Any
    version: str  # sha256[:12] of the fitted model's bytes when it was trained (:func:`model_version`)
    kind: str
    auc: float  # on its own out-of-time validation fold
    loans: int
    days: int  # labelled as-of days of the warm-up run (it ran days + 30)
    seed: int
    rows: int
    positive_rate: float
    holdout: dict[str, Any]
    candidates: dict[str, float] = field(default_factory=dict)  # kind → CV AUC (``auto``)
    seconds: float = 0.0
    recipe: int = RECIPE

    def bind(self, world: World) -> Callable[[pl.DataFrame], pl.Series]:
        """The scorer of one evaluation run (features from that run's twin, day by day)."""
        return _Bound(self, world)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": MODEL,
            "target": TARGET,
            "kind": self.kind,
            "auc": round(self.auc, 4),
            "version": self.version,
            "recipe": self.recipe,
            "training": {
                "seed": self.seed,
                "loans": self.loans,
                "days": self.days,
                "rows": self.rows,
                "positive_rate": round(self.positive_rate, 4),
                "holdout": self.holdout,
                "candidates": {k: round(v, 4) for k, v in self.candidates.items()},
                "seconds": round(self.seconds, 1),
            },
        }


# ------------------------------------------------------------------------------------------ counts


def score_rules(strategies: Iterable[Strategy]) -> set[str]:
    """Ids of the strategies' rows whose condition tests ``score``."""
    return {r.id for s in strategies for r in s.doc.rows if "score" in r.when}


_SEGMENT_SCORE_RULES = {str(r["id"]) for r in SEGMENTS["rows"] if "score" in r["when"]}


@dataclass
class ScoreCounts:
    """Over a run: decisions, those with a score, and the score-driven strategy rows and segment rules
    that decided (what showed the baseline ran unscored)."""

    rules: set[str]
    decisions: int = 0
    scored: int = 0
    hits: Counter[str] = field(default_factory=Counter)

    def note(self, frame: pl.DataFrame, dec: pl.DataFrame) -> None:
        self.decisions += dec.height
        scored = frame.filter(pl.col("score").is_not_null()).select("loan_id")
        self.scored += dec.join(scored, on="loan_id", how="semi").height
        if "node" in dec.columns:
            self.hits.update(n for n in dec.get_column("node").to_list() if n in self.rules)
        if "segment_rule" in frame.columns:
            segs = dec.select("loan_id").join(frame.select("loan_id", "segment_rule"), on="loan_id")
            rules = segs.get_column("segment_rule").to_list()
            self.hits.update(r for r in rules if r in _SEGMENT_SCORE_RULES)

    def to_json(self) -> dict[str, Any]:
        hits = dict(sorted(self.hits.items()))
        return {"decisions": self.decisions, "scored": self.scored, "score_rules": hits}


# ------------------------------------------------------------------------------------------ training


class _Recorder:
    """The warm-up run's hook: the lake of each day (account_daily, features); scores stay null."""

    def __init__(self) -> None:
        self.view: LakeView | None = None
        self.daily: list[pl.DataFrame] = []
        self.features: list[pl.DataFrame] = []

    def bind(self, world: World) -> Callable[[pl.DataFrame], pl.Series]:
        self.view = LakeView(world)
        return self

    def __call__(self, frame: pl.DataFrame) -> pl.Series:
        self.record()
        return pl.Series("score", [None] * frame.height, dtype=pl.Float64)

    def record(self) -> None:
        assert self.view is not None
        before = self.view.day
        self.view.advance()
        if self.view.day != before:
            self.daily.append(self.view.daily.select(TARGET_INPUT))
            self.features.append(self.view.features)


def _out_of_time(dates: npt.NDArray[Any], y: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """The latest ~20 % of as-of dates (``recoup model train``'s holdout); ValueError when the fitting
    part lacks 5 rows of a class or the holdout one class (too small a warm-up run)."""
    from recoup.scoring.registry import HOLDOUT_SHARE

    distinct = np.unique(dates)
    if len(distinct) < 2:
        raise ValueError("the warm-up run has a single labelled as-of date · 预热运行只有一个观察日")
    n_hold = min(len(distinct) - 1, max(1, round(HOLDOUT_SHARE * len(distinct))))
    hold: npt.NDArray[np.bool_] = np.asarray(dates >= distinct[-n_hold], dtype=np.bool_)
    fit_pos, hold_pos = int(y[~hold].sum()), int(y[hold].sum())
    if min(fit_pos, int((~hold).sum()) - fit_pos) < 5 or min(hold_pos, int(hold.sum()) - hold_pos) < 1:
        raise ValueError("too few labels of a class in the warm-up run · 预热运行中某类标签过少")
    return hold


def _grouped_auc(make: Callable[[], Any], x: Any, y: npt.NDArray[np.int64], groups: Any) -> float:
    """Mean AUC over 5 stratified folds that keep each account's rows together (random_state 0)."""
    from sklearn.model_selection import StratifiedGroupKFold

    from recoup.scoring.evaluation import auc

    aucs = []
    for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(x, y, groups):
        if len(np.unique(y[test])) < 2:
            continue
        p = make().fit(x.iloc[train], y[train]).predict_proba(x.iloc[test])[:, 1]
        aucs.append(auc(y[test], p))
    return float(np.mean(aucs)) if aucs else 0.5


def _fit(frame: pl.DataFrame, kind: str) -> tuple[Any, str, float, dict[str, Any], dict[str, float]]:
    """``recoup model train``'s fit without the registry: out-of-time holdout, AUC on it, refit on all."""
    from functools import partial

    from recoup.scoring.defaults import default_monotone
    from recoup.scoring.features import FEATURES
    from recoup.scoring.fit import KINDS, make_model, prepare
    from recoup.scoring.registry import evaluate_holdout

    feats = list(FEATURES)
    x, y, _ = prepare(frame.select([*feats, TARGET]), TARGET, None)
    y = np.asarray(y, dtype=np.int64)
    hold = _out_of_time(frame.get_column("as_of").to_numpy(), y)
    fit_idx, hold_idx = np.flatnonzero(~hold), np.flatnonzero(hold)

    def new(k: str) -> Any:
        model = make_model(k)
        monotone = default_monotone(MODEL, feats) if k == "gbm" else {}
        if monotone:
            model.set_params(monotone=monotone)
        return model

    candidates: dict[str, float] = {}
    chosen = kind
    if kind == "auto":
        xf, yf = x.iloc[fit_idx], y[fit_idx]
        groups = frame.get_column("loan_id").to_numpy()[fit_idx]
        candidates = {k: _grouped_auc(partial(new, k), xf, yf, groups) for k in KINDS}
        chosen = max(KINDS, key=lambda k: candidates[k])  # the first (gbm) on a tie
    fitted = new(chosen).fit(x.iloc[fit_idx], y[fit_idx])
    metrics = evaluate_holdout(fitted, x.iloc[hold_idx], y[hold])
    holdout = {"method": "out_of_time", "dates": len(np.unique(frame.filter(pl.Series(hold))["as_of"])),
               "n": int(hold.sum())}  # fmt: skip
    return new(chosen).fit(x, y), chosen, float(metrics["auc"]), holdout, candidates


def model_version(model: Any) -> str:
    """sha256[:12] of the model's joblib bytes, taken once at training (a reload may pickle differently)."""
    buf = io.BytesIO()
    joblib.dump(model, buf)
    return hashlib.sha256(buf.getvalue()).hexdigest()[:12]


def train_scorer(
    loans: int,
    days: int,
    seed: int = SCORER_SEED,
    *,
    kind: str = "auto",
    start: dt.date = dt.date(2026, 1, 1),
    prices: Any = None,
    staffing: Any = None,
    progress: Callable[[str], None] | None = None,
) -> TwinScorer:
    """The warm-up run (``days`` + 30 days, the baseline unscored) and the fitted self-cure scorer."""
    from recoup.evaluation.evaluate import EvalConfig, baseline_strategy, evaluate
    from recoup.scoring.table import HORIZON, labelled, sample_rows

    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    rec = _Recorder()

    def step(k: int, n: int) -> None:
        if k % 10 == 0 or k == n:
            say(f"scorer warm-up run: day {k}/{n}")

    evaluate(
        EvalConfig(
            strategy=baseline_strategy(),
            loans=loans,
            days=days + HORIZON,
            seed=seed,
            start=start,
            prices=prices,
            staffing=staffing,
            label="scorer-warm-up",
            scorer=rec,
            progress=step,
        )
    )
    rec.record()  # the last simulated day: its payments and account_daily close the last windows
    assert rec.view is not None
    frame = labelled(pl.concat(rec.daily), pl.concat(rec.features), rec.view.payments_frame(), target=TARGET)
    frame = sample_rows(frame, "all", seed)
    say(f"fitting the self-cure scorer on {frame.height:,} account-days")
    model, chosen, auc, holdout, candidates = _fit(frame, kind)
    y = frame.get_column(TARGET).cast(pl.Float64).to_numpy()
    return TwinScorer(
        model=model,
        version=model_version(model),
        kind=chosen,
        auc=auc,
        loans=loans,
        days=days,
        seed=seed,
        rows=frame.height,
        positive_rate=float(y.mean()) if y.size else 0.0,
        holdout=holdout,
        candidates=candidates,
        seconds=time.perf_counter() - t0,
    )


def _cache_dir() -> Path:
    from recoup.config import get_settings

    return Path(get_settings().data_dir) / "models" / "eval-scorers"


def training_seed(seeds: Iterable[int]) -> int:
    """:data:`SCORER_SEED`, or the next seed not evaluated (no leakage from the evaluated twins)."""
    taken, seed = set(seeds), SCORER_SEED
    while seed in taken:
        seed += 1
    return seed


def cache_path(
    loans: int, days: int, seed: int, kind: str, prices: Any, staffing: Any, cache_dir: Path | None = None
) -> Path:
    """Where the scorer of (loans, days, seed, kind, prices/capacity versions, :data:`RECIPE`) is kept."""
    versions = f"p{getattr(prices, 'version', 0)}c{getattr(staffing, 'version', 0)}"
    directory = cache_dir if cache_dir is not None else _cache_dir()
    return directory / f"self_cure-{loans}x{days}-seed{seed}-{kind}-{versions}-r{RECIPE}.joblib"


def eval_scorer(
    loans: int,
    days: int,
    *,
    seeds: Sequence[int],
    kind: str = "auto",
    prices: Any = None,
    staffing: Any = None,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> TwinScorer:
    """The scorer for an evaluation of ``seeds``: from the cache, else trained (and cached)."""
    seed = training_seed(seeds)
    path = cache_path(loans, days, seed, kind, prices, staffing, cache_dir)
    if path.is_file():
        cached = joblib.load(path)
        if isinstance(cached, TwinScorer) and cached.recipe == RECIPE:
            return cached
    scorer = train_scorer(loans, days, seed, kind=kind, prices=prices, staffing=staffing, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(scorer, tmp)
    tmp.replace(path)
    return scorer


def shared_scorer(
    loans: int,
    days: int,
    *,
    seeds: Sequence[int],
    prices: Any = None,
    staffing: Any = None,
    say: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> TwinScorer | None:
    """:func:`eval_scorer` for the CLI: None (unscored, like a lender without a model yet) when the
    warm-up run has too few labels to train one, saying why through ``warn``."""
    from recoup.errors import RecoupError

    try:
        scorer = eval_scorer(loans, days, seeds=seeds, prices=prices, staffing=staffing, progress=say)
    except (RecoupError, ValueError) as exc:
        reason = exc.message if isinstance(exc, RecoupError) else str(exc)
        if warn is not None:
            warn(f"no self-cure scorer, running unscored · 无自愈评分模型，不评分运行: {reason}")
        return None
    if say is not None:
        say(
            f"self-cure scorer · 自愈评分模型: {scorer.kind} {scorer.version}, validation AUC "
            f"{scorer.auc:.3f}, trained on seed {scorer.seed} ({scorer.rows:,} account-days)"
        )
    return scorer
