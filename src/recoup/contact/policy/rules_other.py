"""United Kingdom (``uk``), India (``in``), the European Union (``eu``) and Norway (``no``)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field

from recoup.contact.policy.base import Ctx, Params, Result, Rule, register
from recoup.contact.policy.model import Flag
from recoup.contact.policy.rules_shared import (
    PLACED,
    QuietHours,
    _content,
    _content_rule,
    _QuietParams,
    _Window,
)
from recoup.contact.vocab import VOICE_CHANNELS, Channel, Party

_CONC = "FCA Handbook CONC 7"


@register
class UKTime(QuietHours):
    id = "UK-TIME"
    title = (
        "不得在不合理时间联系（默认08:00–21:00）",
        "No contact at unreasonable times (default 08:00–21:00)",
    )
    source = _CONC + ".9.4; MCOB hours by analogy"
    unverified = ("start", "end")


@register
class INTime(QuietHours):
    id = "IN-TIME"
    title = ("仅限08:00–19:00", "Recovery calls only 08:00–19:00")
    source = "RBI circular 2022-08-12"

    class Params(_QuietParams):
        end: dt.time = dt.time(19)


@register
class NOTime(QuietHours):
    id = "NO-TIME"
    title = (
        "工作日08–21点，周六08–15点，周日及公共假日不得联系",
        "Mon–Fri 08–21, Sat 08–15, never Sundays or holidays",
    )
    source = "Finanstilsynet circular 5/2022"

    class Params(_QuietParams):
        weekdays: dict[str, _Window | None] | None = Field(
            default_factory=lambda: {"sat": _Window(start=dt.time(8), end=dt.time(15)), "sun": None}
        )
        holidays: str | None = "NO"


class _PartyParams(Params):
    parties: list[Party] = Field(default_factory=lambda: [Party.THIRD_PARTY, Party.EMERGENCY_CONTACT])


class ThirdPartyBan(Rule):
    """Family, friends and other third parties are not contacted about the debt."""

    Params = _PartyParams
    params: _PartyParams

    def check(self, ctx: Ctx) -> Result:
        if ctx.proposal.party in self.params.parties:
            return self.block()
        return _content(self, ctx)


@register
class UK3P(ThirdPartyBan):
    id = "UK-3P"
    title = ("第三方不得知悉债务", "Third parties must not learn of the debt")
    source = _CONC + ".9.3"


@register
class INHarass(ThirdPartyBan):
    id = "IN-HARASS"
    title = (
        "不得恐吓、羞辱、联系亲友或持续致电",
        "No intimidation, humiliation, contacting family or persistent calls",
    )
    source = "RBI circular 2022-08-12"


@register
class UKVuln(Rule):
    """A vulnerable customer is handled by a person: no robot calls."""

    id = "UK-VULN"
    title = ("弱势客户须人工处理", "A vulnerable customer requires a human")
    source = _CONC + ".2; FG21/1"

    def check(self, ctx: Ctx) -> Result:
        if Flag.VULNERABLE in ctx.borrower.flags and ctx.proposal.channel is Channel.ROBOT_CALL:
            return self.block()
        return None


class _NoFreqParams(Params):
    per_day: int = Field(1, ge=0)
    per_week: int = Field(5, ge=0)
    per_month: int = Field(15, ge=0)


@register
class NOFreq(Rule):
    """At most 1 call a day, 5 a calendar week and 15 a calendar month."""

    id = "NO-FREQ"
    title = ("每日1次、每周5次、每月15次", "At most 1 call a day, 5 a week, 15 a month")
    source = "Finanstilsynet circular 5/2022"
    Params = _NoFreqParams
    params: _NoFreqParams

    def check(self, ctx: Ctx) -> Result:
        if ctx.proposal.channel not in VOICE_CHANNELS:
            return None
        today = ctx.local.date()
        week0 = today - dt.timedelta(days=today.weekday())
        month0 = today.replace(day=1)
        next_month = (month0 + dt.timedelta(days=32)).replace(day=1)
        chans = frozenset(VOICE_CHANNELS)
        outs = frozenset(PLACED)
        for start, cap, reopen in (
            (month0, self.params.per_month, next_month),
            (week0, self.params.per_week, week0 + dt.timedelta(days=7)),
            (today, self.params.per_day, today + dt.timedelta(days=1)),
        ):
            lo, hi = ctx.window(ctx.local_day_start(start))
            if int(np.count_nonzero(ctx.mask(lo, hi, channels=chans, outcomes=outs, debt=True))) >= cap:
                return self.defer(ctx.local_day_start(reopen))
        return None


_content_rule(
    "UK-MISLEAD", "不得冒充权威或虚假威胁", "No false authority or threats of unlawful action", _CONC + ".9.4"
)
_content_rule(
    "UK-PRESSURE",
    "不得施压一次性还清或借款还款",
    "No pressure to pay by borrowing or in one lump sum",
    _CONC + ".9.4",
)
_content_rule(
    "EU-CSD",
    "不得骚扰、胁迫或误导",
    "No harassment, coercion or misleading statements",
    "Directive 2021/2167 Art. 10",
)

__all__ = ["UK3P", "INHarass", "INTime", "NOFreq", "NOTime", "UKTime", "UKVuln"]
