"""Hand-written policy scenarios with the verdicts a compliance officer expects.

Each case is a scenario in the ``recoup policy check`` format plus ``expected``: per proposal id, the
verdict, the set of rule ids, and ``defer_until`` for deferrals (compared as instants). The expected
values are worked out by hand from COMPLIANCE.md; the comment on each case says why.
"""

from __future__ import annotations

from typing import Any

SH = "+08:00"
NY_EST = "-05:00"
NY_EDT = "-04:00"

Case = dict[str, Any]


def att(at: str, outcome: str, dest: str = "m1", *, channel: str = "call", party: str = "debtor",
        debt: str | None = None) -> dict[str, Any]:  # fmt: skip
    a: dict[str, Any] = {
        "at": at,
        "channel": channel,
        "party": party,
        "destination": dest,
        "outcome": outcome,
    }
    if debt is not None:
        a["debt_id"] = debt
    return a


def prop(pid: str, at: str, *, channel: str = "call", party: str = "debtor", dest: str = "m1",
         kind: str | None = None, debt: str | None = None,
         content: str | None = None) -> dict[str, Any]:  # fmt: skip
    p: dict[str, Any] = {"id": pid, "at": at, "channel": channel, "party": party, "destination": dest}
    if kind is not None:
        p["destination_kind"] = kind
    if debt is not None:
        p["debt_id"] = debt
    if content is not None:
        p["content"] = content
    return p


def case(name: str, why: str, *, preset: str = "cn", now: str, tz: str = "Asia/Shanghai",
         borrower: dict[str, Any] | None = None, history: list[dict[str, Any]] | None = None,
         proposed: list[dict[str, Any]], expected: dict[str, tuple[Any, ...]]) -> Case:  # fmt: skip
    b: dict[str, Any] = {"timezone": tz, **(borrower or {})}
    return {
        "name": name,
        "comment": why,
        "scenario": {
            "preset": preset,
            "now": now,
            "borrower": b,
            "history": history or [],
            "proposed": proposed,
        },
        "expected": expected,
    }


A = "allowed"
B = "blocked"
D = "deferred"

CN: list[Case] = [
    # ------------------------------------------------------------------ CN-TIME
    case(
        "cn-time-day",
        "10:00 in Shanghai is inside 08:00–22:00",
        now=f"2026-11-24T09:00:00{SH}",
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-time-late-sms",
        "22:30 is quiet hours for every channel, SMS included: wait for 08:00",
        now=f"2026-11-24T22:00:00{SH}",
        proposed=[prop("p", f"2026-11-24T22:30:00{SH}", channel="sms")],
        expected={"p": (D, {"CN-TIME"}, f"2026-11-25T08:00:00{SH}")},
    ),
    case(
        "cn-time-22-sharp",
        "the window closes at 22:00: 22:00:00 itself is outside",
        now=f"2026-11-24T21:00:00{SH}",
        proposed=[prop("p", f"2026-11-24T22:00:00{SH}")],
        expected={"p": (D, {"CN-TIME"}, f"2026-11-25T08:00:00{SH}")},
    ),
    case(
        "cn-time-0759",
        "07:59 waits one minute, same day",
        now=f"2026-11-24T07:00:00{SH}",
        proposed=[prop("p", f"2026-11-24T07:59:00{SH}"), prop("q", f"2026-11-24T08:00:00{SH}")],
        expected={"p": (D, {"CN-TIME"}, f"2026-11-24T08:00:00{SH}"), "q": (A, set())},
    ),
    case(
        "cn-time-urumqi",
        "the borrower's clock decides: 08:30 Beijing time is 06:30 in Urumqi (UTC+6)",
        now=f"2026-11-24T08:00:00{SH}",
        tz="Asia/Urumqi",
        proposed=[prop("p", f"2026-11-24T08:30:00{SH}")],
        expected={"p": (D, {"CN-TIME"}, "2026-11-24T08:00:00+06:00")},
    ),
    case(
        "cn-time-abroad",
        "a borrower living in London: 23:00 Beijing time is 15:00 there",
        now=f"2026-11-24T22:00:00{SH}",
        tz="Europe/London",
        proposed=[prop("p", f"2026-11-24T23:00:00{SH}")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-time-utc-input",
        "times may be given in any offset: 01:00Z is 09:00 in Shanghai",
        now="2026-11-24T00:00:00Z",
        proposed=[prop("p", "2026-11-24T01:00:00Z")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-time-consent",
        "a recorded after-hours consent for calls to this number lifts CN-TIME for calls only",
        now=f"2026-11-24T20:00:00{SH}",
        borrower={
            "consents": [
                {
                    "channel": "call",
                    "destination": "m1",
                    "granted_at": f"2026-11-20T10:00:00{SH}",
                    "revoked_at": None,
                    "scope": "after_hours",
                }
            ]
        },
        proposed=[
            prop("p", f"2026-11-24T22:30:00{SH}"),
            prop("q", f"2026-11-24T22:30:00{SH}", channel="sms"),
        ],
        expected={"p": (A, set()), "q": (D, {"CN-TIME"}, f"2026-11-25T08:00:00{SH}")},
    ),
    case(
        "cn-time-letter",
        "a letter is not a real-time contact: no quiet hours",
        now=f"2026-11-24T20:00:00{SH}",
        proposed=[prop("p", f"2026-11-24T23:30:00{SH}", channel="letter", dest="addr1")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-time-visit",
        "field visits obey the window too",
        now=f"2026-11-24T05:00:00{SH}",
        proposed=[
            prop("p", f"2026-11-24T06:00:00{SH}", channel="visit", dest="addr1"),
            prop("q", f"2026-11-24T21:59:00{SH}", channel="visit", dest="addr1"),
        ],
        expected={"p": (D, {"CN-TIME"}, f"2026-11-24T08:00:00{SH}"), "q": (A, set())},
    ),
    # ------------------------------------------------------------- CN-FREQ-CONN
    case(
        "cn-conn-3",
        "three connected calls today (any mix of conversation/connected): the 4th call waits "
        "for tomorrow, and tomorrow starts at 08:00",
        now=f"2026-11-24T12:00:00{SH}",
        history=[
            att(f"2026-11-24T09:00:00{SH}", "conversation"),
            att(f"2026-11-24T10:00:00{SH}", "connected"),
            att(f"2026-11-24T11:00:00{SH}", "conversation"),
        ],
        proposed=[prop("p", f"2026-11-24T12:00:00{SH}")],
        expected={"p": (D, {"CN-FREQ-CONN"}, f"2026-11-25T08:00:00{SH}")},
    ),
    case(
        "cn-conn-2-plus-misses",
        "two connected and three unanswered: only connected calls count",
        now=f"2026-11-24T12:00:00{SH}",
        history=[
            att(f"2026-11-24T09:00:00{SH}", "conversation"),
            att(f"2026-11-24T09:30:00{SH}", "no_answer"),
            att(f"2026-11-24T10:00:00{SH}", "no_answer"),
            att(f"2026-11-24T10:30:00{SH}", "failed"),
            att(f"2026-11-24T11:00:00{SH}", "connected"),
        ],
        proposed=[prop("p", f"2026-11-24T12:00:00{SH}")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-conn-yesterday",
        "yesterday's three connected calls do not count today",
        now=f"2026-11-25T09:00:00{SH}",
        history=[
            att(f"2026-11-24T09:00:00{SH}", "conversation"),
            att(f"2026-11-24T10:00:00{SH}", "conversation"),
            att(f"2026-11-24T21:59:00{SH}", "conversation"),
        ],
        proposed=[prop("p", f"2026-11-25T09:00:00{SH}")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-conn-sms-ok",
        "the cap is on voice contacts: an SMS after three connected calls is fine",
        now=f"2026-11-24T12:00:00{SH}",
        history=[
            att(f"2026-11-24T09:00:00{SH}", "conversation"),
            att(f"2026-11-24T10:00:00{SH}", "conversation"),
            att(f"2026-11-24T11:00:00{SH}", "conversation"),
        ],
        proposed=[prop("p", f"2026-11-24T12:00:00{SH}", channel="sms")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-conn-two-numbers",
        "the cap is per debtor, across the debtor's numbers and debts (lender + agencies)",
        now=f"2026-11-24T15:00:00{SH}",
        history=[
            att(f"2026-11-24T09:00:00{SH}", "conversation", "m1", debt="L1"),
            att(f"2026-11-24T10:00:00{SH}", "conversation", "m2", debt="L2"),
            att(f"2026-11-24T11:00:00{SH}", "connected", "home", channel="robot_call", debt="L1"),
        ],
        proposed=[prop("p", f"2026-11-24T15:00:00{SH}", dest="m3", debt="L2")],
        expected={"p": (D, {"CN-FREQ-CONN"}, f"2026-11-25T08:00:00{SH}")},
    ),
    case(
        "cn-conn-local-day",
        "days are the borrower's days: 23:30 UTC on the 23rd is 07:30 on the 24th in Shanghai",
        now=f"2026-11-24T12:00:00{SH}",
        history=[
            att("2026-11-23T23:30:00Z", "conversation"),
            att(f"2026-11-24T09:00:00{SH}", "conversation"),
            att(f"2026-11-24T10:00:00{SH}", "conversation"),
        ],
        proposed=[prop("p", f"2026-11-24T12:00:00{SH}")],
        expected={"p": (D, {"CN-FREQ-CONN"}, f"2026-11-25T08:00:00{SH}")},
    ),
    # ------------------------------------------------------------- CN-FREQ-DIAL
    case(
        "cn-dial-6",
        "six unanswered dials to m1 today: m1 waits for tomorrow, the other number m2 does not",
        now=f"2026-11-24T15:00:00{SH}",
        history=[att(f"2026-11-24T{9 + i:02d}:00:00{SH}", "no_answer", "m1") for i in range(6)],
        proposed=[
            prop("p", f"2026-11-24T15:30:00{SH}", dest="m1"),
            prop("q", f"2026-11-24T15:30:00{SH}", dest="m2"),
        ],
        expected={"p": (D, {"CN-FREQ-DIAL"}, f"2026-11-25T08:00:00{SH}"), "q": (A, set())},
    ),
    case(
        "cn-dial-5",
        "five unanswered dials: a sixth is allowed",
        now=f"2026-11-24T15:00:00{SH}",
        history=[att(f"2026-11-24T{9 + i:02d}:00:00{SH}", "no_answer", "m1") for i in range(5)],
        proposed=[prop("p", f"2026-11-24T15:00:00{SH}")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-dial-mixed-failures",
        "failed connections and invalid-number results are unanswered dials too",
        now=f"2026-11-24T15:00:00{SH}",
        history=[
            att(f"2026-11-24T{9 + i:02d}:00:00{SH}", o, "m1")
            for i, o in enumerate(["no_answer", "failed", "no_answer", "failed", "no_answer", "no_answer"])
        ],
        proposed=[prop("p", f"2026-11-24T15:30:00{SH}")],
        expected={"p": (D, {"CN-FREQ-DIAL"}, f"2026-11-25T08:00:00{SH}")},
    ),
    case(
        "cn-dial-yesterday",
        "yesterday's six misses don't count",
        now=f"2026-11-25T09:00:00{SH}",
        history=[att(f"2026-11-24T{9 + i:02d}:00:00{SH}", "no_answer", "m1") for i in range(6)],
        proposed=[prop("p", f"2026-11-25T09:00:00{SH}")],
        expected={"p": (A, set())},
    ),
    # ----------------------------------------------------------------- CN-PARTY
    case(
        "cn-party-third",
        "a colleague or relative who is not an emergency contact is never contacted about the debt",
        now=f"2026-11-24T10:00:00{SH}",
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}", party="third_party", dest="x")],
        expected={"p": (B, {"CN-PARTY"})},
    ),
    case(
        "cn-party-guarantor",
        "guarantors may be contacted like the debtor",
        now=f"2026-11-24T10:00:00{SH}",
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}", party="guarantor", dest="g1")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-party-third-night",
        "a third party at night is blocked (waiting does not help): only the blocking rule",
        now=f"2026-11-24T22:00:00{SH}",
        proposed=[prop("p", f"2026-11-24T23:00:00{SH}", party="third_party", dest="x")],
        expected={"p": (B, {"CN-PARTY"})},
    ),
    # --------------------------------------------------------------- CN-3P-GATE
    case(
        "cn-gate-no-tries",
        "an emergency contact before any attempt to reach the debtor",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={"emergency_contacts": 2},
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}", party="emergency_contact", dest="e1")],
        expected={"p": (B, {"CN-3P-GATE"})},
    ),
    case(
        "cn-gate-3-failed",
        "three consecutive failed attempts make the debtor unreachable",
        now=f"2026-11-24T12:00:00{SH}",
        borrower={"emergency_contacts": 2},
        history=[
            att(f"2026-11-24T09:00:00{SH}", "no_answer"),
            att(f"2026-11-24T10:00:00{SH}", "failed"),
            att(f"2026-11-24T11:00:00{SH}", "no_answer"),
        ],
        proposed=[prop("p", f"2026-11-24T12:00:00{SH}", party="emergency_contact", dest="e1")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-gate-not-consecutive",
        "the last three are not all failures: the debtor answered in between",
        now=f"2026-11-24T12:00:00{SH}",
        borrower={"emergency_contacts": 2},
        history=[
            att(f"2026-11-24T09:00:00{SH}", "no_answer"),
            att(f"2026-11-24T09:30:00{SH}", "no_answer"),
            att(f"2026-11-24T10:00:00{SH}", "conversation"),
            att(f"2026-11-24T11:00:00{SH}", "no_answer"),
            att(f"2026-11-24T11:30:00{SH}", "no_answer"),
        ],
        proposed=[prop("p", f"2026-11-24T12:00:00{SH}", party="emergency_contact", dest="e1")],
        expected={"p": (B, {"CN-3P-GATE"})},
    ),
    case(
        "cn-gate-after-answer",
        "an answer last week, then three failures since: unreachable now",
        now=f"2026-11-24T12:00:00{SH}",
        borrower={"emergency_contacts": 2},
        history=[
            att(f"2026-11-17T10:00:00{SH}", "conversation"),
            att(f"2026-11-20T10:00:00{SH}", "no_answer"),
            att(f"2026-11-22T10:00:00{SH}", "no_answer"),
            att(f"2026-11-24T10:00:00{SH}", "no_answer"),
        ],
        proposed=[prop("p", f"2026-11-24T12:00:00{SH}", party="emergency_contact", dest="e1")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-gate-invalid",
        "an invalid number is enough on its own",
        now=f"2026-11-24T12:00:00{SH}",
        borrower={"emergency_contacts": 1},
        history=[att(f"2026-11-24T10:00:00{SH}", "invalid_number")],
        proposed=[prop("p", f"2026-11-24T12:00:00{SH}", party="emergency_contact", dest="e1")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-gate-future-history",
        "attempts after the proposal's time do not open the gate for it",
        now=f"2026-11-24T08:00:00{SH}",
        borrower={"emergency_contacts": 2},
        history=[
            att(f"2026-11-24T13:00:00{SH}", "no_answer"),
            att(f"2026-11-24T14:00:00{SH}", "no_answer"),
            att(f"2026-11-24T15:00:00{SH}", "no_answer"),
        ],
        proposed=[
            prop("p", f"2026-11-24T12:00:00{SH}", party="emergency_contact", dest="e1"),
            prop("q", f"2026-11-24T16:00:00{SH}", party="emergency_contact", dest="e1"),
        ],
        expected={"p": (B, {"CN-3P-GATE"}), "q": (A, set())},
    ),
    case(
        "cn-gate-no-contacts",
        "the borrower gave no emergency contacts: nobody may be called as one",
        now=f"2026-11-24T12:00:00{SH}",
        borrower={"emergency_contacts": 0},
        history=[
            att(f"2026-11-24T09:00:00{SH}", "no_answer"),
            att(f"2026-11-24T10:00:00{SH}", "no_answer"),
            att(f"2026-11-24T11:00:00{SH}", "no_answer"),
        ],
        proposed=[prop("p", f"2026-11-24T12:00:00{SH}", party="emergency_contact", dest="e1")],
        expected={"p": (B, {"CN-CONTACTS-DATA"})},
    ),
    case(
        "cn-contacts-third-person",
        "two emergency contacts already used: a third person is not one the borrower gave",
        now=f"2026-11-24T12:00:00{SH}",
        borrower={"emergency_contacts": 2},
        history=[
            att(f"2026-11-24T09:00:00{SH}", "no_answer"),
            att(f"2026-11-24T09:10:00{SH}", "no_answer"),
            att(f"2026-11-24T09:20:00{SH}", "no_answer"),
            att(f"2026-11-24T09:30:00{SH}", "no_answer", "e1", party="emergency_contact"),
            att(f"2026-11-24T09:40:00{SH}", "no_answer", "e2", party="emergency_contact"),
        ],
        proposed=[
            prop("p", f"2026-11-24T12:00:00{SH}", party="emergency_contact", dest="e3"),
            prop("q", f"2026-11-24T12:00:00{SH}", party="emergency_contact", dest="e2"),
        ],
        expected={"p": (B, {"CN-CONTACTS-DATA"}), "q": (A, set())},
    ),
    case(
        "cn-contacts-later-history",
        "emergency contacts used after the proposal's time do not count against it",
        now=f"2026-11-24T08:00:00{SH}",
        borrower={"emergency_contacts": 1},
        history=[
            att(f"2026-11-24T09:00:00{SH}", "invalid_number"),
            att(f"2026-11-24T15:00:00{SH}", "no_answer", "e2", party="emergency_contact"),
        ],
        proposed=[
            prop("p", f"2026-11-24T10:00:00{SH}", party="emergency_contact", dest="e1"),
            prop("q", f"2026-11-24T16:00:00{SH}", party="emergency_contact", dest="e1"),
        ],
        expected={"p": (A, set()), "q": (B, {"CN-CONTACTS-DATA"})},
    ),
    case(
        "cn-gate-night",
        "gate open but at 23:00: wait for the morning",
        now=f"2026-11-24T22:00:00{SH}",
        borrower={"emergency_contacts": 2},
        history=[
            att(f"2026-11-24T19:00:00{SH}", "no_answer"),
            att(f"2026-11-24T20:00:00{SH}", "no_answer"),
            att(f"2026-11-24T21:00:00{SH}", "no_answer"),
        ],
        proposed=[prop("p", f"2026-11-24T23:00:00{SH}", party="emergency_contact", dest="e1")],
        expected={"p": (D, {"CN-TIME"}, f"2026-11-25T08:00:00{SH}")},
    ),
    # ----------------------------------------------------------------- holds
    case(
        "cn-hold-cease",
        "an open-ended cease hold on all channels",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={
            "holds": [{"kind": "cease", "start": f"2026-11-20T00:00:00{SH}", "end": None, "channels": None}]
        },
        proposed=[
            prop("p", f"2026-11-24T10:00:00{SH}"),
            prop("q", f"2026-11-24T10:00:00{SH}", channel="letter", dest="a"),
        ],
        expected={"p": (B, {"HOLD-CEASE"}), "q": (B, {"HOLD-CEASE"})},
    ),
    case(
        "cn-hold-dispute-expiry",
        "a dispute hold until midnight of the 26th: defer to the first lawful time after it",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={
            "holds": [
                {
                    "kind": "dispute",
                    "start": f"2026-11-23T00:00:00{SH}",
                    "end": f"2026-11-26T00:00:00{SH}",
                    "channels": None,
                }
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}")],
        expected={"p": (D, {"HOLD-DISPUTE"}, f"2026-11-26T08:00:00{SH}")},
    ),
    case(
        "cn-hold-noon",
        "a hold ending at noon today defers a 10:00 call to noon",
        now=f"2026-11-24T09:00:00{SH}",
        borrower={
            "holds": [
                {
                    "kind": "stop",
                    "start": f"2026-11-20T00:00:00{SH}",
                    "end": f"2026-11-24T12:00:00{SH}",
                    "channels": None,
                }
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}")],
        expected={"p": (D, {"HOLD-STOP"}, f"2026-11-24T12:00:00{SH}")},
    ),
    case(
        "cn-hold-expired",
        "a hold that ended yesterday no longer applies",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={
            "holds": [
                {
                    "kind": "do_not_contact",
                    "start": f"2026-11-01T00:00:00{SH}",
                    "end": f"2026-11-23T00:00:00{SH}",
                    "channels": None,
                }
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-hold-channel",
        "a hold naming SMS only leaves calls alone",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={
            "holds": [
                {
                    "kind": "do_not_contact",
                    "start": f"2026-11-01T00:00:00{SH}",
                    "end": None,
                    "channels": ["sms"],
                }
            ]
        },
        proposed=[
            prop("p", f"2026-11-24T10:00:00{SH}"),
            prop("q", f"2026-11-24T10:00:00{SH}", channel="sms"),
        ],
        expected={"p": (A, set()), "q": (B, {"HOLD-DNC"})},
    ),
    case(
        "cn-hold-future",
        "a hold that starts tomorrow does not stop today's call, but stops tomorrow's",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={
            "holds": [
                {"kind": "bankruptcy", "start": f"2026-11-25T00:00:00{SH}", "end": None, "channels": None}
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}"), prop("q", f"2026-11-25T10:00:00{SH}")],
        expected={"p": (A, set()), "q": (B, {"HOLD-BANKRUPTCY"})},
    ),
    case(
        "cn-hold-night-then-hold",
        "deferred past the night into a hold that never ends: blocked",
        now=f"2026-11-24T22:00:00{SH}",
        borrower={
            "holds": [{"kind": "stop", "start": f"2026-11-25T07:00:00{SH}", "end": None, "channels": None}]
        },
        proposed=[prop("p", f"2026-11-24T23:00:00{SH}")],
        expected={"p": (B, {"CN-TIME", "HOLD-STOP"})},
    ),
    case(
        "cn-hold-and-party",
        "two independent blocks are both named",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={
            "holds": [
                {"kind": "do_not_contact", "start": f"2026-11-01T00:00:00{SH}", "end": None, "channels": None}
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}", party="third_party", dest="x")],
        expected={"p": (B, {"HOLD-DNC", "CN-PARTY"})},
    ),
    # -------------------------------------------------------------- consent
    case(
        "cn-consent-revoked",
        "the borrower revoked SMS to this number yesterday",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={
            "consents": [
                {
                    "channel": "sms",
                    "destination": "m1",
                    "granted_at": f"2026-01-01T00:00:00{SH}",
                    "revoked_at": f"2026-11-23T10:00:00{SH}",
                }
            ]
        },
        proposed=[
            prop("p", f"2026-11-24T10:00:00{SH}", channel="sms"),
            prop("q", f"2026-11-24T10:00:00{SH}"),
        ],
        expected={"p": (B, {"CONSENT-REVOKED"}), "q": (A, set())},
    ),
    case(
        "cn-consent-revoked-later",
        "a revocation effective tomorrow does not stop today's SMS",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={
            "consents": [
                {
                    "channel": "sms",
                    "destination": "m1",
                    "granted_at": f"2026-01-01T00:00:00{SH}",
                    "revoked_at": f"2026-11-25T00:00:00{SH}",
                }
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}", channel="sms")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-consent-regranted",
        "revoked in June, granted again in October: allowed",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={
            "consents": [
                {
                    "channel": "sms",
                    "destination": "m1",
                    "granted_at": f"2026-01-01T00:00:00{SH}",
                    "revoked_at": f"2026-06-01T00:00:00{SH}",
                },
                {
                    "channel": "sms",
                    "destination": "m1",
                    "granted_at": f"2026-10-01T00:00:00{SH}",
                    "revoked_at": None,
                },
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}", channel="sms")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-time-barred-plain",
        "a time-barred debt may still be reminded of in China (no legal threat in it)",
        now=f"2026-11-24T10:00:00{SH}",
        borrower={"flags": ["time_barred"]},
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}")],
        expected={"p": (A, set())},
    ),
    case(
        "cn-debt-agnostic-multi",
        "each proposal is judged on its own: two proposals at the same time don't count against each other",
        now=f"2026-11-24T10:00:00{SH}",
        history=[
            att(f"2026-11-24T09:00:00{SH}", "conversation"),
            att(f"2026-11-24T09:30:00{SH}", "conversation"),
        ],
        proposed=[prop("p", f"2026-11-24T10:00:00{SH}"), prop("q", f"2026-11-24T10:00:00{SH}", dest="m2")],
        expected={"p": (A, set()), "q": (A, set())},
    ),
]

NY = "America/New_York"
_NYC = {"tz": NY}


def _calls(days: list[str], outcome: str = "no_answer", hour: str = "10:00:00", off: str = NY_EST,
           debt: str | None = None, dest: str = "m1") -> list[dict[str, Any]]:  # fmt: skip
    return [att(f"{d}T{hour}{off}", outcome, dest, debt=debt) for d in days]


US: list[Case] = [
    # ------------------------------------------------------------------ US-TIME
    case(
        "us-time-evening",
        "20:30 in New York is inside 08:00–21:00",
        preset="us",
        now=f"2026-11-24T20:00:00{NY_EST}",
        **_NYC,
        proposed=[prop("p", f"2026-11-24T20:30:00{NY_EST}")],
        expected={"p": (A, set())},
    ),
    case(
        "us-time-21",
        "21:00 is outside: next day 08:00 local",
        preset="us",
        now=f"2026-11-24T20:00:00{NY_EST}",
        **_NYC,
        proposed=[prop("p", f"2026-11-24T21:00:00{NY_EST}", channel="email", dest="e@x")],
        expected={"p": (D, {"US-TIME"}, f"2026-11-25T08:00:00{NY_EST}")},
    ),
    case(
        "us-time-la",
        "13:30Z is 08:30 in New York but 05:30 in Los Angeles",
        preset="us",
        now="2026-11-24T13:00:00Z",
        tz="America/Los_Angeles",
        proposed=[prop("p", "2026-11-24T13:30:00Z")],
        expected={"p": (D, {"US-TIME"}, "2026-11-24T08:00:00-08:00")},
    ),
    case(
        "us-time-dst-spring",
        "8 March 2026 clocks go forward: 12:30Z is 08:30 EDT (allowed), 11:30Z is 07:30 EDT",
        preset="us",
        now="2026-03-08T10:00:00Z",
        **_NYC,
        proposed=[prop("p", "2026-03-08T12:30:00Z"), prop("q", "2026-03-08T11:30:00Z")],
        expected={"p": (A, set()), "q": (D, {"US-TIME"}, f"2026-03-08T08:00:00{NY_EDT}")},
    ),
    case(
        "us-time-dst-fall",
        "1 November 2026 clocks go back: 12:30Z is 07:30 EST, not 08:30",
        preset="us",
        now="2026-11-01T10:00:00Z",
        **_NYC,
        proposed=[prop("p", "2026-11-01T12:30:00Z")],
        expected={"p": (D, {"US-TIME"}, f"2026-11-01T08:00:00{NY_EST}")},
    ),
    case(
        "us-time-across-dst",
        "21:30 EDT on 31 October defers to 08:00 EST on 1 November",
        preset="us",
        now=f"2026-10-31T21:00:00{NY_EDT}",
        **_NYC,
        proposed=[prop("p", f"2026-10-31T21:30:00{NY_EDT}")],
        expected={"p": (D, {"US-TIME"}, f"2026-11-01T08:00:00{NY_EST}")},
    ),
    case(
        "us-time-letter",
        "letters are not timed",
        preset="us",
        now=f"2026-11-24T22:00:00{NY_EST}",
        **_NYC,
        proposed=[prop("p", f"2026-11-24T23:00:00{NY_EST}", channel="letter", dest="addr")],
        expected={"p": (A, set())},
    ),
    # ------------------------------------------------------------------ US-7IN7
    case(
        "us-7in7-full",
        "7 calls in 18–23 Nov: an 8th on the 24th would make 8 in 18–24; on the 25th the window "
        "18–24 drops the two calls of the 18th",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=[
            *_calls(["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]),
            att(f"2026-11-18T15:00:00{NY_EST}", "no_answer"),
        ],
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (D, {"US-7IN7"}, f"2026-11-25T08:00:00{NY_EST}")},
    ),
    case(
        "us-7in7-one-a-day",
        "one call a day on 17–23 Nov: the 17th is outside the window 18–24, so 6 count",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls([f"2026-11-{d}" for d in range(17, 24)]),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (A, set())},
    ),
    case(
        "us-7in7-failed-excluded",
        "calls that never connect to the dialled number are not counted",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(["2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"])
        + _calls(["2026-11-22", "2026-11-23"], outcome="failed", hour="15:00:00"),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (A, set())},
    ),
    case(
        "us-7in7-per-debt",
        "seven calls about debt A do not limit a call about debt B",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(
            [
                "2026-11-18",
                "2026-11-19",
                "2026-11-20",
                "2026-11-21",
                "2026-11-22",
                "2026-11-23",
                "2026-11-24",
            ],
            hour="08:30:00",
            debt="A",
        ),
        proposed=[
            prop("p", f"2026-11-24T10:00:00{NY_EST}", debt="B"),
            prop("q", f"2026-11-24T10:00:00{NY_EST}", debt="A"),
        ],
        expected={"p": (A, set()), "q": (D, {"US-7IN7"}, f"2026-11-25T08:00:00{NY_EST}")},
    ),
    case(
        "us-7in7-consent",
        "the consumer asked to be called back (consent given within 7 days): not limited",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={
            "consents": [
                {
                    "channel": "call",
                    "destination": "m1",
                    "granted_at": f"2026-11-22T10:00:00{NY_EST}",
                    "revoked_at": None,
                }
            ]
        },
        history=_calls([f"2026-11-{d}" for d in range(18, 25)], hour="08:30:00"),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (A, set())},
    ),
    case(
        "us-7in7-old-consent",
        "a consent older than 7 days does not exempt",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={
            "consents": [
                {
                    "channel": "call",
                    "destination": "m1",
                    "granted_at": f"2026-11-01T10:00:00{NY_EST}",
                    "revoked_at": None,
                }
            ]
        },
        history=_calls([f"2026-11-{d}" for d in range(18, 25)], hour="08:30:00"),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (D, {"US-7IN7"}, f"2026-11-25T08:00:00{NY_EST}")},
    ),
    case(
        "us-7in7-texts",
        "texts and emails are not counted as calls",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=[
            att(f"2026-11-{d}T10:00:00{NY_EST}", "connected", "e@x", channel="email") for d in range(18, 25)
        ],
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (A, set())},
    ),
    # ----------------------------------------------------------------- US-7AFTER
    case(
        "us-7after",
        "a conversation on 20 Nov (day 1): no call until 27 Nov",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(["2026-11-20"], outcome="conversation"),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (D, {"US-7AFTER"}, f"2026-11-27T08:00:00{NY_EST}")},
    ),
    case(
        "us-7after-over",
        "a conversation on 17 Nov: 17–23 is the period, 24 Nov is free",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(["2026-11-17"], outcome="conversation"),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (A, set())},
    ),
    case(
        "us-7after-sms",
        "a text after a conversation is not a call",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={
            "consents": [
                {
                    "channel": "sms",
                    "destination": "m1",
                    "granted_at": f"2026-01-01T00:00:00{NY_EST}",
                    "revoked_at": None,
                }
            ]
        },
        history=_calls(["2026-11-23"], outcome="conversation"),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}", channel="sms", kind="mobile")],
        expected={"p": (A, set())},
    ),
    case(
        "us-7after-connected-only",
        "a connected call (voicemail machine) is not a conversation",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(["2026-11-23"], outcome="connected"),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (A, set())},
    ),
    case(
        "us-7after-other-debt",
        "a conversation about debt A does not stop a call about debt B",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(["2026-11-23"], outcome="conversation", debt="A"),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}", debt="B")],
        expected={"p": (A, set())},
    ),
    case(
        "us-7after-and-7in7",
        "both limits at once: the later date wins, both rules named",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls([f"2026-11-{d}" for d in range(18, 24)])
        + _calls(["2026-11-23"], "conversation", "16:00:00"),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (D, {"US-7IN7", "US-7AFTER"}, f"2026-11-30T08:00:00{NY_EST}")},
    ),
    # ------------------------------------------------------------------ others
    case(
        "us-work",
        "the consumer said the employer forbids calls at work",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={"flags": ["no_work_contact"]},
        proposed=[
            prop("p", f"2026-11-24T10:00:00{NY_EST}", dest="w1", kind="work"),
            prop("q", f"2026-11-24T10:00:00{NY_EST}", dest="h1", kind="home"),
        ],
        expected={"p": (B, {"US-WORK"}), "q": (A, set())},
    ),
    case(
        "us-tcpa-robot",
        "an artificial-voice call without prior express consent",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}", channel="robot_call", kind="mobile")],
        expected={"p": (B, {"US-TCPA", "CONSENT-REQUIRED"})},
    ),
    case(
        "us-tcpa-sms-consent",
        "a text to a mobile with consent on file",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={
            "consents": [
                {
                    "channel": "sms",
                    "destination": "m1",
                    "granted_at": f"2025-05-01T00:00:00{NY_EDT}",
                    "revoked_at": None,
                }
            ]
        },
        proposed=[
            prop("p", f"2026-11-24T10:00:00{NY_EST}", channel="sms", kind="mobile"),
            prop("q", f"2026-11-24T10:00:00{NY_EST}", channel="sms", dest="m2", kind="mobile"),
        ],
        expected={"p": (A, set()), "q": (B, {"US-TCPA", "CONSENT-REQUIRED"})},
    ),
    case(
        "us-tcpa-revoked",
        "the consumer texted STOP last week: no more texts to that number",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={
            "consents": [
                {
                    "channel": "sms",
                    "destination": "m1",
                    "granted_at": f"2025-05-01T00:00:00{NY_EDT}",
                    "revoked_at": f"2026-11-17T12:00:00{NY_EST}",
                }
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}", channel="sms", kind="mobile")],
        expected={
            "p": (B, {"US-TCPA", "CONSENT-REQUIRED", "US-TCPA-REVOKE", "CONSENT-REVOKED", "US-OPTOUT"})
        },
    ),
    case(
        "us-optout-email",
        "an email opt-out for one address",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={
            "consents": [
                {
                    "channel": "email",
                    "destination": "a@x",
                    "granted_at": f"2025-05-01T00:00:00{NY_EDT}",
                    "revoked_at": f"2026-11-20T12:00:00{NY_EST}",
                }
            ]
        },
        proposed=[
            prop("p", f"2026-11-24T10:00:00{NY_EST}", channel="email", dest="a@x"),
            prop("q", f"2026-11-24T10:00:00{NY_EST}", channel="email", dest="b@x"),
        ],
        expected={"p": (B, {"US-OPTOUT", "CONSENT-REVOKED"}), "q": (A, set())},
    ),
    case(
        "us-3p-location",
        "one location call to a third party is allowed; after speaking with them, not again",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=[att(f"2026-11-20T10:00:00{NY_EST}", "conversation", "n1", party="third_party")],
        proposed=[
            prop("p", f"2026-11-24T10:00:00{NY_EST}", party="third_party", dest="n2"),
            prop("q", f"2026-11-24T10:00:00{NY_EST}", party="third_party", dest="n1"),
        ],
        expected={"p": (A, set()), "q": (B, {"US-3P"})},
    ),
    case(
        "us-hold-cease",
        "a written cease-communication request",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={
            "holds": [
                {"kind": "cease", "start": f"2026-11-10T00:00:00{NY_EST}", "end": None, "channels": None}
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (B, {"HOLD-CEASE"})},
    ),
    case(
        "us-hold-dispute-end",
        "a dispute under review until the 30th",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={
            "holds": [
                {
                    "kind": "dispute",
                    "start": f"2026-11-10T00:00:00{NY_EST}",
                    "end": f"2026-11-30T12:00:00{NY_EST}",
                    "channels": None,
                }
            ]
        },
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (D, {"HOLD-DISPUTE"}, f"2026-11-30T12:00:00{NY_EST}")},
    ),
    case(
        "us-time-barred-plain",
        "a time-barred debt without a suit threat may be contacted",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={"flags": ["time_barred"]},
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}")],
        expected={"p": (A, set())},
    ),
    # ------------------------------------------------------------------ US-MA
    case(
        "us-ma-2",
        "Massachusetts: two calls this week already",
        preset="us-ma",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(["2026-11-20", "2026-11-22"]),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}", kind="mobile")],
        expected={"p": (D, {"US-MA"}, f"2026-11-27T08:00:00{NY_EST}")},
    ),
    case(
        "us-no-ma",
        "the same history under the federal preset is fine",
        preset="us",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(["2026-11-20", "2026-11-22"]),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}", kind="mobile")],
        expected={"p": (A, set())},
    ),
    case(
        "us-ma-call-and-text",
        "a call and a text both count in Massachusetts",
        preset="us-ma",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        borrower={
            "consents": [
                {
                    "channel": "sms",
                    "destination": "m1",
                    "granted_at": f"2025-05-01T00:00:00{NY_EDT}",
                    "revoked_at": None,
                }
            ]
        },
        history=[*_calls(["2026-11-23"]), att(f"2026-11-23T12:00:00{NY_EST}", "connected", channel="sms")],
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}", channel="sms", kind="mobile")],
        expected={"p": (D, {"US-MA"}, f"2026-11-30T08:00:00{NY_EST}")},
    ),
    case(
        "us-ma-one",
        "one call this week: a second is allowed",
        preset="us-ma",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(["2026-11-10", "2026-11-22"]),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}", kind="home")],
        expected={"p": (A, set())},
    ),
    case(
        "us-ma-work-number",
        "the Massachusetts cap covers home and mobile numbers, not a work number",
        preset="us-ma",
        now=f"2026-11-24T09:00:00{NY_EST}",
        **_NYC,
        history=_calls(["2026-11-20", "2026-11-22"]),
        proposed=[prop("p", f"2026-11-24T10:00:00{NY_EST}", dest="w1", kind="work")],
        expected={"p": (A, set())},
    ),
]

OTHER: list[Case] = [
    case(
        "uk-breathing",
        "Breathing Space: no contact demanding payment",
        preset="uk",
        now="2026-11-24T10:00:00+00:00",
        tz="Europe/London",
        borrower={
            "holds": [
                {
                    "kind": "breathing_space",
                    "start": "2026-11-01T00:00:00+00:00",
                    "end": "2026-12-31T00:00:00+00:00",
                    "channels": None,
                }
            ]
        },
        proposed=[prop("p", "2026-11-24T10:00:00+00:00")],
        expected={"p": (D, {"HOLD-BREATHING", "UK-BREATHE"}, "2026-12-31T08:00:00+00:00")},
    ),
    case(
        "uk-vulnerable-robot",
        "a vulnerable customer gets a person, not a robot",
        preset="uk",
        now="2026-11-24T10:00:00+00:00",
        tz="Europe/London",
        borrower={"flags": ["vulnerable"]},
        proposed=[
            prop("p", "2026-11-24T10:00:00+00:00", channel="robot_call"),
            prop("q", "2026-11-24T10:00:00+00:00"),
        ],
        expected={"p": (B, {"UK-VULN"}), "q": (A, set())},
    ),
    case(
        "no-sunday",
        "Norway: never on Sundays; Monday 08:00",
        preset="no",
        now="2026-11-29T09:00:00+01:00",
        tz="Europe/Oslo",
        proposed=[prop("p", "2026-11-29T10:00:00+01:00")],
        expected={"p": (D, {"NO-TIME"}, "2026-11-30T08:00:00+01:00")},
    ),
    case(
        "no-saturday-late",
        "Saturday closes at 15:00; Sunday is closed",
        preset="no",
        now="2026-11-28T09:00:00+01:00",
        tz="Europe/Oslo",
        proposed=[prop("p", "2026-11-28T16:00:00+01:00")],
        expected={"p": (D, {"NO-TIME"}, "2026-11-30T08:00:00+01:00")},
    ),
    case(
        "no-christmas",
        "Christmas Day and Boxing Day are public holidays, the 27th a Sunday",
        preset="no",
        now="2026-12-25T09:00:00+01:00",
        tz="Europe/Oslo",
        proposed=[prop("p", "2026-12-25T10:00:00+01:00")],
        expected={"p": (D, {"NO-TIME"}, "2026-12-28T08:00:00+01:00")},
    ),
    case(
        "no-one-a-day",
        "one call a day per agency",
        preset="no",
        now="2026-11-24T09:00:00+01:00",
        tz="Europe/Oslo",
        history=[att("2026-11-24T09:00:00+01:00", "no_answer")],
        proposed=[prop("p", "2026-11-24T14:00:00+01:00")],
        expected={"p": (D, {"NO-FREQ"}, "2026-11-25T08:00:00+01:00")},
    ),
    case(
        "in-evening",
        "India: recovery calls only until 19:00",
        preset="in",
        now="2026-11-24T19:00:00+05:30",
        tz="Asia/Kolkata",
        proposed=[prop("p", "2026-11-24T19:30:00+05:30")],
        expected={"p": (D, {"IN-TIME"}, "2026-11-25T08:00:00+05:30")},
    ),
    case(
        "in-family",
        "India: never family or friends",
        preset="in",
        now="2026-11-24T10:00:00+05:30",
        tz="Asia/Kolkata",
        proposed=[prop("p", "2026-11-24T10:00:00+05:30", party="emergency_contact", dest="e1")],
        expected={"p": (B, {"IN-HARASS"})},
    ),
]

_T = f"2026-11-24T10:00:00{SH}"
_TU = f"2026-11-24T10:00:00{NY_EST}"
_MIRANDA = (
    "This communication is from a debt collector. This is an attempt to collect a debt and any information "
    "obtained will be used for that purpose."
)
_FAILED3 = [att(f"2026-11-24T0{h}:{m}:00{SH}", "no_answer") for h, m in ((8, "00"), (8, 30), (9, "00"))]

CONTENT: list[Case] = [
    case(
        "cn-content-threat",
        "a threat in an SMS",
        now=_T,
        proposed=[prop("p", _T, channel="sms", content="【示例消费金融】您已逾期，再不还钱后果自负")],
        expected={"p": (B, {"CN-CONTENT"})},
    ),
    case(
        "cn-content-polite",
        "a polite reminder with the registered signature",
        now=_T,
        proposed=[
            prop(
                "p",
                _T,
                channel="sms",
                content="【示例消费金融】张先生您好，您的借款已逾期3天，请通过官方App还款。",
            )
        ],
        expected={"p": (A, set())},
    ),
    case(
        "cn-sms-signature",
        "a Chinese SMS without a 【签名】",
        now=_T,
        proposed=[prop("p", _T, channel="sms", content="您的借款已逾期，请及时还款")],
        expected={"p": (B, {"CN-SMS"})},
    ),
    case(
        "cn-content-private-account",
        "payment into a collector's personal account",
        now=_T,
        proposed=[prop("p", _T, content="请把钱转到我个人微信，今天处理掉")],
        expected={"p": (B, {"CN-AMT"})},
    ),
    case(
        "cn-content-lawful",
        "lawful statements about credit reporting and legal action are fine",
        now=_T,
        proposed=[
            prop(
                "p",
                _T,
                content="您好，我是示例消费金融的客服。您的逾期信息可能会按规定报送征信系统，"
                "我司保留依法追偿的权利。",
            )
        ],
        expected={"p": (A, set())},
    ),
    case(
        "cn-3p-disclosure",
        "the gate is open but the script tells the emergency contact about the debt",
        now=_T,
        borrower={"emergency_contacts": 2},
        history=_FAILED3,
        proposed=[
            prop(
                "p",
                _T,
                party="emergency_contact",
                dest="e1",
                content="您好，您的朋友张三欠我们5000元，请转告他尽快还钱",
            ),
            prop(
                "q",
                _T,
                party="emergency_contact",
                dest="e1",
                content="您好，我是示例消费金融的客服，想请张三先生回个电话，谢谢。",
            ),
        ],
        expected={"p": (B, {"CN-3P-GATE", "CN-PARTY"}), "q": (A, set())},
    ),
    case(
        "us-voicemail-lcm",
        "a voicemail that mentions the debt is not a limited-content message",
        preset="us",
        now=_TU,
        tz=NY,
        proposed=[
            prop(
                "p",
                _TU,
                channel="voicemail",
                content="Hi, this is John from ABC Collections calling about your debt of $500. Call back.",
            ),
            prop(
                "q",
                _TU,
                channel="voicemail",
                content="Hi, this is Jane Smith. Please call Jane at 555-0100. Thank you.",
            ),
        ],
        expected={"p": (B, {"US-LCM"}), "q": (A, set())},
    ),
    case(
        "us-email-optout",
        "a US email without an opt-out line",
        preset="us",
        now=_TU,
        tz=NY,
        proposed=[prop("p", _TU, channel="email", dest="a@x", content=_MIRANDA + " Your balance is $500.")],
        expected={"p": (B, {"US-OPTOUT"})},
    ),
    case(
        "us-time-barred-suit",
        "a threat of suit on a time-barred debt",
        preset="us",
        now=_TU,
        tz=NY,
        borrower={"flags": ["time_barred"]},
        proposed=[
            prop(
                "p",
                _TU,
                channel="letter",
                dest="addr",
                content=_MIRANDA + " If you do not pay, we will sue you.",
            )
        ],
        expected={"p": (B, {"US-TBD", "TIME-BARRED"})},
    ),
]

ALL: list[Case] = CN + US + OTHER + CONTENT
