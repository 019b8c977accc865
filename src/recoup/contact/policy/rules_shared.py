"""Rules every preset shares (holds, consent, time-barred debts) and the parameterised rule shapes the
jurisdictions reuse: quiet hours, caps per calendar day and over a run of calendar days, content checks.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import holidays as holidays_lib
from pydantic import Field

from recoup.contact.policy.base import Ctx, Params, Result, Rule, register
from recoup.contact.policy.model import ConsentScope, Flag, HoldKind
from recoup.contact.vocab import VOICE_CHANNELS, AttemptOutcome, Channel, DestinationKind

#: Channels that reach the borrower in real time (a letter arrives whenever the post brings it).
TIMED_CHANNELS = frozenset(Channel) - {Channel.LETTER, Channel.PORTAL}
UNANSWERED = frozenset({AttemptOutcome.NO_ANSWER, AttemptOutcome.FAILED, AttemptOutcome.INVALID_NUMBER})
ANSWERED = frozenset({AttemptOutcome.CONVERSATION, AttemptOutcome.CONNECTED})
PLACED = frozenset(AttemptOutcome) - {AttemptOutcome.FAILED}  # Regulation F: a failed call was not placed


# ------------------------------------------------------------------------------------------------ holds


class _HoldParams(Params):
    pass


class HoldRule(Rule):
    """A hold of ``kind`` blocks the channels it names while it is in force; one with an end defers."""

    kind: ClassVar[HoldKind]

    def check(self, ctx: Ctx) -> Result:
        p = ctx.proposal
        ends: list[dt.datetime] = []
        for hold in ctx.borrower.holds:
            if hold.kind is self.kind and hold.covers(ctx.at, p.channel, p.debt_id):
                if hold.end is None:
                    return self.block()
                ends.append(hold.end)
        return self.defer(max(ends)) if ends else None


def _hold(rule_id: str, kind: HoldKind, zh: str, en: str, source: str) -> type[HoldRule]:
    cls = type(
        rule_id.replace("-", "_"),
        (HoldRule,),
        {"id": rule_id, "kind": kind, "title": (zh, en), "source": source, "__module__": __name__},
    )
    return register(cls)


_hold("HOLD-DNC", HoldKind.DO_NOT_CONTACT, "禁止联系", "Do not contact", "COMPLIANCE.md, shared rules")
_hold("HOLD-CEASE", HoldKind.CEASE, "停止联系请求", "Cease communication", "12 CFR 1006.6(c); shared")
_hold("HOLD-DISPUTE", HoldKind.DISPUTE, "争议处理中", "Debt in dispute", "12 CFR 1006.34; shared")
_hold("HOLD-BANKRUPTCY", HoldKind.BANKRUPTCY, "破产", "Bankruptcy", "automatic stay; shared")
_hold("HOLD-BREATHING", HoldKind.BREATHING_SPACE, "喘息期", "Breathing Space", "Debt Respite Scheme 2020")
_hold("HOLD-STOP", HoldKind.STOP, "停催", "Collection stopped", "CBA guideline 2026; shared")
_hold(
    "UK-BREATHE",
    HoldKind.BREATHING_SPACE,
    "喘息期（英国）",
    "Breathing Space (UK)",
    "Debt Respite Scheme 2020",
)


# ---------------------------------------------------------------------------------------------- consent


class _ConsentParams(Params):
    channels: list[Channel] = Field(default_factory=list)
    #: Destination kinds that need consent (empty = any); a proposal without a kind is assumed to need it.
    destination_kinds: list[DestinationKind] = Field(default_factory=list)


@register
class ConsentRequired(Rule):
    """Channels the preset names need a consent in force for that channel and destination."""

    id = "CONSENT-REQUIRED"
    title = ("需取得同意", "Consent required")
    source = "COMPLIANCE.md, shared rules"
    Params = _ConsentParams
    params: _ConsentParams

    def needs(self, ctx: Ctx) -> bool:
        p = ctx.proposal
        if p.channel not in self.params.channels:
            return False
        kinds = self.params.destination_kinds
        return not kinds or p.destination_kind is None or p.destination_kind in kinds

    def check(self, ctx: Ctx) -> Result:
        if not self.needs(ctx):
            return None
        p = ctx.proposal
        for c in ctx.borrower.consents:
            if c.scope is ConsentScope.CONTACT and c.matches(p.channel, p.destination) and c.in_force(ctx.at):
                return None
        return self.block()


@register
class USTCPA(ConsentRequired):
    id = "US-TCPA"
    title = (
        "自动拨号/人工合成语音与短信需事先同意",
        "Autodialled, artificial-voice calls and texts need consent",
    )
    source = "47 U.S.C. 227; FCC 24-17"

    def check(self, ctx: Ctx) -> Result:
        out = super().check(ctx)
        if out is not None:
            return self.block("CONSENT-REQUIRED")
        return _content(self, ctx)  # an AI voice without caller identification (US-TCPA.ai_voice …)


class _RevokedParams(Params):
    channels: list[Channel] = Field(default_factory=lambda: list(Channel))


@register
class ConsentRevoked(Rule):
    """A consent the borrower revoked for a channel and destination stops that channel there."""

    id = "CONSENT-REVOKED"
    title = ("已撤回同意", "Consent revoked")
    source = "COMPLIANCE.md, shared rules"
    Params = _RevokedParams
    params: _RevokedParams

    def revoked(self, ctx: Ctx) -> bool:
        p = ctx.proposal
        if p.channel not in self.params.channels:
            return False
        latest_revoked: dt.datetime | None = None
        for c in ctx.borrower.consents:
            if c.scope is not ConsentScope.CONTACT or not c.matches(p.channel, p.destination):
                continue
            if c.in_force(ctx.at):
                return False  # a consent given again after a revocation is in force
            if c.revoked_at is not None and c.revoked_at <= ctx.at:
                latest_revoked = c.revoked_at
        return latest_revoked is not None

    def check(self, ctx: Ctx) -> Result:
        return self.block() if self.revoked(ctx) else None


@register
class USTCPARevoke(ConsentRevoked):
    id = "US-TCPA-REVOKE"
    title = ("同意撤回须在10个工作日内生效", "Honour a revocation within 10 business days")
    source = "47 CFR 64.1200(a)(10)"

    def check(self, ctx: Ctx) -> Result:
        return self.block("CONSENT-REVOKED") if self.revoked(ctx) else None


@register
class USOptOut(ConsentRevoked):
    id = "US-OPTOUT"
    title = ("退订须按渠道执行", "Honour opt-outs per medium")
    source = "12 CFR 1006.6(d)(4)(ii), 1006.6(e)"

    def check(self, ctx: Ctx) -> Result:
        if self.revoked(ctx):
            return self.block("CONSENT-REVOKED")
        if ctx.proposal.channel in self.params.channels:
            return _content(self, ctx)
        return None


# ----------------------------------------------------------------------------------------- time-barred


class _BarredParams(Params):
    #: True: no collection contact at all on a time-barred debt; False: no threat of suit (the default).
    block_all: bool = False


@register
class TimeBarred(Rule):
    """A debt past the limitation period: never threaten or bring suit (or, if set, no contact at all)."""

    id = "TIME-BARRED"
    title = ("已过诉讼时效", "Debt past the limitation period")
    source = "民法典 §188; 12 CFR 1006.26(b)"
    Params = _BarredParams
    params: _BarredParams

    def check(self, ctx: Ctx) -> Result:
        if Flag.TIME_BARRED not in ctx.borrower.flags:
            return None
        if self.params.block_all:
            return self.block()
        return _content(self, ctx, only=("US-TBD", "TIME-BARRED", "time_barred"))


@register
class USTBD(TimeBarred):
    id = "US-TBD"
    title = ("不得就已过时效债务起诉或威胁起诉", "Never sue or threaten suit on a time-barred debt")
    source = "12 CFR 1006.26(b)"

    def check(self, ctx: Ctx) -> Result:
        out = super().check(ctx)
        return self.block("TIME-BARRED") if out is not None else None


# ---------------------------------------------------------------------------------------------- content


def _content(rule: Rule, ctx: Ctx, only: tuple[str, ...] | None = None) -> Result:
    """Block with ``rule.id`` when the linter finds content the rule owns.

    Findings are ``(finding id, message)``. A rule owns the findings filed under its id
    (``CN-CONTENT.threat`` belongs to ``CN-CONTENT``), or, when ``only`` is given, those whose id or
    sub-id is listed there (``TIME-BARRED`` owns ``US-TBD`` and ``*.time_barred``).
    """
    for fid, _msg in ctx.findings():
        base, _, sub = fid.partition(".")
        owned = (fid in only or sub in only or base in only) if only is not None else base == rule.id
        if owned:
            return rule.block()
    return None


class ContentRule(Rule):
    """Content the linter flags under this rule's id blocks the attempt (the linter decides the id)."""

    def check(self, ctx: Ctx) -> Result:
        return _content(self, ctx)


def _content_rule(rule_id: str, zh: str, en: str, source: str) -> type[ContentRule]:
    cls = type(
        rule_id.replace("-", "_"),
        (ContentRule,),
        {"id": rule_id, "title": (zh, en), "source": source, "__module__": __name__},
    )
    return register(cls)


# ---------------------------------------------------------------------------------------- quiet hours


class _Window(Params):
    start: dt.time
    end: dt.time


class _QuietParams(Params):
    start: dt.time = dt.time(8)
    end: dt.time = dt.time(21)
    channels: list[Channel] = Field(default_factory=lambda: sorted(TIMED_CHANNELS))
    #: Per-weekday windows (``mon`` … ``sun``) overriding start/end; null closes the day.
    weekdays: dict[str, _Window | None] | None = None
    #: A country whose public holidays are closed days (``holidays`` codes, e.g. ``NO``).
    holidays: str | None = None
    #: Whether a recorded after-hours consent lifts the window (CN-TIME).
    consent_lifts: bool = False


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class QuietHours(Rule):
    """Contact only inside the day's window on the borrower's clock; outside it, defer to the next one."""

    Params = _QuietParams
    params: _QuietParams

    def _window(self, day: dt.date) -> tuple[dt.time, dt.time] | None:
        p = self.params
        if p.holidays and day in holidays_lib.country_holidays(p.holidays, years=day.year):
            return None
        if p.weekdays is not None:
            key = _DAYS[day.weekday()]
            if key in p.weekdays:
                w = p.weekdays[key]
                return None if w is None else (w.start, w.end)
        return p.start, p.end

    def check(self, ctx: Ctx) -> Result:
        p = ctx.proposal
        if p.channel not in self.params.channels:
            return None
        if self.params.consent_lifts and any(
            c.scope is ConsentScope.AFTER_HOURS and c.matches(p.channel, p.destination) and c.in_force(ctx.at)
            for c in ctx.borrower.consents
        ):
            return None
        local = ctx.local
        zone = ctx.borrower.zone
        for k in range(0, 15):
            day = local.date() + dt.timedelta(days=k)
            w = self._window(day)
            if w is None:
                continue
            opens = dt.datetime.combine(day, w[0], tzinfo=zone)
            closes = dt.datetime.combine(day, w[1], tzinfo=zone)
            if k == 0 and opens <= local < closes:
                return None
            if opens > local:
                return self.defer(opens)
        return self.block()  # no open window within two weeks: never going to be allowed by waiting


# ------------------------------------------------------------------------------------------------ caps


class _DailyParams(Params):
    max: int = Field(ge=0)
    channels: list[Channel] = Field(default_factory=lambda: sorted(VOICE_CHANNELS))
    outcomes: list[AttemptOutcome] = Field(default_factory=lambda: sorted(ANSWERED))
    per: str = Field("person", pattern="^(person|destination)$")


class DailyCap(Rule):
    """At most ``max`` counted attempts per borrower-local calendar day; beyond it, defer to tomorrow."""

    Params = _DailyParams
    params: _DailyParams

    def check(self, ctx: Ctx) -> Result:
        p = ctx.proposal
        if p.channel not in self.params.channels:
            return None
        lo, hi = ctx.window(ctx.midnight())
        who = ctx.person() if self.params.per == "person" else {"destination": p.destination}
        m = ctx.mask(
            lo, hi, channels=frozenset(self.params.channels), outcomes=frozenset(self.params.outcomes), **who
        )
        if int(m.sum()) >= self.params.max:
            return self.defer(ctx.local_day_start(ctx.local.date() + dt.timedelta(days=1)))
        return None
