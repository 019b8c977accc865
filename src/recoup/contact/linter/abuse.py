"""The learned check: a linear classifier that scores a whole message for threatening or abusive wording
the concept rules do not name (veiled threats, slang for the police, exposure through unusual circles,
contempt without insult words).

Features are TF-IDF weights (sublinear term frequency, L2-normalised) over the linter's normalised text
(simplified, half-width, lower case): character 2–4-grams and Chinese single characters, Latin word uni-
and bigrams, and the lexicon components that match; the weights are a logistic regression's. The model
is a small versioned artefact, ``data/abuse_model.json``, rebuilt deterministically by
``python -m recoup.contact.linter.abuse_build`` (see that module for the training data and how the
threshold is chosen). Scoring is plain Python over the stored weights: no scikit-learn at lint time, a
few hundred dictionary look-ups per message. The model speaks only when no rule did (the engine).

A clear lawful statement (:func:`vetoed`) — reassurance that names what it rules out ("debt collectors
cannot have you arrested", "我司绝不会以坐牢等说法催收"), a fraud warning, advice to report a crime or a
collector's misconduct to the police — vetoes the model for its sentence (:func:`unvetoed`), and clears a
rule whose match it covers (the engine).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import pairwise

from recoup.contact.linter.normalize import BREAK, is_cjk

__all__ = [
    "ARTEFACT",
    "MESSAGE",
    "AbuseModel",
    "features",
    "load_model",
    "long_enough",
    "unvetoed",
    "veto_spans",
    "vetoed",
]

ARTEFACT = "abuse_model.json"
MESSAGE = "疑似威胁或侮辱性措辞 · Likely threatening or abusive wording"
FORMAT = 1  # the artefact's layout; a change needs a rebuild

_WORD = re.compile(r"[a-z_']+")
NGRAM_MIN, NGRAM_MAX = 1, 4
UNIGRAMS_CJK_ONLY = True
COMPONENTS = True
MIN_UNITS = 3


def features(norm_text: str) -> list[str]:
    """The features of a normalised text: character 2–4-grams and Chinese single characters (a space
    stands for the text's ends and sentence breaks), one ``c:<lang>.<COMPONENT>`` per match of a lexicon
    component, and Latin word uni- and bigrams (prefixed ``w:``)."""
    text = " " + norm_text.replace(BREAK, " ") + " "
    out: list[str] = []
    n_chars = len(text)
    for n in range(NGRAM_MIN, NGRAM_MAX + 1):
        for i in range(n_chars - n + 1):
            gram = text[i : i + n]
            # A gram of spaces says nothing, a single Latin letter too little.
            if gram.strip() and (n > 1 or not UNIGRAMS_CJK_ONLY or is_cjk(gram)):
                out.append(gram)
    if COMPONENTS:
        # The lexicon's concept components (police, family, workplace, harm …) as features: what a new
        # wording shares with known ones beyond its letters.
        for name, pattern in _components():
            out += ["c:" + name] * len(pattern.findall(norm_text))
    words = _WORD.findall(norm_text)
    out += ["w:" + w for w in words]
    out += [f"w:{a} {b}" for a, b in pairwise(words)]
    return out


@lru_cache(maxsize=1)
def _components() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Every component of both lexicons, compiled on its own (``zh.POLICE``, ``en.FAMILY`` …)."""
    from recoup.contact.linter.lexicon import component_patterns

    return component_patterns()


@dataclass(frozen=True)
class AbuseModel:
    """Stored weights: ``terms`` maps a feature to ``(idf, weight)``; ``threshold`` is on the probability."""

    version: str
    intercept: float
    threshold: float
    terms: Mapping[str, tuple[float, float]]

    def score(self, norm_text: str) -> float:
        """The probability (0–1) that the normalised text is threatening or abusive."""
        dot = 0.0
        sq = 0.0
        for gram, count in Counter(features(norm_text)).items():
            term = self.terms.get(gram)
            if term is not None:
                v = (1.0 + math.log(count)) * term[0]
                sq += v * v
                dot += v * term[1]
        z = self.intercept + (dot / math.sqrt(sq) if sq > 0.0 else 0.0)
        return 1.0 / (1.0 + math.exp(-z))

    def flags(self, norm_text: str) -> tuple[bool, float]:
        """Whether the score reaches the threshold, and the score."""
        p = self.score(norm_text)
        return p >= self.threshold, p

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "version": self.version,
            "intercept": self.intercept,
            "threshold": self.threshold,
            "terms": {g: [idf, w] for g, (idf, w) in sorted(self.terms.items())},
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> AbuseModel:
        if raw.get("format") != FORMAT:
            raise ValueError(f"abuse model artefact format {raw.get('format')!r}, expected {FORMAT}")
        terms = raw["terms"]
        assert isinstance(terms, dict)
        return cls(
            version=str(raw["version"]),
            intercept=float(raw["intercept"]),  # type: ignore[arg-type]
            threshold=float(raw["threshold"]),  # type: ignore[arg-type]
            terms={str(g): (float(v[0]), float(v[1])) for g, v in terms.items()},
        )


@lru_cache(maxsize=1)
def load_model() -> AbuseModel:
    """The packaged model (read once)."""
    raw = json.loads(resources.files("recoup.contact.linter").joinpath("data", ARTEFACT).read_text("utf-8"))
    return AbuseModel.from_json(raw)


# Clear lawful statements: the message rules out, or warns against, what it mentions, or tells the reader
# how to report a crime, a scam or a collector's misconduct. These veto the model, never a rule.
_VETO = re.compile(
    "|".join(
        [
            # English (normalised: doubled letters squeezed, "cannot" is "canot"): reassurance and rights
            r"\b(?:we|our (?:staf|agents?|colectors?|ofice|company|team|representatives?)|debt colectors?|"
            r"colectors?|no one|nobody)(?: from [a-z ]{1,30})? "
            r"(?:wil |would |do |does |can |may |must |are |is )?"
            r"(?:never|not|canot|can not|cant|wont|dont|doesnt|arent|isnt)\b[^|]{0,60}"
            r"\b(?:arest\w*|detain\w*|jail\w*|"
            r"prison\w*|police|criminal|crime|workplace|employer|boss|cowork\w*|neighbou?rs?|family|relatives)",
            r"\b(?:is not|isnt|not) a (?:crime|criminal (?:ofence|ofense|mater))",
            r"\b(?:canot|cant|wil not|wont) be (?:arested|jailed)|\bno one is going to jail",
            r"\b(?:its|is|be) a scam\b|\bscam alert|\b(?:beware|aware|watch out) (?:of )?(?:scams|scamers)\b|"
            r"\bscamers? (?:posing|pretending|claiming)|\bimpersonat\w*|\bphishing\b|\bidentity theft\b",
            r"\bif (?:you\w*|someone|anyone|a colector|one of our)\b[^|]{0,60}"
            r"\b(?:threaten\w*|haras\w*|abus\w*|rude|insult\w*)[^|]*",
            r"\bif (?:you are|youre|you were|you have ben|you re) (?:incarcerated|detained|in (?:jail|prison)"
            r"(?: or (?:jail|prison))?)\b",
            r"\byour [a-z ]{1,30} (?:wil not|wont|wil never) "
            r"(?:hear from us|be told|be contacted|be informed)\b",
            r"\b(?:file|filed|send us|copy of) (?:a |the |your )?police report\b",
            r"\b(?:dial|cal) 911\b",
            r"\bif you\w* (?:are |re )?(?:concerned|woried|afraid|scared|fel unsafe|in danger)[^|]{0,30}"
            r"\b(?:contact|cal|dial)\b[^|]*",
            r"\b(?:police|law enforcement|cops) (?:have|has) nothing to do with\b",
            # Third parties' false claims, reported to be refuted or warned against.
            r"\b(?:scam|fraud|warning|alert|beware)\b[^|]{0,30}"
            r"\b(?:someone|people|calers?|fraudsters?|criminals?) (?:is |are )?"
            r"(?:posing|pretending)\b[^|]{0,60}",
            r"\bsome (?:calers|colectors|people|companies|agencies|websites) "
            r"(?:claim|say|may claim|wil claim|might say|wil tel you)\b[^|]{0,60}",
            # A visit the reader asked for or agreed to.
            r"\bas (?:agred|you requested|requested|arranged)\b"
            r"(?![^|]*\b(?:break|hurt|beat|kil|smash|burn|legs?|knees?|regret|sory|or else|teach)\b)"
            r"[^|]{0,40}\b(?:stop by|drop by|visit|come (?:by|to|over)|met you|se you)\b",
            r"\b(?:hurt|harm|damage|afect|lower)\w* your credit (?:score|report|rating|history|record)\b",
            r"\byour (?:employer|boss|family|coworkers|neighbou?rs|relatives) (?:wil not|wont|wil never) be "
            r"(?:contacted|told|informed|caled)\b",
            # Chinese: reassurance, anti-fraud warnings, reporting misconduct or a crime
            r"(?<!以为)(?:我司|我们|本公司|本平台|我行|公司|工作人员|催收人员|催收员|客服|任何人|谁都)[^|]{0,8}"
            r"(?:不会|绝不|从不|决不|不得|禁止|严禁|不允许|无权|不能)[^|]{0,12}"
            r"(?:坐牢|抓人|被抓|拘留|强制措施|报警|上门|联系单位|联系您的?(?:家人|单位|同事)|公检法|犯罪|刑事|威胁|辱骂|恐吓)",
            r"(?:(?:有人|不法分子|骗子|诈骗分子)冒充|冒充[^|]{0,12}(?:诈骗|骗局)|谨防|甄别|反诈|安全账户|诈骗团伙|诈骗电话|诈骗短信|"
            r"的都是诈骗|一律是诈骗)",
            r"(?:威胁|辱骂|恐吓|骚扰)[^|]{0,10}(?:投诉|举报|报警|监督)",
            # "我们已经向警方报案了" is the collector's own threat, not advice to the reader.
            r"(?:报案回执|就近派出所报案|(?<!已经)(?<!已)(?<!我们)(?<!我司)(?<!会)(?<!将)向(?:警方|公安机关)报案|先报警|"
            r"拨打110|打110)",
            r"(?:我司|我们|本公司|本平台|催收人员|催收机构|催收公司|工作人员)(?:不是|并非|不属于)"
            r"(?:公安机关|公安|警方|警察|法院|司法机关|执法机关|执法部门)",
            r"(?:如|若|如果)(?:您)?(?:发现|遇到|遭遇|看到)[^|]{0,40}(?:向|到)[^|]{0,6}(?:公安机关|派出所|警方)"
            r"(?:报案|反映|举报|求助)",
            # What a court may do after a judgment the debtor ignores, explained as the court's decision.
            r"(?:判决|裁判|裁定|调解书?)(?:已经|已)?(?:生效|确定)后[^|]{0,12}(?:不履行|未履行|拒不履行)的?(?:人民)?法院"
            r"(?![^|]*(?:全家|家人|一辈子|永久|终身|我们就|我司就|我们会|我司会))[^|]{0,40}",
            # A friendly wish with its ordinary reason (the season, the weather), not a veiled threat.
            r"注意安全(?:年底|节前|节假日|假期|天冷|降温|下雨|下雪|路滑|雾大)",
            r"(?<!以为)(?<!以为你)(?<!以为您)不会(?:因此|因为欠款|因为逾期)?(?:被|坐牢|判刑)[^|]{0,8}",
            r"(?:请|建议|您可以|可以|可)(?:您)?(?:先|及时|立即)?(?:向|到)[^|]{0,6}(?:公安机关|派出所|警方)(?:报案|反映|举报)",
            r"(?:不要|切勿|请勿|千万别)相信[^|]{0,30}|任何要求您[^|]{0,20}的都是诈骗",
            r"(?:如|若|如果)您(?:因)?(?:涉及|涉嫌)?[^|]{0,6}(?:正在羁押|被羁押|正在服刑|在押)",
            r"无犯罪记录(?:证明)?|咨询(?:当地|就近)?(?:派出所|公安机关)",
            r"(?:不是犯罪|不属于犯罪|不构成犯罪|不算犯罪|(?<![不已])(?:是|属于)民事|民事范畴)",
        ]
    )
)


def vetoed(norm_text: str) -> bool:
    """Whether the normalised text holds a clear lawful statement."""
    return _VETO.search(norm_text) is not None


def veto_spans(norm_text: str) -> list[tuple[int, int]]:
    """The ``[start, end)`` of every clear lawful statement in the normalised text."""
    return [m.span() for m in _VETO.finditer(norm_text)]


def long_enough(norm_text: str) -> bool:
    """At least :data:`MIN_UNITS` Chinese characters and Latin words together: the model has nothing to
    read in a greeting or a label ("Hi", "您好")."""
    units = sum(1 for ch in norm_text if is_cjk(ch)) + len(_WORD.findall(norm_text))
    return units >= MIN_UNITS


def unvetoed(norm_text: str) -> str:
    """The normalised text without its sentences that hold a clear lawful statement (what the model
    reads: a lawful sentence vetoes the model for itself, not for a threat next to it)."""
    return BREAK.join(s for s in norm_text.split(BREAK) if not vetoed(s))
