"""Channel and context checks: what a message must carry, or must not, on a channel or to a party.

======================  =========================  =====================================================
rule id                 when                       fails when
======================  =========================  =====================================================
CN-SMS.signature        cn, sms                    no 【签名】; or, if signatures are registered, none of them
CN-SMS.link             cn, sms                    a link outside ``allowed_domains`` (none allowed if empty)
US-OPTOUT               us, email / sms            no opt-out line (reply STOP, unsubscribe, opt out …)
US-MINIMIRANDA          us, email / letter / sms   first contact: no "attempt to collect a debt … information
                        / im                       obtained will be used for that purpose"; later: no
                                                   statement that it is from a debt collector
US-LCM                  us, voicemail              anything beyond a limited-content message: the debt,
                                                   balance, collection, amounts, a collector's name …
US-TCPA.ai_voice        us, robot_call             no recorded consent to artificial-voice calls
US-TCPA.caller_id       us, robot_call             the caller is not identified
<content>.link          any preset, any channel    ``allowed_domains`` given and a link goes elsewhere
<third party id>        party is a third party     the message mentions the debt (see :mod:`.presets`)
US-TBD / TIME-BARRED    ``time_barred``            any mention of suing, court or legal action
======================  =========================  =====================================================
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

from recoup.contact.linter.lexicon import Lexicon
from recoup.contact.linter.model import Doc, Finding, LintContext
from recoup.contact.linter.presets import Preset

__all__ = ["CHANNEL_CHECKS", "context_checks", "find_links"]

Check = Callable[[Doc, LintContext, Preset, Lexicon], list[Finding]]

MESSAGES: Mapping[str, str] = {
    "signature": "短信缺少签名【…】 · SMS carries no 【signature】",
    "signature_unregistered": "短信签名未报备 · SMS signature is not a registered one",
    "sms_link": "短信链接不在白名单域名内 · SMS link outside the whitelisted domains",
    "link": "链接不在白名单域名内 · Link outside the whitelisted domains",
    "optout": "缺少退订方式（如回复STOP退订） · No opt-out instruction (e.g. reply STOP, unsubscribe)",
    "minimiranda_first": (
        "首次联系缺少完整的催收身份声明 · First contact lacks the mini-Miranda: "
        "“this is an attempt to collect a debt and any information obtained will be used for that purpose”"
    ),
    "minimiranda_later": "未声明来自债务催收方 · Does not state that it is from a debt collector",
    "lcm": (
        "语音留言超出有限内容范围（不得提及债务、余额、催收或金额） · Voicemail goes beyond a "
        "limited-content message (no debt, balance, collection or amounts)"
    ),
    "ai_voice": "人工/AI语音外呼未取得事先明示同意 · Artificial-voice (AI) call without prior consent",
    "caller_id": "语音外呼未表明来电方身份 · Artificial-voice call does not identify the caller",
    "third_party": "发给第三方的信息不得提及债务 · A message to a third party must not mention the debt",
    "time_barred": "已过诉讼时效的债务不得威胁起诉 · No threat of suit on a time-barred debt",
}

_SIGNATURE = re.compile(r"【([^【】\n]{1,30})】")
_TLDS = (
    "com|cn|net|org|info|biz|io|co|me|ly|cc|tv|top|xyz|vip|site|online|app|link|club|shop|ltd|tech|wang|ink|pro|"
    "fun|icu|cloud|live|store|work|gov|edu|uk|us|in|eu|de|hk|tw|mo|sg|ru|to|gl|gd|page|dev|ai|mobi|asia|today|"
    "ws|su|im|la|ml|tk|ga|cf|gq|cx|nu|jp|kr|fr|es|it|nl|au|ca"
)
_LINK = re.compile(
    r"(?<![@a-z0-9_.-])(?:https?://([^\s/:?#，。；！？【】（）()<>\"']+)|"
    rf"((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS}))(?![a-z0-9-]))"
    # A link ends at a space, a bracket, a comma or the first Chinese character (SMS glue text to links).
    r"(?::\d+)?(?:[/?#][^\s,，。；！？【】（）()<>\"'\u3000-\u9fff]*)?",
    re.IGNORECASE,
)
_AMOUNT = re.compile(r"[$€£¥￥]\s?\d|\d[\d,]*(?:\.\d+)?\s?(?:dollars|usd|元|块)", re.IGNORECASE)


def find_links(text: str) -> list[tuple[int, int, str]]:
    """Links in ``text`` as ``(start, end, domain)``; full-width forms count (``ｘｘ．ｃｏｍ``)."""
    # Fold character by character where that keeps one character, so offsets stay those of ``text``.
    folded = "".join(f if len(f := unicodedata.normalize("NFKC", c)) == 1 else c for c in text)
    return [
        (m.start(), m.end(), (m.group(1) or m.group(2)).lower().rstrip(".")) for m in _LINK.finditer(folded)
    ]


def _allowed(domain: str, allowed: frozenset[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in (a.lower().strip(".") for a in allowed))


def _matches(doc: Doc, patterns: tuple[re.Pattern[str], ...]) -> list[tuple[int, int]]:
    return [m.span() for p in patterns for m in p.finditer(doc.canon) if m.end() > m.start()]


def _has(doc: Doc, patterns: tuple[re.Pattern[str], ...]) -> bool:
    return any(p.search(doc.canon) for p in patterns)


def _cn_signature(doc: Doc, ctx: LintContext, preset: Preset, lex: Lexicon) -> list[Finding]:
    found = list(_SIGNATURE.finditer(doc.text))
    if not found:
        return [doc.whole("CN-SMS.signature", MESSAGES["signature"])]
    if ctx.sms_signatures and not any(m.group(1).strip() in ctx.sms_signatures for m in found):
        m = found[0]
        return [Finding("CN-SMS.signature", m.span(), m.group(0), MESSAGES["signature_unregistered"])]
    return []


def _cn_sms_links(doc: Doc, ctx: LintContext, preset: Preset, lex: Lexicon) -> list[Finding]:
    return [
        Finding("CN-SMS.link", (a, b), doc.text[a:b], MESSAGES["sms_link"])
        for a, b, domain in find_links(doc.text)
        if not _allowed(domain, ctx.allowed_domains)
    ]


def _us_optout(doc: Doc, ctx: LintContext, preset: Preset, lex: Lexicon) -> list[Finding]:
    return [] if _has(doc, lex.check("optout")) else [doc.whole("US-OPTOUT", MESSAGES["optout"])]


def _us_minimiranda(doc: Doc, ctx: LintContext, preset: Preset, lex: Lexicon) -> list[Finding]:
    if ctx.first_contact:
        ok = _has(doc, lex.check("minimiranda_first"))
        return [] if ok else [doc.whole("US-MINIMIRANDA", MESSAGES["minimiranda_first"])]
    ok = _has(doc, lex.check("minimiranda_later")) or _has(doc, lex.check("minimiranda_first"))
    return [] if ok else [doc.whole("US-MINIMIRANDA", MESSAGES["minimiranda_later"])]


def _us_lcm(doc: Doc, ctx: LintContext, preset: Preset, lex: Lexicon) -> list[Finding]:
    out = [doc.finding("US-LCM", i, j, MESSAGES["lcm"]) for i, j in _matches(doc, lex.check("lcm"))]
    out += [Finding("US-LCM", m.span(), m.group(0), MESSAGES["lcm"]) for m in _AMOUNT.finditer(doc.text)]
    return out


def _us_ai_voice(doc: Doc, ctx: LintContext, preset: Preset, lex: Lexicon) -> list[Finding]:
    out = [] if ctx.consent_ai_voice else [doc.whole("US-TCPA.ai_voice", MESSAGES["ai_voice"])]
    if not _has(doc, lex.check("caller_id")):
        out.append(doc.whole("US-TCPA.caller_id", MESSAGES["caller_id"]))
    return out


#: The checks of each (preset family, channel).
CHANNEL_CHECKS: Mapping[tuple[str, str], tuple[Check, ...]] = {
    ("cn", "sms"): (_cn_signature, _cn_sms_links),
    ("us", "email"): (_us_optout, _us_minimiranda),
    ("us", "sms"): (_us_optout, _us_minimiranda),
    ("us", "letter"): (_us_minimiranda,),
    ("us", "im"): (_us_minimiranda,),
    ("us", "voicemail"): (_us_lcm,),
    ("us", "robot_call"): (_us_ai_voice,),
}

_THIRD_PARTIES = frozenset({"emergency_contact", "third_party"})


def context_checks(
    doc: Doc, ctx: LintContext, preset: Preset, lex: Lexicon, channel: str | None
) -> list[Finding]:
    """The checks that depend on the context rather than the channel."""
    out: list[Finding] = []
    if ctx.party in _THIRD_PARTIES:
        out += [
            doc.finding(preset.third_party, i, j, MESSAGES["third_party"])
            for i, j in _matches(doc, lex.check("debt"))
        ]
    if ctx.time_barred:
        out += [
            doc.finding(preset.time_barred, i, j, MESSAGES["time_barred"])
            for i, j in _matches(doc, lex.check("suit"))
        ]
    if ctx.allowed_domains and not (preset.family == "cn" and channel == "sms"):
        rule = preset.rule_id("link")
        out += [
            Finding(rule, (a, b), doc.text[a:b], MESSAGES["link"])
            for a, b, domain in find_links(doc.text)
            if not _allowed(domain, ctx.allowed_domains)
        ]
    return out
