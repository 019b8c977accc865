"""case_lifecycle: the case's state, its deadline, and the case_transition history

Existing open cases start in ``intake`` (nobody has allocated them yet); closed ones become ``closed``
with their close reason mapped to the lifecycle's (``paid_off`` → ``paid``, ``cured`` stays).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Deadlines at migration time (intake 1 day, closed 90 days), frozen here on purpose.
_INTAKE_DAYS = 1
_CLOSED_DAYS = 90


def upgrade() -> None:
    with op.batch_alter_table("collection_case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("state_since", recoup.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("state_due", sa.Date(), nullable=True))

    case = sa.table(
        "collection_case",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("state", sa.String()),
        sa.column("opened_on", sa.Date()),
        sa.column("closed_on", sa.Date()),
        sa.column("close_reason", sa.String()),
        sa.column("state_since", recoup.db.UTCDateTime()),
        sa.column("state_due", sa.Date()),
    )
    conn = op.get_bind()
    conn.execute(sa.update(case).where(case.c.close_reason == "paid_off").values(close_reason="paid"))
    # one statement per day (few), portable date arithmetic done here rather than in SQL
    opened = conn.execute(sa.select(case.c.opened_on).where(case.c.status != "closed").distinct())
    for (day,) in opened.all():
        conn.execute(
            sa.update(case)
            .where(case.c.status != "closed", case.c.opened_on == day)
            .values(
                state="intake",
                state_since=dt.datetime.combine(day, dt.time(), dt.UTC),
                state_due=day + dt.timedelta(days=_INTAKE_DAYS),
            )
        )
    closed = conn.execute(
        sa.select(case.c.closed_on, case.c.opened_on).where(case.c.status == "closed").distinct()
    )
    for closed_on, opened_on in closed.all():
        day = closed_on or opened_on
        conn.execute(
            sa.update(case)
            .where(
                case.c.status == "closed",
                case.c.opened_on == opened_on,
                case.c.closed_on.is_(None) if closed_on is None else case.c.closed_on == closed_on,
            )
            .values(
                state="closed",
                state_since=dt.datetime.combine(day, dt.time(), dt.UTC),
                state_due=day + dt.timedelta(days=_CLOSED_DAYS),
            )
        )

    with op.batch_alter_table("collection_case", schema=None) as batch_op:
        batch_op.alter_column("state", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column(
            "state_since", existing_type=recoup.db.UTCDateTime(timezone=True), nullable=False
        )
        batch_op.create_index(batch_op.f("ix_collection_case_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_collection_case_state_due"), ["state_due"], unique=False)

    op.create_table(
        "case_transition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("close_reason", sa.String(length=30), nullable=True),
        sa.Column("at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_case_transition_case_id_collection_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transition")),
    )
    with op.batch_alter_table("case_transition", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_transition_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_transition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_transition_case_id"))
    op.drop_table("case_transition")
    op.execute("UPDATE collection_case SET close_reason = 'paid_off' WHERE close_reason = 'paid'")
    with op.batch_alter_table("collection_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_case_state_due"))
        batch_op.drop_index(batch_op.f("ix_collection_case_state"))
        batch_op.drop_column("state_due")
        batch_op.drop_column("state_since")
        batch_op.drop_column("state")
