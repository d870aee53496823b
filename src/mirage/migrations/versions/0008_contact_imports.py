"""contact imports: the import, its file in parts, its judged rows

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mirage.migrations.rls import enable_tenant_rls

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _counter(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "contact_imports",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="uploaded", nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("delimiter", sa.String(length=1), nullable=False),
        sa.Column("quotechar", sa.String(length=1), server_default='"', nullable=False),
        sa.Column("header", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("mapping", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "options",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        _counter("rows"),
        _counter("processed"),
        _counter("imported"),
        _counter("updated"),
        _counter("skipped"),
        _counter("duplicates"),
        _counter("suppressed"),
        _counter("invalid"),
        sa.Column(
            "invalid_by_reason",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state in ('uploaded', 'previewed', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_contact_imports_state_valid"),
        ),
        sa.CheckConstraint(
            "delimiter in (';', ',', '\t')", name=op.f("ck_contact_imports_delimiter_valid")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_imports_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_imports")),
    )
    op.create_index(
        "ix_contact_imports_tenant_created", "contact_imports", ["tenant_id", "created_at"]
    )

    op.create_table(
        "contact_import_parts",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("import_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_import_parts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["contact_imports.id"],
            name=op.f("fk_contact_import_parts_import_id_contact_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_import_parts")),
        sa.UniqueConstraint("tenant_id", "import_id", "seq", name="uq_contact_import_parts_seq"),
    )
    # Parts are already compressed enough (or not compressible): store them out of line
    # without compressing again.
    op.execute("ALTER TABLE contact_import_parts ALTER COLUMN data SET STORAGE EXTERNAL")

    op.create_table(
        "contact_import_rows",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("import_id", sa.UUID(), nullable=False),
        sa.Column("row_number", sa.BigInteger(), nullable=False),
        sa.Column("phone_e164", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("cells", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["contact_imports.id"],
            name=op.f("fk_contact_import_rows_import_id_contact_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_import_rows")),
    )
    op.create_index(
        "uq_contact_import_rows_phone",
        "contact_import_rows",
        ["tenant_id", "import_id", "phone_e164"],
        unique=True,
        postgresql_where=sa.text("reason is null"),
    )
    op.create_index(
        "ix_contact_import_rows_rejected",
        "contact_import_rows",
        ["tenant_id", "import_id", "row_number"],
        postgresql_where=sa.text("reason is not null"),
    )

    for table in ("contact_imports", "contact_import_parts", "contact_import_rows"):
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in ("contact_import_rows", "contact_import_parts", "contact_imports"):
        op.drop_table(table)
