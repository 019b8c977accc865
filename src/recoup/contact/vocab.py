"""The one vocabulary (DESIGN.md §3): treatments, contact channels, parties, destinations, attempt
outcomes and dispositions, defined once and used by the simulator, the policy and strategy engines, the
contact log and the reports. Values are stable machine codes (stored in the DB and in files); labels are
for people.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CHANNEL_LABELS",
    "CONTACT_TREATMENTS",
    "DISPOSITION_LABELS",
    "DISPOSITION_OUTCOME",
    "OUTCOME_LABELS",
    "PARTY_LABELS",
    "REACHED_DISPOSITIONS",
    "TREATMENT_CHANNEL",
    "TREATMENT_LABELS",
    "VOICE_CHANNELS",
    "AttemptOutcome",
    "Channel",
    "DestinationKind",
    "Disposition",
    "Party",
    "Treatment",
    "label",
]


class Treatment(StrEnum):
    """What collections does to an account on a day."""

    SMS = "sms"
    EMAIL = "email"
    IM = "im"
    ROBOT_CALL = "robot_call"
    AGENT_CALL = "agent_call"
    FIELD_VISIT = "field_visit"
    LAWYER_LETTER = "lawyer_letter"
    LEGAL_REVIEW = "legal_review"
    AGENCY_PLACEMENT = "agency_placement"
    PORTAL_LINK = "portal_link"
    SETTLEMENT_OFFER = "settlement_offer"
    PLAN_OFFER = "plan_offer"
    NO_ACTION = "no_action"


class Channel(StrEnum):
    """How a contact attempt travels (the channels of the contact rules and ``recoup policy check``)."""

    CALL = "call"  # a person dials
    ROBOT_CALL = "robot_call"  # an autodialled or artificial (AI) voice
    SMS = "sms"
    EMAIL = "email"
    IM = "im"
    VOICEMAIL = "voicemail"  # a message left on an answering machine
    LETTER = "letter"
    VISIT = "visit"
    PORTAL = "portal"  # the borrower came to the self-service portal: not a contact attempt


class Party(StrEnum):
    """Who is contacted."""

    DEBTOR = "debtor"
    GUARANTOR = "guarantor"
    EMERGENCY_CONTACT = "emergency_contact"
    THIRD_PARTY = "third_party"


class DestinationKind(StrEnum):
    """Where a contact is sent."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    WORK = "work"
    HOME = "home"
    EMAIL = "email"
    IM = "im"
    ADDRESS = "address"


class AttemptOutcome(StrEnum):
    """Whether an attempt reached anyone: the outcome the contact rules count.

    ``conversation``: spoke with the party (also counts as connected); ``connected``: answered or
    delivered; ``no_answer``: rang unanswered (a call was placed); ``failed``: never connected to the
    number (under Regulation F not a call placed); ``invalid_number``: the number is not in service or
    not the party's.
    """

    CONVERSATION = "conversation"
    CONNECTED = "connected"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    INVALID_NUMBER = "invalid_number"


class Disposition(StrEnum):
    """What happened in detail (a dialer's or collector's result code); each maps to one outcome."""

    RIGHT_PARTY_CONTACT = "right_party_contact"
    THIRD_PARTY_CONTACT = "third_party_contact"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    WRONG_NUMBER = "wrong_number"
    DISCONNECTED = "disconnected"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    REFUSED = "refused"
    PROMISE_TO_PAY = "promise_to_pay"
    COMPLAINT = "complaint"
    DISPUTE = "dispute"  # the debtor disputes the debt (争议)
    HARDSHIP = "hardship"  # the debtor states hardship (困难)
    CALLBACK_REQUESTED = "callback_requested"  # asked to be called back later (约定回拨)


#: The outcome each disposition counts as under the contact rules.
DISPOSITION_OUTCOME: dict[Disposition, AttemptOutcome] = {
    Disposition.RIGHT_PARTY_CONTACT: AttemptOutcome.CONVERSATION,
    Disposition.THIRD_PARTY_CONTACT: AttemptOutcome.CONVERSATION,
    Disposition.NO_ANSWER: AttemptOutcome.NO_ANSWER,
    Disposition.BUSY: AttemptOutcome.NO_ANSWER,
    Disposition.VOICEMAIL: AttemptOutcome.CONNECTED,  # the line connected; a machine answered
    Disposition.WRONG_NUMBER: AttemptOutcome.INVALID_NUMBER,
    Disposition.DISCONNECTED: AttemptOutcome.INVALID_NUMBER,
    Disposition.DELIVERED: AttemptOutcome.CONNECTED,
    Disposition.FAILED: AttemptOutcome.FAILED,
    Disposition.BOUNCED: AttemptOutcome.FAILED,
    Disposition.REFUSED: AttemptOutcome.CONVERSATION,
    Disposition.PROMISE_TO_PAY: AttemptOutcome.CONVERSATION,
    Disposition.COMPLAINT: AttemptOutcome.CONVERSATION,
    Disposition.DISPUTE: AttemptOutcome.CONVERSATION,
    Disposition.HARDSHIP: AttemptOutcome.CONVERSATION,
    Disposition.CALLBACK_REQUESTED: AttemptOutcome.CONVERSATION,
}

#: Channels that ring a telephone (they count towards call caps and use phone numbers).
VOICE_CHANNELS: frozenset[Channel] = frozenset({Channel.CALL, Channel.ROBOT_CALL, Channel.VOICEMAIL})

#: The channel each treatment uses; None for treatments that contact nobody themselves.
TREATMENT_CHANNEL: dict[Treatment, Channel | None] = {
    Treatment.SMS: Channel.SMS,
    Treatment.EMAIL: Channel.EMAIL,
    Treatment.IM: Channel.IM,
    Treatment.ROBOT_CALL: Channel.ROBOT_CALL,
    Treatment.AGENT_CALL: Channel.CALL,
    Treatment.FIELD_VISIT: Channel.VISIT,
    Treatment.LAWYER_LETTER: Channel.LETTER,
    Treatment.LEGAL_REVIEW: None,
    Treatment.AGENCY_PLACEMENT: None,
    Treatment.PORTAL_LINK: Channel.SMS,  # the link travels by text
    Treatment.SETTLEMENT_OFFER: Channel.CALL,
    Treatment.PLAN_OFFER: Channel.CALL,
    Treatment.NO_ACTION: None,
}

#: Treatments that make a contact attempt (and so count for coverage and contact-frequency limits).
CONTACT_TREATMENTS: frozenset[Treatment] = frozenset(t for t, c in TREATMENT_CHANNEL.items() if c is not None)

#: Dispositions in which the intended person (debtor or guarantor) was reached.
REACHED_DISPOSITIONS: frozenset[Disposition] = frozenset(
    {Disposition.RIGHT_PARTY_CONTACT, Disposition.PROMISE_TO_PAY, Disposition.REFUSED}
)

TREATMENT_LABELS: dict[Treatment, tuple[str, str]] = {
    Treatment.SMS: ("短信", "SMS"),
    Treatment.EMAIL: ("电子邮件", "Email"),
    Treatment.IM: ("即时消息", "Instant message"),
    Treatment.ROBOT_CALL: ("智能语音外呼", "Robot call"),
    Treatment.AGENT_CALL: ("人工电话催收", "Agent call"),
    Treatment.FIELD_VISIT: ("上门外访", "Field visit"),
    Treatment.LAWYER_LETTER: ("律师函", "Lawyer's letter"),
    Treatment.LEGAL_REVIEW: ("法务审查", "Legal review"),
    Treatment.AGENCY_PLACEMENT: ("委外催收", "Agency placement"),
    Treatment.PORTAL_LINK: ("自助还款链接", "Self-service link"),
    Treatment.SETTLEMENT_OFFER: ("减免结清方案", "Settlement offer"),
    Treatment.PLAN_OFFER: ("分期还款方案", "Repayment plan offer"),
    Treatment.NO_ACTION: ("不处理", "No action"),
}

CHANNEL_LABELS: dict[Channel, tuple[str, str]] = {
    Channel.CALL: ("人工电话", "Call"),
    Channel.ROBOT_CALL: ("智能语音外呼", "Robot call"),
    Channel.SMS: ("短信", "SMS"),
    Channel.EMAIL: ("邮件", "Email"),
    Channel.IM: ("即时通讯", "Instant messaging"),
    Channel.VOICEMAIL: ("语音留言", "Voicemail"),
    Channel.LETTER: ("信函", "Letter"),
    Channel.VISIT: ("上门", "Visit"),
    Channel.PORTAL: ("自助门户", "Portal"),
}

PARTY_LABELS: dict[Party, tuple[str, str]] = {
    Party.DEBTOR: ("借款人本人", "Debtor"),
    Party.GUARANTOR: ("担保人", "Guarantor"),
    Party.EMERGENCY_CONTACT: ("紧急联系人", "Emergency contact"),
    Party.THIRD_PARTY: ("第三方", "Third party"),
}

OUTCOME_LABELS: dict[AttemptOutcome, tuple[str, str]] = {
    AttemptOutcome.CONVERSATION: ("通话", "Conversation"),
    AttemptOutcome.CONNECTED: ("已接通/已送达", "Connected"),
    AttemptOutcome.NO_ANSWER: ("无人接听", "No answer"),
    AttemptOutcome.FAILED: ("未接通/发送失败", "Failed"),
    AttemptOutcome.INVALID_NUMBER: ("号码无效", "Invalid number"),
}

DISPOSITION_LABELS: dict[Disposition, tuple[str, str]] = {
    Disposition.RIGHT_PARTY_CONTACT: ("联系到本人", "Right-party contact"),
    Disposition.THIRD_PARTY_CONTACT: ("联系到第三方", "Third-party contact"),
    Disposition.NO_ANSWER: ("无人接听", "No answer"),
    Disposition.BUSY: ("占线", "Busy"),
    Disposition.VOICEMAIL: ("语音信箱", "Voicemail"),
    Disposition.WRONG_NUMBER: ("号码错误", "Wrong number"),
    Disposition.DISCONNECTED: ("停机/空号", "Disconnected"),
    Disposition.DELIVERED: ("已送达", "Delivered"),
    Disposition.FAILED: ("发送失败", "Failed"),
    Disposition.BOUNCED: ("退信", "Bounced"),
    Disposition.REFUSED: ("拒绝还款", "Refused"),
    Disposition.PROMISE_TO_PAY: ("承诺还款", "Promise to pay"),
    Disposition.COMPLAINT: ("投诉", "Complaint"),
    Disposition.DISPUTE: ("争议", "Dispute"),
    Disposition.HARDSHIP: ("经济困难", "Hardship"),
    Disposition.CALLBACK_REQUESTED: ("约定回拨", "Callback requested"),
}


def label(value: Treatment | Channel | Party | AttemptOutcome | Disposition, locale: str = "zh_CN") -> str:
    """The label for people: ``label(Treatment.SMS)`` → ``短信``; ``label(Treatment.SMS, "en")`` → ``SMS``."""
    if isinstance(value, Treatment):
        zh, en = TREATMENT_LABELS[value]
    elif isinstance(value, Channel):
        zh, en = CHANNEL_LABELS[value]
    elif isinstance(value, Party):
        zh, en = PARTY_LABELS[value]
    elif isinstance(value, Disposition):
        zh, en = DISPOSITION_LABELS[value]
    else:
        zh, en = OUTCOME_LABELS[value]
    return zh if locale.lower().startswith("zh") else en
