"""The cycle's decision tables as versioned configuration.

On first use the defaults are saved as version 1 (``config_version`` kind ``decision_table``); an
operator saves a new version to change a table, and every cycle run records the versions it used.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from recoup import rules
from recoup.cases.tables import CASE_GRADE
from recoup.configs import service as configs
from recoup.delinquency import tables
from recoup.scoring.segments import SEGMENTS

KIND = "decision_table"
DEFAULTS: dict[str, dict[str, Any]] = {
    "bucket": tables.BUCKETS,
    "loan_class": tables.LOAN_CLASS,
    "transition": tables.TRANSITION,
    "case_grade": CASE_GRADE,
    "segment": SEGMENTS,
}


def current_tables(*, session: Session) -> dict[str, tuple[rules.DecisionTable, int]]:
    """name → (validated table, stored version), saving the defaults where nothing is stored yet."""
    out: dict[str, tuple[rules.DecisionTable, int]] = {}
    for name, default in DEFAULTS.items():
        row = configs.get_latest(KIND, name, session=session, missing_ok=True)
        if row is None:
            row = configs.do_save_version(KIND, name, default, session=session, comment="default")
        out[name] = (rules.load_table(row.payload), row.version)
    return out


def do_save_table(data: dict[str, Any], *, session: Session, created_by: str = "system") -> int:
    """Validate and store a new version of a decision table; returns its version number."""
    table = rules.load_table(data)
    if table.name not in DEFAULTS:
        raise rules.RuleTableError(f"unknown cycle table {table.name!r}; one of {', '.join(DEFAULTS)}")
    row = configs.do_save_version(
        KIND, table.name, table.model_dump(mode="json"), session=session, created_by=created_by
    )
    return row.version
