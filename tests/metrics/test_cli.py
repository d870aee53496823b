"""`mirage metrics rebuild` as a real process: recomputes a tenant's rollups from the raw
tables (a hand-damaged rollup is repaired), prints JSON with --json, refuses an unknown slug."""

from __future__ import annotations

import json
import uuid

from mirage.db.urls import RoleUrls
from tests.clirun import mirage, mirage_env
from tests.conftest import TenantFixture, sql


async def test_rebuild_repairs_a_tenant_and_refuses_unknown_slugs(
    role_urls: RoleUrls, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    env = mirage_env(role_urls.bootstrap.render_as_string(hide_password=False))
    instance = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc) values (%s, %s, 'C', %s, 'x', 'x')",
        instance,
        tenant_a.tenant_id,
        f"c-{instance.hex}",
    )
    m = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
        "from_me, remote_jid, message_type, status, status_rank, status_history) values "
        "(%s, %s, %s, %s, 'outbound', true, 'x@s.whatsapp.net', 'conversation', 'READ', 4, "
        "'[]')",
        m,
        tenant_a.tenant_id,
        instance,
        m.hex,
    )
    # A rollup row that disagrees with the raw table (as after a restore of one of them).
    await sql(
        bootstrap_conninfo,
        "insert into metrics_message_hours (tenant_id, instance_id, hour, direction, kind, "
        "messages) values (%s, %s, '2020-01-01', 'outbound', 'manual', 99)",
        tenant_a.tenant_id,
        instance,
    )

    done = await mirage(env, "metrics", "rebuild", "--tenant", tenant_a.slug, "--json")
    assert done.code == 0, done.err
    figures = json.loads(done.out)
    assert figures["tenant"] == tenant_a.slug and figures["message_buckets"] == 1
    rows = await sql(
        bootstrap_conninfo,
        "select hour, messages, read from metrics_message_hours where tenant_id = %s",
        tenant_a.tenant_id,
    )
    assert len(rows) == 1 and rows[0][1:] == (1, 1)

    refused = await mirage(env, "metrics", "rebuild", "--tenant", "no-such-slug")
    assert refused.code == 2 and "no-such-slug" in refused.err
