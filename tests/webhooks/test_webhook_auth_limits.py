"""Webhook authentication bounds: JWT expiry without grace, a small allowance for a gateway
clock ahead of ours, a cap on the lifetime a token may claim; unknown instance/tenant pairs
remembered briefly (no transaction each) and failing sources limited per IP."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from mirage.config import get_settings
from mirage.models import Instance
from mirage.webhooks import router as webhooks_router
from mirage.webhooks import service
from tests.conftest import TenantFixture
from tests.webhooks.support import _counts, _envelope, _instance, _post, _upsert


def _jwt(secret: str, *, iat: float, exp: float, **claims: Any) -> str:
    payload = {"iat": int(iat), "exp": int(exp), "app": "evolution", "action": "webhook"}
    return jwt.encode({**payload, **claims}, secret, algorithm="HS256")


@pytest.mark.parametrize(
    "case,iat_offset,lifetime,expected",
    [
        ("fresh, Evolution's 10 minutes", 0, 600, 200),
        ("expired 2 s ago", -602, 600, 401),
        ("expired 1 s ago", -601, 600, 401),
        ("issued 3 s in our future (clock skew, within leeway)", 3, 600, 200),
        ("issued 30 s in our future (beyond leeway)", 30, 600, 401),
        ("lifetime exactly the cap", 0, 900, 200),
        ("lifetime over the cap", 0, 901, 401),
        ("a day-long token", -10, 86_400, 401),
    ],
)
async def test_jwt_expiry_skew_and_lifetime(
    case: str,
    iat_offset: int,
    lifetime: int,
    expected: int,
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
) -> None:
    settings = get_settings()
    assert settings.webhook_jwt_leeway_s == 5 and settings.webhook_jwt_max_lifetime_s == 900
    inst, secret = await _instance(tenant_a)
    now = time.time()
    token = _jwt(secret, iat=now + iat_offset, exp=now + iat_offset + lifetime)
    body = _envelope(inst, "messages.upsert", _upsert(f"J-{uuid.uuid4().hex[:8]}"))
    before = _counts(bootstrap_conninfo, tenant_a.tenant_id)
    r = await _post(client, inst, body, token=token)
    assert r.status_code == expected, (case, r.text)
    if expected == 401:
        assert _counts(bootstrap_conninfo, tenant_a.tenant_id) == before


@pytest.mark.parametrize("missing", ["iat", "exp"])
async def test_jwt_without_iat_or_exp_is_refused(
    missing: str, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    inst, secret = await _instance(tenant_a)
    now = int(time.time())
    claims = {"iat": now, "exp": now + 600, "action": "webhook"}
    del claims[missing]
    token = jwt.encode(claims, secret, algorithm="HS256")
    r = await _post(client, inst, _envelope(inst, "messages.upsert", _upsert("NC")), token=token)
    assert r.status_code == 401


# --- unknown pairs: remembered, no transaction each ---------------------------------------


class _Lookups:
    """Counts the receiver's instance lookups (each one is a transaction). Counted at the
    instances service call the receiver uses (``instances.find``), so background jobs of
    other tests never interfere."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> _Lookups:
    counter = _Lookups()
    base = service.instances.find

    async def counting(*args: Any, **kwargs: Any) -> Any:
        counter.count += 1
        return await base(*args, **kwargs)

    monkeypatch.setattr(service.instances, "find", counting)
    return counter


async def test_unknown_pairs_cost_one_lookup_then_none(
    client: httpx.AsyncClient, tenant_a: TenantFixture, statements: _Lookups
) -> None:
    ghost = Instance(id=uuid.uuid4(), tenant_id=tenant_a.tenant_id, gateway_name="ghost")
    body = _envelope(ghost, "messages.upsert", _upsert("GHOST"))
    r = await _post(client, ghost, body, token="x.y.z")
    assert r.status_code == 401
    first = statements.count
    assert first == 1  # the first miss is looked up (under the claimed tenant's RLS)
    for _ in range(20):
        r = await _post(client, ghost, body, token="x.y.z")
        assert r.status_code == 401
    assert statements.count == first  # the next ones cost no transaction


async def test_a_negative_is_forgotten_when_the_instance_is_created(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    """An instance's first events can race the commit that creates it: a miss remembered
    then must not keep refusing the instance once it exists."""
    from tests.webhooks.support import _token

    iid = uuid.uuid4()
    ghost = Instance(id=iid, tenant_id=tenant_a.tenant_id, gateway_name=f"mirage-{iid.hex[:20]}")
    body = _envelope(ghost, "messages.upsert", _upsert("EARLY-1"))
    r = await _post(client, ghost, body, token="x.y.z")
    assert r.status_code == 401
    assert (tenant_a.tenant_id, iid) in service._unknown

    from mirage.db.deps import bind_context
    from mirage.db.engine import session_scope
    from mirage.instances.repository import InstanceRepository
    from mirage.kit import crypto

    secret = crypto.random_token(32)
    key = get_settings().resolved_secret_key()
    async with session_scope() as session:
        await bind_context(session, tenant_id=tenant_a.tenant_id, user_id=None)
        inst = await InstanceRepository(session).add(
            Instance(
                id=iid,
                tenant_id=tenant_a.tenant_id,
                display_name=f"n-{iid.hex[:6]}",
                gateway_name=ghost.gateway_name,
                token_enc=crypto.encrypt(key, "tok"),
                webhook_secret_enc=crypto.encrypt(key, secret),
                provisioned=True,
            )
        )
    assert (tenant_a.tenant_id, iid) not in service._unknown
    r = await _post(client, inst, body, token=_token(secret))
    assert r.status_code == 200, r.text
    assert _counts(bootstrap_conninfo, tenant_a.tenant_id) == (1, 1)


async def test_the_negative_cache_is_bounded() -> None:
    now = time.monotonic()
    saved = dict(service._unknown)
    try:
        for _ in range(service.NEGATIVE_MAX + 50):
            service._remember_unknown((uuid.uuid4(), uuid.uuid4()), now)
        assert len(service._unknown) <= service.NEGATIVE_MAX
    finally:
        service._unknown.clear()
        service._unknown.update(saved)


# --- failing sources are limited per IP ----------------------------------------------------


def _client_from(app: Any, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_a_source_failing_auth_is_limited_before_any_work_others_are_not(
    app: Any, tenant_a: TenantFixture, bootstrap_conninfo: str, statements: _Lookups
) -> None:
    from tests.webhooks.support import _token

    limit = int(get_settings().webhook_auth_failures_per_ip.split("/")[0])
    attacker_ip, gateway_ip = "203.0.113.66", "198.51.100.7"
    inst, secret = await _instance(tenant_a)
    body = _envelope(inst, "messages.upsert", _upsert("RL-1"))
    async with _client_from(app, attacker_ip) as attacker, _client_from(app, gateway_ip) as gw:
        # Distinct unknown pairs (no negative-cache help): each one is a failure.
        statuses = []
        for _ in range(limit + 5):
            ghost = Instance(id=uuid.uuid4(), tenant_id=uuid.uuid4(), gateway_name="g")
            statuses.append((await _post(attacker, ghost, body, token="x.y.z")).status_code)
        assert statuses[:limit] == [401] * limit
        assert set(statuses[limit:]) == {429}
        # Blocked: answered before any lookup, even for a real instance with a valid token.
        before = statements.count
        r = await _post(attacker, inst, body, token=_token(secret))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert statements.count == before
        assert _counts(bootstrap_conninfo, tenant_a.tenant_id) == (0, 0)
        # Another source (the real gateway) is unaffected.
        r = await _post(gw, inst, body, token=_token(secret))
        assert r.status_code == 200, r.text
    webhooks_router._blocked.pop(attacker_ip, None)


def _raw_jwt(secret: str, payload_json: str) -> str:
    """A correctly signed HS256 token whose payload is written by hand (non-JSON numbers)."""
    import base64
    import hashlib
    import hmac

    def b64(b: bytes) -> bytes:
        return base64.urlsafe_b64encode(b).rstrip(b"=")

    head = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(payload_json.encode())
    sig = b64(hmac.new(secret.encode(), head, hashlib.sha256).digest())
    return (head + b"." + sig).decode()


@pytest.mark.parametrize(
    "claims",
    [
        '{{"iat": NaN, "exp": {exp_far}, "action": "webhook"}}',
        '{{"iat": -Infinity, "exp": {exp}, "action": "webhook"}}',
        '{{"iat": {now}, "exp": Infinity, "action": "webhook"}}',
        '{{"iat": {now}, "exp": 1e400, "action": "webhook"}}',
        '{{"iat": {now}, "exp": "{exp}", "action": "webhook"}}',
        '{{"iat": true, "exp": {exp}, "action": "webhook"}}',
        '{{"iat": {now}, "exp": {exp}, "nbf": NaN, "action": "webhook"}}',
    ],
)
async def test_signed_tokens_with_odd_numbers_are_401_not_accepted_or_500(
    claims: str, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    """Even with the right key, a token whose times are not finite numbers is refused: NaN
    would otherwise slip past the lifetime cap (it compares false with everything)."""
    inst, secret = await _instance(tenant_a)
    now = int(time.time())
    payload = claims.format(now=now, exp=now + 600, exp_far=now + 10 * 365 * 86400)
    token = _raw_jwt(secret, payload)
    r = await _post(client, inst, _envelope(inst, "messages.upsert", _upsert("NAN")), token=token)
    assert r.status_code == 401, (payload, r.status_code, r.text)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Webhook-Hmac": "\u00e9" * 128},
        {"X-Webhook-Hmac": "00", "X-Webhook-Hmac-Algorithm": "\u00e9md5"},
        {"X-Mirage-Tenant": "\u00e9"},
        {"Authorization": "Bearer \u00e9\u00e9.\u00e9.\u00e9"},
        {"Authorization": "Bearer " + "a" * 8000},
    ],
)
async def test_hostile_auth_headers_are_401_not_500(
    headers: dict[str, str], client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    from tests.webhooks.support import _token

    inst, secret = await _instance(tenant_a)
    body = _envelope(inst, "messages.upsert", _upsert("HDR"))
    raw = {"Content-Type": "application/json", "Authorization": f"Bearer {_token(secret)}"}
    raw["X-Mirage-Tenant"] = str(inst.tenant_id)
    raw.update(headers)
    encoded = [(k.encode(), v.encode("latin-1")) for k, v in raw.items()]
    r = await client.post(f"/webhooks/evolution/{inst.id}", content=body, headers=encoded)
    assert r.status_code == 401, r.text
