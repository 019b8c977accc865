"""``recoup policy check SCENARIO.json``: parse a scenario, judge each proposal, print the verdicts.

The format and its semantics are documented with examples in docs/contact-policy.md. Parsing is strict:
an unknown key, a time without an offset or an unknown channel is an error naming the field
(``proposed[2].channel``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import (
    FLAG_ALIASES,
    BorrowerContext,
    Consent,
    ConsentScope,
    Flag,
    History,
    Hold,
    HoldKind,
    PriorAttempt,
    Proposal,
    Verdict,
)
from recoup.contact.policy.presets import resolve
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Party
from recoup.errors import RecoupError

__all__ = ["Scenario", "ScenarioError", "check_scenario", "load_scenario", "run_scenario"]


class ScenarioError(RecoupError):
    code = "policy.bad_scenario"
    http_status = 422
    exit_code = 65


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoldIn(_Strict):
    kind: HoldKind
    start: AwareDatetime
    end: AwareDatetime | None = None
    channels: list[Channel] | None = None
    debt_id: str | None = None
    reason: str | None = None


class ConsentIn(_Strict):
    channel: Channel
    destination: str = "*"
    granted_at: AwareDatetime
    revoked_at: AwareDatetime | None = None
    scope: ConsentScope = ConsentScope.CONTACT


class BorrowerIn(_Strict):
    timezone: str = "Asia/Shanghai"
    flags: list[str] = Field(default_factory=list)
    consents: list[ConsentIn] = Field(default_factory=list)
    holds: list[HoldIn] = Field(default_factory=list)
    emergency_contacts: int = Field(0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from exc
        return v

    @field_validator("flags")
    @classmethod
    def _flags(cls, v: list[str]) -> list[str]:
        known = {f.value for f in Flag} | set(FLAG_ALIASES)
        for f in v:
            if f not in known:
                raise ValueError(f"unknown flag {f!r}; known: {', '.join(sorted(known))}")
        return v


class AttemptIn(_Strict):
    at: AwareDatetime
    channel: Channel
    party: Party = Party.DEBTOR
    destination: str
    outcome: AttemptOutcome
    debt_id: str | None = None
    destination_kind: DestinationKind | None = None


class ProposalIn(_Strict):
    id: str
    at: AwareDatetime
    channel: Channel
    party: Party = Party.DEBTOR
    destination: str
    destination_kind: DestinationKind | None = None
    debt_id: str | None = None
    content: str | None = None


class Scenario(_Strict):
    preset: str = "cn"
    now: AwareDatetime
    borrower: BorrowerIn = Field(default_factory=BorrowerIn)
    history: list[AttemptIn] = Field(default_factory=list)
    proposed: list[ProposalIn]
    comment: str | None = None
    expected: list[dict[str, Any]] | None = (
        None  # hand-written expectations (the test corpus keeps them here)
    )

    def borrower_context(self) -> BorrowerContext:
        b = self.borrower
        return BorrowerContext(
            timezone=b.timezone,
            flags=frozenset(FLAG_ALIASES.get(f) or Flag(f) for f in b.flags),
            consents=tuple(
                Consent(c.channel, c.destination, c.granted_at, c.revoked_at, c.scope) for c in b.consents
            ),
            holds=tuple(
                Hold(
                    h.kind,
                    h.start,
                    h.end,
                    frozenset(h.channels) if h.channels is not None else None,
                    h.debt_id,
                )
                for h in b.holds
            ),
            emergency_contacts=b.emergency_contacts,
        )

    def prior(self) -> list[PriorAttempt]:
        return [
            PriorAttempt(a.at, a.channel, a.party, a.destination, a.outcome, a.debt_id) for a in self.history
        ]

    def proposals(self) -> list[Proposal]:
        return [
            Proposal(p.id, p.at, p.channel, p.party, p.destination, p.destination_kind, p.debt_id, p.content)
            for p in self.proposed
        ]


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_scenario(data: dict[str, Any] | str | Path) -> Scenario:
    """Parse and validate a scenario; errors name the field (``proposed[0].at``) in both languages."""
    if isinstance(data, Path):
        try:
            data = data.read_text("utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot read {data}: {exc.strerror} · 无法读取文件") from exc
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ScenarioError(
                f"not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg} · 不是有效的 JSON"
            ) from exc
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a JSON object · 场景须为 JSON 对象")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ScenarioError(
            "invalid scenario · 场景无效: " + "; ".join(problems), details={"errors": problems}
        ) from exc


def run_scenario(scenario: Scenario, *, policy: Policy | None = None) -> list[Verdict]:
    """Judge every proposal independently at its own time."""
    policy = policy or Policy(resolve(scenario.preset))
    borrower = scenario.borrower_context()
    history = History(scenario.prior())
    return [
        policy.judge(p, borrower=borrower, history=history, now=scenario.now) for p in scenario.proposals()
    ]


def check_scenario(data: dict[str, Any] | str | Path) -> dict[str, Any]:
    """The CLI's output object: ``{"verdicts": [...], "preset": "cn@…"}``."""
    scenario = load_scenario(data)
    policy = Policy(resolve(scenario.preset))
    verdicts = run_scenario(scenario, policy=policy)
    return {"verdicts": [v.to_json() for v in verdicts], "preset": policy.preset.label}
