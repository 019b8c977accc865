"""The linter: normalise, rewrite homophones, run the category rules of both languages, then the channel
and context checks of the preset."""

from __future__ import annotations

import re

from recoup.contact.linter.abuse import MESSAGE as ABUSE_MESSAGE
from recoup.contact.linter.abuse import load_model, long_enough, unvetoed, veto_spans
from recoup.contact.linter.channels import CHANNEL_CHECKS, context_checks, find_links
from recoup.contact.linter.lexicon import CATEGORIES, LangLexicon, Lexicon, Rule, load_lexicon
from recoup.contact.linter.model import Doc, Finding, LintContext, LintInputError, LintResult
from recoup.contact.linter.normalize import normalize
from recoup.contact.linter.presets import PRESETS, Preset
from recoup.contact.vocab import Channel, Party

__all__ = ["analyse", "lint"]

_LOCALE = re.compile(r"(zh|en)(?:[_-][A-Za-z0-9]{2,8})*", re.IGNORECASE)
_CHANNELS = frozenset(c.value for c in Channel)
_PARTIES = frozenset(p.value for p in Party)
_UNVETOED = frozenset({"impersonation", "pretext"})
_CONDITION = re.compile(r"\b(?:if|unless)\b")


def analyse(text: str) -> Doc:
    """Normalise ``text`` and rewrite homophones of the lexicon's Chinese terms."""
    norm = normalize(text)
    return Doc(text, norm, load_lexicon().homophones.canonicalize(norm.text))


def _negated(doc: Doc, lx: LangLexicon, sent_start: int, i: int, j: int) -> bool:
    """A negation shortly before the match ``[i, j)`` in its sentence ("we never ask …", "请勿…"), not cut
    off by a clause marker after it ("不会上门，但…") nor introduced by a condition ("if you don't …",
    "如果不…"). In Chinese a negation inside the match counts too, since a window may have started the
    match before it ("还款，切勿转入个人账户"), unless it ends the match (a negation the rule names)."""
    if lx.lang == "en":
        before = " ".join(doc.canon[sent_start:i].split()[-lx.negation_window :])
    else:
        before = doc.canon[max(sent_start, i - lx.negation_window) : max(i, j - 3)]
    marks = list(lx.negation.finditer(before))
    if not marks:
        return False
    m = marks[-1]
    if lx.lang == "en":
        lead = " ".join(before[: m.start()].split()[-2:])
        # A negation inside a condition ("if the balance isn't cleared by Friday, …") negates the condition.
        if _CONDITION.search(" ".join(before[: m.start()].split()[-5:])):
            return False
    else:
        lead = before[max(0, m.start() - 4) : m.start()]
    return not lx.scope_break.search(before[m.end() :]) and not lx.scope_break.search(lead)


def _cleared(doc: Doc, lx: LangLexicon, rule: Rule, i: int, j: int) -> bool:
    """Whether an exemption, a negation or the lawful-statement guard clears a match."""
    a, b = doc.norm.sentence(i, j)
    sentence = doc.canon[a:b]
    if rule.exempt is not None and rule.exempt.search(sentence):
        return True
    # A clear lawful statement that covers the match names what it rules out ("debt collectors cannot have
    # you ARRESTED"); not for who is speaking (a pretext or an impersonation is never lawful). Read on the
    # text before homophone rewriting.
    if rule.category not in _UNVETOED and any(
        a + x < j and i < a + y for x, y in veto_spans(doc.norm.text[a:b])
    ):
        return True
    if rule.negatable and _negated(doc, lx, a, i, j):
        return True
    if rule.guard is not None:
        guard = lx.guards[rule.guard]
        if guard.lawful.search(sentence) and not (guard.hard is not None and guard.hard.search(sentence)):
            return True
    return False


def _content(doc: Doc, lex: Lexicon, preset: Preset) -> list[Finding]:
    out: list[Finding] = []
    for lx in lex.langs:
        for rule in lx.rules:
            if rule.gate is not None and not rule.gate.search(doc.canon):
                continue
            for m in rule.pattern.finditer(doc.canon):
                i, j = m.span()
                # Trim separators the window syntax may have taken in at either end.
                while i < j and doc.canon[i] in " |":
                    i += 1
                while j > i and doc.canon[j - 1] in " |":
                    j -= 1
                if i < j and not _cleared(doc, lx, rule, i, j):
                    out.append(doc.finding(preset.rule_id(rule.category), i, j, CATEGORIES[rule.category]))
    # Letters spaced out one by one carry no word boundaries: look for insults anywhere inside.
    for a, b in doc.norm.spaced:
        for m in lex.spaced_insults.finditer(doc.canon, a, b):
            out.append(doc.finding(preset.rule_id("insult"), m.start(), m.end(), CATEGORIES["insult"]))
    return out


def _abuse(doc: Doc, preset: Preset) -> list[Finding]:
    """The learned check, for wording no rule names: one finding over the whole message, with its score."""
    text = unvetoed(doc.norm.text)
    if not long_enough(text):
        return []
    flagged, score = load_model().flags(text)
    if not flagged:
        return []
    f = doc.whole(f"{preset.rule_id('threat').rsplit('.', 1)[0]}.abuse_model", ABUSE_MESSAGE)
    return [Finding(f.rule, f.span, f.excerpt, f.message, round(score, 3))]


def _dedupe(findings: list[Finding], text: str) -> tuple[Finding, ...]:
    """Merge overlapping findings of the same rule; order by position, then rule."""
    out: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.rule, f.span[0], -f.span[1])):
        last = out[-1] if out else None
        if last is not None and last.rule == f.rule and f.span[0] < last.span[1]:
            if f.span[1] > last.span[1]:
                a, b = last.span[0], f.span[1]
                out[-1] = Finding(last.rule, (a, b), text[a:b], last.message, last.score)
            continue
        out.append(f)
    return tuple(sorted(out, key=lambda f: (f.span[0], f.rule)))


def _validate(preset: str, locale: str, channel: str | None, ctx: LintContext) -> Preset:
    p = PRESETS.get(preset.lower())
    if p is None:
        raise LintInputError(
            f"未知预设 unknown preset {preset!r}; choose one of {', '.join(PRESETS)}",
            details={"preset": preset},
        )
    if not _LOCALE.fullmatch(locale):
        raise LintInputError(
            f"不支持的语言区域 unsupported locale {locale!r}; the linter reads zh_* and en_*",
            details={"locale": locale},
        )
    if channel is not None and channel not in _CHANNELS:
        raise LintInputError(
            f"未知渠道 unknown channel {channel!r}; choose one of {', '.join(sorted(_CHANNELS))}",
            details={"channel": channel},
        )
    if ctx.party not in _PARTIES:
        raise LintInputError(
            f"未知联系对象 unknown party {ctx.party!r}; choose one of {', '.join(sorted(_PARTIES))}",
            details={"party": ctx.party},
        )
    return p


def lint(
    text: str,
    *,
    preset: str = "cn",
    locale: str = "zh_CN",
    channel: str | None = None,
    context: LintContext | None = None,
) -> LintResult:
    """Lint one message.

    Both the Chinese and the English rules always run (collection messages mix languages); ``locale`` is
    validated (zh_* or en_*). Content rules apply everywhere; channel rules only when ``channel`` is given;
    context rules (third party, time-barred debt, link whitelist) whenever the context asks for them.
    """
    ctx = context or LintContext()
    p = _validate(preset, locale, channel, ctx)
    lex = load_lexicon()
    doc = analyse(text)
    # Content rules read the words, not the links: a token in a payment URL ("…/p/5b9…") is not an insult.
    links = find_links(text)
    blanked = text
    for a, b, _domain in links:
        blanked = blanked[:a] + " " * (b - a) + blanked[b:]
    content_doc = analyse(blanked) if links else doc
    findings = _content(content_doc, lex, p)
    if not findings:  # the model speaks only when no rule did
        findings = _abuse(content_doc, p)
    findings += context_checks(doc, ctx, p, lex, channel)
    if channel is not None:
        for check in CHANNEL_CHECKS.get((p.family, channel), ()):
            findings += check(doc, ctx, p, lex)
    merged = _dedupe(findings, text)
    return LintResult(ok=not merged, findings=merged)
