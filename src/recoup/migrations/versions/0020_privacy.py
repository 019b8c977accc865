"""privacy: export requests (four-eyes approval), and the new permissions granted to existing default roles

Existing databases keep the permissions their roles were created with (``recoup user`` only creates the
roles that are missing), so this migration also grants the permissions introduced with it — and
``pii.unmask`` for the roles that now hold it by default — to roles of the default names that lack
them. Custom roles are left alone. The grants are written out here (not read from the code), so the
migration means the same thing whenever it runs.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Role name → permissions this revision adds to it (when the role exists and lacks them).
GRANTS: dict[str, tuple[str, ...]] = {
    "manager": (
        "pii.review",
        "export.request",
        "export.approve",
        "api.docs",
        "admin.view",
        "admin.activate",
    ),
    "analyst": ("export.request", "api.docs", "admin.view"),
    "team_lead": ("pii.unmask", "export.request"),
    "field_agent": ("pii.unmask",),
    "legal": ("pii.unmask", "export.request"),
    "compliance": ("pii.review", "export.request", "export.approve", "admin.view"),
    "auditor": ("pii.review", "admin.view"),
}
#: Permissions that did not exist before this revision (removed again on downgrade).
NEW = ("pii.review", "export.request", "export.approve", "api.docs", "admin.view", "admin.activate")

_role = sa.table(
    "role",
    sa.column("id", sa.Integer()),
    sa.column("name", sa.String()),
    sa.column("permissions", sa.JSON()),
)


def _regrant(change: dict[str, tuple[str, ...]], *, add: bool) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_role.c.id, _role.c.name, _role.c.permissions)).all()
    for role_id, name, perms in rows:
        current = list(perms or [])
        wanted = change.get(name, ()) if add else NEW
        if add:
            updated = current + [p for p in wanted if p not in current]
        else:
            updated = [p for p in current if p not in wanted]
        if updated != current:
            bind.execute(sa.update(_role).where(_role.c.id == role_id).values(permissions=updated))


def upgrade() -> None:
    op.create_table(
        "export_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("scope", sa.String(length=30), nullable=False),
        sa.Column("file_format", sa.String(length=10), nullable=False),
        sa.Column("reason_code", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("unmasked", sa.Boolean(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.Column("downloaded_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["app_user.id"],
            name=op.f("fk_export_request_requested_by_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_request")),
    )
    with op.batch_alter_table("export_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_export_request_requested_by_id"), ["requested_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_export_request_status"), ["status"], unique=False)
    _regrant(GRANTS, add=True)


def downgrade() -> None:
    _regrant({}, add=False)
    with op.batch_alter_table("export_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_request_status"))
        batch_op.drop_index(batch_op.f("ix_export_request_requested_by_id"))
    op.drop_table("export_request")
