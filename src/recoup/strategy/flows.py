"""Acting on the day's decisions: messages into the outbox, calls, visits, letters, legal reviews and
placements into people's queues (``work_task``). Runs in the caller's transaction and never commits.

- A **message** treatment (sms, email, im, portal_link, robot_call) is rendered from the active template
  ``NAME:CHANNEL:LOCALE`` for the borrower's locale (falling back to the lender's, then zh_CN, then en),
  with the values of the decision frame, the lender's identity from the settings (``RECOUP_LENDER_NAME``,
  ``RECOUP_SMS_SIGNATURE``, ``RECOUP_HOTLINE``, ``RECOUP_PAYMENT_DOMAIN``; the strategy document's sample
  values only where one is unset, which the summary says and real channels refuse to send) and the
  strategy's opt-out line, linted, and enqueued with slot ``node:treatment``, due at the strategy's send
  hour in the lender's timezone and valid until ``message_validity_hours`` later; the dispatcher judges
  it against the contact policy again when it sends, and never sends it after its window. A day older
  than the newest day already imported or planned (a catch-up or a replay) plans its messages
  ``expired``: kept and visible, never sent. Its destination is the borrower's own valid contact point
  of the right kind (phone, email, im) that consented to the channel. A message that cannot go out
  becomes a task for a person instead, with the reason: no destination (queue ``contact_data``), no
  active template or a rendering the linter rejected (queue ``review``).
- A **task** treatment becomes one open ``work_task`` per (day, account, treatment). Today's plan
  replaces the queue: older open tasks are cancelled as superseded, except legal reviews and agency
  placements decided again today, which are carried over (they are states, not a day's work).

If no template is active on first use, the shipped defaults are installed (``do_install_defaults``),
plus the templates the default ladder needs that the contact package does not ship yet.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.cases.models import Case
from recoup.config import Settings, get_settings
from recoup.contact import templates
from recoup.contact.models import OutboxMessage
from recoup.contact.outbox import do_enqueue
from recoup.contact.policy.presets import resolve
from recoup.contact.vocab import TREATMENT_CHANNEL, Channel, DestinationKind, Party, Treatment
from recoup.db import utcnow
from recoup.errors import ConfigError
from recoup.lake import Book
from recoup.lake.models import LakeImport
from recoup.lake.store import Outputs
from recoup.pii import PiiCipher, cipher_from_settings
from recoup.portfolio.models import Borrower, CollectionAccount, ContactPoint
from recoup.strategy import cycle_value, economics
from recoup.strategy import kernel as strategy_kernel
from recoup.strategy.definition import MESSAGE_TREATMENTS, Strategy
from recoup.strategy.kernel import Plan
from recoup.strategy.service import load_plan
from recoup.strategy.tasks import PEOPLE_TASKS, ActResult, _plan_tasks

__all__ = ["PEOPLE_TASKS", "ActResult", "DayPlan", "do_act", "payment_token", "plan_day"]

ACTOR = "strategy"
_CHUNK = 900
Sessions = Callable[[], AbstractContextManager[Session]]
#: (contact point kind, the consent word ``consent_channels`` uses, destination kind) per message channel.
_DESTINATION: dict[Channel, tuple[str, str, DestinationKind]] = {
    Channel.SMS: ("phone", "sms", DestinationKind.MOBILE),
    Channel.ROBOT_CALL: ("phone", "voice", DestinationKind.MOBILE),
    Channel.EMAIL: ("email", "email", DestinationKind.EMAIL),
    Channel.IM: ("im", "im", DestinationKind.IM),
}


#: Consonants only: a token must not spell words the content linter reads (hex did: ``…35b0…`` is "sb").
_TOKEN_ALPHABET = "bcdfghjkmnpqrstvwxz"


def payment_token(loan_id: str, cipher: PiiCipher) -> str:
    """The payment link's token: a keyed hash of the loan id (the link never carries the id itself),
    24 letters of :data:`_TOKEN_ALPHABET` (about 100 bits)."""
    n = int(cipher.lookup_hash(f"payment-link:{loan_id}", kind="token"), 16)
    out = []
    for _ in range(24):
        n, r = divmod(n, len(_TOKEN_ALPHABET))
        out.append(_TOKEN_ALPHABET[r])
    return "".join(out)


def _mask_ref(loan_id: str) -> str:
    return f"{loan_id[:1]}****{loan_id[-4:]}" if len(loan_id) > 5 else "****"


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


@dataclass(frozen=True)
class _Account:
    currency: str
    borrower_pk: int
    borrower_key: str
    name: str
    locale: str | None
    case_id: int | None
    holder_id: int | None


def _finite(value: Any) -> float | None:
    """A decision's expected value as stored on its task (none when absent or not a number)."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _accounts(loan_ids: list[str], *, session: Session) -> dict[str, _Account]:
    out: dict[str, _Account] = {}
    for part in _chunks(loan_ids):
        stmt = (
            select(
                CollectionAccount.external_id,
                CollectionAccount.currency,
                Borrower.id,
                Borrower.external_id,
                Borrower.name,
                Borrower.locale,
                CollectionAccount.case_id,
                Case.holder_id,
            )
            .join(Borrower, Borrower.id == CollectionAccount.borrower_id)
            .outerjoin(Case, Case.id == CollectionAccount.case_id)
            .where(CollectionAccount.external_id.in_(part))
        )
        for loan, currency, b_pk, b_key, name, locale, case_id, holder_id in session.execute(stmt):
            out[loan] = _Account(currency, b_pk, b_key, name or "", locale, case_id, holder_id)
    return out


def _contacts(borrower_pks: list[int], *, session: Session) -> dict[int, list[ContactPoint]]:
    out: dict[int, list[ContactPoint]] = {}
    for i in range(0, len(borrower_pks), _CHUNK):
        stmt = (
            select(ContactPoint)
            .where(
                ContactPoint.borrower_id.in_(borrower_pks[i : i + _CHUNK]),
                ContactPoint.role == "self",
                ContactPoint.is_valid.is_(True),
            )
            .order_by(ContactPoint.id)
        )
        for cp in session.scalars(stmt):
            out.setdefault(cp.borrower_id, []).append(cp)
    return out


def _destination(points: list[ContactPoint], channel: Channel) -> tuple[str, DestinationKind] | None:
    """The borrower's first own valid contact point of the channel's kind that consented to it."""
    spec = _DESTINATION.get(channel)
    if spec is None:
        return None
    kind, consent, dkind = spec
    for cp in points:
        consented = cp.consent_channels is None or consent in cp.consent_channels.split(",")
        if cp.kind == kind and consented and cp.value.strip():
            return cp.value.strip(), dkind
    return None


class _Templates:
    """Active templates by key, installing the shipped ones on the first miss (once per call)."""

    def __init__(self, session: Session, result: ActResult) -> None:
        self.session = session
        self.result = result
        self.cache: dict[str, templates.MessageTemplate | None] = {}
        self.installed = False

    def get(self, name: str, channel: Channel, locales: list[str]) -> templates.MessageTemplate | None:
        for locale in locales:
            tpl = self._one(f"{name}:{channel.value}:{locale}")
            if tpl is not None:
                return tpl
        return None

    def _one(self, key: str) -> templates.MessageTemplate | None:
        if key not in self.cache:
            tpl = templates.active_template(key, session=self.session)
            if tpl is None and not self.installed:
                self._install()
                tpl = templates.active_template(key, session=self.session)
            self.cache[key] = tpl
        return self.cache[key]

    def _install(self) -> None:
        """Install the shipped templates on first use (one by one, so one rejected does not stop the rest)."""
        self.installed = True
        for tpl, preset in templates.default_templates():
            if templates.active_template(tpl.key, session=self.session) is None:
                self._install_one(tpl, preset)

    def _install_one(self, tpl: templates.MessageTemplate, preset: str) -> None:
        s = self.session
        try:
            with s.begin_nested():
                saved = templates.do_save_template(
                    tpl, session=s, actor=ACTOR, comment="installed by strategy"
                )
                if saved.version is None:  # pragma: no cover - a saved template always has a version
                    raise templates.TemplateRejected(f"{tpl.key}: no version")
                templates.do_activate(saved.key, saved.version, session=s, actor=ACTOR, preset=preset)
            self.result.templates.append(saved.label)
        except templates.TemplateRejected:
            self.result.skipped[f"template {tpl.key} rejected"] += 1


def _newest_day(session: Session) -> dt.date | None:
    """The newest day imported or planned: an older day's messages are a catch-up, never sent."""
    days = [
        session.scalar(select(func.max(LakeImport.as_of))),
        session.scalar(select(func.max(OutboxMessage.as_of))),
    ]
    known = [d for d in days if d is not None]
    return max(known) if known else None


def do_act(
    decisions: pl.DataFrame,
    plan: Plan,
    *,
    session: Session,
    as_of: dt.date,
    settings: Settings | None = None,
    cipher: PiiCipher | None = None,
) -> ActResult:
    """Enqueue the day's messages and create its tasks (see the module docstring)."""
    s = settings or get_settings()
    c = cipher or cipher_from_settings(s)
    result = ActResult(decisions=decisions.height)
    acts = decisions.filter(pl.col("treatment") != Treatment.NO_ACTION.value)
    result.no_action = decisions.height - acts.height
    by_version: dict[tuple[str, int | None], Strategy] = {
        (st.name, st.version): st for st in plan.strategies()
    }
    accounts = _accounts(acts.get_column("loan_id").cast(pl.String).to_list(), session=session)
    is_message = pl.col("treatment").is_in(pl.Series([t.value for t in MESSAGE_TREATMENTS]).implode())
    msg_rows = acts.filter(is_message)
    needed = sorted(
        {accounts[x].borrower_pk for x in msg_rows.get_column("loan_id").to_list() if x in accounts}
    )
    contacts = _contacts(needed, session=session)
    tpls = _Templates(session, result)
    linter = resolve(s.jurisdiction, session=session).linter
    planned: dict[tuple[str, str], dict[str, Any]] = {}
    now = utcnow()
    # The lender's identity: the settings, else (demo only: the dispatcher refuses real channels) the
    # strategy document's sample values.
    unset = [
        env
        for env, value in (
            ("RECOUP_LENDER_NAME", s.lender_name),
            ("RECOUP_SMS_SIGNATURE", s.sms_signature),
            ("RECOUP_HOTLINE", s.hotline),
            ("RECOUP_PAYMENT_DOMAIN", s.payment_domain),
        )
        if value is None
    ]
    validity = dt.timedelta(hours=s.message_validity_hours)
    # A day older than the newest day imported or planned is a catch-up or a replay: its reminders are
    # stale by the time anyone could read them, so they are planned expired (the dispatcher's window,
    # on the real clock, catches the rest). Only the data decides here, so a simulated history plans live.
    newest = _newest_day(session) if msg_rows.height else None
    backfill = (
        f"planned for {as_of}, a past day ({newest} is newer): never sent · 补跑日期的消息，不发送"
        if newest is not None and as_of < newest
        else None
    )

    def task(row: dict[str, Any], acc: _Account, queue: str | None, why: str = "") -> None:
        reason = f"{why}; {row['reasons']}" if why else str(row["reasons"])
        planned[(row["loan_id"], row["treatment"])] = {
            "as_of": as_of,
            "debt_key": row["loan_id"],
            "borrower_key": acc.borrower_key,
            "treatment": row["treatment"],
            "queue": queue or "general",
            "priority": int(row["priority"] or 0),
            "tone": row["tone"],
            "strategy": row["strategy"],
            "strategy_version": int(row["strategy_version"] or 0),
            "node": row["node"],
            "arm": row["arm"],
            "reason": reason[:1000],
            "status": "open",
            # The case's holder works the task; an unheld case's task waits in its queue for allocation.
            "case_id": acc.case_id,
            "assignee_id": acc.holder_id,
            "expected_value": _finite(row.get("expected_value")),
            "created_at": now,
            "updated_at": now,
        }

    # Messages: I/O per message (render, lint, one outbox row), so a loop over the message rows.
    for row in msg_rows.iter_rows(named=True):
        acc = accounts.get(row["loan_id"])
        if acc is None:
            result.skipped["not in the database"] += 1
            continue
        strategy = by_version[(row["strategy"], row["strategy_version"])]
        doc = strategy.doc
        treatment = Treatment(row["treatment"])
        channel = TREATMENT_CHANNEL[treatment]
        assert channel is not None
        dest = _destination(contacts.get(acc.borrower_pk, []), channel)
        if dest is None:
            task(row, acc, "contact_data", f"no usable {channel.value} destination · 无可用联系方式")
            result.to_people["no destination"] += 1
            continue
        locales = list(dict.fromkeys([acc.locale or s.locale, s.locale, "zh_CN", "en"]))
        tpl = tpls.get(row["template"], channel, locales)
        if tpl is None:
            task(row, acc, "review", f"no active template {row['template']}:{channel.value} · 无可用模板")
            result.to_people["no template"] += 1
            continue
        zh = tpl.locale.startswith("zh")
        dpd = int(row["dpd"] or 0)
        signature = s.sms_signature or doc.signature
        link_base = f"https://{s.payment_domain}/p/" if s.payment_domain else doc.payment_link
        ctx = templates.MessageContext(
            borrower_name=acc.name.strip() or ("客户" if zh else "customer"),
            amount_overdue=int(row["overdue_amount"] or 0),
            due_date=as_of - dt.timedelta(days=dpd),  # days past due count from the oldest unpaid due date
            days_past_due=dpd,
            lender_name=s.lender_name or doc.lender_name,
            payment_link=f"{link_base}{payment_token(row['loan_id'], c)}",
            currency=acc.currency or s.currency,
            hotline=s.hotline or doc.hotline,
            opt_out=doc.opt_out.get(tpl.locale, doc.opt_out.get("zh_CN" if zh else "en", "")),
            signature=signature,
            loan_ref=_mask_ref(row["loan_id"]),
        )
        sig = s.signature_text or doc.registered_signature
        try:
            # The lender's whitelist and registered signatures (Settings) are what the dispatcher checks too.
            rendered = templates.render(
                tpl,
                ctx,
                preset=linter,
                domains=s.link_domains,
                signatures=s.sms_signatures or ([sig] if sig else []),
            )
        except templates.TemplateRejected as exc:
            task(row, acc, "review", f"rendering rejected · 渲染未通过检查: {exc.message}")
            result.to_people["rendering rejected"] += 1
            continue
        send_at = dt.datetime.combine(as_of, dt.time(doc.send_hour), tzinfo=s.tz)
        msg = do_enqueue(
            session=session,
            as_of=as_of,
            borrower_key=acc.borrower_key,
            debt_key=row["loan_id"],
            slot=f"{row['node']}:{treatment.value}",
            channel=channel,
            party=Party.DEBTOR,
            destination=dest[0],
            destination_kind=dest[1],
            body=rendered.body,
            subject=rendered.subject,
            locale=tpl.locale,
            template=rendered.template,
            decision=f"{strategy.label} · node {row['node']} · arm {row['arm']}"[:200],
            due_at=send_at,
            expires_at=send_at + validity,
            expired=backfill,
            settings=s,
            cipher=c,
        )
        result.messages += 1
        result.expired += int(msg.status == "expired")

    if result.messages:
        result.sample_identity = unset
        result.backfill_of = newest if backfill else None
    for row in acts.filter(~is_message).iter_rows(named=True):
        acc = accounts.get(row["loan_id"])
        if acc is None:
            result.skipped["not in the database"] += 1
            continue
        task(row, acc, row["queue"])
    _plan_tasks(planned, session=session, as_of=as_of, result=result)
    return result


@dataclass
class DayPlan:
    """The day's decisions (written to ``out/decisions``) and what they turned into."""

    decisions: pl.DataFrame
    plan: Plan
    acted: ActResult
    value_note: str
    version: int  # of the decisions table after the day's commit

    def summary(self) -> str:
        arms = ""
        if self.plan.experiment is not None:
            counts = self.decisions.get_column("arm").value_counts(sort=True).iter_rows()
            arms = (
                f" experiment {self.plan.experiment.name} (" + ", ".join(f"{a} {n}" for a, n in counts) + ");"
            )
        return (
            f"strategy {self.plan.champion.label};{arms} {self.value_note}; {self.acted.summary()}; "
            f"decisions version {self.version}"
        )


def _recent_attempts(out: Outputs, as_of: dt.date, days: int = 30) -> pl.DataFrame | None:
    """The contact attempts of the ``days`` business days up to D (the facts step's partitions)."""
    scan = out.scan("contact_attempts")
    if scan is None:
        return None
    return scan.filter(pl.col("as_of").is_between(as_of - dt.timedelta(days=days - 1), as_of)).collect()


def plan_day(
    as_of: dt.date,
    *,
    daily: pl.DataFrame,
    book: Book,
    out: Outputs,
    sessions: Sessions,
    settings: Settings,
) -> DayPlan:
    """The cycle's decisions step: every account in collections on D (``daily``, D's ``account_daily``)
    gets its decision from the current strategy version (and experiment arm), or from the optimised
    planner when ``settings.planner`` says so; D's partition of ``decisions`` is replaced in one commit,
    then, in one transaction of ``sessions()``, :func:`do_act` turns the decisions into outbox messages
    and ``work_task`` rows. Reads D's ``scores``, ``promise_facts`` and ``case_facts`` and the recent
    ``contact_attempts`` from ``out``, customer types and payments from ``book``."""
    from recoup.legal.sales import without_sold  # legal imports strategy: at call time, not import time

    with sessions() as session:
        plan = load_plan(session=session)  # saves the default strategy as v1 on first use
        daily = without_sold(daily, session=session, as_of=as_of)
        # The lender's prices and capacity for the day (version 0 = the defaults, nothing saved).
        prices = economics.load_prices(session=session)
        staffing = economics.load_capacity(session=session)
    customers = book.scan("borrowers").select("borrower_id", "customer_type").collect()
    frame = strategy_kernel.decision_frame(
        daily,
        out.read("scores", as_of),
        customers,
        _recent_attempts(out, as_of),
        out.read("promise_facts", as_of),
        out.read("case_facts", as_of),
    )
    # Expected values under the installed response model (docs/cycle-value.md); a model file that
    # cannot be used must not stop the day's actions: the decisions go out without values.
    try:
        model = cycle_value.load_value_model(settings.response_model)
        value_note = f"value model {model.version}" if model is not None else "no value model"
    except Exception as exc:
        model = None
        value_note = f"no value model ({settings.response_model}: {type(exc).__name__}: {str(exc)[:300]})"
    state = None
    if model is not None and frame.height:
        state = cycle_value.state_from_history(
            frame,
            as_of,
            _recent_attempts(out, as_of, cycle_value.HISTORY_DAYS),
            book.scan("payments"),
            out.scan("decisions"),
        )
    optimised = settings.planner == "optimised"
    if optimised and model is None:
        raise ConfigError(
            f"planner = optimised needs a response model: {value_note} "
            "(recoup strategy train-response) · 优化策略需要响应模型"
        )
    if optimised and model is not None and state is not None:
        config, capacity = f"{prices.label} {staffing.label}", staffing.capacity(daily.height)
        decisions, plan = cycle_value.plan_optimised(
            frame, model, state, as_of, capacity, prices=prices.treatments, windows=staffing.windows(),
            commission_bp=prices.agency_commission_bp, config=config
        )  # fmt: skip
    else:  # the strategy tables (also the optimised planner's day with no account in collections)
        config = prices.label
        decisions = strategy_kernel.decide(frame, plan, as_of=as_of)
        decisions = cycle_value.annotate(
            decisions, frame, model, as_of, state, prices=prices.treatments,
            commission_bp=prices.agency_commission_bp, config=config
        )  # fmt: skip
    if model is not None:
        value_note = f"{value_note} {config}"
    cycle_value.add_value_columns(out.uri("decisions"))  # tables written before the columns
    version = out.replace("decisions", decisions, as_of=as_of)
    with sessions() as session:  # one transaction: every message and task of the day
        acted = do_act(decisions, plan, session=session, as_of=as_of, settings=settings)
    return DayPlan(decisions, plan, acted, value_note, version)
