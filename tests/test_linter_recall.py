"""The linter on unseen wording (issue 15): recall and false alarms on fresh evaluation sets.

Each round of ``tests/data/linter_unseen.jsonl`` was written after the linter was frozen for that round and
was not used to tune it: abusive and lawful collection messages in Chinese and English (paraphrases,
colloquial forms, full-width text, traditional characters, mixed scripts). A message counts as flagged when
the linter reports anything at all (preset ``cn`` for Chinese, ``us`` for English, no channel): recall is
the share of abusive messages flagged, the false-alarm rate the share of lawful messages flagged. The
figures of every round are in docs/contact-content.md. The target (recall >= 0.9, false alarms <= 0.1 on
the latest round) is not met; its test is a strict xfail, so that a linter which meets it on a round it
was tuned on fails the suite until a new fresh round is written and measured.

    .venv/bin/pytest -q -s tests/test_linter_recall.py     # prints the table and every miss
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from recoup.contact.linter import lint

HERE = Path(__file__).parent
SET = HERE / "data" / "linter_unseen.jsonl"


@dataclass(frozen=True)
class Item:
    id: str
    round: int
    lang: str
    label: str
    concept: str
    text: str

    @property
    def flagged(self) -> bool:
        preset, locale = ("cn", "zh_CN") if self.lang == "zh" else ("us", "en_US")
        return not lint(self.text, preset=preset, locale=locale).ok


def _items() -> list[Item]:
    out = []
    for n, line in enumerate(SET.read_text("utf-8").splitlines(), 1):
        if line.strip():
            raw = json.loads(line)
            item = Item(**raw)
            assert item.lang in {"zh", "en"} and item.label in {"abusive", "lawful"}, (n, raw)
            out.append(item)
    return out


ITEMS = _items()
ROUNDS = sorted({i.round for i in ITEMS})


@dataclass(frozen=True)
class Score:
    abusive: int
    caught: int
    lawful: int
    flagged: int

    @property
    def recall(self) -> float:
        return self.caught / self.abusive

    @property
    def false_alarms(self) -> float:
        return self.flagged / self.lawful


def _score(items: list[Item]) -> tuple[Score, list[Item]]:
    abusive = [i for i in items if i.label == "abusive"]
    lawful = [i for i in items if i.label == "lawful"]
    missed = [i for i in abusive if not i.flagged]
    alarms = [i for i in lawful if i.flagged]
    return Score(len(abusive), len(abusive) - len(missed), len(lawful), len(alarms)), missed + alarms


def _report(rnd: int) -> Score:
    items = [i for i in ITEMS if i.round == rnd]
    total, wrong = _score(items)
    lines = [f"\nround {rnd}: recall {total.caught}/{total.abusive} = {total.recall:.3f}, "]
    lines.append(f"false alarms {total.flagged}/{total.lawful} = {total.false_alarms:.3f}\n")
    for lang in ("zh", "en"):
        s, _ = _score([i for i in items if i.lang == lang])
        lines.append(f"  {lang}: recall {s.caught}/{s.abusive}, false alarms {s.flagged}/{s.lawful}\n")
    for concept in sorted({i.concept for i in items if i.label == "abusive"}):
        s, _ = _score([i for i in items if i.concept == concept and i.label == "abusive"])
        lines.append(f"  abusive/{concept}: {s.caught}/{s.abusive}\n")
    for i in wrong:
        lines.append(f"  {'MISSED' if i.label == 'abusive' else 'FLAGGED'} {i.id} {i.text}\n")
    sys.stdout.write("".join(lines))
    return total


def test_the_sets_are_large_enough_and_bilingual() -> None:
    for rnd in ROUNDS:
        items = [i for i in ITEMS if i.round == rnd]
        for label in ("abusive", "lawful"):
            chosen = [i for i in items if i.label == label]
            assert len(chosen) >= 60, (rnd, label)
            zh = sum(i.lang == "zh" for i in chosen)
            # About half in each language.
            assert 0.4 <= zh / len(chosen) <= 0.6, (rnd, label, zh, len(chosen))
    assert len({i.id for i in ITEMS}) == len(ITEMS)


def _literals(path: Path) -> set[str]:
    """Every string constant of a Python file (the unit tests' example messages)."""
    return {
        n.value
        for n in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_the_sets_are_not_copied_from_the_tuning_material() -> None:
    """No message of an evaluation set is a message of the linter's corpora or its unit tests, nor twice."""
    texts = [i.text for i in ITEMS]
    assert len(set(texts)) == len(texts)
    tuning = {
        line.split("\t")[-1]
        for p in sorted((HERE / "data" / "linter").glob("*.txt"))
        for line in p.read_text("utf-8").splitlines()
    }
    tuning |= _literals(HERE / "test_linter.py")
    # The learned check's own training messages (src/recoup/contact/linter/data/abuse_train.tsv).
    train = HERE.parent / "src" / "recoup" / "contact" / "linter" / "data" / "abuse_train.tsv"
    tuning |= {line.split("\t")[-1] for line in train.read_text("utf-8").splitlines()}
    assert [t for t in texts if t in tuning] == []


#: Each round as measured once, before anything was tuned on it: (caught, abusive, flagged, lawful). The
#: table in docs/contact-content.md shows the same figures. A round is tuning material once measured, so its
#: figures are history; only the latest round describes the linter as it is.
MEASURED = {1: (27, 72, 5, 68), 2: (28, 67, 7, 64), 3: (67, 70, 9, 74), 4: (66, 70, 13, 72)}


@pytest.mark.parametrize("rnd", ROUNDS)
def test_round_figures(rnd: int) -> None:
    """Every round is measured and printed. The latest round must still give its recorded figures: a change
    to the linter that moves them needs a new fresh round (written after the change) and a new table row."""
    score = _report(rnd)
    assert rnd in MEASURED, f"round {rnd} has no recorded figures"
    if rnd == ROUNDS[-1]:
        assert (score.caught, score.abusive, score.flagged, score.lawful) == MEASURED[rnd]


@pytest.mark.xfail(
    strict=True,
    reason="not met: round 4 (fresh, unseen) measured recall 66/70 = 0.943, false alarms 13/72 = 0.181",
)
def test_acceptance_on_the_latest_round() -> None:
    """Issue 15: recall >= 0.9 with false alarms <= 0.1 on a fresh set never used for tuning."""
    score, _ = _score([i for i in ITEMS if i.round == ROUNDS[-1]])
    assert score.recall >= 0.9, f"recall {score.recall:.3f}"
    assert score.false_alarms <= 0.1, f"false alarms {score.false_alarms:.3f}"
