"""Contact-policy benchmark: judge one proposed attempt against 1,000 prior attempts (target < 1 ms on
average).

Each round builds a borrower with 1,000 prior attempts spread over the last 60 days (calls, robot calls,
SMS and email to the debtor's two numbers, a guarantor and emergency contacts; outcomes mixed), then
judges proposals at random times under the ``cn`` and ``us`` presets. Two figures per preset: judging
against an already indexed history (what the dispatcher and the audit do: the history is indexed once
per borrower), and judging including indexing the 1,000 attempts from scratch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time

from recoup.contact.policy.engine import Policy
from recoup.contact.policy.model import BorrowerContext, Consent, History, PriorAttempt, Proposal
from recoup.contact.policy.presets import load_builtin
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Party

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def history(rng: random.Random, n: int) -> list[PriorAttempt]:
    chans = [Channel.CALL, Channel.CALL, Channel.ROBOT_CALL, Channel.SMS, Channel.EMAIL]
    outs = list(AttemptOutcome)
    who = [
        (Party.DEBTOR, "m1"),
        (Party.DEBTOR, "m2"),
        (Party.GUARANTOR, "g1"),
        (Party.EMERGENCY_CONTACT, "e1"),
    ]
    out = []
    for _ in range(n):
        party, dest = rng.choice(who)
        at = NOW - dt.timedelta(seconds=rng.randrange(0, 60 * 86400))
        out.append(
            PriorAttempt(at, rng.choice(chans), party, dest, rng.choice(outs), rng.choice(["L1", "L2"]))
        )
    return out


def proposals(rng: random.Random, k: int) -> list[Proposal]:
    chans = [Channel.CALL, Channel.ROBOT_CALL, Channel.SMS, Channel.EMAIL, Channel.VISIT]
    parties = [Party.DEBTOR, Party.DEBTOR, Party.GUARANTOR, Party.EMERGENCY_CONTACT, Party.THIRD_PARTY]
    return [
        Proposal(
            id=str(i),
            at=NOW + dt.timedelta(minutes=rng.randrange(0, 3 * 1440)),
            channel=rng.choice(chans),
            party=rng.choice(parties),
            destination=rng.choice(["m1", "m2", "g1", "e1", "x"]),
            destination_kind=rng.choice([DestinationKind.MOBILE, DestinationKind.WORK, None]),
            debt_id=rng.choice(["L1", "L2", None]),
        )
        for i in range(k)
    ]


def run(preset: str, tz: str, prior: int, k: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    policy = Policy(load_builtin(preset))
    borrower = BorrowerContext(
        timezone=tz,
        emergency_contacts=2,
        consents=(Consent(Channel.SMS, "m1", NOW - dt.timedelta(days=90)),),
    )
    attempts = history(rng, prior)
    props = proposals(rng, k)
    hist = History(attempts)
    for p in props[:50]:  # warm-up
        policy.judge(p, borrower=borrower, history=hist)
    t0 = time.perf_counter()
    verdicts = [policy.judge(p, borrower=borrower, history=hist) for p in props]
    indexed = (time.perf_counter() - t0) / k
    t0 = time.perf_counter()
    for p in props[: k // 4]:
        policy.judge(p, borrower=borrower, history=History(attempts))
    fresh = (time.perf_counter() - t0) / (k // 4)
    kinds = {v: sum(1 for x in verdicts if x.verdict == v) for v in ("allowed", "blocked", "deferred")}
    return {
        "preset": preset,
        "prior_attempts": prior,
        "proposals": k,
        "ms_per_judgement_indexed": round(indexed * 1000, 4),
        "ms_per_judgement_with_indexing": round(fresh * 1000, 4),
        "verdicts": kinds,
        "target_ms": 1.0,
        "met": fresh * 1000 < 1.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prior", type=int, default=1000)
    ap.add_argument("--proposals", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = [
        run("cn", "Asia/Shanghai", args.prior, args.proposals, args.seed),
        run("us", "America/New_York", args.prior, args.proposals, args.seed),
    ]
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(
            f"{r['preset']}: {r['ms_per_judgement_indexed']:.3f} ms/judgement (indexed history), "
            f"{r['ms_per_judgement_with_indexing']:.3f} ms including indexing {r['prior_attempts']} attempts "
            f"— target < 1 ms: {'met' if r['met'] else 'MISSED'}; verdicts {r['verdicts']}"
        )


if __name__ == "__main__":
    main()
