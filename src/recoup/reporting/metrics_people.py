"""Collector KPIs and incentive pay, exactly as defined in ``METRICS.md`` (people, contact and promises).

Pure functions, frames in → frames out, vectorised Polars; no I/O. Money is Int64 minor units (fen); rates
are Float64 and null where their denominator is 0. Re-exported by :mod:`recoup.reporting.metrics`, so
every metric is still reached from one module.

Conventions (choices METRICS.md leaves open)
--------------------------------------------
- **Period**: every dated row counts when its date is in ``[start, end]``, both ends included.
- **Grouping**: ``by`` (default ``("collector_id",)``) names the group columns. Every input frame carries
  ``collector_id`` and every ``by`` column; one row per group appearing in *any* input (dated or not, in
  the period or not), counts 0 where the group has none.
- **Attempts**: channel ``portal`` is the borrower coming to us, not a contact attempt (``contact/vocab``),
  and is ignored. A *blocked* attempt (the contact policy stopped it) never reached anyone: it is counted in
  ``blocked_attempts`` only, and neither in ``attempts`` (the right-party-contact denominator) nor in
  coverage. ``rpc`` = attempts not blocked whose ``right_party`` is true (the debtor or a guarantor was
  reached — the contact log sets it from the disposition).
- **Coverage (覆盖率)**: a held case is covered when the *holder* (same ``collector_id`` and group) made
  at least one non-blocked attempt on it in the period.
- **Promises**: statuses are those of :mod:`recoup.cases.promises`, judged at T+1 — callers pass statuses
  judged as of ``end`` + 1 day. ``not_counted`` (third-party) promises count nowhere. ``promises_made``
  counts every other promise made in the period, ``rescheduled`` ones included (the debtor did make it).
  Promises *due* in the period are the judged ones (``kept``, ``partially_kept``, ``broken``); ``pending``
  (judged too early), ``rescheduled`` and ``not_counted`` are not due. Kept = status ``kept``; by amount
  Σ min(kept_amount, amount) ÷ Σ amount.
- **Recovery rate (催回率)**: credited collections in the period ÷ Σ ``allocated_amount`` of the cases held.
  It is METRICS.md's allocation-cohort figure when ``[start, end]`` runs from the cohort's allocation and
  the credit rules (回款归属) credit the holder only between allocation and exit.
- **Collections per head (人均回款)**: Int64 minor units, collected ÷ FTE rounded half away from zero (as
  :func:`recoup.money.round_half_up`); null when the FTE is 0.
- **QA**: ``qa_major`` counts findings of severity ``major``, ``critical`` or ``red_line`` (the project's
  most severe level).
- **Totals**: the overall row (every ``by`` column null) is computed from the pooled counts and amounts,
  never as a mean of the groups' rates.
- **Incentive pay**: integer arithmetic in minor units; each component is ``amount × bp // 10000``,
  rounded *down* separately (base, bonus, penalty), then pay = max(base + bonus − penalty, 0). A net
  negative ``collected`` (reversals) earns nothing. A vetoed collector's components are still shown.

Where things are: the vocabulary and input checks in :mod:`~recoup.reporting.metrics_people_checks`, the
KPIs in :mod:`~recoup.reporting.metrics_people_kpis`, incentive pay in
:mod:`~recoup.reporting.metrics_people_pay`. This module re-exports them.
"""

from recoup.reporting.metrics_people_checks import (
    JUDGED_STATUSES,
    KPI_COLUMNS,
    MAJOR_SEVERITIES,
    PROMISE_STATUSES,
)
from recoup.reporting.metrics_people_kpis import collections_per_head_by_bucket, collector_kpis
from recoup.reporting.metrics_people_pay import (
    DEFAULT_INCENTIVE,
    IncentiveRules,
    IncentiveTier,
    incentive_pay,
    load_incentive_rules,
)

__all__ = [
    "DEFAULT_INCENTIVE",
    "JUDGED_STATUSES",
    "KPI_COLUMNS",
    "MAJOR_SEVERITIES",
    "PROMISE_STATUSES",
    "IncentiveRules",
    "IncentiveTier",
    "collections_per_head_by_bucket",
    "collector_kpis",
    "incentive_pay",
    "load_incentive_rules",
]
