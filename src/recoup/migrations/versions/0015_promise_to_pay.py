"""promise_to_pay: promises to pay (承诺还款) recorded on a case, and their judged status

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promise_to_pay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("made_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("by", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("kept_amount", sa.BigInteger(), nullable=False),
        sa.Column("recording_ref", sa.String(length=200), nullable=True),
        sa.Column("made_by", sa.String(length=120), nullable=False),
        sa.Column("judged_as_of", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_promise_to_pay_case_id_collection_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promise_to_pay")),
    )
    with op.batch_alter_table("promise_to_pay", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_promise_to_pay_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_promise_to_pay_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("promise_to_pay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promise_to_pay_status"))
        batch_op.drop_index(batch_op.f("ix_promise_to_pay_case_id"))
    op.drop_table("promise_to_pay")
