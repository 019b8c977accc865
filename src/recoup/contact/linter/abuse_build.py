"""Rebuild the learned check's artefact (``data/abuse_model.json``) from the training material.

    .venv/bin/python -m recoup.contact.linter.abuse_build          # rebuild, print the CV figures
    .venv/bin/python -m recoup.contact.linter.abuse_build --check  # exit 1 if the stored artefact differs

Training material (run from the repository root; ``--root`` to change): the linter's corpora
``tests/data/linter/*.txt`` (violations of the threat, false-legal, impersonation, insult and disclosure
categories are abusive; the other categories — fees, payment channels, pretexts, new borrowing,
exaggeration — are not what the model is for and are left out; clean messages are lawful), the rounds of
``tests/data/linter_unseen.jsonl`` named in ``TRAIN_ROUNDS`` (later rounds are evaluation sets and never
read, so a round appended to the file cannot leak into the model), and the extra
paraphrases of ``data/abuse_train.tsv`` (``a`` abusive / ``l`` lawful, TAB, text). Texts are normalised
as the linter does, deduplicated and sorted, so the build is deterministic.

The threshold: 5-fold stratified cross-validation (fixed seed) gives every message an out-of-fold score;
the threshold is the lowest probability at which at most ``TARGET_FALSE_ALARMS`` of the lawful messages
not already cleared by the veto are flagged out of fold; it is then raised, if needed, so that no lawful
training message is flagged by the final model.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from recoup.contact.linter.abuse import ARTEFACT, AbuseModel, features, vetoed
from recoup.contact.linter.normalize import normalize

__all__ = ["TRAIN_ROUNDS", "Example", "build", "cross_validate", "fit_sklearn", "load_examples", "main"]

VERSION = "2026-12-08.2"
SEED = 20261208
FOLDS = 5
C = 4.0
MIN_DF = 2
TARGET_FALSE_ALARMS = 0.05
ABUSIVE_CATEGORIES = frozenset({"threat", "false_legal", "impersonation", "insult", "disclosure"})
# The evaluation rounds already measured and turned into training material; never a later one.
TRAIN_ROUNDS: tuple[int, ...] = (1, 2, 3)
PACKAGE = Path(__file__).parent / "data"


@dataclass(frozen=True, order=True)
class Example:
    norm: str  # the normalised text (what the model reads)
    abusive: bool
    source: str


def _lines(path: Path) -> list[str]:
    return [
        line for line in path.read_text("utf-8").splitlines() if line.strip() and not line.startswith("#")
    ]


def load_examples(root: Path) -> list[Example]:
    """All training examples, normalised, deduplicated (first label wins, abusive first) and sorted."""
    raw: list[tuple[str, bool, str]] = []
    corpora = root / "tests" / "data" / "linter"
    for path in sorted(corpora.glob("*.txt")):
        for line in _lines(path):
            if "violations" in path.name:
                rule, text = line.split("\t", 1)
                if rule.rsplit(".", 1)[-1] in ABUSIVE_CATEGORIES:
                    raw.append((text, True, path.name))
            else:
                raw.append((line, False, path.name))
    for line in (root / "tests" / "data" / "linter_unseen.jsonl").read_text("utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            if item["round"] in TRAIN_ROUNDS:
                raw.append((item["text"], item["label"] == "abusive", f"round{item['round']}"))
    for line in _lines(PACKAGE / "abuse_train.tsv"):
        label, text = line.split("\t", 1)
        raw.append((text, label == "a", "abuse_train.tsv"))
    seen: dict[str, Example] = {}
    for text, abusive, source in sorted(raw, key=lambda r: (not r[1], r[0], r[2])):
        norm = normalize(text).text
        if norm.strip() and norm not in seen:
            seen[norm] = Example(norm, abusive, source)
    return sorted(seen.values())


@cache
def _features(norm: str) -> tuple[str, ...]:
    """:func:`features`, computed once per text across the folds."""
    return tuple(features(norm))


def fit_sklearn(examples: list[Example]) -> tuple[Any, Any]:
    """The fitted scikit-learn ``(TfidfVectorizer, LogisticRegression)`` pair."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer=_features, sublinear_tf=True, min_df=MIN_DF, lowercase=False)
    x = vec.fit_transform([e.norm for e in examples])
    y = [int(e.abusive) for e in examples]
    clf = LogisticRegression(
        C=C, class_weight="balanced", solver="liblinear", random_state=SEED, max_iter=1000
    )
    clf.fit(x, y)
    return vec, clf


def _fit(examples: list[Example]) -> AbuseModel:
    """Fit TF-IDF + logistic regression and keep the weights; the threshold is set by the caller."""
    vec, clf = fit_sklearn(examples)
    vocab: dict[str, int] = vec.vocabulary_
    idf = vec.idf_
    coef = clf.coef_[0]
    terms = {g: (round(float(idf[i]), 6), round(float(coef[i]), 6)) for g, i in vocab.items()}
    return AbuseModel(VERSION, round(float(clf.intercept_[0]), 6), 0.5, terms)


def cross_validate(examples: list[Example]) -> list[float]:
    """Out-of-fold probabilities, in the order of ``examples``."""
    from sklearn.model_selection import StratifiedKFold

    scores = [0.0] * len(examples)
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    for train, test in folds.split([e.norm for e in examples], [e.abusive for e in examples]):
        model = _fit([examples[i] for i in train])
        for i in test:
            scores[i] = model.score(examples[i].norm)
    return scores


def _threshold(examples: list[Example], scores: list[float]) -> float:
    lawful = sorted(
        (s for e, s in zip(examples, scores, strict=True) if not e.abusive and not vetoed(e.norm)),
        reverse=True,
    )
    allowed = int(TARGET_FALSE_ALARMS * len(lawful))
    # Flag strictly above the (allowed+1)-th highest lawful score.
    return round(lawful[allowed] + 1e-6, 6)


def figures(examples: list[Example], scores: list[float], threshold: float) -> dict[str, Any]:
    """Recall and false alarms of the model (after the veto) at ``threshold``, overall and per source."""
    out: dict[str, Any] = {}
    groups: dict[str, list[tuple[Example, float]]] = {"all": []}
    for e, s in zip(examples, scores, strict=True):
        groups["all"].append((e, s))
        groups.setdefault(e.source, []).append((e, s))
    for name, items in sorted(groups.items()):
        ab = [s >= threshold and not vetoed(e.norm) for e, s in items if e.abusive]
        la = [s >= threshold and not vetoed(e.norm) for e, s in items if not e.abusive]
        out[name] = {
            "recall": f"{sum(ab)}/{len(ab)}" + (f" = {sum(ab) / len(ab):.3f}" if ab else ""),
            "false_alarms": f"{sum(la)}/{len(la)}" + (f" = {sum(la) / len(la):.3f}" if la else ""),
        }
    return out


def build(root: Path, *, report: bool = False) -> AbuseModel:
    """Cross-validate, choose the threshold, fit on everything."""
    examples = load_examples(root)
    oof = cross_validate(examples)
    threshold = _threshold(examples, oof)
    model = _fit(examples)
    in_sample = max(model.score(e.norm) for e in examples if not e.abusive and not vetoed(e.norm))
    final = max(threshold, round(in_sample + 1e-6, 6))
    model = AbuseModel(model.version, model.intercept, final, model.terms)
    if report:
        n_ab = sum(e.abusive for e in examples)
        print(
            f"examples: {len(examples)} ({n_ab} abusive, {len(examples) - n_ab} lawful), "
            f"features {len(model.terms)}"
        )
        print(f"threshold from CV {threshold:.4f}; max lawful in-sample {in_sample:.4f}; final {final:.4f}")
        print("out-of-fold at the final threshold:")
        for name, fig in figures(examples, oof, final).items():
            print(f"  {name:28} recall {fig['recall']:20} false alarms {fig['false_alarms']}")
    return model


def main(argv: list[str] | None = None) -> int:
    """Rebuild the artefact, or with ``--check`` compare a rebuild with the stored one."""
    ap = argparse.ArgumentParser(prog="python -m recoup.contact.linter.abuse_build")
    ap.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root")
    ap.add_argument("--check", action="store_true", help="compare with the stored artefact; write nothing")
    args = ap.parse_args(argv)
    model = build(args.root, report=not args.check)
    text = json.dumps(model.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"
    path = PACKAGE / ARTEFACT
    if args.check:
        same = path.exists() and path.read_text("utf-8") == text
        print(f"abuse model artefact {'matches' if same else 'differs from'} a rebuild")
        return 0 if same else 1
    path.write_text(text, "utf-8")
    print(f"wrote {path} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
