"""`mirage backup create` / `mirage backup restore`: the suite's database is dumped and restored
into a brand-new PostgreSQL cluster that has none of Mirage's roles. The restored database
has the roles (with their RLS attributes), the grants, the forced row-level security and the
data; `mirage_app` sees a tenant's rows only under that tenant's context. Bad input (a
database that is not empty, a missing file, an existing target) is a readable error with
exit status 2, as JSON with --json; so is a backup by a user subject to row-level security
(it would miss rows)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import psycopg
import pytest

from mirage.db.urls import RoleUrls
from tests.clirun import mirage, mirage_batch, mirage_env
from tests.conftest import TenantFixture, sql
from tests.ops.pgcluster import TempCluster


@pytest.mark.timeout(300)
async def test_backup_round_trip_into_a_fresh_cluster(
    role_urls: RoleUrls, tenant_a: TenantFixture, bootstrap_conninfo: str, tmp_path: Path
) -> None:
    marker = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc) values (%s, %s, 'Backup marker', %s, 'x', 'x')",
        marker,
        tenant_a.tenant_id,
        f"b-{marker.hex}",
    )
    source_revision = (await sql(bootstrap_conninfo, "select version_num from alembic_version"))[0][
        0
    ]
    archive = tmp_path / "mirage.dump"
    made = await mirage(
        mirage_env(role_urls.bootstrap.render_as_string(hide_password=False)),
        "backup",
        "create",
        str(archive),
        "--json",
    )
    assert made.code == 0, made.err
    figures = json.loads(made.out)
    assert figures["file"] == str(archive) and figures["bytes"] == archive.stat().st_size > 0
    assert figures["revision"] == source_revision
    assert sorted(await asyncio.to_thread(os.listdir, tmp_path)) == ["mirage.dump"]

    cluster = TempCluster()
    try:
        cluster.start()  # no "mirage" database, no Mirage role: restore creates both
        first, again, missing, overwrite = await mirage_batch(
            mirage_env(cluster.url),
            ["backup", "restore", str(archive), "--json"],
            ["backup", "restore", str(archive), "--json"],
            ["backup", "restore", str(tmp_path / "nope.dump"), "--json"],
            ["backup", "create", str(archive)],
        )
        assert first.code == 0, first.err
        restored = json.loads(first.out)
        assert restored["created_database"] is True
        assert restored["revision"] == source_revision
        assert again.code == 2 and "not empty" in json.loads(again.out)["error"], again
        assert missing.code == 2 and "no such file" in json.loads(missing.out)["error"], missing
        assert overwrite.code == 2 and "exists" in overwrite.err, overwrite
        for result in (again, missing, overwrite):
            assert "Traceback" not in result.err, result.err

        await asyncio.to_thread(_check_restored, cluster, tenant_a, marker)

        # A user subject to row-level security would dump a part: refused, with the reason.
        partial = await mirage(
            mirage_env(f"postgresql://mirage_app@127.0.0.1:{cluster.port}/mirage"),
            "backup",
            "create",
            str(tmp_path / "partial.dump"),
            "--json",
        )
        assert partial.code == 2, partial
        assert "row-level security" in json.loads(partial.out)["error"]
        assert not (tmp_path / "partial.dump").exists()
    finally:
        cluster.destroy()


def _check_restored(cluster: TempCluster, tenant: TenantFixture, marker: uuid.UUID) -> None:
    """Roles with their attributes, the owner and forced RLS, and the data as mirage_app."""
    with psycopg.connect(cluster.dsn()) as conn:
        roles = {
            name: tuple(flags)
            for name, *flags in conn.execute(
                "select rolname, rolbypassrls, rolcanlogin, rolsuper from pg_roles "
                "where rolname like 'mirage_%'"
            ).fetchall()
        }
        assert roles == {
            "mirage_owner": (False, False, False),
            "mirage_app": (False, True, False),
            "mirage_admin": (True, True, False),
        }
        owner, forced = conn.execute(
            "select relowner::regrole::text, relforcerowsecurity from pg_class "
            "where oid = 'instances'::regclass"
        ).fetchone()  # type: ignore[misc]
        assert (owner, forced) == ("mirage_owner", True)
        # The grants come back as they were, revocations too: the audit log stays append-only.
        grants = conn.execute(
            "select has_table_privilege('mirage_app', 'audit_events', p) from "
            "unnest(array['INSERT', 'SELECT', 'UPDATE', 'DELETE']) p"
        ).fetchall()
        assert [g for (g,) in grants] == [True, True, False, False]

    app_dsn = f"postgresql://mirage_app@127.0.0.1:{cluster.port}/mirage"
    with psycopg.connect(app_dsn) as conn:
        # No tenant context: row-level security shows nothing (fail closed).
        assert conn.execute("select count(*) from instances").fetchone() == (0,)
        conn.execute("select set_config('app.tenant_id', %s, true)", (str(tenant.tenant_id),))
        rows = conn.execute("select id, display_name from instances").fetchall()
        assert rows == [(marker, "Backup marker")]
