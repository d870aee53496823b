"""Two-factor authentication: TOTP (RFC 6238), enrollment through the dashboard (QR code and
secret, confirmed with a code), recovery codes, disable, single-use codes, rate limits, the
step-up window, the audit trail and the API's refusals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pyotp

from mirage.auth import mfa
from tests.conftest import TenantFixture, make_tenant, make_token, sign_in, sql, totp_code

# RFC 6238 appendix B: the SHA-1 seed "12345678901234567890" (its 8-digit codes' last six).
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_totp_matches_rfc_6238_vectors() -> None:
    for unix, code in ((59, "287082"), (1111111109, "081804"), (1234567890, "005924")):
        assert mfa.code_at(RFC_SECRET, unix // 30) == code


def test_codes_are_accepted_within_one_step_and_never_twice() -> None:
    now = datetime(2026, 11, 30, 12, 0, 10, tzinfo=UTC)
    step = mfa.time_step(now)
    for delta in (-1, 0, 1):
        assert mfa.matching_step(RFC_SECRET, mfa.code_at(RFC_SECRET, step + delta), now, None) == (
            step + delta
        )
    for delta in (-2, 2):
        assert (
            mfa.matching_step(RFC_SECRET, mfa.code_at(RFC_SECRET, step + delta), now, None) is None
        )
    code = mfa.code_at(RFC_SECRET, step)
    assert mfa.matching_step(RFC_SECRET, code, now, last_step=step) is None  # replay
    assert mfa.matching_step(RFC_SECRET, code, now, last_step=step - 1) == step
    assert mfa.matching_step(RFC_SECRET, "12345", now, None) is None
    assert mfa.matching_step(RFC_SECRET, "abcdef", now, None) is None
    # Spaces as apps show them ("287 082") are fine.
    assert mfa.matching_step(RFC_SECRET, f"{code[:3]} {code[3:]}", now, None) == step


def test_recovery_codes_are_ten_distinct_and_readable() -> None:
    codes = mfa.new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)


def _csrf(client: httpx.AsyncClient) -> str:
    token = client.cookies.get("mirage_csrf")
    assert token
    return str(token)


async def _audit(conninfo: str, user: TenantFixture) -> list[str]:
    rows = await sql(
        conninfo,
        "select action from audit_events where tenant_id = %s and actor_user_id = %s "
        "order by created_at",
        user.tenant_id,
        user.user_id,
    )
    return [r[0] for r in rows]


async def test_enrollment_through_the_dashboard(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    t = await make_tenant("admin", mfa=False)
    csrf = await sign_in(client, t)
    home = await client.get("/")
    assert 'id="mfa-banner"' in home.text and 'href="/account/security"' in home.text
    page = await client.get("/account/security")
    assert page.status_code == 200 and "/account/security/enroll" in page.text
    r = await client.post("/account/security/enroll", data={"csrf_token": csrf})
    assert r.status_code == 303
    page = await client.get("/account/security")
    assert "<svg" in page.text and 'id="mfa-qr"' in page.text
    found = re.search(r'id="mfa-secret">([A-Z2-7]+)<', page.text)
    assert found
    t.mfa_secret = found.group(1)
    # Stored encrypted: the secret is nowhere in the row in clear.
    [(pending_enc, enabled)] = await sql(
        bootstrap_conninfo,
        "select mfa_pending_enc, mfa_enabled_at from users where id = %s",
        t.user_id,
    )
    assert pending_enc and t.mfa_secret not in pending_enc and enabled is None
    # A wrong code: the form comes back with the error next to its field.
    wrong = await client.post(
        "/account/security/confirm", data={"csrf_token": csrf, "code": "000000"}
    )
    assert wrong.status_code == 422
    assert 'id="f-code-error"' in wrong.text and 'aria-invalid="true"' in wrong.text
    # The code an authenticator app computes from the secret shown (pyotp, as an app would).
    ok = await client.post(
        "/account/security/confirm",
        data={"csrf_token": csrf, "code": pyotp.TOTP(t.mfa_secret).now()},
    )
    assert ok.status_code == 200, ok.text
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", ok.text)
    assert len(codes) == 10
    t.mfa_last_step = mfa.time_step(datetime.now(UTC))
    [(secret_enc, enabled, hashes)] = await sql(
        bootstrap_conninfo,
        "select u.mfa_secret_enc, u.mfa_enabled_at, array_agg(c.code_hash) "
        "from users u join mfa_recovery_codes c on c.user_id = u.id where u.id = %s "
        "group by u.id",
        t.user_id,
    )
    assert enabled is not None and t.mfa_secret not in secret_enc
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(c.replace("-", "") in " ".join(hashes) for c in codes)
    # Shown once: the page no longer lists them.
    page = await client.get("/account/security")
    assert codes[0] not in page.text and "10 de 10" in page.text  # pt-BR, the default
    assert 'id="mfa-banner"' not in (await client.get("/")).text
    # Enrolling confirms the session: a sensitive operation works at once.
    r = await client.post(
        "/settings/tokens", data={"csrf_token": csrf, "name": "ci", "scopes": ["read"]}
    )
    assert r.status_code == 201, r.text
    assert "mfa.enroll" in await _audit(bootstrap_conninfo, t)


async def test_step_up_codes_recovery_codes_and_disable(
    client: httpx.AsyncClient, bootstrap_conninfo: str, totp_clock_ahead: None
) -> None:
    # Five codes, one time step each: the app runs in this process, so its clock is moved on
    # to the next step where the authenticator would make the user wait for it (up to 30 s).
    t = await make_tenant("owner")
    csrf = await sign_in(client, t, step_up=False)
    # A sensitive operation sends the reader to confirm, and back to the page they were on.
    r = await client.post(
        "/settings/tokens",
        data={"csrf_token": csrf, "name": "ci", "scopes": ["read"]},
        headers={"referer": "http://testserver/settings"},
    )
    assert r.status_code == 403
    assert 'href="/account/security/verify?next=/settings"' in r.text
    code = await totp_code(t)
    r = await client.post(
        "/account/security/verify", data={"csrf_token": csrf, "code": code, "next": "/settings"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/settings"
    # The same code again: refused (never accepted twice), and audited as a failure.
    r = await client.post("/account/security/verify", data={"csrf_token": csrf, "code": code})
    assert r.status_code == 422 and 'id="f-code-error"' in r.text
    r = await client.post(
        "/settings/tokens", data={"csrf_token": csrf, "name": "ci", "scopes": ["read"]}
    )
    assert r.status_code == 201, r.text
    # The step-up lasts the tenant's window: an old verification is refused again.
    await sql(
        bootstrap_conninfo,
        "update user_sessions set mfa_verified_at = now() - interval '11 minutes' "
        "where user_id = %s",
        t.user_id,
    )
    r = await client.post(
        "/settings/tokens", data={"csrf_token": csrf, "name": "ci2", "scopes": ["read"]}
    )
    assert r.status_code == 403
    # New recovery codes with a fresh code; a recovery code then works once for a step-up.
    r = await client.post(
        "/account/security/recovery-codes", data={"csrf_token": csrf, "code": await totp_code(t)}
    )
    assert r.status_code == 200, r.text
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", r.text)
    assert len(codes) == 10
    r = await client.post("/account/security/verify", data={"csrf_token": csrf, "code": codes[3]})
    assert r.status_code == 303
    r = await client.post("/account/security/verify", data={"csrf_token": csrf, "code": codes[3]})
    assert r.status_code == 422
    assert "9 de 10" in (await client.get("/account/security")).text
    # Disable needs a fresh code (a recovery code or a wrong one does not do).
    r = await client.post("/account/security/disable", data={"csrf_token": csrf, "code": codes[4]})
    assert r.status_code == 422 and 'id="f-disable_code-error"' in r.text
    r = await client.post(
        "/account/security/disable", data={"csrf_token": csrf, "code": await totp_code(t)}
    )
    assert r.status_code == 303
    [(secret, enabled, left)] = await sql(
        bootstrap_conninfo,
        "select mfa_secret_enc, mfa_enabled_at, (select count(*) from mfa_recovery_codes "
        "where user_id = u.id) from users u where id = %s",
        t.user_id,
    )
    assert secret is None and enabled is None and left == 0
    # An owner without MFA in a tenant that makes it mandatory: look, but not act.
    r = await client.post(
        "/settings/tokens", data={"csrf_token": csrf, "name": "ci3", "scopes": ["read"]}
    )
    assert r.status_code == 403 and 'href="/account/security?next=' in r.text
    assert (await client.get("/settings")).status_code == 200
    actions = await _audit(bootstrap_conninfo, t)
    for action in (
        "mfa.enroll",
        "mfa.step_up",
        "mfa.step_up_failed",
        "mfa.recovery_codes_regenerated",
        "mfa.recovery_code_used",
        "mfa.disable",
    ):
        assert action in actions, (action, actions)


async def test_attempts_are_rate_limited(client: httpx.AsyncClient) -> None:
    t = await make_tenant("owner")
    csrf = await sign_in(client, t, step_up=False)
    statuses = [
        (
            await client.post(
                "/account/security/verify", data={"csrf_token": csrf, "code": "000000"}
            )
        ).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [422] * 10 and statuses[10:] == [429, 429], statuses
    # Even the right code waits: the limit is per user, whatever is typed.
    r = await client.post(
        "/account/security/verify", data={"csrf_token": csrf, "code": await totp_code(t)}
    )
    assert r.status_code == 429


async def test_tenant_rule_and_kill_switch_through_the_api(
    client: httpx.AsyncClient,
) -> None:
    t = await make_tenant("owner")
    strong = {"Authorization": f"Bearer {await make_token(t)}"}
    r = await client.get("/api/v1/tokens", headers=strong)
    assert r.status_code == 200 and r.json()[0]["step_up"] is True
    r = await client.get("/api/v1/settings/security", headers=strong)
    assert r.json()["mfa_required"] is True and r.json()["step_up_minutes"] == 10
    # A token created by this admin token (no browser session: no step-up) may not act.
    r = await client.post(
        "/api/v1/tokens",
        headers=strong,
        json={"name": "weak", "scopes": ["read", "write", "admin"]},
    )
    assert r.status_code == 201 and r.json()["step_up"] is False
    weak = {"Authorization": f"Bearer {r.json()['token']}"}
    r = await client.put("/api/v1/settings/security", headers=weak, json={"mfa_required": False})
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/step-up-required") and "step-up" in r.json()["detail"]
    r = await client.put("/api/v1/settings/security", headers=strong, json={"step_up_minutes": 0})
    assert r.status_code == 422
    r = await client.put(
        "/api/v1/settings/security",
        headers=strong,
        json={"mfa_required": True, "step_up_minutes": 5},
    )
    assert r.status_code == 200 and r.json()["step_up_minutes"] == 5
    # The kill switch: on with any admin token, off only under a step-up.
    settings = (await client.get("/api/v1/settings", headers=strong)).json()
    body = {k: settings[k] for k in settings if k not in ("ai_key_set", "updated_at")}
    r = await client.put("/api/v1/settings", headers=weak, json={**body, "kill_switch": True})
    assert r.status_code == 200, r.text
    r = await client.put("/api/v1/settings", headers=weak, json={**body, "kill_switch": False})
    assert r.status_code == 403 and r.json()["type"].endswith("/step-up-required")
    r = await client.put("/api/v1/settings", headers=strong, json={**body, "kill_switch": False})
    assert r.status_code == 200 and r.json()["kill_switch"] is False


async def test_mandatory_rule_off_lets_admins_without_mfa_act(
    client: httpx.AsyncClient,
) -> None:
    owner = await make_tenant("owner")
    auth = {"Authorization": f"Bearer {await make_token(owner)}"}
    r = await client.put("/api/v1/settings/security", headers=auth, json={"mfa_required": False})
    assert r.status_code == 200
    # The same owner, MFA turned off, signed in: the rule no longer requires it.
    await disable_mfa(owner)
    csrf = await sign_in(client, owner)
    r = await client.post(
        "/settings/tokens", data={"csrf_token": csrf, "name": "ok", "scopes": ["read"]}
    )
    assert r.status_code == 201, r.text


async def disable_mfa(t: TenantFixture) -> None:
    from mirage.db.deps import bind_context
    from mirage.db.engine import session_scope
    from mirage.kit.ratelimit import RateLimiter

    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=t.user_id)
        assert await mfa.disable(
            session,
            RateLimiter(None),
            user_id=t.user_id,
            code=await totp_code(t),
            tenant_id=t.tenant_id,
            ip=None,
        )
    t.mfa_secret = None


def test_step_up_window_is_the_tenants() -> None:
    import uuid

    from mirage.auth.principal import Principal
    from mirage.auth.stepup import Rule, decide
    from mirage.models.tenancy import Role

    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    p = Principal(
        kind="user",
        tenant_id=uuid.uuid4(),
        role=Role.ADMIN,
        mfa_enrolled=True,
        mfa_verified_at=now - timedelta(minutes=9),
    )
    assert decide(p, Rule(True, 10), now) is None
    assert decide(p, Rule(True, 5), now) is not None
    assert decide(p, Rule(False, 5), now) is not None  # enrolled: always steps up
    viewer = Principal(kind="user", tenant_id=uuid.uuid4(), role=Role.OPERATOR)
    assert decide(viewer, Rule(True, 10), now) is None  # not required for operators
