"""The linter's learned check (``recoup.contact.linter.abuse``): feature extraction and scoring worked by
hand, the stored artefact against a rebuild and against scikit-learn, the veto of clear lawful statements,
and a few messages no concept rule names (hits) next to lawful ones (non-hits)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from recoup.contact.linter import lint
from recoup.contact.linter.abuse import (
    MESSAGE,
    AbuseModel,
    features,
    load_model,
    long_enough,
    unvetoed,
    veto_spans,
    vetoed,
)
from recoup.contact.linter.abuse_build import VERSION, fit_sklearn, load_examples, main
from recoup.contact.linter.normalize import normalize

ROOT = Path(__file__).parent.parent


def _preset(text: str) -> tuple[str, str]:
    return ("cn", "zh_CN") if any("\u4e00" <= ch <= "\u9fff" for ch in text) else ("us", "en_US")


def test_features_by_hand() -> None:
    # " 你好 " (the ends become spaces): the CJK unigrams, then the 2-, 3- and 4-grams without a gram of
    # spaces only; no Latin words.
    got = [f for f in features("你好") if not f.startswith("c:")]
    assert got == ["你", "好", " 你", "你好", "好 ", " 你好", "你好 ", " 你好 "]
    # A Latin letter alone is no feature; the words and the bigram are, and a sentence break is a space.
    got = [f for f in features("ab|cd") if not f.startswith("c:")]
    assert "a" not in got and "ab c" in got
    assert got[-3:] == ["w:ab", "w:cd", "w:ab cd"]
    assert " cd " in got and "b c" in got
    # The lexicon's components count once per match: "police" is in the police component.
    assert "c:en.POLICE" in features("the police")
    assert not [f for f in features("the weather") if f.startswith("c:en.POLICE")]


def test_score_by_hand() -> None:
    # "pay pay": w:pay twice (tf 1 + ln 2, idf 2), w:pay pay once (tf 1, idf 1); L2-normalised, then the
    # weights 3 and -1 and the intercept -1: z = -1 + (3·v1 - 1) / sqrt(v1² + 1) with v1 = 2(1 + ln 2).
    model = AbuseModel("t", -1.0, 0.5, {"w:pay": (2.0, 3.0), "w:pay pay": (1.0, -1.0)})
    v1 = 2.0 * (1.0 + math.log(2.0))  # 3.386294
    z = -1.0 + (3.0 * v1 - 1.0) / math.sqrt(v1 * v1 + 1.0)  # 1.593951
    assert model.score("pay pay") == pytest.approx(1.0 / (1.0 + math.exp(-z)))
    assert model.score("pay pay") == pytest.approx(0.831171, abs=1e-6)
    assert model.flags("pay pay") == (True, pytest.approx(0.831171, abs=1e-6))
    # Nothing known: the intercept alone.
    assert model.score("hello") == pytest.approx(1.0 / (1.0 + math.exp(1.0)))


def test_artefact_round_trips_and_is_deterministic() -> None:
    model = load_model()
    assert model.version == VERSION
    assert AbuseModel.from_json(json.loads(json.dumps(model.to_json()))) == model
    text = normalize("你上班那条路晚上挺黑的吧").text
    assert model.score(text) == model.score(text)
    assert 0.5 < model.threshold < 0.8
    with pytest.raises(ValueError, match="format"):
        AbuseModel.from_json({**model.to_json(), "format": 0})


def test_stored_artefact_matches_a_rebuild(capsys: pytest.CaptureFixture[str]) -> None:
    """The artefact is what ``python -m recoup.contact.linter.abuse_build`` writes today (same data, seeds,
    rounding); a change to the training material or the features needs a rebuild."""
    assert main(["--check", "--root", str(ROOT)]) == 0, capsys.readouterr().out


def test_pure_python_scores_match_scikit_learn() -> None:
    """The stored weights score a text as scikit-learn's own pipeline does (to the stored rounding)."""
    examples = load_examples(ROOT)[::7]  # a small, fixed training set
    vec, clf = fit_sklearn(examples)
    terms = {g: (float(vec.idf_[i]), float(clf.coef_[0][i])) for g, i in vec.vocabulary_.items()}
    model = AbuseModel("t", float(clf.intercept_[0]), 0.5, terms)
    for text in ["你们公司前台的电话我们有", "We know when your kids get home.", "您好，本期账单已出。", "x"]:
        norm = normalize(text).text
        assert model.score(norm) == pytest.approx(clf.predict_proba(vec.transform([norm]))[0, 1], abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        "你那辆电动车停在楼道里，哪天着了火可就麻烦了。",
        "听说你儿子在三中读初二？我们有空去学校门口转转。",
        "你们公司年会快到了吧，我们准备了一份关于你的“礼物”。",
        "Your daughter takes the 7:40 bus, right? Busy road.",
        "Funny how things tend to break in houses where people owe money.",
    ],
)
def test_hits_no_rule_names(text: str) -> None:
    preset, locale = _preset(text)
    result = lint(text, preset=preset, locale=locale)
    assert [f.rule for f in result.findings] == [f"{preset.upper()}-CONTENT.abuse_model"]
    (f,) = result.findings
    assert f.span == (0, len(text)) and f.message == MESSAGE
    assert f.score is not None and f.score >= load_model().threshold
    assert f.to_json()["score"] == f.score


@pytest.mark.parametrize(
    "text",
    [
        "您好，您本月账单已出，应还金额为980元，请于15日前还款。",
        "如您近期遇到困难，可以联系我们申请延期，我们会尽力帮助您。",
        "天冷了，出门记得多穿点，还款的事不着急，月底前处理就行。",
        "Hi Sam, your payment of $90 is due on Tuesday. Reply STOP to opt out.",
        "If the lender sues and wins, a court could order wage garnishment.",
        "We hope your recovery is going well. Your account is on hold until March.",
        "Debt collectors cannot have you arrested for an unpaid loan.",
        "我司绝不会以报警、坐牢等方式催收，如遇此类情况请投诉。",
    ],
)
def test_lawful_non_hits(text: str) -> None:
    preset, locale = _preset(text)
    assert lint(text, preset=preset, locale=locale).ok


def test_the_model_speaks_only_when_no_rule_did() -> None:
    result = lint("你这个老赖，晚上走路小心点", preset="cn")
    assert "CN-CONTENT.insult" in result.rules
    assert not [f for f in result.findings if f.rule.endswith("abuse_model")]
    # Rule findings carry no score, and their JSON has none.
    assert all(f.score is None and "score" not in f.to_json() for f in result.findings)


def test_rule_ids_follow_the_preset() -> None:
    text = "Funny how things tend to break in houses where people owe money."
    assert lint(text, preset="uk", locale="en_GB").rules == {"UK-PRESSURE.abuse_model"}
    assert lint(text, preset="eu", locale="en_GB").rules == {"EU-CSD.abuse_model"}


def test_veto_of_clear_lawful_statements() -> None:
    reassurance = normalize("Debt collectors cannot have you arrested, and we never involve the police.").text
    assert vetoed(reassurance)
    # The veto covers the words it rules out ("arrested"), which clears a rule matching them …
    (a, b), *_ = veto_spans(reassurance)
    assert "arested" in reassurance[a:b]
    # … and it does not excuse a threat next to it: the lawful sentence is dropped, the threat is read.
    text = normalize("谨防诈骗。你那辆电动车停在楼道里，哪天着了火可就麻烦了。").text
    assert unvetoed(text) == normalize("你那辆电动车停在楼道里，哪天着了火可就麻烦了。").text
    assert not vetoed("你别以为我们不会报警")  # "以为" undoes the reassurance
    assert not vetoed(normalize("借钱不还就是诈骗").text)  # calling it fraud is no fraud warning


def test_short_texts_are_left_to_the_rules() -> None:
    assert not long_enough(normalize("Hi").text)
    assert not long_enough(normalize("您好").text)
    assert long_enough(normalize("Don't test me.").text)
    assert lint("Hi", preset="us", locale="en_US").ok
