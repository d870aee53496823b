"""The transaction rules: a failed commit is a 5xx; a rolled-back job never runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from mirage.auth import service
from mirage.auth.principal import ROLE_SCOPES, Principal
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.kit import correlation, jobs
from mirage.models.tenancy import Role
from tests.conftest import TenantFixture, eventually, make_token, sql


@pytest.fixture
def fail_at_commit(bootstrap_conninfo: str) -> Iterator[None]:
    """A deferred constraint trigger: the statement succeeds, the COMMIT fails."""
    with psycopg.connect(bootstrap_conninfo, autocommit=True) as conn:
        conn.execute(
            "create or replace function test_fail_at_commit() returns trigger language plpgsql "
            "as $$ begin raise exception 'commit-time failure (test)'; end $$"
        )
        conn.execute(
            "create constraint trigger test_fail_at_commit after insert on audit_events "
            "deferrable initially deferred for each row "
            "when (new.details->>'name' = 'boom-at-commit') execute function test_fail_at_commit()"
        )
    yield
    with psycopg.connect(bootstrap_conninfo, autocommit=True) as conn:
        conn.execute("drop trigger test_fail_at_commit on audit_events")
        conn.execute("drop function test_fail_at_commit()")


@pytest.mark.usefixtures("fail_at_commit")
async def test_failed_commit_is_a_5xx_and_nothing_is_saved(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    r = await client.post(
        "/api/v1/tokens", headers=auth, json={"name": "boom-at-commit", "scopes": ["read"]}
    )
    assert r.status_code == 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    listed = (await client.get("/api/v1/tokens", headers=auth)).json()
    assert all(t["name"] != "boom-at-commit" for t in listed)
    # The same request without the failure works (the trigger is selective).
    r = await client.post("/api/v1/tokens", headers=auth, json={"name": "fine", "scopes": ["read"]})
    assert r.status_code == 201


def _principal(t: TenantFixture) -> Principal:
    return Principal(
        kind="user",
        tenant_id=t.tenant_id,
        role=Role.OWNER,
        user_id=t.user_id,
        scopes=ROLE_SCOPES[Role.OWNER],
    )


def _jobs_for(conninfo: str, token_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select status::text, args->>'correlation_id' from procrastinate_jobs "
            "where task_name = 'auth.api_token_expired' and args->>'token_id' = %s",
            (token_id,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


async def test_job_in_rolled_back_transaction_never_runs(
    tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token_id = None
    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            await bind_context(session, tenant_id=tenant_a.tenant_id, user_id=tenant_a.user_id)
            row, _ = await service.create_token(
                session,
                _principal(tenant_a),
                name="rolled back",
                scopes=["read"],
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
            token_id = str(row.id)
            # The job exists inside the transaction...
            assert len(_jobs_for(bootstrap_conninfo, token_id)) == 0  # not visible outside yet
            raise RuntimeError("abort the request")
    assert token_id is not None
    # ...and is gone with it: no row, so no worker can ever run it.
    assert _jobs_for(bootstrap_conninfo, token_id) == []
    await jobs.app.run_worker_async(wait=False, install_signal_handlers=False, queues=["default"])
    assert _jobs_for(bootstrap_conninfo, token_id) == []


async def test_committed_job_runs_in_its_tenant_with_its_correlation_id(
    tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    cid = "req-" + uuid.uuid4().hex[:12]
    token = correlation.correlation_id.set(cid)
    try:
        async with session_scope() as session:
            await bind_context(session, tenant_id=tenant_a.tenant_id, user_id=tenant_a.user_id)
            row, _ = await service.create_token(
                session,
                _principal(tenant_a),
                name="expiring",
                scopes=["read"],
                expires_at=datetime.now(UTC) + timedelta(minutes=5),
            )
    finally:
        correlation.correlation_id.reset(token)
    token_id = str(row.id)
    assert _jobs_for(bootstrap_conninfo, token_id) == [("todo", cid)]
    # Let the expiry pass (as time would) and make the job due now.
    await sql(
        bootstrap_conninfo,
        "update api_tokens set expires_at = now() - interval '1 second' where id = %s",
        token_id,
    )
    await sql(
        bootstrap_conninfo,
        "update procrastinate_jobs set scheduled_at = now() where args->>'token_id' = %s",
        token_id,
    )
    await jobs.app.run_worker_async(wait=False, install_signal_handlers=False, queues=["default"])

    async def done() -> bool:  # another worker of this process may have taken it
        return _jobs_for(bootstrap_conninfo, token_id) == [("succeeded", cid)]

    await eventually(done, what="the expiry job to succeed")
    with psycopg.connect(bootstrap_conninfo) as conn:
        audit = conn.execute(
            "select tenant_id, correlation_id from audit_events where action = 'api_token.expired' "
            "and target_id = %s",
            (token_id,),
        ).fetchall()
        revoked = conn.execute(
            "select revoked_at is not null from api_tokens where id = %s", (token_id,)
        ).fetchone()[0]  # type: ignore[index]
    assert audit == [(tenant_a.tenant_id, cid)]
    assert revoked
