"""The morning view's operations section: collector leaderboards within bucket, the agency leaderboard,
the contact and promise funnels, workload per collector and coverage (cases contacted in 7 days).

Definitions: collections per head within bucket — :func:`recoup.reporting.metrics_people.
collections_per_head_by_bucket` (METRICS.md 人均回款, credit by 回款归属); right-party-contact rate,
coverage and kept rate — :func:`~recoup.reporting.metrics_people.collector_kpis` (METRICS.md "Contact and
promises"); funnels and workload — :mod:`recoup.reporting.floor_figures`.

The *bucket* a payment is compared in is the allocation pool (``CaseHolding.rule``, e.g. M1, M2-M3) of the
case's latest holding started by the day it was received: collectors dealt the same pool compete.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from markupsafe import Markup
from sqlalchemy import func, select

from recoup.cases.models import Team
from recoup.contact.models import QaFinding
from recoup.reporting.floor_figures import (
    CONTACT_STAGES,
    PROMISE_STAGES,
    contact_funnel,
    promise_funnel,
    workload,
)
from recoup.reporting.metrics_people import collections_per_head_by_bucket, collector_kpis
from recoup.reporting.morning_data import cases_held_now, open_tasks, utc_bounds
from recoup.web.charts import PALETTE, WIDE, Bar, Stage, bars, funnel
from recoup.web.labels import N_
from recoup.web.morning_context import Context
from recoup.web.tables import Column, Formats, Table

__all__ = ["STAGE_LABELS", "charts", "tables"]

#: Words the charts put beside numbers (translated when drawn).
_W_INDEX = N_("index")
_W_BUCKET_PER_HEAD = N_("Bucket per head")
_W_OF_THE_STAGE_BEFORE = N_("of the stage before")
_W_TASKS = N_("open tasks")

STAGE_LABELS = {
    "attempts": N_("attempts"),
    "connected": N_("connected"),
    "right_party": N_("right party"),
    "promises": N_("promise"),
    "kept": N_("kept"),
    "due": N_("fell due"),
    "judged": N_("judged"),
    "paid": N_("paid (in part or in full)"),
}
COVERAGE_DAYS = 7
_ID = pl.Int64()


def _pooled(ctx: Context) -> pl.DataFrame:
    """This month's collections credited to collectors, with the pool of the case when received."""
    credited = ctx.credited.filter(
        (pl.col("credited_kind") == "collector") & pl.col("credited_id").is_not_null()
    )
    pools = ctx.holdings.select("case_id", "start_date", "pool").sort("start_date")
    return (
        credited.sort("received_date")
        .join_asof(
            pools,
            left_on="received_date",
            right_on="start_date",
            by="case_id",
            strategy="backward",
            check_sortedness=False,
        )
        .select(
            pl.col("credited_id").alias("collector_id"),
            pl.col("pool").fill_null("—").alias("bucket"),
            "amount",
            "received_date",
        )
    )


def _leaderboard(ctx: Context) -> list[dict[str, object]]:
    m0, as_of = ctx.month[0], ctx.as_of
    held = ctx.holdings.filter(
        (pl.col("holder_kind") == "collector")
        & (pl.col("start_date") <= as_of)
        & (pl.col("end_date").is_null() | (pl.col("end_date") > m0))
    )
    fte = held.select(collector_id="holder_id", bucket="pool").unique().with_columns(fte=pl.lit(1.0))
    pooled = _pooled(ctx)
    fte = pl.concat(
        [fte, pooled.select("collector_id", "bucket").unique().with_columns(fte=pl.lit(1.0))]
    ).unique(["collector_id", "bucket"])
    if fte.is_empty():
        return []
    board = collections_per_head_by_bucket(pooled, fte, start=m0, end=as_of)
    names = ctx.people.select("collector_id", "name")
    kpis = _kpis(
        ctx,
        held.select(collector_id="holder_id", case_id="case_id", allocated_amount="allocated_amount"),
        m0,
        as_of,
    )
    return (
        board.join(names, on="collector_id", how="left")
        .join(kpis.select("collector_id", "rpc_rate", "coverage", "kept_rate"), on="collector_id", how="left")
        .with_columns(pl.col("name").fill_null(pl.col("collector_id").cast(pl.String)))
        .to_dicts()
    )


def _kpis(ctx: Context, held: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """:func:`collector_kpis` over the people's attempts and promises (blocked attempts are not logged)."""
    att = ctx.attempts.filter(pl.col("collector_id").is_not_null()).select(
        "collector_id", "case_id", "at_date", "channel", "right_party", "blocked"
    )
    prom = ctx.promises.filter(pl.col("collector_id").is_not_null()).select(
        "collector_id", "promise_id", "made_on", "due_date", "status", "amount", "kept_amount"
    )
    empty = {
        "credited": pl.DataFrame(schema={"collector_id": _ID, "amount": _ID, "received_date": pl.Date()}),
        "complaints": pl.DataFrame(schema={"collector_id": _ID, "received_on": pl.Date()}),
        "qa": pl.DataFrame(schema={"collector_id": _ID, "severity": pl.String()}),
    }
    return collector_kpis(
        att,
        prom,
        held.unique(["collector_id", "case_id"]),
        empty["credited"],
        empty["complaints"],
        empty["qa"],
        start=start,
        end=end,
    )


def _agencies(ctx: Context) -> tuple[list[dict[str, object]], int]:
    teams = ctx.session.execute(select(Team.id, Team.name).where(Team.kind == "agency")).all()
    if not teams:
        return [], 0
    team_of = dict(teams)
    members = ctx.people.filter(pl.col("team_id").is_in(list(team_of)))
    m0, as_of = ctx.month[0], ctx.as_of
    held = ctx.holdings.join(members.select(holder_id="collector_id", team_id="team_id"), on="holder_id")
    month = held.filter(pl.col("start_date") <= as_of)
    now = held.filter(pl.col("end_date").is_null())
    credited = ctx.credited.join(
        members.select(credited_id="collector_id", team_id="team_id"), on="credited_id"
    )
    lo, hi = utc_bounds(m0, as_of, ctx.settings.tz)
    findings = dict(
        ctx.session.execute(
            select(QaFinding.agency, func.count())
            .where(
                QaFinding.agency.is_not(None),
                QaFinding.status != "dismissed",
                QaFinding.created_at >= lo,
                QaFinding.created_at < hi,
            )
            .group_by(QaFinding.agency)
        )
        .tuples()
        .all()
    )
    rows = []
    for tid, name in teams:  # a handful of agencies, not accounts
        mine = members.filter(pl.col("team_id") == tid)
        alloc = int(month.filter(pl.col("team_id") == tid).get_column("allocated_amount").sum() or 0)
        got = int(credited.filter(pl.col("team_id") == tid).get_column("amount").sum() or 0)
        codes = set(mine.get_column("agency_code").drop_nulls().to_list())
        rows.append(
            {
                "agency": name,
                "people": mine.height,
                "cases": now.filter(pl.col("team_id") == tid).get_column("case_id").n_unique(),
                "allocated": alloc,
                "collected": got,
                "rate": got / alloc if alloc else None,
                "qa_findings": sum(n for code, n in findings.items() if code in codes),
                "complaints": 0,
            }
        )
    rows.sort(key=lambda r: (-(r["rate"] or 0.0), str(r["agency"])))  # type: ignore[operator]
    return rows, len(teams)


def tables(ctx: Context) -> list[Table]:
    """``leaderboard``, ``agencies``, ``contact-funnel``, ``promise-funnel``, ``workload``, ``coverage``."""
    m0, as_of = ctx.month[0], ctx.as_of
    month_attempts = ctx.attempts.filter(pl.col("at_date").is_between(m0, as_of))
    made = ctx.promises.filter(pl.col("made_on").is_between(m0, as_of))
    due = ctx.promises.filter(pl.col("due_date").is_between(m0, as_of))
    contact = contact_funnel(month_attempts, made)
    promise = promise_funnel(due)
    held_now = cases_held_now(session=ctx.session)
    people = ctx.people.filter(pl.col("kind") == "collector").select("collector_id", "name", "cap")
    load = workload(
        held_now.select("collector_id", "case_id", "overdue_amount"), open_tasks(session=ctx.session), people
    )
    c0 = as_of - dt.timedelta(days=COVERAGE_DAYS - 1)
    cover = _kpis(ctx, held_now.select("collector_id", "case_id", allocated_amount=pl.lit(0, _ID)), c0, as_of)
    names = dict(ctx.people.select("collector_id", "name").iter_rows())
    coverage_rows = [
        {
            "name": names.get(r["collector_id"], str(r["collector_id"]))
            if r["collector_id"] is not None
            else None,
            **r,
        }
        for r in cover.iter_rows(named=True)
        if r["cases_held"] or r["collector_id"] is None
    ]
    agencies, n_teams = _agencies(ctx)
    rate_cols = [
        Column("of_previous", N_("Of the stage before"), "pct"),
        Column("of_first", N_("Of the first stage"), "pct"),
    ]
    return [
        Table(
            "leaderboard",
            N_("Collectors within bucket, this month"),
            [
                Column("bucket", N_("Bucket")),
                Column("rank", N_("Rank"), "int"),
                Column("name", N_("Collector")),
                Column("collected", N_("Credited collections"), "money"),
                Column("collections_per_head", N_("Per head"), "money"),
                Column("index", N_("Index to bucket"), "num"),
                Column("bucket_per_head", N_("Bucket per head"), "money"),
                Column("rpc_rate", N_("Right-party contact rate"), "pct"),
                Column("coverage", N_("coverage"), "pct"),
                Column("kept_rate", N_("kept rate"), "pct"),
            ],
            _leaderboard(ctx),
            start=m0,
            end=as_of,
            note=N_(
                "Collectors are compared only within the pool they were dealt (人均回款); index 1.0 is "
                "the bucket's pooled per-head figure."
            ),
        ),
        Table(
            "agencies",
            N_("Agencies, this month"),
            [
                Column("agency", N_("Agency")),
                Column("people", N_("People"), "int"),
                Column("cases", N_("Cases held"), "int"),
                Column("allocated", N_("Allocated"), "money"),
                Column("collected", N_("Credited collections"), "money"),
                Column("rate", N_("Recovery rate"), "pct"),
                Column("qa_findings", N_("QA findings"), "int"),
                Column("complaints", N_("Complaints"), "int"),
            ],
            agencies,
            start=m0,
            end=as_of,
            note=N_("Agencies are teams of kind “agency”.")
            if n_teams
            else N_(
                "No agency is set up: agencies appear here once a team of kind “agency” holds placed cases."
            ),
        ),
        Table(
            "contact-funnel",
            N_("Contact funnel, this month"),
            [Column("stage", N_("Stage"), "label"), Column("count", N_("Count"), "int"), *rate_cols],
            [{**r, "stage": STAGE_LABELS[r["stage"]]} for r in contact.to_dicts()],
            start=m0,
            end=as_of,
            note=N_(
                "People's calls and visits (not the system's messages). Connected: somebody answered; "
                "right party: the debtor or a guarantor; kept: the promises judged kept so far."
            ),
        ),
        Table(
            "promise-funnel",
            N_("Promise funnel, promises due this month"),
            [
                Column("stage", N_("Stage"), "label"),
                Column("count", N_("Count"), "int"),
                Column("amount", N_("Amount"), "money"),
                *rate_cols,
            ],
            [{**r, "stage": STAGE_LABELS[r["stage"]]} for r in promise.to_dicts()],
            start=m0,
            end=as_of,
            note=N_("Promises are judged the day after they fall due (兑现率 = kept ÷ judged)."),
        ),
        Table(
            "workload",
            N_("Workload per collector"),
            [
                Column("name", N_("Collector")),
                Column("cases", N_("Cases held"), "int"),
                Column("overdue_amount", N_("Overdue amount held"), "money"),
                Column("open_tasks", N_("Open tasks"), "int"),
                Column("cap", N_("Cap"), "int"),
                Column("load", N_("Share of cap"), "pct"),
            ],
            load.to_dicts(),
            end=as_of,
            total_key="collector_id",
        ),
        Table(
            "coverage",
            N_("Coverage: cases contacted in the last 7 days"),
            [
                Column("name", N_("Collector")),
                Column("cases_held", N_("Cases held"), "int"),
                Column("cases_covered", N_("Cases contacted"), "int"),
                Column("coverage", N_("coverage"), "pct"),
                Column("attempts", N_("Calls"), "int"),
                Column("rpc_rate", N_("Right-party contact rate"), "pct"),
            ],
            coverage_rows,
            start=c0,
            end=as_of,
            total_key="collector_id",
            note=N_("Cases held now that their holder called or visited at least once in the 7 days."),
        ),
    ]


def charts(t: dict[str, Table], fmt: Formats) -> dict[str, Markup]:
    _ = fmt.gettext
    out: dict[str, Markup] = {}
    board = [r for r in t["leaderboard"].rows if r["collections_per_head"] is not None]
    if not any(r["collections_per_head"] for r in board):
        board = []  # nothing credited yet: say so rather than draw empty bars
    out["leaderboard"] = bars(
        "chart-leaderboard",
        [
            Bar(
                f"{r['rank']}. {r['name']}",
                r["collections_per_head"] or 0,
                f"{fmt.money(r['collections_per_head'])} · {_(_W_INDEX)} {fmt.num(r['index'])}",
                target=r["bucket_per_head"],
                target_text=f"{_(_W_BUCKET_PER_HEAD)} {fmt.money(r['bucket_per_head'])}",
                color=PALETTE[2] if (r["index"] or 0) >= 1 else PALETTE[0],
                group=str(r["bucket"]),
            )
            for r in board
        ],
        title=_("Collectors within bucket, this month"),
        axis_label=_(
            "Credited collections per head; the grey track and the tick are the bucket's per-head figure"
        ),
        empty=_("No collection has been credited this month."),
        width=WIDE,
    )
    for key, chart_id, stages, amounts in (
        ("contact-funnel", "chart-contact-funnel", CONTACT_STAGES, False),
        ("promise-funnel", "chart-promise-funnel", PROMISE_STAGES, True),
    ):
        rows = t[key].rows
        out[key] = funnel(
            chart_id,
            [
                Stage(
                    fmt.gettext(r["stage"]),
                    r["count"],
                    fmt.int(r["count"]) + (f" · {fmt.money(r['amount'])}" if amounts else ""),
                    "" if i == 0 else f"{fmt.pct(r['of_previous'])} {_(_W_OF_THE_STAGE_BEFORE)}",
                )
                for i, r in enumerate(rows)
            ],
            title=fmt.gettext(t[key].title),
            empty=_("Nothing in this period."),
        )
        assert len(rows) == len(stages)
    load = [r for r in t["workload"].rows if r["collector_id"] is not None]
    out["workload"] = bars(
        "chart-workload",
        [
            Bar(
                str(r["name"]),
                r["cases"],
                f"{fmt.int(r['cases'])} / {fmt.int(r['cap'])} · {fmt.int(r['open_tasks'])} {_(_W_TASKS)}",
                target=r["cap"],
                target_text=_("Cap"),
            )
            for r in load
        ],
        title=_("Workload per collector"),
        axis_label=_("Cases held; the grey track and the tick are the cap"),
        empty=_("Nobody holds cases."),
    )
    cov = t["coverage"].rows
    out["coverage"] = bars(
        "chart-coverage",
        [
            Bar(
                str(r["name"]) if r["collector_id"] is not None else _("All"),
                r["coverage"] or 0.0,
                f"{fmt.pct(r['coverage'])} · {fmt.int(r['cases_covered'])} / {fmt.int(r['cases_held'])}",
                color=PALETTE[0] if r["collector_id"] is not None else PALETTE[6],
            )
            for r in cov
        ],
        title=_("Coverage: cases contacted in the last 7 days"),
        axis_label=_("Share of the cases held now"),
        empty=_("Nobody holds cases."),
        top_value=1.0,
    )
    agencies = t["agencies"].rows
    out["agencies"] = bars(
        "chart-agencies",
        [
            Bar(str(r["agency"]), r["rate"] or 0.0, f"{fmt.pct(r['rate'])} · {fmt.money(r['collected'])}")
            for r in agencies
        ],
        title=_("Agencies, this month"),
        axis_label=_("Recovery rate of the cases placed this month"),
        empty=_("No agency is set up."),
        top_value=1.0,
        width=WIDE,
    )
    return out
