"""China (preset ``cn``): NIFA 2018 convention, NIFA 2024 guideline, GB/T 45251-2025, CBA guideline 2026."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from recoup.contact.policy.base import Ctx, Params, Result, Rule, register
from recoup.contact.policy.model import OUTCOME_CODE
from recoup.contact.policy.rules_shared import (
    TIMED_CHANNELS,
    UNANSWERED,
    ContentRule,
    DailyCap,
    QuietHours,
    _content,
    _content_rule,
    _DailyParams,
    _QuietParams,
)
from recoup.contact.vocab import AttemptOutcome, Channel, Party

_NIFA = "NIFA 2018 公约; NIFA 2024 指引; GB/T 45251-2025; 中国银行业协会 2026-01-30 指引"


@register
class CNTime(QuietHours):
    id = "CN-TIME"
    title = ("22:00–08:00 不得催收联系", "No collection contact 22:00–08:00 local time")
    source = _NIFA

    class Params(_QuietParams):
        start: dt.time = dt.time(8)
        end: dt.time = dt.time(22)
        consent_lifts: bool = True
        channels: list[Channel] = Field(default_factory=lambda: sorted(TIMED_CHANNELS))


@register
class CNFreqConn(DailyCap):
    id = "CN-FREQ-CONN"
    title = ("每日接通不超过3次", "At most 3 connected voice contacts per debtor per day")
    source = _NIFA

    class Params(_DailyParams):
        max: int = Field(3, ge=0)


@register
class CNFreqDial(DailyCap):
    id = "CN-FREQ-DIAL"
    title = ("同一号码每日未接通拨打不超过6次", "At most 6 unanswered dials per number per day")
    source = _NIFA

    class Params(_DailyParams):
        max: int = Field(6, ge=0)
        outcomes: list[AttemptOutcome] = Field(default_factory=lambda: sorted(UNANSWERED))
        per: str = Field("destination", pattern="^(person|destination)$")


class _IntervalParams(Params):
    days: int = Field(7, ge=1)


@register
class CNFreqInt(Rule):
    """One collection contact per credit product per interval (quoted by one secondary source only)."""

    id = "CN-FREQ-INT"
    title = (
        "同一产品催收间隔不少于7天（未核实）",
        "At least 7 days between contacts per product (unverified)",
    )
    source = "secondary source only (COMPLIANCE.md †)"
    unverified = ("days",)
    Params = _IntervalParams
    params: _IntervalParams

    def check(self, ctx: Ctx) -> Result:
        if ctx.proposal.channel is Channel.PORTAL:
            return None
        lo, hi = ctx.window(ctx.at - dt.timedelta(days=self.params.days))
        m = ctx.mask(lo, hi, debt=True, outcomes=frozenset(AttemptOutcome) - {AttemptOutcome.FAILED})
        if m.any():
            last = lo + int(m.nonzero()[0][-1])
            until = dt.datetime.fromtimestamp(float(ctx.history.ts[last]), tz=dt.UTC)
            return self.defer(until + dt.timedelta(days=self.params.days))
        return None


@register
class CNParty(Rule):
    """Only the debtor and guarantors are contacted about the debt (emergency contacts: CN-3P-GATE)."""

    id = "CN-PARTY"
    title = ("仅可就债务联系借款人及担保人", "Contact only the debtor and guarantors about the debt")
    source = _NIFA

    def check(self, ctx: Ctx) -> Result:
        if ctx.proposal.party is Party.THIRD_PARTY:
            return self.block()
        return _content(self, ctx)


class _GateParams(Params):
    failed_attempts: int = Field(3, ge=1)


@register
class CN3PGate(Rule):
    """An emergency contact only after the debtor is unreachable, and never told about the debt."""

    id = "CN-3P-GATE"
    title = (
        "本人失联（连续3次未接通或号码无效）后方可联系紧急联系人，且不得透露债务",
        "Emergency contacts only after the debtor is unreachable; never disclose the debt",
    )
    source = _NIFA
    Params = _GateParams
    params: _GateParams

    def check(self, ctx: Ctx) -> Result:
        if ctx.proposal.party is not Party.EMERGENCY_CONTACT:
            return None
        m = ctx.mask(
            0,
            ctx.hi,
            channels=frozenset({Channel.CALL, Channel.ROBOT_CALL}),
            parties=frozenset({Party.DEBTOR}),
        )
        idx = m.nonzero()[0]
        outcomes = ctx.history.outcome[idx]
        invalid = OUTCOME_CODE[AttemptOutcome.INVALID_NUMBER]
        failed = {OUTCOME_CODE[o] for o in UNANSWERED}
        k = self.params.failed_attempts
        unreachable = (idx.size > 0 and int(outcomes[-1]) == invalid) or (
            idx.size >= k and all(int(o) in failed for o in outcomes[-k:])
        )
        if not unreachable:
            return self.block()
        return _content(self, ctx)


class _ContactsParams(Params):
    max_contacts: int = Field(2, ge=0)


@register
class CNContactsData(Rule):
    """At most 2 contacts the borrower entered; never anyone from an address book."""

    id = "CN-CONTACTS-DATA"
    title = (
        "仅可使用借款人填写的至多2名联系人",
        "At most 2 contacts the borrower entered, never the address book",
    )
    source = _NIFA
    Params = _ContactsParams
    params: _ContactsParams

    def check(self, ctx: Ctx) -> Result:
        p = ctx.proposal
        if p.party is not Party.EMERGENCY_CONTACT:
            return None
        allowed = min(ctx.borrower.emergency_contacts, self.params.max_contacts)
        if allowed == 0:
            return self.block()
        m = ctx.mask(0, ctx.hi, parties=frozenset({Party.EMERGENCY_CONTACT}))
        used = set(ctx.history.dest[: ctx.hi][m].tolist())
        used.add(ctx.history.dest_code(p.destination))  # -1 for a destination never used before
        return self.block() if len(used) > allowed else None


_content_rule(
    "CN-CONTENT",
    "不得威胁、辱骂、恐吓、虚假法律后果或夸大后果",
    "No threats, insults, false legal claims",
    _NIFA,
)
_content_rule(
    "CN-AMT",
    "仅可催收合同约定金额，仅经官方渠道还款",
    "Demand only contractual amounts via official channels",
    _NIFA,
)
_content_rule(
    "CN-ID", "每次联系开始时须表明机构名称", "Name the institution at the start of every contact", _NIFA
)
_content_rule(
    "CN-SMS",
    "短信须使用报备签名，链接仅限白名单域名",
    "SMS under a registered signature; whitelisted links only",
    _NIFA,
)


class _OutsourcingParams(Params):
    notify_borrower: bool = True


@register
class CNOutsourcing(Rule):
    """CN-OUTSRC: agencies on a white list reviewed yearly, and the borrower told before the account is
    outsourced. It judges placements (:mod:`recoup.agencies.placement` reads ``notify_borrower``), never a
    contact attempt: an agency's contacts obey the same rules as the lender's."""

    id = "CN-OUTSRC"
    title = (
        "委外机构须在年度评估的白名单内；委外前告知借款人",
        "Agencies on a white list reviewed yearly; the borrower told before outsourcing",
    )
    source = _NIFA
    Params = _OutsourcingParams
    params: _OutsourcingParams

    def check(self, ctx: Ctx) -> Result:
        return None


__all__ = [
    "CN3PGate",
    "CNContactsData",
    "CNFreqConn",
    "CNFreqDial",
    "CNFreqInt",
    "CNOutsourcing",
    "CNParty",
    "CNTime",
    "ContentRule",
]
