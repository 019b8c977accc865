"""write-back instructions to the core system (issue 15 item 2)

Table ``writeback_instruction``: one instruction per (kind, source, loan) with its stable id, payload,
status (pending → sent → confirmed | rejected | stale), the core system's acknowledgement and the
extract that confirmed it. No new permission: the page and API use ``report.view``.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "writeback_instruction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instruction_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_ref", sa.String(length=120), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=True),
        sa.Column("sent_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmed_extract", sa.Date(), nullable=True),
        sa.Column("ack_status", sa.String(length=20), nullable=True),
        sa.Column("acked_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("stale_on", sa.Date(), nullable=True),
        sa.Column("outbox_message_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_writeback_instruction")),
        sa.UniqueConstraint("instruction_id", name=op.f("uq_writeback_instruction_instruction_id")),
        sa.UniqueConstraint("kind", "source_ref", "loan_id", name="uq_writeback_source"),
    )
    with op.batch_alter_table("writeback_instruction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_writeback_instruction_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_writeback_instruction_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_writeback_instruction_business_date"), ["business_date"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_writeback_instruction_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("writeback_instruction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_writeback_instruction_status"))
        batch_op.drop_index(batch_op.f("ix_writeback_instruction_business_date"))
        batch_op.drop_index(batch_op.f("ix_writeback_instruction_loan_id"))
        batch_op.drop_index(batch_op.f("ix_writeback_instruction_kind"))
    op.drop_table("writeback_instruction")
