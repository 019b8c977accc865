"""agencies (委外): the register (agencies, contracts, yearly reviews, staff and training), monthly shares,
placement batches and placements, and the monthly commission statements (issue 15 item 3)

No permission is added: the routes use ``agency.manage`` (managers) and the agency users' ``case.view`` /
``case.work``.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recoup.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "placement_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("bands", sa.JSON(), nullable=False),
        sa.Column("shares", sa.JSON(), nullable=False),
        sa.Column("notice_required", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placement_batch")),
    )
    with op.batch_alter_table("placement_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_placement_batch_as_of"), ["as_of"], unique=False)

    op.create_table(
        "agency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("whitelisted_on", sa.Date(), nullable=True),
        sa.Column("review_due", sa.Date(), nullable=True),
        sa.Column("pipl_contract", sa.Boolean(), nullable=False),
        sa.Column("pipl_contract_ref", sa.String(length=100), nullable=True),
        sa.Column("pipl_signed_on", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_agency_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
        sa.UniqueConstraint("code", name=op.f("uq_agency_code")),
        sa.UniqueConstraint("team_id", name=op.f("uq_agency_team_id")),
    )
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_status"), ["status"], unique=False)

    op.create_table(
        "agency_contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("rates", sa.JSON(), nullable=False),
        sa.Column("complaint_penalty", sa.BigInteger(), nullable=False),
        sa.Column("qa_penalty", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agency_contract_agency_id_agency"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_contract")),
    )
    with op.batch_alter_table("agency_contract", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_contract_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "agency_placement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("bucket", sa.String(length=20), nullable=False),
        sa.Column("band", sa.String(length=40), nullable=False),
        sa.Column("placed_amount", sa.BigInteger(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=True),
        sa.Column("previous_holder_id", sa.Integer(), nullable=True),
        sa.Column("notice_key", sa.String(length=64), nullable=True),
        sa.Column("placed_on", sa.Date(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(length=30), nullable=True),
        sa.Column("end_note", sa.String(length=500), nullable=False),
        sa.Column("ended_by", sa.String(length=120), nullable=True),
        sa.Column("deletion_confirmed_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deletion_confirmed_by", sa.String(length=120), nullable=True),
        sa.Column("deletion_ref", sa.String(length=200), nullable=True),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agency_placement_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["placement_batch.id"], name=op.f("fk_agency_placement_batch_id_placement_batch")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_agency_placement_case_id_collection_case")
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["app_user.id"], name=op.f("fk_agency_placement_holder_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["previous_holder_id"],
            ["app_user.id"],
            name=op.f("fk_agency_placement_previous_holder_id_app_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_placement")),
    )
    with op.batch_alter_table("agency_placement", schema=None) as batch_op:
        batch_op.create_index("ix_agency_placement_agency_status", ["agency_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_agency_placement_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agency_placement_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agency_placement_status"), ["status"], unique=False)

    op.create_table(
        "agency_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.Column("reviewed_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agency_review_agency_id_agency"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_review")),
    )
    with op.batch_alter_table("agency_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_review_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "agency_share",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("set_by", sa.String(length=120), nullable=False),
        sa.Column("set_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agency_share_agency_id_agency"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_share")),
        sa.UniqueConstraint("month", "agency_id", name=op.f("uq_agency_share_month_agency_id")),
    )
    with op.batch_alter_table("agency_share", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_share_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agency_share_month"), ["month"], unique=False)

    op.create_table(
        "agency_staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=60), nullable=False),
        sa.Column("certificate_no", sa.String(length=100), nullable=True),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agency_staff_agency_id_agency"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_agency_staff_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_staff")),
        sa.UniqueConstraint("user_id", name=op.f("uq_agency_staff_user_id")),
    )
    with op.batch_alter_table("agency_staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_staff_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "agency_statement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("penalties", sa.JSON(), nullable=False),
        sa.Column("collected", sa.BigInteger(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("complaint_penalty", sa.BigInteger(), nullable=False),
        sa.Column("qa_penalty", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("payable", sa.BigInteger(), nullable=False),
        sa.Column("complaints_source", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("issued_by", sa.String(length=120), nullable=False),
        sa.Column("issued_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lender_confirmed_by", sa.String(length=120), nullable=True),
        sa.Column("lender_confirmed_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("agency_confirmed_by", sa.String(length=120), nullable=True),
        sa.Column("agency_confirmed_at", recoup.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_agency_statement_agency_id_agency"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["agency_contract.id"],
            name=op.f("fk_agency_statement_contract_id_agency_contract"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_statement")),
        sa.UniqueConstraint("agency_id", "month", name=op.f("uq_agency_statement_agency_id_month")),
    )
    with op.batch_alter_table("agency_statement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_statement_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agency_statement_month"), ["month"], unique=False)

    op.create_table(
        "agency_training",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("course", sa.String(length=200), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("certificate_ref", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", recoup.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["agency_staff.id"],
            name=op.f("fk_agency_training_staff_id_agency_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_training")),
    )
    with op.batch_alter_table("agency_training", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_training_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agency_training", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_training_staff_id"))

    op.drop_table("agency_training")
    with op.batch_alter_table("agency_statement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_statement_month"))
        batch_op.drop_index(batch_op.f("ix_agency_statement_agency_id"))

    op.drop_table("agency_statement")
    with op.batch_alter_table("agency_staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_staff_agency_id"))

    op.drop_table("agency_staff")
    with op.batch_alter_table("agency_share", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_share_month"))
        batch_op.drop_index(batch_op.f("ix_agency_share_agency_id"))

    op.drop_table("agency_share")
    with op.batch_alter_table("agency_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_review_agency_id"))

    op.drop_table("agency_review")
    with op.batch_alter_table("agency_placement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_placement_status"))
        batch_op.drop_index(batch_op.f("ix_agency_placement_case_id"))
        batch_op.drop_index(batch_op.f("ix_agency_placement_batch_id"))
        batch_op.drop_index("ix_agency_placement_agency_status")

    op.drop_table("agency_placement")
    with op.batch_alter_table("agency_contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_contract_agency_id"))

    op.drop_table("agency_contract")
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_status"))

    op.drop_table("agency")
    with op.batch_alter_table("placement_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_placement_batch_as_of"))

    op.drop_table("placement_batch")
