"""collateral and disposal (issue 15 item 6)

Tables: ``collateral_item`` with its ``collateral_valuation`` history, ``collateral_repossession`` and
``collateral_disposal`` (four-eyes approval, proceeds, costs, the net recovery applied). No new permission:
legal.manage and plan.approve exist.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "collateral_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collateral_item")),
        sa.UniqueConstraint("external_id", name=op.f("uq_collateral_item_external_id")),
    )
    with op.batch_alter_table("collateral_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collateral_item_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_collateral_item_status"), ["status"], unique=False)

    op.create_table(
        "collateral_disposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reserve_price", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column("disposed_on", sa.Date(), nullable=True),
        sa.Column("buyer", sa.String(length=200), nullable=True),
        sa.Column("proceeds", sa.BigInteger(), nullable=False),
        sa.Column("costs", sa.BigInteger(), nullable=False),
        sa.Column("net_recovered", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=True),
        sa.Column("completed_by", sa.String(length=120), nullable=True),
        sa.Column("completed_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["collateral_item.id"], name=op.f("fk_collateral_disposal_item_id_collateral_item")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["app_user.id"], name=op.f("fk_collateral_disposal_requested_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collateral_disposal")),
    )
    with op.batch_alter_table("collateral_disposal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collateral_disposal_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_collateral_disposal_status"), ["status"], unique=False)

    op.create_table(
        "collateral_repossession",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("repossessed_on", sa.Date(), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("costs", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["collateral_item.id"],
            name=op.f("fk_collateral_repossession_item_id_collateral_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collateral_repossession")),
        sa.UniqueConstraint("item_id", name=op.f("uq_collateral_repossession_item_id")),
    )
    op.create_table(
        "collateral_valuation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("valued_on", sa.Date(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["collateral_item.id"], name=op.f("fk_collateral_valuation_item_id_collateral_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collateral_valuation")),
        sa.UniqueConstraint(
            "item_id", "valued_on", "source", name=op.f("uq_collateral_valuation_item_id_valued_on_source")
        ),
    )
    with op.batch_alter_table("collateral_valuation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collateral_valuation_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("collateral_valuation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collateral_valuation_item_id"))

    op.drop_table("collateral_valuation")
    op.drop_table("collateral_repossession")
    with op.batch_alter_table("collateral_disposal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collateral_disposal_status"))
        batch_op.drop_index(batch_op.f("ix_collateral_disposal_item_id"))

    op.drop_table("collateral_disposal")
    with op.batch_alter_table("collateral_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collateral_item_status"))
        batch_op.drop_index(batch_op.f("ix_collateral_item_loan_id"))

    op.drop_table("collateral_item")
