"""United States (presets ``us`` and the ``us-ma`` overlay): FDCPA / CFPB Regulation F, TCPA, 209 CMR 18."""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field

from recoup.contact.policy.base import Ctx, Params, Result, Rule, register
from recoup.contact.policy.model import Flag
from recoup.contact.policy.rules_shared import PLACED, QuietHours, _content, _content_rule, _QuietParams
from recoup.contact.vocab import VOICE_CHANNELS, AttemptOutcome, Channel, DestinationKind, Party

_REGF = "12 CFR 1006 (Regulation F)"


@register
class USTime(QuietHours):
    id = "US-TIME"
    title = ("仅限当地时间08:00–21:00", "Only 08:00–21:00 at the consumer's location")
    source = _REGF + " §1006.6(b)(1)(i)"

    class Params(_QuietParams):
        start: dt.time = dt.time(8)
        end: dt.time = dt.time(21)


def _consented_call(ctx: Ctx) -> bool:
    """US-7IN7-EXCL: a call with the consumer's prior consent given directly within the last 7 days."""
    p = ctx.proposal
    week = ctx.at - dt.timedelta(days=7)
    return any(
        c.matches(p.channel, p.destination) and c.in_force(ctx.at) and c.granted_at >= week
        for c in ctx.borrower.consents
    )


class _RunParams(Params):
    max: int = Field(7, ge=0)
    days: int = Field(7, ge=1)
    channels: list[Channel] = Field(default_factory=lambda: sorted(VOICE_CHANNELS))
    outcomes: list[AttemptOutcome] = Field(default_factory=lambda: sorted(PLACED))
    #: Destination kinds the proposal must go to for the rule to apply (empty = any).
    destination_kinds: list[DestinationKind] = Field(default_factory=list)
    per_person: bool = True
    consent_exclusion: bool = True


class RunCap(Rule):
    """At most ``max`` counted attempts about one debt in any ``days`` consecutive calendar days."""

    Params = _RunParams
    params: _RunParams

    def check(self, ctx: Ctx) -> Result:
        p = ctx.proposal
        prm = self.params
        if p.channel not in prm.channels:
            return None
        if (
            prm.destination_kinds
            and p.destination_kind is not None
            and p.destination_kind not in prm.destination_kinds
        ):
            return None
        if prm.consent_exclusion and _consented_call(ctx):
            return None
        lo, hi = ctx.window(ctx.midnight(prm.days - 1))
        who = ctx.person() if prm.per_person else {}
        m = ctx.mask(
            lo, hi, channels=frozenset(prm.channels), outcomes=frozenset(prm.outcomes), debt=True, **who
        )
        n = int(m.sum())
        if n < prm.max:
            return None
        # Waiting lets the oldest counted attempts fall out of the window: the (n - max + 1)-th oldest
        # must leave, which it does on the day after its own day + days - 1.
        idx = lo + np.flatnonzero(m)
        leave = ctx.local_day_of(int(idx[n - prm.max])) + dt.timedelta(days=prm.days)
        return self.defer(ctx.local_day_start(leave))


@register
class US7in7(RunCap):
    id = "US-7IN7"
    title = ("7天内就同一债务致电不超过7次", "At most 7 calls about a debt in 7 consecutive days")
    source = _REGF + " §1006.14(b)(2)(i)(A)"


@register
class US7After(Rule):
    """No call within 7 days after a telephone conversation about the debt (that day is day 1)."""

    id = "US-7AFTER"
    title = ("通话后7天内不得再次致电", "No call within 7 days after a telephone conversation")
    source = _REGF + " §1006.14(b)(2)(i)(B)"

    def check(self, ctx: Ctx) -> Result:
        if ctx.proposal.channel not in VOICE_CHANNELS or _consented_call(ctx):
            return None
        lo, hi = ctx.window(ctx.midnight(6))
        m = ctx.mask(
            lo,
            hi,
            channels=frozenset({Channel.CALL, Channel.ROBOT_CALL}),
            outcomes=frozenset({AttemptOutcome.CONVERSATION}),
            debt=True,
            **ctx.person(),
        )
        if not m.any():
            return None
        last = lo + int(np.flatnonzero(m)[-1])
        return self.defer(ctx.local_day_start(ctx.local_day_of(last) + dt.timedelta(days=7)))


@register
class USWork(Rule):
    """No contact at work when the consumer said the employer forbids it."""

    id = "US-WORK"
    title = ("雇主禁止时不得联系工作单位", "No contact at work when the employer forbids it")
    source = _REGF + " §1006.6(b)(3)"

    def check(self, ctx: Ctx) -> Result:
        p = ctx.proposal
        if Flag.NO_WORK_CONTACT in ctx.borrower.flags and p.destination_kind is DestinationKind.WORK:
            return self.block()
        return None


@register
class US3P(Rule):
    """Third parties never learn of the debt; one location contact per person unless they ask for more."""

    id = "US-3P"
    title = ("不得向第三方透露债务", "No disclosure of the debt to third parties")
    source = _REGF + " §1006.6(d), §1006.10"

    def check(self, ctx: Ctx) -> Result:
        p = ctx.proposal
        if p.party not in (Party.THIRD_PARTY, Party.EMERGENCY_CONTACT):
            return None
        m = ctx.mask(0, ctx.hi, destination=p.destination, outcomes=frozenset({AttemptOutcome.CONVERSATION}))
        if m.any():
            return self.block()
        return _content(self, ctx)


@register
class USMA(RunCap):
    id = "US-MA"
    title = (
        "马萨诸塞州：每7天就同一债务致电或短信不超过2次",
        "Massachusetts: at most 2 calls or texts per 7 days per debt",
    )
    source = "209 CMR 18.14(1)(d)"

    class Params(_RunParams):
        max: int = Field(2, ge=0)
        channels: list[Channel] = Field(default_factory=lambda: sorted(VOICE_CHANNELS | {Channel.SMS}))
        destination_kinds: list[DestinationKind] = Field(
            default_factory=lambda: [DestinationKind.HOME, DestinationKind.MOBILE, DestinationKind.LANDLINE]
        )
        per_person: bool = False
        consent_exclusion: bool = False


_content_rule(
    "US-LCM", "语音留言仅限有限内容", "Voicemail: limited-content message only", _REGF + " §1006.2(j)"
)
_content_rule(
    "US-MINIMIRANDA",
    "须声明为债务催收",
    "State the communication is from a debt collector",
    "15 U.S.C. 1692e(11)",
)
_content_rule(
    "US-CONTENT",
    "不得骚扰、虚假或误导性陈述",
    "No harassment, false or misleading statements",
    _REGF + " §1006.14, §1006.18",
)

__all__ = ["US3P", "USMA", "US7After", "US7in7", "USTime", "USWork"]
