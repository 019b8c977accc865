"""Judge proposed contact attempts: ``allowed``, ``blocked`` with every rule that blocks, or ``deferred``.

Each rule answers for one instant. When rules only defer, the engine moves to the latest time they
name and asks every rule again (a deferral past 22:00 may land on a day whose caps are full, or inside
a hold), until no rule objects: that instant is ``defer_until``, and the verdict names the rules that
deferred the attempt at its own time. If a rule blocks at the proposal's time, or at the time a deferral
reaches, the verdict is ``blocked`` with the blocking rules (after the deferring ones, in that case).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from recoup.contact.policy.base import Block, Ctx, Defer, Rule
from recoup.contact.policy.content import LintFn, make_lint
from recoup.contact.policy.model import BorrowerContext, History, PriorAttempt, Proposal, Verdict
from recoup.contact.policy.presets import Preset

__all__ = ["LintFn", "Policy"]

_MAX_STEPS = 32


class Policy:
    """A compiled preset that judges proposals; build once, judge many."""

    def __init__(
        self,
        preset: Preset,
        *,
        lint: LintFn | None = None,
        domains: Sequence[str] = (),
        signatures: Sequence[str] = (),
    ) -> None:
        """``domains``: where messages may link; ``signatures``: the lender's registered SMS 【签名】s."""
        self.preset = preset
        self.rules: list[Rule] = preset.compile()
        owned = frozenset(r.id for r in self.rules)
        self.lint = lint if lint is not None else make_lint(preset.linter, owned, domains, signatures)

    def judge(
        self,
        proposal: Proposal,
        *,
        borrower: BorrowerContext,
        history: History | Sequence[PriorAttempt],
        now: dt.datetime | None = None,
    ) -> Verdict:
        """The verdict for ``proposal`` at its own time, given the attempts made before it."""
        hist = history if isinstance(history, History) else History(history)
        now = now or proposal.at
        at = proposal.at
        deferring: list[str] = []
        for _ in range(_MAX_STEPS):
            ctx = Ctx(borrower=borrower, history=hist, proposal=proposal, at=at, now=now, lint=self.lint)
            blocks: list[str] = []
            defers: list[Defer] = []
            for rule in self.rules:
                res = rule.check(ctx)
                if isinstance(res, Block):
                    blocks.extend(res.ids)
                elif isinstance(res, Defer):
                    defers.append(res)
            if blocks:
                # Deferring rules are named too when the block appears only at the deferred time.
                return Verdict(
                    proposal.id, "blocked", _unique([*deferring, *blocks]), None, self.preset.label
                )
            if not defers:
                if at == proposal.at:
                    return Verdict(proposal.id, "allowed", (), None, self.preset.label)
                until = at.astimezone(borrower.zone)
                return Verdict(proposal.id, "deferred", _unique(deferring), until, self.preset.label)
            if at == proposal.at:
                # The rules that defer the attempt; later steps only find the earliest allowed time.
                deferring.extend(i for d in defers for i in d.ids)
            at = max(d.until for d in defers)
        # Deferrals that never settle (a pathological preset): refuse rather than guess.
        return Verdict(proposal.id, "blocked", _unique(deferring), None, self.preset.label)


def _unique(ids: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))
