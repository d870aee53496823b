"""contacts: search keys written by the writer (a trigger fills them for any other), partial
search indexes, one index for the phone's uniqueness and prefix search, tenant-scoped
composite foreign keys for the ledger and tag links

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 05:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in 0007 (copied: a migration must not change when the model does).
_FOLD_FROM = "áàâãäåéèêëíìîïóòôõöúùûüçñýÿÁÀÂÃÄÅÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝŸ"
_FOLD_TO = "aaaaaaeeeeiiiiooooouuuucnyyaaaaaaeeeeiiiiooooouuuucnyy"
_NAME = (
    f"regexp_replace(translate(lower(btrim(name)), '{_FOLD_FROM}', '{_FOLD_TO}'), '\\s+', ' ', 'g')"
)
_GENERATED = (
    ("search_name", _NAME),
    ("search_word2", f"nullif(split_part({_NAME}, ' ', 2), '')"),
    (
        "search_last",
        f"case when strpos({_NAME}, ' ') > 0 then regexp_replace({_NAME}, '^.* ', '') end",
    ),
    ("search_email", "lower(btrim(email))"),
)
_SEARCH = [c for c, _ in _GENERATED]

# The keys the generated columns computed, the folded name computed once, but for one change:
# the last word is left null when it is the second (a two-word name), as a search matches
# either column — one index entry less for the commonest names. Fired only for a row whose
# writer did not supply the keys (see the triggers' WHEN): the CSV import computes them in
# Python (mirage.models.contacts.search_keys), so a bulk insert calls no function.
_KEYS_FUNCTION = f"""
CREATE FUNCTION contacts_search_keys() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n text := regexp_replace(
        translate(lower(btrim(NEW.name)), '{_FOLD_FROM}', '{_FOLD_TO}'), '\\s+', ' ', 'g');
BEGIN
    NEW.search_name := n;
    NEW.search_word2 := nullif(split_part(n, ' ', 2), '');
    NEW.search_last := nullif(
        CASE WHEN strpos(n, ' ') > 0 THEN regexp_replace(n, '^.* ', '') END, NEW.search_word2);
    NEW.search_email := lower(btrim(NEW.email));
    RETURN NEW;
END
$$
"""
# A key is null exactly when its source is (an empty name folds to ''), so a non-null source
# with a null key is a writer that left the keys out.
_MISSING = (
    "(NEW.name IS NOT NULL AND NEW.search_name IS NULL)"
    " OR (NEW.email IS NOT NULL AND NEW.search_email IS NULL)"
)
# An update that changes the name (or e-mail) but not its key: a writer that does not compute
# keys (or a change the fold ignores, e.g. of case: recomputing gives the same key).
_STALE = (
    "(NEW.name IS DISTINCT FROM OLD.name AND NEW.search_name IS NOT DISTINCT FROM OLD.search_name)"
    " OR (NEW.email IS DISTINCT FROM OLD.email"
    " AND NEW.search_email IS NOT DISTINCT FROM OLD.search_email)"
)


def _search_index(column: str, *, partial: bool) -> None:
    suffix = column.removeprefix("search_")
    where = f" WHERE {column} IS NOT NULL" if partial else ""
    op.execute(f"DROP INDEX ix_contacts_search_{suffix}")
    op.execute(
        f"CREATE INDEX ix_contacts_search_{suffix} ON contacts "
        f"(tenant_id, {column} text_pattern_ops){where}"
    )


def upgrade() -> None:
    # 1. Search keys: plain columns (values kept), filled by the writer; the trigger covers
    # writers that leave them out (the ORM, raw SQL), with the expressions of 0007.
    for column in _SEARCH:
        op.execute(f"ALTER TABLE contacts ALTER COLUMN {column} DROP EXPRESSION")
    op.execute(_KEYS_FUNCTION)
    op.execute(
        "CREATE TRIGGER contacts_search_keys_insert BEFORE INSERT ON contacts FOR EACH ROW "
        f"WHEN ({_MISSING}) EXECUTE FUNCTION contacts_search_keys()"
    )
    op.execute(
        "CREATE TRIGGER contacts_search_keys_update BEFORE UPDATE ON contacts FOR EACH ROW "
        f"WHEN ({_MISSING} OR {_STALE}) EXECUTE FUNCTION contacts_search_keys()"
    )
    # 2. Search indexes without the rows whose key is null (no e-mail, a one-word name): a
    # prefix condition on the key implies "is not null", so the planner still uses them.
    for column in _SEARCH:
        _search_index(column, partial=True)
    # Existing rows keep a last word equal to their second: harmless (the same matches), and
    # cheaper than rewriting every contact here.

    # 3. One index for the phone: uniqueness (and ON CONFLICT) with text_pattern_ops, whose
    # equality is the default one's, also answers the prefix search that had its own index.
    op.execute("ALTER TABLE contacts DROP CONSTRAINT uq_contacts_tenant_phone")
    op.execute("DROP INDEX ix_contacts_search_phone")
    op.execute(
        "CREATE UNIQUE INDEX uq_contacts_tenant_phone ON contacts "
        "(tenant_id, phone_e164 text_pattern_ops)"
    )

    # 4. The ledger and the tag links reference their contact and tag by (id, tenant_id): one
    # check a row proves both that the parent exists and that it is the same tenant's (the
    # separate tenant_id → tenants check is implied, as the parent's own FK holds it). A
    # tenant's deletion still cascades, through its contacts and tags.
    # Keyed (id, tenant_id), not (tenant_id, id): an index led by tenant_id this narrow would
    # be the planner's pick for any query of a tenant it believes small (one missing from the
    # statistics), and scan all of the tenant's rows.
    op.execute("ALTER TABLE contacts ADD CONSTRAINT uq_contacts_id_tenant UNIQUE (id, tenant_id)")
    op.execute("ALTER TABLE tags ADD CONSTRAINT uq_tags_id_tenant UNIQUE (id, tenant_id)")
    for fk in (
        "fk_consent_events_tenant_id_tenants",
        "fk_consent_events_contact_id_contacts",
    ):
        op.execute(f"ALTER TABLE consent_events DROP CONSTRAINT {fk}")
    op.execute(
        "ALTER TABLE consent_events ADD CONSTRAINT fk_consent_events_contact_id_contacts "
        "FOREIGN KEY (contact_id, tenant_id) REFERENCES contacts (id, tenant_id) "
        "ON DELETE CASCADE"
    )
    for fk in (
        "fk_contact_tags_tenant_id_tenants",
        "fk_contact_tags_contact_id_contacts",
        "fk_contact_tags_tag_id_tags",
    ):
        op.execute(f"ALTER TABLE contact_tags DROP CONSTRAINT {fk}")
    op.execute(
        "ALTER TABLE contact_tags ADD CONSTRAINT fk_contact_tags_contact_id_contacts "
        "FOREIGN KEY (contact_id, tenant_id) REFERENCES contacts (id, tenant_id) "
        "ON DELETE CASCADE"
    )
    op.execute(
        "ALTER TABLE contact_tags ADD CONSTRAINT fk_contact_tags_tag_id_tags "
        "FOREIGN KEY (tag_id, tenant_id) REFERENCES tags (id, tenant_id) ON DELETE CASCADE"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE contact_tags DROP CONSTRAINT fk_contact_tags_tag_id_tags")
    op.execute("ALTER TABLE contact_tags DROP CONSTRAINT fk_contact_tags_contact_id_contacts")
    op.execute("ALTER TABLE consent_events DROP CONSTRAINT fk_consent_events_contact_id_contacts")
    op.execute(
        "ALTER TABLE contact_tags ADD CONSTRAINT fk_contact_tags_tenant_id_tenants "
        "FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE"
    )
    op.execute(
        "ALTER TABLE contact_tags ADD CONSTRAINT fk_contact_tags_contact_id_contacts "
        "FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE"
    )
    op.execute(
        "ALTER TABLE contact_tags ADD CONSTRAINT fk_contact_tags_tag_id_tags "
        "FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE CASCADE"
    )
    op.execute(
        "ALTER TABLE consent_events ADD CONSTRAINT fk_consent_events_tenant_id_tenants "
        "FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE"
    )
    op.execute(
        "ALTER TABLE consent_events ADD CONSTRAINT fk_consent_events_contact_id_contacts "
        "FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE"
    )
    op.execute("ALTER TABLE tags DROP CONSTRAINT uq_tags_id_tenant")
    op.execute("ALTER TABLE contacts DROP CONSTRAINT uq_contacts_id_tenant")

    op.execute("DROP INDEX uq_contacts_tenant_phone")
    op.execute(
        "ALTER TABLE contacts ADD CONSTRAINT uq_contacts_tenant_phone UNIQUE (tenant_id, phone_e164)"
    )
    op.execute(
        "CREATE INDEX ix_contacts_search_phone ON contacts (tenant_id, phone_e164 text_pattern_ops)"
    )

    op.execute("DROP TRIGGER contacts_search_keys_update ON contacts")
    op.execute("DROP TRIGGER contacts_search_keys_insert ON contacts")
    op.execute("DROP FUNCTION contacts_search_keys()")
    # Back to generated columns: a plain column cannot become one, so they are re-added
    # (recomputed), with the indexes of 0007.
    for column, expr in _GENERATED:
        op.execute(f"ALTER TABLE contacts DROP COLUMN {column}")
        op.execute(
            f"ALTER TABLE contacts ADD COLUMN {column} text GENERATED ALWAYS AS ({expr}) STORED"
        )
        suffix = column.removeprefix("search_")
        op.execute(
            f"CREATE INDEX ix_contacts_search_{suffix} ON contacts "
            f"(tenant_id, {column} text_pattern_ops)"
        )
