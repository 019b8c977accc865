"""channel callbacks: provider receipts and replies applied once per (channel, provider id)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_callback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("provider_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_callback")),
        sa.UniqueConstraint("channel", "provider_id", name="uq_channel_callback_channel_provider_id"),
    )


def downgrade() -> None:
    op.drop_table("channel_callback")
