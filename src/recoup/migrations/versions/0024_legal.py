"""legal matters, limitation periods, write-off and debt sale (issue 15 items 5, 7)

Tables: ``legal_matter`` with its accounts, stage moves, costs, documents (references) and deadlines;
``limitation_event`` (restart events recorded by hand) and ``limitation_status`` (each debt's computed
limitation date); ``write_off`` and ``write_off_account``; ``debt_sale`` and ``debt_sale_account``.
No new permission: legal.manage, case.legal and plan.approve exist.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "debt_sale",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer", sa.String(length=200), nullable=False),
        sa.Column("buyer_contact", sa.String(length=200), nullable=False),
        sa.Column("cutoff_date", sa.Date(), nullable=False),
        sa.Column("transfer_date", sa.Date(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column("transferred_by", sa.String(length=120), nullable=True),
        sa.Column("transferred_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rule_version", sa.String(length=40), nullable=True),
        sa.Column("pack_manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("pack_path", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["app_user.id"], name=op.f("fk_debt_sale_requested_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debt_sale")),
    )
    with op.batch_alter_table("debt_sale", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_debt_sale_status"), ["status"], unique=False)

    op.create_table(
        "legal_matter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("stage_since", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("court", sa.String(length=200), nullable=True),
        sa.Column("court_case_number", sa.String(length=100), nullable=True),
        sa.Column("claim_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("result", sa.String(length=30), nullable=True),
        sa.Column("recovered_amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("opened_by", sa.String(length=120), nullable=False),
        sa.Column("opened_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("limitation_date", sa.Date(), nullable=True),
        sa.Column("rule_version", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_legal_matter_case_id_collection_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_matter")),
    )
    with op.batch_alter_table("legal_matter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_matter_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_legal_matter_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_legal_matter_status"), ["status"], unique=False)

    op.create_table(
        "write_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("evidence_ref", sa.String(length=300), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column("written_off_on", sa.Date(), nullable=True),
        sa.Column("rule_version", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_write_off_case_id_collection_case")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["app_user.id"], name=op.f("fk_write_off_requested_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_off")),
    )
    with op.batch_alter_table("write_off", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_write_off_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_write_off_status"), ["status"], unique=False)

    op.create_table(
        "debt_sale_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("borrower_key", sa.String(length=64), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("hold_id", sa.Integer(), nullable=True),
        sa.Column("notice_message_id", sa.String(length=100), nullable=True),
        sa.Column("notice_status", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["collection_account.id"],
            name=op.f("fk_debt_sale_account_account_id_collection_account"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_debt_sale_account_case_id_collection_case")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["contact_hold.id"], name=op.f("fk_debt_sale_account_hold_id_contact_hold")
        ),
        sa.ForeignKeyConstraint(
            ["sale_id"], ["debt_sale.id"], name=op.f("fk_debt_sale_account_sale_id_debt_sale")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debt_sale_account")),
        sa.UniqueConstraint("sale_id", "account_id", name=op.f("uq_debt_sale_account_sale_id_account_id")),
    )
    with op.batch_alter_table("debt_sale_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_debt_sale_account_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_debt_sale_account_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_debt_sale_account_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_debt_sale_account_sale_id"), ["sale_id"], unique=False)

    op.create_table(
        "legal_cost",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("incurred_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["matter_id"], ["legal_matter.id"], name=op.f("fk_legal_cost_matter_id_legal_matter")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_cost")),
    )
    with op.batch_alter_table("legal_cost", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_cost_matter_id"), ["matter_id"], unique=False)

    op.create_table(
        "legal_deadline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.String(length=30), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_by", sa.String(length=120), nullable=True),
        sa.Column("done_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["matter_id"], ["legal_matter.id"], name=op.f("fk_legal_deadline_matter_id_legal_matter")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_deadline")),
    )
    with op.batch_alter_table("legal_deadline", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_deadline_matter_id"), ["matter_id"], unique=False)
        batch_op.create_index("ix_legal_deadline_open", ["status", "due_on"], unique=False)

    op.create_table(
        "legal_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["matter_id"], ["legal_matter.id"], name=op.f("fk_legal_document_matter_id_legal_matter")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_document")),
    )
    with op.batch_alter_table("legal_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_document_matter_id"), ["matter_id"], unique=False)

    op.create_table(
        "legal_matter_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["collection_account.id"],
            name=op.f("fk_legal_matter_account_account_id_collection_account"),
        ),
        sa.ForeignKeyConstraint(
            ["matter_id"], ["legal_matter.id"], name=op.f("fk_legal_matter_account_matter_id_legal_matter")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_matter_account")),
        sa.UniqueConstraint(
            "matter_id", "account_id", name=op.f("uq_legal_matter_account_matter_id_account_id")
        ),
    )
    with op.batch_alter_table("legal_matter_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_matter_account_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_legal_matter_account_matter_id"), ["matter_id"], unique=False)

    op.create_table(
        "legal_stage_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(length=30), nullable=True),
        sa.Column("to_stage", sa.String(length=30), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("rule_version", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["matter_id"], ["legal_matter.id"], name=op.f("fk_legal_stage_move_matter_id_legal_matter")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_stage_move")),
    )
    with op.batch_alter_table("legal_stage_move", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_stage_move_matter_id"), ["matter_id"], unique=False)

    op.create_table(
        "limitation_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("evidence_ref", sa.String(length=300), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["collection_account.id"],
            name=op.f("fk_limitation_event_account_id_collection_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limitation_event")),
    )
    with op.batch_alter_table("limitation_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_limitation_event_account_id"), ["account_id"], unique=False)

    op.create_table(
        "limitation_status",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("borrower_key", sa.String(length=64), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("last_event_on", sa.Date(), nullable=False),
        sa.Column("last_event_kind", sa.String(length=30), nullable=False),
        sa.Column("limitation_date", sa.Date(), nullable=False),
        sa.Column("time_barred", sa.Boolean(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["collection_account.id"],
            name=op.f("fk_limitation_status_account_id_collection_account"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_limitation_status")),
    )
    with op.batch_alter_table("limitation_status", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_limitation_status_borrower_key"), ["borrower_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_limitation_status_limitation_date"), ["limitation_date"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_limitation_status_loan_id"), ["loan_id"], unique=False)

    op.create_table(
        "write_off_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("write_off_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["collection_account.id"],
            name=op.f("fk_write_off_account_account_id_collection_account"),
        ),
        sa.ForeignKeyConstraint(
            ["write_off_id"], ["write_off.id"], name=op.f("fk_write_off_account_write_off_id_write_off")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_off_account")),
        sa.UniqueConstraint(
            "write_off_id", "account_id", name=op.f("uq_write_off_account_write_off_id_account_id")
        ),
    )
    with op.batch_alter_table("write_off_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_write_off_account_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_write_off_account_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_write_off_account_write_off_id"), ["write_off_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("write_off_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_write_off_account_write_off_id"))
        batch_op.drop_index(batch_op.f("ix_write_off_account_loan_id"))
        batch_op.drop_index(batch_op.f("ix_write_off_account_account_id"))

    op.drop_table("write_off_account")
    with op.batch_alter_table("limitation_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limitation_status_loan_id"))
        batch_op.drop_index(batch_op.f("ix_limitation_status_limitation_date"))
        batch_op.drop_index(batch_op.f("ix_limitation_status_borrower_key"))

    op.drop_table("limitation_status")
    with op.batch_alter_table("limitation_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limitation_event_account_id"))

    op.drop_table("limitation_event")
    with op.batch_alter_table("legal_stage_move", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_stage_move_matter_id"))

    op.drop_table("legal_stage_move")
    with op.batch_alter_table("legal_matter_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_matter_account_matter_id"))
        batch_op.drop_index(batch_op.f("ix_legal_matter_account_account_id"))

    op.drop_table("legal_matter_account")
    with op.batch_alter_table("legal_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_document_matter_id"))

    op.drop_table("legal_document")
    with op.batch_alter_table("legal_deadline", schema=None) as batch_op:
        batch_op.drop_index("ix_legal_deadline_open")
        batch_op.drop_index(batch_op.f("ix_legal_deadline_matter_id"))

    op.drop_table("legal_deadline")
    with op.batch_alter_table("legal_cost", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_cost_matter_id"))

    op.drop_table("legal_cost")
    with op.batch_alter_table("debt_sale_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debt_sale_account_sale_id"))
        batch_op.drop_index(batch_op.f("ix_debt_sale_account_loan_id"))
        batch_op.drop_index(batch_op.f("ix_debt_sale_account_case_id"))
        batch_op.drop_index(batch_op.f("ix_debt_sale_account_account_id"))

    op.drop_table("debt_sale_account")
    with op.batch_alter_table("write_off", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_write_off_status"))
        batch_op.drop_index(batch_op.f("ix_write_off_case_id"))

    op.drop_table("write_off")
    with op.batch_alter_table("legal_matter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_matter_status"))
        batch_op.drop_index(batch_op.f("ix_legal_matter_stage"))
        batch_op.drop_index(batch_op.f("ix_legal_matter_case_id"))

    op.drop_table("legal_matter")
    with op.batch_alter_table("debt_sale", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debt_sale_status"))

    op.drop_table("debt_sale")
