"""plans, settlements and waivers with their approval (issue 15 item 1): resolutions, their instalments,
hardship evidence, and the documents made for them (agreements, settlement certificates)

No permission is added: who approves is the approval matrix's (versioned configuration, kind
``approval_matrix``); requests use ``case.work``.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resolution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("base", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("product", sa.String(length=50), nullable=False),
        sa.Column("product_type", sa.String(length=30), nullable=False),
        sa.Column("loans", sa.JSON(), nullable=False),
        sa.Column("owed_penalty", sa.BigInteger(), nullable=False),
        sa.Column("owed_fee", sa.BigInteger(), nullable=False),
        sa.Column("owed_interest", sa.BigInteger(), nullable=False),
        sa.Column("owed_principal", sa.BigInteger(), nullable=False),
        sa.Column("waive_penalty", sa.BigInteger(), nullable=False),
        sa.Column("waive_fee", sa.BigInteger(), nullable=False),
        sa.Column("waive_interest", sa.BigInteger(), nullable=False),
        sa.Column("waive_principal", sa.BigInteger(), nullable=False),
        sa.Column("agreed_amount", sa.BigInteger(), nullable=False),
        sa.Column("total_due", sa.BigInteger(), nullable=False),
        sa.Column("instalment_count", sa.Integer(), nullable=False),
        sa.Column("first_due", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("lag_days", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("pack_id", sa.String(length=60), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requester_role", sa.String(length=40), nullable=True),
        sa.Column("team", sa.String(length=80), nullable=True),
        sa.Column("required_role", sa.String(length=40), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("matrix_version", sa.String(length=120), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decider_role", sa.String(length=40), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.Column("approval_basis", sa.String(length=80), nullable=True),
        sa.Column("decided_matrix", sa.String(length=120), nullable=True),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.Column("judged_as_of", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("missed_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_resolution_case_id_collection_case")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["app_user.id"],
            name=op.f("fk_resolution_requested_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution")),
    )
    with op.batch_alter_table("resolution", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resolution_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resolution_decided_at"), ["decided_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_resolution_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_resolution_team"), ["team"], unique=False)

    op.create_table(
        "resolution_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("basis", sa.String(length=20), nullable=True),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("ledger_seq", sa.Integer(), nullable=False),
        sa.Column("facts_sha256", sa.String(length=64), nullable=True),
        sa.Column("facts_seq", sa.Integer(), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["collection_account.id"],
            name=op.f("fk_resolution_document_account_id_collection_account"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_resolution_document_case_id_collection_case")
        ),
        sa.ForeignKeyConstraint(
            ["resolution_id"], ["resolution.id"], name=op.f("fk_resolution_document_resolution_id_resolution")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution_document")),
        sa.UniqueConstraint("number", name=op.f("uq_resolution_document_number")),
    )
    with op.batch_alter_table("resolution_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resolution_document_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resolution_document_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_resolution_document_resolution_id"), ["resolution_id"], unique=False
        )

    op.create_table(
        "resolution_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=300), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("added_by", sa.String(length=120), nullable=False),
        sa.Column("added_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resolution_id"],
            ["resolution.id"],
            name=op.f("fk_resolution_evidence_resolution_id_resolution"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution_evidence")),
    )
    with op.batch_alter_table("resolution_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resolution_evidence_resolution_id"), ["resolution_id"], unique=False
        )

    op.create_table(
        "resolution_instalment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["resolution_id"],
            ["resolution.id"],
            name=op.f("fk_resolution_instalment_resolution_id_resolution"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution_instalment")),
        sa.UniqueConstraint("resolution_id", "seq", name=op.f("uq_resolution_instalment_resolution_id_seq")),
    )
    with op.batch_alter_table("resolution_instalment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resolution_instalment_resolution_id"), ["resolution_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("resolution_instalment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resolution_instalment_resolution_id"))

    op.drop_table("resolution_instalment")
    with op.batch_alter_table("resolution_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resolution_evidence_resolution_id"))

    op.drop_table("resolution_evidence")
    with op.batch_alter_table("resolution_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resolution_document_resolution_id"))
        batch_op.drop_index(batch_op.f("ix_resolution_document_case_id"))
        batch_op.drop_index(batch_op.f("ix_resolution_document_account_id"))

    op.drop_table("resolution_document")
    with op.batch_alter_table("resolution", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resolution_team"))
        batch_op.drop_index(batch_op.f("ix_resolution_status"))
        batch_op.drop_index(batch_op.f("ix_resolution_decided_at"))
        batch_op.drop_index(batch_op.f("ix_resolution_case_id"))

    op.drop_table("resolution")
