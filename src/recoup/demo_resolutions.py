"""The demo's plans and settlements (issue 15 item 10): what the simulated collectors offered on their
calls, what borrowers accepted, and how the cycle has judged them since (honoured, broken, lapsed,
still running) — read from the resolutions register, the way a manager's report would."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from sqlalchemy import func, select

from recoup.i18n import _

__all__ = ["resolutions_table"]


def resolutions_table(engine: Any, floor_total: Any) -> tuple[str, Table]:
    """A line on the floor's offers and a table of resolutions by kind × status (counts, agreed sums)."""
    from recoup.db import session_scope
    from recoup.money import format_amount
    from recoup.resolutions.models import Resolution

    with session_scope(engine) as session:
        rows = session.execute(
            select(Resolution.kind, Resolution.status, func.count(), func.sum(Resolution.agreed_amount))
            .group_by(Resolution.kind, Resolution.status)
            .order_by(Resolution.kind, Resolution.status)
        ).all()
    line = _(
        "Plans and settlements: {offers} offers on calls ({settle} of them settlements, offered by the "
        "collectors on M4+ cases and by the agencies and approved by the manager); borrowers accepted "
        "{plans} plans and {settlements} settlements, judged by the cycle from later extracts."
    ).format(
        offers=f"{floor_total.offers:,}",
        settle=f"{floor_total.settle_offers:,}",
        plans=f"{floor_total.plans:,}",
        settlements=f"{floor_total.settlements:,}",
    )
    labels = {
        "plan": _("Plan"),
        "settlement": _("Settlement"),
        "waiver": _("Waiver"),
        "active": _("running"),
        "honoured": _("honoured"),
        "broken": _("broken"),
        "lapsed": _("lapsed"),
        "pending": _("awaiting approval"),
        "rejected": _("rejected"),
        "withdrawn": _("withdrawn"),
    }
    table = Table(title=_("Plans and settlements by outcome"), caption="recoup resolution list")
    for title, justify in (
        (_("Kind"), "left"),
        (_("Outcome"), "left"),
        (_("Count"), "right"),
        (_("Agreed"), "right"),
    ):
        table.add_column(title, justify=justify)  # type: ignore[arg-type]
    for kind, status, count, agreed in rows:
        table.add_row(
            labels.get(kind, kind),
            labels.get(status, status),
            f"{count:,}",
            format_amount(int(agreed or 0), "CNY"),
        )
    return line, table
