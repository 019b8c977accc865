"""complaints register (投诉登记), the attempts and timeline of each complaint, and the lifting of contact
holds (issue 15 item 8)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complaint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("borrower_key", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("agency", sa.String(length=64), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("extended_on", sa.Date(), nullable=True),
        sa.Column("extension_reason", sa.String(length=500), nullable=True),
        sa.Column("extended_by", sa.String(length=120), nullable=True),
        sa.Column("handler_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("root_cause", sa.String(length=30), nullable=True),
        sa.Column("root_cause_note", sa.String(length=1000), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("closed_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=120), nullable=True),
        sa.Column("hold_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_complaint_case_id_collection_case")
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["app_user.id"], name=op.f("fk_complaint_collector_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["handler_id"], ["app_user.id"], name=op.f("fk_complaint_handler_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["contact_hold.id"], name=op.f("fk_complaint_hold_id_contact_hold")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        for column in (
            "agency",
            "borrower_key",
            "case_id",
            "collector_id",
            "handler_id",
            "received_on",
            "status",
        ):
            batch_op.create_index(batch_op.f(f"ix_complaint_{column}"), [column], unique=False)

    op.create_table(
        "complaint_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("linked_by", sa.String(length=120), nullable=False),
        sa.Column("linked_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["contact_attempt.id"],
            name=op.f("fk_complaint_attempt_attempt_id_contact_attempt"),
        ),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaint.id"],
            name=op.f("fk_complaint_attempt_complaint_id_complaint"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_attempt")),
        sa.UniqueConstraint("complaint_id", "attempt_id", name="uq_complaint_attempt"),
    )
    with op.batch_alter_table("complaint_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_attempt_attempt_id"), ["attempt_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_attempt_complaint_id"), ["complaint_id"], unique=False)

    op.create_table(
        "complaint_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaint.id"],
            name=op.f("fk_complaint_event_complaint_id_complaint"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_event")),
    )
    with op.batch_alter_table("complaint_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_event_complaint_id"), ["complaint_id"], unique=False)

    op.create_table(
        "contact_hold_lift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["contact_hold.id"], name=op.f("fk_contact_hold_lift_hold_id_contact_hold")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_hold_lift")),
    )
    with op.batch_alter_table("contact_hold_lift", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_hold_lift_hold_id"), ["hold_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_hold_lift_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact_hold_lift", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_hold_lift_status"))
        batch_op.drop_index(batch_op.f("ix_contact_hold_lift_hold_id"))
    op.drop_table("contact_hold_lift")
    with op.batch_alter_table("complaint_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_event_complaint_id"))
    op.drop_table("complaint_event")
    with op.batch_alter_table("complaint_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_attempt_complaint_id"))
        batch_op.drop_index(batch_op.f("ix_complaint_attempt_attempt_id"))
    op.drop_table("complaint_attempt")
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        for column in (
            "status",
            "received_on",
            "handler_id",
            "collector_id",
            "case_id",
            "borrower_key",
            "agency",
        ):
            batch_op.drop_index(batch_op.f(f"ix_complaint_{column}"))
    op.drop_table("complaint")
