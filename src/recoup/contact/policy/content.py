"""The bridge from the policy engine to the content linter: findings become rule ids the preset owns.

The linter files each finding under a policy rule id (``CN-CONTENT.threat``, ``US-3P``, ``CN-SMS.link`` …,
see :mod:`recoup.contact.linter.presets`). A finding whose rule is not in the preset (an operator
removed it) is filed under the preset's general content rule, so content that breaks a rule is never
ignored because a preset was edited.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from recoup.contact.policy.base import Ctx
from recoup.contact.policy.model import ConsentScope, Flag
from recoup.contact.vocab import Channel, Party

__all__ = ["LintFn", "make_lint"]

LintFn = Callable[[Ctx], tuple[tuple[str, str], ...]]
_CJK = re.compile(r"[\u3400-\u9fff]")


def make_lint(
    linter_preset: str,
    owned: frozenset[str] = frozenset(),
    domains: Sequence[str] = (),
    signatures: Sequence[str] = (),
) -> LintFn | None:
    """A function giving ``(finding id, message)`` for a proposal's content (None without the linter)."""
    try:
        from recoup.contact.linter import PRESETS, LintContext, lint
    except ImportError:  # pragma: no cover - the linter ships with the package
        return None
    if linter_preset not in PRESETS:
        return None
    fallback = PRESETS[linter_preset].content

    def run(ctx: Ctx) -> tuple[tuple[str, str], ...]:
        p = ctx.proposal
        text = p.content or ""
        ai_consent = any(
            c.scope is ConsentScope.CONTACT
            and c.matches(Channel.ROBOT_CALL, p.destination)
            and c.in_force(ctx.at)
            for c in ctx.borrower.consents
        )
        first = ctx.hi == 0 or not bool(ctx.mask(0, ctx.hi, parties=frozenset({Party.DEBTOR})).any())
        context = LintContext(
            time_barred=Flag.TIME_BARRED in ctx.borrower.flags,
            consent_ai_voice=ai_consent,
            first_contact=first,
            party=p.party.value,
            allowed_domains=frozenset(d.lower() for d in domains),
            sms_signatures=frozenset(x.strip("【】 ") for x in signatures),
        )
        channel = None if p.channel is Channel.PORTAL else p.channel.value
        locale = "zh_CN" if _CJK.search(text) else "en"
        result = lint(text, preset=linter_preset, locale=locale, channel=channel, context=context)
        out = []
        for f in result.findings:
            base = f.rule.partition(".")[0]
            rule = f.rule if not owned or base in owned else f"{fallback}.{f.rule}"
            out.append((rule, f.message))
        return tuple(out)

    return run
