"""cycle_run records the manifest each step read

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before this revision keep NULL: they count as done whatever the manifest.
    with op.batch_alter_table("cycle_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manifest_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cycle_run", schema=None) as batch_op:
        batch_op.drop_column("manifest_id")
