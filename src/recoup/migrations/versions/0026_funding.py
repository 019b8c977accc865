"""funding partners and guarantor payouts (issue 15 item 4)

Tables: ``funding_partner`` (the register: kind, waiver authority, share of recoveries),
``guarantor_payout`` (代偿) and ``loan_creditor`` (each loan's creditor over time). No new permission.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "funding_partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("permits_waivers", sa.Boolean(), nullable=False),
        sa.Column("waiver_limit", sa.BigInteger(), nullable=True),
        sa.Column("waiver_max_bp", sa.Integer(), nullable=True),
        sa.Column("recovery_share_bp", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_partner")),
        sa.UniqueConstraint("code", name=op.f("uq_funding_partner_code")),
    )
    op.create_table(
        "guarantor_payout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("guarantor", sa.String(length=100), nullable=False),
        sa.Column("previous_creditor", sa.String(length=100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guarantor_payout")),
    )
    with op.batch_alter_table("guarantor_payout", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_guarantor_payout_guarantor"), ["guarantor"], unique=False)
        batch_op.create_index(batch_op.f("ix_guarantor_payout_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_guarantor_payout_paid_on"), ["paid_on"], unique=False)

    op.create_table(
        "loan_creditor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("creditor", sa.String(length=100), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("payout_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["guarantor_payout.id"], name=op.f("fk_loan_creditor_payout_id_guarantor_payout")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_creditor")),
        sa.UniqueConstraint(
            "loan_id", "since", "creditor", name=op.f("uq_loan_creditor_loan_id_since_creditor")
        ),
    )
    with op.batch_alter_table("loan_creditor", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_creditor_creditor"), ["creditor"], unique=False)
        batch_op.create_index(batch_op.f("ix_loan_creditor_loan_id"), ["loan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loan_creditor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_creditor_loan_id"))
        batch_op.drop_index(batch_op.f("ix_loan_creditor_creditor"))

    op.drop_table("loan_creditor")
    with op.batch_alter_table("guarantor_payout", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guarantor_payout_paid_on"))
        batch_op.drop_index(batch_op.f("ix_guarantor_payout_loan_id"))
        batch_op.drop_index(batch_op.f("ix_guarantor_payout_guarantor"))

    op.drop_table("guarantor_payout")
    op.drop_table("funding_partner")
