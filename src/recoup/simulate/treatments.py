"""What treatments do: reach by channel, hour and type; effort on the repayment intensity; promises,
plans, settlements, portal use, replies, complaints and costs — vectorised over a batch of actions that
share an hour (one action per account per batch).

Effort: a treatment that reaches the borrower adds δ₂ × effort(type, treatment) to λ (DESIGN.md §5),
damped by fatigue (recent attempts) and lower through a third party. An account that is not yet
delinquent gets a reminder instead: its next installment is missed less often (type-dependent).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recoup.contact.vocab import DISPOSITION_OUTCOME, TREATMENT_CHANNEL, Channel, Party, Treatment
from recoup.contact.vocab import Disposition as O
from recoup.simulate.events import DayLog
from recoup.simulate.ledger import ranges
from recoup.simulate.params import TYPES, BorrowerType
from recoup.simulate.state import CHANNELS, SOURCES, State

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

TREATMENTS = tuple(Treatment)
PARTIES = tuple(Party)
UNREACHABLE = TYPES.index(BorrowerType.UNREACHABLE)
_EFFORT_KEYS = (
    "sms",
    "email",
    "im",
    "robot_call",
    "agent_call",
    "field_visit",
    "lawyer_letter",
    "portal_link",
)
_REPLY_KIND = {
    BorrowerType.ABLE: "will_pay",
    BorrowerType.FORGETFUL: "will_pay",
    BorrowerType.HARDSHIP: "request_plan",
    BorrowerType.UNWILLING: "dispute",
    BorrowerType.UNREACHABLE: "wrong_number",
    BorrowerType.FRAUD: "stop",
}


def _res(st: State, name: str) -> Floats:
    return np.array([getattr(r, name) for r in st.T.res], dtype=np.float64)


def effort_table(st: State) -> Floats:
    """[type, treatment] → effort units when the treatment reaches the borrower."""
    out = np.zeros((len(TYPES), len(TREATMENTS)))
    for i, r in enumerate(st.T.res):
        for k in _EFFORT_KEYS:
            out[i, TREATMENTS.index(Treatment(k))] = r.effort.get(k, 0.0)
        for k in ("settlement_offer", "plan_offer"):  # the call that carries the offer
            out[i, TREATMENTS.index(Treatment(k))] = r.effort.get("agent_call", 0.0)
    return out


def _hour_factor(st: State, key: str, employed: Bools, hour: int) -> Floats:
    work = np.asarray(st.params.hours[key])
    home = np.asarray(st.params.hours[key + "_home"])
    out: Floats = np.where(employed, work[hour] / work.max(), home[hour] / home.max())
    return out


def apply_actions(
    st: State,
    day: int,
    hour: int,
    idx: Ints,
    treat: Ints,
    party: Ints,
    amount: Ints,
    n_plan: Ints,
    rude: Bools,
    log: DayLog,
    loan_ids: list[str],
) -> None:
    """Apply one batch of actions (distinct accounts) at ``hour`` of ``day``."""
    p = st.params
    k = idx.size
    t = np.full(k, day + hour / 24.0)
    ty = st.pop.ltype[idx]
    bt = [TYPES[i] for i in ty]
    employed = st.pop.employed[st.pop.owner[idx]]
    u = st.rng_treat.random((k, 8))
    hidden = (ty == UNREACHABLE) & ~st.found[idx]
    tp = np.isin(party, [PARTIES.index(Party.EMERGENCY_CONTACT), PARTIES.index(Party.THIRD_PARTY)])
    gp = party == PARTIES.index(Party.GUARANTOR)  # a right party with their own phone, not the debtor's
    fat = st.fatigue[idx] * 0.5 ** ((day - st.fatigue_day[idx]) / p.fatigue_halflife_days)
    tr = [TREATMENTS[i] for i in treat]
    is_voice = np.array(
        [
            x
            in (Treatment.ROBOT_CALL, Treatment.AGENT_CALL, Treatment.SETTLEMENT_OFFER, Treatment.PLAN_OFFER)
            for x in tr
        ],
        dtype=bool,
    )
    is_msg = np.array([x in (Treatment.SMS, Treatment.IM, Treatment.PORTAL_LINK) for x in tr], dtype=bool)
    is_mail = np.array([x is Treatment.EMAIL for x in tr], dtype=bool)
    is_visit = np.array([x is Treatment.FIELD_VISIT for x in tr], dtype=bool)
    is_letter = np.array([x is Treatment.LAWYER_LETTER for x in tr], dtype=bool)
    answer = np.where(
        hidden, 0.0, np.where(st.found[idx], _res(st, "found_answer")[ty], _res(st, "answer")[ty])
    )
    other = tp | gp  # someone else's phone, inbox or door: the debtor's wrong number does not matter
    wrong_dest = hidden & ~other
    read = np.where(other, 0.5, np.where(hidden, 0.0, _res(st, "read")[ty]))

    outcome = np.full(k, "", dtype=object)
    reached = np.zeros(k, dtype=bool)  # the borrower (or a third party, when ``tp``) got the contact
    # Voice: by hour; robots are hung up on more often; a wrong number never reaches the borrower.
    p_voice = np.where(other, 0.5, answer) * _hour_factor(st, "voice", employed, hour)
    p_voice = p_voice * np.array([0.8 if x is Treatment.ROBOT_CALL else 1.0 for x in tr])
    v_ok = is_voice & (u[:, 0] < p_voice)
    reached |= v_ok
    outcome[v_ok] = np.where(tp[v_ok], O.THIRD_PARTY_CONTACT.value, O.RIGHT_PARTY_CONTACT.value)
    v_no = is_voice & ~v_ok
    missed = np.where(
        u[:, 1] < 0.7, O.NO_ANSWER.value, np.where(u[:, 1] < 0.85, O.BUSY.value, O.VOICEMAIL.value)
    )
    wrong = np.where(u[:, 1] < 0.6, O.WRONG_NUMBER.value, O.DISCONNECTED.value)
    outcome[v_no] = np.where(wrong_dest[v_no], wrong[v_no], missed[v_no])
    # Messages: delivered or not; read by type. A wrong number's message is delivered to someone else.
    m = is_msg | is_mail
    fail = np.where(wrong_dest, u[:, 0] >= 0.6, u[:, 0] < np.where(is_mail, 0.08, 0.03))
    outcome[m & fail] = np.where(is_mail[m & fail], O.BOUNCED.value, O.FAILED.value)
    outcome[m & ~fail] = O.DELIVERED.value
    reached |= m & ~fail & (u[:, 2] < read * np.where(is_mail, 0.6, 1.0))
    # Visits: someone at home, by hour; a visit can find a borrower whose number is wrong.
    p_home = _hour_factor(st, "visit", employed, hour)
    finds = is_visit & hidden & (u[:, 3] < 0.3)
    found_now = finds | (other & hidden & reached & (u[:, 3] < 0.2))
    vis_ok = is_visit & (u[:, 0] < np.where(finds, _res(st, "found_answer")[ty], answer) * p_home)
    reached |= vis_ok
    outcome[is_visit] = np.where(vis_ok[is_visit], O.RIGHT_PARTY_CONTACT.value, O.NO_ANSWER.value)
    # Letters: delivered unless the address is stale (wrong-number borrowers have often moved).
    l_ok = is_letter & (u[:, 0] < np.where(hidden, 0.4, 0.9))
    reached |= l_ok & ~hidden
    outcome[is_letter] = np.where(l_ok[is_letter], O.DELIVERED.value, O.FAILED.value)
    if found_now.any():
        st.found[idx[found_now]] = True
        st.found_log.append((idx[found_now].copy(), np.full(int(found_now.sum()), day, dtype=np.int64)))

    # Effort on the intensity (delinquent accounts) or a reminder (performing ones).
    eff = effort_table(st)[ty, treat]
    eff = (
        eff
        / (1.0 + p.fatigue_effort * fat)
        * np.where(tp, p.third_party_effort, np.where(gp, p.guarantor_effort, 1.0))
        * np.where(rude, 0.5, 1.0)
    )
    debtor_reach = reached & ~tp
    pushed = idx[reached & (eff > 0)]
    size = (st.T.delta2[ty] * st.pop.lam_mult[idx] * eff)[reached & (eff > 0)]
    st.jump(pushed, t[reached & (eff > 0)], size)
    remind = debtor_reach & ~st.delinquent[idx]
    st.reminded_until[idx[remind]] = day + 10

    # Agency placement (worked daily by the agency, see dynamics) and its costs.
    placed = np.array([x is Treatment.AGENCY_PLACEMENT for x in tr], dtype=bool)
    st.agency_until[idx[placed]] = day + p.agency_days

    talk = (is_voice | is_visit) & debtor_reach & st.delinquent[idx]
    owed = st.overdue(idx, day) if talk.any() or placed.any() or is_msg.any() else np.zeros(k, dtype=np.int64)
    _promises(
        st,
        day,
        idx,
        ty,
        u,
        talk
        & ~np.isin(
            treat, [TREATMENTS.index(Treatment.SETTLEMENT_OFFER), TREATMENTS.index(Treatment.PLAN_OFFER)]
        ),
        owed,
        outcome,
        log,
        loan_ids,
    )
    _offers(st, day, idx, ty, u, tr, debtor_reach, amount, n_plan, owed, log, loan_ids)
    _portal(st, day, hour, idx, ty, u, tr, debtor_reach, owed, log, loan_ids)

    # Replies to read messages.
    rep = (m & reached & (u[:, 5] < _res(st, "reply")[ty])) | (m & wrong_dest & ~fail & (u[:, 5] < 0.05))
    if rep.any():
        ch = [str(Channel.EMAIL if is_mail[i] else Channel.SMS) for i in np.flatnonzero(rep)]
        log.add(
            "replies",
            loan_id=[loan_ids[i] for i in np.flatnonzero(rep)],
            channel=ch,
            hour=[hour] * int(rep.sum()),
            kind=[_REPLY_KIND[bt[i]] for i in np.flatnonzero(rep)],
        )
    # Complaints: more when contact is excessive, at night, rude, or through third parties.
    base = np.array([p.treatments[x.value].complaint for x in tr])
    night = hour < 8 or hour >= 21
    pc = (
        base
        * _res(st, "complaint")[ty]
        * (1.0 + p.fatigue_complaint * np.maximum(fat - 3.0, 0.0))
        * (p.night_complaint if night else 1.0)
        * np.where(rude, p.rude_complaint, 1.0)
        * np.where(tp, p.third_party_complaint, 1.0)
    )
    comp = (reached | (placed & st.delinquent[idx])) & (u[:, 6] < pc)
    if comp.any():
        ci = np.flatnonzero(comp)
        reason = np.select(
            [np.full(k, night), rude, tp, fat > 3.0], ["night", "rude", "third_party", "excessive"], "conduct"
        )
        in_person = comp & (is_voice | is_visit) & reached & (outcome != O.PROMISE_TO_PAY.value)
        outcome[in_person] = O.COMPLAINT.value
        log.add(
            "complaints",
            loan_id=[loan_ids[i] for i in ci],
            treatment=[tr[i].value for i in ci],
            hour=[hour] * ci.size,
            reason=reason[ci].tolist(),
        )
    contact = np.array(
        [x not in (Treatment.LEGAL_REVIEW, Treatment.AGENCY_PLACEMENT, Treatment.NO_ACTION) for x in tr],
        dtype=bool,
    )
    st.fatigue[idx] = np.where(contact, fat + 1.0, fat)
    st.fatigue_day[idx] = day
    log.add(
        "attempts",
        loan_id=[loan_ids[i] for i in range(k)],
        treatment=[x.value for x in tr],
        channel=[(c.value if (c := TREATMENT_CHANNEL[x]) is not None else None) for x in tr],
        party=[PARTIES[i].value for i in party],
        hour=[hour] * k,
        outcome=[DISPOSITION_OUTCOME[O(o)].value if o else None for o in outcome],
        disposition=[o or None for o in outcome],
        reached=reached.tolist(),
        cost=[p.treatments[x.value].cost for x in tr],
    )


def _promises(
    st: State,
    day: int,
    idx: Ints,
    ty: Ints,
    u: Floats,
    talk: Bools,
    owed: Ints,
    outcome: npt.NDArray[np.object_],
    log: DayLog,
    loan_ids: list[str],
) -> None:
    made = talk & (owed > 0) & (u[:, 4] < _res(st, "ptp")[ty])
    refused = talk & ~made & (u[:, 4] > 0.85)
    outcome[refused] = O.REFUSED.value
    if not made.any():
        return
    outcome[made] = O.PROMISE_TO_PAY.value
    mi = np.flatnonzero(made)
    share = np.where(TYPES.index(BorrowerType.HARDSHIP) == ty[mi], 0.5, 1.0)
    amt = np.minimum(owed[mi], np.ceil(owed[mi] * share / 100.0).astype(np.int64) * 100)
    lead = st.rng_treat.integers(0, 6, mi.size)
    keep = st.rng_treat.random(mi.size) < _res(st, "ptp_keep")[ty[mi]]
    when = day + (st.rng_treat.random(mi.size) * (lead + 1)).astype(np.int64)
    kept = idx[mi[keep]]
    st.ptp_day[kept] = np.maximum(when[keep], day + 1)
    st.ptp_amount[kept] = amt[keep]
    dates = (np.full(mi.size, day) + lead).astype("datetime64[D]")
    log.add("promises", loan_id=[loan_ids[i] for i in mi], amount=amt.tolist(), promised_date=dates.tolist())


def _offers(
    st: State,
    day: int,
    idx: Ints,
    ty: Ints,
    u: Floats,
    tr: list[Treatment],
    reach: Bools,
    amount: Ints,
    n_plan: Ints,
    owed: Ints,
    log: DayLog,
    loan_ids: list[str],
) -> None:
    for kind in (Treatment.PLAN_OFFER, Treatment.SETTLEMENT_OFFER):
        sel = np.flatnonzero(np.array([x is kind for x in tr], dtype=bool))
        if sel.size == 0:
            continue
        starts = st.inst_start[idx[sel]] + st.first_unpaid[idx[sel]]
        ends = st.inst_start[idx[sel]] + st.n_inst[idx[sel]]
        rows, group = ranges(starts, ends)
        total = np.zeros(sel.size, dtype=np.int64)
        np.add.at(total, group, st.led.remaining(rows))
        if kind is Treatment.PLAN_OFFER:
            n = np.maximum(n_plan[sel], 1)
            each = np.where(amount[sel] > 0, amount[sel], -(-np.maximum(owed[sel], 100) // n))
            p_acc = _res(st, "plan_accept")[ty[sel]]
        else:
            n = np.ones(sel.size, dtype=np.int64)
            each = np.where(amount[sel] > 0, np.minimum(amount[sel], total), total)
            discount = 1.0 - each / np.maximum(total, 1)
            p_acc = _res(st, "settle_accept")[ty[sel]] * np.clip(discount / 0.5, 0.0, 1.5)
        acc = reach[sel] & (total > 0) & (u[sel, 7] < p_acc)
        first = day + st.rng_treat.integers(1, 8, sel.size)
        ai = idx[sel[acc]]
        if kind is Treatment.PLAN_OFFER:
            st.plan_next[ai] = first[acc]
            st.plan_amount[ai] = each[acc]
            st.plan_left[ai] = n[acc]
        else:
            keep = st.rng_treat.random(int(acc.sum())) < _res(st, "settle_keep")[ty[sel[acc]]]
            st.settle_day[ai[keep]] = first[acc][keep]
            st.settle_amount[ai[keep]] = each[acc][keep]
        log.add(
            "offers",
            loan_id=[loan_ids[i] for i in sel],
            treatment=[kind.value] * sel.size,
            accepted=acc.tolist(),
            amount=each.tolist(),
            installments=n.tolist(),
            first_date=[
                (d if a else None) for d, a in zip(first.astype("datetime64[D]").tolist(), acc, strict=True)
            ],
        )


def _portal(
    st: State,
    day: int,
    hour: int,
    idx: Ints,
    ty: Ints,
    u: Floats,
    tr: list[Treatment],
    reach: Bools,
    owed: Ints,
    log: DayLog,
    loan_ids: list[str],
) -> None:
    link = np.array([x is Treatment.PORTAL_LINK for x in tr], dtype=bool) & reach
    used = link & (u[:, 4] < _res(st, "portal_use")[ty])
    if not used.any():
        return
    ui = np.flatnonzero(used)
    log.add(
        "replies",
        loan_id=[loan_ids[i] for i in ui],
        channel=[Channel.PORTAL.value] * ui.size,
        hour=[hour] * ui.size,
        kind=["portal_visit"] * ui.size,
    )
    pays = ui[(st.rng_treat.random(ui.size) < _res(st, "portal_pay")[ty[ui]]) & (owed[ui] > 0)]
    if pays.size:
        loans = idx[pays]
        st.pay(loans, owed[pays], day, SOURCES.index("portal"), np.full(pays.size, CHANNELS.index("portal")))
        st.repaid_jump(loans, np.full(pays.size, day + hour / 24.0), np.ones(pays.size))
