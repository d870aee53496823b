"""contacts, tags, consent ledger, suppressions, data-subject requests

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 01:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mirage.migrations.rls import enable_tenant_rls

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in mirage.models.contacts (copied: a migration must not change when the model does).
_FOLD_FROM = "áàâãäåéèêëíìîïóòôõöúùûüçñýÿÁÀÂÃÄÅÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝŸ"
_FOLD_TO = "aaaaaaeeeeiiiiooooouuuucnyyaaaaaaeeeeiiiiooooouuuucnyy"
_NAME = (
    f"regexp_replace(translate(lower(btrim(name)), '{_FOLD_FROM}', '{_FOLD_TO}'), '\\s+', ' ', 'g')"
)
SEARCH_COLUMNS = (
    ("search_name", _NAME),
    ("search_word2", f"nullif(split_part({_NAME}, ' ', 2), '')"),
    (
        "search_last",
        f"case when strpos({_NAME}, ' ') > 0 then regexp_replace({_NAME}, '^.* ', '') end",
    ),
    ("search_email", "lower(btrim(email))"),
)


def _tenant_col() -> sa.Column[Any]:
    return sa.Column("tenant_id", sa.UUID(), nullable=False)


def _fk_tenant(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def _id_created(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        _fk_tenant(table),
    ]


def upgrade() -> None:
    op.create_table(
        "contacts",
        _tenant_col(),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("phone_e164", sa.String(length=16), nullable=False),
        sa.Column("wa_jid", sa.String(length=120), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "custom_fields",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.String(length=24), nullable=False),
        sa.Column("li_assessment_ref", sa.String(length=200), nullable=True),
        sa.Column("consent_state", sa.String(length=10), server_default="none", nullable=False),
        sa.Column("provenance_source", sa.String(length=120), nullable=False),
        sa.Column("provenance_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provenance_note", sa.String(length=500), nullable=True),
        sa.Column("recorded_by", sa.UUID(), nullable=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        *[sa.Column(c, sa.Text(), sa.Computed(expr, persisted=True)) for c, expr in SEARCH_COLUMNS],
        *_id_created("contacts"),
        sa.CheckConstraint(
            "legal_basis in ('consent', 'legitimate_interest')",
            name="ck_contacts_legal_basis_valid",
        ),
        sa.CheckConstraint(
            "consent_state in ('granted', 'revoked', 'none')", name="ck_contacts_consent_valid"
        ),
        sa.CheckConstraint(
            "phone_e164 ~ '^\\+[1-9][0-9]{6,14}$'", name="ck_contacts_phone_e164_format"
        ),
        sa.UniqueConstraint("tenant_id", "phone_e164", name="uq_contacts_tenant_phone"),
    )
    op.create_index("ix_contacts_tenant_created", "contacts", ["tenant_id", "created_at", "id"])
    op.create_index(
        "ix_contacts_tenant_opted_out",
        "contacts",
        ["tenant_id", "opted_out_at"],
        postgresql_where=sa.text("opted_out_at is not null"),
    )
    # Word-prefix search under RLS: plain columns, leakproof text_pattern_ops ranges (see
    # mirage.models.contacts for why not trigram or expression indexes).
    for column in [c for c, _ in SEARCH_COLUMNS] + ["phone_e164"]:
        suffix = column.removeprefix("search_").removesuffix("_e164")
        op.execute(
            f"CREATE INDEX ix_contacts_search_{suffix} ON contacts "
            f"(tenant_id, {column} text_pattern_ops)"
        )

    op.create_table(
        "tags",
        _tenant_col(),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("color", sa.String(length=7), server_default="#64748b", nullable=False),
        *_id_created("tags"),
        sa.CheckConstraint("color ~ '^#[0-9a-f]{6}$'", name="ck_tags_color_valid"),
    )
    op.create_index(
        "uq_tags_tenant_name", "tags", ["tenant_id", sa.text("lower(name)")], unique=True
    )

    op.create_table(
        "contact_tags",
        _tenant_col(),
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.Column("tag_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contact_tags"),
        _fk_tenant("contact_tags"),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_contact_tags_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name="fk_contact_tags_tag_id_tags", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("contact_id", "tag_id", name="uq_contact_tags_pair"),
    )
    op.create_index(
        "ix_contact_tags_tenant_tag", "contact_tags", ["tenant_id", "tag_id", "contact_id"]
    )

    op.create_table(
        "consent_events",
        _tenant_col(),
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("legal_basis", sa.String(length=24), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("message_id", sa.UUID(), nullable=True),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("actor_token_id", sa.UUID(), nullable=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        *_id_created("consent_events"),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_consent_events_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "kind in ('basis_recorded', 'consent_granted', 'consent_revoked', 'opt_out', 'opt_in')",
            name="ck_consent_events_kind_valid",
        ),
    )
    op.create_index(
        "ix_consent_events_contact", "consent_events", ["tenant_id", "contact_id", "created_at"]
    )

    op.create_table(
        "suppressions",
        _tenant_col(),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        *_id_created("suppressions"),
        sa.CheckConstraint(
            "reason in ('opt_out', 'blocked', 'complaint', 'manual', 'data_request')",
            name="ck_suppressions_reason_valid",
        ),
        sa.UniqueConstraint("tenant_id", "phone_hash", name="uq_suppressions_tenant_hash"),
    )
    op.create_index(
        "ix_suppressions_tenant_created", "suppressions", ["tenant_id", "created_at", "id"]
    )

    op.create_table(
        "data_requests",
        _tenant_col(),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("subject_kind", sa.String(length=8), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("contacts_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("requested_by_token", sa.UUID(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        *_id_created("data_requests"),
        sa.CheckConstraint(
            "kind in ('find', 'export', 'erase')", name="ck_data_requests_kind_valid"
        ),
        sa.CheckConstraint(
            "subject_kind in ('phone', 'email')", name="ck_data_requests_subject_kind_valid"
        ),
    )
    op.create_index("ix_data_requests_tenant_created", "data_requests", ["tenant_id", "created_at"])

    for table in ("contacts", "tags", "contact_tags", "suppressions", "data_requests"):
        enable_tenant_rls(table)
    enable_tenant_rls("consent_events")
    # The ledger is append-only for the runtime role: its rows leave only with their contact
    # (the foreign key's cascade, run by the table owner), never by UPDATE or DELETE.
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON consent_events FROM mirage_app")


def downgrade() -> None:
    for table in (
        "data_requests",
        "suppressions",
        "consent_events",
        "contact_tags",
        "tags",
        "contacts",
    ):
        op.drop_table(table)
    # The extensions stay: other objects (or other databases' habits) may rely on them.
