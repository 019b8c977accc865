"""What ``recoup demo`` prints at the end, in the CLI's language (``--lang`` / ``RECOUP_LOCALE``): the book
by product, bucket and five-category class, the entry rate, roll rates, the day's decisions, the
dispatcher, the floor, the agencies, and a closing summary that explains the numbers — the audit
ledger's head hash last, labelled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
from rich.table import Table

from recoup.console import make_console
from recoup.i18n import _
from recoup.labels import (
    bucket_label,
    class_label,
    product_label,
    segment_label,
    total_label,
    treatment_label,
)
from recoup.money import format_amount

__all__ = ["print_results"]

console = make_console()

#: Classes that are non-performing (NPL) under the regulation.
_NPL = ("substandard", "doubtful", "loss")


def _table(
    title: str, frame: pl.DataFrame, key: str, key_title: str, currency: str, label: Callable[[object], str]
) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column(key_title)
    for col in (_("Loans"), _("Borrowers"), _("Outstanding principal"), _("Overdue amount")):
        t.add_column(col, justify="right")
    for r in frame.iter_rows(named=True):
        t.add_row(
            label(r[key]),
            f"{r['loans']:,}",
            f"{r['borrowers']:,}",
            format_amount(r["outstanding_principal"], currency),
            format_amount(r["overdue_amount"], currency),
        )
    tot = frame.select(pl.col("loans", "outstanding_principal", "overdue_amount").sum()).row(0, named=True)
    t.add_row(
        f"[b]{total_label()}[/]",
        f"[b]{tot['loans']:,}[/]",
        "",
        f"[b]{format_amount(tot['outstanding_principal'], currency)}[/]",
        f"[b]{format_amount(tot['overdue_amount'], currency)}[/]",
    )
    return t


def print_results(
    *,
    as_of: dt.date,
    positions: pl.DataFrame,
    book: Any,
    ledger: Any,
    sent: Any,
    floor: Any,
    settings: Any,
    engine: Any,
    lake: Any,
) -> None:
    """Print the demo's tables and closing summary for ``as_of``."""
    from recoup.portfolio.kernel import summary_by
    from recoup.reporting.book import entry_rate_window

    cur = settings.currency
    n_borrowers = book.frame("borrowers").height
    in_coll = int(positions.get_column("in_collections").sum())
    open_cases = _open_cases(engine)
    console.print(
        "\n[b]"
        + _("Portfolio as of {as_of}").format(as_of=as_of)
        + "[/]  "
        + _("loans {loans} · borrowers {borrowers} · in collections {accounts}").format(
            loans=f"{positions.height:,}", borrowers=f"{n_borrowers:,}", accounts=f"{in_coll:,}"
        )
    )
    console.print(
        _("cases: {cases} open cases for {accounts} accounts in collections").format(
            cases=f"{open_cases:,}", accounts=f"{in_coll:,}"
        )
    )
    console.print(
        _table(
            _("By product"),
            summary_by(positions, "product_type"),
            "product_type",
            _("Product"),
            cur,
            product_label,
        )
    )
    console.print(
        _table(
            _("By days past due (C = current, M1 = 1–30 days, …)"),
            summary_by(positions, "bucket", order="bucket_rank"),
            "bucket",
            _("Bucket"),
            cur,
            bucket_label,
        )
    )
    classes = summary_by(positions, "loan_class", order="class_rank")
    console.print(_table(_("Five-category class"), classes, "loan_class", _("Class"), cur, class_label))
    start, end = as_of - dt.timedelta(days=30), as_of - dt.timedelta(days=1)
    entry = entry_rate_window(book.frame("installments"), start=start, end=end).row(0, named=True)
    rate = "—" if entry["rate"] is None else f"{entry['rate']:.1%}"
    console.print(
        _("entry rate (due {start} – {end}): {rate} ({unpaid} unpaid of {due} due)").format(
            start=start,
            end=end,
            rate=rate,
            unpaid=format_amount(entry["amount_unpaid"], cur),
            due=format_amount(entry["amount_due"], cur),
        )
    )
    _print_roll_rates(lake, as_of)
    violations = _print_contact(engine, lake, as_of, sent, settings)
    if floor is not None:
        _print_floor(engine, as_of, floor)
        _print_agencies(as_of)
    _print_summary(
        positions=positions,
        classes=classes,
        borrowers=n_borrowers,
        accounts=in_coll,
        cases=open_cases,
        sent=sent,
        floor=floor,
        violations=violations,
        currency=cur,
    )
    console.print(
        _("data: database {database} · lake {lake}").format(
            database=settings.database_url, lake=settings.lake_uri
        )
    )
    console.print(
        _(
            "audit ledger: verified, {entries} entries ({signed} signed), {checkpoints} published "
            "checkpoint(s) match; head hash (the fingerprint of the whole history): {head}"
        ).format(
            entries=f"{ledger.entries:,}",
            signed=f"{ledger.signed:,}",
            checkpoints=ledger.published_checked,
            head=ledger.head_hash,
        )
    )


def _open_cases(engine: Any) -> int:
    """Open cases: one per borrower with an account in collections (it holds all their accounts)."""
    from sqlalchemy import func, select

    from recoup.db import session_scope
    from recoup.portfolio.models import CollectionAccount

    with session_scope(engine) as session:
        n = session.scalar(
            select(func.count(func.distinct(CollectionAccount.borrower_id))).where(
                CollectionAccount.status == "open"
            )
        )
    return int(n or 0)


def _print_summary(
    *,
    positions: pl.DataFrame,
    classes: pl.DataFrame,
    borrowers: int,
    accounts: int,
    cases: int,
    sent: Any,
    floor: Any,
    violations: int,
    currency: str,
) -> None:
    """The closing summary: the numbers above in sentences a manager reads."""
    principal = int(positions.get_column("outstanding_principal").sum())
    overdue = positions.filter(pl.col("overdue_amount") > 0)
    npl = int(classes.filter(pl.col("loan_class").is_in(_NPL)).get_column("outstanding_principal").sum())
    share = f"{npl / principal:.1%}" if principal else "—"
    console.print("\n[b]" + _("In short") + "[/]")
    lines = [
        _(
            "The book: {loans} loans to {borrowers} borrowers, {principal} principal outstanding; {overdue} "
            "loans are overdue, {amount} in arrears."
        ).format(
            loans=f"{positions.height:,}",
            borrowers=f"{borrowers:,}",
            principal=format_amount(principal, currency),
            overdue=f"{overdue.height:,}",
            amount=format_amount(int(overdue.get_column("overdue_amount").sum()), currency),
        ),
        _(
            "Collections: {accounts} accounts are in collections, in {cases} cases — one case per "
            "borrower, holding all of that borrower's accounts, so there are fewer cases than accounts."
        ).format(accounts=f"{accounts:,}", cases=f"{cases:,}"),
        _(
            "Non-performing loans (substandard, doubtful, loss): {npl}, {share} of the principal outstanding."
        ).format(npl=format_amount(npl, currency), share=share),
    ]
    c = sent.counts()
    lines.append(
        _(
            "Messages: {sent} sent; {blocked} blocked and {deferred} deferred by the contact policy, "
            "checked again at send time."
        ).format(sent=f"{c['sent']:,}", blocked=f"{c['blocked']:,}", deferred=f"{c['deferred']:,}")
    )
    if floor is not None:
        t = floor.total.sum
        lines.append(
            _(
                "The floor: the simulated collectors made {calls} calls; right-party contacts: {rpc}; "
                "promises to pay: {promises}."
            ).format(calls=f"{t.calls:,}", rpc=f"{t.right_party:,}", promises=f"{t.promises:,}")
        )
    lines.append(
        _(
            "Compliance: replaying every recorded contact attempt through the contact policy found {n} "
            "it would not allow."
        ).format(n=f"{violations:,}")
    )
    for line in lines:
        console.print(f"• {line}", highlight=False)


def _print_floor(engine: Any, as_of: dt.date, floor: Any) -> None:
    """What the simulated collectors did, and the collector KPI table for the month to date."""
    from recoup.db import session_scope
    from recoup.reporting.collectors import collector_report
    from recoup.simulate.floor import DEMO_PASSWORD

    t = floor.total.sum
    console.print(
        "\n[b]"
        + _("The floor")
        + "[/] "
        + _(
            "(simulated collectors working their queues through recoup's services): cases allocated "
            "{allocated} · calls {calls} · right-party contacts {rpc} · promises {promises} · tasks done "
            "{tasks} · calls the policy held back {held}"
        ).format(
            allocated=f"{t.allocated:,}",
            calls=f"{t.calls:,}",
            rpc=f"{t.right_party:,}",
            promises=f"{t.promises:,}",
            tasks=f"{t.tasks_done:,}",
            held=f"{t.skipped_by_policy:,}",
        )
    )
    start = as_of.replace(day=1)
    with session_scope(engine) as session:
        report = collector_report(start, as_of, session=session)
    table = Table(
        title=_("Collectors {start} – {end} (`recoup report collectors`)").format(start=start, end=as_of)
    )
    heads = (
        ("username", _("Collector")),
        ("attempts", _("Calls")),
        ("rpc_rate", _("RPC rate")),
        ("coverage", _("Coverage")),
        ("promise_rate", _("Promise rate")),
        ("kept_rate", _("Kept rate")),
        ("collected", _("Credited")),
    )
    for key, title in heads:
        table.add_column(title, no_wrap=True, justify="left" if key == "username" else "right")
    for row in report.iter_rows(named=True):
        cells = []
        for key, _title in heads:
            v = row.get(key)
            if key == "username":
                cells.append(v or total_label())
            elif key == "collected":
                cells.append(format_amount(int(v or 0), "CNY"))
            elif key.endswith("rate") or key == "coverage":
                cells.append("—" if v is None else f"{v:.1%}")
            else:
                cells.append(f"{int(v or 0):,}")
        table.add_row(*cells)
    console.print(table)
    from recoup.demo_resolutions import resolutions_table

    offers_line, offers_table = resolutions_table(engine, t)
    console.print(offers_line)
    console.print(offers_table)
    console.print(
        _("demo logins: {logins} (password {password})").format(
            logins=", ".join(floor.logins), password=DEMO_PASSWORD
        )
    )


def _print_agencies(as_of: dt.date) -> None:
    """The agencies' month to date as `recoup report agencies` prints it: recovery, commission, complaints."""
    from recoup.agencies.cli import report_agencies

    console.print(
        "\n[b]" + _("Agencies") + "[/] " + _("(batches raced every Monday; sign in as agency1 or agency2)")
    )
    report_agencies(month=as_of.strftime("%Y-%m"), as_json=False)


def _print_roll_rates(lake: Any, as_of: dt.date) -> None:
    """Last complete month's roll-rate matrix, when the cycle ran at both of its month ends."""
    from recoup.lake.store import Outputs
    from recoup.reporting.cli import _matrix_table, snapshot_on_or_before
    from recoup.reporting.metrics import roll_rate_matrix

    daily = Outputs(lake).scan("account_daily")
    end = as_of.replace(day=1) - dt.timedelta(days=1)
    start = end.replace(day=1) - dt.timedelta(days=1)
    days = set() if daily is None else set(daily.select("as_of").unique().collect().get_column("as_of"))
    if start not in days or end not in days:
        console.print(_("roll rates: need cycle runs at two month ends — try `make demo LOANS=2000`"))
        return
    m = roll_rate_matrix(snapshot_on_or_before(daily, start), snapshot_on_or_before(daily, end))  # type: ignore[arg-type]
    title = _("Roll rates {start} → {end} (balance-weighted)").format(start=start, end=end)
    console.print(_matrix_table(title, m, "balance"))


def _print_contact(engine: Any, lake: Any, as_of: dt.date, sent: Any, settings: Any) -> int:
    """The last day's decisions, what the dispatcher did with the messages, and the policy audit; the
    number of violations the audit found."""
    from recoup.contact.policy.audit import audit
    from recoup.db import session_scope
    from recoup.lake.store import Outputs

    decisions = Outputs(lake).read("decisions", as_of)
    if decisions is not None and decisions.height:
        counts = (
            decisions.group_by("segment", "treatment")
            .len()
            .pivot(on="segment", index="treatment", values="len")
            .fill_null(0)
            .sort("treatment")
        )
        ladder = [c for c in ("mild", "severe", "extremely_severe") if c in counts.columns]
        counts = counts.select("treatment", *ladder, pl.exclude("treatment", *ladder))
        table = Table(
            title=_("Decisions for {as_of} (strategy {strategy} v{version})").format(
                as_of=as_of, strategy=decisions["strategy"][0], version=decisions["strategy_version"][0]
            )
        )
        for col in counts.columns:
            head = _("Treatment") if col == "treatment" else segment_label(col)
            table.add_column(head, justify="left" if col == "treatment" else "right")
        for row in counts.iter_rows():
            table.add_row(treatment_label(row[0]), *(str(v) for v in row[1:]))
        console.print(table)
    c = sent.counts()
    console.print(
        _(
            "dispatcher (policy re-checked at send time): sent {sent} · deferred {deferred} · blocked "
            "{blocked} · failed {failed}"
        ).format(
            sent=f"{c['sent']:,}",
            deferred=f"{c['deferred']:,}",
            blocked=f"{c['blocked']:,}",
            failed=f"{c['failed'] + c['dead']:,}",
        )
    )
    start = as_of - dt.timedelta(days=60)
    with session_scope(engine) as session:
        found = list(
            audit(
                session=session,
                start=start,
                end=as_of + dt.timedelta(days=1),
                preset=settings.jurisdiction,
                timezone=settings.timezone,
                domains=settings.link_domains,
                signatures=settings.sms_signatures,
            )
        )
    console.print(
        _(
            "policy audit {start} – {end}: {n} violation(s) (independent replay of every recorded attempt)"
        ).format(start=start, end=as_of + dt.timedelta(days=1), n=len(found))
    )
    return len(found)
