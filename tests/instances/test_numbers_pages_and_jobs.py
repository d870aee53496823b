"""Numbers in the dashboard (roles, actions) and the reconciliation job."""

from __future__ import annotations

import uuid

import httpx
import psycopg

from mirage.instances import tasks
from mirage.kit import jobs
from tests.conftest import (
    GatewayWorld,
    TenantFixture,
    eventually,
    make_tenant,
    make_token,
    sign_in,
    sql,
)


async def _create_api(client: httpx.AsyncClient, token: str, name: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/instances",
        headers={"Authorization": f"Bearer {token}"},
        json={"display_name": name},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_roles_on_the_numbers_page(gw: GatewayWorld, client: httpx.AsyncClient) -> None:
    owner = await make_tenant("owner")
    inst = await _create_api(client, await make_token(owner), "Central")
    # A viewer of the same tenant sees the number but no action.
    viewer = await make_tenant("viewer")
    from mirage.db.engine import session_scope
    from mirage.models.tenancy import Role
    from mirage.tenants import service

    async with session_scope() as session:
        await service.add_member(
            session, tenant_id=owner.tenant_id, user_id=viewer.user_id, role=Role.VIEWER
        )
    csrf = await sign_in(client, viewer)
    await client.post("/tenant", data={"tenant_id": str(owner.tenant_id), "csrf_token": csrf})
    page = await client.get("/instances")
    assert page.status_code == 200 and "Central" in page.text
    assert "Adicionar número" not in page.text and "/delete" not in page.text
    r = await client.post("/instances", data={"display_name": "Nope", "csrf_token": csrf})
    assert r.status_code == 403
    r = await client.post(f"/instances/{inst['id']}/delete", data={"csrf_token": csrf})
    assert r.status_code == 403


async def test_owner_creates_and_deletes_from_the_dashboard(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    csrf = await sign_in(client, tenant_a)
    r = await client.post("/instances", data={"display_name": "Loja 1", "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"].startswith("/instances?connect=")
    iid = r.headers["location"].split("=", 1)[1]
    modal = await client.get(f"/instances/{iid}/connect", headers={"HX-Request": "true"})
    assert "Simular leitura" in modal.text  # the gateway is the simulator
    qr = await client.post(
        f"/instances/{iid}/connect", data={"csrf_token": csrf}, headers={"HX-Request": "true"}
    )
    assert 'src="data:image/png;base64,' in qr.text
    dup = await client.post("/instances", data={"display_name": "loja 1", "csrf_token": csrf})
    assert dup.status_code == 409 and "já existe um número com este nome" in dup.text
    r = await client.post(
        f"/instances/{iid}/delete", data={"csrf_token": csrf}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and r.text == ""
    assert (await client.get(f"/instances/{iid}/connect")).status_code == 404
    gone = await gw.sim.http.get(f"/instance/connectionState/mirage-{uuid.UUID(iid).hex[:20]}")
    assert gone.status_code == 404  # removed from the gateway too


async def test_reconciliation_corrects_state_when_webhooks_were_lost(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a)
    inst = await _create_api(client, token, "Perdida")
    await client.post(
        f"/api/v1/instances/{inst['id']}/connect", headers={"Authorization": f"Bearer {token}"}
    )
    await gw.sim.control.scan(inst["gateway_name"], number="5511990000777")

    async def opened() -> bool:
        r = await client.get(
            f"/api/v1/instances/{inst['id']}", headers={"Authorization": f"Bearer {token}"}
        )
        return bool(r.json()["connected"])

    await eventually(opened, what="open")
    # Pretend the webhook that said "open" (and named the account) never arrived.
    await sql(
        bootstrap_conninfo,
        "update instances set state = 'close', owner_jid = null, phone = null where id = %s",
        inst["id"],
    )
    await tasks.reconcile_all.defer_async()
    await jobs.app.run_worker_async(
        wait=False, install_signal_handlers=False, queues=["maintenance", "upkeep"]
    )
    # "Connected" is open *and* identified: reconciliation learns the account from the gateway.
    await eventually(opened, what="reconciliation to restore 'open'")  # any worker may run it
    r = await client.get(
        f"/api/v1/instances/{inst['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.json()["state"] == "open" and r.json()["phone"] == "5511990000777"
    with psycopg.connect(bootstrap_conninfo) as conn:
        reconciled = conn.execute(
            "select last_reconciled_at is not null from instances where id = %s", (inst["id"],)
        ).fetchone()[0]  # type: ignore[index]
    assert reconciled


async def test_an_operator_pauses_and_resumes_a_number_from_the_dashboard(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    token = await make_token(tenant_a)
    inst = await _create_api(client, token, "Pausável")
    csrf = await sign_in(client, tenant_a)
    r = await client.post(f"/instances/{inst['id']}/pause", data={"csrf_token": csrf})
    assert r.status_code == 200 and "pausado por um operador" in r.text
    assert f'hx-post="/instances/{inst["id"]}/resume"' in r.text
    api = await client.get(
        f"/api/v1/instances/{inst['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.json()["paused"] is True
    r = await client.post(f"/instances/{inst['id']}/resume", data={"csrf_token": csrf})
    assert r.status_code == 200 and "pausado por um operador" not in r.text
    api = await client.get(
        f"/api/v1/instances/{inst['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.json()["paused"] is False
    audit = (await client.get("/settings")).text
    assert "instance.pause" in audit and "instance.resume" in audit
