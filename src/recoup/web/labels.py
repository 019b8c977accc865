"""Labels of the pages: English source strings the catalogs translate (``N_`` marks them)."""

from __future__ import annotations

from recoup import labels_domain
from recoup.cases.contact_log import LogResult


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs; the templates translate it when they show it."""
    return message


#: Labels the templates translate (English source strings of the catalogs).
MUST_LABELS = {
    "first_contact": N_("first contact"),
    "promise_due": N_("promise due today"),
    "broken_promise": N_("promise broken"),
    "callback": N_("callback due"),
    "untouched": N_("untouched"),
}
TREATMENT_LABELS = {
    "agent_call": N_("call"),
    "field_visit": N_("field visit"),
    "sms": N_("text message"),
    "email": N_("email"),
    "robot_call": N_("robot call"),
    "lawyer_letter": N_("lawyer's letter"),
    "legal_review": N_("legal review"),
    "agency_placement": N_("agency placement"),
    "plan_offer": N_("plan offer"),
    "settlement_offer": N_("settlement offer"),
    "case_review": N_("deadline review"),
    "no_action": N_("wait"),
}
STATE_LABELS = {
    "intake": N_("intake"),
    "allocated": N_("allocated"),
    "early_collection": N_("early collection"),
    "negotiation": N_("negotiation"),
    "promise": N_("promise"),
    "plan": N_("plan"),
    "settlement": N_("settlement"),
    "legal": N_("legal"),
    "asset_disposal": N_("asset disposal"),
    "closed": N_("closed"),
    "archived": N_("archived"),
}
PROMISE_LABELS = labels_domain.PROMISE_STATUS
ROLE_LABELS = {
    "self": N_("borrower"),
    "debtor": N_("borrower"),
    "guarantor": N_("guarantor"),
    "emergency_contact": N_("emergency contact"),
}
CHANNEL_LABELS = {
    "call": N_("call"),
    "robot_call": N_("robot call"),
    "sms": N_("text message"),
    "email": N_("email"),
    "im": N_("instant message"),
    "voicemail": N_("voicemail"),
    "letter": N_("letter"),
    "visit": N_("field visit"),
    "portal": N_("portal"),
}
OUTCOME_LABELS = {
    "right_party_contact": N_("reached the borrower"),
    "third_party_contact": N_("someone else answered"),
    "no_answer": N_("no answer"),
    "busy": N_("busy"),
    "voicemail": N_("voicemail"),
    "wrong_number": N_("wrong number"),
    "disconnected": N_("disconnected"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
    "bounced": N_("bounced"),
    "refused": N_("refused"),
    "promise_to_pay": N_("promised to pay"),
    "complaint": N_("complaint"),
    "dispute": N_("dispute"),
    "hardship": N_("hardship"),
    "callback_requested": N_("call back later"),
    "conversation": N_("conversation"),
    "connected": N_("connected"),
    "invalid_number": N_("wrong number"),
}
RESULT_LABELS = [
    (LogResult.RIGHT_PARTY.value, N_("reached the borrower")),
    (LogResult.PROMISE.value, N_("promised to pay")),
    (LogResult.NO_ANSWER.value, N_("no answer")),
    (LogResult.WRONG_PARTY.value, N_("someone else answered")),
    (LogResult.REFUSED.value, N_("refused")),
    (LogResult.CALLBACK_REQUESTED.value, N_("call back later")),
    (LogResult.HARDSHIP.value, N_("hardship")),
    (LogResult.DISPUTE.value, N_("dispute")),
    (LogResult.COMPLAINT.value, N_("complaint")),
    (LogResult.WRONG_NUMBER.value, N_("wrong number")),
]
