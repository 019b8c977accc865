"""The linter's lexicons: concept components and rules per language, loaded from ``data/*.toml``.

A rule is a template over *components* (lists of words or regular-expression fragments), so one rule
covers many sentences: ``{GO}~2{YOU}的?~3{PLACE}`` is "go / come / turn up" + "you / your" + "home / work /
school …" with up to two and three other characters between. Template syntax:

* ``{NAME}`` — the alternation of component ``NAME``;
* ``~N`` — up to N characters of the same sentence (Chinese);
* ``<N>`` — up to N words of the same sentence, each followed by a space (English);
* anything else is a regular expression over the normalised text (see :mod:`.normalize`).

English rules are matched on whole words and are squeezed like the text (``will`` → ``wil``); ``i`` and
``l`` also match the leetspeak placeholder. Every Chinese word of two or more characters in a component or
a template becomes a homophone key: the text is compared on toneless pinyin too (:class:`HomophoneIndex`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pypinyin import Style, lazy_pinyin

from recoup.contact.linter.normalize import AMBIGUOUS_IL, BREAK, is_cjk

__all__ = ["CATEGORIES", "HomophoneIndex", "Lexicon", "Rule", "load_lexicon"]

#: Content categories and their bilingual messages ("中文 · English").
CATEGORIES: Mapping[str, str] = {
    "threat": "威胁恐吓 · Threat of harm or intimidation",
    "impersonation": "冒充公检法、律师或政府机关 · Impersonates the police, a court, a lawyer or an official",
    "false_legal": "虚假的刑事或法律后果（抓捕、坐牢、立案） · False criminal or legal threat (arrest, jail)",
    "insult": "侮辱、谩骂或低俗用语 · Insult, abuse or obscenity",
    "exaggeration": "夸大或虚构后果 · Exaggerated or invented consequences",
    "disclosure": "向第三方泄露或扬言泄露债务 · Discloses, or threatens to disclose, the debt to others",
    "private_channel": "要求向个人或非官方渠道付款 · Payment to a personal or unofficial channel",
    "fees": "收取合同外费用（催收费等） · Fees not owed under the contract (collection fees …)",
    "borrow_elsewhere": "诱导借新还旧或变卖财产还款 · Pushes new borrowing or selling property to pay",
    "pretext": "以虚假身份或借口联系（快递、中奖、官方通知） · Deceptive pretext (courier, prize, notice)",
}

_PLACEHOLDER = re.compile(r"\{([A-Z_][A-Z0-9_]*)\}")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]{2,}")
_PLAIN_WORD = re.compile(r"[\w\u3400-\u9fff]+")


@dataclass(frozen=True)
class Rule:
    """One compiled rule of a category."""

    name: str
    category: str
    lang: str
    pattern: re.Pattern[str]
    negatable: bool  # a negation before it in the sentence ("we never ask …", "请勿…") clears it
    guard: str | None  # the lawful-statement guard that may clear it ("lawful", "contract")
    exempt: re.Pattern[str] | None  # a match of this in the same sentence clears it
    gate: re.Pattern[str] | None = None  # the rule runs only when this is found (a cheap prefilter)


@dataclass(frozen=True)
class Guard:
    """Lawful markers clear a match unless a hard marker (certainty, permanence, crime) is also there."""

    lawful: re.Pattern[str]
    hard: re.Pattern[str] | None


@dataclass(frozen=True)
class LangLexicon:
    lang: str
    rules: tuple[Rule, ...]
    negation: re.Pattern[str]
    negation_window: int
    scope_break: re.Pattern[str]
    guards: Mapping[str, Guard]
    checks: Mapping[str, re.Pattern[str]]


class HomophoneIndex:
    """Chinese terms keyed by toneless pinyin, to rewrite homophones (老来 → 老赖, 公按 → 公安).

    Only terms of two or more syllables take part, so a single character must match exactly. The text is
    read character by character (each character's default reading: fast, and rare readings would rewrite
    innocent words). A rewrite never cuts into an exact occurrence of a term or of a listed innocent word
    (``stop``: 来自 is not 赖子); it may cover one whole (后果自付 → 后果自负).
    """

    def __init__(self, terms: Iterable[str], stop: Iterable[str]) -> None:
        # Keyed by the first two syllables: one dictionary look-up per character of the text.
        self._by_pair: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = {}
        words = {t for t in terms if len(t) >= 2}
        for term in sorted(words, key=lambda t: (-len(t), t)):
            syl = tuple(lazy_pinyin(term, style=Style.NORMAL))
            if len(syl) == len(term) and all(map(is_cjk, term)):
                self._by_pair.setdefault((syl[0], syl[1]), []).append((term, syl))
        self._protect: dict[str, list[str]] = {}  # first two characters → protected words
        for w in words | {w for w in stop if len(w) >= 2}:
            self._protect.setdefault(w[:2], []).append(w)
        self._longest = max((len(w) for ws in self._protect.values() for w in ws), default=1)

    def canonicalize(self, text: str) -> str:
        """``text`` with homophones of known terms replaced by the terms (same length, same offsets)."""
        n_text = len(text)
        syl = [_reading(c) for c in text]
        found: list[tuple[int, int, str]] = []  # (start, length, term) of inexact pinyin matches
        protected: dict[int, list[int]] = {}  # start → ends of protected words
        for i in range(n_text - 1):
            if not is_cjk(text[i]):
                continue
            for w in self._protect.get(text[i : i + 2], ()):
                if text.startswith(w, i):
                    protected.setdefault(i, []).append(i + len(w))
            for term, tsyl in self._by_pair.get((syl[i], syl[i + 1]), ()):
                n = len(term)
                if i + n <= n_text and text[i : i + n] != term and tsyl[2:] == tuple(syl[i + 2 : i + n]):
                    found.append((i, n, term))
        if not found:
            return text
        chars = list(text)
        done = bytearray(n_text)
        for i, n, term in sorted(found, key=lambda f: (-f[1], f[0])):
            j = i + n
            # Skip unless every protected word it touches lies wholly inside it (and it is longer).
            touching = (
                (a, b) for a in range(max(0, i - self._longest + 1), j) for b in protected.get(a, ()) if b > i
            )
            if any(done[i:j]) or any(not (i <= a and b <= j and b - a < n) for a, b in touching):
                continue
            chars[i:j] = term
            done[i:j] = b"\x01" * n
        return "".join(chars)


@lru_cache(maxsize=8192)
def _reading(ch: str) -> str:
    """A Chinese character's default toneless reading; anything else stands for itself."""
    return lazy_pinyin(ch, style=Style.NORMAL)[0] if is_cjk(ch) else ch


@dataclass(frozen=True)
class Lexicon:
    """Both languages' rules, the homophone index and the named check patterns."""

    langs: tuple[LangLexicon, ...]
    homophones: HomophoneIndex
    #: English insult words matched anywhere inside a run of spaced-out letters ("y o u l o s e r").
    spaced_insults: re.Pattern[str]

    def check(self, name: str) -> tuple[re.Pattern[str], ...]:
        """The patterns of a named check (``optout``, ``suit``, ``debt`` …) in every language."""
        return tuple(lx.checks[name] for lx in self.langs if name in lx.checks)


def _squeeze(src: str) -> str:
    """Squeeze repeated letters in a regular expression the way the text is squeezed."""
    return re.sub(r"(?<!\\)([a-z])\1+", r"\1", src)


def _il(src: str) -> str:
    """Let every literal ``i`` and ``l`` of an English expression also match the leetspeak placeholder."""
    out: list[str] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            out.append(src[i : i + 2])
            i += 2
            continue
        if ch == "[":
            j = i + 1
            while j < len(src) and (src[j] != "]" or j == i + 1):
                j += 2 if src[j] == "\\" else 1
            body = src[i + 1 : j]
            if not body.startswith("^") and ("i" in body or "l" in body):
                body += AMBIGUOUS_IL
            out.append(f"[{body}]")
            i = j + 1
            continue
        out.append(f"[{ch}{AMBIGUOUS_IL}]" if ch in "il" else ch)
        i += 1
    return "".join(out)


_METACHARS = frozenset("\\.^$*+?{}[]|()")


def _alternation(items: Iterable[str], *, squeeze: bool) -> str:
    """One group matching any item: plain words as a prefix tree (much faster than a flat alternation in
    Python's engine), regular-expression items as they are."""
    trie: dict[str, Any] = {}
    other: list[str] = []
    for item in items:
        if _METACHARS.isdisjoint(item):
            node = trie
            for ch in _squeeze(item) if squeeze else item:
                node = node.setdefault(ch, {})
            node[""] = {}
        else:
            other.append(item)

    def build(node: dict[str, Any]) -> str:
        end = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if end:
            return f"(?:{body})?" if len(branches) == 1 else f"{body}?"
        return body

    parts = sorted(other, key=len, reverse=True)
    if trie:
        parts.append(build(trie))
    return "(?:" + "|".join(parts) + ")"


class _Expander:
    def __init__(self, lang: str, components: Mapping[str, list[str]]) -> None:
        self.lang = lang
        self.components = components
        self.homophone_terms: set[str] = set()
        for items in components.values():
            for item in items:
                if _PLAIN_WORD.fullmatch(item) and len(_CJK_RUN.findall(item)) == 1 and len(item) >= 2:
                    self.homophone_terms.add(item)

    def expand(self, template: str) -> str:
        def comp(m: re.Match[str]) -> str:
            items = self.components.get(m.group(1))
            if items is None:
                raise KeyError(f"linter lexicon {self.lang}: unknown component {m.group(1)}")
            return _alternation(items, squeeze=self.lang == "en")

        literal = _PLACEHOLDER.sub(" ", template)
        self.homophone_terms.update(_CJK_RUN.findall(literal))
        src = _PLACEHOLDER.sub(comp, template)
        not_break = re.escape(BREAK)
        src = re.sub(r"~(\d+)", rf"[^{not_break}]{{0,\1}}?", src)
        src = re.sub(r"<(\d+)>", rf"(?:[^ {not_break}]+ ){{0,\1}}?", src)
        return src

    def compile(self, templates: list[str], *, bounded: bool = True) -> re.Pattern[str]:
        src = "|".join(f"(?:{self.expand(t)})" for t in templates)
        if self.lang == "en":
            src = _il(_squeeze(src))
            if bounded:
                src = rf"\b(?:{src})\b"
            return re.compile(src, re.ASCII)
        return re.compile(src)


def component_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each component of both languages compiled alone, named ``<lang>.<NAME>``, sorted (for the learned
    check's features)."""
    out: list[tuple[str, re.Pattern[str]]] = []
    for name in ("zh", "en"):
        text = resources.files(__package__).joinpath(f"data/{name}.toml").read_text("utf-8")
        raw: dict[str, Any] = tomllib.loads(text)
        ex = _Expander(raw["lang"], raw["components"])
        for comp in sorted(raw["components"]):
            out.append((f"{raw['lang']}.{comp}", ex.compile(["{" + comp + "}"])))
    return tuple(out)


@dataclass(frozen=True)
class _Loaded:
    lexicon: LangLexicon
    expander: _Expander
    homophone_terms: frozenset[str]
    homophone_stop: tuple[str, ...]
    spelled: tuple[str, ...]  # component words also caught when spelled in pinyin


def _load_lang(name: str) -> _Loaded:
    text = resources.files(__package__).joinpath(f"data/{name}.toml").read_text("utf-8")
    raw: dict[str, Any] = tomllib.loads(text)
    lang = raw["lang"]
    ex = _Expander(lang, raw["components"])
    rules: list[Rule] = []
    for r in raw["rule"]:
        if r["category"] not in CATEGORIES:
            raise KeyError(f"linter lexicon {lang}: unknown category {r['category']}")
        exempt = r.get("exempt")
        rules.append(
            Rule(
                name=r["name"],
                category=r["category"],
                lang=lang,
                pattern=ex.compile(r["patterns"]),
                negatable=bool(r.get("negatable", False)),
                guard=r.get("guard"),
                exempt=ex.compile(exempt, bounded=False) if exempt else None,
            )
        )
    guards = {
        g: Guard(ex.compile(spec["lawful"]), ex.compile(spec["hard"]) if spec.get("hard") else None)
        for g, spec in raw["guards"].items()
    }
    neg = raw["negation"]
    lx = LangLexicon(
        lang=lang,
        rules=tuple(rules),
        negation=ex.compile(neg["markers"]),
        negation_window=int(neg["window"]),
        scope_break=ex.compile(neg["scope_break"]),
        guards=guards,
        checks={k: ex.compile(v) for k, v in raw["checks"].items()},
    )
    spelled = tuple(
        t for c in raw.get("pinyin_spelled", {}).get("components", []) for t in raw["components"][c]
    )
    return _Loaded(lx, ex, frozenset(ex.homophone_terms), tuple(raw.get("homophone_stop", [])), spelled)


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Load and compile the lexicons once per process."""
    zh, en = _load_lang("zh"), _load_lang("en")
    en_lex = en.lexicon
    # Chinese insults spelled in pinyin ("laolai", "pian zi") are caught as English words.
    spelled = [" ?".join(lazy_pinyin(t, style=Style.NORMAL)) for t in zh.spelled if t and all(map(is_cjk, t))]
    if spelled:
        rule = Rule("insult.pinyin", "insult", "en", en.expander.compile(spelled), False, None, None)
        en_lex = LangLexicon(
            en_lex.lang,
            (*en_lex.rules, rule),
            en_lex.negation,
            en_lex.negation_window,
            en_lex.scope_break,
            en_lex.guards,
            en_lex.checks,
        )
    # … and half in pinyin inside Chinese text ("老lai", "pian子").
    mixed = [_mixed_pinyin(t) for t in zh.spelled if t and all(map(is_cjk, t))]
    zh_lex = zh.lexicon
    if mixed:
        # Only text where one of these syllables touches a Chinese character.
        syllables = "|".join(sorted({y for t in zh.spelled if all(map(is_cjk, t)) for y in lazy_pinyin(t)}))
        gate = re.compile(
            rf"[\u3400-\u9fff](?:{syllables})(?![a-z])|(?<![a-z])(?:{syllables})[\u3400-\u9fff]"
        )
        rule = Rule(
            "insult.pinyin_mixed", "insult", "zh", re.compile("|".join(mixed)), False, None, None, gate
        )
        zh_lex = LangLexicon(
            zh_lex.lang,
            (*zh_lex.rules, rule),
            zh_lex.negation,
            zh_lex.negation_window,
            zh_lex.scope_break,
            zh_lex.guards,
            zh_lex.checks,
        )
    spaced = en.expander.compile(["{INSULT}"], bounded=False)
    return Lexicon((zh_lex, en_lex), HomophoneIndex(zh.homophone_terms, zh.homophone_stop), spaced)


def _mixed_pinyin(term: str) -> str:
    """A term with each character as itself or its pinyin syllable, at least one of them in pinyin."""
    syl = lazy_pinyin(term, style=Style.NORMAL)
    latin = [f"(?<![a-z]){s}(?![a-z])" for s in syl]
    alts = [f"(?:{re.escape(c)}|{lat})" for c, lat in zip(term, latin, strict=True)]
    return (
        "(?:"
        + "|".join(
            "".join(latin[k] if k == i else alts[k] for k in range(len(term))) for i in range(len(term))
        )
        + ")"
    )
