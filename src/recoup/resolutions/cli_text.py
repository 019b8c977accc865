"""What ``recoup resolution`` prints for people, in the CLI's language (:mod:`recoup.i18n`): a request's
line, the list's table and the approval matrix. ``--json`` output is built in :mod:`recoup.resolutions.cli`
and never translated."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.table import Table
from rich.text import Text

from recoup.i18n import _, cli_locale, ngettext
from recoup.labels_domain import resolution_kind_label, resolution_status_label, role_label
from recoup.resolutions.matrix import Matrix
from recoup.resolutions.models import Resolution

__all__ = ["matrix_lines", "resolution_line", "resolutions_table"]


def resolution_line(res: Resolution, fmt: Callable[[int], str]) -> str:
    """One request on a line: kind, state, amounts, deadline and who must approve it."""
    instalments = ngettext("{n} instalment", "{n} instalments", res.instalment_count).format(
        n=res.instalment_count
    )
    return _(
        "{kind} #{id} on case {case}: {status}; agreed {agreed} in {instalments} by {deadline}; "
        "waived {waived}; needs {role} ({rules}; {version})"
    ).format(
        kind=resolution_kind_label(res.kind),
        id=res.id,
        case=res.case_id,
        status=resolution_status_label(res.status),
        agreed=fmt(res.agreed_amount),
        instalments=instalments,
        deadline=res.deadline,
        waived=fmt(res.waived_total),
        role=role_label(res.required_role),
        rules=", ".join(res.rules) or _("no rule"),
        version=res.matrix_version,
    )


def resolutions_table(rows: Sequence[Resolution], fmt: Callable[[int], str]) -> Table:
    """``recoup resolution list``'s table."""
    table = Table(title=_("Plans, waivers and settlements"))
    heads = (_("Case"), _("Kind"), _("Status"), _("Agreed"), _("Waived"), _("Due by"), _("Needs"))
    for col in ("ID", *heads, _("Decided by")):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.id),
            str(r.case_id),
            resolution_kind_label(r.kind),
            resolution_status_label(r.status),
            fmt(r.agreed_amount),
            fmt(r.waived_total),
            str(r.deadline),
            role_label(r.required_role),
            Text(r.decided_by or "—"),
        )
    return table


def matrix_lines(m: Matrix) -> list[str]:
    """``recoup resolution matrix show``: the ladder, each rule row and each pre-approved pack."""
    lines = [
        _("approval matrix {version}: ladder {ladder}; request only: {request_only}").format(
            version=m.label,
            ladder=" < ".join(role_label(r) for r in m.ladder),
            request_only=", ".join(role_label(r) for r in m.request_only),
        )
    ]
    for kind, rows in (("waiver", m.waiver_table.rows), ("plan", m.plan_table.rows)):
        for row in rows:
            lines.append(
                f"  {resolution_kind_label(kind)} {row.id}: {row.when} → {role_label(row.then['role'])}"
            )
    for p in m.packs:
        title = p.title[0] if cli_locale() == "en" else p.title[1]  # titles are [English, 中文]
        kind = resolution_kind_label(p.kind)
        lines.append("  " + _("pack {id} ({kind}): {title}").format(id=p.id, kind=kind, title=title))
    return lines
