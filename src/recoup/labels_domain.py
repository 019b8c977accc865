"""Labels of the domains' vocabularies for the CLI, in its language (:func:`recoup.i18n.cli_locale`)
unless a locale is given: the same English source strings as the pages' labels (``recoup.web.*_pages``), so
the shared catalogs translate each once. Codes stay what the database and ``--json`` carry; an unknown code
is shown as it is."""

from __future__ import annotations

import re
from typing import Final

from recoup.i18n import N_, cli_locale, translations

__all__ = [
    "agency_problem_label",
    "agency_status_label",
    "collateral_kind_label",
    "collateral_status_label",
    "complaint_category_label",
    "complaint_kind_label",
    "complaint_outcome_label",
    "complaint_root_cause_label",
    "complaint_source_label",
    "complaint_status_label",
    "creditor_source_label",
    "disposal_method_label",
    "funder_kind_label",
    "hold_origin_label",
    "legal_cost_label",
    "legal_deadline_label",
    "legal_result_label",
    "legal_stage_label",
    "legal_status_label",
    "limitation_event_label",
    "model_status_label",
    "one_language",
    "promise_status_label",
    "recall_reason_label",
    "resolution_kind_label",
    "resolution_status_label",
    "role_label",
    "sale_notice_label",
    "sale_status_label",
    "team_kind_label",
    "valuation_source_label",
    "worker_kind_label",
    "writeback_kind_label",
    "writeback_status_label",
]


LEGAL_STAGE: Final = {
    "assessment": N_("assessment"),
    "lawyer_letter": N_("lawyer's letter"),
    "pre_suit_mediation": N_("pre-suit mediation"),
    "batch_suit": N_("batch suit"),
    "payment_order": N_("payment order"),
    "judicial_confirmation": N_("judicial confirmation"),
    "suit": N_("suit"),
    "hearing": N_("hearing"),
    "judgment": N_("judgment"),
    "enforcement": N_("enforcement"),
    "result": N_("result"),
}
LEGAL_RESULT: Final = {
    "paid": N_("paid in full"),
    "partly_recovered": N_("partly recovered"),
    "settled": N_("settled"),
    "uncollectable": N_("won, nothing to enforce"),
    "lost": N_("lost"),
    "withdrawn": N_("withdrawn"),
    "not_pursued": N_("not pursued"),
}
LEGAL_COST: Final = {
    "court_fee": N_("court fee"),
    "lawyer_fee": N_("lawyer's fee"),
    "preservation": N_("preservation fee"),
    "enforcement": N_("enforcement fee"),
    "announcement": N_("announcement fee"),
    "service": N_("service of documents"),
    "other": N_("other"),
}
LEGAL_DEADLINE: Final = {
    "mediation_ends": N_("mediation period ends"),
    "objection_window": N_("objection window ends"),
    "hearing": N_("hearing"),
    "evidence": N_("evidence deadline"),
    "appeal_window": N_("appeal window ends"),
    "enforcement_application": N_("apply for enforcement by"),
    "review": N_("decide the route"),
    "other": N_("other"),
}
#: A legal matter's (open / closed) and a legal deadline's (open / done / cancelled) state.
LEGAL_STATUS: Final = {
    "open": N_("open"),
    "closed": N_("closed"),
    "done": N_("done"),
    "cancelled": N_("cancelled"),
}
LIMITATION_EVENT: Final = {
    "start": N_("last instalment due"),
    "payment": N_("payment"),
    "acknowledgement": N_("acknowledgement"),
    "demand": N_("demand"),
    "legal_action": N_("legal action"),
    "acceleration": N_("declared due in full"),
}
PROMISE_STATUS: Final = {
    "pending": N_("pending"),
    "kept": N_("kept"),
    "partially_kept": N_("partially kept"),
    "broken": N_("broken"),
    "rescheduled": N_("rescheduled"),
    "not_counted": N_("not counted"),
}
RESOLUTION_KIND: Final = {
    "plan": N_("repayment plan"),
    "waiver": N_("waiver"),
    "settlement": N_("settlement"),
}
RESOLUTION_STATUS: Final = {
    "pending": N_("awaiting approval"),
    "active": N_("in force"),
    "rejected": N_("rejected"),
    "withdrawn": N_("withdrawn"),
    "honoured": N_("honoured"),
    "lapsed": N_("lapsed"),
    "broken": N_("broken"),
    "paid": N_("paid"),
    "missed": N_("missed"),
}
COMPLAINT_KIND: Final = {
    "complaint": N_("complaint"),
    "dispute": N_("dispute"),
}
COMPLAINT_SOURCE: Final = {
    "regulator_12378": N_("12378 referral (financial regulator)"),
    "regulator_12363": N_("12363 referral (central bank)"),
    "hotline": N_("our hotline"),
    "platform": N_("complaint platform"),
    "portal": N_("borrower portal"),
    "in_call": N_("raised in a call"),
    "other": N_("other"),
}
COMPLAINT_CATEGORY: Final = {
    "collection_conduct": N_("collection conduct"),
    "frequency": N_("frequency or time of contact"),
    "third_party": N_("third parties contacted"),
    "threats_abuse": N_("threats or abuse"),
    "amount": N_("amount or fees"),
    "not_my_debt": N_("not my debt"),
    "privacy": N_("personal data"),
    "repayment": N_("repayment and arrangements"),
    "other": N_("other"),
}
COMPLAINT_ROOT_CAUSE: Final = {
    "collector_conduct": N_("collector's conduct"),
    "agency_conduct": N_("agency's conduct"),
    "policy_gap": N_("policy gap"),
    "system_error": N_("system error"),
    "data_error": N_("data error"),
    "product_terms": N_("product terms"),
    "misunderstanding": N_("misunderstanding"),
    "no_fault": N_("no fault found"),
    "other": N_("other"),
}
COMPLAINT_OUTCOME: Final = {
    "upheld": N_("upheld"),
    "partly_upheld": N_("partly upheld"),
    "not_upheld": N_("not upheld"),
    "withdrawn": N_("withdrawn"),
}
COMPLAINT_STATUS: Final = {
    "open": N_("open"),
    "overdue": N_("overdue"),
    "closed": N_("closed"),
    "all": N_("all"),
}
HOLD_ORIGIN: Final = {
    "complaint": N_("complaint"),
    "stop": N_("case stop"),
    "opt_out": N_("opt-out reply"),
    "manual": N_("placed by hand"),
}
WRITEBACK_STATUS: Final = {
    "pending": N_("not yet sent"),
    "sent": N_("sent, awaiting the extract"),
    "confirmed": N_("confirmed"),
    "rejected": N_("rejected by the core system"),
    "stale": N_("stale: not confirmed in time"),
}
WRITEBACK_KIND: Final = {
    "waiver": N_("waiver"),
    "plan": N_("repayment plan"),
    "interest_freeze": N_("interest freeze"),
    "write_off": N_("write-off"),
    "manual_receipt": N_("manual receipt"),
}
COLLATERAL_KIND: Final = {
    "vehicle": N_("vehicle"),
    "property": N_("property"),
    "equipment": N_("equipment"),
    "deposit": N_("deposit"),
    "receivable": N_("receivable"),
    "other": N_("other"),
}
COLLATERAL_STATUS: Final = {
    "held": N_("held"),
    "repossessed": N_("repossessed"),
    "disposed": N_("disposed"),
    "released": N_("released"),
    "requested": N_("awaiting approval"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "completed": N_("completed"),
    "cancelled": N_("cancelled"),
}
DISPOSAL_METHOD: Final = {
    "auction": N_("auction"),
    "sale": N_("sale"),
    "amc_transfer": N_("transfer to an asset-management company"),
}
VALUATION_SOURCE: Final = {
    "extract": N_("extract"),
    "appraisal": N_("appraisal"),
    "market": N_("market price"),
    "auction": N_("auction"),
    "manual": N_("entered by hand"),
}
FUNDER_KIND: Final = {
    "own": N_("lender's own money"),
    "bank": N_("bank"),
    "trust": N_("trust"),
    "guarantor": N_("guarantor company"),
    "unregistered": N_("not registered"),
}
CREDITOR_SOURCE: Final = {
    "extract": N_("extract (first sight)"),
    "payout": N_("guarantor payout"),
}
AGENCY_STATUS: Final = {
    "candidate": N_("candidate"),
    "whitelisted": N_("white-listed"),
    "suspended": N_("suspended"),
    "removed": N_("removed from the list"),
    "pending_notice": N_("awaiting the borrower's notice"),
    "active": N_("placed"),
    "recalled": N_("recalled"),
    "cancelled": N_("cancelled"),
    "issued": N_("issued"),
    "confirmed": N_("confirmed by both sides"),
}
AGENCY_PROBLEM: Final = {
    "not_whitelisted": N_("not on the white list"),
    "review_overdue": N_("yearly review overdue"),
    "no_pipl_contract": N_("no PIPL processing contract"),
    "no_contract": N_("no service contract in force"),
    "no_trained_staff": N_("no trained staff"),
}
RECALL_REASON: Final = {
    "expired": N_("expired"),
    "complaint": N_("complaint"),
    "death": N_("death"),
    "lawsuit": N_("lawsuit"),
    "stopped": N_("collection stopped"),
    "closed": N_("case closed"),
    "delisted": N_("agency removed from the list"),
    "manual": N_("by decision"),
    "notice": N_("the notice could not be sent"),
    "no_staff": N_("no trained staff"),
}
SALE_STATUS: Final = {
    "requested": N_("awaiting approval"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "cancelled": N_("cancelled"),
    "transferred": N_("transferred"),
}
SALE_NOTICE: Final = {"queued": N_("notice queued"), "no_address": N_("no address: notify by announcement")}
MODEL_STATUS: Final = {
    "candidate": N_("candidate"),
    "champion": N_("champion"),
    "retired": N_("retired"),
}
ROLE: Final = {
    "admin": N_("administrator"),
    "manager": N_("manager"),
    "analyst": N_("strategy analyst"),
    "team_lead": N_("team lead"),
    "collector": N_("collector"),
    "field_agent": N_("field agent"),
    "legal": N_("legal officer"),
    "compliance": N_("compliance officer"),
    "agency": N_("agency user"),
    "auditor": N_("auditor (read-only)"),
}
TEAM_KIND: Final = {
    "collection": N_("collection"),
    "field": N_("field visits"),
    "skip_trace": N_("skip tracing"),
    "legal": N_("legal"),
    "verification": N_("verification"),
    "agency": N_("agency"),
}
WORKER_KIND: Final = {
    "collector": N_("collector"),
    "field_agent": N_("field agent"),
    "agency": N_("agency staff"),
}


def _label(table: dict[str, str], code: object, locale: str | None) -> str:
    text = table.get(str(code)) if code is not None else None
    if text is None:
        return "" if code is None else str(code)
    return translations(cli_locale() if locale is None else locale).gettext(text)


def legal_stage_label(code: object, locale: str | None = None) -> str:
    """A legal matter's stage: ``payment_order`` → payment order / 支付令."""
    return _label(LEGAL_STAGE, code, locale)


def legal_result_label(code: object, locale: str | None = None) -> str:
    """How a legal matter ended."""
    return _label(LEGAL_RESULT, code, locale)


def legal_cost_label(code: object, locale: str | None = None) -> str:
    """A legal cost's kind."""
    return _label(LEGAL_COST, code, locale)


def legal_deadline_label(code: object, locale: str | None = None) -> str:
    """A legal deadline's kind."""
    return _label(LEGAL_DEADLINE, code, locale)


def promise_status_label(code: object, locale: str | None = None) -> str:
    """A promise to pay's judged status."""
    return _label(PROMISE_STATUS, code, locale)


def resolution_kind_label(code: object, locale: str | None = None) -> str:
    """Plan, waiver or settlement."""
    return _label(RESOLUTION_KIND, code, locale)


def resolution_status_label(code: object, locale: str | None = None) -> str:
    """A plan, waiver or settlement's state."""
    return _label(RESOLUTION_STATUS, code, locale)


def complaint_kind_label(code: object, locale: str | None = None) -> str:
    """Complaint or dispute."""
    return _label(COMPLAINT_KIND, code, locale)


def complaint_source_label(code: object, locale: str | None = None) -> str:
    """Where a complaint came from."""
    return _label(COMPLAINT_SOURCE, code, locale)


def complaint_category_label(code: object, locale: str | None = None) -> str:
    """What a complaint is about."""
    return _label(COMPLAINT_CATEGORY, code, locale)


def complaint_root_cause_label(code: object, locale: str | None = None) -> str:
    """A closed complaint's root cause."""
    return _label(COMPLAINT_ROOT_CAUSE, code, locale)


def complaint_outcome_label(code: object, locale: str | None = None) -> str:
    """A closed complaint's outcome."""
    return _label(COMPLAINT_OUTCOME, code, locale)


def complaint_status_label(code: object, locale: str | None = None) -> str:
    """Open, overdue or closed."""
    return _label(COMPLAINT_STATUS, code, locale)


def writeback_status_label(code: object, locale: str | None = None) -> str:
    """A write-back instruction's state."""
    return _label(WRITEBACK_STATUS, code, locale)


def writeback_kind_label(code: object, locale: str | None = None) -> str:
    """A write-back instruction's kind."""
    return _label(WRITEBACK_KIND, code, locale)


def collateral_kind_label(code: object, locale: str | None = None) -> str:
    """A collateral's kind."""
    return _label(COLLATERAL_KIND, code, locale)


def collateral_status_label(code: object, locale: str | None = None) -> str:
    """A collateral's or a disposal request's state."""
    return _label(COLLATERAL_STATUS, code, locale)


def disposal_method_label(code: object, locale: str | None = None) -> str:
    """How a collateral is disposed of."""
    return _label(DISPOSAL_METHOD, code, locale)


def valuation_source_label(code: object, locale: str | None = None) -> str:
    """Where a valuation came from."""
    return _label(VALUATION_SOURCE, code, locale)


def funder_kind_label(code: object, locale: str | None = None) -> str:
    """A funding partner's kind."""
    return _label(FUNDER_KIND, code, locale)


def creditor_source_label(code: object, locale: str | None = None) -> str:
    """How a loan's creditor became known."""
    return _label(CREDITOR_SOURCE, code, locale)


def agency_status_label(code: object, locale: str | None = None) -> str:
    """An agency's, a placement's or a statement's state."""
    return _label(AGENCY_STATUS, code, locale)


def sale_status_label(code: object, locale: str | None = None) -> str:
    """A write-off's or a debt sale's state."""
    return _label(SALE_STATUS, code, locale)


def model_status_label(code: object, locale: str | None = None) -> str:
    """A registered model's state."""
    return _label(MODEL_STATUS, code, locale)


def role_label(code: object, locale: str | None = None) -> str:
    """A user's role."""
    return _label(ROLE, code, locale)


def worker_kind_label(code: object, locale: str | None = None) -> str:
    """A worker profile's kind."""
    return _label(WORKER_KIND, code, locale)


def team_kind_label(code: object, locale: str | None = None) -> str:
    """A team's kind."""
    return _label(TEAM_KIND, code, locale)


def limitation_event_label(code: object, locale: str | None = None) -> str:
    """An event that starts or restarts a limitation period."""
    return _label(LIMITATION_EVENT, code, locale)


def legal_status_label(code: object, locale: str | None = None) -> str:
    """A legal matter's or deadline's state."""
    return _label(LEGAL_STATUS, code, locale)


def sale_notice_label(code: object, locale: str | None = None) -> str:
    """The notice to a borrower whose debt was sold."""
    return _label(SALE_NOTICE, code, locale)


def hold_origin_label(code: object, locale: str | None = None) -> str:
    """Where a contact hold came from."""
    return _label(HOLD_ORIGIN, code, locale)


def agency_problem_label(code: object, locale: str | None = None) -> str:
    """Why an agency may not take placements now."""
    return _label(AGENCY_PROBLEM, code, locale)


def recall_reason_label(code: object, locale: str | None = None) -> str:
    """Why a placement was recalled or cancelled."""
    return _label(RECALL_REASON, code, locale)


_CJK = re.compile(r"[\u3400-\u9fff]")
_DOT = re.compile(r"\s*·\s*")


def one_language(text: str | None, locale: str | None = None) -> str:
    """A stored bilingual text written ``中文 · English`` (strategy notes, shipped descriptions) in the
    CLI's language; any other text as it is."""
    if not text:
        return ""
    parts = _DOT.split(text)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return text
    zh, en = parts if _CJK.search(parts[0]) else parts[::-1]
    if not _CJK.search(zh) or _CJK.search(en):
        return text
    return en if (cli_locale() if locale is None else locale) == "en" else zh
