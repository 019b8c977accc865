"""The morning view's strategy and compliance sections: experiment results per arm with confidence
intervals; blocked attempts by rule, audit violations, quality-inspection findings and holds.

Definitions: arms — :func:`recoup.reporting.arms.arm_results` / :func:`~recoup.reporting.arms.compare_arms`
(METRICS.md 催回率, 出催率, complaints per 10,000; 95 % intervals) over the cohort of
:func:`recoup.reporting.compliance_figures.experiment_accounts`; rules — :func:`~recoup.reporting.
compliance_figures.by_rule`; the data — :mod:`recoup.reporting.morning_risk`.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl
from markupsafe import Markup

from recoup.reporting.arms import arm_results, compare_arms
from recoup.reporting.compliance_figures import by_rule, experiment_accounts
from recoup.reporting.morning_data import case_accounts
from recoup.reporting.morning_risk import (
    blocked_messages,
    decisions_frame,
    holds_in_force,
    logged_against_policy,
    qa_findings,
    violations_frame,
)
from recoup.strategy.experiments import CHAMPION
from recoup.web.charts import PALETTE, WIDE, Bar, Interval, bars, intervals
from recoup.web.labels import N_
from recoup.web.morning_context import Context
from recoup.web.tables import Column, Formats, Table

__all__ = ["charts", "tables"]

VERDICT_LABELS = {
    "better": N_("better"),
    "worse": N_("worse"),
    "no significant difference": N_("no significant difference"),
    "fails": N_("fails (complaints or violations)"),
}
HOLD_LABELS = {
    "dispute": N_("dispute"),
    "cease": N_("cease contact"),
    "do_not_contact": N_("do not contact"),
    "bankruptcy": N_("bankruptcy"),
    "breathing_space": N_("breathing space"),
    "stop": N_("stop of collection"),
    "stand_down": N_("collector stood down"),
}
STOP_LABELS = {
    "death": N_("stop: death"),
    "serious_illness": N_("stop: serious illness"),
    "custody": N_("stop: in custody"),
    "identity_theft": N_("stop: identity theft"),
    "suicide_risk": N_("stop: suicide risk"),
    "litigation": N_("stop: litigation"),
    "complaint": N_("stop: complaint being handled"),
    "disaster_relief": N_("stop: disaster relief"),
}
SOURCE_LABELS = {"collector": N_("collector"), "agency": N_("agency"), "simulator": N_("simulator")}
WHAT_LABELS = {
    "hold": N_("contact hold"),
    "stop": N_("stop of collection (停催)"),
    "stand_down": N_("QA stand-down"),
}


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _arms(ctx: Context) -> tuple[list[dict[str, Any]], str | None, dt.date]:
    """Rows per arm, the experiment's name (None: none has run; the champion's cohort is shown) and the
    first entry day."""
    w = ctx.settings.recovery_window_days
    start = max(ctx.since, ctx.as_of - dt.timedelta(days=2 * w))
    decisions = decisions_frame(ctx.outputs, start, ctx.as_of)
    running = decisions.filter(pl.col("experiment").is_not_null())
    name = None
    if running.height:
        name = str(running.sort("as_of").get_column("experiment")[-1])
        decisions = running.filter(pl.col("experiment") == name)
    else:
        start = ctx.as_of - dt.timedelta(days=w - 1)
        decisions = decisions.filter(pl.col("as_of") >= start)
    entries = (
        decisions.sort("as_of")
        .unique("loan_id", keep="first", maintain_order=True)
        .select("loan_id", pl.col("arm").fill_null(CHAMPION), entry_date="as_of", allocated="overdue_amount")
    )
    if entries.is_empty():
        return [], name, start
    accounts = case_accounts(session=ctx.session)
    logged = logged_against_policy(start, ctx.as_of, session=ctx.session, tz=ctx.settings.tz)
    first_loan = accounts.sort("loan_id").unique("case_id", keep="first").select("case_id", "loan_id")
    violations = logged.join(first_loan, on="case_id", how="inner").select("loan_id")
    frame = experiment_accounts(
        entries,
        ctx.payments.select("loan_id", "received_date", "amount"),
        accounts,
        violations,
        through=ctx.as_of,
    )
    results = arm_results(frame)
    verdicts: dict[str, dict[str, Any]] = {}
    champion = results.filter(pl.col("arm") == CHAMPION)
    if results.height > 1 and champion.height == 1:
        verdicts = {r["arm"]: r for r in compare_arms(results, champion=CHAMPION).iter_rows(named=True)}
    rows = []
    for r in results.iter_rows(named=True):
        v = verdicts.get(r["arm"], {})
        rows.append(
            {
                **{k: _clean(x) for k, x in r.items()},
                "amount_per_account": None
                if not math.isfinite(r["amount_per_account"])
                else round(r["amount_per_account"]),
                "verdict": VERDICT_LABELS.get(
                    v.get("verdict", ""), N_("champion") if r["arm"] == CHAMPION else None
                ),
                "net_diff": None if "net_diff" not in v else round(v["net_diff"]),
            }
        )
    return rows, name, start


def tables(ctx: Context) -> list[Table]:
    """``arms``, ``blocked``, ``violations``, ``qa`` and ``holds``."""
    m0, as_of, tz = ctx.month[0], ctx.as_of, ctx.settings.tz
    arms, experiment, a0 = _arms(ctx)
    blocked_day = by_rule(blocked_messages(as_of, as_of, session=ctx.session)).select("rule", day="count")
    blocked_month = by_rule(blocked_messages(m0, as_of, session=ctx.session))
    blocked = blocked_month.join(blocked_day, on="rule", how="left").with_columns(pl.col("day").fill_null(0))
    violations = by_rule(
        violations_frame(as_of, as_of, session=ctx.session, settings=ctx.settings), by=("source",)
    )
    found = qa_findings(m0, as_of, session=ctx.session, tz=tz)
    qa = (
        found.group_by("rule", "severity")
        .agg(count=pl.len().cast(pl.Int64), open=(pl.col("status") == "open").sum().cast(pl.Int64))
        .sort(["count", "rule"], descending=[True, False])
    )
    now = dt.datetime.now(dt.UTC)
    holds = holds_in_force(now, ctx.today, session=ctx.session)
    rule_col = Column("rule", N_("Rule"))
    return [
        Table(
            "arms",
            N_("Experiment results per arm"),
            [
                Column("arm", N_("Arm")),
                Column("accounts", N_("Accounts"), "int"),
                Column("recovery_rate", N_("Recovery rate"), "pct"),
                Column("recovery_rate_lo", N_("95% interval, low"), "pct"),
                Column("recovery_rate_hi", N_("95% interval, high"), "pct"),
                Column("amount_per_account", N_("Collected per account"), "money"),
                Column("cure_rate", N_("Cure rate"), "pct"),
                Column("complaints_per_10k", N_("Complaints per 10,000"), "num"),
                Column("violations", N_("Violations"), "int"),
                Column("net_diff", N_("Net per account against the champion"), "money"),
                Column("verdict", N_("Verdict"), "label"),
            ],
            arms,
            start=a0,
            end=as_of,
            note=(
                N_("Experiment “{name}”: each account from its first decision in it; 95% intervals.")
                if experiment
                else N_(
                    "No experiment is running: every account is decided by the champion strategy. Shown: "
                    "the accounts the strategy decided in the last {days} days, from their first "
                    "decision; 95% intervals."
                )
            ),
            extra={"name": experiment or "", "days": ctx.settings.recovery_window_days},
        ),
        Table(
            "blocked",
            N_("Attempts blocked by the contact policy, by rule"),
            [
                rule_col,
                Column("day", N_("Yesterday"), "int"),
                Column("count", N_("This month"), "int"),
                Column("share", N_("Share of the month's blocked"), "pct"),
            ],
            blocked.to_dicts(),
            start=m0,
            end=as_of,
            note=N_(
                "Messages the dispatcher did not send: blocked by the policy at send time, or deferred "
                "past their validity. One message can break several rules."
            ),
        ),
        Table(
            "violations",
            N_("Audit violations yesterday, by rule"),
            [rule_col, Column("source", N_("Made by"), "label"), Column("count", N_("Attempts"), "int")],
            [{**r, "source": SOURCE_LABELS.get(r["source"], r["source"])} for r in violations.to_dicts()],
            end=as_of,
            note=N_(
                "The independent replay of every attempt made yesterday against the policy of the "
                "time (recoup policy audit)."
            ),
        ),
        Table(
            "qa",
            N_("Quality-inspection findings this month"),
            [
                rule_col,
                Column("severity", N_("Severity"), "label"),
                Column("count", N_("Findings"), "int"),
                Column("open", N_("Open"), "int"),
            ],
            qa.to_dicts(),
            start=m0,
            end=as_of,
            note=N_("Machine-checked call transcripts and human reviews; dismissed findings excluded."),
        ),
        Table(
            "holds",
            N_("Holds in force"),
            [
                Column("kind", N_("Kind"), "label"),
                Column("what", N_("What"), "label"),
                Column("count", N_("Count"), "int"),
            ],
            [
                {
                    "kind": HOLD_LABELS.get(r["kind"])
                    or STOP_LABELS.get(r["kind"].removeprefix("stop:"), r["kind"]),
                    "what": WHAT_LABELS[r["what"]],
                    "count": r["count"],
                }
                for r in holds.iter_rows(named=True)
            ],
            end=ctx.today,
            note=N_("Contact holds, stops of collection and stand-downs in force this morning."),
        ),
    ]


def charts(t: dict[str, Table], fmt: Formats) -> dict[str, Markup]:
    _ = fmt.gettext
    arms = t["arms"].rows
    champion = next((r["recovery_rate"] for r in arms if r["arm"] == CHAMPION), None)
    out = {
        "arms": intervals(
            "chart-arms",
            [
                Interval(
                    str(r["arm"]),
                    r["recovery_rate"],
                    r["recovery_rate_lo"],
                    r["recovery_rate_hi"],
                    f"{fmt.pct(r['recovery_rate'])} · n={fmt.int(r['accounts'])}",
                )
                for r in arms
            ],
            title=_("Experiment results per arm"),
            axis_label=_("Recovery rate with its 95% interval; the dashed line is the champion"),
            value_format=fmt.pct,
            reference=champion,
            min_span=0.05,
            width=WIDE,
            empty=_("No account has been decided in the window."),
        ),
    }
    for key, chart_id, count, empty in (
        ("blocked", "chart-blocked", "count", _("No attempt was blocked this month.")),
        ("violations", "chart-violations", "count", _("No violation yesterday.")),
        ("qa", "chart-qa", "count", _("No finding this month.")),
        ("holds", "chart-holds", "count", _("No hold in force.")),
    ):
        rows = t[key].rows
        label = "kind" if key == "holds" else "rule"
        out[key] = bars(
            chart_id,
            [
                Bar(
                    fmt.gettext(str(r[label])) if key == "holds" else str(r[label]),
                    r[count],
                    fmt.int(r[count]),
                    color=PALETTE[3] if key in ("violations", "qa") else PALETTE[0],
                )
                for r in rows
            ],
            title=fmt.gettext(t[key].title),
            empty=empty,
        )
    return out
